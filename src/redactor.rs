//! The per-stream redactor: one entry point for every body format.
//!
//! A [`Redactor`] is created per response (or message stream) from a shared
//! `Arc<Matcher>`. It takes chunks of any size, split anywhere, and its
//! total output equals redacting the whole input at once. A stream ends in
//! one of two ways: [`Redactor::finish`] scans and releases what is held,
//! [`Redactor::abort`] drops it unreleased (upstream failed mid-body).

use crate::json::{shift_offsets, JsonScanner};
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
    /// Text that may be JSON ([`Redactor::sniffing`]): the leading
    /// whitespace read so far, held until the first other byte decides.
    Sniff(Vec<u8>),
    Text(TextScanner),
    Json(Box<JsonScanner>),
    /// SSE: text, with a segment end after every blank line, so each event
    /// is released when it is complete; an event whose first `data:` line
    /// holds JSON is scanned as JSON from that line to its end.
    Sse(Sse),
}

/// Most leading whitespace [`Redactor::sniffing`] holds before it decides
/// the body is text.
pub const SNIFF_LIMIT: usize = 4096;

/// Per-stream SSE state.
///
/// Each event is scanned as text (one segment per event) until its first
/// `data:` line. If that line's value starts with `{` or `[`, the text so
/// far is ended and the event's data lines go to a JSON scanner (its
/// framing passing as whitespace, see [`JsonScanner::restart_sse`]), so
/// field rules mask by key in live-chat JSON events too. A comment or
/// other field line between data lines is scanned as text on its own and
/// the JSON goes on; if the data turns out not to be JSON, the JSON
/// scanner scans the rest of the event as text. Redaction offsets are
/// stream offsets in both cases.
struct Sse {
    text: TextScanner,
    json: Option<Box<JsonScanner>>,
    /// Line terminators (event ends).
    line: LineState,
    /// The current event's data goes to `json`.
    in_json: bool,
    /// The current event has had no `data:` line yet: each line start is
    /// probed for `data:` + JSON.
    undecided: bool,
    /// Probing the current line: its first bytes are held in `pre`.
    probing: bool,
    pre: [u8; PROBE_MAX],
    pre_len: usize,
    /// Bytes handed to either scanner so far (a stream offset).
    pos: u64,
    /// Stream offset minus the current scanner's offset: added to the
    /// offsets of its redactions.
    shift: u64,
}

/// What the first bytes of a line say about the event's data.
enum Probe {
    /// Could still be `data:` + JSON.
    More,
    /// A `data:` line whose value starts a JSON object or array.
    Json,
    /// A `data:` line with other data: the event is text.
    Text,
    /// Another field or a comment: probe again at the next line.
    Other,
}

/// Most bytes of a line's start held by the SSE probe: `data:` and the
/// spaces or tabs after it.
const PROBE_MAX: usize = 16;

/// `data:`, then spaces or tabs (the client strips one space; a JSON reader
/// skips the rest), then `{` or `[`.
fn probe(pre: &[u8]) -> Probe {
    const DATA: &[u8] = b"data:";
    let n = pre.len().min(DATA.len());
    if pre[..n] != DATA[..n] {
        return Probe::Other;
    }
    let Some(rest) = pre.get(DATA.len()..) else {
        return Probe::More;
    };
    match rest.iter().position(|&b| b != b' ' && b != b'\t') {
        None if pre.len() < PROBE_MAX => Probe::More,
        Some(i) if matches!(rest[i], b'{' | b'[') => Probe::Json,
        _ => Probe::Text,
    }
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
            Format::Sse => Inner::Sse(Sse {
                text: TextScanner::new(&matcher),
                json: None,
                line: LineState::InLine,
                in_json: false,
                undecided: true,
                probing: true,
                pre: [0; PROBE_MAX],
                pre_len: 0,
                pos: 0,
                shift: 0,
            }),
        };
        Redactor {
            matcher,
            format,
            inner,
            done: false,
        }
    }

    /// A redactor for a body labelled as plain text (or not labelled) that
    /// may be JSON: if its first byte other than whitespace is `{` or `[`,
    /// it gets the JSON scanner (a sequence of documents allowed), so field
    /// rules apply to JSON served as `text/plain`; otherwise, or when over
    /// (after a byte-order mark and whitespace; past [`SNIFF_LIMIT`] bytes of
    /// them, JSON), the text scanner.
    /// Data that turns out not to be JSON is scanned as text from there on,
    /// as in any JSON body.
    pub fn sniffing(matcher: Arc<Matcher>) -> Redactor {
        Redactor {
            matcher,
            format: Format::Text,
            inner: Inner::Sniff(Vec::new()),
            done: false,
        }
    }

    /// Whether this stream is being scanned as JSON after
    /// [`Redactor::sniffing`] found it starts like JSON.
    pub fn sniffed_json(&self) -> bool {
        self.format == Format::Text && matches!(self.inner, Inner::Json(_))
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
            Inner::Sniff(ws) => ws.len(),
            Inner::Text(t) => t.held(),
            Inner::Sse(e) => e.held(),
            Inner::Json(j) => j.held(),
        }
    }

    /// Whether a JSON body turned out not to be JSON (the rest was scanned
    /// as text).
    pub fn malformed(&self) -> bool {
        match &self.inner {
            // Sniffed text that stops being JSON is text, as labelled.
            Inner::Json(j) => j.malformed() && self.format != Format::Text,
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
            Inner::Sniff(ws) => {
                // Whitespace, and a UTF-8 byte-order mark at the very start
                // (a JSON reader skips both).
                const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
                let held = ws.len();
                let first = chunk.iter().enumerate().position(|(i, &b)| {
                    let at = held + i;
                    !(matches!(b, b' ' | b'\t' | b'\n' | b'\r') || (at < 3 && b == BOM[at]))
                });
                if first.is_none() && held + chunk.len() <= SNIFF_LIMIT {
                    ws.extend_from_slice(chunk);
                    return Ok(());
                }
                // Past the limit, JSON: it turns to text at the first byte
                // that is not JSON, so text loses nothing.
                let json = first.is_none_or(|i| matches!(chunk[i], b'{' | b'['));
                let held = std::mem::take(ws);
                self.inner = if json {
                    Inner::Json(Box::new(JsonScanner::new(m, true)))
                } else {
                    Inner::Text(TextScanner::new(m))
                };
                self.feed(&held, out, events)?;
                self.feed(chunk, out, events)
            }
            Inner::Text(t) => t.feed(m, chunk, out, events),
            Inner::Json(j) => j.feed(m, chunk, out, events),
            Inner::Sse(e) => e.feed(m, chunk, out, events),
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
            // Only whitespace: nothing a rule can match.
            Inner::Sniff(ws) => {
                out.append(ws);
                Ok(())
            }
            Inner::Text(t) => t.end_segment(m, out, events),
            Inner::Sse(e) => e.finish(m, out, events),
            Inner::Json(j) => j.finish(m, out, events),
        }
    }

    /// Ends the stream abnormally: held bytes are dropped, never released.
    pub fn abort(&mut self) {
        self.done = true;
        match &mut self.inner {
            Inner::Sniff(ws) => ws.clear(),
            Inner::Text(t) => t.abort(),
            Inner::Sse(e) => {
                e.text.abort();
                e.pre_len = 0;
                if let Some(j) = &mut e.json {
                    j.abort();
                }
            }
            Inner::Json(j) => j.abort(),
        }
    }
}

impl Sse {
    fn held(&self) -> usize {
        let json = match (&self.json, self.in_json) {
            (Some(j), true) => j.held(),
            _ => 0,
        };
        self.text.held() + self.pre_len + json
    }

    /// Shifts the offsets of `events[from..]` from the current scanner's
    /// to the stream's.
    fn shift(&self, events: &mut [Redaction], from: usize) {
        shift_offsets(&mut events[from..], self.shift);
    }

    /// Hands `bytes` to the current scanner.
    fn scan(
        &mut self,
        m: &Matcher,
        bytes: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let n = events.len();
        match (&mut self.json, self.in_json) {
            (Some(j), true) => j.feed(m, bytes, out, events)?,
            _ => self.text.feed(m, bytes, out, events)?,
        }
        self.shift(events, n);
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Hands the held first bytes of a line to the text scanner.
    fn release_pre(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let (pre, n) = (self.pre, self.pre_len);
        self.pre_len = 0;
        self.scan(m, &pre[..n], out, events)
    }

    /// Ends the current event's scanning: everything held is released.
    fn end_event(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        if self.pre_len > 0 {
            self.release_pre(m, out, events)?;
        }
        let n = events.len();
        match (&mut self.json, self.in_json) {
            (Some(j), true) => j.finish(m, out, events)?,
            _ => self.text.end_segment(m, out, events)?,
        }
        self.shift(events, n);
        Ok(())
    }

    /// Starts scanning the event as text (after a blank line).
    fn begin_text_event(&mut self) {
        self.in_json = false;
        self.undecided = true;
        self.probing = true;
        self.text.begin_segment(b"");
        self.shift = self.pos.wrapping_sub(self.text.offset());
    }

    fn feed(
        &mut self,
        m: &Matcher,
        chunk: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.probing && !matches!(rest[0], b'\n' | b'\r') {
                let b = rest[0];
                rest = &rest[1..];
                self.line.step(b);
                self.pre[self.pre_len] = b;
                self.pre_len += 1;
                match probe(&self.pre[..self.pre_len]) {
                    Probe::More => {}
                    Probe::Json => {
                        // The text before this line is complete.
                        let pre = self.pre_len;
                        self.pre_len = 0;
                        let n = events.len();
                        self.text.end_segment(m, out, events)?;
                        self.shift(events, n);
                        let j = self
                            .json
                            .get_or_insert_with(|| Box::new(JsonScanner::new(m, true)));
                        j.restart_sse(m);
                        self.shift = self.pos.wrapping_sub(j.offset());
                        self.in_json = true;
                        self.undecided = false;
                        self.probing = false;
                        let p = self.pre;
                        self.scan(m, &p[..pre], out, events)?;
                    }
                    Probe::Text => {
                        self.undecided = false;
                        self.probing = false;
                        self.release_pre(m, out, events)?;
                    }
                    Probe::Other => {
                        self.probing = false;
                        self.release_pre(m, out, events)?;
                    }
                }
                continue;
            }
            if self.pre_len > 0 {
                // A line break cut the probe short.
                self.release_pre(m, out, events)?;
            }
            self.probing = false;
            // Up to the end of the event, or of the line while the event is
            // undecided (the next line is probed).
            let mut cut = None;
            let mut line_end = None;
            let mut i = 0;
            while i < rest.len() {
                let b = rest[i];
                if self.line == LineState::InLine && b != b'\n' && b != b'\r' {
                    // Jump to the next line terminator.
                    match memchr::memchr2(b'\n', b'\r', &rest[i..]) {
                        Some(p) => i += p,
                        None => i = rest.len(),
                    }
                    continue;
                }
                i += 1;
                if self.line.step(b) {
                    cut = Some(i);
                    break;
                }
                if self.undecided && !self.in_json {
                    // A line terminator: probe what follows it (a `\n`
                    // completing `\r\n` is read by the general path).
                    line_end = Some(i);
                    break;
                }
            }
            match (cut, line_end) {
                (Some(c), _) => {
                    self.scan(m, &rest[..c], out, events)?;
                    self.end_event(m, out, events)?;
                    self.begin_text_event();
                    rest = &rest[c..];
                }
                (None, Some(e)) => {
                    self.scan(m, &rest[..e], out, events)?;
                    self.probing = true;
                    rest = &rest[e..];
                }
                (None, None) => {
                    self.scan(m, rest, out, events)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    fn finish(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        self.end_event(m, out, events)
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
