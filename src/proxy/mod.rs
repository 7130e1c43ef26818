//! The streaming redacting reverse proxy.
//!
//! - [`serve`] accepts connections (TLS or not; HTTP/1.1 and HTTP/2, h2 via
//!   ALPN or prior knowledge), applies connection and header limits, and
//!   drains gracefully when `shutdown` resolves.
//! - [`handle`] maps a request to its route, forwards it upstream over a
//!   pooled client, and wraps the response body in [`body::RedactBody`].
//! - [`ws`] proxies WebSocket upgrades message by message.
//!
//! Fail closed: unreachable upstream 502, timeout 504, an encoding or
//! charset scrim cannot scan 502, failures mid-body abort the response.

pub mod body;
pub mod decode;
pub mod tls;
pub mod ws;

use crate::audit::{Audit, Record};
use crate::config::{Config, Mode, Route, Unscannable};
use crate::metrics::{Metrics, RouteMetrics};
use crate::{Format, Matcher, Redactor};
use body::{BoxError, RedactBody, Treatment};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;
use tokio::net::TcpListener;

/// Body type of every response scrim sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, ProxyBody>;

/// State shared by every connection.
pub struct Shared {
    config: RwLock<Arc<Config>>,
    matcher: RwLock<Arc<Matcher>>,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Audit log.
    pub audit: Audit,
    client: UpstreamClient,
    /// Set when SIGTERM arrived: `/readyz` turns not-ready.
    pub draining: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish()
    }
}

impl Shared {
    /// Builds the shared state and the upstream client.
    pub fn new(
        config: Config,
        matcher: Arc<Matcher>,
        metrics: Metrics,
        audit: Audit,
    ) -> Result<Shared, String> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let tls = tls::client_config(config.upstream_ca.as_deref())?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match &config.upstream_server_name {
            Some(name) => {
                let name = rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|e| format!("[upstream] server_name {name:?}: {e}"))?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_http1().enable_http2().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .http2_only(config.upstream_h2c)
            .build(connector);
        metrics.set_routes(&config.routes);
        Ok(Shared {
            config: RwLock::new(Arc::new(config)),
            matcher: RwLock::new(matcher),
            metrics,
            audit,
            client,
            draining: AtomicBool::new(false),
        })
    }

    /// The configuration new requests use.
    pub fn config(&self) -> Arc<Config> {
        load(&self.config)
    }

    /// Swaps in a new configuration (routes, limits that apply per request).
    /// Listener addresses, TLS files and the upstream client are start-up
    /// settings and are not changed.
    pub fn set_config(&self, c: Arc<Config>) {
        store(&self.config, c);
    }

    /// The rules new requests use.
    pub fn matcher(&self) -> Arc<Matcher> {
        load(&self.matcher)
    }

    /// Swaps in new rules; streams already running keep theirs.
    pub fn set_matcher(&self, m: Arc<Matcher>) {
        store(&self.matcher, m);
    }
}

/// Reads a swappable `Arc` (a poisoned lock still holds a valid value: the
/// writer only assigns).
fn load<T>(l: &RwLock<Arc<T>>) -> Arc<T> {
    match l.read() {
        Ok(v) => v.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Replaces a swappable `Arc`.
fn store<T>(l: &RwLock<Arc<T>>, v: Arc<T>) {
    match l.write() {
        Ok(mut g) => *g = v,
        Err(poisoned) => *poisoned.into_inner() = v,
    }
}

/// Per-stream context shared by a body wrapper and its request.
pub struct StreamCtx {
    route: Arc<Route>,
    stats: Arc<RouteMetrics>,
    request_id: Arc<str>,
    direction: &'static str,
    format: &'static str,
    observe: bool,
    metrics: Metrics,
    audit: Audit,
    matcher: Arc<Matcher>,
    started: Instant,
    status: u16,
    audit_failed: AtomicBool,
    /// Request metrics are recorded once, when the response body ends.
    record_request: bool,
}

impl StreamCtx {
    fn aborted(&self, reason: &'static str) {
        self.metrics
            .aborted
            .with_label_values(&[&self.route.name, reason])
            .inc();
        tracing::warn!(request_id = %self.request_id, route = %self.route.name, reason, "response aborted mid-body");
        self.audit.send(Record::outcome(
            "aborted",
            &self.request_id,
            &self.route.name,
            self.direction,
            self.matcher.digest(),
            reason,
            self.observe,
        ));
    }

    fn audit_ok(&self) -> bool {
        !self.audit_failed.load(Ordering::Relaxed)
    }

    fn finish_request(&self) {
        if self.record_request {
            self.stats.requests(&self.metrics, self.status).inc();
            let secs = self.started.elapsed().as_secs_f64();
            self.stats.duration(&self.metrics).observe(secs);
            // Route names and ids only: paths and values are never logged.
            tracing::info!(
                request_id = %self.request_id,
                route = %self.route.name,
                status = self.status,
                format = self.format,
                duration_ms = (secs * 1000.0) as u64,
                "response completed"
            );
        }
    }
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh request id: 32 hex digits, two keyed SipHashes (key drawn at
/// random once per process) of a process-wide counter, so one id tells
/// nothing about the next or about the count.
fn new_request_id() -> Arc<str> {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let key = KEY.get_or_init(std::collections::hash_map::RandomState::new);
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = key.hash_one(n);
    let b = key.hash_one((n, a));
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    for (i, d) in id.iter_mut().enumerate() {
        let v = if i < 16 { a } else { b };
        *d = HEX[((v >> (60 - 4 * (i % 16))) & 0xf) as usize];
    }
    // Hex digits are ASCII.
    Arc::from(std::str::from_utf8(&id).unwrap_or_default())
}

/// The client's X-Request-Id when it is sane (1-128 visible ASCII bytes),
/// else a fresh one.
fn request_id(headers: &HeaderMap) -> Arc<str> {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(Arc::from)
        .unwrap_or_else(new_request_id)
}

/// How a content type is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Scanned in this format.
    Scan(Format),
    /// Known binary: passed untouched and counted.
    Binary,
    /// Unknown: the route's `unscannable` policy decides.
    Unknown,
}

/// Classifies a Content-Type value.
pub fn classify(content_type: Option<&str>) -> Kind {
    let Some(ct) = content_type else {
        return Kind::Scan(Format::Text);
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (top, sub) = mime.split_once('/').unwrap_or((mime.as_str(), ""));
    match (top, sub) {
        ("text", "event-stream") => Kind::Scan(Format::Sse),
        (
            "application",
            "x-ndjson" | "ndjson" | "jsonl" | "x-jsonlines" | "jsonlines" | "json-lines"
            | "json-seq" | "x-json-stream",
        ) => Kind::Scan(Format::Ndjson),
        // JSON under any of its spellings (`+json`, `x-amz-json-1.1`,
        // `text/json`) gets the JSON scanner and its field rules.
        ("application" | "text", s)
            if s == "json" || s.ends_with("+json") || s.contains("-json") || s == "x-json" =>
        {
            Kind::Scan(Format::Json)
        }
        ("text", _) => Kind::Scan(Format::Text),
        ("application", s)
            if s == "xml"
                || s.ends_with("+xml")
                || s == "x-www-form-urlencoded"
                || s == "javascript"
                || s == "graphql"
                || s == "yaml"
                || s == "csv" =>
        {
            Kind::Scan(Format::Text)
        }
        ("image" | "audio" | "video" | "font", _) => Kind::Binary,
        (
            "application",
            "pdf" | "zip" | "gzip" | "wasm" | "vnd.ms-fontobject" | "font-woff" | "font-woff2",
        ) => Kind::Binary,
        ("", _) => Kind::Scan(Format::Text),
        _ => Kind::Unknown,
    }
}

/// The redactor for a body of `format`, classified from `content_type`:
/// text labelled `text/plain` or not labelled at all may be JSON served
/// under the wrong type, so it is sniffed ([`Redactor::sniffing`]).
fn redactor_for(matcher: &Arc<Matcher>, format: Format, content_type: Option<&str>) -> Redactor {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    let plain = matches!(mime.as_deref(), None | Some("" | "text/plain"));
    if format == Format::Text && plain {
        Redactor::sniffing(matcher.clone())
    } else {
        Redactor::new(matcher.clone(), format)
    }
}

/// True when the Content-Type declares a charset that is not byte-scannable.
fn wide_charset(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.split(';').skip(1).any(|p| {
            let p = p.trim();
            p.strip_prefix("charset=")
                .map(|c| c.trim_matches('"'))
                .is_some_and(|c| {
                    // Labels browsers decode as UTF-16/32 (WHATWG Encoding).
                    c.starts_with("utf-16")
                        || c.starts_with("utf-32")
                        || c.starts_with("ucs-")
                        || c.starts_with("iso-10646-ucs")
                        || matches!(
                            c,
                            "unicode" | "csunicode" | "unicodefeff" | "unicodefffe" | "csucs4"
                        )
                })
        })
    })
}

// Header names used on every request, made once (parsing a name from a
// string costs more than the lookup it is for).
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Removes hop-by-hop headers (RFC 9110 7.6.1), including those named in
/// `Connection`.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    remove_where(h, |n| HOP_BY_HOP.contains(n));
}

/// Whether `Connection` names a header that decides how a body is read
/// (Content-Encoding, Content-Type, Content-Length). Stripping it as
/// hop-by-hop would make scrim read, say, a gzip body as plain text and
/// forward it without its encoding, so such a message is refused instead.
fn connection_names_representation(h: &HeaderMap) -> bool {
    h.get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|n| {
            let n = n.trim_ascii();
            n.eq_ignore_ascii_case(b"content-encoding")
                || n.eq_ignore_ascii_case(b"content-type")
                || n.eq_ignore_ascii_case(b"content-length")
        })
}

/// Removes every header whose name satisfies `drop`. One pass over the
/// names present (a handful) instead of a hashed removal per name that
/// might be there; allocates only when something goes.
fn remove_where(h: &mut HeaderMap, drop: impl Fn(&HeaderName) -> bool) {
    if !h.keys().any(&drop) {
        return;
    }
    let names: Vec<HeaderName> = h.keys().filter(|n| drop(n)).cloned().collect();
    for n in names {
        h.remove(n);
    }
}

/// The client end of a connection, as forwarded upstream: made once per
/// connection, shared by its requests.
pub(crate) struct Peer {
    /// The client's IP address as an X-Forwarded-For entry.
    ip: HeaderValue,
    /// Whether the client connected over TLS.
    tls: bool,
}

impl Peer {
    fn new(addr: SocketAddr, tls: bool) -> Peer {
        let ip = HeaderValue::from_str(&addr.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Peer { ip, tls }
    }
}

/// Sets X-Forwarded-For (appended), -Proto, -Host and X-Request-Id on a
/// request going upstream, replacing any the client sent.
fn set_forwarded(
    headers: &mut HeaderMap,
    peer: &Peer,
    host: Option<HeaderValue>,
    rid: Option<&HeaderValue>,
) {
    // A previous value that is not visible ASCII is replaced, not extended.
    let prev = headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok());
    let xff = match prev {
        Some(prev) => {
            let mut v = Vec::with_capacity(prev.len() + 2 + peer.ip.len());
            v.extend_from_slice(prev.as_bytes());
            v.extend_from_slice(b", ");
            v.extend_from_slice(peer.ip.as_bytes());
            HeaderValue::from_bytes(&v).ok()
        }
        None => Some(peer.ip.clone()),
    };
    match xff {
        Some(v) => headers.insert(&X_FORWARDED_FOR, v),
        None => headers.remove(&X_FORWARDED_FOR),
    };
    headers.insert(
        &X_FORWARDED_PROTO,
        HeaderValue::from_static(if peer.tls { "https" } else { "http" }),
    );
    match host {
        Some(hv) => headers.insert(&X_FORWARDED_HOST, hv),
        None => headers.remove(&X_FORWARDED_HOST),
    };
    match rid {
        Some(v) => headers.insert(&X_REQUEST_ID, v.clone()),
        None => headers.remove(&X_REQUEST_ID),
    };
}

fn error_response(status: StatusCode, code: &str, request_id: &str) -> Response<ProxyBody> {
    // The id may be the client's: visible ASCII, quotes and backslashes too.
    let body = serde_json::json!({ "error": code, "request_id": request_id }).to_string() + "\n";
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

fn empty() -> ProxyBody {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync()
}

struct Handled {
    route: Arc<Route>,
    stats: Arc<RouteMetrics>,
    request_id: Arc<str>,
    /// The request id as a header value (set upstream and on the response).
    rid_header: Option<HeaderValue>,
    started: Instant,
    observe: bool,
}

impl Handled {
    fn blocked(
        &self,
        shared: &Shared,
        reason: &'static str,
        status: StatusCode,
        code: &str,
    ) -> Response<ProxyBody> {
        shared
            .metrics
            .blocked
            .with_label_values(&[&self.route.name, reason])
            .inc();
        shared.audit.send(Record::outcome(
            "blocked",
            &self.request_id,
            &self.route.name,
            "response",
            shared.matcher().digest(),
            reason,
            self.observe,
        ));
        tracing::warn!(request_id = %self.request_id, route = %self.route.name, reason, "response blocked");
        self.done(shared, error_response(status, code, &self.request_id))
    }

    fn done(&self, shared: &Shared, r: Response<ProxyBody>) -> Response<ProxyBody> {
        let m = &shared.metrics;
        self.stats.requests(m, r.status().as_u16()).inc();
        self.stats
            .duration(m)
            .observe(self.started.elapsed().as_secs_f64());
        r
    }
}

/// Handles one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    peer: Arc<Peer>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let cfg = shared.config();
    let rid = request_id(req.headers());
    let host = req.uri().host().or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    });
    let route: Arc<Route> = cfg.route(host, req.uri().path()).clone();
    let h = Handled {
        stats: route.stats.get(&shared.metrics, &route.name),
        route: route.clone(),
        request_id: rid.clone(),
        rid_header: HeaderValue::from_str(&rid).ok(),
        started,
        observe: route.mode == Mode::Observe,
    };
    // hyper's HTTP/1 read buffer cannot be under 8 KiB, so a smaller
    // configured limit is enforced here (the HTTP/2 codec enforces it too).
    let head_bytes = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head_bytes > cfg.limits.max_request_header_bytes {
        return Ok(h.done(
            &shared,
            error_response(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request_headers_too_large",
                &rid,
            ),
        ));
    }
    if ws::is_upgrade(&req) {
        return Ok(ws::proxy(shared.clone(), req, route, h, &peer).await);
    }
    let max_body = cfg.limits.max_request_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body) {
        return Ok(h.done(
            &shared,
            error_response(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large", &rid),
        ));
    }
    let matcher = shared.matcher();
    let is_head = req.method() == Method::HEAD;

    // The upstream request.
    let Some(uri) = upstream_uri(&cfg.upstream, req.uri()) else {
        return Ok(h.done(
            &shared,
            error_response(StatusCode::BAD_REQUEST, "bad_request", &rid),
        ));
    };
    // HTTP/2 carries the host in the :authority pseudo-header, not Host.
    let orig_host = req.headers().get(header::HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let odd_connection = connection_names_representation(req.headers());
    let headers = req.headers_mut();
    upstream_headers(headers, &cfg, &peer, orig_host, h.rid_header.as_ref());
    let (mut parts, incoming) = req.into_parts();
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    let limited = http_body_util::Limited::new(incoming, max_body as usize);
    let up_body: ProxyBody = if route.redact_requests && route.mode == Mode::Enforce {
        // A request body that cannot be scanned is refused (415) on routes
        // that redact requests: compressed, UTF-16/32, or a type the route's
        // policy blocks. Only known binary types and `pass` go through.
        let encoded = parts
            .headers
            .get_all(header::CONTENT_ENCODING)
            .iter()
            .any(|v| {
                let v = String::from_utf8_lossy(v.as_bytes())
                    .trim()
                    .to_ascii_lowercase();
                !v.is_empty() && v != "identity"
            });
        let req_ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let kind = match classify(req_ct.as_deref()) {
            Kind::Unknown => match route.unscannable {
                Unscannable::Block => None,
                Unscannable::Text => Some(Kind::Scan(Format::Text)),
                Unscannable::Pass => Some(Kind::Binary),
            },
            k => Some(k),
        };
        let kind = match kind {
            Some(Kind::Scan(_)) if encoded || wide_charset(req_ct.as_deref()) => None,
            _ if odd_connection => None,
            k => k,
        };
        match kind {
            None => {
                return Ok(h.done(
                    &shared,
                    error_response(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unscannable_request_body",
                        &rid,
                    ),
                ));
            }
            Some(Kind::Scan(f)) => {
                parts.headers.remove(header::CONTENT_LENGTH);
                let ctx = Arc::new(StreamCtx {
                    route: route.clone(),
                    stats: h.stats.clone(),
                    request_id: rid.clone(),
                    direction: "request",
                    format: f.name(),
                    observe: false,
                    metrics: shared.metrics.clone(),
                    audit: shared.audit.clone(),
                    matcher: matcher.clone(),
                    started,
                    status: 0,
                    audit_failed: AtomicBool::new(false),
                    record_request: false,
                });
                let r = redactor_for(&matcher, f, req_ct.as_deref());
                RedactBody::new(limited, None, Treatment::Scan(Box::new(r)), ctx).boxed_unsync()
            }
            Some(_) => limited.boxed_unsync(),
        }
    } else {
        limited.boxed_unsync()
    };
    let up_req = Request::from_parts(parts, up_body);

    let resp = match tokio::time::timeout(cfg.response_timeout, shared.client.request(up_req)).await
    {
        Err(_) => {
            shared
                .metrics
                .upstream_errors
                .with_label_values(&["timeout"])
                .inc();
            return Ok(h.blocked(
                &shared,
                "upstream_timeout",
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
            ));
        }
        Ok(Err(e)) if request_body_over_limit(&e) => {
            return Ok(h.done(
                &shared,
                error_response(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large", &rid),
            ));
        }
        Ok(Err(e)) => {
            let kind = if e.is_connect() { "connect" } else { "request" };
            shared
                .metrics
                .upstream_errors
                .with_label_values(&[kind])
                .inc();
            tracing::warn!(request_id = %rid, route = %route.name, kind, "upstream request failed");
            return Ok(h.blocked(
                &shared,
                "upstream_error",
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
            ));
        }
        Ok(Ok(r)) => r,
    };
    h.stats
        .ttfb(&shared.metrics)
        .observe(started.elapsed().as_secs_f64());

    Ok(respond(&shared, &cfg, &route, &h, matcher, is_head, resp))
}

/// Turns an upstream response into the client's response: headers cleaned
/// and redacted, the body classified, decoded and wrapped in the engine, or
/// refused (502) when it cannot be scanned. Shared by plain requests and
/// refused WebSocket upgrades.
fn respond(
    shared: &Shared,
    cfg: &Config,
    route: &Route,
    h: &Handled,
    matcher: Arc<Matcher>,
    is_head: bool,
    resp: Response<Incoming>,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    // A transfer coding other than chunked (e.g. `gzip, chunked`) would reach
    // the engine still compressed: refuse it rather than scan noise.
    let odd_te = parts
        .headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .to_ascii_lowercase()
                .split(',')
                .map(|t| t.trim().to_string())
                .collect::<Vec<_>>()
        })
        .any(|t| !t.is_empty() && t != "chunked");
    let odd_connection = connection_names_representation(&parts.headers);
    strip_hop_by_hop(&mut parts.headers);
    match &h.rid_header {
        Some(v) => parts.headers.insert(&X_REQUEST_ID, v.clone()),
        None => parts.headers.remove(&X_REQUEST_ID),
    };
    let pass = route.mode == Mode::Pass;
    if !pass {
        redact_headers(&matcher, route, &mut parts.headers);
    }
    let status = parts.status;
    if is_head
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
    {
        return h.done(shared, Response::from_parts(parts, empty()));
    }
    if pass {
        // A pass-through route: the body goes on as it came (framing and
        // encoding untouched), counted as unscanned.
        let ctx = response_ctx(shared, h, "pass", false, matcher, status);
        let body = RedactBody::new(body, None, Treatment::Pass("route_pass"), ctx).boxed_unsync();
        return Response::from_parts(parts, body);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        // Range was stripped; a 206 anyway cannot be scanned safely.
        return h.blocked(shared, "range", StatusCode::BAD_GATEWAY, "bad_gateway");
    }
    if odd_te || odd_connection {
        return h.blocked(
            shared,
            "undecodable_encoding",
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
        );
    }
    // Several Content-Type headers are ambiguous (clients disagree on which
    // one counts): refuse. Non-UTF-8 bytes are read lossily, never skipped.
    let mut cts = parts.headers.get_all(header::CONTENT_TYPE).iter();
    let ct = cts
        .next()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if cts.next().is_some() {
        return h.blocked(
            shared,
            "unscannable_type",
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
        );
    }
    let kind = match classify(ct.as_deref()) {
        Kind::Unknown => match route.unscannable {
            Unscannable::Block => {
                return h.blocked(
                    shared,
                    "unscannable_type",
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                );
            }
            Unscannable::Text => Kind::Scan(Format::Text),
            Unscannable::Pass => Kind::Binary,
        },
        k => k,
    };
    let observe = route.mode == Mode::Observe;
    let (decoder, treatment, format) = match kind {
        Kind::Scan(f) => {
            if wide_charset(ct.as_deref()) {
                return h.blocked(shared, "charset", StatusCode::BAD_GATEWAY, "bad_gateway");
            }
            // Every Content-Encoding header counts: "identity" plus "gzip"
            // in two headers is two codings, which is refused.
            let encs: Vec<String> = parts
                .headers
                .get_all(header::CONTENT_ENCODING)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            let decoder = if encs.is_empty() {
                None
            } else {
                match decode::for_encoding(
                    &encs.join(", "),
                    cfg.limits.max_decoded_body_bytes,
                    cfg.limits.max_compression_ratio,
                ) {
                    Ok(d) => d,
                    Err(_) => {
                        return h.blocked(
                            shared,
                            "undecodable_encoding",
                            StatusCode::BAD_GATEWAY,
                            "bad_gateway",
                        );
                    }
                }
            };
            for name in [
                header::CONTENT_LENGTH,
                header::CONTENT_ENCODING,
                header::ACCEPT_RANGES,
                HeaderName::from_static("content-md5"),
                HeaderName::from_static("digest"),
                HeaderName::from_static("content-digest"),
                HeaderName::from_static("repr-digest"),
            ] {
                parts.headers.remove(name);
            }
            let r = redactor_for(&matcher, f, ct.as_deref());
            (decoder, Treatment::Scan(Box::new(r)), f.name())
        }
        _ => (None, Treatment::Pass("binary"), "binary"),
    };
    let ctx = response_ctx(shared, h, format, observe, matcher, status);
    let body = RedactBody::new(body, decoder, treatment, ctx).boxed_unsync();
    Response::from_parts(parts, body)
}

/// The stream context of a response body.
fn response_ctx(
    shared: &Shared,
    h: &Handled,
    format: &'static str,
    observe: bool,
    matcher: Arc<Matcher>,
    status: StatusCode,
) -> Arc<StreamCtx> {
    Arc::new(StreamCtx {
        route: h.route.clone(),
        stats: h.stats.clone(),
        request_id: h.request_id.clone(),
        direction: "response",
        format,
        observe,
        metrics: shared.metrics.clone(),
        audit: shared.audit.clone(),
        matcher,
        started: h.started,
        status: status.as_u16(),
        audit_failed: AtomicBool::new(false),
        record_request: true,
    })
}

/// Prepares a client's request headers for the upstream: hop-by-hop and
/// Host dropped, Range/If-Range stripped (a range of a redacted body could
/// start or end inside a card number, so whole representations only),
/// Accept-Encoding limited to what scrim decodes, X-Forwarded-* and the
/// request id set. Used for plain requests and WebSocket upgrades alike.
fn upstream_headers(
    headers: &mut HeaderMap,
    cfg: &Config,
    peer: &Peer,
    orig_host: Option<HeaderValue>,
    rid: Option<&HeaderValue>,
) {
    strip_hop_by_hop(headers);
    remove_where(headers, |n| {
        n == header::HOST || n == header::RANGE || n == header::IF_RANGE
    });
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static(if cfg.upstream_compression {
            "gzip, deflate, br, zstd"
        } else {
            "identity"
        }),
    );
    set_forwarded(headers, peer, orig_host, rid);
}

/// The upstream URI of a request: the upstream's scheme and authority, its
/// base path, then the request's path and query. `None` when that is not a
/// valid URI (a request target that is not a path, such as `*`).
fn upstream_uri(base: &http::Uri, req: &http::Uri) -> Option<http::Uri> {
    let base_path = base.path().trim_end_matches('/');
    // `path()` is "/" for an empty path (`http://crm.test?x=1`).
    let path = req.path();
    if !path.starts_with('/') {
        return None;
    }
    let path_and_query = match req.path_and_query() {
        // The common case: the path goes on as it is, without a copy.
        Some(p) if base_path.is_empty() && p.as_str().starts_with('/') => p.clone(),
        _ => {
            let query = req.query().map_or(String::new(), |q| format!("?{q}"));
            format!("{base_path}{path}{query}").parse().ok()?
        }
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(base.scheme().cloned().unwrap_or(http::uri::Scheme::HTTP));
    parts.authority = Some(base.authority()?.clone());
    parts.path_and_query = Some(path_and_query);
    http::Uri::from_parts(parts).ok()
}

/// Whether an upstream request failed because the client's streamed body
/// went over `max_request_body_bytes` (a declared length is refused before).
fn request_body_over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>()
            || err
                .downcast_ref::<body::Aborted>()
                .is_some_and(|a| a.0 == "limit")
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Runs the text rules over configured response headers.
fn redact_headers(m: &Arc<Matcher>, route: &Route, headers: &mut HeaderMap) {
    for name in &route.redact_headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
        if values.is_empty() {
            continue;
        }
        headers.remove(&name);
        for v in values {
            // A value that cannot be scanned (or masked into a valid header)
            // is dropped rather than passed.
            if let Ok((out, _)) = crate::redact_all(m, Format::Text, v.as_bytes()) {
                if let Ok(nv) = HeaderValue::from_bytes(&out) {
                    headers.append(&name, nv);
                }
            }
        }
    }
}

/// Accepts connections on `listener` until `shutdown` resolves, then stops
/// accepting, marks the proxy draining and waits up to the drain timeout
/// for in-flight requests.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = shared.config().limits.clone();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(limits.max_request_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(limits.max_request_header_bytes as u32)
        .keep_alive_interval(Some(limits.idle_timeout / 2))
        .keep_alive_timeout(limits.idle_timeout);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let is_tls = tls.is_some();
            let peer = Arc::new(Peer::new(peer, is_tls));
            let svc =
                hyper::service::service_fn(move |req| handle(shared.clone(), req, peer.clone()));
            // One deadline for the TLS handshake and the first bytes.
            let deadline = tokio::time::Instant::now() + handshake_timeout;
            match tls {
                Some(acc) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout_at(deadline, acc.accept(stream)).await
                    else {
                        return;
                    };
                    let Some(stream) = Sniffed::read(stream, deadline).await else {
                        return;
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                None => {
                    let Some(stream) = Sniffed::read(stream, deadline).await else {
                        return;
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }
    // Closing the listener now makes new connections fail fast instead of
    // waiting in the backlog for an accept that never comes.
    drop(listener);
    shared.draining.store(true, Ordering::SeqCst);
    tracing::info!("draining connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(limits.drain_timeout) => tracing::warn!("drain timeout; closing remaining connections"),
    }
}

/// The HTTP/2 connection preface (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection whose first bytes were read by scrim and are replayed
/// before the rest.
///
/// hyper-util's protocol detection waits for the first bytes (up to the
/// length of the HTTP/2 preface) with no deadline, and hyper's HTTP/1
/// `header_read_timeout` only starts after it; a client that sends nothing,
/// or part of the preface, would hold a connection slot forever. Reading
/// those bytes here, under the header deadline, closes that gap.
struct Sniffed<S> {
    head: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: tokio::io::AsyncRead + Unpin> Sniffed<S> {
    /// Reads until the bytes either are the whole preface or stop matching
    /// it. `None` when the peer closes or the deadline passes first.
    async fn read(mut inner: S, deadline: tokio::time::Instant) -> Option<Sniffed<S>> {
        use tokio::io::AsyncReadExt;
        let mut head = vec![0u8; H2_PREFACE.len()];
        let mut n = 0;
        loop {
            match tokio::time::timeout_at(deadline, inner.read(&mut head[n..])).await {
                Ok(Ok(m)) if m > 0 => n += m,
                _ => return None,
            }
            if n == H2_PREFACE.len() || head[..n] != H2_PREFACE[..n] {
                break;
            }
        }
        head.truncate(n);
        Some(Sniffed {
            head,
            pos: 0,
            inner,
        })
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Sniffed<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.head.len() {
            let n = (this.head.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.head[this.pos..this.pos + n]);
            this.pos += n;
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Sniffed<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_uris() {
        let u = |base: &str, req: &str| {
            upstream_uri(&base.parse().unwrap(), &req.parse().unwrap()).map(|u| u.to_string())
        };
        let base = "http://127.0.0.1:9000";
        assert_eq!(
            u(base, "/a/b?x=1").as_deref(),
            Some("http://127.0.0.1:9000/a/b?x=1")
        );
        assert_eq!(u(base, "/").as_deref(), Some("http://127.0.0.1:9000/"));
        // Absolute-form requests keep only their path and query.
        assert_eq!(
            u(base, "http://crm.test/a?q").as_deref(),
            Some("http://127.0.0.1:9000/a?q")
        );
        assert_eq!(
            u(base, "http://crm.test").as_deref(),
            Some("http://127.0.0.1:9000/")
        );
        let based = "https://crm.internal/api/";
        assert_eq!(
            u(based, "/v1?x").as_deref(),
            Some("https://crm.internal/api/v1?x")
        );
        assert_eq!(
            u(based, "http://crm.test").as_deref(),
            Some("https://crm.internal/api/")
        );
        // An empty path with a query (review finding): the path is "/".
        assert_eq!(
            u(base, "http://crm.test?x=1").as_deref(),
            Some("http://127.0.0.1:9000/?x=1")
        );
        assert_eq!(
            u(based, "http://crm.test?x=1").as_deref(),
            Some("https://crm.internal/api/?x=1")
        );
        // Not a path: refused (400), never glued onto the authority.
        assert_eq!(u(base, "*"), None);
        assert_eq!(u(based, "*"), None);
    }

    #[test]
    fn request_ids_are_fresh_hex() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(&*request_id(&h), "abc-123");
        h.insert(&X_REQUEST_ID, HeaderValue::from_static("has space"));
        assert_eq!(request_id(&h).len(), 32);
    }
}
