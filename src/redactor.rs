//! The per-stream redactor: one entry point for every body format.
//!
//! A [`Redactor`] is created per response (or message stream) from a shared
//! `Arc<Matcher>`. It takes chunks of any size, split anywhere, and its
//! total output equals redacting the whole input at once. A stream ends in
//! one of two ways: [`Redactor::finish`] scans and releases what is held,
//! [`Redactor::abort`] drops it unreleased (upstream failed mid-body).

use crate::json::JsonScanner;
use crate::matcher::Matcher;
use crate::scan::{Redaction, ScanError, TextScanner};
use std::sync::Arc;

/// Body formats the engine understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Plain text (also HTML, XML, form data).
    Text,
    /// One JSON document.
    Json,
    /// Newline-delimited JSON (JSON Lines).
    Ndjson,
    /// Server-sent events: each event is released as soon as it is complete.
    Sse,
}

impl Format {
    /// Lower-case name, as used on the command line and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Sse => "sse",
        }
    }

    /// Parses a name as written by [`Format::name`].
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "text" => Format::Text,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "sse" => Format::Sse,
            _ => return None,
        })
    }
}

enum Inner {
    Text(TextScanner),
    Json(Box<JsonScanner>),
    /// SSE: text, with a segment end after every blank line, so each event
    /// is released when it is complete. `line` tracks line terminators.
    Sse {
        text: TextScanner,
        line: LineState,
    },
}

/// Where an SSE stream is relative to line terminators (`\r\n`, `\n` or
/// `\r` each end a line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Inside a line with content.
    InLine,
    /// At the start of a line (after `\n`).
    Start,
    /// Right after `\r`: a `\n` here completes the same terminator.
    AfterCr,
}

impl LineState {
    /// Advances over `b`; returns true when `b` ends a blank line (the end
    /// of an event).
    fn step(&mut self, b: u8) -> bool {
        let (next, blank) = match (*self, b) {
            (LineState::AfterCr, b'\n') => (LineState::Start, false),
            (LineState::Start, b'\n') => (LineState::Start, true),
            (LineState::Start | LineState::AfterCr, b'\r') => (LineState::AfterCr, true),
            (LineState::InLine, b'\n') => (LineState::Start, false),
            (LineState::InLine, b'\r') => (LineState::AfterCr, false),
            (_, _) => (LineState::InLine, false),
        };
        *self = next;
        blank
    }
}

/// Per-stream redaction state.
pub struct Redactor {
    matcher: Arc<Matcher>,
    format: Format,
    inner: Inner,
    done: bool,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("held", &self.held())
            .field("done", &self.done)
            .finish()
    }
}

impl Redactor {
    /// A redactor for one stream in `format`.
    pub fn new(matcher: Arc<Matcher>, format: Format) -> Redactor {
        let inner = match format {
            Format::Text => Inner::Text(TextScanner::new(&matcher)),
            Format::Json => Inner::Json(Box::new(JsonScanner::new(&matcher, false))),
            Format::Ndjson => Inner::Json(Box::new(JsonScanner::new(&matcher, true))),
            Format::Sse => Inner::Sse {
                text: TextScanner::new(&matcher),
                line: LineState::InLine,
            },
        };
        Redactor {
            matcher,
            format,
            inner,
            done: false,
        }
    }

    /// The format this stream is scanned in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The rules this stream runs with (kept even if the proxy reloads).
    pub fn matcher(&self) -> &Arc<Matcher> {
        &self.matcher
    }

    /// Bytes currently held back.
    pub fn held(&self) -> usize {
        match &self.inner {
            Inner::Text(t) | Inner::Sse { text: t, .. } => t.held(),
            Inner::Json(j) => j.held(),
        }
    }

    /// Whether a JSON body turned out not to be JSON (the rest was scanned
    /// as text).
    pub fn malformed(&self) -> bool {
        match &self.inner {
            Inner::Json(j) => j.malformed(),
            _ => false,
        }
    }

    /// Feeds a chunk; appends releasable output to `out` and what was
    /// redacted to `events`.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        if self.done {
            return Err(ScanError::Closed);
        }
        let m = &*self.matcher;
        match &mut self.inner {
            Inner::Text(t) => t.feed(m, chunk, out, events),
            Inner::Json(j) => j.feed(m, chunk, out, events),
            Inner::Sse { text, line } => {
                let mut rest = chunk;
                while !rest.is_empty() {
                    let mut cut = None;
                    let mut i = 0;
                    while i < rest.len() {
                        let b = rest[i];
                        if *line == LineState::InLine && b != b'\n' && b != b'\r' {
                            // Jump to the next line terminator.
                            match memchr::memchr2(b'\n', b'\r', &rest[i..]) {
                                Some(p) => i += p,
                                None => i = rest.len(),
                            }
                            continue;
                        }
                        i += 1;
                        if line.step(b) {
                            cut = Some(i);
                            break;
                        }
                    }
                    match cut {
                        Some(c) => {
                            text.feed(m, &rest[..c], out, events)?;
                            text.end_segment(m, out, events)?;
                            text.begin_segment(b"");
                            rest = &rest[c..];
                        }
                        None => {
                            text.feed(m, rest, out, events)?;
                            rest = &[];
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Ends the stream normally: everything held is scanned and released.
    pub fn finish(
        &mut self,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let m = &*self.matcher;
        match &mut self.inner {
            Inner::Text(t) | Inner::Sse { text: t, .. } => t.end_segment(m, out, events),
            Inner::Json(j) => j.finish(m, out, events),
        }
    }

    /// Ends the stream abnormally: held bytes are dropped, never released.
    pub fn abort(&mut self) {
        self.done = true;
        match &mut self.inner {
            Inner::Text(t) | Inner::Sse { text: t, .. } => t.abort(),
            Inner::Json(j) => j.abort(),
        }
    }
}

/// Redacts a whole input at once (tests, `scrim check`, small bodies).
pub fn redact_all(
    matcher: &Arc<Matcher>,
    format: Format,
    input: &[u8],
) -> Result<(Vec<u8>, Vec<Redaction>), ScanError> {
    let mut r = Redactor::new(matcher.clone(), format);
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut events = Vec::new();
    r.feed(input, &mut out, &mut events)?;
    r.finish(&mut out, &mut events)?;
    Ok((out, events))
}
