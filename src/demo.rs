//! `scrim demo`: a newcomer's first run. Starts a small sample CRM on
//! loopback (customers with cards, IBANs and balances; text and JSON
//! transcripts; a server-sent-events live chat; a WebSocket chat, and a
//! gzip-compressed record) and scrim in front of it, then prints the URLs
//! and `curl` lines to compare raw and redacted, and runs until Ctrl-C.

use crate::config::{Config, Overrides};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// The sample customer record (public test values only).
pub const CUSTOMER_JSON: &str = r#"{
  "id": 42,
  "name": "Maria Lopez",
  "email": "maria.lopez@example.com",
  "phone": "+1 415 555 0132",
  "card_number": "4111 1111 1111 1111",
  "card_expiry": "09/27",
  "iban": "DE89 3704 0044 0532 0130 00",
  "availableBalance": 12345.67,
  "orders": [{"id": 100234577, "total": 49.99, "status": "shipped"}],
  "notes": "Customer called about order 100234577; card on file 5555 5555 5555 4444, SSN 123-45-6789."
}
"#;

/// The sample transcript (the same as examples/transcript.txt).
pub const TRANSCRIPT: &str = include_str!("../examples/transcript.txt");

const LIVE_EVENTS: &[&str] = &[
    "data: {\"from\":\"customer\",\"text\":\"hi, I need help with a refund\"}\n\n",
    "data: {\"from\":\"agent\",\"text\":\"sure, can you confirm the card?\"}\n\n",
    "data: {\"from\":\"customer\",\"text\":\"it's 4111 1111 1111 1111, exp 09/27\"}\n\n",
    "data: {\"from\":\"customer\",\"text\":\"and my balance says $1,234.56 owed\"}\n\n",
    "data: {\"from\":\"agent\",\"text\":\"thanks, refund issued for order 100234577\"}\n\n",
];

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn full(status: StatusCode, ct: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed_unsync());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    r
}

async fn crm(mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    Ok(match path.as_str() {
        "/api/customers/42" => full(StatusCode::OK, "application/json", CUSTOMER_JSON),
        "/api/customers/42.gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = e.write_all(CUSTOMER_JSON.as_bytes());
            let mut r = full(
                StatusCode::OK,
                "application/json",
                e.finish().unwrap_or_default(),
            );
            r.headers_mut().insert(
                header::CONTENT_ENCODING,
                header::HeaderValue::from_static("gzip"),
            );
            r
        }
        "/api/transcripts/7" => full(StatusCode::OK, "text/plain; charset=utf-8", TRANSCRIPT),
        "/api/live" => {
            let stream = futures_util::stream::unfold(0usize, |i| async move {
                if i >= LIVE_EVENTS.len() {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from_static(LIVE_EVENTS[i].as_bytes()))),
                    i + 1,
                ))
            });
            let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/event-stream"),
            );
            r
        }
        "/ws/chat" => {
            let key = req.headers().get("sec-websocket-key").cloned();
            let Some(key) = key else {
                return Ok(full(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "websocket only\n",
                ));
            };
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(io) = upgrade.await else { return };
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(io),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    None,
                )
                .await;
                use tokio_tungstenite::tungstenite::Message;
                let _ = ws
                    .send(Message::text(
                        "agent: hello! can you confirm your card number?",
                    ))
                    .await;
                let _ = ws
                    .send(Message::text(
                        "customer: sure, 4111 1111 1111 1111, CVV 123",
                    ))
                    .await;
                while let Some(Ok(m)) = ws.next().await {
                    match m {
                        Message::Text(t) => {
                            let _ = ws
                                .send(Message::text(format!("echo: {}", t.as_str())))
                                .await;
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
            });
            let mut r = Response::new(Full::new(Bytes::new()).boxed_unsync());
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let h = r.headers_mut();
            h.insert(
                header::CONNECTION,
                header::HeaderValue::from_static("upgrade"),
            );
            h.insert(
                header::UPGRADE,
                header::HeaderValue::from_static("websocket"),
            );
            if let Ok(v) = header::HeaderValue::from_str(&accept) {
                h.insert("sec-websocket-accept", v);
            }
            r
        }
        _ => full(
            StatusCode::NOT_FOUND,
            "application/json",
            "{\"error\":\"not found\"}\n",
        ),
    })
}

/// Starts the sample CRM on `127.0.0.1:0`; returns its address.
pub async fn start_crm() -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(
                        TokioIo::new(s),
                        hyper::service::service_fn(crm),
                    )
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Runs the demo; returns the exit code.
pub fn run() -> i32 {
    crate::cli::init_logging(false, "warn");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scrim demo: {e}");
            return 1;
        }
    };
    rt.block_on(async {
        let crm = match start_crm().await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("scrim demo: cannot start the sample CRM: {e}");
                return 1;
            }
        };
        let ov = Overrides {
            listen: Some("127.0.0.1:0".into()),
            upstream: Some(format!("http://{crm}")),
            admin: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        let config = match Config::load(None, &ov) {
            // The demo prints its own instructions on stdout; no audit lines.
            Ok(c) => Config {
                audit: crate::config::AuditOutput::Off,
                ..c
            },
            Err(e) => {
                eprintln!("scrim demo: {}", e.join("\n"));
                return 1;
            }
        };
        let running = match crate::service::start(config, None, ov).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("scrim demo: {e}");
                return 1;
            }
        };
        let p = running.proxy_addr;
        let a = running
            .admin_addr
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!(
            "scrim demo: a sample CRM on http://{crm} and scrim in front of it on http://{p}\n"
        );
        println!("Compare raw (CRM) and redacted (through scrim):\n");
        for (what, path) in [
            ("customer record (JSON)", "/api/customers/42"),
            ("gzip-compressed record", "/api/customers/42.gz"),
            ("chat transcript (text)", "/api/transcripts/7"),
        ] {
            println!("  {what}:");
            println!("    raw:      curl -s --compressed http://{crm}{path}");
            println!("    redacted: curl -s --compressed http://{p}{path}\n");
        }
        println!("  live chat (server-sent events, one event every 0.7 s):");
        println!("    curl -sN http://{p}/api/live\n");
        println!("  WebSocket chat (any WebSocket client), e.g. with websocat:");
        println!("    websocat ws://{p}/ws/chat\n");
        println!("  metrics and health:");
        println!("    curl -s http://{a}/metrics | grep scrim_redactions_total");
        println!("    curl -s http://{a}/readyz\n");
        println!("Press Ctrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
        running.shutdown();
        running.wait().await;
        0
    })
}
