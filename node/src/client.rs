//! The node's HTTP API as a client: the CLI, the tests and the benchmark harness all
//! talk to nodes through this one (plain HTTP to a node's own API; TLS, where used,
//! is a reverse proxy's).

use std::io::{Read, Write};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::limits::MAX_RESPONSE_BYTES;

/// How long one request may take, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Tries of one publish whose answers are lost (see [`ApiClient::publish`]): with
/// waits of 0.5, 1, 2 and 4 s, a node that restarts within about 7 s is reached.
pub const PUBLISH_ATTEMPTS: u32 = 5;
const FIRST_PUBLISH_RETRY_WAIT: Duration = Duration::from_millis(500);

/// A new random idempotency key (128 bits, hex).
pub fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    // Without the OS's randomness, the time and process id still make a key unique
    // enough for one client's retries.
    if getrandom::fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (now ^ u128::from(std::process::id()) << 96).to_le_bytes();
    }
    hex::encode(bytes)
}

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach the node's API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The API answered with an error (its `{"error","message","field"}`).
    #[error("{status} {code}: {}{message}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Api {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    #[error("unreadable answer from the node: {0}")]
    Answer(String),
}

/// An answer of any status, read whole (at most [`MAX_RESPONSE_BYTES`]).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub location: Option<String>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// The body as `T` when the status is 2xx, else the API's error.
    pub fn into_typed<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        let reply = self.into_ok()?;
        serde_json::from_slice(&reply.bytes).map_err(|e| ClientError::Answer(e.to_string()))
    }

    /// The reply when the status is 2xx (whatever its body), else the API's error.
    pub fn into_ok(self) -> Result<Reply, ClientError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let body = self.json();
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        Err(ClientError::Api {
            status: self.status,
            code: text("error").unwrap_or_else(|| "error".into()),
            message: text("message").unwrap_or_else(|| self.text()),
            field: text("field"),
        })
    }
}

/// A node's API at `base` (e.g. `http://127.0.0.1:7480`), with a bearer token or
/// none. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl ApiClient {
    pub fn new(base: &str, token: Option<&str>, timeout: Option<Duration>) -> ApiClient {
        let mut agent = ureq::AgentBuilder::new();
        if let Some(timeout) = timeout {
            agent = agent.timeout(timeout);
        }
        ApiClient {
            base: base.trim().trim_end_matches('/').to_string(),
            token: token.map(|t| t.trim().to_string()),
            agent: agent.build(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same node with another token (or none).
    pub fn with_token(&self, token: Option<&str>) -> ApiClient {
        ApiClient {
            token: token.map(str::to_string),
            ..self.clone()
        }
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let request = self.agent.request(method, &format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.set("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    fn open(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, &str)],
    ) -> Result<ureq::Response, ClientError> {
        let request = headers
            .iter()
            .fold(self.request(method, path), |r, (name, value)| {
                r.set(name, value)
            });
        let result = match body {
            Some((content_type, bytes)) => {
                request.set("Content-Type", content_type).send_bytes(bytes)
            }
            None => request.call(),
        };
        match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => Ok(response),
            Err(ureq::Error::Transport(transport)) => Err(ClientError::Unreachable {
                url: format!("{}{path}", self.base),
                reason: transport.to_string(),
            }),
        }
    }

    /// Sends a request; any HTTP status is a [`Reply`], only a transport failure is
    /// an error.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Reply, ClientError> {
        self.send_with(method, path, body, &[])
    }

    /// [`ApiClient::send`] with extra request headers.
    pub fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, ClientError> {
        let response = self.open(method, path, body, headers)?;
        let status = response.status();
        let content_type = response.content_type().to_string();
        let location = response.header("location").map(str::to_string);
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| {
                let value = response.header(&name)?.to_string();
                Some((name.to_ascii_lowercase(), value))
            })
            .collect();
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| ClientError::Answer(e.to_string()))?;
        Ok(Reply {
            status,
            content_type,
            location,
            headers,
            bytes,
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send("GET", path, None)?.into_typed()
    }

    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Answer(e.to_string()))?;
        self.send("POST", path, Some(("application/json", &bytes)))?
            .into_typed()
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send("DELETE", path, None)?.into_typed()
    }

    /// Publishes `body` at `path` with `idempotency_key`. When the answer is lost (the
    /// connection failed, timed out or broke off), asks again with the same key, which
    /// cannot publish twice: up to [`PUBLISH_ATTEMPTS`] times, waiting longer each time.
    pub fn publish<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        idempotency_key: &str,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Answer(e.to_string()))?;
        let headers = [("Idempotency-Key", idempotency_key)];
        let mut wait = FIRST_PUBLISH_RETRY_WAIT;
        let mut attempt = 1;
        loop {
            let lost =
                match self.send_with("POST", path, Some(("application/json", &bytes)), &headers) {
                    Ok(reply) => return reply.into_typed(),
                    Err(lost @ (ClientError::Unreachable { .. } | ClientError::Answer(_))) => lost,
                    Err(other) => return Err(other),
                };
            if attempt == PUBLISH_ATTEMPTS {
                return Err(lost);
            }
            std::thread::sleep(wait);
            wait *= 2;
            attempt += 1;
        }
    }

    /// Streams a 2xx answer (an export, the live feed) into `out`; returns the bytes
    /// written. The client's timeout bounds each read, not the whole stream.
    pub fn download(&self, path: &str, out: &mut impl Write) -> Result<u64, ClientError> {
        let mut reader = self.stream(path)?;
        std::io::copy(&mut reader, out).map_err(|e| ClientError::Answer(e.to_string()))
    }

    /// Opens a 2xx answer as a stream (the live feed: read it line by line).
    pub fn stream(&self, path: &str) -> Result<Stream, ClientError> {
        let response = self.open("GET", path, None, &[])?;
        if !(200..300).contains(&response.status()) {
            let status = response.status();
            let mut bytes = Vec::new();
            let _ = response
                .into_reader()
                .take(MAX_RESPONSE_BYTES)
                .read_to_end(&mut bytes);
            return Reply {
                status,
                content_type: String::new(),
                location: None,
                headers: Vec::new(),
                bytes,
            }
            .into_typed::<Value>()
            .map(|_| Stream {
                content_type: String::new(),
                reader: Box::new(std::io::empty()),
            });
        }
        Ok(Stream {
            content_type: response.content_type().to_string(),
            reader: response.into_reader(),
        })
    }
}

/// A 2xx answer being read as it arrives.
pub struct Stream {
    pub content_type: String,
    reader: Box<dyn Read + Send + Sync>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

/// Sends webhook deliveries: POSTs with a timeout, never following redirects (a
/// delivery goes where it was registered to go, nowhere else).
#[derive(Debug, Clone)]
pub struct WebhookSender {
    timeout: Duration,
    allow_internal: bool,
    allow_plain_http: bool,
    /// Trust anchors from `notify.webhook_ca_file`; `None`: the public roots.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// The TLS configuration of webhook deliveries whose targets' certificates must chain
/// to the CA certificates in `ca_file` (PEM), or `None` for an empty path: the public
/// roots ureq carries. Errors name the file and what is wrong with it.
pub fn webhook_tls(ca_file: &str) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    if ca_file.is_empty() {
        return Ok(None);
    }
    let unreadable = |e: &dyn std::fmt::Display| format!("{ca_file}: {e}");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| unreadable(&e))? {
        let cert = cert.map_err(|e| unreadable(&e))?;
        roots.add(cert).map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(format!("{ca_file}: holds no PEM certificate"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(std::sync::Arc::new(config)))
}

/// Why a delivery attempt failed: the target's status if it answered, the class of
/// failure (what the delivery log shows), and what happened (logged only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    pub status: Option<u16>,
    pub class: &'static str,
    pub reason: String,
}

/// Whether `ip` is inside an organisation or this host rather than on the internet:
/// loopback, unspecified, private (RFC 1918, unique local), link-local, shared
/// (RFC 6598), multicast or broadcast, also as an IPv4-mapped IPv6 address.
pub fn is_internal_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

impl WebhookSender {
    /// From the `[notify]` settings: whether targets may resolve to loopback,
    /// private or link-local addresses, may be plain `http://`, and which CA file
    /// their certificates chain to (the public roots if it cannot be read; the node
    /// checked it at start).
    pub fn new(timeout: Duration, notify: &crate::config::NotifySection) -> WebhookSender {
        let tls = webhook_tls(&notify.webhook_ca_file).unwrap_or_else(|error| {
            tracing::error!(%error, "notify.webhook_ca_file cannot be read");
            None
        });
        WebhookSender {
            timeout,
            allow_internal: notify.webhook_allow_private_targets,
            allow_plain_http: notify.webhook_allow_plain_http,
            tls,
        }
    }

    /// The addresses `url`'s host resolves to, all checked: the connection goes
    /// only to these (no second lookup a DNS answer could change in between).
    fn resolve(&self, url: &str) -> Result<Vec<std::net::SocketAddr>, DeliveryFailure> {
        use std::net::ToSocketAddrs;
        let failure = |class, reason: String| DeliveryFailure {
            status: None,
            class,
            reason,
        };
        let (default_port, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (443, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            if !self.allow_plain_http {
                return Err(failure(
                    "plain_http_refused",
                    format!("{url}: plain http:// needs notify.webhook_allow_plain_http"),
                ));
            }
            (80, rest)
        } else {
            return Err(failure("invalid_url", format!("{url}: not http(s)")));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| failure("invalid_url", format!("{url}: bad port")))?,
            None => default_port,
        };
        let addresses: Vec<std::net::SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| failure("dns", format!("{host}: {e}")))?
            .collect();
        let allowed: Vec<std::net::SocketAddr> = addresses
            .iter()
            .copied()
            .filter(|a| self.allow_internal || !is_internal_address(a.ip()))
            .collect();
        if allowed.is_empty() {
            return Err(failure(
                "target_refused",
                format!(
                    "{host} resolves to {addresses:?}: loopback, private or link-local targets need notify.webhook_allow_private_targets"
                ),
            ));
        }
        Ok(allowed)
    }

    /// POSTs `body` (JSON) with `headers`; the target's status when it is 2xx.
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<u16, DeliveryFailure> {
        let addresses = self.resolve(url)?;
        let mut agent = ureq::AgentBuilder::new()
            .timeout(self.timeout)
            .redirects(0)
            .resolver(move |_: &str| Ok(addresses.clone()));
        if let Some(tls) = &self.tls {
            agent = agent.tls_config(tls.clone());
        }
        let agent = agent.build();
        let request = headers.iter().fold(
            agent.post(url).set("Content-Type", "application/json").set(
                "User-Agent",
                concat!("customs-node/", env!("CARGO_PKG_VERSION")),
            ),
            |r, (name, value)| r.set(name, value),
        );
        match request.send_bytes(body) {
            Ok(response) if (200..300).contains(&response.status()) => Ok(response.status()),
            Ok(response) => Err(DeliveryFailure {
                status: Some(response.status()),
                class: "http_status",
                reason: format!("HTTP {}", response.status()),
            }),
            Err(ureq::Error::Status(status, _)) => Err(DeliveryFailure {
                status: Some(status),
                class: "http_status",
                reason: format!("HTTP {status}"),
            }),
            Err(ureq::Error::Transport(e)) => {
                let reason = e.to_string();
                let class = match e.kind() {
                    _ if reason.contains("timed out") => "timeout",
                    _ if reason.contains("certificate") || reason.contains("tls") => "tls",
                    ureq::ErrorKind::Dns => "dns",
                    ureq::ErrorKind::ConnectionFailed => "connection_failed",
                    ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => "invalid_url",
                    _ => "io",
                };
                Err(DeliveryFailure {
                    status: None,
                    class,
                    reason,
                })
            }
        }
    }
}
