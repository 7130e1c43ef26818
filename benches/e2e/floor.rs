//! A bare hyper reverse proxy: the floor of the end-to-end benchmark.
//!
//! Built as the cargo example `e2e_floor` and driven by `benches/e2e/run.py`
//! as setup E. It uses the same stack as scrim (hyper-util's `auto` server
//! with upgrades, HTTP/1.1 and h2c, TCP_NODELAY; hyper-util's legacy client
//! over a plain `HttpConnector`) and does nothing else: every request goes
//! to the upstream with its URI rewritten to `http://UPSTREAM{path?query}`
//! and the version set to HTTP/1.1 (an h2c request could not go out on an
//! HTTP/1.1 connection otherwise); headers, bodies and the response pass
//! through untouched. No header rewriting, no limits, no timeouts, no
//! metrics. Whatever separates scrim's pass-through route from this is
//! scrim's own per-request work; whatever separates this from nginx is
//! hyper and tokio.
//!
//! `e2e_floor --listen 127.0.0.1:0 --upstream HOST:PORT` prints the bound
//! address as one line on standard output and serves until killed. An
//! upstream that cannot be reached or fails mid-header gets a 502.

use bytes::Bytes;
use clap::Parser;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(about = "Bare hyper reverse proxy: the floor of the end-to-end proxy benchmark")]
struct Args {
    /// Address to bind (port 0 picks a free port; the bound address is
    /// printed on standard output).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// `HOST:PORT` of the plain-HTTP upstream every request goes to.
    #[arg(long)]
    upstream: Authority,
}

type FloorBody = BoxBody<Bytes, hyper::Error>;
type FloorClient = Client<HttpConnector, Incoming>;

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("e2e_floor: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(args.listen, args.upstream)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr, upstream: Authority) -> Result<(), String> {
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
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: FloorClient = Client::builder(TokioExecutor::new()).build(http);
    let upstream = Arc::new(upstream);
    let builder = Arc::new(hyper_util::server::conn::auto::Builder::new(
        TokioExecutor::new(),
    ));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, most likely: back off instead of
                // spinning.
                eprintln!("e2e_floor: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let upstream = upstream.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                forward(client.clone(), upstream.clone(), req)
            });
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Sends `req` to the upstream and hands its response back as it comes.
async fn forward(
    client: FloorClient,
    upstream: Arc<Authority>,
    req: Request<Incoming>,
) -> Result<Response<FloorBody>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let Ok(uri) = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(upstream.as_ref().clone())
        .path_and_query(path)
        .build()
    else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => Ok(resp.map(BodyExt::boxed)),
        Err(e) => {
            eprintln!("e2e_floor: upstream: {e}");
            Ok(status(StatusCode::BAD_GATEWAY))
        }
    }
}

/// An empty response with `code`.
fn status(code: StatusCode) -> Response<FloorBody> {
    let mut resp = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *resp.status_mut() = code;
    resp
}
