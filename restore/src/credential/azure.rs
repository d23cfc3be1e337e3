//! Microsoft Entra ID access tokens for Azure Cache for Redis and Azure Managed Redis
//! (scope `https://redis.azure.com/.default`), from the Azure Identity chain as the
//! Azure SDKs' default credential walks it: the environment's service principal
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE` with the tenant and client ids: AKS), a managed
//! identity (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`: App Service, Functions, Container
//! Apps; else the instance metadata service of a VM), and the Azure CLI. The ACL user is
//! the token's object id (`oid` claim). `AZURE_AUTHORITY_HOST` changes the Entra ID
//! host (sovereign clouds); it must be `https://` except on a loopback address.
//! `AZURE_TOKEN_CREDENTIALS` narrows the chain as in the SDKs (`dev`, `prod`, or one
//! credential's name such as `AzureCliCredential`).

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::http;
use super::{run_bounded, Credential, CredentialSource};
use crate::target::Secret;

/// The OAuth scope of Azure Cache for Redis and Azure Managed Redis.
pub const AZURE_REDIS_SCOPE: &str = "https://redis.azure.com/.default";

/// Azure asks clients to renew a token at least this long before it expires.
const AZURE_RENEW_BEFORE: Duration = Duration::from_secs(180);

/// A Microsoft Entra ID access token for Redis from the Azure CLI
/// (`az account get-access-token --scope https://redis.azure.com/.default --output
/// json`), the user being the token's `oid` claim.
#[derive(Debug, Clone)]
pub struct AzureCli {
    program: String,
    timeout: Duration,
}

impl AzureCli {
    /// The `az` found on `PATH`, stopped after `timeout`.
    pub fn new(timeout: Duration) -> AzureCli {
        AzureCli {
            program: "az".to_string(),
            timeout,
        }
    }
}

impl AzureCli {
    /// A token from `az account get-access-token`.
    fn token(&self) -> Result<Credential, String> {
        let mut cmd = Command::new(&self.program);
        cmd.args([
            "account",
            "get-access-token",
            "--scope",
            AZURE_REDIS_SCOPE,
            "--output",
            "json",
        ]);
        let ran = run_bounded(
            cmd,
            "the Azure CLI (az account get-access-token)",
            self.timeout,
        )?;
        azure_token(&ran.stdout)
    }
}

impl CredentialSource for AzureCli {
    fn fetch(&self, _user: Option<&str>) -> Result<Credential, String> {
        self.token()
            .map_err(|e| format!("{e}; sign in with `az login` (or set up a managed identity)"))
    }

    fn identity(&self) -> String {
        "Microsoft Entra ID (Azure CLI)".to_string()
    }

    fn remedy(&self) -> String {
        "check that the signed-in identity (`az account show`) has a Redis data access \
         policy assignment on the cache and that Microsoft Entra authentication is on; \
         the ACL user is the token's object id (oid) unless --user names one"
            .to_string()
    }

    fn renew_before(&self) -> Duration {
        AZURE_RENEW_BEFORE
    }
}

/// A credential from `az account get-access-token --output json`: `accessToken`, the
/// expiry from `expires_on` (Unix seconds; newer CLIs), else the token's `exp`
/// claim (`expiresOn` is local time without a zone), the user from its `oid` claim.
pub fn azure_token(json: &str) -> Result<Credential, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        format!("the Azure CLI's answer is not JSON ({e}); expected accessToken and expires_on")
    })?;
    let token = v
        .get("accessToken")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("the Azure CLI's answer has no accessToken")?;
    let expires_on = v.get("expires_on").and_then(|e| match e {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    Ok(with_claims(
        token,
        expires_on.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
    ))
}

/// A credential from a token endpoint's answer (Entra ID, the managed identity
/// endpoints): `access_token`, the expiry from `expires_on` (Unix seconds, number or
/// text) or `expires_in` (seconds from now), else the token's `exp` claim.
fn endpoint_token(json: &str, what: &str) -> Result<Credential, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("{what}: the answer is not JSON ({e})"))?;
    let token = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("{what}: the answer has no access_token"))?;
    let number = |k: &str| {
        v.get(k).and_then(|e| match e {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    };
    let now = SystemTime::now();
    let expires = number("expires_on")
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .or_else(|| number("expires_in").map(|s| now + Duration::from_secs(s)));
    Ok(with_claims(token, expires))
}

/// A credential for `token`: its user from the `oid` claim, its expiry `expires`
/// else the `exp` claim.
fn with_claims(token: &str, expires: Option<SystemTime>) -> Credential {
    let claims = jwt_claims(token);
    let claim = |k: &str| claims.as_ref().and_then(|c| c.get(k).cloned());
    Credential {
        user: claim("oid").and_then(|o| o.as_str().map(str::to_string)),
        password: Secret::new(token),
        expires: expires.or_else(|| {
            claim("exp")
                .and_then(|e| e.as_u64())
                .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        }),
    }
}

/// Why an endpoint refused: the `error_description` (Entra ID) or `message`, else
/// the status.
fn refusal(answer: &http::Answer, what: &str) -> String {
    let v: Option<serde_json::Value> = serde_json::from_str(&answer.body).ok();
    let text = v.as_ref().and_then(|v| {
        ["error_description", "message", "error"]
            .iter()
            .find_map(|k| v.get(*k).and_then(|t| t.as_str()).map(str::to_string))
    });
    let text = text.unwrap_or_else(|| answer.body.chars().take(300).collect());
    format!(
        "{what} answered HTTP {}: {}",
        answer.status,
        text.lines().next().unwrap_or("")
    )
}

/// One member of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    /// A service principal with a client secret (`AZURE_CLIENT_SECRET`).
    ClientSecret {
        authority: String,
        tenant: String,
        client_id: String,
    },
    /// Workload identity: a federated token file as client assertion.
    Workload {
        authority: String,
        tenant: String,
        client_id: String,
        token_file: String,
    },
    /// App Service / Functions / Container Apps managed identity.
    AppService {
        endpoint: String,
        client_id: Option<String>,
    },
    /// A VM's managed identity (instance metadata service).
    Imds { client_id: Option<String> },
    /// The Azure CLI.
    Cli,
}

impl Member {
    /// The name the Azure SDKs give it (`AZURE_TOKEN_CREDENTIALS`).
    fn sdk_name(&self) -> &'static str {
        match self {
            Member::ClientSecret { .. } => "EnvironmentCredential",
            Member::Workload { .. } => "WorkloadIdentityCredential",
            Member::AppService { .. } | Member::Imds { .. } => "ManagedIdentityCredential",
            Member::Cli => "AzureCliCredential",
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Member::ClientSecret { .. } => "environment service principal",
            Member::Workload { .. } => "workload identity",
            Member::AppService { .. } | Member::Imds { .. } => "managed identity",
            Member::Cli => "Azure CLI",
        }
    }
}

/// The instance metadata service's token endpoint.
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// `--auth azure`: the first member of the chain that is set up gives the tokens
/// (then it alone is asked again, as the SDKs do).
#[derive(Debug)]
pub struct AzureChain {
    timeout: Duration,
    chosen: Mutex<Option<Member>>,
}

impl AzureChain {
    /// The chain; each request is bounded by `timeout` (the metadata service probe
    /// by one second: off Azure nothing answers there).
    pub fn new(timeout: Duration) -> AzureChain {
        AzureChain {
            timeout,
            chosen: Mutex::new(None),
        }
    }

    /// The members set up in this environment, in order (the metadata service and
    /// the CLI always are).
    fn members() -> Result<Vec<Member>, String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let authority = env("AZURE_AUTHORITY_HOST")
            .unwrap_or_else(|| "https://login.microsoftonline.com".to_string())
            .trim_end_matches('/')
            .to_string();
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| authority.starts_with(p));
        if !authority.starts_with("https://") && !loopback {
            return Err(format!(
                "AZURE_AUTHORITY_HOST {authority:?} is not an https:// URL"
            ));
        }
        // AZURE_TOKEN_CREDENTIALS narrows the chain as the Azure SDKs do: `dev` (the
        // CLI), `prod` (environment, workload and managed identity) or one name.
        let only = env("AZURE_TOKEN_CREDENTIALS").map(|v| v.to_ascii_lowercase());
        let wanted = |m: &Member| match only.as_deref() {
            None => true,
            Some("dev") => *m == Member::Cli,
            Some("prod") => *m != Member::Cli,
            Some(name) => name == m.sdk_name().to_ascii_lowercase(),
        };
        let mut out = Vec::new();
        let (tenant, client_id) = (env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"));
        if let (Some(tenant), Some(client_id), Some(_)) =
            (&tenant, &client_id, env("AZURE_CLIENT_SECRET"))
        {
            out.push(Member::ClientSecret {
                authority: authority.clone(),
                tenant: tenant.clone(),
                client_id: client_id.clone(),
            });
        }
        if let (Some(tenant), Some(client_id), Some(token_file)) =
            (&tenant, &client_id, env("AZURE_FEDERATED_TOKEN_FILE"))
        {
            out.push(Member::Workload {
                authority,
                tenant: tenant.clone(),
                client_id: client_id.clone(),
                token_file,
            });
        }
        match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
            (Some(endpoint), Some(_)) => out.push(Member::AppService {
                endpoint,
                client_id: client_id.clone(),
            }),
            _ => out.push(Member::Imds {
                client_id: client_id.clone(),
            }),
        }
        out.push(Member::Cli);
        out.retain(wanted);
        if out.is_empty() {
            return Err(format!(
                "AZURE_TOKEN_CREDENTIALS={:?} leaves no credential (dev, prod, \
                 EnvironmentCredential, WorkloadIdentityCredential, \
                 ManagedIdentityCredential or AzureCliCredential, set up)",
                only.unwrap_or_default()
            ));
        }
        Ok(out)
    }

    /// A token from `member`; `Err((available, why))`, `available` false when the
    /// member is not there at all (the next one is tried).
    fn token_from(&self, member: &Member) -> Result<Credential, (bool, String)> {
        let env = |k: &str| std::env::var(k).unwrap_or_default();
        let post_token = |authority: &str, tenant: &str, form: String, what: &str| {
            let url = format!("{authority}/{tenant}/oauth2/v2.0/token");
            let answer = http::request(
                "POST",
                &url,
                &[],
                Some(("application/x-www-form-urlencoded", form.as_bytes())),
                self.timeout,
            )
            .map_err(|e| (true, format!("{what}: {e}")))?;
            if answer.status != 200 {
                return Err((true, refusal(&answer, what)));
            }
            endpoint_token(&answer.body, what).map_err(|e| (true, e))
        };
        match member {
            Member::ClientSecret {
                authority,
                tenant,
                client_id,
            } => post_token(
                authority,
                tenant,
                http::form(&[
                    ("client_id", client_id),
                    ("client_secret", &env("AZURE_CLIENT_SECRET")),
                    ("scope", AZURE_REDIS_SCOPE),
                    ("grant_type", "client_credentials"),
                ]),
                "Microsoft Entra ID (client secret of AZURE_CLIENT_ID)",
            ),
            Member::Workload {
                authority,
                tenant,
                client_id,
                token_file,
            } => {
                // Read at every renewal: the kubelet rotates the file.
                let assertion = std::fs::read_to_string(token_file).map_err(|e| {
                    (
                        true,
                        format!("AZURE_FEDERATED_TOKEN_FILE {token_file}: {e}"),
                    )
                })?;
                post_token(
                    authority,
                    tenant,
                    http::form(&[
                        ("client_id", client_id),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", assertion.trim()),
                        ("scope", AZURE_REDIS_SCOPE),
                        ("grant_type", "client_credentials"),
                    ]),
                    "Microsoft Entra ID (workload identity)",
                )
            }
            Member::AppService {
                endpoint,
                client_id,
            } => {
                let mut url = format!(
                    "{endpoint}?api-version=2019-08-01&resource={}",
                    http::form(&[("", "https://redis.azure.com")]).trim_start_matches('=')
                );
                if let Some(id) = client_id {
                    url.push_str(&format!("&client_id={id}"));
                }
                let header = env("IDENTITY_HEADER");
                let what = "the managed identity endpoint (IDENTITY_ENDPOINT)";
                let answer = http::request(
                    "GET",
                    &url,
                    &[("X-IDENTITY-HEADER", &header)],
                    None,
                    self.timeout,
                )
                .map_err(|e| (true, format!("{what}: {e}")))?;
                if answer.status != 200 {
                    return Err((true, refusal(&answer, what)));
                }
                endpoint_token(&answer.body, what).map_err(|e| (true, e))
            }
            Member::Imds { client_id } => {
                let mut url =
                    format!("{IMDS}?api-version=2018-02-01&resource=https%3A%2F%2Fredis.azure.com");
                if let Some(id) = client_id {
                    url.push_str(&format!("&client_id={id}"));
                }
                let what = "the instance metadata service (managed identity)";
                // Off Azure nothing answers there: a short probe, then the next member.
                let answer = http::request(
                    "GET",
                    &url,
                    &[("Metadata", "true")],
                    None,
                    self.timeout.min(Duration::from_secs(1)),
                )
                .map_err(|e| (false, format!("{what}: {e}")))?;
                if answer.status != 200 {
                    // 400 "Identity not found": a VM without a managed identity; other
                    // answers come from proxies as often as from the service.
                    return Err((false, refusal(&answer, what)));
                }
                endpoint_token(&answer.body, what).map_err(|e| (true, e))
            }
            Member::Cli => AzureCli::new(self.timeout)
                .token()
                .map_err(|e| (!e.contains("cannot run"), e)),
        }
    }
}

impl CredentialSource for AzureChain {
    fn fetch(&self, _user: Option<&str>) -> Result<Credential, String> {
        let chosen = self
            .chosen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(member) = chosen {
            return self.token_from(&member).map_err(|(_, e)| e);
        }
        let mut unavailable = Vec::new();
        for member in Self::members()? {
            match self.token_from(&member) {
                Ok(c) => {
                    *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some(member);
                    return Ok(c);
                }
                Err((true, e)) => return Err(e),
                Err((false, e)) => unavailable.push(e),
            }
        }
        Err(format!(
            "no Azure identity available: {}; sign in with `az login`, or set \
             AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or \
             AZURE_FEDERATED_TOKEN_FILE), or run where a managed identity is assigned",
            unavailable.join("; ")
        ))
    }

    fn identity(&self) -> String {
        match &*self.chosen.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(m) => format!("Microsoft Entra ID ({})", m.name()),
            None => "Microsoft Entra ID".to_string(),
        }
    }

    fn remedy(&self) -> String {
        AzureCli::new(self.timeout)
            .remedy()
            .replace("the signed-in identity (`az account show`)", "the identity")
    }

    fn renew_before(&self) -> Duration {
        AZURE_RENEW_BEFORE
    }
}

/// The claims of a JSON Web Token (its middle part, base64url JSON), when readable.
fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&base64url_decode(payload)?).ok()
}

/// Decodes unpadded (or padded) base64url.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes().take_while(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn base64url() {
        assert_eq!(
            base64url_decode("eyJvaWQiOiJ4In0").unwrap(),
            b"{\"oid\":\"x\"}"
        );
        assert_eq!(base64url_decode("YQ==").unwrap(), b"a");
        assert!(base64url_decode("a b").is_none());
    }

    #[test]
    fn azure_cli_answer() {
        let json = r#"{"accessToken":"h.eyJvaWQiOiJhYmMiLCJleHAiOjIwMDAwMDAwMDB9.s",
            "expiresOn":"2033-05-18 04:33:20.000000","expires_on":1900000000,
            "subscription":"s","tenant":"t","tokenType":"Bearer"}"#;
        let c = azure_token(json).unwrap();
        assert_eq!(c.user.as_deref(), Some("abc"));
        assert_eq!(
            c.expires,
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );
        // Without expires_on, the token's exp claim.
        let c = azure_token(r#"{"accessToken":"h.eyJvaWQiOiJhYmMiLCJleHAiOjIwMDAwMDAwMDB9.s"}"#)
            .unwrap();
        assert_eq!(
            c.expires,
            Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        assert!(azure_token("{}").unwrap_err().contains("accessToken"));
        assert!(azure_token("not json").is_err());
    }
}
