//! Clients for a bucket or container, with credentials from each cloud's standard
//! environment.
//!
//! - S3: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, else the
//!   profile `AWS_PROFILE` (or `default`) of the shared files (`~/.aws/credentials`,
//!   `~/.aws/config`, or `AWS_SHARED_CREDENTIALS_FILE`/`AWS_CONFIG_FILE`), else web
//!   identity, container or instance credentials (what `object_store` reads);
//!   `AWS_REGION`/`AWS_DEFAULT_REGION` or the profile's `region`; `AWS_ENDPOINT_URL`
//!   (or the profile's `endpoint_url`) for S3-compatible servers.
//! - Azure: `AZURE_STORAGE_CONNECTION_STRING` (account + key or SAS, `BlobEndpoint`
//!   for Azurite or a private endpoint), else `AZURE_STORAGE_ACCOUNT_NAME` with
//!   `AZURE_STORAGE_ACCOUNT_KEY` or `AZURE_STORAGE_SAS_TOKEN`, a service principal, the
//!   Azure CLI (`AZURE_USE_AZURE_CLI=true`) or a managed identity (what
//!   `object_store` reads); a SAS in an `https://` URL's query wins.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::ObjectStore;

use super::{client_options, redact, retry_config, ObjectUrl, Service, StorageError};

/// What to set when no credentials were found.
pub(super) fn missing_hint(service: Service) -> &'static str {
    match service {
        Service::S3 => {
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for \
             temporary ones), or AWS_PROFILE naming a profile in ~/.aws/credentials; \
             AWS_ENDPOINT_URL for an S3-compatible server"
        }
        Service::Azure => {
            "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with \
             AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN, or sign in with `az login` \
             and set AZURE_USE_AZURE_CLI=true"
        }
    }
}

/// A client for `url`'s bucket or container, and where its credentials come from.
pub(super) fn build(url: &ObjectUrl) -> Result<(Arc<dyn ObjectStore>, String), StorageError> {
    match url.service {
        Service::S3 => s3(url),
        Service::Azure => azure(url),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn config_error(url: &ObjectUrl, e: object_store::Error) -> StorageError {
    StorageError::BadUrl {
        url: url.to_string(),
        why: redact(&e.to_string()),
    }
}

fn s3(url: &ObjectUrl) -> Result<(Arc<dyn ObjectStore>, String), StorageError> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&url.bucket)
        .with_client_options(client_options())
        .with_retry(retry_config());
    let profile_name = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    let home = env("HOME").unwrap_or_default();
    let config = ini_section(
        &env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config")),
        &if profile_name == "default" {
            "default".to_string()
        } else {
            format!("profile {profile_name}")
        },
    );
    let source;
    if env("AWS_ACCESS_KEY_ID").is_some() {
        source = "AWS_ACCESS_KEY_ID from the environment".to_string();
    } else if let Some(creds) = ini_section(
        &env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{home}/.aws/credentials")),
        &profile_name,
    )
    .filter(|c| c.contains_key("aws_access_key_id"))
    {
        for (key, value) in &creds {
            if let ("aws_access_key_id" | "aws_secret_access_key" | "aws_session_token", Ok(k)) =
                (key.as_str(), key.parse())
            {
                builder = builder.with_config(k, value);
            }
        }
        source = format!("profile {profile_name} of the shared credentials file");
    } else if env("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
        source = "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".to_string();
    } else if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        || env("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
    {
        source = "container credentials".to_string();
    } else if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(StorageError::NoCredentials {
            url: url.to_string(),
            service: "S3",
            hint: missing_hint(Service::S3).to_string(),
        });
    } else {
        source =
            "the instance metadata service (no keys in the environment or profile)".to_string();
    }
    if let Some(config) = &config {
        if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
            if let Some(region) = config.get("region") {
                builder = builder.with_region(region);
            }
        }
        if env("AWS_ENDPOINT_URL").is_none() && env("AWS_ENDPOINT").is_none() {
            if let Some(endpoint) = config.get("endpoint_url") {
                builder = builder.with_endpoint(endpoint);
            }
        }
    }
    if let Some(endpoint) = env("AWS_ENDPOINT_URL_S3")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| env("AWS_ENDPOINT"))
        .or_else(|| config.as_ref().and_then(|c| c.get("endpoint_url").cloned()))
    {
        // An S3-compatible server (MinIO, moto, a private endpoint): path-style
        // requests, plain HTTP allowed when the URL says so.
        builder = builder
            .with_endpoint(&endpoint)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    let store = builder.build().map_err(|e| config_error(url, e))?;
    Ok((Arc::new(store), source))
}

/// The `key = value` lines of section `[name]` of an INI file (AWS shared files),
/// keys lower-cased; `None` when the file or the section is missing.
fn ini_section(path: &str, name: &str) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut inside = false;
    let mut found = None::<HashMap<String, String>>;
    for line in text.lines() {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == name;
            if inside {
                found.get_or_insert_with(HashMap::new);
            }
            continue;
        }
        if !inside || line.starts_with(['#', ';']) {
            continue;
        }
        if let (Some((k, v)), Some(map)) = (line.split_once('='), found.as_mut()) {
            map.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    found
}

fn azure(url: &ObjectUrl) -> Result<(Arc<dyn ObjectStore>, String), StorageError> {
    let mut builder = MicrosoftAzureBuilder::from_env()
        .with_container_name(&url.bucket)
        .with_client_options(client_options())
        .with_retry(retry_config());
    let mut source = "the environment (AZURE_STORAGE_*)".to_string();
    let mut account = env("AZURE_STORAGE_ACCOUNT_NAME");
    if let Some(conn) = env("AZURE_STORAGE_CONNECTION_STRING") {
        let parts: HashMap<String, String> = conn
            .split(';')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        source = "AZURE_STORAGE_CONNECTION_STRING".to_string();
        if parts
            .get("usedevelopmentstorage")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            builder = builder.with_use_emulator(true);
        }
        if let Some(name) = parts.get("accountname") {
            account = Some(name.clone());
        }
        if let Some(key) = parts.get("accountkey") {
            builder = builder.with_access_key(key);
        }
        if let Some(sas) = parts.get("sharedaccesssignature") {
            builder = builder.with_sas_authorization(sas_pairs(sas));
        }
        let endpoint = parts.get("blobendpoint").cloned().or_else(|| {
            let name = account.as_ref()?;
            let protocol = parts
                .get("defaultendpointsprotocol")
                .map_or("https", String::as_str);
            let suffix = parts
                .get("endpointsuffix")
                .map_or("core.windows.net", String::as_str);
            Some(format!("{protocol}://{name}.blob.{suffix}"))
        });
        if let Some(endpoint) = endpoint {
            let endpoint = endpoint.trim_end_matches('/').to_string();
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
    }
    if let Some(url_account) = &url.account {
        account = Some(url_account.clone());
    }
    if let Some(sas) = &url.sas {
        builder = builder.with_sas_authorization(sas_pairs(sas));
        source = "the SAS token in the URL".to_string();
    }
    match account {
        Some(name) => builder = builder.with_account(name),
        None => {
            return Err(StorageError::NoCredentials {
                url: url.to_string(),
                service: "Azure Blob Storage",
                hint: format!(
                    "no storage account: use https://ACCOUNT.blob.core.windows.net/{}/{} or {}",
                    url.bucket,
                    url.key,
                    missing_hint(Service::Azure)
                ),
            })
        }
    }
    let store = builder.build().map_err(|e| config_error(url, e))?;
    Ok((Arc::new(store), source))
}

/// `sv=...&sig=...` (with or without a leading `?`) as decoded query pairs.
fn sas_pairs(sas: &str) -> Vec<(String, String)> {
    sas.trim_start_matches('?')
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_ini_sections() {
        let dir = std::env::temp_dir().join(format!("rdbkit-ini-{}", std::process::id()));
        std::fs::write(
            &dir,
            "[default]\nregion = eu-west-1\n[profile x]\nRegion=us-east-2\n",
        )
        .unwrap();
        let path = dir.display().to_string();
        assert_eq!(
            ini_section(&path, "default").unwrap()["region"],
            "eu-west-1"
        );
        assert_eq!(
            ini_section(&path, "profile x").unwrap()["region"],
            "us-east-2"
        );
        assert!(ini_section(&path, "y").is_none());
        let _ = std::fs::remove_file(dir);
    }

    #[test]
    fn decodes_sas() {
        assert_eq!(
            sas_pairs("?sv=2022&sig=a%2Fb%3D"),
            vec![("sv".into(), "2022".into()), ("sig".into(), "a/b=".into())]
        );
    }
}
