//! A body wrapped frame by frame: decoded if compressed, fed through the
//! redactor, and released as the engine allows. Never buffered whole.
//!
//! Failures fail closed: an upstream error, a decode error, a limit or an
//! engine error drops what the engine held back and ends the body with an
//! error, which hyper turns into an aborted HTTP/1.1 response (connection
//! closed without the final chunk) or an HTTP/2 stream reset. Trailers are
//! dropped.

use super::decode::Decoder;
use super::StreamCtx;
use crate::audit::Record;
use crate::{Redaction, Redactor};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// Boxed error type of proxied bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a body was cut off.
#[derive(Debug, thiserror::Error)]
#[error("response aborted: {0}")]
pub struct Aborted(pub &'static str);

/// What happens to the bytes of a body.
pub enum Treatment {
    /// Redact (or, in observe mode, count) with this redactor.
    Scan(Box<Redactor>),
    /// Pass untouched; the reason is the unscanned-bytes metric label.
    Pass(&'static str),
}

/// The wrapped body.
pub struct RedactBody<B> {
    inner: B,
    decoder: Option<Decoder>,
    treatment: Treatment,
    ctx: Arc<StreamCtx>,
    decoded: Vec<u8>,
    /// Observe mode: the redacted output, counted and thrown away.
    sink: Vec<u8>,
    out: Vec<u8>,
    events: Vec<Redaction>,
    state: State,
    /// Bytes seen so far, to check a BOM at the start.
    seen: u64,
    /// The first (up to 4) bytes seen.
    head: [u8; 4],
    _inflight: InflightGuard,
}

#[derive(PartialEq, Eq)]
enum State {
    Streaming,
    Done,
}

struct InflightGuard(crate::metrics::Metrics, Arc<StreamCtx>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.dec();
        self.1.finish_request();
    }
}

impl<B> RedactBody<B> {
    /// Wraps `inner`.
    pub fn new(
        inner: B,
        decoder: Option<Decoder>,
        treatment: Treatment,
        ctx: Arc<StreamCtx>,
    ) -> Self {
        ctx.metrics.inflight.inc();
        let guard = InflightGuard(ctx.metrics.clone(), ctx.clone());
        RedactBody {
            inner,
            decoder,
            treatment,
            ctx,
            // Buffers grow to the frames that pass through; an idle stream
            // (SSE, long poll) holds none.
            decoded: Vec::new(),
            sink: Vec::new(),
            out: Vec::new(),
            events: Vec::new(),
            state: State::Streaming,
            seen: 0,
            head: [0; 4],
            _inflight: guard,
        }
    }

    fn fail(&mut self, reason: &'static str) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Treatment::Scan(r) = &mut self.treatment {
            // Held-back bytes (an open digit run) are dropped, never sent.
            r.abort();
        }
        self.state = State::Done;
        self.ctx.aborted(reason);
        Poll::Ready(Some(Err(Box::new(Aborted(reason)))))
    }

    fn record_events(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let ctx = &self.ctx;
        let mut per_rule: BTreeMap<crate::RuleRef, (Vec<[u64; 2]>, Vec<String>)> = BTreeMap::new();
        for e in self.events.drain(..) {
            let entry = per_rule.entry(e.rule).or_default();
            entry.0.push([e.start, e.end]);
            if let Some(fp) = e.fingerprint {
                entry
                    .1
                    .push(fp.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
        for (rule, (offsets, fingerprints)) in per_rule {
            let (id, category, _) = ctx.matcher.describe(rule);
            ctx.metrics
                .redactions
                .with_label_values(&[&ctx.route.name, ctx.direction, id, category])
                .inc_by(offsets.len() as u64);
            if ctx.audit.enabled() {
                let kept = ctx.audit.send(Record::redaction(
                    &ctx.request_id,
                    &ctx.route.name,
                    ctx.direction,
                    &ctx.matcher,
                    rule,
                    offsets,
                    fingerprints,
                    ctx.observe,
                ));
                if !kept {
                    // The record was dropped and the config says fail closed.
                    ctx.audit_failed
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }

    /// Runs decoded bytes through the treatment into `out`.
    fn process(&mut self, data: &[u8], end: bool) -> Result<(), &'static str> {
        // One allocation per frame, sized to it (masks keep lengths; labels
        // may add a little), instead of growing in steps.
        self.out.reserve(data.len() + 256);
        let bytes: &[u8] = match &mut self.decoder {
            Some(d) => {
                self.decoded.clear();
                if !data.is_empty() {
                    d.push(data, &mut self.decoded).map_err(decode_reason)?;
                }
                if end {
                    d.finish(&mut self.decoded).map_err(decode_reason)?;
                }
                &self.decoded
            }
            None => data,
        };
        if self.seen < 4 && !bytes.is_empty() && matches!(self.treatment, Treatment::Scan(_)) {
            // A UTF-16/32 body cannot be scanned as bytes: fail closed. The
            // first bytes are collected across chunks (a BOM may be split).
            let have = self.seen as usize;
            let take = (4 - have).min(bytes.len());
            self.head[have..have + take].copy_from_slice(&bytes[..take]);
            let head = &self.head[..have + take];
            let bom = |p: &[u8]| head.len() >= p.len() && head.starts_with(p);
            if bom(&[0xFF, 0xFE]) || bom(&[0xFE, 0xFF]) || bom(&[0, 0, 0xFE, 0xFF]) {
                return Err("charset");
            }
        }
        self.seen += bytes.len() as u64;
        match &mut self.treatment {
            Treatment::Pass(reason) => {
                self.ctx
                    .stats
                    .add_unscanned(&self.ctx.metrics, reason, bytes.len() as u64);
                self.out.extend_from_slice(bytes);
            }
            Treatment::Scan(r) => {
                self.ctx
                    .stats
                    .add_scanned(&self.ctx.metrics, r.format(), bytes.len() as u64);
                if self.ctx.observe {
                    // Observe: count what would be redacted, send the body
                    // as it is.
                    self.sink.clear();
                    r.feed(bytes, &mut self.sink, &mut self.events)
                        .map_err(|_| "engine_error")?;
                    if end {
                        r.finish(&mut self.sink, &mut self.events)
                            .map_err(|_| "engine_error")?;
                    }
                    self.out.extend_from_slice(bytes);
                    self.ctx
                        .stats
                        .add_unscanned(&self.ctx.metrics, "observe", bytes.len() as u64);
                } else {
                    r.feed(bytes, &mut self.out, &mut self.events)
                        .map_err(|_| "engine_error")?;
                    if end {
                        r.finish(&mut self.out, &mut self.events)
                            .map_err(|_| "engine_error")?;
                    }
                }
                if r.malformed() && end {
                    self.ctx
                        .metrics
                        .malformed
                        .with_label_values(&[&self.ctx.route.name])
                        .inc();
                }
            }
        }
        self.record_events();
        if !self.ctx.audit_ok() {
            return Err("audit_overflow");
        }
        Ok(())
    }
}

fn decode_reason(e: super::decode::DecodeError) -> &'static str {
    use super::decode::DecodeError as D;
    match e {
        D::TooLarge | D::Ratio => "limit",
        D::Unsupported => "undecodable_encoding",
        D::Corrupt | D::Truncated => "corrupt_encoding",
    }
}

impl<B> Body for RedactBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.state == State::Done {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        // Trailers are dropped: they could carry values.
                        continue;
                    };
                    if this.decoder.is_none() {
                        if let Treatment::Pass(reason) = this.treatment {
                            // Nothing to change: hand the frame on as it
                            // is, without a copy.
                            this.ctx.stats.add_unscanned(
                                &this.ctx.metrics,
                                reason,
                                data.len() as u64,
                            );
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                    }
                    if let Err(reason) = this.process(&data, false) {
                        return this.fail(reason);
                    }
                    if !this.out.is_empty() {
                        let out = Bytes::from(std::mem::take(&mut this.out));
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Some(Err(e)) => {
                    // A request body over `max_request_body_bytes` is the
                    // client's fault; `handle` answers it with 413.
                    let e: BoxError = e.into();
                    if e.is::<http_body_util::LengthLimitError>() {
                        return this.fail("limit");
                    }
                    return this.fail("upstream_error");
                }
                None => {
                    if let Err(reason) = this.process(&[], true) {
                        return this.fail(reason);
                    }
                    this.state = State::Done;
                    if !this.out.is_empty() {
                        let out = Bytes::from(std::mem::take(&mut this.out));
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
