//! WebSocket proxying: the upgrade is forwarded upstream (without
//! `permessage-deflate`, so frames stay scannable) and honoured only after
//! the upstream's `101`. Then both sides are relayed message by message:
//! text messages from upstream (and from the client when the route redacts
//! requests) are redacted whole (fragmented messages are reassembled first);
//! a message over the size limit closes both sides with 1009.

use super::{error_response, ProxyBody, Shared};
use crate::config::{Mode, Route, Unscannable};
use crate::{Format, Matcher};
use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// Whether `req` asks for a WebSocket upgrade.
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

/// Redacts one text payload; JSON-looking messages use the JSON scanner.
fn redact_text(m: &Arc<Matcher>, text: &str) -> Result<(String, Vec<crate::Redaction>), ()> {
    let t = text.trim_start();
    let format = if t.starts_with('{') || t.starts_with('[') {
        Format::Json
    } else {
        Format::Text
    };
    let (out, events) = crate::redact_all(m, format, text.as_bytes()).map_err(|_| ())?;
    String::from_utf8(out).map(|s| (s, events)).map_err(|_| ())
}

/// Proxies a WebSocket upgrade request.
pub(super) async fn proxy(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    route: Arc<Route>,
    h: super::Handled,
    peer: &super::Peer,
) -> Response<ProxyBody> {
    let rid = h.request_id.clone();
    let cfg = shared.config();
    let Some(uri) = super::upstream_uri(&cfg.upstream, req.uri()) else {
        return error_response(StatusCode::BAD_REQUEST, "bad_request", &rid);
    };
    // Forwarded like any request: hop-by-hop headers dropped (the upgrade
    // itself is re-added), X-Forwarded-* and the request id set once.
    let mut headers = req.headers().clone();
    let host = headers.get(header::HOST).cloned();
    // As for plain requests (the upstream may answer without upgrading).
    super::upstream_headers(&mut headers, &cfg, peer, host, h.rid_header.as_ref());
    headers.remove("sec-websocket-extensions");
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let mut up = Request::new(super::empty());
    *up.method_mut() = req.method().clone();
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;
    let mut resp = match tokio::time::timeout(cfg.response_timeout, shared.client.request(up)).await
    {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => {
            shared
                .metrics
                .upstream_errors
                .with_label_values(&["connect"])
                .inc();
            return error_response(StatusCode::BAD_GATEWAY, "bad_gateway", &rid);
        }
        Err(_) => {
            shared
                .metrics
                .upstream_errors
                .with_label_values(&["timeout"])
                .inc();
            return error_response(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", &rid);
        }
    };
    let matcher = shared.matcher();
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The upstream refused the upgrade (or ignored it): its answer is a
        // plain response and gets exactly the plain-response treatment.
        return super::respond(&shared, &cfg, &route, &h, matcher, false, resp);
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut headers = resp.headers().clone();
    super::strip_hop_by_hop(&mut headers);
    headers.remove("sec-websocket-extensions");
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if route.mode != Mode::Pass {
        super::redact_headers(&matcher, &route, &mut headers);
    }
    if let Some(v) = &h.rid_header {
        headers.insert(&super::X_REQUEST_ID, v.clone());
    }
    let mut out = Response::new(super::empty());
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *out.headers_mut() = headers;
    let limit = cfg.limits.max_websocket_message_bytes;
    let rid2 = rid.clone();
    tokio::spawn(async move {
        let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) else {
            return;
        };
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let client =
            WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, Some(cfg)).await;
        let upstream =
            WebSocketStream::from_raw_socket(TokioIo::new(upstream), Role::Client, Some(cfg)).await;
        relay(shared, route, rid2, matcher, client, upstream).await;
    });
    out
}

/// Redacts a control-frame payload (at most 125 bytes): masked text, or
/// nothing when it cannot be scanned or does not fit.
fn control_text(m: &Arc<Matcher>, payload: &[u8]) -> String {
    match crate::redact_all(m, Format::Text, payload) {
        Ok((out, _)) if out.len() <= 123 => String::from_utf8(out).unwrap_or_default(),
        _ => String::new(),
    }
}

fn close(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn relay<C, U>(
    shared: Arc<Shared>,
    route: Arc<Route>,
    rid: Arc<str>,
    m: Arc<Matcher>,
    mut client: WebSocketStream<C>,
    mut upstream: WebSocketStream<U>,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let count = |dir: &str, outcome: &str| {
        shared
            .metrics
            .ws_messages
            .with_label_values(&[&route.name, dir, outcome])
            .inc();
    };
    let observe = route.mode == Mode::Observe;
    let pass = route.mode == Mode::Pass;
    loop {
        tokio::select! {
            msg = upstream.next() => {
                let msg = match msg {
                    None => { let _ = client.close(None).await; return; }
                    Some(Err(WsError::Capacity(_))) => {
                        count("response", "too_large");
                        let _ = client.send(close(CloseCode::Size, "message too large")).await;
                        let _ = upstream.send(close(CloseCode::Size, "message too large")).await;
                        return;
                    }
                    Some(Err(_)) => {
                        count("response", "error");
                        let _ = client.send(close(CloseCode::Error, "upstream error")).await;
                        return;
                    }
                    Some(Ok(msg)) => msg,
                };
                if pass {
                    // A pass-through route relays messages unscanned.
                    let closing = matches!(msg, Message::Close(_));
                    if matches!(msg, Message::Text(_) | Message::Binary(_)) {
                        count("response", "passed");
                    }
                    if client.send(msg).await.is_err() || closing { return; }
                    continue;
                }
                let fwd = match msg {
                    Message::Text(t) => match redact_text(&m, t.as_str()) {
                        Ok((out, ev)) => {
                            if !count_redactions(&shared, &route, &rid, &m, "response", &ev) {
                                let _ = client.send(close(CloseCode::Error, "audit unavailable")).await;
                                return;
                            }
                            count("response", if ev.is_empty() { "clean" } else { "redacted" });
                            if observe { Message::Text(t) } else { Message::text(out) }
                        }
                        Err(()) => {
                            count("response", "error");
                            let _ = client.send(close(CloseCode::Error, "cannot scan message")).await;
                            return;
                        }
                    },
                    Message::Binary(b) => match route.unscannable {
                        Unscannable::Pass => { count("response", "binary_passed"); Message::Binary(b) }
                        Unscannable::Block => {
                            count("response", "binary_blocked");
                            let _ = client.send(close(CloseCode::Unsupported, "binary messages are not allowed")).await;
                            let _ = upstream.send(close(CloseCode::Unsupported, "binary messages are not allowed")).await;
                            return;
                        }
                        Unscannable::Text => match crate::redact_all(&m, Format::Text, &b) {
                            Ok((out, ev)) => {
                                if !count_redactions(&shared, &route, &rid, &m, "response", &ev) {
                                let _ = client.send(close(CloseCode::Error, "audit unavailable")).await;
                                return;
                            }
                                count("response", "binary_scanned");
                                if observe { Message::Binary(b) } else { Message::Binary(out.into()) }
                            }
                            Err(_) => return,
                        },
                    },
                    Message::Close(f) => {
                        let f = f.map(|f| CloseFrame { code: f.code, reason: control_text(&m, f.reason.as_bytes()).into() });
                        let _ = client.send(Message::Close(f)).await;
                        return;
                    }
                    // Control payloads are text a client may show too.
                    Message::Ping(p) => Message::Ping(control_text(&m, &p).into_bytes().into()),
                    Message::Pong(p) => Message::Pong(control_text(&m, &p).into_bytes().into()),
                    other => other,
                };
                if client.send(fwd).await.is_err() { return; }
            }
            msg = client.next() => {
                let msg = match msg {
                    None => { let _ = upstream.close(None).await; return; }
                    Some(Err(WsError::Capacity(_))) => {
                        count("request", "too_large");
                        let _ = client.send(close(CloseCode::Size, "message too large")).await;
                        let _ = upstream.send(close(CloseCode::Size, "message too large")).await;
                        return;
                    }
                    Some(Err(_)) => { let _ = upstream.close(None).await; return; }
                    Some(Ok(msg)) => msg,
                };
                let fwd = match msg {
                    Message::Text(t) if route.redact_requests && !observe => match redact_text(&m, t.as_str()) {
                        Ok((out, ev)) => {
                            if !count_redactions(&shared, &route, &rid, &m, "request", &ev) {
                                let _ = client.send(close(CloseCode::Error, "audit unavailable")).await;
                                return;
                            }
                            count("request", if ev.is_empty() { "clean" } else { "redacted" });
                            Message::text(out)
                        }
                        Err(()) => return,
                    },
                    Message::Close(f) => { let _ = upstream.send(Message::Close(f)).await; return; }
                    other => other,
                };
                if upstream.send(fwd).await.is_err() { return; }
            }
        }
    }
}

/// Counts and audits one message's redactions (offsets are within the
/// message). Returns false when an audit record was dropped and the config
/// says to fail closed: the caller then closes the socket.
fn count_redactions(
    shared: &Shared,
    route: &Route,
    rid: &str,
    m: &Matcher,
    direction: &'static str,
    events: &[crate::Redaction],
) -> bool {
    let mut kept = true;
    let mut per_rule: std::collections::BTreeMap<crate::RuleRef, Vec<[u64; 2]>> =
        Default::default();
    for e in events {
        per_rule.entry(e.rule).or_default().push([e.start, e.end]);
    }
    for (rule, offsets) in per_rule {
        let (id, category, _) = m.describe(rule);
        shared
            .metrics
            .redactions
            .with_label_values(&[&route.name, direction, id, category])
            .inc_by(offsets.len() as u64);
        kept &= shared.audit.send(crate::audit::Record::redaction(
            rid,
            &route.name,
            direction,
            m,
            rule,
            offsets,
            Vec::new(),
            route.mode == Mode::Observe,
        ));
    }
    kept
}
