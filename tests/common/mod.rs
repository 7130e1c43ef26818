//! Shared harness for the proxy integration tests (issue 4).
//!
//! - Upstream fixtures: hyper servers on `127.0.0.1:0` (HTTP/1.1, h2c or
//!   both, optionally TLS) that record every request they see, plus a raw
//!   TCP upstream for misbehaviour hyper will not produce.
//! - Bodies the test feeds frame by frame ([`fed_body`]), so upstream frames
//!   are sequenced by the test, never by sleeps.
//! - scrim started in-process from TOML text ([`scrim`]); the process
//!   environment is never touched.
//! - Clients: hyper HTTP/1.1 and HTTP/2 connections, TLS with rustls, raw
//!   TCP; a response is read frame by frame into [`Got`], keeping a body
//!   error instead of panicking on it.
//! - A throwaway PKI made with rcgen ([`Pki`]).
//! - [`assert_clean`]: no covered value anywhere in what the client got.
//!
//! Only the fixture values written in the tests are ever printed.

#![allow(dead_code)]

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use scrim::config::{Config, Overrides};
use scrim::service::Running;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Error type of fixture bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body type every upstream fixture answers with.
pub type UpBody = UnsyncBoxBody<Bytes, BoxError>;

/// Upper bound for any single wait. Only a bound: tests never sleep to
/// sequence events.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `f`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LIMIT:?}: {what}"),
    }
}

// ---------------------------------------------------------------------------
// Bodies and responses

/// A whole body.
pub fn full(b: impl Into<Bytes>) -> UpBody {
    Full::new(b.into()).map_err(|e| match e {}).boxed_unsync()
}

/// An empty body.
pub fn empty() -> UpBody {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync()
}

/// A response with an optional Content-Type.
pub fn response(
    status: u16,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Response<UpBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    if let Some(ct) = content_type {
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(ct).expect("ct"),
        );
    }
    r
}

/// The sending half of a [`fed_body`]. Dropping it ends the body cleanly.
#[derive(Clone)]
pub struct Feed {
    tx: mpsc::UnboundedSender<Result<Frame<Bytes>, BoxError>>,
}

impl Feed {
    /// Sends one data frame (hyper writes it as one chunk / DATA frame).
    pub fn data(&self, b: impl Into<Bytes>) {
        let _ = self.tx.send(Ok(Frame::data(b.into())));
    }

    /// Sends trailers.
    pub fn trailers(&self, h: HeaderMap) {
        let _ = self.tx.send(Ok(Frame::trailers(h)));
    }

    /// Fails the body (hyper aborts the response).
    pub fn fail(&self, msg: &'static str) {
        let _ = self.tx.send(Err(msg.into()));
    }
}

/// A body whose frames the test sends one at a time.
pub fn fed_body() -> (Feed, UpBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    (Feed { tx }, StreamBody::new(stream).boxed_unsync())
}

// ---------------------------------------------------------------------------
// Upstream fixtures

/// What an upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: Method,
    /// Request target as received.
    pub uri: Uri,
    /// HTTP version.
    pub version: Version,
    /// Headers.
    pub headers: HeaderMap,
}

impl Seen {
    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
            .unwrap_or_default()
    }
}

/// Which protocols an upstream fixture speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 and h2 (prior knowledge or ALPN).
    Auto,
    /// HTTP/1.1 only.
    H1,
    /// HTTP/2 only.
    H2,
}

/// A running upstream fixture.
pub struct Upstream {
    /// Its address.
    pub addr: SocketAddr,
    tls: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

impl Upstream {
    /// Base URL for scrim's `upstream`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// The one request seen with this path (fails if there is not exactly one).
    pub fn seen_path(&self, path: &str) -> Seen {
        let all: Vec<Seen> = self
            .seen()
            .into_iter()
            .filter(|s| s.uri.path() == path)
            .collect();
        assert_eq!(all.len(), 1, "requests upstream for {path}");
        all.into_iter().next().expect("one")
    }

    /// Number of requests seen.
    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    /// Number of TCP connections accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A plaintext upstream speaking HTTP/1.1 and h2c.
pub async fn upstream<F, Fut>(f: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
{
    upstream_with(Proto::Auto, None, f).await
}

/// An upstream with a choice of protocols and optional TLS.
pub async fn upstream_with<F, Fut>(
    proto: Proto,
    tls: Option<Arc<rustls::ServerConfig>>,
    f: F,
) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = l.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let up = Upstream {
        addr,
        tls: tls.is_some(),
        seen: seen.clone(),
        connections: connections.clone(),
    };
    let f = Arc::new(f);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                return;
            };
            connections.fetch_add(1, Ordering::SeqCst);
            let f = f.clone();
            let seen = seen.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    seen.lock().expect("lock").push(Seen {
                        method: req.method().clone(),
                        uri: req.uri().clone(),
                        version: req.version(),
                        headers: req.headers().clone(),
                    });
                    let fut = f(req);
                    async move { Ok::<_, std::convert::Infallible>(fut.await) }
                });
                match acceptor {
                    Some(acc) => {
                        let Ok(s) = acc.accept(s).await else { return };
                        serve_upstream_conn(proto, TokioIo::new(s), svc).await;
                    }
                    None => serve_upstream_conn(proto, TokioIo::new(s), svc).await,
                }
            });
        }
    });
    up
}

async fn serve_upstream_conn<I, S>(proto: Proto, io: I, svc: S)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<UpBody>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    match proto {
        Proto::Auto => {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(io, svc)
                .await;
        }
        Proto::H1 => {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .with_upgrades()
                .await;
        }
        Proto::H2 => {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, svc)
                .await;
        }
    }
}

/// A raw TCP upstream: `f` gets each accepted connection.
pub async fn raw_upstream<F, Fut>(f: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind raw upstream");
    let addr = l.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(f(s));
        }
    });
    (addr, count)
}

/// Reads one request head (up to the blank line) from a raw connection.
pub async fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    head
}

/// An address where nothing listens (bound, then released).
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

// ---------------------------------------------------------------------------
// WebSocket upstream

/// The upgraded upstream side of a WebSocket.
pub type UpstreamWs = tokio_tungstenite::WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Answers a WebSocket upgrade with 101 and runs `on_open` on the socket.
pub fn ws_accept<F, Fut>(req: &mut Request<Incoming>, on_open: F) -> Response<UpBody>
where
    F: FnOnce(UpstreamWs) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return response(400, Some("text/plain"), "websocket only\n");
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(io) = upgrade.await else { return };
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(io),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        on_open(ws).await;
    });
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("upgrade"),
    );
    h.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        "sec-websocket-accept",
        HeaderValue::from_str(&accept).expect("accept"),
    );
    r
}

// ---------------------------------------------------------------------------
// scrim

/// Starts scrim in-process in front of `upstream`, with extra TOML (any
/// section except a second `[server]`; `[server.tls]` is fine).
pub async fn scrim(upstream: &str, extra: &str) -> Running {
    // The audit log is tested elsewhere; here it would only add noise.
    let audit = if extra.contains("[audit]") {
        ""
    } else {
        "[audit]\noutput = \"off\"\n"
    };
    let toml =
        format!("[server]\nlisten = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\n{audit}{extra}\n");
    let config = match Config::parse("test.toml", &toml, &Overrides::default()) {
        Ok(c) => c,
        Err(e) => panic!("config:\n{}\n--\n{toml}", e.join("\n")),
    };
    match scrim::service::start(config, None, Overrides::default()).await {
        Ok(r) => r,
        Err(e) => panic!("scrim start: {e}"),
    }
}

// ---------------------------------------------------------------------------
// Clients

/// What a client received.
#[derive(Debug)]
pub struct Got {
    /// Status.
    pub status: StatusCode,
    /// Version of the response.
    pub version: Version,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes received (up to the error, if any).
    pub body: Vec<u8>,
    /// Body error, if the body did not end cleanly.
    pub error: Option<String>,
    /// Trailers, if any arrived.
    pub trailers: Option<HeaderMap>,
}

impl Got {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    /// Asserts the status and a clean end of body.
    pub fn expect_ok(&self, status: u16) -> &Got {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status; body {:?}",
            self.text()
        );
        assert!(self.error.is_none(), "body error {:?}", self.error);
        self
    }

    /// Asserts the body ended with an error (aborted response).
    pub fn expect_aborted(&self) -> &Got {
        assert!(
            self.error.is_some(),
            "expected an aborted body, got a clean end; body {:?}",
            self.text()
        );
        self
    }
}

/// Reads a whole response frame by frame.
pub async fn read_response<B>(resp: Response<B>) -> Got
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let (parts, mut body) = resp.into_parts();
    let mut got = Got {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: Vec::new(),
        error: None,
        trailers: None,
    };
    loop {
        match within("response body", body.frame()).await {
            None => break,
            Some(Err(e)) => {
                got.error = Some(e.to_string());
                break;
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => got.body.extend_from_slice(&d),
                Err(f) => {
                    if let Ok(t) = f.into_trailers() {
                        got.trailers = Some(t);
                    }
                }
            },
        }
    }
    got
}

/// A request builder with a Host header (hyper's connection-level clients
/// do not add one).
pub fn req(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "crm.test")
}

/// An HTTP/1.1 connection over any stream, sending whole bodies.
pub async fn h1_over<S>(io: S) -> hyper::client::conn::http1::SendRequest<Full<Bytes>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    h1_with(io).await
}

/// An HTTP/1.1 connection over any stream, with any body type.
pub async fn h1_with<S, B>(io: S) -> hyper::client::conn::http1::SendRequest<B>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("h1 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// An HTTP/2 connection (prior knowledge on plaintext; ALPN over TLS).
pub async fn h2_over<S>(io: S) -> hyper::client::conn::http2::SendRequest<Full<Bytes>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    h2_with(io).await
}

/// An HTTP/2 connection with any body type.
pub async fn h2_with<S, B>(io: S) -> hyper::client::conn::http2::SendRequest<B>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// Connects over TCP.
pub async fn tcp(addr: SocketAddr) -> TcpStream {
    within("connect", TcpStream::connect(addr))
        .await
        .expect("connect to scrim")
}

/// Sends one request over a fresh HTTP/1.1 connection.
pub async fn send(addr: SocketAddr, r: Request<Full<Bytes>>) -> Got {
    let what = format!("{} {}", r.method(), r.uri());
    let mut c = h1_over(tcp(addr).await).await;
    match within(&what, c.send_request(r)).await {
        Ok(resp) => read_response(resp).await,
        Err(e) => panic!("{what}: no response head: {e}"),
    }
}

/// GET a response that must be aborted: either hyper closed the
/// connection before the head (the body failed before its first byte, so
/// the buffered head was never written) or the head arrived (with `status`)
/// and the body ended with an error. Returns the body bytes received.
pub async fn get_aborted(addr: SocketAddr, path: &str, status: u16) -> Got {
    let mut c = h1_over(tcp(addr).await).await;
    let r = req("GET", path).body(Full::default()).expect("request");
    match within(path, c.send_request(r)).await {
        Ok(resp) => {
            let got = read_response(resp).await;
            assert_eq!(got.status.as_u16(), status, "{path}");
            got.expect_aborted();
            got
        }
        Err(e) => Got {
            status: StatusCode::from_u16(status).expect("status"),
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
            body: Vec::new(),
            error: Some(format!("no head: {e}")),
            trailers: None,
        },
    }
}

/// GET over a fresh HTTP/1.1 connection.
pub async fn get(addr: SocketAddr, path: &str) -> Got {
    send(
        addr,
        req("GET", path).body(Full::default()).expect("request"),
    )
    .await
}

/// Writes `bytes` on a fresh connection and reads until the peer closes.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = tcp(addr).await;
    s.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = within("peer close", s.read_to_end(&mut out)).await;
    out
}

// ---------------------------------------------------------------------------
// Leak checks

/// Asserts no covered value appears in the body, any header name or value,
/// or the trailers of what the client received. A request id that scrim
/// generated (32 random hex digits) is skipped, in the header and in an
/// error body's `"request_id"`: short fragments such as "4111" can occur
/// in it by chance.
pub fn assert_clean(got: &Got, covered: &[&str]) {
    assert_bytes_clean("body", &without_generated_ids(&got.body), covered);
    let mut all: Vec<(&HeaderName, &HeaderValue)> = got.headers.iter().collect();
    if let Some(t) = &got.trailers {
        all.extend(t.iter());
    }
    for (k, v) in all {
        if k == "x-request-id" && is_generated_id(v.as_bytes()) {
            continue;
        }
        assert_bytes_clean("header name", k.as_str().as_bytes(), covered);
        assert_bytes_clean(k.as_str(), v.as_bytes(), covered);
    }
}

/// `body` with each `"request_id":"<generated id>"` value blanked.
fn without_generated_ids(body: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"\"request_id\":\"";
    let mut out = body.to_vec();
    let mut i = 0;
    while let Some(p) = out[i..].windows(KEY.len()).position(|w| w == KEY) {
        let s = i + p + KEY.len();
        if out.get(s..s + 32).is_some_and(is_generated_id) {
            out[s..s + 32].fill(b'-');
        }
        i = s;
    }
    out
}

/// A request id as scrim generates them.
pub fn is_generated_id(v: &[u8]) -> bool {
    v.len() == 32
        && v.iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// Asserts no covered value appears in `hay`.
pub fn assert_bytes_clean(what: &str, hay: &[u8], covered: &[&str]) {
    for c in covered {
        assert!(
            !contains(hay, c.as_bytes()),
            "covered value {c:?} reached the client in {what}: {:?}",
            String::from_utf8_lossy(hay)
        );
    }
}

/// Byte substring search.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// TLS

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A throwaway CA; its files live in a temporary directory removed on drop.
pub struct Pki {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    /// The directory holding the PEM files.
    pub dir: PathBuf,
    /// The CA certificate (PEM file).
    pub ca_path: PathBuf,
}

/// A certificate and key issued by a [`Pki`].
pub struct Leaf {
    /// Certificate PEM file.
    pub cert_path: PathBuf,
    /// Key PEM file.
    pub key_path: PathBuf,
    /// Certificate.
    pub cert: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Leaf {
    /// The private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

impl Pki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "scrim-proxy-test-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let ca = params.self_signed(&ca_key).expect("ca cert");
        let ca_path = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca_path, ca.pem()).expect("write ca");
        Pki {
            ca,
            ca_key,
            dir,
            ca_path,
        }
    }

    /// Issues a server (or client) certificate for `sans` (DNS names or IPs).
    pub fn issue(&self, file: &str, sans: &[&str], client: bool) -> Leaf {
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, file);
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        let cert_path = self.dir.join(format!("{file}.pem"));
        let key_path = self.dir.join(format!("{file}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        Leaf {
            cert_path,
            key_path,
            cert: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A root store holding only this CA.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut r = rustls::RootCertStore::empty();
        r.add(self.ca.der().clone()).expect("add root");
        r
    }

    /// A client TLS config trusting this CA, with an optional client
    /// certificate and the given ALPN protocols.
    pub fn client(&self, cert: Option<&Leaf>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let b = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(self.roots());
        let mut c = match cert {
            Some(l) => b
                .with_client_auth_cert(vec![l.cert.clone()], l.key())
                .expect("client cert"),
            None => b.with_no_client_auth(),
        };
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server TLS config for a fixture, with ALPN.
pub fn server_tls(leaf: &Leaf, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.cert.clone()], leaf.key())
        .expect("server cert");
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

/// Connects with TLS.
pub async fn tls_connect(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let s = tcp(addr).await;
    let name = ServerName::try_from(name.to_string()).expect("server name");
    within(
        "tls handshake",
        tokio_rustls::TlsConnector::from(cfg).connect(name, s),
    )
    .await
}

/// Reads WebSocket messages until one is not a ping/pong.
pub async fn ws_next<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
) -> Option<Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match within("websocket message", ws.next()).await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return other,
        }
    }
}
