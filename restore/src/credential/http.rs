//! The least HTTP/1.1 client the token endpoints need (Microsoft Entra ID over HTTPS,
//! the managed identity endpoints over plain HTTP): one request per connection
//! (`Connection: close`), every wait bounded, the answer bounded in size. HTTPS uses
//! rustls with the system roots, as `rediss://` targets do.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// The most an answer may hold (a token answer is a few KiB).
const ANSWER_LIMIT: u64 = 1024 * 1024;

/// An HTTP answer: status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// The parts of an `http://` or `https://` URL.
struct Url<'a> {
    tls: bool,
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parse_url(url: &str) -> Result<Url<'_>, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url}: not an http(s) URL"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h,
            p.parse()
                .map_err(|_| format!("{url}: the port is not a number"))?,
        ),
        _ => (authority, if tls { 443 } else { 80 }),
    };
    Ok(Url {
        tls,
        host: host.trim_start_matches('[').trim_end_matches(']'),
        port,
        path,
    })
}

/// Sends one request and reads the answer; `body` is `(content type, bytes)`.
pub(crate) fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> Result<Answer, String> {
    let u = parse_url(url)?;
    let addrs = (u.host, u.port)
        .to_socket_addrs()
        .map_err(|e| format!("{}: cannot resolve: {e}", u.host))?;
    let mut last = format!("{}: no address", u.host);
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("{}:{}: {e}", u.host, u.port),
        }
    }
    let stream = stream.ok_or(last)?;
    let io = |e: std::io::Error| format!("{}:{}: {e}", u.host, u.port);
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
        u.path, u.host
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let mut out = Vec::new();
    if let Some((content_type, bytes)) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
        out.extend_from_slice(bytes);
    } else if method != "GET" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(&out);
    let raw = if u.tls {
        let name = rustls::pki_types::ServerName::try_from(u.host.to_string())
            .map_err(|_| format!("{}: not a TLS server name", u.host))?;
        let conn = rustls::ClientConnection::new(tls_config()?, name)
            .map_err(|e| format!("{}: TLS: {e}", u.host))?;
        let mut tls = rustls::StreamOwned::new(conn, stream);
        tls.write_all(&request).map_err(io)?;
        read_all(&mut tls).map_err(io)?
    } else {
        let mut stream = stream;
        stream.write_all(&request).map_err(io)?;
        read_all(&mut stream).map_err(io)?
    };
    parse_answer(&raw).ok_or_else(|| format!("{}:{}: not an HTTP answer", u.host, u.port))
}

/// Reads to the end (a TLS peer closing without `close_notify` after the answer
/// is an end too).
fn read_all(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match r.take(ANSWER_LIMIT).read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => Ok(buf),
        Err(e) => Err(e),
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err("no system root certificate could be loaded".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS configuration: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Status and body of a raw answer (`Content-Length` or chunked, else to the end).
fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..split)?).ok()?;
    let mut body = raw.get(split + 4..)?.to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (k, v) = line.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "content-length" => length = v.trim().parse::<usize>().ok(),
            _ => {}
        }
    }
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(n) = length {
        body.truncate(n);
    }
    Some(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(data.get(..end)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = data.get(end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let enc = super::aws::percent_encode;
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn answers() {
        let a = parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}xx").unwrap();
        assert_eq!((a.status, a.body.as_str()), (200, "{}"));
        let a = parse_answer(
            b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((a.status, a.body.as_str()), (400, "abcde"));
        assert!(parse_answer(b"garbage").is_none());
        let u = parse_url("http://127.0.0.1:8080/a?b=c").unwrap();
        assert_eq!(
            (u.tls, u.host, u.port, u.path),
            (false, "127.0.0.1", 8080, "/a?b=c")
        );
        let u = parse_url("https://login.microsoftonline.com").unwrap();
        assert_eq!((u.tls, u.port, u.path), (true, 443, "/"));
        assert_eq!(
            form(&[("scope", "https://x/.default"), ("a b", "c")]),
            "scope=https%3A%2F%2Fx%2F.default&a%20b=c"
        );
    }
}
