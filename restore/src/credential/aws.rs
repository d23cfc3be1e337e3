//! ElastiCache IAM authentication tokens (Valkey/Redis OSS 7+ users with
//! `authentication-mode iam`): a SigV4 query-signed `GET
//! http://CACHE_NAME/?Action=connect&User=USER` (plus `ResourceType=ServerlessCache`
//! for a serverless cache), service `elasticache`, valid 900 s, sent with `AUTH USER
//! TOKEN` without its `http://`. See the ElastiCache user guide, "Authenticating with
//! IAM"; the expected tokens in the tests come from botocore's `SigV4QueryAuth`.
//!
//! The keys come from the standard AWS chain, first found wins: the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), then the
//! profile `AWS_PROFILE` (else `default`) in the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`) and the config file
//! (`AWS_CONFIG_FILE`, else `~/.aws/config`): static keys or a `credential_process`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;

use super::{run_bounded, Credential, CredentialSource};
use crate::target::Secret;

/// How long an ElastiCache IAM token is accepted for a new connection.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// AWS access keys, and where they came from (for messages; never the secret).
#[derive(Debug, Clone)]
pub struct AwsKeys {
    /// `AKIA...` / `ASIA...`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary keys.
    pub session_token: Option<Secret>,
    /// When temporary keys expire (a `credential_process` may say).
    pub expires: Option<SystemTime>,
    /// Where they were found (`environment`, `profile default in ...`).
    pub origin: String,
}

/// `%XX`-encodes everything but the unreserved characters (RFC 3986), as SigV4 and
/// botocore do.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The IAM authentication token for `user` on the cache `cache_name` (replication
/// group id or serverless cache name, lower case as ElastiCache has it) in `region`,
/// signed with `keys` at `time`.
pub fn elasticache_token(
    keys: &AwsKeys,
    region: &str,
    cache_name: &str,
    user: &str,
    serverless: bool,
    time: SystemTime,
) -> Result<String, String> {
    let mut query = vec![
        ("Action", "connect".to_string()),
        ("User", user.to_string()),
    ];
    if serverless {
        query.push(("ResourceType", "ServerlessCache".to_string()));
    }
    let query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    let url = format!("http://{cache_name}/?{}", query.join("&"));
    let identity = aws_credential_types::Credentials::new(
        &keys.access_key_id,
        keys.secret_access_key.expose(),
        keys.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "rdbkit",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("elasticache")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign the IAM token: {e}"))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| format!("cannot sign the IAM token for {cache_name:?}: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("cannot sign the IAM token: {e}"))?
        .into_parts();
    // The signing parameters in botocore's order (the token is compared as text).
    const ORDER: [&str; 7] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ];
    let mut signed: Vec<(&str, String)> = instructions
        .params()
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    signed.sort_by_key(|(k, _)| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    let mut token = url.trim_start_matches("http://").to_string();
    for (k, v) in signed {
        token.push('&');
        token.push_str(k);
        token.push('=');
        token.push_str(&percent_encode(&v));
    }
    Ok(token)
}

/// `--auth aws-iam`: ElastiCache IAM tokens for the user named by the URL or
/// `--user`, signed with the keys of the standard chain, renewed 3 minutes (plus
/// jitter) before their 15 minutes run out.
#[derive(Debug, Clone)]
pub struct ElastiCacheIam {
    region: String,
    cache_name: String,
    serverless: bool,
    timeout: Duration,
}

impl ElastiCacheIam {
    /// Tokens for the cache `cache_name` in `region` (`serverless`: a serverless
    /// cache, else a replication group); a `credential_process` may take `timeout`.
    pub fn new(region: &str, cache_name: &str, serverless: bool, timeout: Duration) -> Self {
        ElastiCacheIam {
            region: region.to_string(),
            cache_name: cache_name.to_ascii_lowercase(),
            serverless,
            timeout,
        }
    }
}

impl CredentialSource for ElastiCacheIam {
    fn fetch(&self, user: Option<&str>) -> Result<Credential, String> {
        let user = user.ok_or(
            "an IAM token is for one ElastiCache user: name it in the URL \
             (redis://USER@host:port) or with --user",
        )?;
        let keys = aws_keys(self.timeout)?;
        let now = SystemTime::now();
        let token = elasticache_token(
            &keys,
            &self.region,
            &self.cache_name,
            user,
            self.serverless,
            now,
        )?;
        let expires = match keys.expires {
            Some(e) => e.min(now + TOKEN_LIFETIME),
            None => now + TOKEN_LIFETIME,
        };
        Ok(Credential {
            user: Some(user.to_string()),
            password: Secret::new(token),
            expires: Some(expires),
        })
    }

    fn identity(&self) -> String {
        format!(
            "AWS IAM (ElastiCache {} {:?} in {})",
            if self.serverless {
                "serverless cache"
            } else {
                "replication group"
            },
            self.cache_name,
            self.region
        )
    }

    fn remedy(&self) -> String {
        "check that the ElastiCache user exists with authentication mode iam, that its \
         user id and user name are the same, that it is in the cache's user group, that \
         the AWS identity may elasticache:Connect to the cache and the user, and that \
         --aws-cache-name, --aws-region and --aws-serverless match the cache"
            .to_string()
    }

    fn renew_before(&self) -> Duration {
        Duration::from_secs(180)
    }
}

/// The AWS keys of the standard chain (see the module doc).
pub fn aws_keys(timeout: Duration) -> Result<AwsKeys, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(AwsKeys {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: env("AWS_SESSION_TOKEN").map(Secret::new),
            expires: None,
            origin: "environment".to_string(),
        });
    }
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    let home = env("HOME").map(PathBuf::from);
    let file = |var: &str, name: &str| {
        env(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    let mut looked = Vec::new();
    for (path, section) in [
        (
            file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            profile.clone(),
        ),
        (
            file("AWS_CONFIG_FILE", "config"),
            if profile == "default" {
                profile.clone()
            } else {
                format!("profile {profile}")
            },
        ),
    ] {
        let Some(path) = path else { continue };
        looked.push(path.display().to_string());
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let values = ini_section(&text, &section);
        let get = |k: &str| {
            values
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let origin = format!("profile {profile} in {}", path.display());
        if let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) {
            return Ok(AwsKeys {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: get("aws_session_token").map(Secret::new),
                expires: None,
                origin,
            });
        }
        if let Some(process) = get("credential_process") {
            return credential_process(&process, origin, timeout);
        }
    }
    Err(format!(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give \
         profile {profile:?} keys or a credential_process in {}",
        looked.join(" or ")
    ))
}

/// The `key = value` pairs of `[section]` in an INI text (comments and blank lines
/// skipped).
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}

/// Keys from a `credential_process` (its JSON: `AccessKeyId`, `SecretAccessKey`,
/// `SessionToken`, `Expiration` in RFC 3339).
fn credential_process(command: &str, origin: String, timeout: Duration) -> Result<AwsKeys, String> {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    let what = format!("the credential_process of {origin}");
    let ran = run_bounded(cmd, &what, timeout)?;
    let v: serde_json::Value =
        serde_json::from_str(&ran.stdout).map_err(|e| format!("{what} printed no JSON ({e})"))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err(format!("{what} printed no AccessKeyId and SecretAccessKey"));
    };
    Ok(AwsKeys {
        access_key_id: id,
        secret_access_key: Secret::new(secret),
        session_token: field("SessionToken").map(Secret::new),
        expires: field("Expiration").and_then(|e| parse_utc(&e)),
        origin,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00)` as a time (UTC only, as AWS writes it).
fn parse_utc(text: &str) -> Option<SystemTime> {
    let t = text.trim();
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let zone = t
        .get(19..)?
        .trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if !matches!(zone, "Z" | "+00:00" | "") {
        return None;
    }
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()?;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ini() {
        let text = "[default]\naws_access_key_id = A\n# c\n[profile x]\nAWS_SECRET_ACCESS_KEY=B\n";
        assert_eq!(
            ini_section(text, "default"),
            vec![("aws_access_key_id".into(), "A".into())]
        );
        assert_eq!(
            ini_section(text, "profile x"),
            vec![("aws_secret_access_key".into(), "B".into())]
        );
        assert!(ini_section(text, "none").is_empty());
    }

    #[test]
    fn utc_times() {
        let t =
            |s| parse_utc(s).map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
        assert_eq!(t("2025-01-02T03:04:05Z"), Some(1_735_787_045));
        assert_eq!(t("2024-02-29T00:00:00.123+00:00"), Some(1_709_164_800));
        assert_eq!(t("2025-01-02T03:04:05+02:00"), None);
    }

    #[test]
    fn encoding() {
        assert_eq!(percent_encode("a/b+c=d e~"), "a%2Fb%2Bc%3Dd%20e~");
    }
}
