//! The streaming text scanner: the redaction hot path.
//!
//! # Semantics
//!
//! For each text rule independently, candidates are the rule regex's
//! leftmost-first, non-overlapping matches over the whole segment. A
//! candidate is kept if its validator and context words confirm it. Kept
//! candidates of all rules are then taken in order of start (longer first,
//! then rule order); one that overlaps an earlier one has only its
//! remaining tail masked, by its own action.
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

use crate::matcher::{Matcher, RuleRef};
use regex_automata::hybrid::dfa::Cache;
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
}

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
                        values,
                    },
                ));
                all.len() - 1
            }
        };
        f(&mut all[pos].1)
    })
}

/// The gate: index of the first byte in `hay` that is a digit (when
/// `digits`) or one of `extra`. Written as a branch-free OR over 32-byte
/// blocks so the compiler vectorises it.
#[inline]
fn find_trigger(hay: &[u8], digits: bool, extra: &[u8; 4]) -> Option<usize> {
    let is = |b: u8| {
        (digits & (b.wrapping_sub(b'0') < 10))
            | (b == extra[0])
            | (b == extra[1])
            | (b == extra[2])
            | (b == extra[3])
    };
    let mut i = 0;
    while i + 32 <= hay.len() {
        let block = &hay[i..i + 32];
        let mut any = false;
        for &b in block {
            any |= is(b);
        }
        if any {
            return block.iter().position(|&b| is(b)).map(|p| i + p);
        }
        i += 32;
    }
    hay[i..].iter().position(|&b| is(b)).map(|p| i + p)
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

    /// Ends the segment: scans and writes out everything held.
    pub fn end_segment(
        &mut self,
        m: &Matcher,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) -> Result<(), ScanError> {
        with_cache(m, |cache| self.run(m, cache, true, out, events))?;
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
            let mut p = len.saturating_sub(m.keyword_max - 1).max(from);
            while p < len && !m.is_keyword_prefix(&self.buf[p..len]) {
                p += 1;
            }
            p
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
        let t_end = self.collect_keywords(m, eos).min(len);
        let mut extra = [0u8; 4];
        let nextra = m.extra_bytes.len().min(4);
        extra[..nextra].copy_from_slice(&m.extra_bytes[..nextra]);
        for i in nextra..4 {
            // Padding repeats a real trigger (or a digit) so it adds nothing.
            extra[i] = if nextra > 0 { extra[0] } else { b'0' };
        }
        let byte_gate = m.digit_trigger || nextra > 0;
        let mut kw_i = 0;
        let mut pos = self.trig_pos;
        let mut stop = t_end;
        'outer: loop {
            let next_byte = if byte_gate && pos < t_end {
                find_trigger(&self.buf[pos..t_end], m.digit_trigger, &extra).map(|p| pos + p)
            } else {
                None
            };
            while kw_i < self.kw_hits.len() && self.kw_hits[kw_i].0 < pos {
                kw_i += 1;
            }
            let next_kw = self.kw_hits.get(kw_i).map(|h| h.0).filter(|&s| s < t_end);
            let t = match (next_byte, next_kw) {
                (None, None) => break,
                (Some(b), None) => b,
                (None, Some(k)) => k,
                (Some(b), Some(k)) => b.min(k),
            };
            if next_byte == Some(t) {
                let rules = &m.byte_rules[self.buf[t] as usize];
                for &r in rules {
                    if let Step::Suspend = self.process(m, cache, r, t, eos)? {
                        stop = t;
                        break 'outer;
                    }
                }
            }
            while kw_i < self.kw_hits.len() && self.kw_hits[kw_i].0 == t {
                let pat = self.kw_hits[kw_i].1 as usize;
                for &r in &m.keyword_rules[pat] {
                    if let Step::Suspend = self.process(m, cache, r, t, eos)? {
                        stop = t;
                        break 'outer;
                    }
                }
                kw_i += 1;
            }
            pos = t + 1;
            if next_byte == Some(t) && next_kw.is_none_or(|k| k > t) {
                // Skip bytes that every byte-triggered rule has cleared.
                let skip = m
                    .byte_triggered
                    .iter()
                    .map(|&r| self.clear[r as usize])
                    .min()
                    .unwrap_or(pos);
                pos = pos.max(skip.min(t_end));
            }
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
        self.compact(frontier.min(self.emitted).saturating_sub(m.history));
        Ok(())
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

    /// Decides rule `r`'s candidates that can contain the trigger at `t`.
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
            let before = &self.buf[ms.saturating_sub(ctx.before)..ms];
            let after = &self.buf[me..(me + ctx.after).min(hend)];
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
        frontier: usize,
        out: &mut Vec<u8>,
        events: &mut Vec<Redaction>,
    ) {
        if !self.cands.is_empty() {
            self.cands.sort_unstable_by(|a, b| {
                a.start
                    .cmp(&b.start)
                    .then(b.end.cmp(&a.end))
                    .then(a.rule.cmp(&b.rule))
            });
            let mut done = 0;
            for c in &self.cands {
                if c.start >= frontier {
                    break;
                }
                done += 1;
                if c.end <= self.emitted {
                    continue;
                }
                // A candidate overlapping one already masked has its
                // remaining tail masked too: overlaps never leak.
                let start = c.start.max(self.emitted);
                out.extend_from_slice(&self.buf[self.emitted..start]);
                let rule = &m.rules[c.rule as usize];
                rule.action
                    .apply(&self.buf[start..c.end], m.token_key.as_ref(), out);
                events.push(Redaction {
                    rule: RuleRef(c.rule),
                    start: self.base.wrapping_add(start as u64),
                    end: self.base.wrapping_add(c.end as u64),
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
        for c in &mut self.cands {
            c.start -= keep;
            c.end -= keep;
        }
    }
}
