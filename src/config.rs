//! The proxy's configuration: the TOML file (see `deploy/scrim.toml` for a
//! complete commented example), command-line overrides, and validation that
//! reports every problem at once with its location.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether a route changes bodies or only counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Redact.
    Enforce,
    /// Count and audit what would be redacted; bodies pass unchanged.
    Observe,
    /// Pass-through: bodies and headers are not scanned at all (for routes
    /// that carry nothing sensitive, such as static assets). Counted in
    /// `scrim_unscanned_bytes_total{reason="route_pass"}` and flagged by
    /// the `scrim_route_pass` gauge and /readyz.
    Pass,
}

/// What to do with a body whose content type scrim cannot scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unscannable {
    /// Fail closed: 502.
    Block,
    /// Scan it as text (safe default: text rules still apply to any bytes).
    Text,
    /// Pass it unchanged (counted as unscanned).
    Pass,
}

/// One route: requests whose path (and host, if set) match get this policy.
#[derive(Debug, Clone)]
pub struct Route {
    /// Name used in metrics and logs (never the raw path).
    pub name: String,
    /// Path prefix, matched on whole segments.
    pub path_prefix: String,
    /// Host to match (without port), if any.
    pub host: Option<String>,
    /// Enforce, observe or pass.
    pub mode: Mode,
    /// Also redact request bodies (client → CRM).
    pub redact_requests: bool,
    /// Policy for content types that cannot be scanned.
    pub unscannable: Unscannable,
    /// Response headers whose values get the text rules.
    pub redact_headers: Vec<String>,
    /// The route's metric series, resolved by its first request.
    pub stats: crate::metrics::RouteMetricsCell,
}

impl Route {
    /// The route used when the config has none.
    pub fn default_route() -> Route {
        Route {
            name: "default".into(),
            path_prefix: "/".into(),
            host: None,
            mode: Mode::Enforce,
            redact_requests: false,
            unscannable: Unscannable::Text,
            redact_headers: Vec::new(),
            stats: Default::default(),
        }
    }

    fn matches_path(&self, path: &str) -> bool {
        let p = self.path_prefix.trim_end_matches('/');
        path == p
            || p.is_empty()
            || (path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/'))
    }
}

/// Where the audit log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutput {
    /// No audit log.
    Off,
    /// Standard output.
    Stdout,
    /// Append to this file.
    File(PathBuf),
}

/// The whole proxy configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Proxy listener.
    pub listen: SocketAddr,
    /// Admin listener (metrics, health).
    pub admin: Option<SocketAddr>,
    /// Upstream base URL (http or https).
    pub upstream: http::Uri,
    /// Downstream TLS certificate and key (PEM), and client CA for mTLS.
    pub tls: Option<TlsFiles>,
    /// Upstream CA file (PEM); system roots otherwise.
    pub upstream_ca: Option<PathBuf>,
    /// SNI / certificate name override for the upstream.
    pub upstream_server_name: Option<String>,
    /// Speak HTTP/2 to a plaintext upstream (prior knowledge).
    pub upstream_h2c: bool,
    /// Upstream connect timeout.
    pub connect_timeout: Duration,
    /// Upstream time to response headers.
    pub response_timeout: Duration,
    /// Idle pooled upstream connections are closed after this.
    pub pool_idle_timeout: Duration,
    /// Ask upstream for compressed bodies (gzip, deflate, br, zstd) rather
    /// than identity.
    pub upstream_compression: bool,
    /// Limits.
    pub limits: Limits,
    /// Rule packs directory (built-in packs when `None`).
    pub packs_dir: Option<PathBuf>,
    /// Token / fingerprint key file.
    pub token_key_file: Option<PathBuf>,
    /// Reload packs when the directory changes.
    pub watch: bool,
    /// Audit log output.
    pub audit: AuditOutput,
    /// Add a keyed fingerprint of each value to audit records.
    pub audit_fingerprint: bool,
    /// Audit queue length.
    pub audit_queue: usize,
    /// Fail requests closed when the audit queue overflows (else drop records).
    pub audit_fail_closed: bool,
    /// JSON logs (else human).
    pub log_json: bool,
    /// Log level filter.
    pub log_level: String,
    /// Routes, most specific first.
    pub routes: Vec<std::sync::Arc<Route>>,
}

/// Downstream TLS files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// CA whose client certificates are accepted; mTLS when set.
    pub client_ca: Option<PathBuf>,
}

/// Limits that protect scrim and fail closed.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent client connections.
    pub max_connections: usize,
    /// Time allowed to send request headers.
    pub header_read_timeout: Duration,
    /// Idle keep-alive connections are closed after this.
    pub idle_timeout: Duration,
    /// Request header bytes (431 beyond).
    pub max_request_header_bytes: usize,
    /// Request body bytes (413 beyond).
    pub max_request_body_bytes: u64,
    /// Decoded (decompressed) response body bytes.
    pub max_decoded_body_bytes: u64,
    /// Decoded/encoded ratio above which a body is refused.
    pub max_compression_ratio: u64,
    /// WebSocket message bytes (close 1009 beyond).
    pub max_websocket_message_bytes: usize,
    /// HTTP/2 concurrent streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Grace period for in-flight requests on SIGTERM.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_request_header_bytes: 16 * 1024,
            max_request_body_bytes: 10 << 20,
            max_decoded_body_bytes: 100 << 20,
            max_compression_ratio: 100,
            max_websocket_message_bytes: 1 << 20,
            h2_max_concurrent_streams: 200,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    upstream: RawUpstream,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    packs: RawPacks,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    route: Vec<toml::Spanned<RawRoute>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    admin: Option<String>,
    upstream: Option<String>,
    tls: Option<RawTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    ca: Option<PathBuf>,
    server_name: Option<String>,
    connect_timeout: Option<String>,
    response_timeout: Option<String>,
    pool_idle_timeout: Option<String>,
    accept_encoding: Option<String>,
    http2_prior_knowledge: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_connections: Option<usize>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_request_header_bytes: Option<usize>,
    max_request_body_bytes: Option<u64>,
    max_decoded_body_bytes: Option<u64>,
    max_compression_ratio: Option<u64>,
    max_websocket_message_bytes: Option<usize>,
    h2_max_concurrent_streams: Option<u32>,
    drain_timeout: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPacks {
    dir: Option<PathBuf>,
    token_key_file: Option<PathBuf>,
    watch: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    output: Option<String>,
    fingerprint: Option<bool>,
    queue: Option<usize>,
    on_overflow: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<String>,
    level: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: String,
    #[serde(default = "root_prefix")]
    path_prefix: String,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    redact_requests: bool,
    #[serde(default)]
    unscannable: Option<String>,
    #[serde(default)]
    redact_headers: Vec<String>,
}

/// `path_prefix` left out: the route covers every path.
fn root_prefix() -> String {
    "/".into()
}

/// Command-line values that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--upstream`.
    pub upstream: Option<String>,
    /// `--admin`.
    pub admin: Option<String>,
    /// `--patterns`.
    pub patterns: Option<PathBuf>,
    /// `--token-key-file`.
    pub token_key_file: Option<PathBuf>,
    /// `--observe`: every route observes.
    pub observe: bool,
}

/// Parses a duration such as `500ms`, `2s`, `1m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} needs a unit (ms, s, m, h)"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?}: not a number"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => {
            return Err(format!(
                "duration {s:?}: unknown unit {unit:?} (ms, s, m, h)"
            ))
        }
    })
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Loads `path` (if any) and applies `ov`. Every error is returned,
    /// each naming the file and, where known, the line.
    pub fn load(path: Option<&Path>, ov: &Overrides) -> Result<Config, Vec<String>> {
        let (name, src) = match path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(s) => (p.display().to_string(), s),
                Err(e) => return Err(vec![format!("{}: cannot read: {e}", p.display())]),
            },
            None => ("(flags)".to_string(), String::new()),
        };
        Config::parse(&name, &src, ov)
    }

    /// Parses config text; `name` labels errors.
    pub fn parse(name: &str, src: &str, ov: &Overrides) -> Result<Config, Vec<String>> {
        let raw: RawConfig = toml::from_str(src).map_err(|e| {
            let line = e.span().map(|s| format!(":{}", line_of(src, s.start)));
            vec![format!(
                "{name}{}: {}",
                line.unwrap_or_default(),
                e.message()
            )]
        })?;
        let mut errs = Vec::new();
        let mut err = |section: &str, msg: String| errs.push(format!("{name}: [{section}] {msg}"));
        let addr = |s: &str| s.parse::<SocketAddr>().map_err(|e| format!("{s:?}: {e}"));
        let dur = |v: &Option<String>, d: Duration| v.as_deref().map_or(Ok(d), parse_duration);

        let listen_s = ov
            .listen
            .clone()
            .or(raw.server.listen.clone())
            .unwrap_or_else(|| "127.0.0.1:8443".into());
        let listen = addr(&listen_s).unwrap_or_else(|e| {
            err("server", format!("listen {e}"));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let admin = match ov.admin.clone().or(raw.server.admin.clone()) {
            None => None,
            Some(a) => match addr(&a) {
                Ok(a) => Some(a),
                Err(e) => {
                    err("server", format!("admin {e}"));
                    None
                }
            },
        };
        if admin.is_some() && admin == Some(listen) && listen.port() != 0 {
            err(
                "server",
                "admin and listen must be different addresses".into(),
            );
        }
        let upstream = match ov.upstream.clone().or(raw.server.upstream.clone()) {
            None => {
                err(
                    "server",
                    "upstream is required (--upstream URL or [server] upstream)".into(),
                );
                http::Uri::from_static("http://127.0.0.1")
            }
            Some(u) => match u.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http") | Some("https"))
                        && uri.authority().is_some() =>
                {
                    uri
                }
                Ok(_) => {
                    err(
                        "server",
                        format!("upstream {u:?} must be an http:// or https:// URL with a host"),
                    );
                    http::Uri::from_static("http://127.0.0.1")
                }
                Err(e) => {
                    err("server", format!("upstream {u:?}: {e}"));
                    http::Uri::from_static("http://127.0.0.1")
                }
            },
        };
        let tls = raw.server.tls.map(|t| TlsFiles {
            cert: t.cert,
            key: t.key,
            client_ca: t.client_ca,
        });
        let u = &raw.upstream;
        let mut d = |section: &str, key: &str, v: &Option<String>, default: Duration| {
            dur(v, default).unwrap_or_else(|e| {
                err(section, format!("{key}: {e}"));
                default
            })
        };
        let connect_timeout = d(
            "upstream",
            "connect_timeout",
            &u.connect_timeout,
            Duration::from_secs(2),
        );
        let response_timeout = d(
            "upstream",
            "response_timeout",
            &u.response_timeout,
            Duration::from_secs(30),
        );
        let pool_idle_timeout = d(
            "upstream",
            "pool_idle_timeout",
            &u.pool_idle_timeout,
            Duration::from_secs(90),
        );
        let l = &raw.limits;
        let defaults = Limits::default();
        let header_read_timeout = d(
            "limits",
            "header_read_timeout",
            &l.header_read_timeout,
            defaults.header_read_timeout,
        );
        let idle_timeout = d(
            "limits",
            "idle_timeout",
            &l.idle_timeout,
            defaults.idle_timeout,
        );
        let drain_timeout = d(
            "limits",
            "drain_timeout",
            &l.drain_timeout,
            defaults.drain_timeout,
        );
        let upstream_compression = match u.accept_encoding.as_deref() {
            None | Some("identity") => false,
            Some("gzip, deflate, br, zstd") | Some("compressed") => true,
            Some(o) => {
                err("upstream", format!("accept_encoding {o:?}: expected \"identity\" or \"gzip, deflate, br, zstd\""));
                false
            }
        };
        let limits = Limits {
            max_connections: l.max_connections.unwrap_or(defaults.max_connections),
            header_read_timeout,
            idle_timeout,
            max_request_header_bytes: l
                .max_request_header_bytes
                .unwrap_or(defaults.max_request_header_bytes),
            max_request_body_bytes: l
                .max_request_body_bytes
                .unwrap_or(defaults.max_request_body_bytes),
            max_decoded_body_bytes: l
                .max_decoded_body_bytes
                .unwrap_or(defaults.max_decoded_body_bytes),
            max_compression_ratio: l
                .max_compression_ratio
                .unwrap_or(defaults.max_compression_ratio),
            max_websocket_message_bytes: l
                .max_websocket_message_bytes
                .unwrap_or(defaults.max_websocket_message_bytes),
            h2_max_concurrent_streams: l
                .h2_max_concurrent_streams
                .unwrap_or(defaults.h2_max_concurrent_streams),
            drain_timeout,
        };
        if limits.max_connections == 0 {
            err("limits", "max_connections must be at least 1".into());
        }
        if limits.max_request_header_bytes < 1024 {
            err(
                "limits",
                "max_request_header_bytes must be at least 1024".into(),
            );
        }
        if limits.max_compression_ratio == 0 {
            err("limits", "max_compression_ratio must be at least 1".into());
        }
        let audit = match raw.audit.output.as_deref() {
            Some("off") => AuditOutput::Off,
            None | Some("stdout") => AuditOutput::Stdout,
            Some(p) => AuditOutput::File(PathBuf::from(p)),
        };
        let audit_fail_closed = match raw.audit.on_overflow.as_deref() {
            None | Some("drop") => false,
            Some("fail_closed") => true,
            Some(o) => {
                err(
                    "audit",
                    format!("on_overflow {o:?}: expected \"drop\" or \"fail_closed\""),
                );
                false
            }
        };
        let log_json = match raw.log.format.as_deref() {
            None | Some("json") => true,
            Some("human") => false,
            Some(o) => {
                err(
                    "log",
                    format!("format {o:?}: expected \"json\" or \"human\""),
                );
                true
            }
        };
        let log_level = raw.log.level.clone().unwrap_or_else(|| "info".into());
        if !matches!(
            log_level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            err(
                "log",
                format!("level {log_level:?}: expected error, warn, info, debug or trace"),
            );
        }
        let mut routes = Vec::new();
        let mut names = std::collections::HashSet::new();
        for r in &raw.route {
            let line = line_of(src, r.span().start);
            let r = r.get_ref();
            let mut rerr = |msg: String| errs_push(&mut err, line, &r.name, msg);
            if r.name.is_empty()
                || !r
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                rerr("name must be non-empty and use only letters, digits, '_' and '-' (it is a metric label)".into());
            }
            if !names.insert(r.name.clone()) {
                rerr("duplicate route name".into());
            }
            if !r.path_prefix.starts_with('/') {
                rerr(format!(
                    "path_prefix {:?} must start with '/'",
                    r.path_prefix
                ));
            }
            let mode = match r.mode.as_deref() {
                None | Some("enforce") => Mode::Enforce,
                Some("observe") => Mode::Observe,
                Some("pass") => Mode::Pass,
                Some(o) => {
                    rerr(format!(
                        "mode {o:?}: expected \"enforce\", \"observe\" or \"pass\""
                    ));
                    Mode::Enforce
                }
            };
            // A pass route scans nothing; settings that promise scanning
            // would mislead whoever reads the config.
            if mode == Mode::Pass {
                if r.redact_requests {
                    rerr("redact_requests = true cannot apply on a mode = \"pass\" route (it scans nothing)".into());
                }
                if !r.redact_headers.is_empty() {
                    rerr(
                        "redact_headers cannot apply on a mode = \"pass\" route (it scans nothing)"
                            .into(),
                    );
                }
            }
            let unscannable = match r.unscannable.as_deref() {
                None | Some("text") => Unscannable::Text,
                Some("block") => Unscannable::Block,
                Some("pass") => Unscannable::Pass,
                Some(o) => {
                    rerr(format!(
                        "unscannable {o:?}: expected \"block\", \"text\" or \"pass\""
                    ));
                    Unscannable::Text
                }
            };
            for h in &r.redact_headers {
                if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    rerr(format!("redact_headers: {h:?} is not a header name"));
                }
            }
            routes.push(Route {
                name: r.name.clone(),
                path_prefix: r.path_prefix.clone(),
                host: r
                    .host
                    .clone()
                    .filter(|h| !h.is_empty())
                    .map(|h| h.to_ascii_lowercase()),
                // --observe turns enforcing routes to observe; pass routes
                // stay unscanned.
                mode: if ov.observe && mode == Mode::Enforce {
                    Mode::Observe
                } else {
                    mode
                },
                redact_requests: r.redact_requests,
                unscannable,
                redact_headers: r
                    .redact_headers
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                stats: Default::default(),
            });
        }
        // Requests no route matches get the built-in default policy, never
        // the least specific configured route (which could observe or pass
        // unscannable bodies).
        let catch_all = routes
            .iter()
            .any(|r| r.host.is_none() && r.path_prefix.trim_end_matches('/').is_empty());
        if !catch_all {
            let mut r = Route::default_route();
            if names.contains(&r.name) {
                r.name = "unrouted".into();
            }
            if ov.observe {
                r.mode = Mode::Observe;
            }
            routes.push(r);
        }
        // Most specific first: host routes, then longer prefixes.
        routes.sort_by(|a, b| {
            b.host
                .is_some()
                .cmp(&a.host.is_some())
                .then(b.path_prefix.len().cmp(&a.path_prefix.len()))
        });
        let audit_fingerprint = raw.audit.fingerprint.unwrap_or(false);
        let token_key_file = ov
            .token_key_file
            .clone()
            .or(raw.packs.token_key_file.clone());
        if audit_fingerprint && token_key_file.is_none() {
            err(
                "audit",
                "fingerprint = true needs [packs] token_key_file (or SCRIM_TOKEN_KEY)".into(),
            );
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Config {
            listen,
            admin,
            upstream,
            tls,
            upstream_ca: u.ca.clone(),
            upstream_server_name: u.server_name.clone(),
            upstream_h2c: u.http2_prior_knowledge.unwrap_or(false),
            connect_timeout,
            response_timeout,
            pool_idle_timeout,
            upstream_compression,
            limits,
            packs_dir: ov.patterns.clone().or(raw.packs.dir.clone()),
            token_key_file,
            watch: raw.packs.watch.unwrap_or(false),
            audit,
            audit_fingerprint,
            audit_queue: raw.audit.queue.unwrap_or(10_000).max(1),
            audit_fail_closed,
            log_json,
            log_level,
            routes: routes.into_iter().map(std::sync::Arc::new).collect(),
        })
    }

    /// The route for a request.
    pub fn route(&self, host: Option<&str>, path: &str) -> &std::sync::Arc<Route> {
        // Route hosts are stored in lower case; compare without allocating.
        let host = host.map(|h| h.split(':').next().unwrap_or(h));
        let path = normalize_path(path);
        let path = path.as_ref();
        self.routes
            .iter()
            .find(|r| {
                r.matches_path(path)
                    && r.host
                        .as_ref()
                        .is_none_or(|rh| host.is_some_and(|h| h.eq_ignore_ascii_case(rh)))
            })
            .unwrap_or(&self.routes[self.routes.len() - 1])
    }
}

/// The path as an origin server is likely to read it, for route matching
/// only: percent-escapes decoded, `;params` dropped, empty and `.` segments
/// removed, `..` resolved. So `/api//%74ranscripts/./7;x=1` takes the route
/// of `/api/transcripts/7` instead of falling through to another route.
pub fn normalize_path(path: &str) -> std::borrow::Cow<'_, str> {
    if is_normal_path(path) {
        std::borrow::Cow::Borrowed(path)
    } else {
        std::borrow::Cow::Owned(normalize_path_slow(path))
    }
}

fn normalize_path_slow(path: &str) -> String {
    let raw = path.as_bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                decoded.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        decoded.push(raw[i]);
        i += 1;
    }
    let decoded = String::from_utf8_lossy(&decoded);
    let mut segs: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segs.join("/"));
    out
}

/// Whether [`normalize_path`] would return `path` unchanged: it starts with
/// `/`, has no `%` or `;`, no empty segment (`//`, a trailing `/`) and no
/// `.` or `..` segment. The common case, checked without allocating.
fn is_normal_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    !rest.bytes().any(|b| b == b'%' || b == b';')
        && rest
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

fn errs_push(err: &mut impl FnMut(&str, String), line: usize, name: &str, msg: String) {
    err("route", format!("line {line}, route {name:?}: {msg}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_exactly_the_fixed_points() {
        // Every path of up to 6 bytes over the bytes that matter.
        let alphabet = [b'/', b'.', b'%', b';', b'a', b'7', b'4'];
        let mut p = Vec::new();
        let mut fast = 0;
        for len in 0..=6u32 {
            for mut n in 0..alphabet.len().pow(len) {
                p.clear();
                for _ in 0..len {
                    p.push(alphabet[n % alphabet.len()]);
                    n /= alphabet.len();
                }
                let path = std::str::from_utf8(&p).unwrap();
                let slow = normalize_path_slow(path);
                // The fast check is sound (it may send a fixed point such as
                // "/%" down the slow path, never the reverse).
                assert!(!is_normal_path(path) || slow == path, "{path:?}");
                assert_eq!(normalize_path(path), slow.as_str(), "{path:?}");
                fast += usize::from(is_normal_path(path));
            }
        }
        assert!(fast > 100, "{fast}");
    }

    #[test]
    fn route_paths_are_normalized() {
        assert_eq!(
            normalize_path("/api//%74ranscripts/./7;x=1"),
            "/api/transcripts/7"
        );
        assert_eq!(normalize_path("/a/b/../c/"), "/a/c");
        assert_eq!(normalize_path("/../x"), "/x");
        assert_eq!(normalize_path("/%zz/%2"), "/%zz/%2");
        let src = include_str!("../deploy/scrim.toml");
        let c = Config::parse("deploy/scrim.toml", src, &Overrides::default()).unwrap();
        for p in [
            "/api//transcripts/7",
            "/api/./transcripts/7",
            "/api/%74ranscripts/7",
            "/api/transcripts;x=1/7",
        ] {
            assert_eq!(c.route(None, p).name, "transcripts", "{p}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("2d").is_err());
    }

    #[test]
    fn example_config_parses() {
        let src = include_str!("../deploy/scrim.toml");
        let c = Config::parse("deploy/scrim.toml", src, &Overrides::default()).unwrap();
        assert!(c.routes.len() >= 2);
        assert_eq!(c.route(None, "/api/transcripts/7").name, "transcripts");
        assert_eq!(c.route(None, "/api/transcriptsX").name, "default");
    }

    #[test]
    fn every_error_is_reported_with_location() {
        let src = "[server]\nlisten = \"nope\"\nupstream = \"ftp://x\"\n[log]\nformat = \"xml\"\n[[route]]\nname = \"a b\"\npath_prefix = \"api\"\n";
        let errs = Config::parse("t.toml", src, &Overrides::default()).unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs.iter().all(|e| e.starts_with("t.toml: ")));
        assert!(errs
            .iter()
            .any(|e| e.contains("line 6") && e.contains("path_prefix")));
    }

    /// issue 4: a request no configured route matches falls back to the
    /// built-in default policy, not to the least specific configured route.
    #[test]
    fn unmatched_paths_get_the_default_route() {
        let src = "[server]\nupstream = \"http://127.0.0.1:1\"\n\
                   [[route]]\nname = \"rollout\"\npath_prefix = \"/new\"\nmode = \"observe\"\nunscannable = \"pass\"\n";
        let c = Config::parse("t.toml", src, &Overrides::default()).unwrap();
        assert_eq!(c.route(None, "/new/x").name, "rollout");
        let r = c.route(None, "/old/x");
        assert_eq!(r.name, "default");
        assert_eq!(r.mode, Mode::Enforce);
        assert_eq!(r.unscannable, Unscannable::Text);
        // A configured catch-all is used as it is.
        let src = "[server]\nupstream = \"http://127.0.0.1:1\"\n\
                   [[route]]\nname = \"all\"\npath_prefix = \"/\"\nunscannable = \"block\"\n";
        let c = Config::parse("t.toml", src, &Overrides::default()).unwrap();
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.route(None, "/x").name, "all");
    }

    #[test]
    fn pass_routes_refuse_scanning_settings_and_stay_pass_under_observe() {
        let src = "[server]\nupstream = \"http://127.0.0.1:1\"\n\
                   [[route]]\nname = \"assets\"\npath_prefix = \"/static\"\nmode = \"pass\"\n\
                   redact_requests = true\nredact_headers = [\"x-email\"]\n";
        let errs = Config::parse("t.toml", src, &Overrides::default()).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(
            errs[0].starts_with("t.toml: [route] line 3, route \"assets\": redact_requests = true"),
            "{errs:#?}"
        );
        assert!(errs[1].contains("redact_headers cannot apply"), "{errs:#?}");
        let src = "[server]\nupstream = \"http://127.0.0.1:1\"\n\
                   [[route]]\nname = \"assets\"\npath_prefix = \"/static\"\nmode = \"pass\"\n";
        let ov = Overrides {
            observe: true,
            ..Overrides::default()
        };
        let c = Config::parse("t.toml", src, &ov).unwrap();
        assert_eq!(c.route(None, "/static/a.js").mode, Mode::Pass);
        assert_eq!(c.route(None, "/other").mode, Mode::Observe);
        let errs = Config::parse(
            "t.toml",
            "[server]\nupstream = \"http://127.0.0.1:1\"\n[[route]]\nname = \"x\"\nmode = \"off\"\n",
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            errs[0].contains("mode \"off\": expected \"enforce\", \"observe\" or \"pass\""),
            "{errs:#?}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_line() {
        let errs = Config::parse(
            "t.toml",
            "[server]\nlisten = \"127.0.0.1:1\"\nupstreem = \"x\"\n",
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("t.toml:3:") && errs[0].contains("upstreem"),
            "{errs:?}"
        );
    }
}
