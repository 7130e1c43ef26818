//! The end-to-end benchmark's upstream server and probe clients (issue 6).
//!
//! Built as the cargo example `e2e_upstream` and driven by
//! `benches/e2e/run.py`; three subcommands:
//!
//! - `serve --listen ADDR --fixtures DIR`: generates the fixed bodies with
//!   [`scrim::corpus`] (seed 42), writes each body and its planted secrets
//!   (one per line) into DIR so the driver can check what comes through,
//!   prints the bound address as one line on standard output and serves
//!   HTTP/1.1 and h2c until killed. Every path is also served under `/pass`,
//!   because scrim forwards paths unchanged and the pass-through route is
//!   selected by that prefix.
//! - `sse-probe URL --events N`: one HTTP/1.1 request to an SSE URL; prints
//!   the time to first byte and, per event, the delay between the upstream's
//!   send time (carried in the event) and its arrival here, as JSON.
//! - `idle URL --conns N`: holds N idle streaming connections open (each has
//!   received its first event) until standard input is closed.
//!
//! Send times travel inside event data as wall-clock nanoseconds written with
//! letters (digit d becomes `'a' + d`), so that no redaction rule (digits,
//! dates, phone numbers) can touch them on the C path. Nothing here prints a
//! planted value: the probes report counts only.

use bytes::Bytes;
use clap::{Parser, Subcommand};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use scrim::corpus::{json_tickets, transcript, Corpus, Density};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// First seed tried for each fixture, so runs and machines serve the same
/// bytes.
const SEED: u64 = 42;

#[derive(Parser)]
#[command(about = "Upstream server and probes for the end-to-end proxy benchmark")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the fixtures, SSE streams and idle streams over HTTP/1.1 and h2c.
    Serve {
        /// Address to bind (port 0 picks a free port; the bound address is
        /// printed on standard output).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Directory the fixture bodies, secrets lists and manifest go to.
        #[arg(long)]
        fixtures: PathBuf,
    },
    /// Measure time to first byte and per-event delay of one SSE stream.
    SseProbe {
        /// `http://HOST:PORT/PATH?QUERY` of an `/sse` stream.
        url: String,
        /// Stop after this many events (or when the stream ends).
        #[arg(long)]
        events: usize,
        /// File of values (one per line) that must not occur in the stream;
        /// only their count is reported.
        #[arg(long)]
        secrets: Option<PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Hold many idle streaming connections open until standard input closes.
    Idle {
        /// `http://HOST:PORT/PATH` of an `/sse-idle` stream.
        url: String,
        /// Number of concurrent connections.
        #[arg(long, default_value_t = 1000)]
        conns: usize,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("e2e_upstream: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match args.cmd {
            Cmd::Serve { listen, fixtures } => serve(listen, &fixtures).await,
            Cmd::SseProbe {
                url,
                events,
                secrets,
                timeout,
            } => {
                let limit = Duration::from_secs(timeout);
                match tokio::time::timeout(limit, sse_probe(&url, events, secrets.as_deref())).await
                {
                    Ok(r) => r,
                    Err(_) => Err(format!("no complete stream within {timeout} s")),
                }
            }
            Cmd::Idle { url, conns } => idle(&url, conns).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e_upstream: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Fixtures

/// One fixed body served with a Content-Length.
struct Fixture {
    /// Path segment and file stem (`r4k` is served at `/r4k`).
    name: &'static str,
    content_type: &'static str,
    body: Bytes,
}

/// What the server shares between connections: built once, read only.
struct Site {
    fixtures: Vec<Fixture>,
    /// Event lines that carry a planted value (every fifth event uses one),
    /// so the redacting path has work on the SSE stream too.
    sse_secret_lines: Vec<String>,
}

/// The ordinary SSE event line: no digits, nothing any rule matches.
const SSE_PLAIN: &str =
    "Agent (Maria): Thanks for waiting, I am still looking at the order history for you.";

impl Site {
    /// Generates every fixture and writes bodies, secrets lists and a
    /// manifest into `dir`.
    fn generate(dir: &Path) -> std::io::Result<Site> {
        std::fs::create_dir_all(dir)?;
        type Generator = fn(u64, usize, Density) -> Corpus;
        let specs: [(&str, &str, &str, Generator, usize); 3] = [
            ("r4k", "application/json", "json", json_tickets, 4 << 10),
            ("r64k", "application/json", "json", json_tickets, 64 << 10),
            (
                "t1m",
                "text/plain; charset=utf-8",
                "text",
                transcript,
                1 << 20,
            ),
        ];
        let mut fixtures = Vec::new();
        let mut manifest = Vec::new();
        let mut sse_values = Vec::new();
        for (name, content_type, format, generate, len) in specs {
            let (seed, corpus) = with_secrets(generate, len);
            std::fs::write(dir.join(format!("{name}.body")), &corpus.bytes)?;
            write_lines(&dir.join(format!("{name}.secrets")), &corpus.secrets)?;
            manifest.push(serde_json::json!({
                "name": name,
                "content_type": content_type,
                "format": format,
                "seed": seed,
                "bytes": corpus.bytes.len(),
                "secrets": corpus.secrets.len(),
            }));
            if name == "t1m" {
                sse_values = sse_values_from(&corpus.secrets);
            }
            fixtures.push(Fixture {
                name,
                content_type,
                body: Bytes::from(corpus.bytes),
            });
        }
        let sse_secret_lines: Vec<String> = sse_values
            .iter()
            .map(|v| {
                if v.contains('@') {
                    format!("Customer: you can reach me at {v} any time, thanks.")
                } else {
                    format!("Customer: my card number is {v}, please update it.")
                }
            })
            .collect();
        write_lines(&dir.join("sse.secrets"), &sse_values)?;
        let manifest = serde_json::json!({ "fixtures": manifest });
        std::fs::write(dir.join("manifest.json"), manifest.to_string())?;
        Ok(Site {
            fixtures,
            sse_secret_lines,
        })
    }

    /// Event data for event `i` (without the send time).
    fn sse_line(&self, i: usize) -> &str {
        if i % 5 == 4 && !self.sse_secret_lines.is_empty() {
            &self.sse_secret_lines[(i / 5) % self.sse_secret_lines.len()]
        } else {
            SSE_PLAIN
        }
    }
}

/// The corpus of the first seed from [`SEED`] on that plants at least one
/// sensitive value, so the redacting path has work even on a 4 KiB body (at
/// the typical density of one value per 5 KB, seed 42 alone plants none).
fn with_secrets(generate: fn(u64, usize, Density) -> Corpus, len: usize) -> (u64, Corpus) {
    let mut seed = SEED;
    loop {
        let c = generate(seed, len, Density::Typical);
        if !c.secrets.is_empty() || seed >= SEED + 1000 {
            return (seed, c);
        }
        seed += 1;
    }
}

/// Picks values for the SSE stream that every redacting path must remove
/// without context words: one email address and one card number (digits in
/// groups, confirmed by Luhn) from the transcript's planted secrets.
fn sse_values_from(secrets: &[String]) -> Vec<String> {
    let email = secrets.iter().find(|s| s.contains('@'));
    let card = secrets.iter().find(|s| {
        let digits = s.bytes().filter(u8::is_ascii_digit).count();
        s.bytes().all(|b| b.is_ascii_digit() || b == b' ') && (13..=19).contains(&digits)
    });
    email.into_iter().chain(card).cloned().collect()
}

fn write_lines(path: &Path, lines: &[String]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()
}

// ---------------------------------------------------------------------------
// Server

/// A response body: a fixed buffer (with an exact size, so hyper writes a
/// Content-Length), or events pushed by a task, each sent as its own frame.
enum UpBody {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            UpBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            UpBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, UpBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            UpBody::Full(None) => SizeHint::with_exact(0),
            UpBody::Stream(_) => SizeHint::default(),
        }
    }
}

async fn serve(listen: SocketAddr, dir: &Path) -> Result<(), String> {
    let site = Arc::new(
        Site::generate(dir).map_err(|e| format!("cannot write fixtures to {dir:?}: {e}"))?,
    );
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot bind {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    {
        // The driver reads exactly this line; nothing else goes to stdout.
        let mut out = std::io::stdout().lock();
        writeln!(out, "{addr}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot print the address: {e}"))?;
    }
    let builder = Arc::new(hyper_util::server::conn::auto::Builder::new(
        TokioExecutor::new(),
    ));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors during the idle test, most likely:
                // back off instead of spinning.
                eprintln!("e2e_upstream: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let site = site.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(respond(&site, &req)) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn respond(site: &Arc<Site>, req: &Request<Incoming>) -> Response<UpBody> {
    let full = req.uri().path();
    // `/pass/X` is `/X`: the prefix only selects scrim's pass-through route.
    let path = full
        .strip_prefix("/pass")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(full);
    match path {
        "/sse" => {
            let q = req.uri().query().unwrap_or("");
            let n = query_param(q, "n").unwrap_or(100);
            let ms = query_param(q, "ms").unwrap_or(10);
            sse_response(sse_stream(site.clone(), n, ms))
        }
        "/sse-idle" => sse_response(sse_idle()),
        _ => match site
            .fixtures
            .iter()
            .find(|f| path.strip_prefix('/') == Some(f.name))
        {
            Some(f) => Response::builder()
                .header("content-type", f.content_type)
                .header("content-length", f.body.len())
                .body(UpBody::Full(Some(f.body.clone())))
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR)),
            None => status(StatusCode::NOT_FOUND),
        },
    }
}

fn status(code: StatusCode) -> Response<UpBody> {
    let mut r = Response::new(UpBody::Full(None));
    *r.status_mut() = code;
    r
}

fn sse_response(rx: mpsc::Receiver<Bytes>) -> Response<UpBody> {
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        // Tells nginx (setup D) not to buffer this response.
        .header("x-accel-buffering", "no")
        .body(UpBody::Stream(rx))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn query_param(query: &str, key: &str) -> Option<u64> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// `n` events, one every `ms` milliseconds (the first at once), each stamped
/// with its send time just before it is handed to the connection.
fn sse_stream(site: Arc<Site>, n: u64, ms: u64) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(ms.max(1)));
        // A late tick shifts the schedule instead of bursting to catch up:
        // every event still carries its own send time.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for i in 0..n {
            tick.tick().await;
            let line = site.sse_line(i as usize);
            let ev = format!("event: chat\ndata: {line} ts={}\n\n", letters(now_ns()));
            if tx.send(Bytes::from(ev)).await.is_err() {
                return; // the client went away
            }
        }
    });
    rx
}

/// One event at once, then nothing until the client goes away.
fn sse_idle() -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(1);
    let first = format!("event: chat\ndata: {SSE_PLAIN}\n\n");
    tokio::spawn(async move {
        if tx.send(Bytes::from(first)).await.is_ok() {
            tx.closed().await;
        }
    });
    rx
}

/// Wall-clock nanoseconds since the Unix epoch (shared by all processes on
/// the machine, unlike `Instant`).
fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Decimal digits written as letters `a`..`j`.
fn letters(n: u128) -> String {
    n.to_string()
        .bytes()
        .map(|d| char::from(b'a' + (d - b'0')))
        .collect()
}

/// The number [`letters`] wrote, read from the start of `s` (stops at the
/// first byte outside `a`..`j`).
fn unletters(s: &[u8]) -> Option<u128> {
    let digits: Vec<u8> = s
        .iter()
        .take_while(|b| (b'a'..=b'j').contains(b))
        .map(|b| b - b'a')
        .collect();
    if digits.is_empty() || digits.len() > 30 {
        return None;
    }
    Some(digits.iter().fold(0u128, |n, &d| n * 10 + u128::from(d)))
}

// ---------------------------------------------------------------------------
// Probes

/// `http://HOST:PORT/PATH` split into the address to connect to, the Host
/// header and the request target.
struct Target {
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Target {
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }

    fn request(&self, close: bool) -> String {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nUser-Agent: e2e_upstream\r\n{}\r\n",
            self.path,
            self.authority,
            if close { "Connection: close\r\n" } else { "" },
        )
    }

    async fn connect(&self) -> Result<TcpStream, String> {
        let s = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.authority))?;
        let _ = s.set_nodelay(true);
        Ok(s)
    }
}

/// The parts of a response head the probes need.
struct Head {
    status: u16,
    chunked: bool,
}

/// Parses a response head (everything before the blank line).
fn parse_head(head: &[u8]) -> Result<Head, String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("malformed status line")?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    Ok(Head { status, chunked })
}

/// Incremental decoder for `Transfer-Encoding: chunked`: takes reads of any
/// size and appends the payload to `out` as soon as it arrives, so an event
/// is timed by the read that completed it rather than by its chunk's end.
#[derive(Default)]
struct Dechunk {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Default, PartialEq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// This many payload bytes still to come.
    Data(usize),
    /// The CRLF after a chunk's payload.
    DataEnd,
    /// Trailer lines after the last chunk, up to the blank line.
    Trailers,
    Done,
}

impl Dechunk {
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() && self.state != ChunkState::Done {
            if let ChunkState::Data(n) = self.state {
                let take = n.min(input.len());
                out.extend_from_slice(&input[..take]);
                input = &input[take..];
                self.state = if take == n {
                    ChunkState::DataEnd
                } else {
                    ChunkState::Data(n - take)
                };
                continue;
            }
            // Every other state consumes whole lines.
            let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(input);
                return Ok(());
            };
            self.line.extend_from_slice(&input[..nl]);
            input = &input[nl + 1..];
            let line = std::mem::take(&mut self.line);
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            self.state = match self.state {
                ChunkState::Size => {
                    let hex = line.split(|&b| b == b';').next().unwrap_or_default();
                    let hex = std::str::from_utf8(hex).map_err(|_| "bad chunk size")?;
                    match usize::from_str_radix(hex.trim(), 16) {
                        Ok(0) => ChunkState::Trailers,
                        Ok(n) => ChunkState::Data(n),
                        Err(_) => return Err("bad chunk size".into()),
                    }
                }
                ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                ChunkState::DataEnd => return Err("chunk longer than its size".into()),
                ChunkState::Trailers if line.is_empty() => ChunkState::Done,
                ChunkState::Trailers => ChunkState::Trailers,
                ChunkState::Data(_) | ChunkState::Done => unreachable!("handled above"),
            };
        }
        Ok(())
    }
}

/// What one SSE probe saw; printed as JSON.
#[derive(Default)]
struct ProbeReport {
    status: u16,
    ttfb_ns: u128,
    delays_ns: Vec<i128>,
    /// Events whose send time could not be read back (should stay 0).
    undecoded: usize,
    body_bytes: usize,
    secrets_checked: usize,
    secrets_found: usize,
}

async fn sse_probe(url: &str, want: usize, secrets: Option<&Path>) -> Result<(), String> {
    let target = Target::parse(url)?;
    let secrets = match secrets {
        Some(p) => read_values(p)?,
        None => BTreeSet::new(),
    };
    let mut s = target.connect().await?;
    s.write_all(target.request(true).as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let sent = Instant::now();

    let mut report = ProbeReport::default();
    let mut buf = vec![0u8; 64 << 10];
    let mut head: Vec<u8> = Vec::new();
    let mut parsed: Option<Head> = None;
    let mut dechunk = Dechunk::default();
    let mut body: Vec<u8> = Vec::new();
    let mut scanned = 0; // body bytes already split into events
    let mut events = 0;
    while events < want {
        let n = s
            .read(&mut buf)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        let arrived = now_ns();
        if n == 0 {
            break;
        }
        if report.ttfb_ns == 0 {
            report.ttfb_ns = sent.elapsed().as_nanos().max(1);
        }
        let mut data = &buf[..n];
        if parsed.is_none() {
            head.extend_from_slice(data);
            let Some(end) = find(&head, b"\r\n\r\n") else {
                continue;
            };
            let h = parse_head(&head[..end])?;
            report.status = h.status;
            let rest = head.split_off(end + 4);
            parsed = Some(h);
            // `rest` is the start of the body, handled like any later read.
            buf[..rest.len()].copy_from_slice(&rest);
            data = &buf[..rest.len()];
        }
        if parsed.as_ref().is_some_and(|h| h.chunked) {
            dechunk.feed(data, &mut body)?;
        } else {
            body.extend_from_slice(data);
        }
        // Every event completed by this read arrived now.
        while let Some(end) = find(&body[scanned..], b"\n\n") {
            let event = &body[scanned..scanned + end];
            match find(event, b" ts=").and_then(|i| unletters(&event[i + 4..])) {
                Some(t) => report.delays_ns.push(arrived as i128 - t as i128),
                None => report.undecoded += 1,
            }
            scanned += end + 2;
            events += 1;
        }
    }
    report.body_bytes = body.len();
    report.secrets_checked = secrets.len();
    report.secrets_found = secrets
        .iter()
        .map(|v| count(&body, v.as_bytes()))
        .sum::<usize>();
    let delays_us: Vec<f64> = report
        .delays_ns
        .iter()
        .map(|&d| (d as f64 / 100.0).round() / 10.0)
        .collect();
    let out = serde_json::json!({
        "status": report.status,
        "ttfb_us": (report.ttfb_ns as f64 / 100.0).round() / 10.0,
        "events": events,
        "undecoded": report.undecoded,
        "body_bytes": report.body_bytes,
        "secrets_checked": report.secrets_checked,
        "secrets_found": report.secrets_found,
        "delays_us": delays_us,
    });
    println!("{out}");
    Ok(())
}

/// Distinct non-empty lines of a values file.
fn read_values(path: &Path) -> Result<BTreeSet<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Opens `conns` streaming connections (at most 64 connecting at a time),
/// waits for each one's first event, prints `ready N` (N connections that
/// made it), then holds them until standard input reaches its end.
async fn idle(url: &str, conns: usize) -> Result<(), String> {
    let target = Arc::new(Target::parse(url)?);
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let target = target.clone();
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let open = open_idle(&target);
            tokio::time::timeout(Duration::from_secs(30), open)
                .await
                .map_err(|_| "no first event within 30 s".to_string())?
        });
    }
    let mut held = Vec::with_capacity(conns);
    let mut first_error = None;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!(
            "e2e_upstream idle: {} of {conns} connections failed; first error: {e}",
            conns - held.len()
        );
    }
    println!("ready {}", held.len());
    let _ = std::io::stdout().flush();
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 256];
    while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    drop(held);
    Ok(())
}

/// One idle stream: request sent, head and first event received.
async fn open_idle(target: &Target) -> Result<TcpStream, String> {
    let mut s = target.connect().await?;
    s.write_all(target.request(false).as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s
            .read(&mut buf)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err("closed before the first event".into());
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = find(&got, b"\r\n\r\n") {
            let h = parse_head(&got[..end])?;
            if h.status != 200 {
                return Err(format!("status {}", h.status));
            }
            if find(&got[end + 4..], b"\n\n").is_some() {
                return Ok(s);
            }
        }
    }
}
