//! Connection flags shared by every command that talks to a server (`restore`,
//! `verify`, `info`, `preflight`, `watch`), turned into a library `TargetConfig`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rdb_restore::credential::aws::ElastiCacheIam;
use rdb_restore::credential::{AzureChain, CredentialSource, Credentials, PasswordCommand};
use rdb_restore::{Secret, Target, TargetConfig};

/// How to reach and authenticate to servers. The password comes from the URL, else
/// `--password-file`, else `REDISCLI_AUTH` (as redis-cli does).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectionArgs {
    /// Read the password from this file (first line); replaces the URL's.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Run CMD through `sh -c` for the password (its first line of output) at every
    /// (re)connect and before --credential-lifetime runs out, e.g. a secrets-manager
    /// or vault CLI; the user comes from the URL or --user.
    #[arg(long, value_name = "CMD", conflicts_with = "password_file")]
    pub password_command: Option<String>,
    /// Seconds a --password-command password (or a token) stays good: it is asked
    /// again and live connections send AUTH again before then.
    #[arg(long, value_name = "SECS", value_parser = seconds_arg)]
    pub credential_lifetime: Option<f64>,
    /// How to authenticate: `password` (URL, --password-file, --password-command,
    /// REDISCLI_AUTH), `azure` (a Microsoft Entra ID token from the environment's
    /// service principal, workload identity, managed identity or the Azure CLI; the
    /// user is the token's object id unless --user or the URL names one), `aws-iam` (an ElastiCache IAM
    /// token for the user the URL or --user names; needs --aws-cache-name).
    #[arg(long, value_enum, default_value_t = AuthMethod::Password, value_name = "METHOD")]
    pub auth: AuthMethod,
    /// AWS region of the ElastiCache cache (--auth aws-iam; default AWS_REGION or
    /// AWS_DEFAULT_REGION).
    #[arg(long, value_name = "REGION")]
    pub aws_region: Option<String>,
    /// The ElastiCache replication group id or serverless cache name (--auth aws-iam).
    #[arg(long, value_name = "NAME")]
    pub aws_cache_name: Option<String>,
    /// The cache is an ElastiCache Serverless cache (--auth aws-iam).
    #[arg(long)]
    pub aws_serverless: bool,
    /// PEM CA certificate(s) to verify `rediss://` servers with (default: system roots).
    #[arg(long, visible_alias = "cacert", value_name = "FILE")]
    pub tls_ca_cert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    #[arg(
        long,
        visible_alias = "cert",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM client private key for mutual TLS.
    #[arg(
        long,
        visible_alias = "key",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Do not verify the server's certificate (dangerous).
    #[arg(long, visible_alias = "insecure")]
    pub tls_insecure: bool,
    /// TLS server name to send (SNI) and verify the certificate against, instead of
    /// the host connected to (e.g. a private endpoint's IP); applies to cluster nodes.
    #[arg(long, visible_alias = "sni", value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Seconds to wait for a connection and for the server's first answer (a port
    /// that accepts and never answers fails after this).
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = seconds_arg)]
    pub connect_timeout: f64,
    /// Seconds to wait for any later reply (a large value or a busy server can be slow).
    #[arg(long, value_name = "SECS", default_value_t = 120.0, value_parser = seconds_arg)]
    pub timeout: f64,
}

/// `--auth`: where the password comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMethod {
    /// A password (URL, --password-file, --password-command, REDISCLI_AUTH) or none.
    #[default]
    Password,
    /// A Microsoft Entra ID access token for https://redis.azure.com/.default.
    Azure,
    /// An ElastiCache IAM authentication token (SigV4, 15 minutes).
    AwsIam,
}

/// How long a helper program (password command, Azure CLI) may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

fn seconds_arg(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('s').parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v < 1e7 => Ok(v),
        _ => Err(format!("expected a positive number of seconds, got {s:?}")),
    }
}

/// The server a command works on: a URL, or redis-cli's flags (`-h -p -a --user
/// --tls -n`). Commands that flatten this free `-h` from help (`--help` stays).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// Target URL: redis://[user[:password]@]host:port[/db], rediss:// for TLS.
    #[arg(long = "target", short = 'u', value_name = "URL")]
    pub url: Option<String>,
    /// Server host, instead of a URL (as redis-cli -h).
    #[arg(
        short = 'h',
        long = "host",
        value_name = "HOST",
        conflicts_with = "url"
    )]
    pub host: Option<String>,
    /// Server port (default 6379; as redis-cli -p).
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        conflicts_with = "url"
    )]
    pub port: Option<u16>,
    /// Password (as redis-cli -a): visible in process lists, so prefer REDISCLI_AUTH
    /// or --password-file.
    #[arg(
        short = 'a',
        long = "pass",
        value_name = "PASSWORD",
        conflicts_with = "url"
    )]
    pub pass: Option<String>,
    /// ACL user (as redis-cli --user).
    #[arg(long = "user", value_name = "USER", conflicts_with = "url")]
    pub user: Option<String>,
    /// Connect with TLS (as redis-cli --tls; a URL says so with rediss://).
    #[arg(long = "tls", conflicts_with = "url")]
    pub tls: bool,
    /// Target database (as redis-cli -n; /N in a URL).
    #[arg(short = 'n', value_name = "DB")]
    pub db: Option<u64>,
}

impl ServerArgs {
    /// The URL the flags name (without the `-a` password, which travels apart).
    pub fn url(&self) -> Result<String> {
        let mut url = match (&self.url, &self.host, self.port) {
            (Some(url), _, _) => url.clone(),
            (None, None, None) => anyhow::bail!(
                "no target: give --target URL (or -u URL), or -h HOST [-p PORT] as with redis-cli"
            ),
            (None, host, port) => {
                let user = match &self.user {
                    Some(u) if u.contains(['@', ':', '/']) => {
                        anyhow::bail!("--user {u:?}: a user name with @ : / cannot be used")
                    }
                    Some(u) => format!("{u}@"),
                    None => String::new(),
                };
                format!(
                    "{}://{user}{}:{}",
                    if self.tls { "rediss" } else { "redis" },
                    host.as_deref().unwrap_or("127.0.0.1"),
                    port.unwrap_or(6379)
                )
            }
        };
        if let Some(n) = self.db {
            let rest = url.split_once("://").map_or("", |(_, r)| r);
            let host_part = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            if host_part.contains('/') {
                anyhow::bail!("-n {n} and a database in the URL: give one of them");
            }
            url.push_str(&format!("/{n}"));
        }
        Ok(url)
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

impl ConnectionArgs {
    /// The library configuration for `url`; TLS options with a `redis://` URL are
    /// refused by the library (a likely mistake).
    pub fn config(&self, url: &str) -> Result<TargetConfig> {
        self.build(url, false)
    }

    /// The servers of a command that takes several URLs: `urls`, then the one
    /// redis-cli's flags name (if any); each with its URL for display.
    pub fn targets(&self, urls: &[String], server: &ServerArgs) -> Result<Vec<(String, Target)>> {
        let mut out = Vec::new();
        for url in urls {
            out.push((url.clone(), self.target_among(url)?));
        }
        if server.url.is_some() || server.host.is_some() || server.port.is_some() {
            out.push((server.url()?, self.target_for(server)?));
        }
        if out.is_empty() {
            anyhow::bail!("no server: give URLs, or -h HOST [-p PORT] as with redis-cli");
        }
        Ok(out)
    }

    /// The target `server` names, with its `-a` password.
    pub fn target_for(&self, server: &ServerArgs) -> Result<Target> {
        let mut config = self.config(&server.url()?)?;
        if let Some(p) = &server.pass {
            if self.password_file.is_some() {
                anyhow::bail!("-a and --password-file: give one password");
            }
            config.password = Some(Secret::new(p.clone()));
        }
        Ok(Target::new(&config)?)
    }

    /// A target for one of several URLs given to one command (`preflight --source
    /// --target`, `watch URL...`): the TLS options apply to the `rediss://` ones only.
    pub fn target_among(&self, url: &str) -> Result<Target> {
        Ok(Target::new(&self.build(url, true)?)?)
    }

    /// The changing-credential flags as given (`--auth ...`, `--password-command
    /// ...`), to repeat in a suggested command.
    pub fn credential_flags(&self) -> Vec<String> {
        let mut words = Vec::new();
        if let Some(cmd) = &self.password_command {
            words.extend(["--password-command".to_string(), cmd.clone()]);
        }
        if let Some(secs) = self.credential_lifetime {
            words.extend(["--credential-lifetime".to_string(), secs.to_string()]);
        }
        match self.auth {
            AuthMethod::Password => {}
            AuthMethod::Azure => words.extend(["--auth".to_string(), "azure".to_string()]),
            AuthMethod::AwsIam => {
                words.extend(["--auth".to_string(), "aws-iam".to_string()]);
                for (flag, value) in [
                    ("--aws-region", &self.aws_region),
                    ("--aws-cache-name", &self.aws_cache_name),
                ] {
                    if let Some(v) = value {
                        words.extend([flag.to_string(), v.clone()]);
                    }
                }
                if self.aws_serverless {
                    words.push("--aws-serverless".to_string());
                }
            }
        }
        words
    }

    /// The changing credentials `--password-command` or `--auth` ask for, if any.
    fn credentials(&self) -> Result<Option<Arc<Credentials>>> {
        if self.auth != AuthMethod::AwsIam
            && (self.aws_region.is_some() || self.aws_cache_name.is_some() || self.aws_serverless)
        {
            anyhow::bail!(
                "--aws-region, --aws-cache-name and --aws-serverless go with --auth aws-iam"
            );
        }
        let source: Box<dyn CredentialSource> = match (self.auth, &self.password_command) {
            (AuthMethod::Password, None) => return Ok(None),
            (AuthMethod::Password, Some(cmd)) => {
                Box::new(PasswordCommand::new(cmd.clone(), HELPER_TIMEOUT))
            }
            (AuthMethod::Azure, None) if self.password_file.is_none() => {
                Box::new(AzureChain::new(HELPER_TIMEOUT))
            }
            (AuthMethod::AwsIam, None) if self.password_file.is_none() => {
                let region = self
                    .aws_region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                    .filter(|r| !r.is_empty())
                    .context("--auth aws-iam needs --aws-region REGION (or AWS_REGION)")?;
                let name = self.aws_cache_name.as_deref().context(
                    "--auth aws-iam needs --aws-cache-name NAME (the replication group id \
                     or serverless cache name)",
                )?;
                Box::new(ElastiCacheIam::new(
                    &region,
                    name,
                    self.aws_serverless,
                    HELPER_TIMEOUT,
                ))
            }
            (_, _) => anyhow::bail!(
                "--auth {} and a password (--password-file, --password-command): give one",
                if self.auth == AuthMethod::Azure {
                    "azure"
                } else {
                    "aws-iam"
                }
            ),
        };
        let lifetime = self.credential_lifetime.map(Duration::from_secs_f64);
        Ok(Some(Arc::new(Credentials::new(source, lifetime))))
    }

    fn build(&self, url: &str, tls_urls_only: bool) -> Result<TargetConfig> {
        let password = match &self.password_file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading password file {}", p.display()))?;
                Some(Secret::new(text.lines().next().unwrap_or("").to_string()))
            }
            None => None,
        };
        let tls = !tls_urls_only || url.starts_with("rediss://");
        let file = |p: &Option<PathBuf>, what| -> Result<Option<Vec<u8>>> {
            match p {
                Some(p) if tls => read_file(p, what).map(Some),
                _ => Ok(None),
            }
        };
        Ok(TargetConfig {
            credentials: self.credentials()?,
            url: url.to_string(),
            password,
            default_password: std::env::var("REDISCLI_AUTH").ok().map(Secret::new),
            tls_ca_cert: file(&self.tls_ca_cert, "CA certificate")?,
            tls_client_cert: file(&self.tls_cert, "client certificate")?,
            tls_client_key: file(&self.tls_key, "client key")?,
            tls_insecure: tls && self.tls_insecure,
            tls_server_name: self.tls_server_name.clone().filter(|_| tls),
            connect_timeout: Some(std::time::Duration::from_secs_f64(self.connect_timeout)),
            io_timeout: Some(std::time::Duration::from_secs_f64(self.timeout)),
        })
    }
}
