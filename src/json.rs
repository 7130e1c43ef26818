//! Streaming JSON (and NDJSON) scanner.
//!
//! A byte-at-a-time state machine that never holds the document: it tracks
//! the container stack and the current key, decodes each string value (so a
//! card written with `\u0034` escapes is still seen) and feeds it to the
//! text scanner as one segment, with the key as context. Field rules mask
//! whole values by key, including every scalar inside an object or array
//! under such a key. Numbers are scanned too (exponent forms are expanded),
//! and a masked number becomes a string or `null`. Output is valid JSON of
//! the same shape; escapes are re-written in a canonical form.
//!
//! Anything that is not JSON switches the rest of the document to text
//! scanning ([`JsonScanner::malformed`]), so no byte passes unscanned. In
//! a sequence (NDJSON, sniffed text) the next line that starts with `{` or
//! `[` starts a new document, scanned as JSON again.

use crate::matcher::{Matcher, RuleRef};
use crate::scan::{Redaction, ScanError, TextScanner, WordTrail};

/// Deepest nesting accepted before the stream is treated as malformed.
pub const MAX_DEPTH: usize = 256;
/// Longest number token; longer ones are treated as malformed.
pub const MAX_NUMBER: usize = 256;
/// Longest value kept for a field rule's mask; longer values get a label.
pub const MAX_FIELD_VALUE: usize = 1024;
/// Bytes of preceding strings kept as context for the next value.
const RECENT: usize = 48;
/// Capacity of the buffer of recent bytes: older ones are dropped when it
/// fills (rarely: each drop moves [`RECENT`] bytes).
const RECENT_CAP: usize = 8 * RECENT;
/// Longest key remembered for field rules and context.
const MAX_KEY: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (top level, after `:` or in an array).
    Value,
    /// A key or `}` right after `{`.
    KeyOrEnd,
    /// A key after `,` in an object.
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the container's end after a value.
    CommaOrEnd,
    /// NDJSON: only whitespace, then a newline, after a top-level value.
    LineEnd,
    /// A value or `]` right after `[`.
    ValueOrEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    None,
    /// Inside a string; `key` tells whether it is an object key.
    Str {
        key: bool,
    },
    Number,
    /// Inside `true`/`false`/`null`: the literal and how much matched.
    Literal(&'static [u8], usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Backslash,
    /// `\u` with this many hex digits read and their value.
    Unicode(u8, u32),
    /// A high surrogate waiting for `\` of its low half.
    HighWait(u32),
    /// High surrogate then `\`, waiting for `u`.
    HighBackslash(u32),
    /// Low half being read.
    Low(u32, u8, u32),
}

/// Streaming JSON/NDJSON state.
pub struct JsonScanner {
    text: TextScanner,
    stack: Vec<u8>,
    expect: Expect,
    tok: Tok,
    esc: Esc,
    key: Vec<u8>,
    norm_key: Vec<u8>,
    /// Field lookups of recent keys (see [`KeyMemo`]).
    key_memo: KeyMemo,
    /// Field rule in force and the stack depth where it started.
    forced: Option<(RuleRef, usize)>,
    /// Field rule for the value being read.
    field: Option<RuleRef>,
    /// Name/value pairs (`{"name":"Password","value":"…"}`): the field
    /// rules that open objects' name strings named, with the stack depth
    /// of each object (innermost last). A later key of the value kind in
    /// the same object takes its rule (see [`KeyRole`]).
    pair_fields: Vec<(RuleRef, usize)>,
    /// The next value is under a name key at this depth: a string there
    /// is captured in `pair_name`.
    pair_next: Option<usize>,
    /// The string being read is captured in `pair_name`.
    pair_capture: bool,
    /// The captured name string (decoded, at most [`MAX_KEY`] bytes), and
    /// whether it was longer.
    pair_name: Vec<u8>,
    pair_overflow: bool,
    value: Vec<u8>,
    value_overflow: bool,
    number: Vec<u8>,
    /// A finished number's output, held until the next byte proves the
    /// document is still JSON: if it is not, the raw number (`num_raw`) is
    /// rescanned as text with what follows, so `4111 1111 …` split into
    /// "numbers" is still found.
    num_out: Vec<u8>,
    num_raw: Vec<u8>,
    num_pending: bool,
    /// Field rule that masked the held number, if any.
    num_rule: Option<RuleRef>,
    /// After the stream turned malformed inside a field-rule value: the rule
    /// and whether the value was a string. Bytes up to the value's likely
    /// end are masked by the rule instead of being scanned as text.
    poison: Option<(RuleRef, bool)>,
    key_overflow: bool,
    /// The open string held a `\u` escape of `<`, `>`, `&`, U+2028 or
    /// U+2029: its scanned form keeps those escaped ([`escape_into`]).
    html_escaped: bool,
    /// The current string's text segment is not begun yet: it begins when
    /// its first byte must be scanned, so a string with no trigger at all is
    /// copied through without touching the text scanner. `seg_is_value`
    /// says whether its context is the current key.
    seg_pending: bool,
    /// The current string was scanned whole and its segment has ended:
    /// `close_seg` has nothing left to do.
    seg_ended: bool,
    seg_is_value: bool,
    /// Poison mode inside a string: the previous byte was a backslash.
    poison_esc: bool,
    /// The last [`RECENT`] decoded bytes of the document's preceding keys
    /// and string values, space-separated: the context of the next value,
    /// so `{"label":"Available balance","amount":"$12.00"}` is confirmed.
    recent: Vec<u8>,
    /// Words in everything `recent` was fed, found as it is fed: with it a
    /// whole string's precheck reads the string once, not its context too.
    words: WordTrail,
    /// A trail for one number and its key (numbers are not in `recent`).
    num_words: WordTrail,
    /// After falling back to text: document offset minus text-scanner
    /// offset (wrapping), so text redactions report document offsets.
    fb_shift: u64,
    scratch: Vec<u8>,
    decoded: [u8; 4],
    /// A whole string with escapes, decoded (`decode_string`).
    whole: Vec<u8>,
    /// The current document stopped being JSON: what follows is text.
    broken: bool,
    /// Some document of this stream was malformed (for metrics).
    was_malformed: bool,
    /// A sequence (NDJSON) that turned malformed goes back to JSON at the
    /// next line that starts with `{` or `[`: the fallback text is at a
    /// line start, after spaces or tabs only.
    line_start: bool,
    /// In JSON: the bytes read since the last line break are spaces or
    /// tabs only (as of the end of the previous chunk).
    json_line_start: bool,
    offset: u64,
    token_start: u64,
    allow_sequence: bool,
    top_done: bool,
    /// The document is the data of one SSE event: each line break outside
    /// a string is followed by `data:` and an optional space, read as
    /// whitespace (see [`JsonScanner::restart_sse`]).
    sse: bool,
    /// SSE framing: 0 inside a line, `1 + k` after a line break and `k`
    /// bytes of `data:`, 6 after `data:` (an optional space may follow).
    frame: u8,
    /// SSE: a line of the event that is not a `data:` line (a comment,
    /// `id:`, `event:`) is being scanned as text, alone; JSON resumes after
    /// it.
    side_line: bool,
    /// How deep inside JSON strings this scanner reads (0: the body).
    nesting: u8,
    /// The current string value holds JSON (`holds_json`): its
    /// decoded bytes go to `nested` instead of the text scanner, so field
    /// rules apply inside it (`"payload":"{\"api_key\":\"…\"}"`).
    in_nested: bool,
    /// The scanner for JSON inside strings, kept for reuse.
    nested: Option<Box<JsonScanner>>,
    /// Whitespace a string value began with, held (at most [`MAX_LEAD`]
    /// bytes) until its first other byte says whether it holds JSON
    /// (`" {\"token\":…}"`, pretty-printed payloads); empty otherwise.
    lead: Vec<u8>,
}

/// How many levels of JSON inside JSON strings get JSON rules; deeper ones
/// get text rules.
const MAX_NESTING: u8 = 4;

/// Most whitespace a string value may begin with and still be read as JSON
/// (`lead`); after more, it is text.
const MAX_LEAD: usize = 64;

/// Leading JSON whitespace in `s`.
fn lead_ws(s: &[u8]) -> usize {
    s.iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count()
}

/// Whether a whole decoded string holds JSON: its first byte after at most
/// [`MAX_LEAD`] bytes of whitespace is `{` or `[` (the rule `string_bytes`
/// applies piece by piece).
fn holds_json(s: &[u8]) -> bool {
    let t = lead_ws(s);
    t <= MAX_LEAD && matches!(s.get(t), Some(b'{' | b'['))
}

/// An SSE data line's field name.
const DATA: &[u8; 5] = b"data:";

/// How a byte outside a string reads in an SSE event's data.
enum Frame {
    /// A byte of `data:` (or its space) after a line break: whitespace.
    Part,
    /// After a line break, anything but `data:` or another line break: a
    /// comment or another field, which is not part of the data. Carries how
    /// many bytes of `data:` before it were read as [`Frame::Part`] (held
    /// in `num_raw`): they start that line.
    Broken(u8),
    /// Anything else: JSON.
    Json,
}

impl std::fmt::Debug for JsonScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonScanner")
            .field("depth", &self.stack.len())
            .field("malformed", &self.broken)
            .finish()
    }
}

/// Length of the prefix of `s` with no byte that ends or escapes a JSON
/// string (`"`, `\\`, control bytes). Eight bytes at a time while eight
/// remain (an exact test: no carry crosses a byte), then byte by byte.
#[inline]
fn plain_run(s: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // The top bit of each zero byte of `y`.
    let zero = |y: u64| !(((y & LOW7) + LOW7) | y | LOW7);
    let mut i = 0;
    while let Some(w) = s.get(i..i + 8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let w = u64::from_le_bytes(b);
        // Below 0x20: top bit clear and the low seven bits plus 0x60 below
        // 0x80.
        let ctl = !((w & LOW7) + 0x60 * LO) & !w & HI;
        let t = zero(w ^ (u64::from(b'"') * LO)) | zero(w ^ (u64::from(b'\\') * LO)) | ctl;
        if t != 0 {
            return i + (t.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + s[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(s.len() - i)
}

/// Writes `src` as JSON string content (without quotes). Nothing to do
/// for an empty `src`, which is common (a string copied through, a key
/// whose segment never began): that test is inlined.
///
/// With `html` (the string held one of them `\u`-escaped), `<`, `>`, `&`,
/// U+2028 and U+2029 are written as `\u` escapes too, as Go's
/// `encoding/json` and Rails do by default: upstreams escape them so that
/// JSON placed in an HTML page (`<script>` blocks) cannot close its
/// element, and scrim, which decodes a scanned string, must not undo that
/// (`\u003c/script\u003e` in a chat message would reach the agent console
/// as `</script>`). Without it they stay raw, as the upstream wrote them,
/// which is also what a string copied through unscanned keeps. The JSON
/// value is unchanged either way.
#[inline]
fn escape_into(src: &[u8], html: bool, out: &mut Vec<u8>) {
    if !src.is_empty() {
        escape_nonempty(src, html, out);
    }
}

/// Bytes that `escape_nonempty` writes escaped: what JSON requires, and
/// with `html` also `<`, `>`, `&` and 0xE2 (which starts U+2028/U+2029).
static NEEDS_ESCAPE: [[bool; 256]; 2] = {
    let mut t = [[false; 256]; 2];
    let mut h = 0;
    while h < 2 {
        let mut b = 0;
        while b < 0x20 {
            t[h][b] = true;
            b += 1;
        }
        t[h][b'"' as usize] = true;
        t[h][b'\\' as usize] = true;
        h += 1;
    }
    t[1][b'<' as usize] = true;
    t[1][b'>' as usize] = true;
    t[1][b'&' as usize] = true;
    t[1][0xE2] = true;
    t
};

/// Whether a `\u` escape decoding to `c` marks its string as escaped for
/// HTML (see [`escape_into`]).
fn is_html_escape(c: u32) -> bool {
    matches!(c, 0x3c | 0x3e | 0x26 | 0x2028 | 0x2029)
}

fn escape_nonempty(src: &[u8], html: bool, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let table = &NEEDS_ESCAPE[usize::from(html)];
    let mut start = 0;
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if !table[usize::from(b)] {
            i += 1;
            continue;
        }
        let (esc, n): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            b'<' => (b"\\u003c", 1),
            b'>' => (b"\\u003e", 1),
            b'&' => (b"\\u0026", 1),
            0xE2 => match src.get(i + 1..i + 3) {
                Some([0x80, 0xA8]) => (b"\\u2028", 3),
                Some([0x80, 0xA9]) => (b"\\u2029", 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => (b"", 1),
        };
        out.extend_from_slice(&src[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        i += n;
        start = i;
    }
    out.extend_from_slice(&src[start..]);
}

fn utf8_encode(c: u32, buf: &mut [u8; 4]) -> &[u8] {
    let ch = char::from_u32(c).unwrap_or('\u{FFFD}');
    ch.encode_utf8(buf).as_bytes()
}

/// Decodes the rest of a JSON string, `s` from just after its opening
/// quote, into `dec` (cleared first), when the whole string is in `s` and
/// holds nothing but plain bytes and well-formed escapes: returns the index
/// of its closing quote and whether a `\u` escape decoded to a character
/// that marks it as HTML-escaped (see [`escape_into`]). `None` for anything
/// else (the string goes on past `s`, a raw control byte, a bad escape, a
/// lone high surrogate), which the byte-by-byte path handles.
fn decode_string(s: &[u8], dec: &mut Vec<u8>) -> Option<(usize, bool)> {
    let hex4 = |at: usize| -> Option<u32> {
        let h = s.get(at..at + 4)?;
        h.iter().try_fold(0, |v, &b| Some(v * 16 + hex_val(b)?))
    };
    dec.clear();
    let mut html = false;
    let mut i = 0;
    loop {
        let n = plain_run(&s[i..]);
        dec.extend_from_slice(&s[i..i + n]);
        i += n;
        match s.get(i)? {
            b'"' => return Some((i, html)),
            b'\\' => {}
            _ => return None,
        }
        let e = *s.get(i + 1)?;
        let c = match simple_escape(e) {
            Some(c) => c,
            None if e == b'u' => {
                let mut v = hex4(i + 2)?;
                i += 6;
                if (0xD800..0xDC00).contains(&v) {
                    // Only a high surrogate with its low half here.
                    if s.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(i + 2)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
                // A lone low surrogate becomes U+FFFD, as byte by byte.
                html |= is_html_escape(v);
                let mut buf = [0u8; 4];
                dec.extend_from_slice(utf8_encode(v, &mut buf));
                continue;
            }
            None => return None,
        };
        dec.push(c);
        i += 2;
    }
}

/// The byte a one-character escape `\\b` stands for (`\\u` is not one).
fn simple_escape(b: u8) -> Option<u8> {
    Some(match b {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        _ => return None,
    })
}

fn hex_val(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// Rewrites a JSON number in exponent form as plain decimal digits, so the
/// text rules see the digits a reader would (`4.111111111111111e15` →
/// `4111111111111111`, `0.4111111111111111e16` → `4111111111111111`,
/// `41111111111111110e-1` → `4111111111111111`). Returns false for numbers
/// without an exponent or whose plain form would exceed 64 digits.
fn expand_exponent(tok: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let Some(epos) = tok.iter().position(|&b| b == b'e' || b == b'E') else {
        return false;
    };
    let (mant, exp) = (&tok[..epos], &tok[epos + 1..]);
    let Some(exp) = std::str::from_utf8(exp)
        .ok()
        .and_then(|e| e.trim_start_matches('+').parse::<i64>().ok())
    else {
        return false;
    };
    let (neg, mant) = match mant.first() {
        Some(b'-') => (true, &mant[1..]),
        _ => (false, mant),
    };
    let (int, frac) = match mant.iter().position(|&b| b == b'.') {
        Some(p) => (&mant[..p], &mant[p + 1..]),
        None => (mant, &b""[..]),
    };
    // All mantissa digits, and where the decimal point falls in them.
    let mut digits = [0u8; 64];
    let n = int.len() + frac.len();
    if n > digits.len() {
        return false;
    }
    digits[..int.len()].copy_from_slice(int);
    digits[int.len()..n].copy_from_slice(frac);
    let point = int.len() as i64 + exp;
    if !(-64..=64).contains(&point) {
        return false;
    }
    let digits = &digits[..n];
    // Integer part: digits before the point (zero-padded past the end).
    let mut int_part = [0u8; 128];
    let mut k = 0;
    for i in 0..point.max(0) as usize {
        int_part[k] = *digits.get(i).unwrap_or(&b'0');
        k += 1;
    }
    let int_digits = {
        let s = &int_part[..k];
        let z = s.iter().take_while(|&&b| b == b'0').count();
        &s[z.min(s.len().saturating_sub(1))..]
    };
    // Fractional part: leading zeros when the point is before the digits.
    let mut frac_part = [0u8; 128];
    let mut f = 0;
    for _ in 0..(-point).max(0) {
        frac_part[f] = b'0';
        f += 1;
    }
    for &d in &digits[point.clamp(0, n as i64) as usize..] {
        frac_part[f] = d;
        f += 1;
    }
    let frac_digits = {
        let s = &frac_part[..f];
        let z = s.iter().rev().take_while(|&&b| b == b'0').count();
        &s[..s.len() - z]
    };
    if int_digits.len() + frac_digits.len() > 64 {
        return false;
    }
    if neg {
        out.push(b'-');
    }
    if int_digits.is_empty() {
        out.push(b'0');
    } else {
        out.extend_from_slice(int_digits);
    }
    if !frac_digits.is_empty() {
        out.push(b'.');
        out.extend_from_slice(frac_digits);
    }
    true
}

/// Adds `by` (wrapping) to the offsets of `events`: from one scanner's
/// input offsets to its caller's.
pub(crate) fn shift_offsets(events: &mut [Redaction], by: u64) {
    for e in events {
        e.start = e.start.wrapping_add(by);
        e.end = e.end.wrapping_add(by);
    }
}

impl JsonScanner {
    /// A scanner; `allow_sequence` accepts several top-level values (NDJSON).
    pub fn new(m: &Matcher, allow_sequence: bool) -> JsonScanner {
        JsonScanner {
            text: TextScanner::new(m),
            stack: Vec::with_capacity(32),
            expect: Expect::Value,
            tok: Tok::None,
            esc: Esc::None,
            key: Vec::with_capacity(MAX_KEY),
            norm_key: Vec::with_capacity(64),
            key_memo: KeyMemo::new(),
            forced: None,
            field: None,
            pair_fields: Vec::with_capacity(4),
            pair_next: None,
            pair_capture: false,
            pair_name: Vec::with_capacity(MAX_KEY),
            pair_overflow: false,
            value: Vec::with_capacity(64),
            value_overflow: false,
            number: Vec::with_capacity(64),
            num_out: Vec::with_capacity(64),
            num_raw: Vec::with_capacity(64),
            num_pending: false,
            num_rule: None,
            poison: None,
            key_overflow: false,
            html_escaped: false,
            seg_pending: false,
            seg_ended: false,
            seg_is_value: false,
            poison_esc: false,
            recent: Vec::with_capacity(RECENT_CAP),
            words: WordTrail::new(m),
            num_words: WordTrail::new(m),
            fb_shift: 0,
            scratch: Vec::with_capacity(4096),
            decoded: [0; 4],
            whole: Vec::with_capacity(256),
            broken: false,
            was_malformed: false,
            line_start: false,
            json_line_start: true,
            offset: 0,
            token_start: 0,
            allow_sequence,
            top_done: false,
            sse: false,
            frame: 0,
            side_line: false,
            nesting: 0,
            in_nested: false,
            lead: Vec::new(),
            nested: None,
        }
    }

    /// Makes this scanner (used before or new) read one JSON document held
    /// in a string of a scanner at depth `nesting - 1`.
    /// `context`: the outer string's context (its recent keys and strings),
    /// which the document's values see before their own.
    fn restart_nested(&mut self, m: &Matcher, nesting: u8, context: &[u8]) {
        self.recent.clear();
        self.recent.extend_from_slice(context);
        self.reset_document(m);
        // Several documents, one per line, as NDJSON (a log in a string).
        self.allow_sequence = true;
        self.sse = false;
        self.frame = 0;
        self.side_line = false;
        self.was_malformed = false;
        self.nesting = nesting;
    }

    /// Starts the next SSE event's data as a new document (a sequence of
    /// values, as NDJSON). Input starts at a `data:` line; after each line
    /// break outside a string, `data:` (and an optional space) passes as
    /// whitespace, so the framing is kept and what an SSE client joins is
    /// what was scanned; any other line (a comment, `id:`) is scanned as
    /// text on its own, and is no part of the document.
    /// Offsets keep counting from the previous document. Reuses every
    /// buffer: no allocation per event once warm.
    pub fn restart_sse(&mut self, m: &Matcher) {
        self.recent.clear();
        self.reset_document(m);
        self.allow_sequence = true;
        self.sse = true;
        self.frame = 1;
        self.side_line = false;
    }

    /// Starts a new document at the current offset: every state but the
    /// context in `recent` (its words are found again) and the framing.
    fn reset_document(&mut self, m: &Matcher) {
        self.stack.clear();
        self.expect = Expect::Value;
        self.tok = Tok::None;
        self.esc = Esc::None;
        self.key.clear();
        self.norm_key.clear();
        self.forced = None;
        self.field = None;
        self.pair_fields.clear();
        self.pair_next = None;
        self.pair_capture = false;
        self.pair_name.clear();
        self.pair_overflow = false;
        self.value.clear();
        self.value_overflow = false;
        self.number.clear();
        self.num_out.clear();
        self.num_raw.clear();
        self.num_pending = false;
        self.num_rule = None;
        self.poison = None;
        self.key_overflow = false;
        self.seg_pending = false;
        self.seg_ended = false;
        self.seg_is_value = false;
        self.poison_esc = false;
        let keep = self.recent.len().saturating_sub(RECENT);
        self.recent.drain(..keep);
        self.words.reset(m);
        self.words.feed(m, &self.recent);
        self.num_words.reset(m);
        self.fb_shift = 0;
        self.scratch.clear();
        self.broken = false;
        self.line_start = false;
        self.json_line_start = true;
        self.token_start = self.offset;
        self.top_done = false;
        self.lead.clear();
        self.drop_nested();
    }

    /// Bytes fed so far, over all documents (the next byte's offset).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads `b` (outside a string) against the SSE framing.
    #[inline]
    fn frame_step(&mut self, b: u8) -> Frame {
        if b == b'\n' || b == b'\r' {
            self.frame = 1;
            return Frame::Json;
        }
        match self.frame {
            0 => Frame::Json,
            k @ 1..=5 if DATA[usize::from(k) - 1] == b => {
                self.frame = k + 1;
                Frame::Part
            }
            6 => {
                self.frame = 0;
                if b == b' ' {
                    Frame::Part
                } else {
                    Frame::Json
                }
            }
            k => {
                self.frame = 0;
                Frame::Broken(k - 1)
            }
        }
    }

    /// Whether the input stopped being JSON somewhere (what followed was
    /// scanned as text).
    pub fn malformed(&self) -> bool {
        self.was_malformed
    }

    /// Bytes held back.
    pub fn held(&self) -> usize {
        let literal = match self.tok {
            Tok::Literal(_, n) => n,
            _ => 0,
        };
        let nested = match &self.nested {
            Some(n) if self.in_nested => n.held(),
            _ => 0,
        };
        self.text.held()
            + self.number.len()
            + self.value.len()
            + self.num_raw.len()
            + literal
            + nested
            + self.lead.len()
    }

    /// Feeds a chunk.
    pub fn feed(
        &mut self,
        m: &Matcher,
        chunk: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        // Each round either ends the chunk or moves past at least one byte
        // (a document that turns malformed, or text that goes back to JSON
        // at a line's `{`, which JSON then reads), so the loop ends.
        let mut rest = chunk;
        loop {
            if self.broken {
                match self.feed_malformed(m, rest, out, events)? {
                    Some(at) => rest = &rest[at..],
                    None => return Ok(()),
                }
            }
            match self.feed_json(m, rest, out, events)? {
                Some(at) => {
                    // A `{` or `[` that starts a line, where the document
                    // cannot go on, starts the next one: the broken one ends
                    // here (as a line reader sees it).
                    // No token is open there (a line break ends strings,
                    // numbers and literals); a number before it is whole.
                    self.was_malformed = true;
                    let (before, after) = rest.split_at(at);
                    rest = after;
                    if self.line_delimited()
                        && matches!(rest[0], b'{' | b'[')
                        && self.at_line_start(before)
                    {
                        if self.num_pending {
                            out.append(&mut self.num_out);
                            self.num_raw.clear();
                            self.num_pending = false;
                        }
                        self.reset_document(m);
                        continue;
                    }
                    self.broken = true;
                    self.line_start = false;
                    self.fall_back(m, out, events)?;
                }
                None => {
                    self.json_line_start = self.at_line_start(rest);
                    return Ok(());
                }
            }
        }
    }

    /// Feeds text after the document turned malformed: the rest of a
    /// broken field value is masked by its rule (see `feed_poison`), what
    /// follows is scanned as text. In a sequence, a line that starts with
    /// `{` or `[` starts a new document: returns its index in `chunk`.
    fn feed_malformed(
        &mut self,
        m: &Matcher,
        chunk: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<Option<usize>, ScanError> {
        let rest = self.feed_poison(m, chunk, out, events);
        let skipped = chunk.len() - rest.len();
        let recover = self.line_delimited();
        let cut = if recover {
            self.recovery_point(rest)
        } else {
            None
        };
        let text = &rest[..cut.unwrap_or(rest.len())];
        let n = events.len();
        self.text.feed(m, text, out, events)?;
        self.shift(events, n);
        self.offset += text.len() as u64;
        if !recover {
            return Ok(None);
        }
        // The next document's context, as if the text were strings of it.
        self.remember(text);
        let Some(c) = cut else { return Ok(None) };
        let n = events.len();
        self.text.end_segment(m, out, events)?;
        self.shift(events, n);
        self.reset_document(m);
        Ok(Some(skipped + c))
    }

    /// Whether JSON read up to the end of `before` (which follows what was
    /// read before it) ends with a line break and spaces or tabs.
    fn at_line_start(&self, before: &[u8]) -> bool {
        match before
            .iter()
            .rposition(|&b| !matches!(b, b' ' | b'\t' | b'\r'))
        {
            Some(i) => before[i] == b'\n',
            None => self.json_line_start,
        }
    }

    /// Whether documents are lines (NDJSON, or sniffed text): a line break
    /// ends a broken document, and one outside any value may begin the next.
    fn line_delimited(&self) -> bool {
        self.allow_sequence && !self.sse
    }

    /// Finds the `{` or `[` that starts a line (after spaces or tabs) in
    /// fallback text, carrying the line-start state across chunks.
    fn recovery_point(&mut self, s: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < s.len() {
            if !self.line_start {
                i += memchr::memchr(b'\n', &s[i..])? + 1;
                self.line_start = true;
                continue;
            }
            match s[i] {
                b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                b'{' | b'[' => {
                    self.line_start = false;
                    return Some(i);
                }
                _ => self.line_start = false,
            }
        }
        None
    }

    /// Feeds JSON; returns the index of the first byte that is not JSON
    /// (the caller falls back to text there), or `None` at the chunk's end.
    fn feed_json(
        &mut self,
        m: &Matcher,
        chunk: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<Option<usize>, ScanError> {
        let mut i = 0;
        while i < chunk.len() {
            if self.side_line {
                // Up to the line's end; its terminator is read as JSON
                // whitespace (and SSE framing) again.
                let rest = &chunk[i..];
                let n = memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
                let k = events.len();
                self.text.feed(m, &rest[..n], out, events)?;
                self.shift(events, k);
                self.offset += n as u64;
                i += n;
                if i < chunk.len() {
                    self.end_side_line(m, out, events)?;
                }
                continue;
            }
            // Fast path: plain bytes of an ordinary string value go to the
            // text scanner in one call.
            if let (Tok::Str { .. }, Esc::None, None) = (self.tok, self.esc, self.field_active()) {
                let rest = &chunk[i..];
                let n = plain_run(rest);
                // (Not while leading whitespace is held, `lead`: the
                // string's start is already taken.)
                if self.seg_pending && rest.get(n) == Some(&b'\\') && self.lead.is_empty() {
                    // A string with escapes: decoded whole if it can be,
                    // then the same as a plain one.
                    if let Some(end) = self.whole_string(m, rest, out, events)? {
                        i += end;
                        continue;
                    }
                }
                if n > 0 {
                    let s = &rest[..n];
                    if self.seg_pending && rest.get(n) == Some(&b'"') && self.lead.is_empty() {
                        // The whole string is here. Its words are found as
                        // it joins the context stream; the context before it
                        // was read when it joined.
                        let text_from = self.words.pos();
                        let ctx_from = text_from - self.seg_context().len() as u64;
                        self.words.feed(m, s);
                        let keyword = self.words.keyword_since(m, text_from);
                        let words = &self.words;
                        let gated = || words.context_since(m, ctx_from, text_from);
                        if crate::scan::may_match(m, keyword, gated, s) {
                            self.string_bytes(m, s, true, out, events)?;
                        } else {
                            // No rule can match in it (with the context its
                            // segment would have): copy it through (it has
                            // no byte that needs escaping) without a segment.
                            if let Tok::Str { key: true } = self.tok {
                                self.push_key(s);
                            }
                            self.remember(s);
                            out.extend_from_slice(s);
                        }
                    } else {
                        self.string_bytes(m, s, false, out, events)?;
                    }
                    i += n;
                    self.offset += n as u64;
                    if chunk.get(i) == Some(&b'"') {
                        // The closing quote (what `string_byte` does).
                        self.end_string(m, out, events)?;
                        i += 1;
                        self.offset += 1;
                    }
                    continue;
                }
            }
            if self.tok == Tok::None && !self.num_pending && (!self.sse || self.frame == 0) {
                // Fast path: whitespace, `:` and `,` between tokens are
                // copied through in one run (what `byte` does with them),
                // and a string's opening quote begins it.
                let start = i;
                while let Some(&b) = chunk.get(i) {
                    match b {
                        b' ' | b'\t' => {}
                        b'\n' | b'\r' => {
                            if self.sse {
                                // SSE framing follows: `frame_step`.
                                break;
                            }
                            if b == b'\n' && self.expect == Expect::LineEnd {
                                self.expect = Expect::Value;
                            }
                        }
                        b':' if self.expect == Expect::Colon => self.expect = Expect::Value,
                        b',' if self.expect == Expect::CommaOrEnd => self.after_comma(),
                        _ => break,
                    }
                    i += 1;
                }
                if i > start {
                    out.extend_from_slice(&chunk[start..i]);
                    self.offset += (i - start) as u64;
                }
                if chunk.get(i) == Some(&b'"') {
                    match self.expect {
                        Expect::Key | Expect::KeyOrEnd => {
                            out.push(b'"');
                            self.begin_key();
                            i += 1;
                            self.offset += 1;
                            continue;
                        }
                        Expect::Value | Expect::ValueOrEnd
                            if !(self.top_done
                                && self.stack.is_empty()
                                && !self.allow_sequence) =>
                        {
                            self.token_start = self.offset;
                            out.push(b'"');
                            self.begin_value_string();
                            i += 1;
                            self.offset += 1;
                            continue;
                        }
                        _ => {}
                    }
                }
                if i == chunk.len() {
                    break;
                }
            }
            let b = chunk[i];
            if self.sse && !matches!(self.tok, Tok::Str { .. }) {
                match self.frame_step(b) {
                    Frame::Json => {}
                    Frame::Part => {
                        // Held like whitespace after a number: released when
                        // the next byte proves the data is still JSON, and
                        // rescanned as text with the rest if it is not.
                        if !self.num_pending {
                            self.num_pending = true;
                            self.num_rule = None;
                        }
                        self.num_raw.push(b);
                        self.num_out.push(b);
                        i += 1;
                        self.offset += 1;
                        continue;
                    }
                    Frame::Broken(part) if self.tok == Tok::None => {
                        // A comment or another field between data lines:
                        // not part of the data the client joins, so it is
                        // scanned alone, and the document goes on after it.
                        // A line break came first, so a number held before
                        // it is whole: its output goes first. The `data:`
                        // bytes held after it (`dat: …`) start the line.
                        let part = usize::from(part);
                        if self.num_pending {
                            let keep = self.num_out.len() - part;
                            debug_assert!(self.num_raw.ends_with(&DATA[..part]));
                            out.extend_from_slice(&self.num_out[..keep]);
                            self.num_out.clear();
                            self.num_raw.clear();
                            self.num_pending = false;
                        }
                        self.side_line = true;
                        self.text.begin_segment(b"");
                        let start = self.offset - part as u64;
                        self.fb_shift = start.wrapping_sub(self.text.offset());
                        let k = events.len();
                        self.text.feed(m, &DATA[..part], out, events)?;
                        self.shift(events, k);
                        continue;
                    }
                    // Not reached (a line break ends every token outside a
                    // string), but if it were: the data is text from here.
                    Frame::Broken(_) => return Ok(Some(i)),
                }
            }
            if self.num_pending {
                let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
                if ws && !(self.expect == Expect::LineEnd && b == b'\n') {
                    self.num_raw.push(b);
                    self.num_out.push(b);
                    i += 1;
                    self.offset += 1;
                    continue;
                }
                if ws || self.accepts(b) {
                    out.append(&mut self.num_out);
                    self.num_raw.clear();
                    self.num_pending = false;
                }
            }
            if !self.byte(m, b, out, events)? {
                return Ok(Some(i));
            }
            i += 1;
            self.offset += 1;
        }
        Ok(None)
    }

    /// Ends an SSE side line's text segment (see `side_line`).
    fn end_side_line(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let k = events.len();
        self.text.end_segment(m, out, events)?;
        self.shift(events, k);
        self.side_line = false;
        Ok(())
    }

    /// Ends the document.
    pub fn finish(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        if self.side_line {
            self.end_side_line(m, out, events)?;
        }
        if !self.broken {
            if self.tok == Tok::Number && number_is_valid(&self.number) {
                self.close_number(m, events)?;
                self.after_value();
            }
            if self.num_pending {
                out.append(&mut self.num_out);
                self.num_raw.clear();
                self.num_pending = false;
            }
            if self.tok != Tok::None || !self.stack.is_empty() {
                // Truncated document: flush what is held, scanned.
                self.broken = true;
                self.was_malformed = true;
                self.fall_back(m, out, events)?;
            }
        }
        if let Some((rule, _)) = self.poison.take() {
            self.write_field_value(m, rule, out, events);
        }
        let n = events.len();
        self.text.end_segment(m, &mut self.scratch, events)?;
        if self.broken {
            self.shift(events, n);
        }
        out.append(&mut self.scratch);
        Ok(())
    }

    /// In poison mode, takes the bytes of the broken field value (up to a
    /// closing quote, or for numbers up to `,` `}` `]` or a line end) into
    /// the value and masks it; returns the rest, to be scanned as text.
    fn feed_poison<'c>(
        &mut self,
        m: &Matcher,
        chunk: &'c [u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> &'c [u8] {
        let Some((rule, string)) = self.poison else {
            return chunk;
        };
        let lines = self.line_delimited();
        let end = if string {
            // The value's end is the next quote that is not escaped (or, in
            // a sequence, the line's end).
            let mut end = None;
            for (i, &b) in chunk.iter().enumerate() {
                if b == b'\n' && lines {
                    self.poison_esc = false;
                    end = Some(i);
                    break;
                }
                if self.poison_esc {
                    self.poison_esc = false;
                } else if b == b'\\' {
                    self.poison_esc = true;
                } else if b == b'"' {
                    end = Some(i);
                    break;
                }
            }
            end
        } else {
            chunk
                .iter()
                .position(|&b| matches!(b, b',' | b'}' | b']' | b'\n' | b'\r' | b'"'))
        };
        let taken = &chunk[..end.unwrap_or(chunk.len())];
        if self.value.len() + taken.len() <= MAX_FIELD_VALUE {
            self.value.extend_from_slice(taken);
        } else {
            self.value_overflow = true;
        }
        self.offset += taken.len() as u64;
        // Text offsets after the value stay document offsets.
        self.fb_shift = self.fb_shift.wrapping_add(taken.len() as u64);
        match end {
            Some(e) => {
                self.poison = None;
                self.write_field_value(m, rule, out, events);
                &chunk[e..]
            }
            None => &[],
        }
    }

    /// Drops held bytes.
    pub fn abort(&mut self) {
        self.text.abort();
        self.number.clear();
        self.value.clear();
        self.scratch.clear();
        self.num_out.clear();
        self.num_raw.clear();
        self.num_pending = false;
        self.lead.clear();
        self.drop_nested();
    }

    fn field_active(&self) -> Option<RuleRef> {
        self.field.or(self.forced.map(|f| f.0))
    }

    /// Flushes partial JSON state (scanned) before switching to text.
    /// Starts the fallback text segment; the next byte fed to it is at
    /// document offset `doc`.
    fn begin_fallback(&mut self, doc: u64) {
        // The keys and strings before the break are context for the text.
        self.text.begin_segment(seg_context(true, &self.recent));
        self.fb_shift = doc.wrapping_sub(self.text.offset());
    }

    /// Moves text-scanner offsets of `events[from..]` to document offsets.
    fn shift(&self, events: &mut [Redaction], from: usize) {
        shift_offsets(&mut events[from..], self.fb_shift);
    }

    fn fall_back(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        if self.num_pending {
            self.num_pending = false;
            self.begin_fallback(self.offset - self.num_raw.len() as u64);
            if let Some(rule) = self.num_rule {
                // The value under a field key goes on past this number: mask
                // all of it by the field rule.
                self.value.clear();
                self.value.extend_from_slice(&self.num_raw);
                self.value_overflow = false;
                self.poison = Some((rule, false));
            } else {
                let raw = std::mem::take(&mut self.num_raw);
                let n = events.len();
                self.text.feed(m, &raw, out, events)?;
                self.shift(events, n);
                self.num_raw = raw;
            }
            self.num_out.clear();
            self.num_raw.clear();
            return Ok(());
        }
        match self.tok {
            Tok::Str { key: false } if self.field_active().is_some() => {
                if let Some(rule) = self.field_active() {
                    // The rest of the broken string is still the value.
                    self.poison = Some((rule, true));
                }
                self.begin_fallback(self.offset);
            }
            Tok::Number if self.field_active().is_some() => {
                if let Some(rule) = self.field_active() {
                    self.value.clear();
                    self.value.extend_from_slice(&self.number);
                    self.value_overflow = false;
                    self.number.clear();
                    self.poison = Some((rule, false));
                }
                self.begin_fallback(self.offset);
            }
            Tok::Str { .. } => {
                let n = events.len();
                self.close_seg(m, events)?;
                self.flush_token(events, n, out);
                self.begin_fallback(self.offset);
            }
            Tok::Number => {
                let num = std::mem::take(&mut self.number);
                self.begin_fallback(self.offset - num.len() as u64);
                let n = events.len();
                self.text.feed(m, &num, out, events)?;
                self.shift(events, n);
                self.number = num;
                self.number.clear();
            }
            Tok::Literal(lit, n) => {
                // A literal cut short: its bytes (not yet written) are the
                // start of a field's value, or text.
                let part = &lit[..n];
                if let Some(rule) = self.field_active().filter(|_| self.expect == Expect::Value) {
                    self.value.clear();
                    self.value.extend_from_slice(part);
                    self.value_overflow = false;
                    self.poison = Some((rule, false));
                    self.begin_fallback(self.offset);
                } else {
                    self.begin_fallback(self.offset - n as u64);
                    let n = events.len();
                    self.text.feed(m, part, out, events)?;
                    self.shift(events, n);
                }
            }
            _ => {
                // A value under a field key that does not even start as JSON
                // (`'1234'`, a form feed, `+12`) is still that field's value.
                if self.expect == Expect::Value {
                    if let Some(rule) = self.field_active() {
                        self.value.clear();
                        self.value_overflow = false;
                        self.poison = Some((rule, false));
                    }
                }
                self.begin_fallback(self.offset)
            }
        }
        self.tok = Tok::None;
        Ok(())
    }

    /// Takes decoded bytes of the current string. `whole`: they are the
    /// whole string, already fed to `words` (the precheck's fast path); its
    /// segment is then scanned and ended here, in one pass.
    fn string_bytes(
        &mut self,
        m: &Matcher,
        bytes: &[u8],
        whole: bool,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let Tok::Str { key } = self.tok else {
            return Ok(());
        };
        if key {
            self.push_key(bytes);
        }
        if !key && self.field_active().is_some() {
            if self.value.len() + bytes.len() <= MAX_FIELD_VALUE {
                self.value.extend_from_slice(bytes);
            } else {
                self.value_overflow = true;
            }
            return Ok(());
        }
        if self.in_nested {
            return self.nested_bytes(m, bytes, whole, out, events);
        }
        if !key && self.seg_pending && self.nesting < MAX_NESTING {
            // A value that holds JSON (its first byte after some whitespace
            // is `{` or `[`) goes to the nested scanner, so field rules
            // apply inside it; the whitespace waits for that byte.
            let t = lead_ws(bytes);
            let lead = self.lead.len() + t;
            if t == bytes.len() && !whole && lead <= MAX_LEAD {
                self.lead.extend_from_slice(bytes);
                return Ok(());
            }
            let json = lead <= MAX_LEAD && matches!(bytes.get(t), Some(b'{' | b'['));
            if !self.lead.is_empty() {
                // Fast paths take a string whole only from its start.
                debug_assert!(!whole);
                let held = std::mem::take(&mut self.lead);
                let r = if json {
                    self.nested_bytes(m, &held, false, out, events)
                } else {
                    self.text_bytes(m, &held, false, out, events)
                };
                self.lead = held;
                self.lead.clear();
                r?;
            }
            if json {
                return self.nested_bytes(m, bytes, whole, out, events);
            }
        }
        self.text_bytes(m, bytes, whole, out, events)
    }

    /// Decoded bytes of a string with no JSON in it, for its text segment.
    fn text_bytes(
        &mut self,
        m: &Matcher,
        bytes: &[u8],
        whole: bool,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let n = events.len();
        self.open_seg();
        if whole {
            self.remember(bytes);
            self.text
                .feed_and_end(m, bytes, &mut self.scratch, events)?;
            self.seg_ended = true;
        } else {
            self.note_recent(m, bytes);
            self.text.feed(m, bytes, &mut self.scratch, events)?;
        }
        self.flush_token(events, n, out);
        Ok(())
    }

    /// A whole string with escapes, `rest` from just after its opening
    /// quote (no field rule active, its segment pending): decoded, checked
    /// by the precheck and scanned in one piece, or written out again if no
    /// rule can match in it (in its shortest escaped form, as byte by byte).
    /// Returns how many bytes it took, closing quote included; `None` (and
    /// nothing done) when `decode_string` cannot take it.
    #[inline(never)]
    fn whole_string(
        &mut self,
        m: &Matcher,
        rest: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<Option<usize>, ScanError> {
        let mut dec = std::mem::take(&mut self.whole);
        // A string marked HTML-escaped is left to the byte-by-byte path:
        // there the mark applies from the escape on, to what is written
        // after it, and the output must not depend on how input is split.
        let Some((end, false)) = decode_string(rest, &mut dec) else {
            self.whole = dec;
            return Ok(None);
        };
        let key = self.tok == (Tok::Str { key: true });
        let text_from = self.words.pos();
        let ctx_from = text_from - self.seg_context().len() as u64;
        self.words.feed(m, &dec);
        let keyword = self.words.keyword_since(m, text_from);
        let words = &self.words;
        let gated = || words.context_since(m, ctx_from, text_from);
        // A string that holds JSON (`holds_json`) may have field keys in
        // it: `string_bytes` reads it with the nested scanner.
        let nested = !key && self.nesting < MAX_NESTING && holds_json(&dec);
        let r = if nested || crate::scan::may_match(m, keyword, gated, &dec) {
            self.string_bytes(m, &dec, true, out, events)
        } else {
            if key {
                self.push_key(&dec);
            }
            self.remember(&dec);
            escape_into(&dec, self.html_escaped, out);
            Ok(())
        };
        self.whole = dec;
        r?;
        self.offset += end as u64;
        self.end_string(m, out, events)?;
        self.offset += 1;
        Ok(Some(end + 1))
    }

    /// A whole string value held for a field rule that does not cover it
    /// (see [`crate::matcher::FieldRule::covers`]): scanned with the text
    /// rules, with the context a string value has, and written escaped.
    fn scan_value_as_text(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let n = events.len();
        let value = std::mem::take(&mut self.value);
        self.text.begin_segment(seg_context(true, &self.recent));
        let r = self.text.feed_and_end(m, &value, &mut self.scratch, events);
        self.note_recent(m, &value);
        self.value = value;
        self.value.clear();
        self.value_overflow = false;
        r?;
        self.flush_token(events, n, out);
        Ok(())
    }

    /// [`JsonScanner::string_bytes`] for a string value that holds JSON
    /// (it starts with `{` or `[`): read by the nested scanner, so field
    /// rules apply inside it; its words are still context for later values.
    #[cold]
    #[inline(never)]
    fn nested_bytes(
        &mut self,
        m: &Matcher,
        bytes: &[u8],
        whole: bool,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let n = events.len();
        if !self.in_nested {
            self.seg_pending = false;
            self.in_nested = true;
            let depth = self.nesting + 1;
            let context = seg_context(true, &self.recent);
            self.nested
                .get_or_insert_with(|| Box::new(JsonScanner::new(m, false)))
                .restart_nested(m, depth, context);
        }
        if whole {
            self.remember(bytes);
        } else {
            self.note_recent(m, bytes);
        }
        if let Some(nested) = &mut self.nested {
            nested.feed(m, bytes, &mut self.scratch, events)?;
        }
        self.flush_token(events, n, out);
        Ok(())
    }

    /// Ends a piece of the current string's output: its redactions from
    /// `events[n..]` are reported at the token (see `fix_offsets`), and the
    /// scanned bytes in `scratch` are written escaped.
    fn flush_token(&mut self, events: &mut [Redaction], n: usize, out: &mut Vec<u8>) {
        self.fix_offsets(events, n);
        escape_into(&self.scratch, self.html_escaped, out);
        self.scratch.clear();
    }

    /// Drops the nested scanner's held bytes if a string holding JSON is
    /// open (the document or stream is being dropped).
    fn drop_nested(&mut self) {
        if std::mem::take(&mut self.in_nested) {
            if let Some(n) = &mut self.nested {
                n.abort();
            }
        }
    }

    /// Redactions inside a JSON string or number are reported at the token
    /// that holds them: `start..end` is the token's first byte, whatever the
    /// split of the input (decoded offsets would not be document offsets).
    fn fix_offsets(&self, events: &mut [Redaction], from: usize) {
        for e in &mut events[from..] {
            e.start = self.token_start;
            e.end = self.token_start + 1;
        }
    }

    fn write_field_value(
        &mut self,
        m: &Matcher,
        rule: RuleRef,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) {
        let Some(f) = m.field(rule) else { return };
        self.scratch.clear();
        if self.value_overflow {
            self.scratch.extend_from_slice(b"[REDACTED]");
        } else if matches!(f.action, crate::mask::Action::Mask { .. })
            && !f.covers(&self.value, false)
        {
            // A piece of the value (an element of a container under the
            // key, with fewer digits than the value has): none of it is
            // kept readable, so the pieces do not add up to the value
            // (`{"phone":["415","555","0198"]}`).
            crate::mask::mask_keep_last(&self.value, 0, &mut self.scratch);
        } else {
            f.action
                .apply(&self.value, m.token_key.as_ref(), &mut self.scratch);
        }
        escape_into(&self.scratch, self.html_escaped, out);
        self.scratch.clear();
        events.push(Redaction {
            rule,
            start: self.token_start,
            end: self.offset + 1,
            fingerprint: if self.value_overflow {
                None
            } else {
                m.fingerprint(&self.value)
            },
        });
        self.value.clear();
        self.value_overflow = false;
    }

    fn begin_value_string(&mut self) {
        self.pair_capture = self.pair_next == Some(self.stack.len());
        if self.pair_capture {
            self.pair_name.clear();
            self.pair_overflow = false;
        }
        self.tok = Tok::Str { key: false };
        self.html_escaped = false;
        self.token_start = self.offset;
        self.value.clear();
        self.value_overflow = false;
        if self.field_active().is_none() {
            self.seg_pending = true;
            self.seg_is_value = true;
        }
    }

    /// Appends decoded key bytes (bounded).
    fn push_key(&mut self, bytes: &[u8]) {
        if self.key_overflow {
            return;
        }
        if self.key.len() + bytes.len() <= MAX_KEY {
            self.key.extend_from_slice(bytes);
        } else {
            // Too long to be a field name: remembered as nothing, the same
            // way however the key was split.
            self.key_overflow = true;
            self.key.clear();
        }
    }

    /// Remembers decoded string bytes as context for later values.
    fn note_recent(&mut self, m: &Matcher, bytes: &[u8]) {
        self.words.feed(m, bytes);
        self.remember(bytes);
    }

    /// `note_recent` for bytes already fed to `words`.
    fn remember(&mut self, bytes: &[u8]) {
        if self.pair_capture {
            if self.pair_name.len() + bytes.len() <= MAX_KEY {
                self.pair_name.extend_from_slice(bytes);
            } else {
                self.pair_overflow = true;
            }
        }
        // Only the last RECENT bytes count (`seg_context`); older ones are
        // dropped once they fill the spare capacity, not on every string.
        let tail = &bytes[bytes.len().saturating_sub(RECENT)..];
        if self.recent.len() + tail.len() > RECENT_CAP {
            let cut = self.recent.len().saturating_sub(RECENT);
            self.recent.drain(..cut);
        }
        self.recent.extend_from_slice(tail);
    }

    /// Begins the current string's text segment if it is still pending.
    fn open_seg(&mut self) {
        if !self.seg_pending {
            return;
        }
        self.seg_pending = false;
        let context = seg_context(self.seg_is_value, &self.recent);
        self.text.begin_segment(context);
    }

    /// See [`seg_context`].
    fn seg_context(&self) -> &[u8] {
        seg_context(self.seg_is_value, &self.recent)
    }

    /// Ends the current string's text segment (nothing to do if it never
    /// began: nothing was fed).
    fn close_seg(&mut self, m: &Matcher, events: &mut Vec<Redaction>) -> Result<(), ScanError> {
        if std::mem::take(&mut self.in_nested) {
            // The string's JSON ends with it: a document cut short is
            // flushed, scanned as text.
            if let Some(nested) = &mut self.nested {
                nested.finish(m, &mut self.scratch, events)?;
            }
            return Ok(());
        }
        if self.seg_pending {
            self.seg_pending = false;
            if !self.lead.is_empty() {
                self.flush_lead(m);
            }
            return Ok(());
        }
        if std::mem::take(&mut self.seg_ended) {
            return Ok(());
        }
        self.text.end_segment(m, &mut self.scratch, events)
    }

    /// Writes out the whitespace a string of only whitespace (or one cut
    /// short) began with, as is: it cannot match a rule.
    #[cold]
    #[inline(never)]
    fn flush_lead(&mut self, m: &Matcher) {
        let held = std::mem::take(&mut self.lead);
        self.note_recent(m, &held);
        self.scratch.extend_from_slice(&held);
        self.lead = held;
        self.lead.clear();
    }

    fn end_string(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let Tok::Str { key } = self.tok else {
            return Ok(());
        };
        if std::mem::take(&mut self.pair_capture) && !self.pair_overflow {
            // A name string: the field rule it names holds for a value key
            // later in this object. A label may end in `:`, `?` or a
            // required-field `*`.
            let name = self.pair_name.trim_ascii();
            let end = name
                .iter()
                .rposition(|b| !matches!(b, b':' | b'?' | b'*' | b' ' | b'\t'))
                .map_or(0, |i| i + 1);
            if let Some(rule) = m.field_rule_of_key(&name[..end], &mut self.norm_key) {
                let depth = self.stack.len();
                // A second name in the same object replaces the first.
                if self.pair_fields.last().is_some_and(|p| p.1 == depth) {
                    self.pair_fields.pop();
                }
                // Bounded by the nesting depth (MAX_DEPTH).
                self.pair_fields.push((rule, depth));
            }
        }
        let sep: &[u8] = if key { b": " } else { b" " };
        self.words.feed_blank(m, sep);
        self.remember(sep);
        if key {
            // Keys are scanned as text too, then looked up for field rules.
            self.tok = Tok::Str { key: false };
            let n = events.len();
            self.close_seg(m, events)?;
            self.flush_token(events, n, out);
            self.tok = Tok::None;
            let (rule, role) = if self.key_overflow {
                (None, KeyRole::Other)
            } else if let Some(found) = self.key_memo.get(m, &self.key) {
                found
            } else {
                let rule = m.field_rule_of_key(&self.key, &mut self.norm_key);
                let role = KeyRole::of(&self.key, &mut self.norm_key);
                self.key_memo.put(m, &self.key, (rule, role));
                (rule, role)
            };
            let depth = self.stack.len();
            self.field = rule;
            self.pair_next = None;
            if rule.is_none() && self.forced.is_none() {
                match role {
                    KeyRole::Name => self.pair_next = Some(depth),
                    KeyRole::Value => {
                        if let Some(&(r, d)) = self.pair_fields.last() {
                            if d == depth {
                                self.field = Some(r);
                            }
                        }
                    }
                    KeyRole::Other => {}
                }
            }
            out.push(b'"');
            self.expect = Expect::Colon;
            return Ok(());
        }
        if let Some(rule) = self.field_active() {
            // Only a string right under the key can be too short to be the
            // value; inside a container under it, every scalar is masked.
            if self.field.is_none()
                || m.field(rule)
                    .is_some_and(|f| f.covers(&self.value, self.value_overflow))
            {
                self.write_field_value(m, rule, out, events);
            } else {
                self.scan_value_as_text(m, out, events)?;
            }
        } else {
            let n = events.len();
            self.close_seg(m, events)?;
            self.flush_token(events, n, out);
        }
        out.push(b'"');
        self.tok = Tok::None;
        self.after_value();
        Ok(())
    }

    /// Ends a number token; its output waits in `num_out`.
    fn close_number(&mut self, m: &Matcher, events: &mut Vec<Redaction>) -> Result<(), ScanError> {
        self.num_raw.clear();
        self.num_raw.extend_from_slice(&self.number);
        self.num_rule = self.field_active();
        let mut nout = std::mem::take(&mut self.num_out);
        nout.clear();
        let r = self.end_number(m, &mut nout, events);
        self.num_out = nout;
        self.num_pending = true;
        r
    }

    /// Whether `b` (not whitespace) is valid JSON in the current state.
    fn accepts(&self, b: u8) -> bool {
        match self.expect {
            Expect::Value | Expect::ValueOrEnd => {
                (self.expect == Expect::ValueOrEnd && b == b']')
                    || (!(self.top_done && self.stack.is_empty() && !self.allow_sequence)
                        && matches!(
                            b,
                            b'{' | b'[' | b'"' | b'-' | b'0'
                                ..=b'9' | b't' | b'f' | b'n' | b'N' | b'I'
                        ))
            }
            Expect::KeyOrEnd => b == b'"' || b == b'}',
            Expect::Key => b == b'"',
            Expect::Colon => b == b':',
            Expect::CommaOrEnd => {
                b == b','
                    || (b == b'}' && self.stack.last() == Some(&b'{'))
                    || (b == b']' && self.stack.last() == Some(&b'['))
            }
            Expect::LineEnd => b == b'\n',
        }
    }

    fn end_number(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        self.tok = Tok::None;
        let mut expanded = Vec::new();
        let is_expanded = expand_exponent(&self.number, &mut expanded);
        // A number right under a field key that the rule does not cover
        // (too few digits, counted in its plain form: `48e2` is 4800) is
        // scanned as any number is. Inside a container under the key every
        // scalar is masked: digits split over elements are still the value
        // (`{"pan":[4111,1111,1111,1111]}`).
        let covered = self.field_active().filter(|&r| {
            let plain: &[u8] = if is_expanded { &expanded } else { &self.number };
            self.field.is_none() || m.field(r).is_some_and(|f| f.covers(plain, false))
        });
        if let Some(rule) = covered {
            let json_null = m.field(rule).is_some_and(|f| f.json_null);
            if json_null {
                out.extend_from_slice(b"null");
                events.push(Redaction {
                    rule,
                    start: self.token_start,
                    end: self.offset,
                    fingerprint: m.fingerprint(&self.number),
                });
            } else {
                std::mem::swap(&mut self.value, &mut self.number);
                out.push(b'"');
                self.write_field_value(m, rule, out, events);
                out.push(b'"');
                std::mem::swap(&mut self.value, &mut self.number);
            }
            self.number.clear();
            return Ok(());
        }
        let src: &[u8] = if is_expanded { &expanded } else { &self.number };
        // The number's segment has the same context as a string value's:
        // the recent keys and strings, `{"name":"SSN","value":219456789}`
        // as `{"name":"SSN","value":"219456789"}` (red-team pass,
        // 2026-12-03: before, only the number's own key). The same
        // precheck as whole strings, over the context stream's trail
        // (numbers do not join the stream): read as it is when no word
        // ends in the number (almost always), else on a copy fed it.
        let context = seg_context(true, &self.recent);
        let text_from = self.words.pos();
        let ctx_from = text_from - context.len() as u64;
        let trail = if self.words.quiet_through(m, src) {
            &self.words
        } else {
            self.num_words.clone_from(&self.words);
            self.num_words.feed(m, src);
            &self.num_words
        };
        let keyword = trail.keyword_since(m, text_from);
        let gated = || trail.context_since(m, ctx_from, text_from);
        let skip = !crate::scan::may_match(m, keyword, gated, src);
        // Debug builds (the tests) scan anyway and check that the skip was
        // exact.
        if skip && !cfg!(debug_assertions) {
            out.extend_from_slice(&self.number);
            self.number.clear();
            return Ok(());
        }
        let n = events.len();
        self.text.begin_segment(context);
        self.text.feed(m, src, &mut self.scratch, events)?;
        self.text.end_segment(m, &mut self.scratch, events)?;
        debug_assert!(
            !skip || events.len() == n,
            "the number precheck skipped a redaction"
        );
        if events.len() > n {
            self.fix_offsets(events, n);
            let json_null = events[n..]
                .iter()
                .any(|e| m.rules.get(e.rule.0 as usize).is_some_and(|r| r.json_null));
            if json_null {
                out.extend_from_slice(b"null");
            } else {
                out.push(b'"');
                escape_into(&self.scratch, self.html_escaped, out);
                out.push(b'"');
            }
        } else {
            out.extend_from_slice(&self.number);
        }
        self.scratch.clear();
        self.number.clear();
        Ok(())
    }

    fn after_value(&mut self) {
        self.pair_next = None;
        if let Some((_, depth)) = self.forced {
            if self.stack.len() < depth {
                self.forced = None;
            }
        }
        if self.stack.len() <= self.forced.map_or(0, |f| f.1).saturating_sub(1) {
            self.forced = None;
        }
        self.field = None;
        self.expect = if self.stack.is_empty() {
            self.top_done = true;
            // JSON inside a string may hold several documents after one
            // another on a line (`{…} {…}`) as well as one per line.
            if self.allow_sequence && self.nesting == 0 {
                Expect::LineEnd
            } else {
                Expect::Value
            }
        } else {
            Expect::CommaOrEnd
        };
    }

    /// Handles one byte outside the string fast path. Returns false when the
    /// byte cannot be JSON here.
    fn byte(
        &mut self,
        m: &Matcher,
        b: u8,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<bool, ScanError> {
        match self.tok {
            Tok::Str { .. } => return self.string_byte(m, b, out, events),
            Tok::Number => {
                if matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    if self.number.len() >= MAX_NUMBER {
                        return Ok(false);
                    }
                    self.number.push(b);
                    return Ok(true);
                }
                if b == b'I' && self.number == b"-" {
                    // -Infinity: a literal after all.
                    self.number.clear();
                    self.tok = Tok::Literal(b"-Infinity", 2);
                    return Ok(true);
                }
                if !number_is_valid(&self.number) {
                    return Ok(false);
                }
                self.close_number(m, events)?;
                self.after_value();
                if matches!(b, b' ' | b'\t' | b'\n' | b'\r')
                    && !(self.expect == Expect::LineEnd && b == b'\n')
                {
                    self.num_raw.push(b);
                    self.num_out.push(b);
                    return Ok(true);
                }
                if !self.accepts(b) {
                    return Ok(false);
                }
                out.append(&mut self.num_out);
                self.num_raw.clear();
                self.num_pending = false;
                // fall through: `b` is the next structural byte
            }
            Tok::Literal(lit, n) => {
                // Written out only once whole: the bytes of a literal cut
                // short (`NL91ABNA…` read as `NaN`) are rescanned as text.
                if lit.get(n) == Some(&b) {
                    if n + 1 == lit.len() {
                        out.extend_from_slice(lit);
                        self.tok = Tok::None;
                        self.after_value();
                    } else {
                        self.tok = Tok::Literal(lit, n + 1);
                    }
                    return Ok(true);
                }
                return Ok(false);
            }
            Tok::None => {}
        }
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if self.expect == Expect::LineEnd && b == b'\n' {
                self.expect = Expect::Value;
            }
            out.push(b);
            return Ok(true);
        }
        match self.expect {
            Expect::LineEnd => Ok(false),
            Expect::Value | Expect::ValueOrEnd => {
                if self.expect == Expect::ValueOrEnd && b == b']' {
                    return Ok(self.close(b, out));
                }
                // A UTF-8 byte-order mark before the document (browsers'
                // JSON readers skip it) is passed through.
                if self.offset < 3
                    && !self.top_done
                    && self.stack.is_empty()
                    && [0xEF, 0xBB, 0xBF][self.offset as usize] == b
                {
                    out.push(b);
                    return Ok(true);
                }
                if self.top_done && self.stack.is_empty() && !self.allow_sequence {
                    return Ok(false);
                }
                self.token_start = self.offset;
                match b {
                    b'{' | b'[' => {
                        if self.stack.len() >= MAX_DEPTH {
                            return Ok(false);
                        }
                        if let Some(rule) = self.field.take() {
                            if self.forced.is_none() {
                                self.forced = Some((rule, self.stack.len() + 1));
                            }
                        }
                        self.stack.push(b);
                        out.push(b);
                        self.expect = if b == b'{' {
                            Expect::KeyOrEnd
                        } else {
                            Expect::ValueOrEnd
                        };
                    }
                    b'"' => {
                        out.push(b);
                        self.begin_value_string();
                    }
                    b'-' | b'0'..=b'9' => {
                        self.tok = Tok::Number;
                        self.number.clear();
                        self.number.push(b);
                    }
                    b't' | b'f' | b'n' | b'N' | b'I' => {
                        // NaN and Infinity are not JSON, but common enough
                        // (Python, JavaScript writers) not to give up on the
                        // document's structure for them.
                        let lit: &'static [u8] = match b {
                            b't' => b"true",
                            b'f' => b"false",
                            b'N' => b"NaN",
                            b'I' => b"Infinity",
                            _ => b"null",
                        };
                        self.tok = Tok::Literal(lit, 1);
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            }
            Expect::KeyOrEnd | Expect::Key => {
                if b == b'}' && self.expect == Expect::KeyOrEnd {
                    return Ok(self.close(b, out));
                }
                if b != b'"' {
                    return Ok(false);
                }
                out.push(b);
                self.begin_key();
                Ok(true)
            }
            Expect::Colon => {
                if b != b':' {
                    return Ok(false);
                }
                out.push(b);
                self.expect = Expect::Value;
                Ok(true)
            }
            Expect::CommaOrEnd => match b {
                b',' => {
                    out.push(b);
                    self.after_comma();
                    Ok(true)
                }
                b'}' | b']' => Ok(self.close(b, out)),
                _ => Ok(false),
            },
        }
    }

    /// State after a `,` that follows a value in a container.
    #[inline]
    fn after_comma(&mut self) {
        self.field = None;
        self.expect = if self.stack.last() == Some(&b'{') {
            Expect::Key
        } else {
            Expect::Value
        };
    }

    /// State after the opening quote of a key.
    #[inline]
    fn begin_key(&mut self) {
        self.tok = Tok::Str { key: true };
        self.html_escaped = false;
        self.token_start = self.offset;
        self.key.clear();
        self.key_overflow = false;
        // Keys are text too, scanned without context.
        self.seg_pending = true;
        self.seg_is_value = false;
    }

    fn close(&mut self, b: u8, out: &mut Vec<u8>) -> bool {
        let want = if b == b'}' { b'{' } else { b'[' };
        if self.stack.last() != Some(&want) {
            return false;
        }
        self.stack.pop();
        out.push(b);
        while self
            .pair_fields
            .last()
            .is_some_and(|p| p.1 > self.stack.len())
        {
            self.pair_fields.pop();
        }
        if let Some((_, depth)) = self.forced {
            if self.stack.len() < depth {
                self.forced = None;
            }
        }
        self.after_value();
        true
    }

    fn decoded_bytes(
        &mut self,
        m: &Matcher,
        c: u32,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        self.html_escaped |= is_html_escape(c);
        let mut buf = self.decoded;
        let bytes = utf8_encode(c, &mut buf);
        let mut tmp = [0u8; 4];
        tmp[..bytes.len()].copy_from_slice(bytes);
        let n = bytes.len();
        self.string_bytes(m, &tmp[..n], false, out, events)
    }

    fn string_byte(
        &mut self,
        m: &Matcher,
        b: u8,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<bool, ScanError> {
        match self.esc {
            Esc::None => match b {
                b'"' => {
                    self.end_string(m, out, events)?;
                    Ok(true)
                }
                b'\\' => {
                    self.esc = Esc::Backslash;
                    Ok(true)
                }
                // In a sequence a line break ends the line's document
                // whatever it is inside: a line-by-line reader never joins
                // the next line to this string.
                b'\n' if self.line_delimited() => Ok(false),
                0..=0x1f => {
                    // A raw control byte is not valid JSON, but it is plainly
                    // string content: keep the structure (it is re-escaped).
                    self.string_bytes(m, &[b], false, out, events)?;
                    Ok(true)
                }
                _ => {
                    self.string_bytes(m, &[b], false, out, events)?;
                    Ok(true)
                }
            },
            Esc::Backslash => {
                let c = match simple_escape(b) {
                    Some(c) => c,
                    None if b == b'u' => {
                        self.esc = Esc::Unicode(0, 0);
                        return Ok(true);
                    }
                    None => return Ok(false),
                };
                self.esc = Esc::None;
                self.string_bytes(m, &[c], false, out, events)?;
                Ok(true)
            }
            Esc::Unicode(n, v) => {
                let Some(h) = hex_val(b) else {
                    return Ok(false);
                };
                let v = v * 16 + h;
                if n < 3 {
                    self.esc = Esc::Unicode(n + 1, v);
                    return Ok(true);
                }
                if (0xD800..0xDC00).contains(&v) {
                    self.esc = Esc::HighWait(v);
                    return Ok(true);
                }
                self.esc = Esc::None;
                // A lone low surrogate becomes U+FFFD.
                self.decoded_bytes(m, v, out, events)?;
                Ok(true)
            }
            Esc::HighWait(hi) => {
                if b == b'\\' {
                    self.esc = Esc::HighBackslash(hi);
                    return Ok(true);
                }
                self.esc = Esc::None;
                self.decoded_bytes(m, 0xFFFD, out, events)?;
                self.string_byte(m, b, out, events)
            }
            Esc::HighBackslash(hi) => {
                if b == b'u' {
                    self.esc = Esc::Low(hi, 0, 0);
                    return Ok(true);
                }
                self.esc = Esc::Backslash;
                self.decoded_bytes(m, 0xFFFD, out, events)?;
                self.string_byte(m, b, out, events)
            }
            Esc::Low(hi, n, v) => {
                let Some(h) = hex_val(b) else {
                    return Ok(false);
                };
                let v = v * 16 + h;
                if n < 3 {
                    self.esc = Esc::Low(hi, n + 1, v);
                    return Ok(true);
                }
                self.esc = Esc::None;
                if (0xDC00..0xE000).contains(&v) {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (v - 0xDC00);
                    self.decoded_bytes(m, c, out, events)?;
                } else {
                    self.decoded_bytes(m, 0xFFFD, out, events)?;
                    if (0xD800..0xDC00).contains(&v) {
                        self.esc = Esc::HighWait(v);
                    } else {
                        self.decoded_bytes(m, v, out, events)?;
                    }
                }
                Ok(true)
            }
        }
    }
}

/// What a key with no field rule of its own says about a name/value pair
/// object (`{"name":"Password","value":"…"}`, as CRMs write custom fields
/// and attributes): its string names the field, or it holds the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyRole {
    Name,
    Value,
    Other,
}

impl KeyRole {
    /// Normalised as field keys are (`field_name`, `fieldName`).
    const NAMES: &'static [&'static str] = &[
        "name",
        "key",
        "label",
        "field",
        "fieldname",
        "fieldkey",
        "fieldlabel",
        "attribute",
        "attributename",
        "property",
        "propertyname",
        "param",
        "paramname",
        "parameter",
        "question",
    ];
    const VALUES: &'static [&'static str] = &[
        "value",
        "val",
        "values",
        "fieldvalue",
        "attributevalue",
        "propertyvalue",
        "paramvalue",
        "valuestring",
        "stringvalue",
        "textvalue",
        "answer",
    ];

    fn of(key: &[u8], norm: &mut Vec<u8>) -> KeyRole {
        if !crate::matcher::normalize_key(key, norm) {
            return KeyRole::Other;
        }
        let n = norm.as_slice();
        if KeyRole::NAMES.iter().any(|k| k.as_bytes() == n) {
            KeyRole::Name
        } else if KeyRole::VALUES.iter().any(|k| k.as_bytes() == n) {
            KeyRole::Value
        } else {
            KeyRole::Other
        }
    }
}

/// The field rule (or none) and the pair role of a few recently seen raw
/// keys, so that a key that recurs (most do) is not normalized and hashed
/// again. Two-way set associative by length and edge bytes; keys up to
/// [`KeyMemo::LEN`] bytes; valid for one matcher (by id).
struct KeyMemo {
    matcher: u64,
    len: [u8; KeyMemo::SLOTS],
    keys: [[u8; KeyMemo::LEN]; KeyMemo::SLOTS],
    rules: [(Option<RuleRef>, KeyRole); KeyMemo::SLOTS],
}

impl KeyMemo {
    const SLOTS: usize = 64;
    const LEN: usize = 32;
    /// `len` of an empty slot.
    const EMPTY: u8 = u8::MAX;

    fn new() -> KeyMemo {
        KeyMemo {
            matcher: 0,
            len: [KeyMemo::EMPTY; KeyMemo::SLOTS],
            keys: [[0; KeyMemo::LEN]; KeyMemo::SLOTS],
            rules: [(None, KeyRole::Other); KeyMemo::SLOTS],
        }
    }

    #[inline]
    fn slot(key: &[u8]) -> usize {
        let (first, last) = match key {
            [] => (0, 0),
            [f, .., l] => (*f, *l),
            [f] => (*f, *f),
        };
        let h = (u32::from(first) | u32::from(last) << 8 | (key.len() as u32) << 16)
            .wrapping_mul(0x9E37_79B1);
        (h >> 26) as usize
    }

    /// The memoized field lookup and role of `key`, if any.
    #[inline]
    fn get(&self, m: &Matcher, key: &[u8]) -> Option<(Option<RuleRef>, KeyRole)> {
        if key.len() > KeyMemo::LEN || self.matcher != m.id {
            return None;
        }
        let k = KeyMemo::slot(key);
        [k, k ^ 1].into_iter().find_map(|k| {
            (usize::from(self.len[k]) == key.len() && self.keys[k][..key.len()] == *key)
                .then_some(self.rules[k])
        })
    }

    fn put(&mut self, m: &Matcher, key: &[u8], rule: (Option<RuleRef>, KeyRole)) {
        if key.len() > KeyMemo::LEN {
            return;
        }
        if self.matcher != m.id {
            *self = KeyMemo::new();
            self.matcher = m.id;
        }
        // Two ways per key (its slot and the one beside it): the newest
        // key takes the slot and the one it displaces moves beside it, so
        // two keys that collide and alternate (`id`, `tags`) both stay.
        let k = KeyMemo::slot(key);
        let j = k ^ 1;
        self.len[j] = self.len[k];
        self.keys[j] = self.keys[k];
        self.rules[j] = self.rules[k];
        self.len[k] = key.len() as u8;
        self.keys[k][..key.len()].copy_from_slice(key);
        self.rules[k] = rule;
    }
}

/// The context a string's segment begins with: for a value, the preceding
/// strings (`recent`, which end with its key); for a key, none. The fast
/// path's `may_match` must see exactly what `open_seg` passes, so both take
/// it from here.
fn seg_context(is_value: bool, recent: &[u8]) -> &[u8] {
    if is_value {
        &recent[recent.len().saturating_sub(RECENT)..]
    } else {
        b""
    }
}

/// RFC 8259 number grammar.
fn number_is_valid(t: &[u8]) -> bool {
    let mut i = 0;
    if t.get(i) == Some(&b'-') {
        i += 1;
    }
    match t.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while t.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        while t.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let s = i;
        while t.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == t.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponent_expansion() {
        let mut out = Vec::new();
        assert!(expand_exponent(b"4.111111111111111e15", &mut out));
        assert_eq!(out, b"4111111111111111");
        assert!(expand_exponent(b"41E2", &mut out));
        assert_eq!(out, b"4100");
        assert!(expand_exponent(b"1.5e0", &mut out));
        assert_eq!(out, b"1.5");
        assert!(expand_exponent(b"41111111111111110e-1", &mut out));
        assert_eq!(out, b"4111111111111111");
        assert!(expand_exponent(b"0.4111111111111111e16", &mut out));
        assert_eq!(out, b"4111111111111111");
        assert!(expand_exponent(b"-25e-3", &mut out));
        assert_eq!(out, b"-0.025");
        assert!(!expand_exponent(b"1e400", &mut out));
        assert!(!expand_exponent(b"12", &mut out));
    }

    #[test]
    fn plain_run_is_the_first_special_byte() {
        let naive = |s: &[u8]| {
            s.iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(s.len())
        };
        for special in 0..=255u8 {
            for len in 0..20 {
                for at in 0..=len {
                    let mut s = vec![b'a'; len];
                    s.extend_from_slice(&[0x7f, 0x80, 0xff, 0x20, 0x21, 0x5b, 0x5d]);
                    if at < len {
                        s[at] = special;
                    }
                    assert_eq!(plain_run(&s), naive(&s), "{special:#x} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn number_grammar() {
        for ok in ["0", "-0", "12", "1.5", "1e5", "-1.25E-3"] {
            assert!(number_is_valid(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "1e+", "--1", "1-2"] {
            assert!(!number_is_valid(bad.as_bytes()), "{bad}");
        }
    }
}
