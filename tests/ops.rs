//! Operations tests (issue 5): Prometheus metrics, the audit log, reloads
//! (by call and by watching a ConfigMap-style directory), readiness while
//! draining, observe mode and audit-queue overflow.
//!
//! Everything runs in-process on `127.0.0.1:0`: a hyper upstream fixture,
//! scrim started with `scrim::service::start`, and a small hyper client. The
//! harness is self-contained (this file owns its helpers). There are no
//! sleeps as synchronisation: effects that are asynchronous by design (the
//! audit writer, the directory watcher, request metrics recorded when a
//! response body is dropped, the drain flag) are polled with a deadline.
//!
//! Failure messages never print corpus values (they may be sensitive); only
//! the small fixtures written in this file appear in them.

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use scrim::config::{Config, Overrides};
use scrim::corpus::{json_tickets, transcript, Corpus, Density};
use scrim::service::{self, Running};
use scrim::{redact_all, Format, Matcher};
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------
// Harness: deadlines

/// How long an asynchronous effect may take before a test fails.
const DEADLINE: Duration = Duration::from_secs(15);
/// Interval between two polls of an asynchronous effect.
const POLL: Duration = Duration::from_millis(20);

/// Polls `f` until it returns `Some`, failing after [`DEADLINE`].
async fn poll_until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Runs `fut`, failing the test if it does not finish within [`DEADLINE`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {DEADLINE:?}: {what}"),
    }
}

// ---------------------------------------------------------------------------
// Harness: temporary directories

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("scrim-ops-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The built-in packs, renamed so that a directory load keeps the built-in
/// priority order (payment, banking, identity, contact, secrets).
fn builtin_pack_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns");
    ["payment", "banking", "identity", "contact", "secrets"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let src = std::fs::read_to_string(dir.join(format!("{name}.toml")))
                .expect("read built-in pack");
            (format!("{}0-{name}.toml", i + 1), src)
        })
        .collect()
}

fn write_packs(dir: &Path, files: &[(String, String)]) {
    std::fs::create_dir_all(dir).expect("create packs dir");
    for (name, src) in files {
        std::fs::write(dir.join(name), src).expect("write pack");
    }
}

/// A rule for loyalty numbers, `LOY-` and 8 digits, that the built-in
/// packs do not have.
const LOYALTY_RULE: &str = r#"
[[rule]]
id = "loyalty.number"
category = "loyalty_number"
description = "LOY- and 8 digits"
pattern = '''\bLOY-[0-9]{8}\b'''
trigger = { digits = true, back = 4 }
action = { type = "mask", keep_last = 4 }
[rule.examples]
match = ["member LOY-12345678 called", "LOY-00000001"]
no_match = ["LOY-1234567", "XLOY-12345678", "LOY-123456789"]
redact = [["id LOY-12345678.", "id ***-****5678."]]
"#;

/// A pack holding only [`LOYALTY_RULE`].
fn loyalty_pack() -> String {
    format!("[pack]\nname = \"loyalty\"\ndescription = \"Loyalty numbers (ops test fixture)\"\n{LOYALTY_RULE}")
}

/// A site pack with one harmless rule; version 2 adds [`LOYALTY_RULE`].
const SITE_PACK_V1: &str = r#"[pack]
name = "site"
description = "Site references (ops test fixture)"

[[rule]]
id = "site.ref"
category = "reference"
pattern = '''\bSREF-[0-9]{6}\b'''
trigger = { digits = true, back = 5 }
action = { type = "label", label = "[SREF]" }
[rule.examples]
match = ["ref SREF-123456 ok"]
no_match = ["SREF-12345", "XSREF-123456"]
redact = [["ref SREF-123456.", "ref [SREF]."]]
"#;

/// A pack whose only rule has a regex that does not parse.
const BROKEN_PACK: &str = r#"[pack]
name = "broken"

[[rule]]
id = "broken.unclosed"
category = "loyalty_number"
pattern = '''LOY-([0-9]{8}'''
trigger = { digits = true, back = 4 }
action = { type = "label", label = "[LOY]" }
"#;

// ---------------------------------------------------------------------------
// Harness: upstream fixture

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type UpBody = UnsyncBoxBody<Bytes, BoxError>;

/// Starts an HTTP/1.1 upstream on `127.0.0.1:0`; `handler` maps a request
/// path to a response.
async fn upstream(
    handler: impl Fn(&str) -> Response<UpBody> + Send + Sync + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let r = handler(req.uri().path());
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn full(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Response<UpBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|e: Infallible| match e {})
            .boxed_unsync(),
    );
    *r.status_mut() = StatusCode::from_u16(status).expect("valid status");
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Body chunks (or an error that aborts the body) sent by the test.
type Chunks = mpsc::UnboundedSender<Result<Bytes, BoxError>>;
/// The receiving end, handed to the upstream once.
type ChunkSlot = Arc<Mutex<Option<mpsc::UnboundedReceiver<Result<Bytes, BoxError>>>>>;

fn chunk_channel() -> (Chunks, ChunkSlot) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Arc::new(Mutex::new(Some(rx))))
}

/// A chunked response whose body the test feeds through a channel; the body
/// ends when the sender is dropped, and is aborted by an `Err` item.
fn streamed(content_type: &'static str, slot: &ChunkSlot) -> Response<UpBody> {
    let Some(rx) = slot.lock().expect("slot lock").take() else {
        return full(500, "text/plain", "stream already taken\n");
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text_body(s: &str) -> Result<Bytes, BoxError> {
    Ok(Bytes::copy_from_slice(s.as_bytes()))
}

// ---------------------------------------------------------------------------
// Harness: scrim and a client

/// Config text for scrim in front of `upstream`; the audit log is off
/// unless `extra` configures it (its default is standard output).
fn config_text(upstream: SocketAddr, extra: &str) -> String {
    let audit = if extra.contains("[audit]") {
        ""
    } else {
        "[audit]\noutput = \"off\"\n"
    };
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nupstream = \"http://{upstream}\"\n{audit}{extra}"
    )
}

/// Starts scrim from config text (reload re-uses the running config).
async fn start(toml: &str) -> Running {
    let config = Config::parse("ops.toml", toml, &Overrides::default())
        .unwrap_or_else(|e| panic!("config: {e:#?}"));
    service::start(config, None, Overrides::default())
        .await
        .unwrap_or_else(|e| panic!("scrim start: {e}"))
}

/// Writes the config to `path` and starts scrim from it (reload re-reads it).
async fn start_from_file(path: &Path, toml: &str) -> Running {
    std::fs::write(path, toml).expect("write config");
    let ov = Overrides::default();
    let config = Config::load(Some(path), &ov).unwrap_or_else(|e| panic!("config: {e:#?}"));
    service::start(config, Some(path.to_path_buf()), ov)
        .await
        .unwrap_or_else(|e| panic!("scrim start: {e}"))
}

fn admin(r: &Running) -> SocketAddr {
    r.admin_addr.expect("admin listener configured")
}

/// What a client saw: the status, and the body or the error that ended it.
struct Reply {
    status: StatusCode,
    body: Result<Vec<u8>, String>,
}

impl Reply {
    fn text(&self) -> String {
        match &self.body {
            Ok(b) => String::from_utf8_lossy(b).into_owned(),
            Err(e) => panic!("body failed: {e}"),
        }
    }
}

#[derive(Clone)]
struct Http(Client<HttpConnector, Empty<Bytes>>);

impl Http {
    fn new() -> Http {
        Http(Client::builder(TokioExecutor::new()).build_http())
    }

    /// Sends a GET and returns once the response headers arrive, or the
    /// error that ended the exchange before them.
    async fn try_send(
        &self,
        addr: SocketAddr,
        path: &str,
        request_id: Option<&str>,
    ) -> Result<Response<Incoming>, String> {
        let mut req = Request::builder().uri(format!("http://{addr}{path}"));
        if let Some(id) = request_id {
            req = req.header("x-request-id", id);
        }
        let req = req.body(Empty::new()).expect("valid request");
        within(&format!("response headers for {path}"), self.0.request(req))
            .await
            .map_err(|e| format!("{e:?}"))
    }

    /// Sends a GET and returns once the response headers arrive.
    async fn send(
        &self,
        addr: SocketAddr,
        path: &str,
        request_id: Option<&str>,
    ) -> Response<Incoming> {
        self.try_send(addr, path, request_id)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET and read the whole body (or the error that cut it off); `Err`
    /// when no response head arrived.
    async fn try_get_with_id(
        &self,
        addr: SocketAddr,
        path: &str,
        request_id: Option<&str>,
    ) -> Result<Reply, String> {
        let resp = self.try_send(addr, path, request_id).await?;
        let status = resp.status();
        let body = within(&format!("body of {path}"), resp.into_body().collect())
            .await
            .map(|c| c.to_bytes().to_vec())
            .map_err(|e| format!("{e:?}"));
        Ok(Reply { status, body })
    }

    /// GET and read the whole body (or the error that cut it off).
    async fn get_with_id(&self, addr: SocketAddr, path: &str, request_id: Option<&str>) -> Reply {
        self.try_get_with_id(addr, path, request_id)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn get(&self, addr: SocketAddr, path: &str) -> Reply {
        self.get_with_id(addr, path, None).await
    }

    async fn scrape(&self, admin: SocketAddr) -> Scrape {
        let r = self.get(admin, "/metrics").await;
        assert_eq!(r.status, StatusCode::OK, "/metrics status");
        parse_prometheus(&r.text()).unwrap_or_else(|e| panic!("/metrics: {e}"))
    }

    /// Scrapes until `ready` holds (request metrics are recorded when the
    /// response body is dropped, just after the client has read it).
    async fn scrape_until(
        &self,
        admin: SocketAddr,
        what: &str,
        ready: impl Fn(&Scrape) -> bool,
    ) -> Scrape {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.scrape(admin).await;
            if ready(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for metrics: {what}; last scrape: {s:#?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn readyz(&self, admin: SocketAddr) -> (StatusCode, serde_json::Value) {
        let r = self.get(admin, "/readyz").await;
        let v = serde_json::from_str(&r.text()).expect("/readyz is JSON");
        (r.status, v)
    }
}

/// Reads frames of a streaming body until `acc` holds at least `len` bytes.
async fn read_at_least(body: &mut Incoming, acc: &mut Vec<u8>, len: usize) {
    while acc.len() < len {
        match within("next body frame", body.frame()).await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    acc.extend_from_slice(&d);
                }
            }
            Some(Err(e)) => panic!("stream failed after {} bytes: {e}", acc.len()),
            None => panic!("stream ended after {} of {len} bytes", acc.len()),
        }
    }
}

/// Reads a streaming body to its end; fails if it ends with an error.
async fn read_to_end(body: &mut Incoming, acc: &mut Vec<u8>) {
    while let Some(f) = within("next body frame", body.frame()).await {
        match f {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    acc.extend_from_slice(&d);
                }
            }
            Err(e) => panic!("stream failed after {} bytes: {e}", acc.len()),
        }
    }
}

// ---------------------------------------------------------------------------
// Harness: Prometheus text format

/// One scrape: every sample as (name, labels, value).
#[derive(Debug, Default)]
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

/// Parses the Prometheus text exposition format (`name{labels} value
/// [timestamp]`; `#` lines are comments).
fn parse_prometheus(text: &str) -> Result<Scrape, String> {
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        let name_end = line
            .find(|c: char| c == '{' || c.is_ascii_whitespace())
            .ok_or_else(|| bad("no value"))?;
        let name = &line[..name_end];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            return Err(bad("bad metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(after) = rest.strip_prefix('{') {
            let (l, after) = parse_labels(after).map_err(|e| bad(&e))?;
            labels = l;
            rest = after;
        }
        let mut fields = rest.split_ascii_whitespace();
        let value = fields.next().ok_or_else(|| bad("no value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse::<f64>().map_err(|_| bad("bad value"))?,
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| bad("bad timestamp"))?;
        }
        if fields.next().is_some() {
            return Err(bad("trailing fields"));
        }
        samples.push((name.to_string(), labels, value));
    }
    Ok(Scrape(samples))
}

/// Parses `k="v",k2="v2"}` and returns the labels and what follows `}`.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        match b.get(i) {
            None => return Err("unterminated labels".into()),
            Some(b'}') => return Ok((labels, &s[i + 1..])),
            Some(_) => {}
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let key = &s[start..i];
        if key.is_empty() || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
            return Err("bad label".into());
        }
        i += 2;
        let mut value = String::new();
        loop {
            match b.get(i) {
                None => return Err("unterminated label value".into()),
                Some(b'"') => break,
                Some(b'\\') => {
                    match b.get(i + 1) {
                        Some(b'n') => value.push('\n'),
                        Some(b'\\') => value.push('\\'),
                        Some(b'"') => value.push('"'),
                        _ => return Err("bad escape in label value".into()),
                    }
                    i += 2;
                }
                Some(_) => {
                    let ch = s[i..].chars().next().ok_or("bad UTF-8")?;
                    value.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        i += 1;
        if labels.insert(key.to_string(), value).is_some() {
            return Err(format!("label {key} repeated"));
        }
    }
}

impl Scrape {
    /// The value of the sample with exactly these labels; 0 when absent (a
    /// labelled counter appears once it is first incremented).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let found: Vec<f64> = self
            .0
            .iter()
            .filter(|(n, l, _)| n == name && *l == want)
            .map(|(_, _, v)| *v)
            .collect();
        assert!(
            found.len() <= 1,
            "{name}{want:?} appears {} times",
            found.len()
        );
        found.first().copied().unwrap_or(0.0)
    }

    /// Sum over every sample of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    }

    /// Every label set of `name`.
    fn series(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        self.0
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, l, v)| (l.clone(), *v))
            .collect()
    }
}

/// `after - before` of one sample.
fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.get(name, labels) - before.get(name, labels)
}

#[test]
fn prometheus_parser_reads_labels_escapes_and_special_values() {
    let s = parse_prometheus(
        "# HELP a_total A.\n# TYPE a_total counter\na_total{route=\"r\",rule=\"x\\\"y\\\\z\\n\"} 3\nb 1.5e3 1700000000\nc_bucket{le=\"+Inf\"} +Inf\nd{} 0\n",
    )
    .expect("parses");
    assert_eq!(
        s.get("a_total", &[("route", "r"), ("rule", "x\"y\\z\n")]),
        3.0
    );
    assert_eq!(s.get("a_total", &[("route", "r")]), 0.0);
    assert_eq!(s.sum("a_total", &[("route", "r")]), 3.0);
    assert_eq!(s.get("b", &[]), 1500.0);
    assert_eq!(s.get("c_bucket", &[("le", "+Inf")]), f64::INFINITY);
    assert_eq!(s.get("d", &[]), 0.0);
    assert!(parse_prometheus("x{a=\"1\" 2\n").is_err());
    assert!(parse_prometheus("x{a=1} 2\n").is_err());
    assert!(parse_prometheus("x two\n").is_err());
}

// ---------------------------------------------------------------------------
// Harness: engine oracle

fn matcher() -> Arc<Matcher> {
    static M: OnceLock<Arc<Matcher>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Matcher::builtin().expect("built-in packs compile")))
        .clone()
}

/// Redactions the engine reports for a whole body, as (rule id, start, end).
fn expected_events(format: Format, input: &[u8]) -> (Vec<u8>, Vec<(String, u64, u64)>) {
    let m = matcher();
    let (out, events) = redact_all(&m, format, input).expect("redact_all");
    let mut ev: Vec<(String, u64, u64)> = events
        .iter()
        .map(|e| (m.rule_id(e.rule).to_string(), e.start, e.end))
        .collect();
    ev.sort();
    (out, ev)
}

// ---------------------------------------------------------------------------
// 1. Metrics

const CARD_JSON: &str = r#"{"id":7,"card_number":"4111 1111 1111 1111","note":"thanks"}"#;
const IBAN_TEXT: &str = "please wire the refund to DE89 3704 0044 0532 0130 00 today\n";
const CLEAN_TEXT: &str = "hello, your ticket is resolved and the parcel is on its way\n";
const NOT_FOUND_TEXT: &str = "no such record\n";

fn png_bytes() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    v.extend((0u32..300).map(|i| (i.wrapping_mul(37) % 251) as u8));
    v
}

/// Rules per pack, counted from the pack sources (`[[rule]]` and `[[field]]`).
fn rules_in_builtin_packs() -> Vec<(String, usize)> {
    builtin_pack_files()
        .into_iter()
        .map(|(file, src)| {
            let name = file
                .trim_end_matches(".toml")
                .split_once('-')
                .map(|(_, n)| n.to_string())
                .expect("numbered file name");
            let n = src
                .lines()
                .filter(|l| l.trim() == "[[rule]]" || l.trim() == "[[field]]")
                .count();
            (name, n)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_traffic_exactly() {
    let png = png_bytes();
    let png_for_upstream = png.clone();
    let up = upstream(move |path| match path {
        "/card.json" => full(200, "application/json", CARD_JSON),
        "/iban.txt" => full(200, "text/plain; charset=utf-8", IBAN_TEXT),
        "/clean.txt" => full(200, "text/plain", CLEAN_TEXT),
        "/logo.png" => full(200, "image/png", png_for_upstream.clone()),
        "/snappy.txt" => {
            let mut r = full(200, "text/plain", "compressed, supposedly\n");
            r.headers_mut().insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static("x-snappy"),
            );
            r
        }
        _ => full(404, "text/plain", NOT_FOUND_TEXT),
    })
    .await;
    let route = "[[route]]\nname = \"crm\"\npath_prefix = \"/\"\n";
    let scrim = start(&config_text(up, route)).await;
    let adm = admin(&scrim);
    let http = Http::new();

    // Start-up gauges.
    let before = http.scrape(adm).await;
    let digest = matcher().digest().to_string();
    assert_eq!(scrim.shared.matcher().digest(), digest);
    assert_eq!(
        before.get(
            "scrim_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("pack_digest", &digest)
            ]
        ),
        1.0
    );
    assert_eq!(before.series("scrim_build_info").len(), 1);
    let packs = rules_in_builtin_packs();
    assert_eq!(packs.len(), 5);
    for (pack, n) in &packs {
        assert_eq!(
            before.get("scrim_rules_loaded", &[("pack", pack)]),
            *n as f64,
            "scrim_rules_loaded{{pack={pack:?}}}"
        );
    }
    assert_eq!(before.series("scrim_rules_loaded").len(), 5);
    assert_eq!(before.get("scrim_selftest_ok", &[]), 1.0);
    assert_eq!(before.get("scrim_observe_mode", &[("route", "crm")]), 0.0);

    // Traffic with known content.
    let r = http.get(scrim.proxy_addr, "/card.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text(),
        r#"{"id":7,"card_number":"**** **** **** 1111","note":"thanks"}"#
    );
    let r = http.get(scrim.proxy_addr, "/iban.txt").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text(),
        "please wire the refund to **** **** **** **** **30 00 today\n"
    );
    let r = http.get(scrim.proxy_addr, "/clean.txt").await;
    assert_eq!(
        (r.status, r.text()),
        (StatusCode::OK, CLEAN_TEXT.to_string())
    );
    let r = http.get(scrim.proxy_addr, "/logo.png").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.as_deref() == Ok(&png[..]), "binary body changed");
    let r = http.get(scrim.proxy_addr, "/missing").await;
    assert_eq!(
        (r.status, r.text()),
        (StatusCode::NOT_FOUND, NOT_FOUND_TEXT.to_string())
    );
    let r = http.get(scrim.proxy_addr, "/snappy.txt").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.text().starts_with("{\"error\":\"bad_gateway\""));

    const REQUESTS: f64 = 6.0;
    let dur_count = |s: &Scrape| s.get("scrim_request_duration_seconds_count", &[("route", "crm")]);
    let after = http
        .scrape_until(adm, "6 request durations recorded", |s| {
            dur_count(s) - dur_count(&before) >= REQUESTS
        })
        .await;
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);

    let resp = [("route", "crm"), ("direction", "response")];
    let red = |rule: &str, cat: &str| {
        let mut l = resp.to_vec();
        l.extend([("rule", rule), ("category", cat)]);
        d("scrim_redactions_total", &l)
    };
    assert_eq!(red("field.card", "card"), 1.0);
    assert_eq!(red("bank.iban", "iban"), 1.0);
    assert_eq!(
        after.sum("scrim_redactions_total", &[]) - before.sum("scrim_redactions_total", &[]),
        2.0,
        "no other rule fired"
    );
    assert_eq!(
        d(
            "scrim_scanned_bytes_total",
            &[("route", "crm"), ("format", "json")]
        ),
        CARD_JSON.len() as f64
    );
    assert_eq!(
        d(
            "scrim_scanned_bytes_total",
            &[("route", "crm"), ("format", "text")]
        ),
        (IBAN_TEXT.len() + CLEAN_TEXT.len() + NOT_FOUND_TEXT.len()) as f64
    );
    assert_eq!(
        d(
            "scrim_unscanned_bytes_total",
            &[("route", "crm"), ("reason", "binary")]
        ),
        png.len() as f64
    );
    assert_eq!(
        after.sum("scrim_unscanned_bytes_total", &[])
            - before.sum("scrim_unscanned_bytes_total", &[]),
        png.len() as f64
    );
    assert_eq!(
        d(
            "scrim_requests_total",
            &[("route", "crm"), ("status_class", "2xx")]
        ),
        4.0
    );
    assert_eq!(
        d(
            "scrim_requests_total",
            &[("route", "crm"), ("status_class", "4xx")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "scrim_requests_total",
            &[("route", "crm"), ("status_class", "5xx")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "scrim_responses_blocked_total",
            &[("route", "crm"), ("reason", "undecodable_encoding")]
        ),
        1.0
    );
    assert_eq!(
        after.sum("scrim_responses_blocked_total", &[])
            - before.sum("scrim_responses_blocked_total", &[]),
        1.0
    );
    assert_eq!(after.sum("scrim_responses_aborted_total", &[]), 0.0);
    assert_eq!(
        d("scrim_request_duration_seconds_count", &[("route", "crm")]),
        REQUESTS
    );
    assert_eq!(
        d("scrim_upstream_ttfb_seconds_count", &[("route", "crm")]),
        REQUESTS
    );
    assert_eq!(
        after.get(
            "scrim_request_duration_seconds_bucket",
            &[("route", "crm"), ("le", "+Inf")]
        ),
        after.get("scrim_request_duration_seconds_count", &[("route", "crm")])
    );
    assert_eq!(after.sum("scrim_upstream_errors_total", &[]), 0.0);
    assert_eq!(after.get("scrim_inflight_streams", &[]), 0.0);

    // A second instance whose upstream port is closed.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let dead = start(&config_text(closed, route)).await;
    let dadm = admin(&dead);
    let before = http.scrape(dadm).await;
    let r = http.get(dead.proxy_addr, "/card.json").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let after = http.scrape(dadm).await;
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    assert_eq!(
        d("scrim_upstream_errors_total", &[("kind", "connect")]),
        1.0
    );
    assert_eq!(
        after.sum("scrim_upstream_errors_total", &[])
            - before.sum("scrim_upstream_errors_total", &[]),
        1.0
    );
    assert_eq!(
        d(
            "scrim_responses_blocked_total",
            &[("route", "crm"), ("reason", "upstream_error")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "scrim_requests_total",
            &[("route", "crm"), ("status_class", "5xx")]
        ),
        1.0
    );
    assert_eq!(
        d("scrim_request_duration_seconds_count", &[("route", "crm")]),
        1.0
    );
    assert_eq!(
        d("scrim_upstream_ttfb_seconds_count", &[("route", "crm")]),
        0.0
    );
    assert_eq!(after.sum("scrim_redactions_total", &[]), 0.0);
}

// ---------------------------------------------------------------------------
// 2. Audit log

const AUDIT_KEYS: &[&str] = &[
    "ts",
    "event",
    "request_id",
    "route",
    "direction",
    "pack_digest",
    "rule",
    "category",
    "count",
    "offsets",
    "reason",
    "observe",
];

/// Reads every audit record written so far (a partly written last line is
/// left for the next poll).
fn read_audit(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("audit line {}: not JSON: {e}", i + 1))
        })
        .collect()
}

fn records_for<'a>(records: &'a [serde_json::Value], id: &str) -> Vec<&'a serde_json::Value> {
    records.iter().filter(|r| r["request_id"] == id).collect()
}

/// The (rule, start, end) triples of a request's redaction records.
fn audited_events(records: &[&serde_json::Value]) -> Vec<(String, u64, u64)> {
    let mut v: Vec<(String, u64, u64)> = records
        .iter()
        .filter(|r| r["event"] == "redaction")
        .flat_map(|r| {
            let rule = r["rule"].as_str().expect("rule").to_string();
            r["offsets"]
                .as_array()
                .expect("offsets")
                .iter()
                .map(move |o| {
                    (
                        rule.clone(),
                        o[0].as_u64().expect("start"),
                        o[1].as_u64().expect("end"),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

/// Occurrences of `needle` not glued to letters, digits, `*` or `/`.
fn count_standalone(hay: &[u8], needle: &[u8]) -> usize {
    let glued = |b: u8| b.is_ascii_alphanumeric() || b == b'*' || b == b'/';
    memchr::memmem::find_iter(hay, needle)
        .filter(|&i| {
            let before = i.checked_sub(1).map(|p| hay[p]);
            let after = hay.get(i + needle.len()).copied();
            !before.is_some_and(glued) && !after.is_some_and(glued)
        })
        .count()
}

/// Every string in a JSON value (keys included).
fn strings_of(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings_of(x, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings_of(x, out);
        }),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_records_redactions_without_values() {
    let text = transcript(5, 32 * 1024, Density::Dense);
    let tickets = json_tickets(6, 32 * 1024, Density::Dense);
    assert!(
        text.secrets.len() > 20 && tickets.secrets.len() > 20,
        "dense fixtures"
    );
    let (text_bytes, tickets_bytes) = (
        Bytes::from(text.bytes.clone()),
        Bytes::from(tickets.bytes.clone()),
    );
    let (abort_tx, abort_slot) = chunk_channel();
    let up = upstream(move |path| match path {
        "/transcript" => full(200, "text/plain; charset=utf-8", text_bytes.clone()),
        "/tickets" => full(200, "application/json", tickets_bytes.clone()),
        "/tickets.gz" => {
            let mut r = full(200, "application/json", gzip(&tickets_bytes));
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        "/compressed" => {
            let mut r = full(200, "text/plain", "not really compressed\n");
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("x-lzma"));
            r
        }
        "/dies" => streamed("text/plain", &abort_slot),
        _ => full(404, "text/plain", "no\n"),
    })
    .await;
    let dir = TempDir::new("audit");
    let log = dir.path().join("audit.jsonl");
    let extra = format!(
        "[audit]\noutput = '{}'\n[[route]]\nname = \"crm\"\npath_prefix = \"/\"\n",
        log.display()
    );
    let scrim = start(&config_text(up, &extra)).await;
    let http = Http::new();
    let digest = matcher().digest().to_string();

    let r = http
        .get_with_id(scrim.proxy_addr, "/transcript", Some("ops-audit-text"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let (text_out, text_events) = expected_events(Format::Text, &text.bytes);
    assert!(
        r.body.as_deref() == Ok(&text_out[..]),
        "transcript body differs from the engine's output"
    );
    let r = http
        .get_with_id(scrim.proxy_addr, "/tickets", Some("ops-audit-json"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let (json_out, json_events) = expected_events(Format::Json, &tickets.bytes);
    assert!(
        r.body.as_deref() == Ok(&json_out[..]),
        "tickets body differs from the engine's output"
    );
    // Compressed: offsets are in the decoded body.
    let r = http
        .get_with_id(scrim.proxy_addr, "/tickets.gz", Some("ops-audit-gzip"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.as_deref() == Ok(&json_out[..]),
        "decoded tickets body differs from the engine's output"
    );
    let r = http
        .get_with_id(scrim.proxy_addr, "/compressed", Some("ops-audit-blocked"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    // The upstream sends its head and a first line, then its body fails.
    abort_tx
        .send(text_body("first line of a transcript\n"))
        .expect("send");
    let resp = http
        .send(scrim.proxy_addr, "/dies", Some("ops-audit-aborted"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    abort_tx
        .send(Err("upstream connection reset".into()))
        .expect("send");
    let body = within("aborted body", resp.into_body().collect()).await;
    assert!(
        body.is_err(),
        "the client must see the aborted body as an error"
    );

    let want_offsets = text_events.len() + 2 * json_events.len();
    let records = poll_until("audit records of all five requests", || {
        let log = log.clone();
        async move {
            let recs = read_audit(&log);
            let got = audited_events(&records_for(&recs, "ops-audit-text")).len()
                + audited_events(&records_for(&recs, "ops-audit-json")).len()
                + audited_events(&records_for(&recs, "ops-audit-gzip")).len();
            let tail = records_for(&recs, "ops-audit-blocked").len()
                + records_for(&recs, "ops-audit-aborted").len();
            (got >= want_offsets && tail >= 2).then_some(recs)
        }
    })
    .await;

    // Schema: known keys only; numbers only where scrim writes numbers.
    for (i, r) in records.iter().enumerate() {
        let o = r.as_object().expect("record is an object");
        for (k, v) in o {
            assert!(
                AUDIT_KEYS.contains(&k.as_str()),
                "record {i}: unknown key {k:?}"
            );
            match k.as_str() {
                "ts" => assert!(v.as_f64().is_some_and(|t| t > 1.6e9), "record {i}: ts"),
                "count" => assert!(v.is_u64(), "record {i}: count"),
                "offsets" => assert!(
                    v.as_array().is_some_and(|a| a.iter().all(|p| p
                        .as_array()
                        .is_some_and(|p| p.len() == 2 && p.iter().all(|x| x.is_u64())))),
                    "record {i}: offsets"
                ),
                "observe" => assert_eq!(v, &serde_json::Value::Bool(false), "record {i}"),
                _ => assert!(v.is_string(), "record {i}: {k} is not a string"),
            }
        }
        assert_eq!(r["route"], "crm", "record {i}");
        assert_eq!(r["direction"], "response", "record {i}");
        assert_eq!(r["pack_digest"], digest.as_str(), "record {i}");
    }
    assert_eq!(
        records.len(),
        records_for(&records, "ops-audit-text").len()
            + records_for(&records, "ops-audit-json").len()
            + records_for(&records, "ops-audit-gzip").len()
            + 2,
        "no other records"
    );

    // Redaction records: exactly the engine's events, with rule, category,
    // count and offsets.
    let m = matcher();
    let categories: BTreeMap<String, String> = m
        .all_rules()
        .map(|r| (m.rule_id(r).to_string(), m.rule_category(r).to_string()))
        .collect();
    for (id, want, body_len) in [
        ("ops-audit-text", &text_events, text.bytes.len()),
        ("ops-audit-json", &json_events, tickets.bytes.len()),
        ("ops-audit-gzip", &json_events, tickets.bytes.len()),
    ] {
        let recs = records_for(&records, id);
        assert!(!recs.is_empty(), "{id}: no records");
        for r in &recs {
            assert_eq!(r["event"], "redaction", "{id}");
            let rule = r["rule"].as_str().expect("rule");
            assert_eq!(
                r["category"].as_str(),
                categories.get(rule).map(String::as_str),
                "{id}: category of {rule}"
            );
            let offsets = r["offsets"].as_array().expect("offsets");
            assert_eq!(
                r["count"].as_u64(),
                Some(offsets.len() as u64),
                "{id}: count"
            );
            assert!(r.get("reason").is_none(), "{id}: reason on a redaction");
        }
        let got = audited_events(&recs);
        assert!(
            got.iter().all(|(_, s, e)| s < e && *e <= body_len as u64),
            "{id}: offsets out of range"
        );
        assert_eq!(
            &got, want,
            "{id}: audited (rule, start, end) differ from the engine's"
        );
    }

    // Blocked and aborted responses.
    let blocked = records_for(&records, "ops-audit-blocked");
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["event"], "blocked");
    assert_eq!(blocked[0]["reason"], "undecodable_encoding");
    let aborted = records_for(&records, "ops-audit-aborted");
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0]["event"], "aborted");
    assert_eq!(aborted[0]["reason"], "upstream_error");
    for r in [blocked[0], aborted[0]] {
        for k in ["rule", "category", "count", "offsets"] {
            assert!(r.get(k).is_none(), "{k} on a {} record", r["event"]);
        }
    }

    // No value anywhere: long secrets anywhere in the file; short ones (which
    // also occur inside harmless numbers, e.g. offsets) as standalone tokens
    // in every string of every record.
    let raw = std::fs::read(&log).expect("read audit log");
    let mut strings = Vec::new();
    for r in &records {
        strings_of(r, &mut strings);
    }
    for (label, corpus) in [("transcript", &text), ("tickets", &tickets)] {
        assert_no_secret(label, corpus, &raw, &strings);
    }
}

fn gzip(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    Bytes::from(e.finish().expect("gzip"))
}

fn assert_no_secret(label: &str, corpus: &Corpus, raw: &[u8], strings: &[String]) {
    let distinct: BTreeSet<&str> = corpus.secrets.iter().map(String::as_str).collect();
    for (i, s) in distinct.into_iter().enumerate() {
        if s.len() <= 5 {
            let n: usize = strings
                .iter()
                .map(|x| count_standalone(x.as_bytes(), s.as_bytes()))
                .sum();
            assert_eq!(
                n,
                0,
                "{label}: short secret #{i} ({} bytes) is in the audit log",
                s.len()
            );
        } else {
            assert!(
                memchr::memmem::find(raw, s.as_bytes()).is_none(),
                "{label}: secret #{i} ({} bytes) is in the audit log",
                s.len()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 3. Reload

const CARD_LOY_TEXT: &str = "card 4111 1111 1111 1111 member LOY-87654321\n";
const CARD_LOY_OLD_RULES: &str = "card **** **** **** 1111 member LOY-87654321\n";
const CARD_LOY_NEW_RULES: &str = "card **** **** **** 1111 member ***-****4321\n";

fn packs_config(upstream: SocketAddr, packs: &Path, watch: bool) -> String {
    config_text(
        upstream,
        &format!("[packs]\ndir = '{}'\nwatch = {watch}\n", packs.display()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_refuses_a_broken_pack_and_applies_a_new_one_to_new_requests_only() {
    let (sse_tx, sse_slot) = chunk_channel();
    let up = upstream(move |path| match path {
        "/live" => streamed("text/event-stream", &sse_slot),
        _ => full(200, "text/plain", CARD_LOY_TEXT),
    })
    .await;
    let dir = TempDir::new("reload");
    let packs = dir.path().join("packs");
    write_packs(&packs, &builtin_pack_files());
    let scrim = start_from_file(
        &dir.path().join("scrim.toml"),
        &packs_config(up, &packs, false),
    )
    .await;
    let adm = admin(&scrim);
    let http = Http::new();
    let (status, ready) = http.readyz(adm).await;
    assert_eq!(status, StatusCode::OK);
    let digest0 = ready["pack_digest"].as_str().expect("digest").to_string();
    let rules0 = ready["rules"].as_u64().expect("rules");
    assert_eq!(
        http.get(scrim.proxy_addr, "/card.txt").await.text(),
        CARD_LOY_OLD_RULES
    );

    // A long SSE stream, started before any reload.
    let ev1 = "data: card 4111 1111 1111 1111 member LOY-12345678\n\n";
    let ev1_out = "data: card **** **** **** 1111 member LOY-12345678\n\n";
    sse_tx.send(text_body(ev1)).expect("send event");
    let live = http.send(scrim.proxy_addr, "/live", None).await;
    assert_eq!(live.status(), StatusCode::OK);
    let mut live = live.into_body();
    let mut seen = Vec::new();
    read_at_least(&mut live, &mut seen, ev1_out.len()).await;
    assert_eq!(String::from_utf8_lossy(&seen), ev1_out);

    // (a) A pack whose regex does not parse: refused, old rules stay.
    std::fs::write(packs.join("60-broken.toml"), BROKEN_PACK).expect("write pack");
    let before = http.scrape(adm).await;
    let err = scrim
        .reload()
        .expect_err("a pack whose regex does not parse is refused");
    assert!(
        err.contains("60-broken.toml") && err.contains("broken.unclosed"),
        "error names the file and rule: {err}"
    );
    let after = http.scrape(adm).await;
    let reloads = |s: &Scrape, r: &str| s.get("scrim_config_reloads_total", &[("result", r)]);
    assert_eq!(
        reloads(&after, "failure") - reloads(&before, "failure"),
        1.0
    );
    assert_eq!(
        reloads(&after, "success") - reloads(&before, "success"),
        0.0
    );
    assert_eq!(after.get("scrim_selftest_ok", &[]), 1.0);
    assert_eq!(
        after.get(
            "scrim_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("pack_digest", &digest0)
            ]
        ),
        1.0
    );
    let (status, ready) = http.readyz(adm).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["pack_digest"], digest0.as_str());
    assert_eq!(ready["rules"], rules0);
    assert_eq!(
        http.get(scrim.proxy_addr, "/card.txt").await.text(),
        CARD_LOY_OLD_RULES
    );

    // (b) A valid new pack: new requests get the new rule.
    std::fs::remove_file(packs.join("60-broken.toml")).expect("remove pack");
    std::fs::write(packs.join("60-loyalty.toml"), loyalty_pack()).expect("write pack");
    let before = http.scrape(adm).await;
    scrim.reload().expect("a valid pack reloads");
    let after = http.scrape(adm).await;
    assert_eq!(
        reloads(&after, "success") - reloads(&before, "success"),
        1.0
    );
    assert_eq!(
        reloads(&after, "failure") - reloads(&before, "failure"),
        0.0
    );
    let (status, ready) = http.readyz(adm).await;
    assert_eq!(status, StatusCode::OK);
    let digest1 = ready["pack_digest"].as_str().expect("digest").to_string();
    assert_ne!(digest1, digest0);
    assert_eq!(ready["rules"], rules0 + 1);
    assert_eq!(after.get("scrim_rules_loaded", &[("pack", "loyalty")]), 1.0);
    assert_eq!(after.series("scrim_rules_loaded").len(), 6);
    assert_eq!(
        after.series("scrim_build_info"),
        vec![(
            BTreeMap::from([
                ("pack_digest".to_string(), digest1.clone()),
                ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ]),
            1.0
        )]
    );
    assert_eq!(
        http.get(scrim.proxy_addr, "/card.txt").await.text(),
        CARD_LOY_NEW_RULES
    );

    // The stream started before the reload keeps the rules it started with
    // (LOY numbers pass, cards are still masked) and runs to its end.
    let ev2 = "data: card 5555 5555 5555 4444 member LOY-87654321\n\n";
    let ev2_out = "data: card **** **** **** 4444 member LOY-87654321\n\n";
    sse_tx.send(text_body(ev2)).expect("send event");
    read_at_least(&mut live, &mut seen, ev1_out.len() + ev2_out.len()).await;
    drop(sse_tx);
    read_to_end(&mut live, &mut seen).await;
    assert_eq!(
        String::from_utf8_lossy(&seen),
        format!("{ev1_out}{ev2_out}")
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reloads_when_a_configmap_symlink_is_swapped() {
    use std::os::unix::fs::symlink;
    let up = upstream(|_| full(200, "text/plain", CARD_LOY_TEXT)).await;
    let dir = TempDir::new("watch");
    let packs = dir.path().join("packs");
    let mut v1 = builtin_pack_files();
    v1.push(("60-site.toml".into(), SITE_PACK_V1.into()));
    let mut v2 = builtin_pack_files();
    v2.push((
        "60-site.toml".into(),
        format!("{SITE_PACK_V1}{LOYALTY_RULE}"),
    ));

    // The layout a kubelet writes for a ConfigMap volume.
    let (old, new) = (
        "..2026_03_14_09_00_00.000000001",
        "..2026_03_14_09_05_00.000000002",
    );
    write_packs(&packs.join(old), &v1);
    symlink(old, packs.join("..data")).expect("symlink");
    for (name, _) in &v1 {
        symlink(format!("..data/{name}"), packs.join(name)).expect("symlink");
    }
    let cfg_path = dir.path().join("scrim.toml");
    let scrim = start_from_file(&cfg_path, &packs_config(up, &packs, true)).await;
    let adm = admin(&scrim);
    let http = Http::new();
    let (_, ready) = http.readyz(adm).await;
    let digest0 = ready["pack_digest"].as_str().expect("digest").to_string();
    assert_eq!(
        http.get(scrim.proxy_addr, "/card.txt").await.text(),
        CARD_LOY_OLD_RULES
    );
    let before = http.scrape(adm).await;

    // The kubelet's atomic update: new data dir, then rename a new `..data`
    // symlink over the old one.
    write_packs(&packs.join(new), &v2);
    symlink(new, packs.join("..data_tmp")).expect("symlink");
    std::fs::rename(packs.join("..data_tmp"), packs.join("..data")).expect("swap ..data");
    let cfg = Config::load(Some(&cfg_path), &Overrides::default()).expect("config");
    let digest1 = service::load_rules(&cfg)
        .expect("new packs load")
        .digest()
        .to_string();
    assert_ne!(digest1, digest0);

    poll_until("the watcher to load the swapped packs", || {
        let http = http.clone();
        let digest1 = digest1.clone();
        async move { (http.readyz(adm).await.1["pack_digest"] == digest1.as_str()).then_some(()) }
    })
    .await;
    let after = http.scrape(adm).await;
    let reloads = |s: &Scrape, r: &str| s.get("scrim_config_reloads_total", &[("result", r)]);
    // The watcher may also have seen the new data dir before `..data` was
    // swapped (a reload of unchanged packs), so one or two reloads happened.
    let ok = reloads(&after, "success") - reloads(&before, "success");
    assert!(ok == 1.0 || ok == 2.0, "successful reloads: {ok}");
    assert_eq!(
        reloads(&after, "failure") - reloads(&before, "failure"),
        0.0
    );
    assert_eq!(after.get("scrim_rules_loaded", &[("pack", "site")]), 2.0);
    assert_eq!(
        http.get(scrim.proxy_addr, "/card.txt").await.text(),
        CARD_LOY_NEW_RULES
    );
}

// ---------------------------------------------------------------------------
// 4. Drain

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_flips_while_draining_and_the_in_flight_response_completes() {
    let (tx, slot) = chunk_channel();
    let up = upstream(move |_| streamed("text/plain", &slot)).await;
    let dir = TempDir::new("drain");
    let log = dir.path().join("audit.jsonl");
    let scrim = start(&config_text(
        up,
        &format!("[audit]\noutput = '{}'\n", log.display()),
    ))
    .await;
    let adm = admin(&scrim);
    let http = Http::new();
    let (status, ready) = http.readyz(adm).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&ready["ready"], &ready["draining"]),
        (&true.into(), &false.into())
    );

    let first = "first part of a slow answer\n";
    let (second, second_out) = (
        "and the card 4111 1111 1111 1111\n",
        "and the card **** **** **** 1111\n",
    );
    tx.send(text_body(first)).expect("send");
    let resp = http
        .send(scrim.proxy_addr, "/slow", Some("ops-drain"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut seen = Vec::new();
    read_at_least(&mut body, &mut seen, first.len()).await;

    scrim.shutdown();
    let ready = poll_until("/readyz to turn 503", || {
        let http = http.clone();
        async move {
            let (status, ready) = http.readyz(adm).await;
            (status == StatusCode::SERVICE_UNAVAILABLE).then_some(ready)
        }
    })
    .await;
    assert_eq!(ready["draining"], true);
    assert_eq!(ready["ready"], false);
    assert_eq!(ready["selftest_ok"], true);
    let health = http.get(adm, "/healthz").await;
    assert_eq!(
        (health.status, health.text()),
        (StatusCode::OK, "ok\n".to_string())
    );
    assert_eq!(
        http.scrape(adm).await.get("scrim_inflight_streams", &[]),
        1.0
    );

    // The response is still streaming; it completes normally.
    tx.send(text_body(second)).expect("send");
    drop(tx);
    read_to_end(&mut body, &mut seen).await;
    assert_eq!(
        String::from_utf8_lossy(&seen),
        format!("{first}{second_out}")
    );
    within("scrim to finish draining", scrim.wait()).await;
    // `wait` returns once the audit records of drained requests are on
    // disk (the process exits right after it): read once, no polling.
    let records = read_audit(&log);
    assert_eq!(records.len(), 1, "one redaction record");
    assert_eq!(records[0]["request_id"], "ops-drain");
    assert_eq!(records[0]["rule"], "card.pan");
    assert_eq!(records[0]["offsets"], serde_json::json!([[41, 60]]));
    let (status, ready) = http.readyz(adm).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["draining"], true);
    let health = http.get(adm, "/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_bounds_shutdown_when_a_response_never_ends() {
    let (tx, slot) = chunk_channel();
    let up = upstream(move |_| streamed("text/plain", &slot)).await;
    let scrim = start(&config_text(up, "[limits]\ndrain_timeout = \"200ms\"\n")).await;
    let http = Http::new();
    let first = "a response that never ends\n";
    tx.send(text_body(first)).expect("send");
    let resp = http.send(scrim.proxy_addr, "/stuck", None).await;
    let mut body = resp.into_body();
    let mut seen = Vec::new();
    read_at_least(&mut body, &mut seen, first.len()).await;
    let started = Instant::now();
    scrim.shutdown();
    within("shutdown after the drain timeout", scrim.wait()).await;
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "returned before the drain timeout: {:?}",
        started.elapsed()
    );
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_paths_are_not_served_on_the_proxy_port_and_the_admin_port_never_proxies() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let up = upstream(move |path| {
        seen.fetch_add(1, Ordering::SeqCst);
        full(200, "text/plain", format!("upstream {path}\n"))
    })
    .await;
    let scrim = start(&config_text(up, "")).await;
    let adm = admin(&scrim);
    let http = Http::new();
    for path in ["/metrics", "/healthz", "/readyz"] {
        let r = http.get(scrim.proxy_addr, path).await;
        assert_eq!(
            (r.status, r.text()),
            (StatusCode::OK, format!("upstream {path}\n"))
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let r = http.get(adm, "/api/customers/42").await;
    assert_eq!(
        (r.status, r.text()),
        (StatusCode::NOT_FOUND, "not found\n".to_string())
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "the admin port never proxies"
    );
}

// ---------------------------------------------------------------------------
// 5. Observe mode

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_route_counts_without_changing_bodies() {
    let text = "card 4111 1111 1111 1111, iban DE89 3704 0044 0532 0130 00\n";
    let up = upstream(move |_| full(200, "text/plain", text)).await;
    let routes = "[[route]]\nname = \"watched\"\npath_prefix = \"/observe\"\nmode = \"observe\"\n\
                  [[route]]\nname = \"masked\"\npath_prefix = \"/enforce\"\nmode = \"enforce\"\n";
    let dir = TempDir::new("observe");
    let log = dir.path().join("audit.jsonl");
    let scrim = start(&config_text(
        up,
        &format!("[audit]\noutput = '{}'\n{routes}", log.display()),
    ))
    .await;
    let adm = admin(&scrim);
    let http = Http::new();
    let before = http.scrape(adm).await;

    let r = http
        .get_with_id(scrim.proxy_addr, "/observe/chat/1", Some("ops-observed"))
        .await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, text.to_string()));
    let r = http
        .get_with_id(scrim.proxy_addr, "/enforce/chat/1", Some("ops-enforced"))
        .await;
    assert_eq!(
        (r.status, r.text()),
        (
            StatusCode::OK,
            "card **** **** **** 1111, iban **** **** **** **** **30 00\n".to_string()
        )
    );

    let count = |s: &Scrape| s.sum("scrim_request_duration_seconds_count", &[]);
    let after = http
        .scrape_until(adm, "both requests recorded", |s| {
            count(s) - count(&before) >= 2.0
        })
        .await;
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    for route in ["watched", "masked"] {
        for (rule, cat) in [("card.pan", "card"), ("bank.iban", "iban")] {
            assert_eq!(
                d(
                    "scrim_redactions_total",
                    &[
                        ("route", route),
                        ("direction", "response"),
                        ("rule", rule),
                        ("category", cat)
                    ]
                ),
                1.0,
                "{route} {rule}"
            );
        }
        assert_eq!(
            d(
                "scrim_scanned_bytes_total",
                &[("route", route), ("format", "text")]
            ),
            text.len() as f64
        );
        assert_eq!(
            d(
                "scrim_requests_total",
                &[("route", route), ("status_class", "2xx")]
            ),
            1.0
        );
    }
    assert_eq!(
        after.sum("scrim_redactions_total", &[]) - before.sum("scrim_redactions_total", &[]),
        4.0
    );
    assert_eq!(
        d(
            "scrim_unscanned_bytes_total",
            &[("route", "watched"), ("reason", "observe")]
        ),
        text.len() as f64
    );
    assert_eq!(
        after.sum("scrim_unscanned_bytes_total", &[("route", "masked")]),
        0.0
    );
    assert_eq!(
        after.get("scrim_observe_mode", &[("route", "watched")]),
        1.0
    );
    assert_eq!(after.get("scrim_observe_mode", &[("route", "masked")]), 0.0);
    let (status, ready) = http.readyz(adm).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["observe_routes"], serde_json::json!(["watched"]));

    // Audit records say which were only observed; same rules and offsets.
    let records = poll_until("four audit records", || {
        let log = log.clone();
        async move {
            let r = read_audit(&log);
            (r.len() >= 4).then_some(r)
        }
    })
    .await;
    assert_eq!(records.len(), 4);
    for (id, route, observe) in [
        ("ops-observed", "watched", true),
        ("ops-enforced", "masked", false),
    ] {
        let recs = records_for(&records, id);
        assert_eq!(recs.len(), 2, "{id}");
        for r in &recs {
            assert_eq!(r["route"], route, "{id}");
            assert_eq!(r["observe"], observe, "{id}");
        }
        assert_eq!(
            audited_events(&recs),
            vec![
                ("bank.iban".to_string(), 31, 58),
                ("card.pan".to_string(), 5, 24)
            ],
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_route_relays_bodies_unscanned_and_says_so() {
    let text = "card 4111 1111 1111 1111, iban DE89 3704 0044 0532 0130 00\n";
    let up = upstream(move |_| full(200, "text/plain", text)).await;
    let routes = "[[route]]\nname = \"assets\"\npath_prefix = \"/static\"\nmode = \"pass\"\n\
                  [[route]]\nname = \"masked\"\npath_prefix = \"/\"\n";
    let scrim = start(&config_text(
        up,
        &format!("[audit]\noutput = 'off'\n{routes}"),
    ))
    .await;
    let adm = admin(&scrim);
    let http = Http::new();
    let before = http.scrape(adm).await;

    let resp = http
        .send(scrim.proxy_addr, "/static/app.txt", Some("ops-pass"))
        .await;
    // Unchanged body, unchanged framing: the upstream's length stays.
    assert_eq!(
        resp.headers()
            .get(http::header::CONTENT_LENGTH)
            .map(|v| v.to_str().unwrap().to_string()),
        Some(text.len().to_string())
    );
    let body = within("pass body", resp.into_body().collect())
        .await
        .expect("pass body")
        .to_bytes();
    assert_eq!(&body[..], text.as_bytes());
    let r = http.get_with_id(scrim.proxy_addr, "/chat/1", None).await;
    assert_eq!(
        r.text(),
        "card **** **** **** 1111, iban **** **** **** **** **30 00\n"
    );

    let count = |s: &Scrape| s.sum("scrim_request_duration_seconds_count", &[]);
    let after = http
        .scrape_until(adm, "both requests recorded", |s| {
            count(s) - count(&before) >= 2.0
        })
        .await;
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    let ds =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    assert_eq!(
        d(
            "scrim_unscanned_bytes_total",
            &[("route", "assets"), ("reason", "route_pass")]
        ),
        text.len() as f64
    );
    assert_eq!(ds("scrim_scanned_bytes_total", &[("route", "assets")]), 0.0);
    assert_eq!(ds("scrim_redactions_total", &[("route", "assets")]), 0.0);
    assert_eq!(ds("scrim_redactions_total", &[("route", "masked")]), 2.0);
    assert_eq!(
        d(
            "scrim_requests_total",
            &[("route", "assets"), ("status_class", "2xx")]
        ),
        1.0
    );
    assert_eq!(after.get("scrim_route_pass", &[("route", "assets")]), 1.0);
    assert_eq!(after.get("scrim_route_pass", &[("route", "masked")]), 0.0);
    let (status, ready) = http.readyz(adm).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["pass_routes"], serde_json::json!(["assets"]));
    assert_eq!(ready["observe_routes"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_of_the_config_file_updates_routes_and_observe_gauges() {
    let text = "card 4111 1111 1111 1111\n";
    let up = upstream(move |_| full(200, "text/plain", text)).await;
    let dir = TempDir::new("reload-routes");
    let cfg = dir.path().join("scrim.toml");
    let v1 = "[[route]]\nname = \"chat\"\npath_prefix = \"/chat\"\nmode = \"observe\"\n\
              [[route]]\nname = \"api\"\npath_prefix = \"/\"\n";
    let v2 = "[[route]]\nname = \"chat-v2\"\npath_prefix = \"/chat\"\n\
              [[route]]\nname = \"api\"\npath_prefix = \"/\"\n";
    let scrim = start_from_file(&cfg, &config_text(up, v1)).await;
    let adm = admin(&scrim);
    let http = Http::new();
    assert_eq!(http.get(scrim.proxy_addr, "/chat/1").await.text(), text);
    let gauges = |s: &Scrape| {
        s.series("scrim_observe_mode")
            .into_iter()
            .map(|(l, v)| (l["route"].clone(), v))
            .collect::<BTreeMap<String, f64>>()
    };
    let s = http.scrape(adm).await;
    assert_eq!(
        gauges(&s),
        BTreeMap::from([("api".to_string(), 0.0), ("chat".to_string(), 1.0)])
    );

    std::fs::write(&cfg, config_text(up, v2)).expect("rewrite config");
    scrim.reload().expect("reload");
    assert_eq!(
        http.get(scrim.proxy_addr, "/chat/1").await.text(),
        "card **** **** **** 1111\n"
    );
    let s = http.scrape(adm).await;
    // A route that no longer exists must not keep claiming to observe.
    assert_eq!(
        gauges(&s),
        BTreeMap::from([("api".to_string(), 0.0), ("chat-v2".to_string(), 0.0)])
    );
    assert_eq!(
        s.get(
            "scrim_redactions_total",
            &[
                ("route", "chat-v2"),
                ("direction", "response"),
                ("rule", "card.pan"),
                ("category", "card")
            ]
        ),
        1.0
    );
    let (_, ready) = http.readyz(adm).await;
    assert_eq!(ready["observe_routes"], serde_json::json!([]));
}

// ---------------------------------------------------------------------------
// 6. Audit queue overflow

/// Starts scrim with a one-record audit queue in front of a dense
/// transcript, and fetches it `n` times.
async fn overflow_run(
    on_overflow: &str,
    n: usize,
) -> (Vec<Result<Reply, String>>, Scrape, Scrape, Vec<u8>) {
    let corpus = transcript(11, 32 * 1024, Density::Dense);
    let body = Bytes::from(corpus.bytes.clone());
    let up = upstream(move |_| full(200, "text/plain", body.clone())).await;
    let dir = TempDir::new("overflow");
    let extra = format!(
        "[audit]\noutput = '{}'\nqueue = 1\non_overflow = \"{on_overflow}\"\n[[route]]\nname = \"crm\"\npath_prefix = \"/\"\n",
        dir.path().join("audit.jsonl").display()
    );
    let scrim = start(&config_text(up, &extra)).await;
    let adm = admin(&scrim);
    let http = Http::new();
    let before = http.scrape(adm).await;
    let mut replies = Vec::new();
    for i in 0..n {
        let id = format!("ops-overflow-{i}");
        replies.push(
            http.try_get_with_id(scrim.proxy_addr, "/transcript", Some(&id))
                .await,
        );
    }
    let count = |s: &Scrape| s.get("scrim_request_duration_seconds_count", &[("route", "crm")]);
    let after = http
        .scrape_until(adm, "every request recorded", |s| {
            count(s) - count(&before) >= n as f64
        })
        .await;
    let (out, events) = expected_events(Format::Text, &corpus.bytes);
    assert!(events.len() > 40, "dense fixture");
    (replies, before, after, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_overflow_with_drop_counts_and_still_serves() {
    let (replies, before, after, want) = overflow_run("drop", 3).await;
    for (i, r) in replies.iter().enumerate() {
        let r = r.as_ref().unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.status, StatusCode::OK, "request {i}");
        assert!(
            r.body.as_deref() == Ok(&want[..]),
            "request {i}: body is not the redacted transcript"
        );
    }
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    assert!(
        d("scrim_audit_dropped_total", &[]) > 0.0,
        "records were dropped"
    );
    assert_eq!(
        d(
            "scrim_requests_total",
            &[("route", "crm"), ("status_class", "2xx")]
        ),
        3.0
    );
    assert_eq!(after.sum("scrim_responses_aborted_total", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_overflow_with_fail_closed_aborts_the_response() {
    let (replies, before, after, want) = overflow_run("fail_closed", 3).await;
    let mut failed = 0;
    for (i, r) in replies.iter().enumerate() {
        // The connection is cut: before the response head when the first
        // body chunk already overflows (hyper had not flushed the head), or
        // mid-body.
        match r {
            Err(_) => failed += 1,
            Ok(Reply {
                body: Err(_),
                status,
            }) => {
                assert_eq!(*status, StatusCode::OK, "request {i}");
                failed += 1;
            }
            Ok(Reply {
                body: Ok(b),
                status,
            }) => {
                assert_eq!(*status, StatusCode::OK, "request {i}");
                assert!(
                    b[..] == want[..],
                    "request {i}: body is not the redacted transcript"
                );
            }
        }
    }
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    let dropped = d("scrim_audit_dropped_total", &[]);
    assert!(dropped > 0.0, "records were dropped");
    assert!(failed >= 1, "a dropped record must fail its response");
    assert_eq!(
        d(
            "scrim_responses_aborted_total",
            &[("route", "crm"), ("reason", "audit_overflow")]
        ),
        failed as f64
    );
    assert_eq!(
        after.sum("scrim_responses_aborted_total", &[])
            - before.sum("scrim_responses_aborted_total", &[]),
        failed as f64
    );
}
