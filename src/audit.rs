//! The audit log: one JSON line per event (redactions in a body chunk, a
//! blocked or aborted response), never a value. Records go through a bounded
//! queue to a writer task, so the proxy's hot path never waits on disk; a
//! full queue drops the record and counts it (or, with `fail_closed`, makes
//! the caller fail the response).

use crate::metrics::Metrics;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

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

    /// Starts the writer task (must be called inside a tokio runtime).
    pub async fn start(
        sink: Sink,
        queue: usize,
        fail_closed: bool,
        metrics: Metrics,
    ) -> std::io::Result<Audit> {
        let (tx, mut rx) = mpsc::channel::<Msg>(queue);
        let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match sink {
            Sink::Stdout => Box::new(tokio::io::stdout()),
            Sink::File(p) => Box::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .await?,
            ),
        };
        tokio::spawn(async move {
            let mut line = Vec::with_capacity(512);
            while let Some(msg) = rx.recv().await {
                let rec = match msg {
                    Msg::Record(rec) => rec,
                    Msg::Flush(ack) => {
                        let _ = out.flush().await;
                        let _ = ack.send(());
                        continue;
                    }
                };
                line.clear();
                if serde_json::to_writer(&mut line, &rec).is_err() {
                    continue;
                }
                line.push(b'\n');
                if out.write_all(&line).await.is_err() {
                    break;
                }
                if rx.is_empty() {
                    let _ = out.flush().await;
                }
            }
            let _ = out.flush().await;
        });
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
