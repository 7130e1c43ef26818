//! The audit log: one JSON line per event (redactions in a body chunk, a
//! blocked or aborted response), never a value. Records go through a bounded
//! queue to a writer thread, so the proxy's hot path never waits on disk; a
//! full queue drops the record and counts it (or, with `fail_closed`, makes
//! the caller fail the response).

use crate::metrics::Metrics;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Pause of the writer after each batch (at most this many wake-ups per
/// second: 100).
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// Writes records until every sender is gone, or until a write fails.
/// `pending` counts the records written since the last successful flush
/// (lost if the next flush fails).
fn write_loop(
    rx: &mut mpsc::Receiver<Msg>,
    out: Box<dyn Write + Send>,
    pending: &mut u64,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut line = Vec::with_capacity(512);
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(rec) => {
                    line.clear();
                    if serde_json::to_writer(&mut line, &rec).is_ok() {
                        line.push(b'\n');
                        *pending += 1;
                        out.write_all(&line)?;
                    }
                }
                Msg::Flush(ack) => {
                    out.flush()?;
                    *pending = 0;
                    let _ = ack.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        out.flush()?;
        *pending = 0;
        std::thread::sleep(BATCH_PAUSE);
    }
    out.flush()
}

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Unix time, seconds with milliseconds.
    pub ts: f64,
    /// `redaction`, `blocked` or `aborted`.
    pub event: &'static str,
    /// X-Request-Id of the request.
    pub request_id: String,
    /// Route name.
    pub route: String,
    /// `response` or `request`.
    pub direction: &'static str,
    /// Digest of the packs in force.
    pub pack_digest: String,
    /// For redactions: rule id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For redactions: category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For redactions: how many in this record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// For redactions: byte offsets in the body (for JSON: of the token).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offsets: Vec<[u64; 2]>,
    /// Keyed fingerprints (hex) of the values, when enabled.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fingerprints: Vec<String>,
    /// For blocked/aborted: the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Whether the route only observes (the body was not changed).
    pub observe: bool,
}

impl Record {
    /// A `redaction` record: `offsets.len()` values of one rule.
    #[allow(clippy::too_many_arguments)]
    pub fn redaction(
        request_id: &str,
        route: &str,
        direction: &'static str,
        m: &crate::Matcher,
        rule: crate::RuleRef,
        offsets: Vec<[u64; 2]>,
        fingerprints: Vec<String>,
        observe: bool,
    ) -> Record {
        let (id, category, _) = m.describe(rule);
        Record {
            ts: now(),
            event: "redaction",
            request_id: request_id.to_string(),
            route: route.to_string(),
            direction,
            pack_digest: m.digest().to_string(),
            rule: Some(id.to_string()),
            category: Some(category.to_string()),
            count: Some(offsets.len()),
            offsets,
            fingerprints,
            reason: None,
            observe,
        }
    }

    /// A `blocked` or `aborted` record with its reason.
    pub fn outcome(
        event: &'static str,
        request_id: &str,
        route: &str,
        direction: &'static str,
        pack_digest: &str,
        reason: &'static str,
        observe: bool,
    ) -> Record {
        Record {
            ts: now(),
            event,
            request_id: request_id.to_string(),
            route: route.to_string(),
            direction,
            pack_digest: pack_digest.to_string(),
            rule: None,
            category: None,
            count: None,
            offsets: Vec::new(),
            fingerprints: Vec::new(),
            reason: Some(reason),
            observe,
        }
    }
}

/// Current time for records.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

/// What the writer task receives.
// Records are nearly every message; boxing them to shrink the rare flush
// would add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Msg {
    Record(Record),
    /// Flush what was queued before, then acknowledge.
    Flush(oneshot::Sender<()>),
}

/// Handle used by the proxy to send records.
#[derive(Clone, Debug)]
pub struct Audit {
    tx: Option<mpsc::Sender<Msg>>,
    metrics: Metrics,
    fail_closed: bool,
}

/// Where records are written.
#[derive(Debug, Clone)]
pub enum Sink {
    /// Standard output.
    Stdout,
    /// Append to a file.
    File(PathBuf),
}

impl Audit {
    /// An audit log that records nothing.
    pub fn off(metrics: Metrics) -> Audit {
        Audit {
            tx: None,
            metrics,
            fail_closed: false,
        }
    }

    /// Starts the writer thread.
    pub async fn start(
        sink: Sink,
        queue: usize,
        fail_closed: bool,
        metrics: Metrics,
    ) -> std::io::Result<Audit> {
        let out: Box<dyn Write + Send> = match sink {
            Sink::Stdout => Box::new(std::io::stdout()),
            Sink::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)?,
            ),
        };
        Audit::start_with(out, queue, fail_closed, metrics)
    }

    fn start_with(
        out: Box<dyn Write + Send>,
        queue: usize,
        fail_closed: bool,
        metrics: Metrics,
    ) -> std::io::Result<Audit> {
        let (tx, rx) = mpsc::channel::<Msg>(queue);
        // A thread of its own with plain blocking writes: no blocking-pool
        // hand-off per record. After each batch it pauses briefly so that
        // records gather in the queue instead of waking it one by one (a
        // wake-up per response cost more than the response's redaction).
        let m = metrics.clone();
        std::thread::Builder::new()
            .name("scrim-audit".into())
            .spawn(move || {
                let mut rx = rx;
                let mut lost = 0;
                if let Err(e) = write_loop(&mut rx, out, &mut lost) {
                    tracing::error!(error = %e, "audit log write failed; audit records are dropped from now on");
                    // Every record not written is counted: the unflushed
                    // ones, those still queued, and (the queue closed) every
                    // later one, which with `fail_closed` also fails its
                    // response.
                    rx.close();
                    while let Ok(msg) = rx.try_recv() {
                        if let Msg::Record(_) = msg {
                            lost += 1;
                        }
                    }
                    m.audit_dropped.inc_by(lost);
                }
            })?;
        Ok(Audit {
            tx: Some(tx),
            metrics,
            fail_closed,
        })
    }

    /// Queues a record. Returns false when it was dropped and the config
    /// says requests must then fail closed.
    pub fn send(&self, rec: Record) -> bool {
        let Some(tx) = &self.tx else { return true };
        match tx.try_send(Msg::Record(rec)) {
            Ok(()) => true,
            Err(_) => {
                self.metrics.audit_dropped.inc();
                !self.fail_closed
            }
        }
    }

    /// Waits until every record queued before the call is written and
    /// flushed (at shutdown: the process exits right after, and records
    /// still queued would be lost). Returns at once if the writer stopped.
    pub async fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (ack, done) = oneshot::channel();
        if tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Whether records are written at all.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink whose writes fail (a full disk, a closed pipe).
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
    }

    fn record() -> Record {
        Record {
            ts: now(),
            event: "redaction",
            request_id: "r1".into(),
            route: "default".into(),
            direction: "response",
            pack_digest: "d".into(),
            rule: Some("card.pan".into()),
            category: Some("card".into()),
            count: Some(1),
            offsets: vec![[0, 19]],
            fingerprints: Vec::new(),
            reason: None,
            observe: false,
        }
    }

    /// A failing audit sink is never silent: the failure is counted, and
    /// with `fail_closed` every later record makes its response fail.
    #[test]
    fn write_failure_is_counted_and_fails_closed() {
        let metrics = Metrics::new();
        let audit = Audit::start_with(Box::new(Broken), 1000, true, metrics.clone()).unwrap();
        let mut queued = 0;
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while audit.send(record()) {
            queued += 1;
            assert!(std::time::Instant::now() < end, "writer never gave up");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(queued >= 1);
        // Every record queued was lost and counted, and so was the refused
        // one (counted when `send` returned false).
        let want = queued + 1;
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while metrics.audit_dropped.get() < want {
            assert!(std::time::Instant::now() < end, "lost records not counted");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(metrics.audit_dropped.get(), want);
    }
}
