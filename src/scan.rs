//! The streaming text scanner: the redaction hot path.
//!
//! # Semantics
//!
//! For each text rule independently, candidates are the rule regex's
//! leftmost-first, non-overlapping matches over the whole segment. A
//! candidate is kept if its validator and context words confirm it. Kept
//! candidates of all rules are then taken in order of start (longer first,
//! then the action that reveals least, then rule order); one that overlaps
//! an earlier one has only its remaining tail masked, by its own action.
//! A candidate that overlaps another keeps nothing readable (a `keep_last`
//! mask of an account number could otherwise show digits of an SSN inside
//! it), unless every other one ends where it ends and keeps as much.
//!
//! # Gate
//!
//! Every match of a rule contains a trigger (an ASCII digit, one of a few
//! bytes, or a keyword) at most `back` bytes after its start, and every byte
//! of a match is in the rule's alphabet (derived from its regex). So the
//! scanner jumps from trigger to trigger with a vectorisable byte test and
//! runs the rule's anchored lazy DFA only at the few start positions that
//! can precede that trigger. Between triggers no regex runs at all. The
//! differential tests (`tests/engine.rs`) check gated output against a plain
//! per-rule regex scan.
//!
//! Digit triggers are handed to each rule a whole digit run at a time; a
//! rule that cannot start a match after a digit (`mid_digit_viable` false,
//! e.g. anything behind `\b`) looks only at the starts before the run. Rules
//! whose context requires words are further gated on the words' occurrences
//! (one pass over every word, shared by all such rules); see
//! [`TextScanner::process`] for how a skip keeps the leftmost-first chain
//! exact.
//!
//! Two sound skips run before any per-trigger work (both keep the chain
//! exact; see [`TextScanner::filter_start`] and [`TextScanner::word_jump`]):
//!
//! - Prefilter: the digit-triggered rules without required context words
//!   (card, SSN, phones, IBAN) have their patterns, with look-around
//!   removed, in one unanchored all-matches lazy DFA
//!   ([`Matcher::filter`](crate::matcher::Matcher)), run once over each new
//!   byte (plus the rule's longest match before it). A match of such a rule
//!   starting at or after `clear` ends at one of its filter ends, so the
//!   rule jumps to `end - maxlen` of the first such end.
//! - Word jump: a gated rule with no context word near any trigger up to a
//!   byte outside its alphabet jumps past that byte.
//!
//! While no rule is processed, the least `clear` of the digit rules is
//! known: digit runs ending by it have no work for any rule, and the
//! scanner jumps over them to the next other trigger (see
//! `TextScanner::run`).
//!
//! Trigger words and context words are collected in one pass that finds
//! every occurrence of every word: the words' table DFA
//! ([`Matcher::words_dfa`](crate::matcher::Matcher)), or an overlapping
//! Aho-Corasick search when the table could not be built. The prefilter
//! steps its lazy DFA directly, one table lookup per byte outside match
//! states.
//!
//! # Streaming
//!
//! A start position is decided once `need` = longest match + context after +
//! 1 bytes follow it (or the segment ended), so decisions never depend on
//! where chunks were split and output is byte-identical to a one-shot scan.
//! The scanner holds back only from the earliest position where a candidate
//! could still start (an open digit run, an email local part, a keyword that
//! may continue) plus `history` bytes of already-released text kept for
//! look-behind and context words. The held-back part is at most
//! [`Matcher::window`] bytes plus one input slice of [`MAX_SLICE`] bytes.

use crate::mask::Action;
use crate::matcher::{Matcher, RuleRef, Window, WordDfa, WordGate};
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::util::captures::Captures;
use regex_automata::{meta, Anchored, Input};
use std::cell::RefCell;
use std::fmt;

/// Input is consumed in slices of at most this many bytes, which bounds the
/// scanner's buffer whatever chunk size the caller feeds.
pub const MAX_SLICE: usize = 64 * 1024;

/// One redaction: which rule, and where (byte offsets in the scanner's
/// input; the JSON scanner replaces them with offsets in the document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redaction {
    /// The rule that fired.
    pub rule: RuleRef,
    /// Start offset (inclusive).
    pub start: u64,
    /// End offset (exclusive).
    pub end: u64,
    /// Keyed fingerprint of the value, when the matcher was compiled with
    /// fingerprints on (never the value itself).
    pub fingerprint: Option<[u8; 8]>,
}

/// The engine could not scan; the caller must fail closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The lazy DFA gave up (should not happen: it is configured never to).
    #[error("regex engine error")]
    Engine,
    /// The stream was already finished or aborted.
    #[error("stream already ended")]
    Closed,
}

#[derive(Clone, Copy)]
struct Cand {
    start: usize,
    end: usize,
    rule: u16,
}

/// Per-stream state of the text scanner. Small; holds at most the window.
pub struct TextScanner {
    buf: Vec<u8>,
    /// Input offset of `buf[0]`.
    base: u64,
    /// Start of the current segment's haystack in `buf`.
    seg: usize,
    /// Everything before this index has been written out.
    emitted: usize,
    /// Next position to look for byte triggers.
    trig_pos: usize,
    /// Keyword occurrences starting before this are collected.
    kw_done: usize,
    /// Collected keyword occurrences not yet processed: (start, pattern).
    kw_hits: Vec<(usize, u32)>,
    /// Per rule: no candidate of the rule starts before this.
    clear: Vec<usize>,
    cands: Vec<Cand>,
    /// Context-word occurrences of gated rules (start, rule bits), sorted
    /// by start: every occurrence lying wholly in the buffer that starts in
    /// [pruned point, `w_done`).
    w_occ: Vec<(usize, u64)>,
    w_done: usize,
    /// Per rule: index in `w_occ` before which no occurrence is of use.
    w_cur: Vec<usize>,
    /// Per gated rule: NONE, or the position from which the rule's
    /// leftmost-first match chain must be replayed (see [`TextScanner::process`]).
    dirty: Vec<usize>,
    /// Per filtered rule: the ends of its filter pattern's matches that
    /// start in the segment, in order, every one in (pruned point, `f_done`].
    f_ends: Vec<Vec<usize>>,
    /// Per rule: index in `f_ends` before which no end is of use.
    f_cur: Vec<usize>,
    /// Filter match ends up to here are collected.
    f_done: usize,
}

const NONE: usize = usize::MAX;
/// A gated rule replays its match chain rather than skip once it has been
/// dirty for this many bytes, which bounds the bytes kept for a replay.
const DIRTY_LIMIT: usize = 2048;

impl fmt::Debug for TextScanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print buffered bytes: they may be sensitive.
        f.debug_struct("TextScanner")
            .field("held", &(self.buf.len() - self.emitted))
            .field("base", &self.base)
            .finish()
    }
}

/// Search scratch for one matcher on one thread: the lazy DFA's cache and,
/// for rules with a `value` group, a meta-regex cache and captures.
pub(crate) struct Scratch {
    dfa: Cache,
    filter: Option<Cache>,
    precheck: Option<Cache>,
    word_precheck: Option<Cache>,
    gate_pre: Vec<Option<Cache>>,
    values: Vec<Option<(meta::Cache, Captures)>>,
}

thread_local! {
    /// Scratch per recently used matcher, owned by the thread: a search
    /// never crosses an await, and per-thread caches avoid both the
    /// contention of a shared pool and a cache (up to a few MiB) per stream.
    static SCRATCH: RefCell<Vec<(u64, Scratch)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch for `m`.
pub(crate) fn with_cache<R>(m: &Matcher, f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|c| {
        let mut all = c.borrow_mut();
        let pos = match all.iter().position(|(id, _)| *id == m.id) {
            Some(p) => p,
            None => {
                // Old matchers (before a reload) drop out after a few more.
                if all.len() >= 4 {
                    all.remove(0);
                }
                let values = m
                    .rules
                    .iter()
                    .map(|r| {
                        r.value_re
                            .as_ref()
                            .map(|(re, _)| (re.create_cache(), re.create_captures()))
                    })
                    .collect();
                all.push((
                    m.id,
                    Scratch {
                        dfa: m.dfa.create_cache(),
                        filter: m.filter.as_ref().map(|f| f.create_cache()),
                        precheck: m.precheck.as_ref().map(|f| f.create_cache()),
                        word_precheck: m.word_precheck.as_ref().map(|w| w.dfa.create_cache()),
                        gate_pre: m
                            .gate_pre
                            .iter()
                            .map(|g| g.dfa.as_ref().map(|d| d.create_cache()))
                            .collect(),
                        values,
                    },
                ));
                all.len() - 1
            }
        };
        f(&mut all[pos].1)
    })
}

/// The gate's byte test: ASCII digits (when `digits`) and the non-digit
/// trigger bytes, as word masks for [`Gate::find`]. Built once per matcher
/// ([`Matcher::gate`](crate::matcher::Matcher)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gate {
    /// All ones when digits are triggers, else zero.
    digits: u64,
    /// Each distinct extra byte repeated in every byte of a word.
    extra: [u64; 4],
    distinct: usize,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

impl Gate {
    pub(crate) fn new(digits: bool, extra: &[u8; 4]) -> Gate {
        // Padding repeats a byte already tested: test each distinct one once.
        let mut e = [0u64; 4];
        let mut distinct = 0;
        for (k, &x) in extra.iter().enumerate() {
            if !extra[..k].contains(&x) {
                e[distinct] = u64::from(x) * LO;
                distinct += 1;
            }
        }
        Gate {
            digits: if digits { u64::MAX } else { 0 },
            extra: e,
            distinct,
        }
    }

    /// The top bit of each byte of `w` that is a trigger, computed exactly
    /// (no carry crosses a byte).
    #[inline(always)]
    fn triggers(&self, w: u64) -> u64 {
        let low = w & LOW7;
        // A byte below 0x80 is a digit if low >= 0x30 and not low >= 0x3a.
        let ge0 = low + (0x80 - 0x30) * LO;
        let gt9 = low + (0x80 - 0x3a) * LO;
        let mut t = ge0 & !gt9 & !w & HI & self.digits;
        for &x in &self.extra[..self.distinct] {
            // The top bit of each zero byte of `y`.
            let y = w ^ x;
            t |= !(((y & LOW7) + LOW7) | y | LOW7);
        }
        t
    }

    /// The gate: index of the first byte in `hay` that is a digit (when
    /// digits are triggers) or an extra trigger byte. Eight bytes at a time,
    /// the first trigger of a word a trailing-zero count away.
    #[inline(always)]
    fn find(&self, hay: &[u8]) -> Option<usize> {
        let mut i = 0;
        while let Some(word) = hay.get(i..i + 8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(word);
            let t = self.triggers(u64::from_le_bytes(b));
            if t != 0 {
                return Some(i + (t.trailing_zeros() / 8) as usize);
            }
            i += 8;
        }
        let mut b = [0u8; 8];
        b[..hay.len() - i].copy_from_slice(&hay[i..]);
        // The zero padding must not count: mask it off.
        let valid = (1u64 << (8 * (hay.len() - i))) - 1;
        let t = self.triggers(u64::from_le_bytes(b)) & valid;
        (t != 0).then(|| i + (t.trailing_zeros() / 8) as usize)
    }
}

/// Steps `dfa` from the untagged state `sid` over `hay[at..]` for as long
/// as the states reached are untagged (no match, dead, quit or unknown
/// state): returns the last untagged state and the position of the byte
/// that leads out of them (`hay.len()` if none does). Four bytes a round,
/// one table lookup each.
#[inline(always)]
fn untagged_run(
    dfa: &DFA,
    cache: &Cache,
    mut sid: regex_automata::hybrid::LazyStateID,
    hay: &[u8],
    mut at: usize,
) -> (regex_automata::hybrid::LazyStateID, usize) {
    while let Some(b) = hay.get(at..at + 4) {
        let n0 = dfa.next_state_untagged(cache, sid, b[0]);
        if n0.is_tagged() {
            return (sid, at);
        }
        let n1 = dfa.next_state_untagged(cache, n0, b[1]);
        if n1.is_tagged() {
            return (n0, at + 1);
        }
        let n2 = dfa.next_state_untagged(cache, n1, b[2]);
        if n2.is_tagged() {
            return (n1, at + 2);
        }
        let n3 = dfa.next_state_untagged(cache, n2, b[3]);
        if n3.is_tagged() {
            return (n2, at + 3);
        }
        sid = n3;
        at += 4;
    }
    while let Some(&b) = hay.get(at) {
        let n = dfa.next_state_untagged(cache, sid, b);
        if n.is_tagged() {
            break;
        }
        sid = n;
        at += 1;
    }
    (sid, at)
}

/// Whether some rule may match in `text` scanned as one whole segment
/// after a context prefix (see [`TextScanner::begin_segment`]). `false` is
/// exact: no rule matches, so the text goes out unchanged. Used for whole
/// JSON strings and numbers, which are mostly ids, timestamps and prose.
///
/// The words are found by the caller's [`WordTrail`]: `keyword` says
/// whether a trigger word lies wholly in `text`; `gated` gives the context
/// bit of every gated rule with a context word wholly in context + `text`
/// (called at most once, only when a trigger is present).
///
/// A match needs a trigger (byte or word) in `text`, and its rule's
/// look-around-free pattern matches somewhere in `text` (a superset:
/// look-around at the text's edges only narrows); a gated rule also needs
/// one of its context words in context + `text`, and a rule triggered by
/// words a trigger word in `text`.
#[inline]
pub(crate) fn may_match(
    m: &Matcher,
    keyword: bool,
    gated: impl FnOnce() -> u64,
    text: &[u8],
) -> bool {
    let trigger = keyword || (m.byte_gate() && m.gate.find(text).is_some());
    // Most strings have no trigger: that answer stays inline, without the
    // frame of the rest (`benches/icount`, JSON typical: 74.7 instructions
    // per byte with the `%40` check below in one function, 73.5 split).
    trigger && prechecked_may_match(m, keyword, gated, text)
}

/// [`may_match`] for a text that holds a trigger.
#[inline(never)]
fn prechecked_may_match(
    m: &Matcher,
    keyword: bool,
    gated: impl FnOnce() -> u64,
    text: &[u8],
) -> bool {
    let Some(pre) = &m.precheck else {
        return true;
    };
    with_cache(m, |sc| {
        // A search error (the lazy DFA gave up) counts as a possible match.
        let hit = |dfa: &DFA, cache: &mut Cache| dfa_hits(dfa, cache, text);
        let Some(cache) = sc.precheck.as_mut() else {
            return true;
        };
        if hit(pre, cache) {
            return true;
        }
        // The rules triggered by words, kept apart (see
        // `Matcher::word_precheck`): they need a trigger word in `text`.
        if keyword && m.word_precheck.is_some() && word_precheck_hits(m, sc, text) {
            return true;
        }
        // Only now: most strings have no trigger, and working out which
        // gated rules have a word near costs a pass over all of them.
        let mut bits = gated();
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            match (
                m.gate_pre.get(b).and_then(|g| g.dfa.as_ref()),
                sc.gate_pre.get_mut(b),
            ) {
                (Some(dfa), Some(Some(cache))) => {
                    if hit(dfa, cache) {
                        return true;
                    }
                }
                _ => return true,
            }
        }
        false
    })
}

/// Whether a rule triggered by words may match in `text`
/// (see [`Matcher::word_precheck`](crate::matcher::Matcher)): one of their
/// words is in it, and their look-around-free patterns match. Out of line:
/// it runs only on strings that hold a trigger word.
#[inline(never)]
fn word_precheck_hits(m: &Matcher, sc: &mut Scratch, text: &[u8]) -> bool {
    let Some(w) = &m.word_precheck else {
        return false;
    };
    if !w.words.is_match(text) {
        return false;
    }
    match sc.word_precheck.as_mut() {
        Some(cache) => dfa_hits(&w.dfa, cache, text),
        None => true,
    }
}

/// Whether the unanchored lazy DFA `dfa` (no look-around) matches
/// somewhere in `text`, or gave up (which counts as a match): the earliest
/// search, stepped here rather than by `try_search_fwd` (most texts are a
/// few bytes, so its setup dominated), the states that are no match taking
/// one table lookup each.
#[inline]
fn dfa_hits(dfa: &DFA, cache: &mut Cache, text: &[u8]) -> bool {
    let Ok(mut sid) = dfa.start_state_forward(cache, &Input::new(text)) else {
        return true;
    };
    let mut at = 0;
    while at < text.len() {
        if !sid.is_tagged() {
            (sid, at) = untagged_run(dfa, cache, sid, text, at);
            if at == text.len() {
                break;
            }
        }
        sid = match dfa.next_state(cache, sid, text[at]) {
            Ok(s) => s,
            Err(_) => return true,
        };
        if sid.is_match() || sid.is_quit() {
            return true;
        }
        if sid.is_dead() {
            return false;
        }
        at += 1;
    }
    dfa.next_eoi_state(cache, sid)
        .map_or(true, |s| s.is_match() || s.is_quit())
}

/// Trigger words and context words over a stream of text pieces, for
/// [`may_match`]: one pass of [`Matcher::words_dfa`] whose state carries
/// across pieces, so text that is context for several later pieces is read
/// once. Positions count the bytes fed.
#[derive(Debug, Clone)]
pub(crate) struct WordTrail {
    /// The words DFA's state (premultiplied, see [`WordDfa::start`]).
    state: u32,
    pos: u64,
    /// One more than the latest start of a trigger word seen (0: none).
    keyword: u64,
    /// The same per gated rule (by context bit), for its context words.
    context: [u64; 64],
    /// The greatest of `context`.
    context_max: u64,
}

impl WordTrail {
    pub(crate) fn new(m: &Matcher) -> WordTrail {
        WordTrail {
            state: m.words_dfa.as_ref().map_or(0, |d| d.start()),
            pos: 0,
            keyword: 0,
            context: [0; 64],
            context_max: 0,
        }
    }

    /// Back to the start of a stream.
    pub(crate) fn reset(&mut self, m: &Matcher) {
        *self = WordTrail::new(m);
    }

    /// Bytes fed so far.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Reads the next piece of the stream.
    #[inline]
    pub(crate) fn feed(&mut self, m: &Matcher, bytes: &[u8]) {
        if let Some(d) = &m.words_dfa {
            // Stepped inline up to each word end (rare), which is recorded
            // out of line. (The same steps as `WordDfa::run`.)
            let mut s = self.state;
            let mut at = 0;
            loop {
                let (q, i) = d.run_quiet_prefix(s, bytes, at);
                if i == bytes.len() {
                    s = q;
                    break;
                }
                s = d.step(q, bytes[i]);
                at = i + 1;
                // The byte after the word, when this piece has it: a word
                // that goes on in a letter or digit is not whole there.
                let after = bytes.get(at).copied();
                self.word_end(m, d, s, self.pos + at as u64, bytes[i], after);
            }
            self.state = s;
        }
        self.pos += bytes.len() as u64;
    }

    /// Records the words ending in word-end state `s`, at `end`; `last` is
    /// the words' last byte and `after` the byte after them, if known.
    ///
    /// A context word is kept only for the gated rules for which its end
    /// can be a word's end in some context window: the right-hand half of
    /// [`Matcher::whole_word_bits`] (`tel` in `tell`). Its left-hand half
    /// is not applied here: a segment's context may begin at any byte of
    /// the trail, and there the start of the window is a boundary. An end
    /// at the end of a piece is kept: that is the end of a string, which
    /// is the end of its segment's text.
    #[inline(never)]
    fn word_end(
        &mut self,
        m: &Matcher,
        d: &WordDfa,
        s: u32,
        end: u64,
        last: u8,
        after: Option<u8>,
    ) {
        let ends = d.ends_at(s);
        // One more than the start: end - len + 1.
        if ends.keyword != 0 {
            self.keyword = self.keyword.max(end + 1 - u64::from(ends.keyword));
        }
        let keep = after.map_or(u64::MAX, |b| m.word_end_bits(last, b));
        for &(bits, len) in ends.context {
            let bits = bits & keep;
            let start1 = end + 1 - u64::from(len);
            if bits != 0 {
                self.context_max = self.context_max.max(start1);
            }
            let mut bits = bits;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.context[b] = self.context[b].max(start1);
            }
        }
    }

    /// Whether feeding `bytes` next would end no word: then the trail's
    /// words, read after them, are the ones it has now.
    #[inline]
    pub(crate) fn quiet_through(&self, m: &Matcher, bytes: &[u8]) -> bool {
        m.words_dfa
            .as_ref()
            .is_none_or(|d| d.run_quiet(self.state, bytes).is_some())
    }

    /// [`WordTrail::feed`] for a few bytes where most likely no word ends
    /// (the separators between JSON strings): stepped inline, and fed
    /// again the full way if a word does end.
    #[inline]
    pub(crate) fn feed_blank(&mut self, m: &Matcher, bytes: &[u8]) {
        match m
            .words_dfa
            .as_ref()
            .and_then(|d| d.run_quiet(self.state, bytes))
        {
            Some(s) => {
                self.state = s;
                self.pos += bytes.len() as u64;
            }
            None => self.feed(m, bytes),
        }
    }

    /// Whether a trigger word lies wholly in the bytes fed from `from` on.
    pub(crate) fn keyword_since(&self, m: &Matcher, from: u64) -> bool {
        self.keyword > from || m.words_unknown()
    }

    /// The context bits of the gated rules with a context word that lies
    /// wholly in the bytes fed from `from` on and is near enough to count
    /// for a trigger at or after `text` (it starts at most the rule's
    /// `lo` before it).
    pub(crate) fn context_since(&self, m: &Matcher, from: u64, text: u64) -> u64 {
        if m.words_unknown() {
            return u64::MAX;
        }
        if self.context_max <= from {
            // No context word at all since `from`.
            return 0;
        }
        let mut bits = 0;
        for (b, (&c, g)) in self.context.iter().zip(&m.gate_pre).enumerate() {
            if c > from.max(text.saturating_sub(g.lo as u64)) {
                bits |= 1 << b;
            }
        }
        bits
    }
}

enum Step {
    Done,
    Suspend,
}

impl TextScanner {
    /// A scanner for `m`, positioned at the start of a segment.
    pub fn new(m: &Matcher) -> TextScanner {
        TextScanner {
            buf: Vec::with_capacity(m.window() + 4096),
            base: 0,
            seg: 0,
            emitted: 0,
            trig_pos: 0,
            kw_done: 0,
            kw_hits: Vec::with_capacity(64),
            clear: vec![0; m.rules.len()],
            cands: Vec::with_capacity(64),
            w_occ: Vec::with_capacity(64),
            w_done: 0,
            w_cur: vec![0; m.rules.len()],
            dirty: vec![NONE; m.rules.len()],
            f_ends: m
                .rules
                .iter()
                .map(|r| Vec::with_capacity(if r.filtered { 64 } else { 0 }))
                .collect(),
            f_cur: vec![0; m.rules.len()],
            f_done: 0,
        }
    }

    /// Bytes held back (not yet written out).
    pub fn held(&self) -> usize {
        self.buf.len() - self.emitted
    }

    /// Total bytes fed so far (the next byte's input offset).
    pub fn offset(&self) -> u64 {
        self.base.wrapping_add(self.buf.len() as u64)
    }

    /// Starts a new segment. `context` is text that precedes it for context
    /// words only (a JSON key, say); it is never written out. The previous
    /// segment must have been ended.
    ///
    /// `may_match` relies on two things here: the buffer is emptied first,
    /// so no context window reaches before `context`; and matches start in
    /// the segment, never in `context`.
    pub fn begin_segment(&mut self, context: &[u8]) {
        debug_assert_eq!(self.held(), 0);
        self.cands.clear();
        self.kw_hits.clear();
        self.compact(self.buf.len());
        // The context prefix is not input: account for it so offsets stay
        // input offsets.
        self.base = self.base.wrapping_sub(context.len() as u64);
        self.buf.extend_from_slice(context);
        let len = self.buf.len();
        self.seg = len;
        self.emitted = len;
        self.trig_pos = len;
        self.kw_done = len;
        for c in &mut self.clear {
            *c = len;
        }
        // Context words may lie in the context prefix: scan from its start.
        self.w_occ.clear();
        self.w_done = 0;
        self.w_cur.fill(0);
        self.dirty.fill(NONE);
        for v in &mut self.f_ends {
            v.clear();
        }
        self.f_cur.fill(0);
        self.f_done = len;
    }

    /// Feeds bytes; writes whatever can be decided to `out`.
    pub fn feed(
        &mut self,
        m: &Matcher,
        input: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        for slice in input.chunks(MAX_SLICE) {
            self.buf.extend_from_slice(slice);
            with_cache(m, |cache| self.run(m, cache, false, out, events))?;
        }
        Ok(())
    }

    /// Feeds the segment's last bytes and ends it: the same output as
    /// [`TextScanner::feed`] then [`TextScanner::end_segment`], with one
    /// scanning pass instead of two when the bytes fit one input slice.
    pub fn feed_and_end(
        &mut self,
        m: &Matcher,
        input: &[u8],
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        if input.len() <= MAX_SLICE {
            self.buf.extend_from_slice(input);
        } else {
            self.feed(m, input, out, events)?;
        }
        self.end_segment(m, out, events)
    }

    /// Ends the segment: scans and writes out everything held.
    pub fn end_segment(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        with_cache(m, |cache| self.run(m, cache, true, out, events))?;
        // The segment is decided to its end: no skipped stretch can still
        // need a replay, and everything held goes.
        self.dirty.fill(NONE);
        self.compact(self.buf.len());
        self.seg = self.buf.len();
        Ok(())
    }

    /// Drops everything held without writing it out.
    pub fn abort(&mut self) {
        self.buf.truncate(self.emitted);
        self.cands.clear();
        self.kw_hits.clear();
    }

    /// Collects trigger-word hits (as [`TextScanner::collect_keywords`]) and
    /// context-word occurrences (as [`TextScanner::collect_words`]) in one
    /// pass of the combined automaton (the table DFA when there is one: the
    /// same occurrences, a byte a lookup).
    fn collect_all_words(&mut self, m: &Matcher, eos: bool) -> usize {
        let len = self.buf.len();
        let (Some(ac), Some(_), Some(_)) = (&m.all_words, &m.keywords, &m.ctx_words) else {
            let d = self.collect_keywords(m, eos);
            self.collect_words(m, eos);
            return d;
        };
        let kw_from = self.kw_done;
        let kw_new = if eos {
            len
        } else {
            m.keyword_open_from(&self.buf[..len], kw_from)
        };
        let w_from = self.w_done;
        let w_new = if eos {
            len
        } else {
            len.saturating_sub(m.ctx_maxword - 1).max(w_from)
        };
        let from = kw_from.min(w_from);
        if from < len {
            let kb = self.kw_hits.len();
            let wb = self.w_occ.len();
            if let Some(d) = &m.words_dfa {
                // The same occurrences from the table DFA, which steps a
                // byte with one lookup.
                let (kw_hits, w_occ, text) = (&mut self.kw_hits, &mut self.w_occ, &self.buf[..len]);
                d.find_all(&text[from..], |end, kws, ctxs| {
                    let end = from + end;
                    for &(k, l) in kws {
                        let s = end - usize::from(l);
                        if s >= kw_from && s < kw_new {
                            kw_hits.push((s, k));
                        }
                    }
                    for &(bits, l) in ctxs {
                        let s = end - usize::from(l);
                        if s >= w_from && s < w_new {
                            let bits = m.whole_word_bits(text, s, end, bits);
                            if bits != 0 {
                                w_occ.push((s, bits));
                            }
                        }
                    }
                });
            } else {
                let input = aho_corasick::Input::new(&self.buf[..len]).span(from..len);
                for hit in ac.find_overlapping_iter(input) {
                    let s = hit.start();
                    let p = hit.pattern().as_usize();
                    let k = m.all_kw[p];
                    if k != u32::MAX && s >= kw_from && s < kw_new {
                        self.kw_hits.push((s, k));
                    }
                    let bits = m.all_ctx[p];
                    if bits != 0 && s >= w_from && s < w_new {
                        let bits = m.whole_word_bits(&self.buf[..len], s, hit.end(), bits);
                        if bits != 0 {
                            self.w_occ.push((s, bits));
                        }
                    }
                }
            }
            if self.kw_hits.len() > kb {
                self.kw_hits.sort_unstable();
            }
            if self.w_occ.len() > wb {
                self.w_occ[wb..].sort_unstable();
            }
        }
        self.kw_done = kw_new;
        self.w_done = self.w_done.max(w_new);
        kw_new
    }

    fn collect_keywords(&mut self, m: &Matcher, eos: bool) -> usize {
        let len = self.buf.len();
        let Some(ac) = &m.keywords else {
            return len;
        };
        let from = self.kw_done;
        let new_done = if eos {
            len
        } else {
            // Only a tail that could still grow into a keyword stays open.
            m.keyword_open_from(&self.buf[..len], from)
        };
        if from < len {
            let before = self.kw_hits.len();
            for hit in ac.find_overlapping_iter(&self.buf[from..len]) {
                let s = from + hit.start();
                if s < new_done {
                    self.kw_hits.push((s, hit.pattern().as_u32()));
                }
            }
            if self.kw_hits.len() > before {
                self.kw_hits.sort_unstable();
            }
        }
        self.kw_done = new_done;
        new_done
    }

    fn run(
        &mut self,
        m: &Matcher,
        cache: &mut Scratch,
        eos: bool,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        let len = self.buf.len();
        self.run_filter(m, cache)?;
        let t_end = self.collect_all_words(m, eos).min(len);
        if eos {
            self.clear_wordless(m, len);
        }
        let gate = &m.gate;
        let byte_gate = m.byte_gate();
        let mut kw_i = 0;
        let mut pos = self.trig_pos;
        let mut stop = t_end;
        // While no rule has been processed since it was taken: a position
        // that no digit rule's `clear` is below (0: none known). A digit
        // run ending by it is cleared by every rule it triggers.
        let mut digit_floor = 0;
        'outer: loop {
            while kw_i < self.kw_hits.len() && self.kw_hits[kw_i].0 < pos {
                kw_i += 1;
            }
            let next_kw = self.kw_hits.get(kw_i).map(|h| h.0).filter(|&s| s < t_end);
            if digit_floor > pos {
                // Up to `digit_floor` (and the next keyword hit) every digit
                // run is skipped: go straight to the first other trigger
                // byte there, or back from it to the start of the digit run
                // it ends (which may reach past `digit_floor`). Runs before
                // that one end at a non-digit before it, and none is cut
                // short (by a keyword hit or the end), as a trigger-by-
                // trigger walk from `pos` would find them.
                let j = digit_floor.min(next_kw.unwrap_or(t_end)).min(t_end);
                if j > pos {
                    let mut q = if m.extra_bytes.is_empty() {
                        j
                    } else {
                        m.extra_gate.find(&self.buf[pos..j]).map_or(j, |x| pos + x)
                    };
                    while q > pos && self.buf[q - 1].is_ascii_digit() {
                        q -= 1;
                    }
                    pos = q;
                }
            }
            let next_byte = if byte_gate && pos < t_end {
                gate.find(&self.buf[pos..t_end]).map(|p| pos + p)
            } else {
                None
            };
            let t = match (next_byte, next_kw) {
                (None, None) => break,
                (Some(b), None) => b,
                (None, Some(k)) => k,
                (Some(b), Some(k)) => b.min(k),
            };
            let mut run_end = t + 1;
            if next_byte == Some(t) {
                let b = self.buf[t];
                if b.is_ascii_digit() {
                    // A run of digits is handed to each digit rule at once
                    // (up to the next keyword hit, which must be seen at its
                    // own position).
                    let lim = next_kw.filter(|&k| k > t).unwrap_or(t_end).min(t_end);
                    while run_end < lim && self.buf[run_end].is_ascii_digit() {
                        run_end += 1;
                    }
                }
                let digit = b.is_ascii_digit();
                // Every digit rule has cleared the run: nothing to do.
                let skip = digit && run_end <= digit_floor;
                let rules: &[u16] = if skip { &[] } else { &m.byte_rules[b as usize] };
                let mut least = usize::MAX;
                let mut worked = false;
                for chunk in rules.chunks(64) {
                    // The rules with work at this trigger, found without a
                    // branch per rule: most have cleared the run already,
                    // and a branch per rule mispredicts (t < run_end, so
                    // `t.max(clear) < run_end` is `clear < run_end`).
                    // Processing a rule changes only its own `clear`.
                    let mut todo = 0u64;
                    for (i, &r) in chunk.iter().enumerate() {
                        let c = self.clear[r as usize];
                        todo |= u64::from(c < run_end) << i;
                        least = least.min(c);
                    }
                    worked |= todo != 0;
                    while todo != 0 {
                        let r = chunk[todo.trailing_zeros() as usize];
                        todo &= todo - 1;
                        let ri = r as usize;
                        let mut u = t.max(self.clear[ri]);
                        let rule = &m.rules[ri];
                        if rule.filtered {
                            let j = self.filter_start(m, ri, eos);
                            self.clear[ri] = j;
                            u = u.max(j);
                            if u >= run_end {
                                continue;
                            }
                        }
                        if let Some(g) = &rule.gate {
                            if let Some(j) = self.word_jump(m, g, ri, u, eos) {
                                self.clear[ri] = j;
                                self.dirty[ri] = NONE;
                                u = u.max(j);
                                if u >= run_end {
                                    continue;
                                }
                            }
                        }
                        // Inside a digit run (after a digit) no match can start
                        // for most rules: only starts up to `t` need a look.
                        let inner = digit && !rule.mid_digit_viable;
                        if inner && (u > t || !self.any_viable(rule, self.clear[ri], t)) {
                            self.clear[ri] = run_end;
                            continue;
                        }
                        while u < run_end {
                            if let Step::Suspend = self.process(m, cache, r, u, eos)? {
                                // Rules after this one have not seen [t, u).
                                stop = t;
                                break 'outer;
                            }
                            u = (u + 1).max(self.clear[ri]);
                            if inner {
                                self.clear[ri] = self.clear[ri].max(run_end);
                                break;
                            }
                        }
                    }
                }
                if worked {
                    digit_floor = 0;
                } else if digit && !skip && m.digit_rules_same {
                    // No `clear` moved: the least one bounds the next runs.
                    digit_floor = least;
                }
            }
            while kw_i < self.kw_hits.len() && self.kw_hits[kw_i].0 == t {
                let pat = self.kw_hits[kw_i].1 as usize;
                digit_floor = 0;
                for &r in &m.keyword_rules[pat] {
                    if let Step::Suspend = self.process(m, cache, r, t, eos)? {
                        stop = t;
                        break 'outer;
                    }
                }
                kw_i += 1;
            }
            // No skip past bytes every rule has cleared: the next
            // trigger's branch-free check costs less than finding the
            // least `clear` of all rules after every trigger.
            pos = run_end;
        }
        self.trig_pos = stop;
        let frontier = if eos {
            len
        } else if stop < t_end {
            self.frontier(m, stop, stop)
        } else {
            // Not suspended: byte triggers are known up to the end, keyword
            // triggers up to where a keyword may still be forming.
            self.frontier(m, len, t_end)
        };
        self.emit(m, frontier, out, events);
        // Keyword hits already processed are no longer needed.
        let keep_from = stop;
        self.kw_hits.retain(|h| h.0 >= keep_from);
        if eos {
            // `end_segment`, the only caller at the end, drops the whole
            // buffer next: no need to keep history or prune first.
            return Ok(());
        }
        let dirty = self.dirty.iter().copied().min().unwrap_or(NONE);
        // Later triggers are at or after `stop`: their regions start later.
        self.prune_words(stop.saturating_sub(m.ctx_lo));
        // A candidate held back by `emit` may start before what is written
        // out (it overlaps a candidate already masked): keep its bytes.
        let held = self.cands.iter().map(|c| c.start).min().unwrap_or(NONE);
        self.compact(
            frontier
                .min(self.emitted)
                .min(dirty)
                .min(held)
                .saturating_sub(m.history),
        );
        Ok(())
    }

    /// At the segment's end, with every word collected: a gated rule with
    /// no context word left in the buffer can confirm no candidate at any
    /// trigger still to come (`word_near` is false for all of them), so it
    /// is cleared to the end at once instead of trigger by trigger. Most
    /// JSON strings that are scanned hold no context word of most rules.
    fn clear_wordless(&mut self, m: &Matcher, len: usize) {
        let present = self.w_occ.iter().fold(0, |a, w| a | w.1);
        for (b, g) in m.gate_pre.iter().enumerate() {
            if present & (1 << b) == 0 {
                let ri = usize::from(g.rule);
                self.clear[ri] = self.clear[ri].max(len);
                self.dirty[ri] = NONE;
            }
        }
    }

    /// Earliest position where a not-yet-known candidate could start, given
    /// that byte triggers before `t_byte` and keyword triggers before
    /// `t_word` have been processed.
    fn frontier(&self, m: &Matcher, t_byte: usize, t_word: usize) -> usize {
        let mut f = usize::MAX;
        for (i, r) in m.rules.iter().enumerate() {
            let t = if r.word_triggered { t_word } else { t_byte };
            let mut lo = t.saturating_sub(r.back).max(self.seg);
            // Bytes between a start and its trigger are all in the rule's
            // alphabet; a byte outside it moves the earliest start past it.
            let mut q = t;
            while q > lo {
                if !r.alphabet[self.buf[q - 1] as usize] {
                    lo = q;
                    break;
                }
                q -= 1;
            }
            f = f.min(lo.max(self.clear[i]));
        }
        f.min(self.buf.len())
    }

    /// Can a match of `rule` start anywhere in [t - back, t] at or after
    /// `clear`? A necessary condition only.
    #[inline]
    fn any_viable(&self, rule: &crate::matcher::Rule, clear: usize, t: usize) -> bool {
        let lo = t.saturating_sub(rule.back).max(clear).max(self.seg);
        (lo..=t).any(|s| {
            let prev = if s > self.seg {
                Some(self.buf[s - 1])
            } else {
                None
            };
            rule.viable[crate::matcher::lookbehind_class(prev)][self.buf[s] as usize]
        })
    }

    /// Is there a context word of gated rule `ri` starting in `[lo, hi)`?
    /// Regions asked for must move forward only (`lo` never decreases).
    fn word_near(
        &mut self,
        m: &Matcher,
        g: &WordGate,
        ri: usize,
        lo: usize,
        hi: usize,
        eos: bool,
    ) -> bool {
        if g.bit == 0 {
            return true;
        }
        if self.w_done < hi {
            self.collect_words(m, eos);
        }
        let mut i = self.w_cur[ri];
        while i < self.w_occ.len() && self.w_occ[i].0 < lo {
            i += 1;
        }
        self.w_cur[ri] = i;
        while i < self.w_occ.len() && self.w_occ[i].0 < hi {
            if self.w_occ[i].1 & g.bit != 0 {
                return true;
            }
            i += 1;
        }
        // Words are collected only up to where the longest context word
        // could still be incomplete, so a shorter word starting at or after
        // `w_done` may already lie wholly in the buffer (and so in a context
        // slice that ends in it): look for those directly. Words that are
        // not wholly in the buffer cannot lie in such a slice.
        let len = self.buf.len();
        let from = self.w_done.max(lo);
        if !eos && from < len && from < hi {
            if let Some(ac) = &m.ctx_words {
                for hit in ac.find_overlapping_iter(&self.buf[from..len]) {
                    if from + hit.start() < hi && m.ctx_mask[hit.pattern().as_usize()] & g.bit != 0
                    {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// For a gated rule at trigger `u` (no unprocessed trigger of the rule
    /// lies in [`clear`, `u`)): when no context word of the rule is near
    /// any trigger in [`u`, `z`), where `z` is a byte outside the rule's
    /// alphabet, no candidate starting before `z` can be confirmed and no
    /// match crosses `z`, so the rule's leftmost-first chain is exact again
    /// at `z + 1`. Returns the largest such `z + 1`.
    fn word_jump(
        &mut self,
        m: &Matcher,
        g: &WordGate,
        ri: usize,
        u: usize,
        eos: bool,
    ) -> Option<usize> {
        if g.bit == 0 {
            return None;
        }
        let len = self.buf.len();
        let want = if eos {
            len
        } else {
            len.saturating_sub(m.ctx_maxword - 1)
        };
        if self.w_done < want {
            self.collect_words(m, eos);
        }
        // A word can confirm a candidate triggered at t only if it starts
        // in [t - lo, t + hi); words starting at or after `w_done` are not
        // known yet.
        let lo = u.saturating_sub(g.lo);
        let mut p = self.w_done.min(len);
        for &(s, bits) in &self.w_occ[self.w_cur[ri].min(self.w_occ.len())..] {
            if s >= p {
                break;
            }
            if s >= lo && bits & g.bit != 0 {
                p = s;
                break;
            }
        }
        // Triggers t with t + hi <= p are dead: z - 1 + hi <= p.
        let top = (p + 1).checked_sub(g.hi)?.min(len.checked_sub(1)?);
        let rule = &m.rules[ri];
        let mut z = top;
        while z >= u {
            if !rule.alphabet[self.buf[z] as usize] {
                return Some(z + 1);
            }
            if z == 0 {
                break;
            }
            z -= 1;
        }
        None
    }

    /// Collects context-word occurrences starting in [`w_done`, new done).
    fn collect_words(&mut self, m: &Matcher, eos: bool) {
        let Some(ac) = &m.ctx_words else {
            self.w_done = usize::MAX / 2;
            return;
        };
        let len = self.buf.len();
        let from = self.w_done;
        let done = if eos {
            len
        } else {
            len.saturating_sub(m.ctx_maxword - 1).max(from)
        };
        if done <= from {
            return;
        }
        let before = self.w_occ.len();
        let input = aho_corasick::Input::new(&self.buf[..len]).span(from..len);
        for hit in ac.find_overlapping_iter(input) {
            if hit.start() < done {
                let bits = m.ctx_mask[hit.pattern().as_usize()];
                let bits = m.whole_word_bits(&self.buf[..len], hit.start(), hit.end(), bits);
                if bits != 0 {
                    self.w_occ.push((hit.start(), bits));
                }
            }
        }
        if self.w_occ.len() > before {
            self.w_occ[before..].sort_unstable();
        }
        self.w_done = done;
    }

    /// Drops word occurrences starting before `p`.
    fn prune_words(&mut self, p: usize) {
        let k = self.w_occ.partition_point(|w| w.0 < p);
        if k > 0 {
            self.w_occ.drain(..k);
            for c in &mut self.w_cur {
                *c = c.saturating_sub(k);
            }
        }
    }

    /// Decides rule `r`'s candidates that can contain the trigger at `t`.
    ///
    /// Rules whose context requires words are gated: when no word starts
    /// within reach of any candidate the trigger can belong to, the regex is
    /// not run. Such candidates could never be confirmed, but the rule's
    /// leftmost-first chain of (unconfirmed) matches still decides where later
    /// matches may start. So a skip marks the rule `dirty` from the last
    /// position where its chain was exact; the chain becomes exact again at
    /// a byte outside the rule's alphabet (no match crosses it), and when a
    /// word does come near while the rule is dirty, the chain is replayed
    /// from that position with the ungated logic before deciding `t`.
    fn process(
        &mut self,
        m: &Matcher,
        cache: &mut Scratch,
        r: u16,
        t: usize,
        eos: bool,
    ) -> Result<Step, ScanError> {
        let ri = r as usize;
        if t < self.clear[ri] {
            return Ok(Step::Done);
        }
        let rule = &m.rules[ri];
        let Some(g) = &rule.gate else {
            return self.process_exact(m, cache, r, t, eos);
        };
        let len = self.buf.len();
        if !eos && t + rule.need > len {
            return Ok(Step::Suspend);
        }
        if self.dirty[ri] != NONE {
            // Skipped matches started at or before clear - 1: a byte outside
            // the alphabet at or after it ends them all.
            let c = self.clear[ri];
            if c <= self.seg
                || self.buf[c - 1..t]
                    .iter()
                    .any(|&b| !rule.alphabet[b as usize])
            {
                self.dirty[ri] = NONE;
            }
        }
        let near = self.word_near(m, g, ri, t.saturating_sub(g.lo), t + g.hi, eos);
        let d = self.dirty[ri];
        if !near && (d == NONE || t - d <= DIRTY_LIMIT) {
            // Every match that starts in [t - back, t] lies in the alphabet
            // run through t; if that run ends (at `z`) within maxlen, matches
            // starting up to `z` are covered by the region just checked and
            // no chain crosses `z`.
            let limit = (t + rule.maxlen).min(len);
            let mut z = t;
            while z < limit && rule.alphabet[self.buf[z] as usize] {
                z += 1;
            }
            // Matches starting in (t, z] have context regions that reach up
            // to z + hi, past the region checked for t: the jump needs that
            // wider region known (all its words collected) and word-free.
            let far = z + g.hi;
            let jump = (z < limit || (eos && z == len))
                && !self.word_near(m, g, ri, t.saturating_sub(g.lo), far, eos)
                && (eos || far <= self.w_done);
            if jump {
                self.dirty[ri] = NONE;
                self.clear[ri] = (z + 1).min(len).max(t + 1);
            } else {
                if d == NONE {
                    self.dirty[ri] = self.clear[ri];
                }
                self.clear[ri] = t + 1;
            }
            return Ok(Step::Done);
        }
        if d != NONE {
            // Replay the chain from the last exact position up to t.
            self.dirty[ri] = NONE;
            self.clear[ri] = d;
            let mut p = d;
            while p < t {
                if rule.trig[self.buf[p] as usize] {
                    self.process_exact(m, cache, r, p, eos)?;
                }
                p = (p + 1).max(self.clear[ri]);
            }
            if t < self.clear[ri] {
                return Ok(Step::Done);
            }
        }
        self.process_exact(m, cache, r, t, eos)
    }

    /// The ungated decision of rule `r`'s candidates around trigger `t`.
    fn process_exact(
        &mut self,
        m: &Matcher,
        cache: &mut Scratch,
        r: u16,
        t: usize,
        eos: bool,
    ) -> Result<Step, ScanError> {
        let ri = r as usize;
        if t < self.clear[ri] {
            return Ok(Step::Done);
        }
        let rule = &m.rules[ri];
        let len = self.buf.len();
        let hend = if eos {
            len
        } else if t + rule.need <= len {
            t + rule.need
        } else {
            return Ok(Step::Suspend);
        };
        let mut lo = t
            .saturating_sub(rule.back)
            .max(self.clear[ri])
            .max(self.seg);
        let mut q = t;
        while q > lo {
            if !rule.alphabet[self.buf[q - 1] as usize] {
                lo = q;
                break;
            }
            q -= 1;
        }
        // Cluster test: every byte of a match is in the rule's alphabet, so a
        // match starting in [lo, t] lies inside the alphabet run from lo. If
        // that run has fewer digits than any match needs, no match starts
        // anywhere in it, and the rule skips the whole run.
        // A match starting at s <= t also ends by t + maxlen, so the run is
        // only followed that far; a run cut there clears only up to t.
        // First the cheaper test: can any start in [lo, t] begin a match?
        let mut any = false;
        for s in lo..=t {
            let prev = if s > self.seg {
                Some(self.buf[s - 1])
            } else {
                None
            };
            if rule.viable[crate::matcher::lookbehind_class(prev)][self.buf[s] as usize] {
                any = true;
                break;
            }
        }
        if !any {
            self.clear[ri] = t + 1;
            return Ok(Step::Done);
        }
        if rule.min_digits > 0 {
            let mut digits = 0;
            let mut end = lo;
            let limit = hend.min(t + rule.maxlen);
            while end < limit && rule.alphabet[self.buf[end] as usize] {
                digits += usize::from(self.buf[end].is_ascii_digit());
                end += 1;
            }
            if digits < rule.min_digits {
                let closed = end < limit || (eos && end == hend);
                self.clear[ri] = if closed { end.max(t + 1) } else { t + 1 };
                return Ok(Step::Done);
            }
        }
        let hay = &self.buf[self.seg..hend];
        let pid = regex_automata::PatternID::new_unchecked(ri);
        for s in lo..=t {
            let prev = if s > self.seg {
                Some(self.buf[s - 1])
            } else {
                None
            };
            if !rule.viable[crate::matcher::lookbehind_class(prev)][self.buf[s] as usize] {
                continue;
            }
            let input = Input::new(hay)
                .span(s - self.seg..hay.len())
                .anchored(Anchored::Pattern(pid));
            let hm = m
                .dfa
                .try_search_fwd(&mut cache.dfa, &input)
                .map_err(|_| ScanError::Engine)?;
            let Some(hm) = hm else { continue };
            let e = self.seg + hm.offset();
            if e == s {
                continue;
            }
            let resume = self.confirm(m, cache, r, s, e, hend);
            self.clear[ri] = resume.clamp(s + 1, e);
            return Ok(Step::Done);
        }
        self.clear[ri] = t + 1;
        Ok(Step::Done)
    }

    /// Applies value group, validator and context to the match `[s, e)`;
    /// returns where the rule's search resumes.
    fn confirm(
        &mut self,
        m: &Matcher,
        scratch: &mut Scratch,
        r: u16,
        s: usize,
        e: usize,
        hend: usize,
    ) -> usize {
        let rule = &m.rules[r as usize];
        let (mut ms, mut me) = (s, e);
        if let (Some((re, group)), Some(Some((cache, caps)))) =
            (&rule.value_re, scratch.values.get_mut(r as usize))
        {
            let hay = &self.buf[self.seg..e];
            let input = Input::new(hay)
                .span(s - self.seg..hay.len())
                .anchored(Anchored::Yes);
            re.search_captures_with(cache, &input, caps);
            if let Some(span) = caps.get_group(*group) {
                ms = self.seg + span.start;
                me = self.seg + span.end;
            }
        }
        let mut resume = e;
        if let Some(v) = rule.validator {
            let (span, res) = v.check(&self.buf[ms..me]);
            resume = ms + res;
            match span {
                Some((a, b)) => {
                    me = ms + b;
                    ms += a;
                }
                None => return resume,
            }
        }
        if ms >= me {
            return resume;
        }
        if let Some(ctx) = &rule.context {
            // The buffer keeps `history` (> before) bytes before any start
            // that can still be decided, and `need` bytes after it, so the
            // bytes next to both windows are here unless the text ends.
            let before = Window::before(&self.buf[..hend], ms, ctx.before);
            let after = Window::after(&self.buf[..hend], me, ctx.after);
            if !ctx.confirms(before, after) {
                return resume;
            }
        }
        self.cands.push(Cand {
            start: ms,
            end: me,
            rule: r,
        });
        resume
    }

    fn emit(
        &mut self,
        m: &Matcher,
        mut frontier: usize,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) {
        if !self.cands.is_empty() {
            let reveals = |r: u16| m.rules[r as usize].action.reveals();
            self.cands.sort_unstable_by(|a, b| {
                a.start
                    .cmp(&b.start)
                    .then(b.end.cmp(&a.end))
                    .then(reveals(a.rule).cmp(&reveals(b.rule)))
                    .then(a.rule.cmp(&b.rule))
            });
            let mut done = 0;
            for (i, c) in self.cands.iter().enumerate() {
                if c.start >= frontier {
                    break;
                }
                let rule = &m.rules[c.rule as usize];
                if rule.action.reveals() > 0 && c.end > frontier {
                    // A candidate that keeps characters readable waits until
                    // every candidate that could overlap it (they start
                    // before its end) is decided; its bytes wait with it.
                    frontier = c.start;
                    break;
                }
                done += 1;
                if c.end <= self.emitted {
                    continue;
                }
                // A candidate overlapping one already masked has its
                // remaining tail masked too: overlaps never leak. And a
                // candidate that overlaps another reveals nothing, unless
                // every other one ends where it ends and reveals as much
                // (the same value seen by two rules): the characters it
                // would keep may be the other's.
                let k = rule.action.reveals();
                let overlapped = k > 0
                    && (c.start < self.emitted
                        || self.cands[i + 1..]
                            .iter()
                            .take_while(|d| d.start < c.end)
                            .any(|d| {
                                d.end != c.end || m.rules[d.rule as usize].action.reveals() < k
                            }));
                let start = c.start.max(self.emitted);
                out.extend_from_slice(&self.buf[self.emitted..start]);
                let action = if overlapped {
                    &Action::Mask { keep_last: 0 }
                } else {
                    &rule.action
                };
                action.apply(&self.buf[start..c.end], m.token_key.as_ref(), out);
                events.push(Redaction {
                    rule: RuleRef(c.rule),
                    start: self.base.wrapping_add(start as u64),
                    end: self.base.wrapping_add(c.end as u64),
                    fingerprint: m.fingerprint(&self.buf[start..c.end]),
                });
                self.emitted = c.end;
            }
            self.cands.drain(..done);
        }
        if frontier > self.emitted {
            out.extend_from_slice(&self.buf[self.emitted..frontier]);
            self.emitted = frontier;
        }
    }

    /// Drops `buf[..keep]`, shifting every index.
    fn compact(&mut self, keep: usize) {
        if keep == 0 {
            return;
        }
        self.buf.drain(..keep);
        self.base = self.base.wrapping_add(keep as u64);
        self.seg = self.seg.saturating_sub(keep);
        self.emitted -= keep;
        self.trig_pos = self.trig_pos.saturating_sub(keep);
        self.kw_done = self.kw_done.saturating_sub(keep);
        for h in &mut self.kw_hits {
            h.0 -= keep;
        }
        for c in &mut self.clear {
            *c = c.saturating_sub(keep);
        }
        self.prune_words(keep);
        for w in &mut self.w_occ {
            w.0 -= keep;
        }
        self.w_done = self.w_done.saturating_sub(keep);
        for d in &mut self.dirty {
            if *d != NONE {
                debug_assert!(*d >= keep);
                *d -= keep;
            }
        }
        for c in &mut self.cands {
            c.start -= keep;
            c.end -= keep;
        }
        for (v, cur) in self.f_ends.iter_mut().zip(&mut self.f_cur) {
            if v.is_empty() {
                continue;
            }
            let k = v.partition_point(|&e| e <= keep);
            v.drain(..k);
            for e in v.iter_mut() {
                *e -= keep;
            }
            *cur = cur.saturating_sub(k);
        }
        self.f_done = self.f_done.saturating_sub(keep);
    }

    /// Runs the prefilter over the bytes not yet seen by it, collecting the
    /// match ends in (`f_done`, end of buffer].
    fn run_filter(&mut self, m: &Matcher, scratch: &mut Scratch) -> Result<(), ScanError> {
        let (Some(f), Some(cache)) = (&m.filter, scratch.filter.as_mut()) else {
            return Ok(());
        };
        let len = self.buf.len();
        if self.f_done >= len {
            return Ok(());
        }
        // A match ending after `f_done` starts at most `filter_maxlen`
        // before it; the filter has no look-around, so starting the search
        // there finds every such match.
        let from = self.f_done.saturating_sub(m.filter_maxlen).max(self.seg);
        let (seg, f_done) = (self.seg, self.f_done);
        let hay = &self.buf[seg..len];
        let input = Input::new(hay).span(from - seg..hay.len());
        // The overlapping all-matches search, stepped here rather than by
        // `try_search_overlapping_fwd`: the same states and match ends, but
        // the states that are no match (nearly all bytes) take one table
        // lookup each. Matches are delayed by one byte: a match state
        // entered on reading `hay[at]` is a match ending at `at`.
        let mut sid = f
            .start_state_forward(cache, &input)
            .map_err(|_| ScanError::Engine)?;
        let f_ends = &mut self.f_ends;
        let mut record = |cache: &Cache, sid, e: usize| {
            if e <= f_done {
                return;
            }
            for i in 0..f.match_len(cache, sid) {
                let p = f.match_pattern(cache, sid, i);
                let v = &mut f_ends[m.filter_rule[p.as_usize()] as usize];
                if v.last() != Some(&e) {
                    v.push(e);
                }
            }
        };
        let mut at = from - seg;
        let mut dead = false;
        while at < hay.len() {
            if !sid.is_tagged() {
                (sid, at) = untagged_run(f, cache, sid, hay, at);
                if at == hay.len() {
                    break;
                }
            }
            sid = f
                .next_state(cache, sid, hay[at])
                .map_err(|_| ScanError::Engine)?;
            if sid.is_match() {
                record(cache, sid, seg + at);
            } else if sid.is_dead() {
                dead = true;
                break;
            } else if sid.is_quit() {
                return Err(ScanError::Engine);
            }
            at += 1;
        }
        if !dead {
            sid = f
                .next_eoi_state(cache, sid)
                .map_err(|_| ScanError::Engine)?;
            if sid.is_match() {
                record(cache, sid, len);
            }
        }
        self.f_done = len;
        Ok(())
    }

    /// For a filtered rule: the earliest position at or after its `clear`
    /// where one of its matches can start. A match starting at or after
    /// `clear` ends after it, at one of the filter's ends (matches of the
    /// rule are matches of its filter pattern), and starts at most `maxlen`
    /// before that end.
    #[inline]
    fn filter_start(&mut self, m: &Matcher, ri: usize, eos: bool) -> usize {
        let c = self.clear[ri];
        let v = &self.f_ends[ri];
        let mut i = self.f_cur[ri];
        if i > 0 && i <= v.len() && v[i - 1] > c {
            // `clear` moved back (a replay): search again.
            i = v.partition_point(|&e| e <= c);
        }
        while i < v.len() && v[i] <= c {
            i += 1;
        }
        self.f_cur[ri] = i;
        let next = match v.get(i) {
            Some(&e) => e.saturating_sub(m.rules[ri].maxlen),
            None if eos => self.buf.len(),
            // Every end up to `f_done` is known: a match not yet seen ends
            // after it.
            None => (self.f_done + 1).saturating_sub(m.rules[ri].maxlen),
        };
        next.max(c)
    }
}

#[cfg(test)]
mod tests {
    use super::Gate;
    use crate::{redact_all, Format, Matcher, Redactor};
    use std::sync::Arc;

    /// The gate's word arithmetic finds exactly the first trigger byte,
    /// bytes with the top bit set and padded or repeated extras included.
    #[test]
    fn gate_finds_the_first_trigger() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let sets: [(bool, [u8; 4]); 6] = [
            (true, *b"@@@@"),
            (false, *b"@@@@"),
            (true, [0, 0x80, b'9', 0xff]),
            (false, [b'+', b'$', b'+', b'/']),
            (true, [b'0'; 4]),
            (false, [0; 4]),
        ];
        let near: &[u8] = b"0123456789@+$/:\0\x80\xff\xb0\xb9\xc0";
        for (digits, extra) in sets {
            let g = Gate::new(digits, &extra);
            for _ in 0..3000 {
                let len = rand(40);
                let hay: Vec<u8> = (0..len)
                    .map(|_| match rand(3) {
                        0 => near[rand(near.len())],
                        1 => b'a' + rand(26) as u8,
                        _ => rand(256) as u8,
                    })
                    .collect();
                let want = hay
                    .iter()
                    .position(|&b| (digits && b.is_ascii_digit()) || extra.contains(&b));
                assert_eq!(g.find(&hay), want, "{digits} {extra:?} {hay:?}");
            }
        }
    }

    /// A keyword hit right after bytes every byte-triggered rule has
    /// cleared (here `password` after an email) is still seen. (The
    /// scanner once skipped such bytes and had to stop at keyword hits.)
    #[test]
    fn skips_stop_at_keyword_hits() {
        let m = Arc::new(Matcher::builtin().unwrap());
        let input = "4111 1111 1111 11114111 1111 1111 1111@1984-07-21.password: \u{20ac}GB824111 4111\n123-45-6789 x@y";
        let naive = crate::reference::Naive::new(&m).unwrap();
        let mut want = Vec::new();
        naive.redact(&m, input.as_bytes(), &mut want);
        let got = redact_all(&m, Format::Text, input.as_bytes()).unwrap().0;
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }

    /// Every split of inputs whose context word sits close to the end of
    /// the buffer when the trigger is decided gives the one-shot output.
    #[test]
    fn context_words_near_the_buffer_end() {
        let m = Arc::new(Matcher::builtin().unwrap());
        for input in [
            &b"ABA: 011000015 and more text here padding"[..],
            b"x tin 123456789 yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
            b"acct 00123456 zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            let whole = redact_all(&m, Format::Text, input).unwrap().0;
            for cut in 0..=input.len() {
                for cut2 in cut..=input.len() {
                    let mut r = Redactor::new(m.clone(), Format::Text);
                    let (mut out, mut ev) = (Vec::new(), Vec::new());
                    r.feed(&input[..cut], &mut out, &mut ev).unwrap();
                    r.feed(&input[cut..cut2], &mut out, &mut ev).unwrap();
                    r.feed(&input[cut2..], &mut out, &mut ev).unwrap();
                    r.finish(&mut out, &mut ev).unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&out),
                        String::from_utf8_lossy(&whole),
                        "cuts {cut} {cut2}"
                    );
                }
            }
        }
    }
}
