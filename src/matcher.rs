//! Compiling rule packs into one immutable, shareable [`Matcher`].
//!
//! Compilation checks every rule (bounded regex, trigger, validator, action,
//! context) and gathers every error with its file, line and rule id before
//! failing, so `scrim check` and start-up report everything at once. The
//! result holds one lazy DFA with an anchored start per rule, the gate's
//! trigger tables, the JSON field-key index and each rule's examples.

use crate::mask::{Action, TokenKey};
use crate::pack::{ActionSpec, ContextSpec, PackError, PackErrors, PackSpec, RuleSpec};
use crate::validate;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::hybrid::dfa::DFA;
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{meta, MatchKind as ReMatchKind};
use regex_syntax::hir::{Class, Hir, HirKind};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest match a rule may have, in bytes. It bounds the bytes a stream
/// holds back, so it is kept small.
pub const MAX_RULE_LEN: usize = 400;
/// Widest context window (before or after) a rule may ask for.
pub const MAX_CONTEXT: usize = 128;

/// Options that are not part of the packs.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Key for `token` actions; a pack using `token` without it is an error.
    pub token_key: Option<TokenKey>,
    /// Report a keyed fingerprint of each redacted value (needs the key).
    pub fingerprint: bool,
}

/// Checks applied to a candidate after the regex matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    /// Issuer prefix, length and Luhn; picks the longest run of whole digit
    /// groups that is a card.
    Card,
    /// Luhn over the digits.
    Luhn,
    /// IBAN country length and mod-97; picks the prefix of the right length.
    Iban,
    /// ABA routing checksum.
    Aba,
    /// SSN area/group/serial rules.
    Ssn,
    /// 7 to 15 digits (E.164 allows at most 15).
    Phone,
}

impl Validator {
    fn parse(s: &str) -> Option<Validator> {
        Some(match s {
            "card" => Validator::Card,
            "luhn" => Validator::Luhn,
            "iban" => Validator::Iban,
            "aba" => Validator::Aba,
            "ssn" => Validator::Ssn,
            "phone" => Validator::Phone,
            _ => return None,
        })
    }

    /// Checks a candidate. Returns the confirmed span inside `cand`, if any,
    /// and where the rule's search resumes (an offset into `cand`, > 0).
    /// Most validators resume after the candidate; the IBAN validator
    /// resumes after the IBAN it found, or one byte in; the card validator
    /// resumes after the card it found, or, when a long run of digit groups
    /// held none, at the first group that could start a card running past
    /// the candidate's end, so a card is never swallowed by a longer run.
    pub fn check(self, cand: &[u8]) -> (Option<(usize, usize)>, usize) {
        match self {
            Validator::Card => {
                // A run of 19+ digits may have been cut by the pattern's
                // length bound, so a card may start inside it and continue
                // past its end: resume early enough to see that card whole.
                let cut = card_resume(cand);
                match card_span(cand) {
                    Some((a, b)) => (Some((a, b)), b.min(cut).max(1)),
                    None => (None, cut),
                }
            }
            // The pattern may run on past the IBAN into a following one
            // (`from NL91 ABNA 0417 1643 00 to DE89 …`), or start at a word
            // that only looks like one (`Room AB12 at HQ DE89 …`): resume
            // after the IBAN found, or, with none, at the next byte, so
            // the next candidate start inside this one is tried.
            Validator::Iban => match self.check_whole(cand) {
                Some((a, b)) => (Some((a, b)), b),
                None => (None, 1),
            },
            other => (other.check_whole(cand), cand.len()),
        }
    }

    fn check_whole(self, cand: &[u8]) -> Option<(usize, usize)> {
        let whole = Some((0, cand.len()));
        match self {
            Validator::Card => card_span(cand),
            Validator::Luhn => {
                let mut buf = [0u8; 40];
                let d = validate::digits(cand, &mut buf)?;
                (d.len() >= 2 && validate::luhn(d)).then_some((0, cand.len()))
            }
            Validator::Iban => {
                // The rule's pattern may run past the IBAN; only the prefix
                // with the country's registered length can validate.
                let mut alnum = 0;
                for (i, &b) in cand.iter().enumerate() {
                    if b.is_ascii_alphanumeric() {
                        alnum += 1;
                        if alnum >= 15 && validate::iban(&cand[..=i]) {
                            return Some((0, i + 1));
                        }
                    }
                }
                None
            }
            Validator::Aba => validate::aba(cand).then_some((0, cand.len())),
            Validator::Ssn => validate::ssn(cand).then_some((0, cand.len())),
            Validator::Phone => {
                let n = validate::ascii_digit_count(cand);
                (7..=15).contains(&n).then_some(whole?)
            }
        }
    }
}

/// Where to resume after a digit-group run with no card: at the earliest
/// group from which fewer than 19 digits remain (a card starting there
/// could continue past the run), but never at the run's first group.
fn card_resume(cand: &[u8]) -> usize {
    let total: usize = validate::digit_groups(cand)
        .map(|(s, e)| validate::group_digits(&cand[s..e]))
        .sum();
    if total < 19 {
        return cand.len();
    }
    let mut before = 0;
    for (s, e) in validate::digit_groups(cand) {
        if s > 0 && total - before < 19 {
            return s;
        }
        before += validate::group_digits(&cand[s..e]);
    }
    cand.len().max(1)
}

/// Finds the leftmost, then longest, run of whole digit groups in `cand`
/// that is a valid card number.
fn card_span(cand: &[u8]) -> Option<(usize, usize)> {
    // Digit groups: (start, end), split at separators; a percent-encoded
    // separator is skipped whole (see `validate::digit_groups`).
    let mut groups = [(0usize, 0usize); 40];
    let mut n = 0;
    for g in validate::digit_groups(cand) {
        *groups.get_mut(n)? = g;
        n += 1;
    }
    let groups = &groups[..n];
    // Every run of whole groups that is a card; runs that overlap are merged,
    // because two readings of the same digits ("482114111 4111" and
    // "4111 1111 1111 1111") must both be masked.
    let mut span: Option<(usize, usize)> = None;
    for a in 0..groups.len() {
        if let Some((_, end)) = span {
            if groups[a].0 >= end {
                break;
            }
        }
        let mut digits = 0;
        for (b, g) in groups.iter().enumerate().skip(a) {
            digits += validate::group_digits(&cand[g.0..g.1]);
            if digits > 19 {
                break;
            }
            if digits >= 13 && validate::card(&cand[groups[a].0..groups[b].1]) {
                span = Some(match span {
                    None => (groups[a].0, groups[b].1),
                    Some((s, e)) => (s, e.max(groups[b].1)),
                });
            }
        }
    }
    span
}

/// Context words around a candidate.
#[derive(Debug, Clone)]
pub struct Context {
    words: Option<AhoCorasick>,
    deny: Option<AhoCorasick>,
    /// Words that name the value (`labels` and `words`): one nearer the
    /// value than every deny word overrides them (`re your order: my SSN
    /// is …`). Present only with `deny`.
    labels: Option<AhoCorasick>,
    /// Bytes searched before the candidate.
    pub before: usize,
    /// Bytes searched after the candidate.
    pub after: usize,
}

/// A context window: the bytes searched for words, plus the one byte on
/// each side of it when there is one, which only decides whether a word
/// at the window's edge is a whole word.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    hay: &'a [u8],
    /// `hay[0]` is the byte before the window (not searched).
    lead: bool,
    /// The last byte of `hay` is the byte after the window (not searched).
    trail: bool,
}

impl<'a> Window<'a> {
    /// The `len` bytes of `text` before a value that starts at `start`,
    /// with the byte before them when `text` has one. The value side is a
    /// boundary (a word may touch the value: `SS#219456789`); the start of
    /// `text` (of a stream or segment) is one too.
    pub fn before(text: &'a [u8], start: usize, len: usize) -> Window<'a> {
        let end = start.min(text.len());
        let from = end.saturating_sub(len);
        let lead = from > 0;
        Window {
            hay: &text[from - usize::from(lead)..end],
            lead,
            trail: false,
        }
    }

    /// The `len` bytes of `text` after a value that ends at `end`, with the
    /// byte after them when `text` has one. The value side is a boundary;
    /// the end of `text` is one too.
    pub fn after(text: &'a [u8], end: usize, len: usize) -> Window<'a> {
        let start = end.min(text.len());
        let to = start.saturating_add(len).min(text.len());
        let trail = to < text.len();
        Window {
            hay: &text[start..to + usize::from(trail)],
            lead: false,
            trail,
        }
    }
}

impl Matcher {
    /// The right-hand half of [`Matcher::whole_word_bits`], for a word
    /// whose last byte is `last` and whose next byte is `next`: the gated
    /// rules for which that end can be a word's end in a context window.
    /// Shared with the JSON word trail (`scan::WordTrail`), which has only
    /// this half.
    #[inline]
    pub(crate) fn word_end_bits(&self, last: u8, next: u8) -> u64 {
        if next.is_ascii_alphanumeric() && !(last.is_ascii_lowercase() && next.is_ascii_uppercase())
        {
            self.ctx_alpha[usize::from(next)]
        } else {
            u64::MAX
        }
    }

    /// Of the gated rules in `bits`, those for which the context-word
    /// occurrence `text[s..e]` can count as a whole word in some context
    /// window of a value ([`Context::confirms`]): the gate keeps only those,
    /// so `tel` inside `tell` wakes no phone rule.
    ///
    /// Exact as a superset. A window is a slice of the same text, with the
    /// byte on each outer side, so an occurrence's neighbours there are
    /// `text[s - 1]` and `text[e]`, and it is judged whole by the test
    /// below, with two more ways to pass: it starts where an `after` window
    /// starts (right after the value: `text[s - 1]` is the value's last
    /// byte) or ends where a `before` window ends (right before the value:
    /// `text[e]` is its first byte). A value lies in a match, so those
    /// bytes are in the rule's alphabet. An occurrence at the start of
    /// `text`, or ending at its end (`e == text.len()`: the next byte is
    /// not known yet), is kept.
    #[inline]
    pub(crate) fn whole_word_bits(&self, text: &[u8], s: usize, e: usize, mut bits: u64) -> u64 {
        let camel = |i: usize| text[i - 1].is_ascii_lowercase() && text[i].is_ascii_uppercase();
        if s > 0
            && text[s - 1].is_ascii_alphanumeric()
            && !camel(s)
            && !escaped_punctuation_before(text, s)
        {
            bits &= self.ctx_alpha[usize::from(text[s - 1])];
        }
        if e < text.len() {
            bits &= self.word_end_bits(text[e - 1], text[e]);
        }
        bits
    }
}

/// Whether `hay[..i]` ends with a percent escape (`%XX`) of an ASCII
/// character that is not a letter or digit: in a URL or form body,
/// `my%20ssn` is "my ssn", so the `0` before `ssn` is a word boundary, not
/// part of a word.
fn escaped_punctuation_before(hay: &[u8], i: usize) -> bool {
    let Some(&[b'%', h, l]) = i.checked_sub(3).and_then(|s| hay.get(s..i)) else {
        return false;
    };
    let hex = |b: u8| char::from(b).to_digit(16);
    match (hex(h), hex(l)) {
        (Some(h), Some(l)) => {
            let c = (h * 16 + l) as u8;
            c.is_ascii() && !c.is_ascii_alphanumeric()
        }
        _ => false,
    }
}

impl Context {
    /// Whether a whole word of `ac` lies inside the window: neither
    /// neighbour of the occurrence is an ASCII letter or digit (`acct` does
    /// not count in `acctx`, nor `ss#` in `ss#x`); a percent escape of
    /// punctuation before it (`my%20ssn`) and a camelCase step (a lowercase
    /// letter, then an uppercase one: `routing|Number`, `customer|SSN`)
    /// count as boundaries. Relaxing this for words
    /// that end in punctuation was tried and reverted: "account #" then
    /// confirmed account numbers next to SSNs, and an account mask that
    /// keeps four digits showed SSN digits where the two overlapped.
    pub(crate) fn found(ac: &AhoCorasick, w: Window<'_>) -> bool {
        Self::whole_words(ac, w).next().is_some()
    }

    /// The whole-word occurrences of `ac` inside the window, as
    /// `(start, end)` in the window's bytes (see [`Context::found`]).
    fn whole_words<'w>(
        ac: &'w AhoCorasick,
        w: Window<'w>,
    ) -> impl Iterator<Item = (usize, usize)> + 'w {
        let hay = w.hay;
        let span = usize::from(w.lead)..hay.len().saturating_sub(usize::from(w.trail));
        let input = aho_corasick::Input::new(hay).span(span.clone());
        let camel = move |i: usize| hay[i - 1].is_ascii_lowercase() && hay[i].is_ascii_uppercase();
        (!span.is_empty())
            .then(|| ac.find_overlapping_iter(input))
            .into_iter()
            .flatten()
            .filter(move |m| {
                let before_ok = m.start() == 0
                    || !hay[m.start() - 1].is_ascii_alphanumeric()
                    || escaped_punctuation_before(hay, m.start())
                    || camel(m.start());
                let after_ok =
                    m.end() == hay.len() || !hay[m.end()].is_ascii_alphanumeric() || camel(m.end());
                before_ok && after_ok
            })
            .map(|m| (m.start(), m.end()))
    }

    /// The whole word of `ac` nearest the value in a `before` window: the
    /// one that ends last, and of those the longest.
    fn nearest(ac: &AhoCorasick, w: Window<'_>) -> Option<(usize, usize)> {
        Self::whole_words(ac, w).max_by_key(|&(s, e)| (e, std::cmp::Reverse(s)))
    }

    /// Does the context around a candidate confirm it? `before` is the
    /// window of [`Context::before`] bytes before it, `after` the window of
    /// [`Context::after`] bytes after it. A word cut by a window's outer
    /// edge is judged with the byte beyond that edge: "order" at the start
    /// of a window that begins inside "Border" is not the deny word, and
    /// "tin" inside "contacting" is not the context word.
    ///
    /// A deny word in `before` refuses the candidate unless a label (a
    /// `labels` or `words` entry) lies nearer the value than the nearest
    /// deny word: it ends after it, or ends with it and is longer.
    pub fn confirms(&self, before: Window<'_>, after: Window<'_>) -> bool {
        if let Some(deny) = &self.deny {
            if let Some(d) = Self::nearest(deny, before) {
                let label = self.labels.as_ref().and_then(|l| Self::nearest(l, before));
                let overrides = label.is_some_and(|l| l.1 > d.1 || (l.1 == d.1 && l.0 < d.0));
                if !overrides {
                    return false;
                }
            }
        }
        match &self.words {
            Some(words) => Self::found(words, before) || Self::found(words, after),
            None => true,
        }
    }
}

/// One compiled text rule.
#[derive(Debug)]
pub struct Rule {
    /// Rule id from the pack.
    pub id: String,
    /// Category.
    pub category: String,
    /// Name of the pack it came from.
    pub pack: String,
    /// Longest possible match.
    pub maxlen: usize,
    /// Most bytes between a match start and its trigger.
    pub back: usize,
    /// Every byte that can occur in a match.
    pub(crate) alphabet: [bool; 256],
    /// Candidate check.
    pub validator: Option<Validator>,
    /// Context words.
    pub context: Option<Context>,
    /// Masking.
    pub action: Action,
    /// A masked bare JSON number becomes `null` instead of a string.
    pub json_null: bool,
    /// Present when the pattern has a `value` group: only it is masked.
    pub(crate) value_re: Option<(meta::Regex, usize)>,
    /// Bytes of look-ahead needed before a start can be decided.
    pub(crate) need: usize,
    /// Triggered by keywords (rather than bytes).
    pub(crate) word_triggered: bool,
    /// Fewest ASCII digits any match contains (a sound lower bound).
    pub(crate) min_digits: usize,
    /// `viable[class][byte]`: a match can start with `byte` after a byte of
    /// look-behind class `class` (see [`lookbehind_class`]). Computed from
    /// the rule's DFA, so it is exact for the first byte.
    pub(crate) viable: [[bool; 256]; 5],
    /// The pattern as written (the naive reference scanner compiles it).
    pub pattern: String,
    /// Context-word gate: present for byte-triggered rules whose context
    /// requires words (see [`WordGate`]).
    pub(crate) gate: Option<WordGate>,
    /// `trig[byte]`: the byte triggers this rule.
    pub(crate) trig: [bool; 256],
    /// A match can start at a digit that follows a digit.
    pub(crate) mid_digit_viable: bool,
    /// The rule is in [`Matcher::filter`].
    pub(crate) filtered: bool,
}

/// A necessary condition for a rule whose context requires words: a
/// candidate triggered at `t` can only be confirmed if one of the words
/// starts in `[t - back - before, t + maxlen + after)`. The scanner skips the
/// regex at such triggers (see `scan.rs`).
#[derive(Debug)]
pub(crate) struct WordGate {
    /// The rule's context words (only used to build [`Matcher::ctx_words`]).
    pub(crate) words: Vec<String>,
    /// This rule's bit in [`Matcher::ctx_mask`] (0 when over 64 gated rules:
    /// such a rule is never skipped).
    pub(crate) bit: u64,
    /// `back + before`.
    pub(crate) lo: usize,
    /// `maxlen + after`.
    pub(crate) hi: usize,
}

/// An unanchored, all-matches lazy DFA over `hirs` (`None` when there are
/// none or it cannot be built).
fn union_dfa(hirs: &[Hir]) -> Option<DFA> {
    if hirs.is_empty() {
        return None;
    }
    let nfa = thompson::Compiler::new()
        .configure(thompson::Config::new().utf8(false).shrink(false))
        .build_many_from_hir(hirs)
        .ok()?;
    DFA::builder()
        .configure(
            DFA::config()
                .match_kind(ReMatchKind::All)
                .starts_for_each_pattern(false)
                .cache_capacity(4 << 20),
        )
        .build_from_nfa(nfa)
        .ok()
}

/// One compiled JSON field rule.
#[derive(Debug)]
pub struct FieldRule {
    /// Rule id.
    pub id: String,
    /// Category.
    pub category: String,
    /// Pack name.
    pub pack: String,
    /// Masking.
    pub action: Action,
    /// A masked bare number becomes `null` instead of a string.
    pub json_null: bool,
    /// Values with fewer ASCII digits are not masked by this rule (they get
    /// the text rules).
    pub min_digits: usize,
}

impl FieldRule {
    /// Whether the decoded value `v` is this field's value to mask. A value
    /// too long to hold (`overflow`) always is.
    pub fn covers(&self, v: &[u8], overflow: bool) -> bool {
        overflow || self.min_digits == 0 || validate::digit_count(v) >= self.min_digits
    }
}

/// Identifies a rule inside a [`Matcher`]: text rules first, then field rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef(pub u16);

/// Examples of one rule, kept for the self-test.
#[derive(Debug, Clone)]
pub struct RuleExamples {
    /// The rule.
    pub rule: RuleRef,
    /// File and line it was declared at.
    pub file: String,
    /// Line in the file.
    pub line: usize,
    /// Text inputs that must produce a redaction by the rule.
    pub must_match: Vec<String>,
    /// Text inputs that must not.
    pub no_match: Vec<String>,
    /// Exact input/output pairs; JSON for field rules, text otherwise.
    pub redact: Vec<[String; 2]>,
    /// Whether this is a field rule (examples are JSON).
    pub is_field: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Compiled rule packs: immutable, shared by every stream (`Arc<Matcher>`).
pub struct Matcher {
    pub(crate) id: u64,
    pub(crate) rules: Vec<Rule>,
    pub(crate) fields: Vec<FieldRule>,
    field_keys: HashMap<Vec<u8>, u16, std::hash::BuildHasherDefault<KeyHash>>,
    /// Normalised key endings of field rules (`FieldSpec::suffixes`).
    field_suffixes: HashMap<Vec<u8>, u16, std::hash::BuildHasherDefault<KeyHash>>,
    pub(crate) dfa: DFA,
    /// Prefilter: an unanchored, all-matches lazy DFA over the patterns of
    /// the byte-triggered rules with look-around removed. Pattern `i` is
    /// rule `filter_rule[i]`. Every match of such a rule is a match of its
    /// filter pattern, so where the filter reports no match end, no match of
    /// the rule can be (see `scan.rs`).
    pub(crate) filter: Option<DFA>,
    pub(crate) filter_rule: Vec<u16>,
    /// Longest match of a filtered rule.
    pub(crate) filter_maxlen: usize,
    /// For each byte value, the rules it triggers.
    pub(crate) byte_rules: Vec<Vec<u16>>,
    /// Whether ASCII digits trigger any rule.
    pub(crate) digit_trigger: bool,
    /// Whether every digit triggers the same rules (`byte_rules`).
    pub(crate) digit_rules_same: bool,
    /// Non-digit trigger bytes (at most 4 for the fast gate).
    pub(crate) extra_bytes: Vec<u8>,
    /// The gate's byte test: digits (when `digit_trigger`) and
    /// `extra_bytes`.
    pub(crate) gate: crate::scan::Gate,
    /// The same without digits.
    pub(crate) extra_gate: crate::scan::Gate,
    pub(crate) keywords: Option<AhoCorasick>,
    pub(crate) keyword_rules: Vec<Vec<u16>>,
    pub(crate) keyword_max: usize,
    /// Bytes that occur in some trigger word (both ASCII cases).
    keyword_bytes: [bool; 256],
    /// Bytes that begin some trigger word (both ASCII cases): a tail that
    /// begins with another byte is no word's prefix, found without the
    /// hash lookup (digits are keyword bytes since `%40`, and JSON strings
    /// often end in digits).
    keyword_first: [bool; 256],
    /// Every proper, non-empty prefix of every trigger word, lowercased.
    keyword_prefixes: std::collections::HashSet<Vec<u8>, std::hash::BuildHasherDefault<KeyHash>>,
    /// Every gated rule's context words in one automaton (overlapping,
    /// ASCII case-insensitive), with per word the gated rules it serves.
    pub(crate) ctx_words: Option<AhoCorasick>,
    pub(crate) ctx_mask: Vec<u64>,
    /// Per byte value: the `ctx_mask` bits of the gated rules whose
    /// alphabet holds it (see [`Matcher::whole_word_bits`]).
    ctx_alpha: [u64; 256],
    /// Trigger words and gated rules' context words in one automaton; per
    /// pattern, its index in `keyword_rules` (or `u32::MAX`) and its
    /// `ctx_mask` bits.
    pub(crate) all_words: Option<AhoCorasick>,
    /// The same words as a compact table DFA stepped one byte at a time,
    /// so a scan can carry its state across pieces of text
    /// (`scan::WordTrail`). `None` when there are no words, or when it
    /// could not be built (then every piece counts as holding every word).
    pub(crate) words_dfa: Option<WordDfa>,
    pub(crate) all_kw: Vec<u32>,
    pub(crate) all_ctx: Vec<u64>,
    /// Longest context word of a gated rule.
    pub(crate) ctx_maxword: usize,
    /// A whole-string check for JSON strings: an unanchored lazy DFA over
    /// the look-around-free patterns of every rule that needs no context
    /// word. A string where it finds no match, and where (with its context)
    /// no context word of a gated rule occurs, cannot contain a match of any
    /// rule (see `scan::may_match`). `None` when some such rule has no
    /// look-around-free form or the DFA cannot be built: every string is
    /// then scanned. Rules triggered by words are left out: they are in
    /// [`Matcher::word_precheck`].
    pub(crate) precheck: Option<DFA>,
    /// The same check for the rules triggered by words (`None`: no such
    /// rules).
    pub(crate) word_precheck: Option<WordPrecheck>,
    /// Per gated rule, by context-word bit: what the JSON precheck needs
    /// of it.
    pub(crate) gate_pre: Vec<GatePre>,
    /// Largest `back + before` of a gated rule.
    pub(crate) ctx_lo: usize,
    /// Bytes of already-released text kept for look-behind and context.
    pub(crate) history: usize,
    /// Largest look-ahead any rule needs.
    pub(crate) max_need: usize,
    pub(crate) token_key: Option<TokenKey>,
    fingerprint: bool,
    digest: String,
    packs: Vec<(String, usize)>,
    examples: Vec<RuleExamples>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("rules", &self.rules.len())
            .field("fields", &self.fields.len())
            .field("digest", &self.digest)
            .finish()
    }
}

/// The bytes a JSON key's normalised form leaves out.
fn is_key_separator(b: u8) -> bool {
    matches!(b, b'_' | b'-' | b'.' | b' ')
}

/// Normalises a JSON key for field-rule lookup: ASCII lowercase, without
/// `_`, `-`, `.` and spaces. Returns false when the key is too long to be a
/// field name (such keys never match).
pub fn normalize_key(key: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    for &b in key {
        if is_key_separator(b) {
            continue;
        }
        if out.len() == 64 {
            return false;
        }
        out.push(b.to_ascii_lowercase());
    }
    true
}

/// The JSON precheck of the rules triggered by words (`card.cvv`,
/// `contact.email_pct`, `bank.balance_bare`, …), kept out of
/// [`Matcher::precheck`]: such a rule matches only where one of its words
/// is, and in the one DFA its pattern can make the cache thrash. The
/// email-with-`%40` pattern did (its local part, counted to 64, runs on
/// through `%40` into the domain: JSON went from 74 to 528 instructions per
/// byte, `benches/icount`), and so did `bank.balance_bare`'s (62 to 532).
/// Here their DFA runs only on a string that holds one of their words,
/// which a quick search finds first.
#[derive(Debug)]
pub(crate) struct WordPrecheck {
    /// Those rules' trigger words (ASCII case-insensitive).
    pub words: AhoCorasick,
    /// Their look-around-free patterns, unanchored.
    pub dfa: DFA,
}

/// A gated rule as the JSON precheck sees it (`scan::may_match`).
#[derive(Debug)]
pub(crate) struct GatePre {
    /// Its look-around-free pattern as an unanchored lazy DFA, run when one
    /// of its context words is near (`None`: no such form, always scanned).
    pub dfa: Option<DFA>,
    /// How far before a trigger its context words can start and still
    /// count (`WordGate::lo`).
    pub lo: usize,
    /// The rule's index in [`Matcher::rules`].
    pub rule: u16,
}

/// Trigger words and context words (ASCII case-insensitive, every
/// occurrence) as a dense table DFA: per byte one class lookup and one
/// transition. States are numbered so that every state where a word ends
/// comes at or after `first_match`; for those, `ends` holds the length of
/// the shortest trigger word ending there (0: none) and the range of
/// `ctx_ends` that lists the context words ending there as (gated rules
/// served, length).
#[derive(Debug)]
pub(crate) struct WordDfa {
    classes: [u8; 256],
    stride: usize,
    start: u16,
    first_match: u16,
    ends: Vec<(u16, u32, u32)>,
    ctx_ends: Vec<(u64, u16)>,
    /// The transitions, `stride` per state, each target premultiplied by
    /// `stride` (what [`WordDfa::find_all`] and [`WordDfa::step`] step
    /// through): a state is its row's offset.
    trans_pm: Vec<u32>,
    /// Per word-end state (as `ends`): the range of `kw_ends` that lists
    /// every trigger word ending there as (index in
    /// [`Matcher::keyword_rules`], length).
    kw_span: Vec<(u32, u32)>,
    kw_ends: Vec<(u32, u16)>,
}

/// What a [`WordDfa`] reports at a word end.
pub(crate) struct WordEnds<'a> {
    /// Length of the shortest trigger word ending here, 0 for none.
    pub keyword: u16,
    /// Context words ending here: (gated rules they serve, length).
    pub context: &'a [(u64, u16)],
}

impl WordDfa {
    /// Largest table built (states times classes); bigger word lists fall
    /// back to treating every piece as holding every word.
    const MAX_CELLS: usize = 1 << 22;

    fn build(words: &[String], kw: &[u32], ctx: &[u64]) -> Option<WordDfa> {
        use aho_corasick::automaton::Automaton;
        let dfa = aho_corasick::dfa::Builder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(words)
            .ok()?;
        // Bytes of no word behave alike (class 0); the two ASCII cases of a
        // letter behave alike.
        let mut in_word = [false; 256];
        for w in words {
            for &b in w.as_bytes() {
                in_word[usize::from(b.to_ascii_lowercase())] = true;
                in_word[usize::from(b.to_ascii_uppercase())] = true;
            }
        }
        let other = (0..=255u8).find(|&b| !in_word[usize::from(b)])?;
        let mut classes = [0u8; 256];
        let mut reps = vec![other];
        for w in words {
            for &b in w.as_bytes() {
                let l = b.to_ascii_lowercase();
                if classes[l as usize] == 0 {
                    let c = u8::try_from(reps.len()).ok()?;
                    classes[l as usize] = c;
                    classes[l.to_ascii_uppercase() as usize] = c;
                    reps.push(l);
                }
            }
        }
        let stride = reps.len();
        let start = dfa.start_state(aho_corasick::Anchored::No).ok()?;
        // Breadth-first over the states reachable from the start.
        let mut ids = vec![start];
        let mut index: HashMap<aho_corasick::automaton::StateID, usize> = HashMap::new();
        index.insert(start, 0);
        let mut next = Vec::new();
        let mut i = 0;
        while i < ids.len() {
            for &r in &reps {
                let n = dfa.next_state(aho_corasick::Anchored::No, ids[i], r);
                let k = *index.entry(n).or_insert_with(|| {
                    ids.push(n);
                    ids.len() - 1
                });
                next.push(k);
            }
            if ids.len() * stride > Self::MAX_CELLS || ids.len() > usize::from(u16::MAX) {
                return None;
            }
            i += 1;
        }
        // Per state, the shortest trigger word ending there, the context
        // words ending there, by length, and every trigger word ending there.
        let ends_of = |sid| {
            let mut k = 0u16;
            let mut c: Vec<(u64, u16)> = Vec::new();
            let mut all_kw: Vec<(u32, u16)> = Vec::new();
            if dfa.is_match(sid) {
                for j in 0..dfa.match_len(sid) {
                    let p = dfa.match_pattern(sid, j);
                    let len = u16::try_from(dfa.pattern_len(p)).unwrap_or(u16::MAX);
                    if kw[p.as_usize()] != u32::MAX {
                        all_kw.push((kw[p.as_usize()], len));
                        if k == 0 || len < k {
                            k = len;
                        }
                    }
                    let bits = ctx[p.as_usize()];
                    if bits != 0 {
                        match c.iter_mut().find(|e| e.1 == len) {
                            Some(e) => e.0 |= bits,
                            None => c.push((bits, len)),
                        }
                    }
                }
            }
            (k, c, all_kw)
        };
        type EndInfo = (u16, Vec<(u64, u16)>, Vec<(u32, u16)>);
        let info: Vec<EndInfo> = ids.iter().map(|&s| ends_of(s)).collect();
        let is_end = |k: usize| info[k].0 != 0 || !info[k].1.is_empty();
        // Renumber: states without a word end first.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&k| is_end(k));
        let mut new_id = vec![0u16; ids.len()];
        for (n, &k) in order.iter().enumerate() {
            new_id[k] = n as u16;
        }
        let first_match = order.iter().take_while(|&&k| !is_end(k)).count() as u16;
        let mut trans = vec![0u16; ids.len() * stride];
        for (k, row) in next.chunks(stride).enumerate() {
            let base = usize::from(new_id[k]) * stride;
            for (c, &to) in row.iter().enumerate() {
                trans[base + c] = new_id[to];
            }
        }
        let mut ends = Vec::new();
        let mut ctx_ends = Vec::new();
        let mut kw_span = Vec::new();
        let mut kw_ends = Vec::new();
        for &k in &order[usize::from(first_match)..] {
            let from = ctx_ends.len() as u32;
            ctx_ends.extend_from_slice(&info[k].1);
            ends.push((info[k].0, from, ctx_ends.len() as u32));
            let from = kw_ends.len() as u32;
            kw_ends.extend_from_slice(&info[k].2);
            kw_span.push((from, kw_ends.len() as u32));
        }
        let trans_pm = trans
            .iter()
            .map(|&t| u32::from(t) * stride as u32)
            .collect();
        let start = new_id[0];
        Some(WordDfa {
            classes,
            stride,
            start,
            first_match,
            ends,
            ctx_ends,
            trans_pm,
            kw_span,
            kw_ends,
        })
    }

    /// Every occurrence of every word in `bytes` (a search from the start
    /// state: the same occurrences as an overlapping Aho-Corasick search
    /// over the same words): at every position where words end,
    /// `found(end, trigger words, context words)` with the trigger words as
    /// (index in [`Matcher::keyword_rules`], length) and the context words
    /// as (gated rules served, length).
    #[inline]
    pub(crate) fn find_all(
        &self,
        bytes: &[u8],
        mut found: impl FnMut(usize, &[(u32, u16)], &[(u64, u16)]),
    ) {
        let stride = self.stride as u32;
        let first = u32::from(self.first_match) * stride;
        let mut s = u32::from(self.start) * stride;
        let mut report = |s: u32, end: usize| {
            let k = (s / stride - u32::from(self.first_match)) as usize;
            let (_, cf, ct) = self.ends[k];
            let (kf, kt) = self.kw_span[k];
            found(
                end,
                &self.kw_ends[kf as usize..kt as usize],
                &self.ctx_ends[cf as usize..ct as usize],
            );
        };
        let step =
            |s: u32, b: u8| self.trans_pm[s as usize + usize::from(self.classes[usize::from(b)])];
        let mut chunks = bytes.chunks_exact(4);
        let mut at = 0;
        for c in &mut chunks {
            let s0 = step(s, c[0]);
            let s1 = step(s0, c[1]);
            let s2 = step(s1, c[2]);
            let s3 = step(s2, c[3]);
            // Word ends are rare: one test for the four states.
            if s0.max(s1).max(s2.max(s3)) >= first {
                for (i, &t) in [s0, s1, s2, s3].iter().enumerate() {
                    if t >= first {
                        report(t, at + i + 1);
                    }
                }
            }
            s = s3;
            at += 4;
        }
        for &b in chunks.remainder() {
            s = step(s, b);
            at += 1;
            if s >= first {
                report(s, at);
            }
        }
    }

    /// The start state. States are carried premultiplied by the stride
    /// (the offset of their row in `trans_pm`).
    pub(crate) fn start(&self) -> u32 {
        u32::from(self.start) * self.stride as u32
    }

    /// The state after `bytes` from state `s` (as [`WordDfa::start`]) if no
    /// word ends in them, else `None`.
    #[inline]
    pub(crate) fn run_quiet(&self, mut s: u32, bytes: &[u8]) -> Option<u32> {
        let first = u32::from(self.first_match) * self.stride as u32;
        for &b in bytes {
            s = self.trans_pm[s as usize + usize::from(self.classes[usize::from(b)])];
            if s >= first {
                return None;
            }
        }
        Some(s)
    }

    /// One transition (states as [`WordDfa::start`]).
    #[inline(always)]
    pub(crate) fn step(&self, s: u32, b: u8) -> u32 {
        self.trans_pm[s as usize + usize::from(self.classes[usize::from(b)])]
    }

    /// Steps from state `s` over `bytes[at..]` while no word ends: returns
    /// the last state before a word end and the position of the byte that
    /// leads to it, or the final state and `bytes.len()`. Four bytes a
    /// round, one test for the four.
    #[inline(always)]
    pub(crate) fn run_quiet_prefix(&self, mut s: u32, bytes: &[u8], mut at: usize) -> (u32, usize) {
        let first = u32::from(self.first_match) * self.stride as u32;
        while let Some(c) = bytes.get(at..at + 4) {
            let s0 = self.step(s, c[0]);
            let s1 = self.step(s0, c[1]);
            let s2 = self.step(s1, c[2]);
            let s3 = self.step(s2, c[3]);
            if s0.max(s1).max(s2.max(s3)) >= first {
                break;
            }
            s = s3;
            at += 4;
        }
        while let Some(&b) = bytes.get(at) {
            let n = self.step(s, b);
            if n >= first {
                break;
            }
            s = n;
            at += 1;
        }
        (s, at)
    }

    /// What ends in word-end state `s` (`s` at least the first such).
    pub(crate) fn ends_at(&self, s: u32) -> WordEnds<'_> {
        let k = (s / self.stride as u32 - u32::from(self.first_match)) as usize;
        let (keyword, from, to) = self.ends[k];
        WordEnds {
            keyword,
            context: &self.ctx_ends[from as usize..to as usize],
        }
    }

    /// Steps through `bytes` from state `s` (premultiplied, as
    /// [`WordDfa::start`]), which has read `pos` bytes; at every word end,
    /// `found(what ends, end position)`. Returns the new state. (The
    /// steps of [`WordTrail::feed`](crate::scan::WordTrail), which records
    /// the ends itself; the tests check them against Aho-Corasick.)
    #[cfg(test)]
    pub(crate) fn run(
        &self,
        mut s: u32,
        pos: u64,
        bytes: &[u8],
        mut found: impl FnMut(WordEnds<'_>, u64),
    ) -> u32 {
        let mut at = 0;
        loop {
            // Stepped four bytes a round up to each word end (rare).
            let (q, i) = self.run_quiet_prefix(s, bytes, at);
            if i == bytes.len() {
                return q;
            }
            s = self.step(q, bytes[i]);
            at = i + 1;
            found(self.ends_at(s), pos + at as u64);
        }
    }
}

/// The non-digit trigger bytes as the gate tests them: exactly four,
/// padded by repeating a real trigger (or a digit) so padding adds
/// nothing. Compilation refuses more than four.
fn gate_bytes(extra_bytes: &[u8]) -> [u8; 4] {
    let mut extra = [0u8; 4];
    let n = extra_bytes.len().min(4);
    extra[..n].copy_from_slice(&extra_bytes[..n]);
    let pad = if n > 0 { extra[0] } else { b'0' };
    extra[n..].fill(pad);
    extra
}

/// Hash of normalized field names: every JSON key is looked up, and the
/// table is fixed when packs compile (no insertion from traffic, so a
/// keyed hash buys nothing). Multiply-rotate over 8-byte words.
#[derive(Default)]
pub(crate) struct KeyHash(u64);

impl std::hash::Hasher for KeyHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let v = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
            h = (h.rotate_left(5) ^ v).wrapping_mul(K);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
        }
        self.0 = h;
    }
}

fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

fn collect_alphabet(hir: &Hir, set: &mut [bool; 256]) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(lit) => {
            for &b in lit.0.iter() {
                set[b as usize] = true;
            }
        }
        HirKind::Class(Class::Bytes(c)) => {
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    set[b as usize] = true;
                }
            }
        }
        HirKind::Class(Class::Unicode(c)) => {
            for r in c.ranges() {
                let (s, e) = (r.start() as u32, r.end() as u32);
                for b in s.min(0x7f)..=e.min(0x7f) {
                    set[b as usize] = true;
                }
                if e >= 0x80 {
                    set[0x80..].fill(true);
                }
            }
        }
        HirKind::Repetition(r) => collect_alphabet(&r.sub, set),
        HirKind::Capture(c) => collect_alphabet(&c.sub, set),
        HirKind::Concat(v) | HirKind::Alternation(v) => {
            for h in v {
                collect_alphabet(h, set);
            }
        }
    }
}

/// `hir` without look-around assertions (and without captures): it matches
/// a superset of `hir`'s matches, and whether `[s, e)` matches depends only
/// on the bytes `[s, e)`.
fn strip_look(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Look(_) => Hir::empty(),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => hir.clone(),
        HirKind::Repetition(r) => Hir::repetition(regex_syntax::hir::Repetition {
            min: r.min,
            max: r.max,
            greedy: r.greedy,
            sub: Box::new(strip_look(&r.sub)),
        }),
        HirKind::Capture(c) => strip_look(&c.sub),
        HirKind::Concat(v) => Hir::concat(v.iter().map(strip_look).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(strip_look).collect()),
    }
}

/// A lower bound on the ASCII digits in any match of `hir`.
fn count_min_digits(hir: &Hir) -> usize {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(lit) => lit.0.iter().filter(|b| b.is_ascii_digit()).count(),
        HirKind::Class(Class::Bytes(c)) => {
            let all_digits = !c.ranges().is_empty()
                && c.ranges()
                    .iter()
                    .all(|r| r.start() >= b'0' && r.end() <= b'9');
            usize::from(all_digits)
        }
        HirKind::Class(Class::Unicode(c)) => {
            let all_digits = !c.ranges().is_empty()
                && c.ranges()
                    .iter()
                    .all(|r| r.start() >= '0' && r.end() <= '9');
            usize::from(all_digits)
        }
        HirKind::Repetition(r) => (r.min as usize).saturating_mul(count_min_digits(&r.sub)),
        HirKind::Capture(c) => count_min_digits(&c.sub),
        HirKind::Concat(v) => v.iter().map(count_min_digits).sum(),
        HirKind::Alternation(v) => v.iter().map(count_min_digits).min().unwrap_or(0),
    }
}

/// How a pattern's matches relate to its trigger bytes (look-around
/// ignored, which can only over-estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TriggerShape {
    /// Largest index of the first trigger byte, over the matches that
    /// contain one (`None`: no match contains one).
    first: Option<usize>,
    /// Longest match with no trigger byte (`None`: every match has one).
    without: Option<usize>,
}

fn trigger_shape(hir: &Hir, trig: &[bool; 256]) -> TriggerShape {
    let max = |a: Option<usize>, b: Option<usize>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    };
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => TriggerShape {
            first: None,
            without: Some(0),
        },
        HirKind::Literal(lit) => match lit.0.iter().position(|&b| trig[b as usize]) {
            Some(i) => TriggerShape {
                first: Some(i),
                without: None,
            },
            None => TriggerShape {
                first: None,
                without: Some(lit.0.len()),
            },
        },
        HirKind::Class(Class::Bytes(c)) => {
            let bytes = || c.ranges().iter().flat_map(|r| r.start()..=r.end());
            TriggerShape {
                first: bytes().any(|b| trig[b as usize]).then_some(0),
                without: bytes().any(|b| !trig[b as usize]).then_some(1),
            }
        }
        HirKind::Class(Class::Unicode(c)) => {
            let chars = || c.ranges().iter().flat_map(|r| r.start()..=r.end());
            let is_trig = |ch: char| ch.is_ascii() && trig[ch as usize];
            TriggerShape {
                first: chars().any(is_trig).then_some(0),
                without: chars().filter(|&ch| !is_trig(ch)).map(char::len_utf8).max(),
            }
        }
        HirKind::Capture(c) => trigger_shape(&c.sub, trig),
        HirKind::Concat(v) => {
            let mut acc = TriggerShape {
                first: None,
                without: Some(0),
            };
            for h in v {
                let x = trigger_shape(h, trig);
                acc = TriggerShape {
                    // A trigger already seen stays first; otherwise the
                    // trigger-free prefix so far comes before x's.
                    first: max(acc.first, acc.without.zip(x.first).map(|(a, b)| a + b)),
                    without: acc.without.zip(x.without).map(|(a, b)| a + b),
                };
            }
            acc
        }
        HirKind::Alternation(v) => v.iter().map(|h| trigger_shape(h, trig)).fold(
            TriggerShape {
                first: None,
                without: None,
            },
            |a, x| TriggerShape {
                first: max(a.first, x.first),
                without: max(a.without, x.without),
            },
        ),
        HirKind::Repetition(r) => {
            let s = trigger_shape(&r.sub, trig);
            // Patterns are bounded (checked elsewhere); an unbounded one is
            // treated as up to 64 copies, past the longest allowed match.
            let most = r.max.map_or(64, |m| m as usize);
            let without = if r.min == 0 {
                Some(s.without.map_or(0, |n| n * most))
            } else {
                s.without.map(|n| n * most)
            };
            let first = if most == 0 {
                None
            } else {
                s.first.map(|f| f + s.without.map_or(0, |n| n * (most - 1)))
            };
            TriggerShape { first, without }
        }
    }
}

/// Look-behind classes that decide a DFA start state for ASCII patterns:
/// start of text, word byte, other byte, `\n`, `\r`.
pub(crate) fn lookbehind_class(prev: Option<u8>) -> usize {
    match prev {
        None => 0,
        Some(b'\n') => 3,
        Some(b'\r') => 4,
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => 1,
        Some(_) => 2,
    }
}

/// Fills each rule's `viable` table from the DFA: which first bytes can
/// begin a match after each look-behind class. On any DFA error the table
/// stays all-true (always attempt), which is slower but never misses.
fn fill_viable(dfa: &DFA, rules: &mut [Rule]) {
    use regex_automata::util::start;
    let mut cache = dfa.create_cache();
    let reps = [None, Some(b'a'), Some(b' '), Some(b'\n'), Some(b'\r')];
    for (i, rule) in rules.iter_mut().enumerate() {
        let pid = regex_automata::PatternID::new_unchecked(i);
        for (c, rep) in reps.iter().enumerate() {
            let cfg = start::Config::new()
                .anchored(regex_automata::Anchored::Pattern(pid))
                .look_behind(*rep);
            let Ok(sid) = dfa.start_state(&mut cache, &cfg) else {
                continue;
            };
            for b in 0..=255u8 {
                if let Ok(next) = dfa.next_state(&mut cache, sid, b) {
                    rule.viable[c][b as usize] = !next.is_dead();
                }
            }
        }
        rule.mid_digit_viable = (b'0'..=b'9').any(|d| rule.viable[1][d as usize]);
    }
}

fn ascii_ci_ac(words: &[String]) -> Result<AhoCorasick, String> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(words)
        .map_err(|e| format!("context words: {e}"))
}

fn compile_action(a: &ActionSpec, category: &str, opts: &CompileOptions) -> Result<Action, String> {
    match a.kind.as_str() {
        "mask" => {
            if category == "card" && a.keep_last > 4 {
                return Err(format!(
                    "card rules keep at most the last 4 digits (keep_last = {})",
                    a.keep_last
                ));
            }
            if a.label.is_some() {
                return Err("`label` is only used by type = \"label\"".into());
            }
            Ok(Action::Mask {
                keep_last: a.keep_last,
            })
        }
        "label" => match &a.label {
            Some(l) if !l.is_empty() => Ok(Action::Label(l.clone())),
            _ => Err("type = \"label\" needs a non-empty `label`".into()),
        },
        "token" => {
            if opts.token_key.is_none() {
                return Err(
                    "type = \"token\" needs a token key (SCRIM_TOKEN_KEY or --token-key-file)"
                        .into(),
                );
            }
            Ok(Action::Token {
                category: category.to_string(),
            })
        }
        other => Err(format!(
            "unknown action type {other:?} (expected mask, label or token)"
        )),
    }
}

fn json_null(v: &Option<String>) -> Result<bool, String> {
    match v.as_deref() {
        None | Some("string") => Ok(false),
        Some("null") => Ok(true),
        Some(o) => Err(format!(
            "json_number = {o:?}: expected \"string\" or \"null\""
        )),
    }
}

struct PendingRule {
    rule: Rule,
    pattern: String,
    /// The pattern with look-around removed (for the prefilter).
    loose: Option<Hir>,
    trigger_digits: bool,
    trigger_bytes: Vec<u8>,
    trigger_words: Vec<String>,
}

fn compile_rule(
    spec: &RuleSpec,
    pack: &str,
    opts: &CompileOptions,
) -> Result<PendingRule, Vec<String>> {
    let mut errs = Vec::new();
    let mut parser = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build();
    let hir = match parser.parse(&spec.pattern) {
        Ok(h) => Some(h),
        Err(e) => {
            errs.push(format!("pattern does not parse:\n{e}"));
            None
        }
    };
    let mut alphabet = [false; 256];
    let mut maxlen = 0;
    let mut min_digits = 0;
    let mut value_re = None;
    if let Some(hir) = &hir {
        collect_alphabet(hir, &mut alphabet);
        min_digits = count_min_digits(hir);
        let props = hir.properties();
        match props.maximum_len() {
            None => errs.push(
                "pattern is unbounded (uses * or + or {n,}); use bounded repetition like {1,64}"
                    .into(),
            ),
            Some(m) if m > MAX_RULE_LEN => errs.push(format!(
                "pattern can match {m} bytes; at most {MAX_RULE_LEN} are allowed"
            )),
            Some(m) => maxlen = m,
        }
        if props.minimum_len().unwrap_or(0) == 0 {
            errs.push("pattern can match the empty string".into());
        }
        if spec.pattern.contains("(?P<value>") || spec.pattern.contains("(?<value>") {
            match meta::Regex::builder()
                .syntax(syntax_config())
                .build(&spec.pattern)
            {
                Ok(re) => match re
                    .group_info()
                    .to_index(regex_automata::PatternID::ZERO, "value")
                {
                    Some(idx) => value_re = Some((re, idx)),
                    None => errs.push("capture group `value` not found".into()),
                },
                Err(e) => errs.push(format!("pattern does not compile: {e}")),
            }
        }
    }
    let t = &spec.trigger;
    let mut trigger_bytes = Vec::new();
    for b in t.bytes.bytes() {
        if !b.is_ascii() || b.is_ascii_digit() {
            errs.push(format!(
                "trigger.bytes must be ASCII non-digits (use digits = true for digits); got {:?}",
                t.bytes
            ));
            break;
        }
        trigger_bytes.push(b);
    }
    if !t.digits && trigger_bytes.is_empty() && t.words.is_empty() {
        errs.push("trigger needs digits = true, bytes or words".into());
    }
    if !t.words.is_empty() && (t.digits || !trigger_bytes.is_empty()) {
        errs.push("trigger.words cannot be combined with digits or bytes".into());
    }
    if t.words.iter().any(|w| w.is_empty()) {
        errs.push("trigger.words has an empty word".into());
    }
    if t.back > 64 {
        errs.push(format!("trigger.back = {} is over 64", t.back));
    }
    let validator = match spec.validate.as_deref() {
        None => None,
        Some(v) => match Validator::parse(v) {
            Some(v) => Some(v),
            None => {
                errs.push(format!(
                    "unknown validator {v:?} (expected card, luhn, iban, aba, ssn, phone)"
                ));
                None
            }
        },
    };
    let context = match &spec.context {
        None => None,
        Some(c) => match compile_context(c) {
            Ok(c) => Some(c),
            Err(e) => {
                errs.push(e);
                None
            }
        },
    };
    let action = match compile_action(&spec.action, &spec.category, opts) {
        Ok(a) => Some(a),
        Err(e) => {
            errs.push(e);
            None
        }
    };
    let json_null = json_null(&spec.json_number).unwrap_or_else(|e| {
        errs.push(e);
        false
    });
    if spec.id.is_empty() || spec.category.is_empty() {
        errs.push("id and category must be non-empty".into());
    }
    let mut trig = [false; 256];
    if t.digits {
        trig[b'0' as usize..=b'9' as usize].fill(true);
    }
    for &b in &trigger_bytes {
        trig[b as usize] = true;
    }
    // The trigger contract (patterns/README.md, Triggers): the scanner only
    // tries starts near triggers, so a match without a trigger, or with
    // its first trigger more than `back` bytes in, would be missed silently.
    if let (Some(hir), true) = (&hir, t.words.is_empty()) {
        let shape = trigger_shape(hir, &trig);
        if let Some(n) = shape.without {
            errs.push(format!(
                "the pattern can match {n} bytes that contain no trigger (no digit or trigger.bytes byte); the scanner would never try such a match"
            ));
        }
        if let Some(pre) = shape.first.filter(|&p| p > t.back) {
            errs.push(format!(
                "a match can have {pre} bytes before its first trigger, but trigger.back = {}; such matches would be missed (set back = {pre})",
                t.back
            ));
        }
    }
    // Words with `back`: the scanner tries starts up to `back` bytes
    // before each word, so every match must hold a word that begins at
    // most `back` bytes in. Whole words are not followed through the
    // pattern, but a word begins with one of its first bytes: a match
    // without one, or with the first one later than `back`, cannot hold
    // such a word. (Words with `back = 0` keep their older contract, a
    // match begins with a word, which is the pack author's to keep.)
    if let (Some(hir), false, true) = (&hir, t.words.is_empty(), t.back > 0) {
        let mut first = [false; 256];
        for w in t.words.iter().filter_map(|w| w.bytes().next()) {
            first[usize::from(w.to_ascii_lowercase())] = true;
            first[usize::from(w.to_ascii_uppercase())] = true;
        }
        let shape = trigger_shape(hir, &first);
        if let Some(n) = shape.without {
            errs.push(format!(
                "the pattern can match {n} bytes that contain no trigger word; the scanner would never try such a match"
            ));
        }
        if let Some(pre) = shape.first.filter(|&p| p > t.back) {
            errs.push(format!(
                "a match can have {pre} bytes before its first trigger word, but trigger.back = {}; such matches would be missed (set back = {pre})",
                t.back
            ));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let after = context.as_ref().map_or(0, |c| c.after);
    let gate = match &spec.context {
        Some(c) if !c.words.is_empty() && t.words.is_empty() => Some(WordGate {
            words: word_spellings(&c.words),
            bit: 0,
            lo: t.back + c.before,
            hi: maxlen + c.after,
        }),
        _ => None,
    };
    Ok(PendingRule {
        rule: Rule {
            id: spec.id.clone(),
            category: spec.category.clone(),
            pack: pack.to_string(),
            maxlen,
            back: t.back,
            alphabet,
            validator,
            context,
            action: action.unwrap_or(Action::Label(String::new())),
            json_null,
            value_re,
            need: maxlen + after + 1,
            word_triggered: !t.words.is_empty(),
            min_digits,
            viable: [[true; 256]; 5],
            pattern: spec.pattern.clone(),
            gate,
            trig,
            mid_digit_viable: true,
            filtered: false,
        },
        pattern: spec.pattern.clone(),
        loose: hir.as_ref().map(strip_look),
        trigger_digits: t.digits,
        trigger_bytes,
        trigger_words: t.words.clone(),
    })
}

/// Every spelling a context word is searched in: as written and, for a
/// word of several, with the spaces written as in keys, URLs and form
/// bodies: `+`, `_`, `-`, `%20`, or nothing (`social_security_number`,
/// `account%20number`, `accountNumber`; session 12 leak review). The gate
/// and the context check use the same list.
fn word_spellings(words: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for w in words {
        out.push(w.clone());
        if w.contains(' ') {
            for sep in ["+", "_", "-", "%20", ""] {
                out.push(w.replace(' ', sep));
            }
        }
    }
    out.dedup();
    out
}

fn compile_context(c: &ContextSpec) -> Result<Context, String> {
    if c.words.is_empty() && c.deny.is_empty() {
        return Err("context needs `words` or `deny`".into());
    }
    if !c.labels.is_empty() && c.deny.is_empty() {
        return Err(
            "context `labels` only override `deny` words; add `deny` or drop `labels`".into(),
        );
    }
    if c.before > MAX_CONTEXT || c.after > MAX_CONTEXT {
        return Err(format!(
            "context before/after are limited to {MAX_CONTEXT} bytes"
        ));
    }
    Ok(Context {
        words: if c.words.is_empty() {
            None
        } else {
            Some(ascii_ci_ac(&word_spellings(&c.words))?)
        },
        deny: if c.deny.is_empty() {
            None
        } else {
            Some(ascii_ci_ac(&word_spellings(&c.deny))?)
        },
        labels: if c.deny.is_empty() || (c.labels.is_empty() && c.words.is_empty()) {
            None
        } else {
            let all: Vec<String> = c.labels.iter().chain(&c.words).cloned().collect();
            Some(ascii_ci_ac(&word_spellings(&all))?)
        },
        before: c.before,
        after: c.after,
    })
}

impl Matcher {
    /// Compiles packs. Every error in every pack is returned together.
    pub fn compile(packs: &[PackSpec], opts: &CompileOptions) -> Result<Matcher, PackErrors> {
        let mut errors = Vec::new();
        let mut pending = Vec::new();
        let mut fields = Vec::new();
        let mut field_keys = HashMap::default();
        let mut field_suffixes = HashMap::default();
        let mut examples = Vec::new();
        let mut ids: HashMap<String, (String, usize)> = HashMap::new();
        let mut pack_counts = Vec::new();
        let mut field_examples = Vec::new();
        let mut names = HashMap::new();
        for pack in packs {
            if let Some(prev) = names.insert(pack.name.clone(), pack.file.clone()) {
                errors.push(PackError {
                    file: pack.file.clone(),
                    line: None,
                    rule: None,
                    message: format!("pack name {:?} is also used by {prev}", pack.name),
                });
            }
            pack_counts.push((pack.name.clone(), pack.rules.len() + pack.fields.len()));
            let mut err = |line: usize, id: &str, message: String| {
                errors.push(PackError {
                    file: pack.file.clone(),
                    line: Some(line),
                    rule: Some(id.to_string()),
                    message,
                })
            };
            for located in &pack.rules {
                let spec = &located.value;
                if let Some((f, l)) = ids.insert(spec.id.clone(), (pack.file.clone(), located.line))
                {
                    err(
                        located.line,
                        &spec.id,
                        format!("duplicate rule id (also at {f}:{l})"),
                    );
                }
                match compile_rule(spec, &pack.name, opts) {
                    Ok(p) => {
                        examples.push((
                            pending.len(),
                            pack.file.clone(),
                            located.line,
                            spec.examples.clone(),
                        ));
                        pending.push(p);
                    }
                    Err(es) => {
                        for e in es {
                            err(located.line, &spec.id, e);
                        }
                    }
                }
            }
            for located in &pack.fields {
                let spec = &located.value;
                if let Some((f, l)) = ids.insert(spec.id.clone(), (pack.file.clone(), located.line))
                {
                    err(
                        located.line,
                        &spec.id,
                        format!("duplicate rule id (also at {f}:{l})"),
                    );
                }
                let action = compile_action(&spec.action, &spec.category, opts);
                let jn = json_null(&spec.json_number);
                if spec.keys.is_empty() {
                    err(
                        located.line,
                        &spec.id,
                        "field rule needs at least one key".into(),
                    );
                }
                if !spec.examples.must_match.is_empty() || !spec.examples.no_match.is_empty() {
                    err(
                        located.line,
                        &spec.id,
                        "field rules take `redact` examples (JSON in, JSON out) only".into(),
                    );
                }
                match (action, jn) {
                    (Ok(action), Ok(json_null)) => {
                        let idx = fields.len() as u16;
                        let mut norm = Vec::new();
                        for (word, list, map) in [
                            ("key", &spec.keys, &mut field_keys),
                            ("suffix", &spec.suffixes, &mut field_suffixes),
                        ] {
                            for k in list {
                                if !normalize_key(k.as_bytes(), &mut norm) || norm.is_empty() {
                                    err(
                                        located.line,
                                        &spec.id,
                                        format!("{word} {k:?} is empty or too long"),
                                    );
                                    continue;
                                }
                                if let Some(prev) = map.insert(norm.clone(), idx) {
                                    if prev != idx {
                                        err(
                                            located.line,
                                            &spec.id,
                                            format!(
                                                "{word} {k:?} is already claimed by another field rule"
                                            ),
                                        );
                                    }
                                }
                            }
                        }
                        field_examples.push((
                            fields.len(),
                            pack.file.clone(),
                            located.line,
                            spec.examples.redact.clone(),
                        ));
                        fields.push(FieldRule {
                            id: spec.id.clone(),
                            category: spec.category.clone(),
                            pack: pack.name.clone(),
                            action,
                            json_null,
                            min_digits: spec.min_digits,
                        });
                    }
                    (a, j) => {
                        for e in [a.err(), j.err()].into_iter().flatten() {
                            err(located.line, &spec.id, e);
                        }
                    }
                }
            }
        }
        if pending.len() + fields.len() > u16::MAX as usize / 2 {
            errors.push(PackError {
                file: "(all packs)".into(),
                line: None,
                rule: None,
                message: "too many rules".into(),
            });
        }
        if pending.is_empty() && fields.is_empty() && errors.is_empty() {
            errors.push(PackError {
                file: "(all packs)".into(),
                line: None,
                rule: None,
                message: "no rules loaded".into(),
            });
        }
        if !errors.is_empty() {
            return Err(PackErrors(errors));
        }
        let patterns: Vec<&str> = pending.iter().map(|p| p.pattern.as_str()).collect();
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(ReMatchKind::LeftmostFirst)
                    .starts_for_each_pattern(true)
                    .cache_capacity(4 << 20),
            )
            .syntax(syntax_config())
            .thompson(thompson::Config::new().utf8(false))
            .build_many(&patterns)
            .map_err(|e| {
                PackErrors(vec![PackError {
                    file: "(all packs)".into(),
                    line: None,
                    rule: None,
                    message: format!("rules do not compile together: {e}"),
                }])
            })?;
        let mut byte_rules = vec![Vec::new(); 256];
        let mut extra_bytes = Vec::new();
        let mut digit_trigger = false;
        let mut words: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<u16>> = Vec::new();
        for (i, p) in pending.iter().enumerate() {
            let i = i as u16;
            if p.trigger_digits {
                digit_trigger = true;
                for b in b'0'..=b'9' {
                    byte_rules[b as usize].push(i);
                }
            }
            for &b in &p.trigger_bytes {
                if !extra_bytes.contains(&b) {
                    extra_bytes.push(b);
                }
                // Once per byte and rule ("@@" or a digit listed as a byte
                // too): the scanner visits a rule once per trigger.
                if byte_rules[b as usize].contains(&i) {
                    continue;
                }
                byte_rules[b as usize].push(i);
            }
            for w in &p.trigger_words {
                let lw = w.to_ascii_lowercase();
                match words.iter().position(|x| *x == lw) {
                    Some(k) => keyword_rules[k].push(i),
                    None => {
                        words.push(lw);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        // Trigger words of the word-triggered rules (for the JSON
        // precheck, `WordPrecheck`).
        let mut word_list: Vec<String> = Vec::new();
        for p in pending.iter().filter(|p| p.rule.word_triggered) {
            for w in &p.trigger_words {
                if !word_list.contains(w) {
                    word_list.push(w.clone());
                }
            }
        }
        let keywords = if words.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&words)
                    .map_err(|e| {
                        PackErrors(vec![PackError {
                            file: "(all packs)".into(),
                            line: None,
                            rule: None,
                            message: format!("trigger words: {e}"),
                        }])
                    })?,
            )
        };
        let keyword_max = words.iter().map(|w| w.len()).max().unwrap_or(0);
        // The prefilter: every byte-triggered rule's pattern without
        // look-around, in one unanchored all-matches DFA.
        let mut filter_rule: Vec<u16> = Vec::new();
        let mut loose: Vec<Hir> = Vec::new();
        for (i, p) in pending.iter().enumerate() {
            if let (true, Some(h)) = (p.trigger_digits && p.rule.gate.is_none(), &p.loose) {
                filter_rule.push(i as u16);
                loose.push(h.clone());
            }
        }
        let filter = union_dfa(&loose);
        if filter.is_none() {
            filter_rule.clear();
        }
        let loose_all: Vec<Option<Hir>> = pending.iter().map(|p| p.loose.clone()).collect();
        let mut rules: Vec<Rule> = pending.into_iter().map(|p| p.rule).collect();
        for &r in &filter_rule {
            rules[r as usize].filtered = true;
        }
        let mut ctx_list: Vec<String> = Vec::new();
        let mut ctx_mask: Vec<u64> = Vec::new();
        let mut nbit = 0;
        for r in rules.iter_mut() {
            let Some(g) = &mut r.gate else { continue };
            if nbit == 64 {
                r.gate = None;
                continue;
            }
            g.bit = 1u64 << nbit;
            nbit += 1;
            for w in &g.words {
                let lw = w.to_ascii_lowercase();
                match ctx_list.iter().position(|x| *x == lw) {
                    Some(k) => ctx_mask[k] |= g.bit,
                    None => {
                        ctx_list.push(lw);
                        ctx_mask.push(g.bit);
                    }
                }
            }
        }
        let ctx_words = if ctx_list.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .build(&ctx_list)
                    .map_err(|e| {
                        PackErrors(vec![PackError {
                            file: "(all packs)".into(),
                            line: None,
                            rule: None,
                            message: format!("context words: {e}"),
                        }])
                    })?,
            )
        };
        let ctx_maxword = ctx_list.iter().map(|w| w.len()).max().unwrap_or(1).max(1);
        // Trigger words and context words in one automaton: one pass
        // collects both.
        let mut all_words: Vec<String> = Vec::new();
        let mut all_kw: Vec<u32> = Vec::new();
        let mut all_ctx: Vec<u64> = Vec::new();
        for (k, w) in words.iter().enumerate() {
            all_words.push(w.clone());
            all_kw.push(k as u32);
            all_ctx.push(0);
        }
        for (w, &mask) in ctx_list.iter().zip(&ctx_mask) {
            match all_words.iter().position(|x| x == w) {
                Some(k) => all_ctx[k] |= mask,
                None => {
                    all_words.push(w.clone());
                    all_kw.push(u32::MAX);
                    all_ctx.push(mask);
                }
            }
        }
        let words_dfa = if all_words.is_empty() {
            None
        } else {
            WordDfa::build(&all_words, &all_kw, &all_ctx)
        };
        let all_words_ac = if all_words.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(&all_words)
                .ok()
        };
        let ctx_lo = rules
            .iter()
            .filter_map(|r| r.gate.as_ref().map(|g| g.lo))
            .max()
            .unwrap_or(0);
        // The JSON string precheck: every rule that can match without a
        // context word (after the 64-gate limit above, which drops gates).
        // Rules triggered by words get a check of their own, run only
        // where a trigger word is (see `word_precheck`); when it cannot be
        // built, every string is scanned.
        let by_words = |r: &Rule| r.word_triggered;
        let prechecked = |word: bool| {
            rules
                .iter()
                .zip(&loose_all)
                .filter(|(r, _)| r.gate.is_none() && by_words(r) == word)
                .map(|(_, h)| h.clone())
                .collect::<Option<Vec<Hir>>>()
        };
        let word_precheck = match prechecked(true) {
            Some(hirs) if hirs.is_empty() => Ok(None),
            Some(hirs) => union_dfa(&hirs)
                .zip(ascii_ci_ac(&word_list).ok())
                .map(|(dfa, words)| Some(WordPrecheck { words, dfa }))
                .ok_or(()),
            None => Err(()),
        };
        let (precheck, word_precheck) = match word_precheck {
            Ok(w) => (prechecked(false).and_then(|h| union_dfa(&h)), w),
            Err(()) => (None, None),
        };
        let gate_pre = rules
            .iter()
            .zip(&loose_all)
            .enumerate()
            .filter_map(|(ri, (r, h))| {
                let g = r.gate.as_ref().filter(|g| g.bit != 0)?;
                Some(GatePre {
                    dfa: h.as_ref().and_then(|h| union_dfa(std::slice::from_ref(h))),
                    lo: g.lo,
                    rule: ri as u16,
                })
            })
            .collect();
        fill_viable(&dfa, &mut rules);
        let ctx_alpha = {
            let mut t = [0u64; 256];
            for r in &rules {
                if let Some(g) = &r.gate {
                    for (b, &inside) in r.alphabet.iter().enumerate() {
                        if inside {
                            t[b] |= g.bit;
                        }
                    }
                }
            }
            t
        };
        let history = rules
            .iter()
            .map(|r| r.context.as_ref().map_or(0, |c| c.before))
            .max()
            .unwrap_or(0)
            + 1;
        let max_need = rules.iter().map(|r| r.need).max().unwrap_or(1);
        let mut h = Sha256::new();
        for p in packs {
            h.update(p.file.as_bytes());
            h.update([0]);
            h.update(p.source.as_bytes());
            h.update([0]);
        }
        let digest: String = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let nrules = rules.len();
        let mut all_examples: Vec<RuleExamples> = examples
            .into_iter()
            .map(|(i, file, line, ex)| RuleExamples {
                rule: RuleRef(i as u16),
                file,
                line,
                must_match: ex.must_match,
                no_match: ex.no_match,
                redact: ex.redact,
                is_field: false,
            })
            .collect();
        all_examples.extend(field_examples.into_iter().map(|(i, file, line, redact)| {
            RuleExamples {
                rule: RuleRef((nrules + i) as u16),
                file,
                line,
                must_match: Vec::new(),
                no_match: Vec::new(),
                redact,
                is_field: true,
            }
        }));
        extra_bytes.sort_unstable();
        if extra_bytes.len() > 4 {
            // The gate tests at most four non-digit trigger bytes; more
            // would silently never trigger their rules.
            return Err(PackErrors(vec![PackError {
                file: "(all packs)".into(),
                line: None,
                rule: None,
                message: format!(
                    "at most 4 distinct trigger.bytes across all packs are supported; these packs use {} ({:?})",
                    extra_bytes.len(),
                    String::from_utf8_lossy(&extra_bytes)
                ),
            }]));
        }
        let filter_maxlen = filter_rule
            .iter()
            .map(|&r| rules[r as usize].maxlen)
            .max()
            .unwrap_or(0);
        let gate = crate::scan::Gate::new(digit_trigger, &gate_bytes(&extra_bytes));
        let extra_gate = crate::scan::Gate::new(false, &gate_bytes(&extra_bytes));
        Ok(Matcher {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            rules,
            fields,
            field_keys,
            field_suffixes,
            dfa,
            filter,
            filter_maxlen,
            filter_rule,
            digit_rules_same: (b'1'..=b'9')
                .all(|d| byte_rules[usize::from(d)] == byte_rules[usize::from(b'0')]),
            byte_rules,
            digit_trigger,
            extra_bytes,
            gate,
            extra_gate,
            keywords,
            keyword_rules,
            keyword_max,
            ctx_words,
            ctx_mask,
            ctx_alpha,
            all_words: all_words_ac,
            words_dfa,
            all_kw,
            all_ctx,
            ctx_maxword,
            ctx_lo,
            precheck,
            word_precheck,
            gate_pre,
            keyword_first: {
                let mut t = [false; 256];
                for b in words.iter().filter_map(|w| w.bytes().next()) {
                    t[b.to_ascii_lowercase() as usize] = true;
                    t[b.to_ascii_uppercase() as usize] = true;
                }
                t
            },
            keyword_bytes: {
                let mut t = [false; 256];
                for w in &words {
                    for b in w.bytes() {
                        t[b.to_ascii_lowercase() as usize] = true;
                        t[b.to_ascii_uppercase() as usize] = true;
                    }
                }
                t
            },
            keyword_prefixes: words
                .iter()
                .flat_map(|w| (1..w.len()).map(move |n| w.as_bytes()[..n].to_ascii_lowercase()))
                .collect(),
            history,
            max_need,
            token_key: opts.token_key.clone(),
            fingerprint: opts.fingerprint && opts.token_key.is_some(),
            digest,
            packs: pack_counts,
            examples: all_examples,
        })
    }

    /// Compiles the packs built into the binary.
    pub fn builtin() -> Result<Matcher, PackErrors> {
        Matcher::compile(&crate::pack::builtin()?, &CompileOptions::default())
    }

    /// Short hex digest of every pack's file name and source: which rules
    /// were in force.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// (pack name, rule count) for every pack.
    pub fn packs(&self) -> &[(String, usize)] {
        &self.packs
    }

    /// Every rule's examples.
    pub fn examples(&self) -> &[RuleExamples] {
        &self.examples
    }

    /// Number of text rules plus field rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len() + self.fields.len()
    }

    /// Id of a rule.
    pub fn rule_id(&self, r: RuleRef) -> &str {
        self.describe(r).0
    }

    /// Category of a rule.
    pub fn rule_category(&self, r: RuleRef) -> &str {
        self.describe(r).1
    }

    /// (id, category, pack) of a rule.
    pub fn describe(&self, r: RuleRef) -> (&str, &str, &str) {
        let i = r.0 as usize;
        if let Some(rule) = self.rules.get(i) {
            (&rule.id, &rule.category, &rule.pack)
        } else if let Some(f) = self.fields.get(i - self.rules.len()) {
            (&f.id, &f.category, &f.pack)
        } else {
            ("unknown", "unknown", "unknown")
        }
    }

    /// The earliest position in `buf[from..]` from which the rest of `buf`
    /// could still grow into a trigger word (`buf.len()` if none). Only the
    /// last `keyword_max - 1` bytes can, and only after the last byte that
    /// occurs in no trigger word.
    pub(crate) fn keyword_open_from(&self, buf: &[u8], from: usize) -> usize {
        let len = buf.len();
        let mut p = len
            .saturating_sub(self.keyword_max.saturating_sub(1))
            .max(from);
        if let Some(q) = buf[p..]
            .iter()
            .rposition(|&b| !self.keyword_bytes[b as usize])
        {
            p += q + 1;
        }
        while p < len && !(self.keyword_first[buf[p] as usize] && self.is_keyword_prefix(&buf[p..]))
        {
            p += 1;
        }
        p
    }

    /// Whether any rule is triggered by bytes at all.
    /// Whether words exist that [`Matcher::words_dfa`] cannot report (its
    /// table was too big to build): every piece then counts as holding
    /// every word.
    pub(crate) fn words_unknown(&self) -> bool {
        self.words_dfa.is_none() && !self.all_kw.is_empty()
    }

    pub(crate) fn byte_gate(&self) -> bool {
        self.digit_trigger || !self.extra_bytes.is_empty()
    }

    /// Whether `tail` (ASCII case-insensitively) is a proper prefix of some
    /// trigger word (a whole word is found by the automaton itself).
    pub(crate) fn is_keyword_prefix(&self, tail: &[u8]) -> bool {
        let mut low = [0u8; 64];
        if tail.is_empty() || tail.len() > low.len() {
            return false;
        }
        for (d, s) in low.iter_mut().zip(tail) {
            *d = s.to_ascii_lowercase();
        }
        self.keyword_prefixes.contains(&low[..tail.len()])
    }

    /// The audit fingerprint of a redacted value, when enabled.
    pub fn fingerprint(&self, value: &[u8]) -> Option<[u8; 8]> {
        match (&self.token_key, self.fingerprint) {
            (Some(k), true) => Some(crate::mask::fingerprint(value, k)),
            _ => None,
        }
    }

    /// Every rule as a [`RuleRef`].
    pub fn all_rules(&self) -> impl Iterator<Item = RuleRef> + '_ {
        (0..self.rule_count()).map(|i| RuleRef(i as u16))
    }

    /// The field rule of a decoded JSON key: its whole normalised form in
    /// `keys`, else the longest ending that starts at a word boundary (or
    /// is the whole key) and normalises to one of `suffixes`
    /// (`primaryCardCvv`: `cardcvv`, then `cvv`). A boundary is a
    /// non-alphanumeric byte before a letter or digit, or a lowercase letter
    /// or digit before an uppercase letter. A Salesforce custom field's
    /// `__c` (or person-account `__pc`) ending is left out first
    /// (`Card_Expiry__c` is `Card_Expiry`). `norm` is scratch. Keys over 64
    /// normalised bytes match nothing.
    pub fn field_rule_of_key(&self, key: &[u8], norm: &mut Vec<u8>) -> Option<RuleRef> {
        let key = match key {
            [k @ .., b'_', b'_', b'c' | b'C'] | [k @ .., b'_', b'_', b'p' | b'P', b'c' | b'C']
                if k.last().is_some_and(u8::is_ascii_alphanumeric) =>
            {
                k
            }
            _ => key,
        };
        // Normalised length at each word start, in key order (longest tail
        // first); the whole key is the first.
        let mut starts = [0u8; 64];
        let mut n_starts = 1;
        norm.clear();
        let mut prev = 0u8;
        for (i, &b) in key.iter().enumerate() {
            if i > 0
                && b.is_ascii_alphanumeric()
                && (!prev.is_ascii_alphanumeric()
                    || (b.is_ascii_uppercase() && !prev.is_ascii_uppercase()))
                && n_starts < starts.len()
            {
                starts[n_starts] = norm.len() as u8;
                n_starts += 1;
            }
            prev = b;
            if is_key_separator(b) {
                continue;
            }
            if norm.len() == 64 {
                return None;
            }
            norm.push(b.to_ascii_lowercase());
        }
        let rule = self.field_keys.get(norm.as_slice()).or_else(|| {
            if self.field_suffixes.is_empty() {
                return None;
            }
            starts[..n_starts]
                .iter()
                .find_map(|&s| self.field_suffixes.get(&norm[usize::from(s)..]))
        })?;
        Some(RuleRef((self.rules.len() + *rule as usize) as u16))
    }

    pub(crate) fn field(&self, r: RuleRef) -> Option<&FieldRule> {
        self.fields
            .get((r.0 as usize).checked_sub(self.rules.len())?)
    }

    /// The most bytes one text stream holds back: the longest look-ahead a
    /// rule needs plus the history kept for context and look-behind.
    pub fn window(&self) -> usize {
        self.max_need + self.history + self.rules.iter().map(|r| r.back).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word table DFA reports, at every position, the same word ends as
    /// the overlapping Aho-Corasick search over the same words: the
    /// shortest trigger word and, per length, the gated rules served.
    /// Per end position: shortest trigger word, (gated rules, length) of
    /// the context words.
    type Ends = (u64, u16, Vec<(u64, u16)>);

    #[test]
    fn word_dfa_equals_overlapping_search() {
        let m = Matcher::builtin().expect("built-in packs");
        let d = m.words_dfa.as_ref().expect("word table builds");
        let ac = m.all_words.as_ref().expect("words automaton");
        // Pieces: every word in both cases, cut words, and stray bytes.
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let list: Vec<&str> = vec![
            "cvv",
            "CVC",
            "exp",
            "valid thru",
            "password",
            "pin",
            "PIN code",
            "routing",
            "account number",
            "acct",
            "a/c",
            "balance",
            "owe",
            "kontonummer",
            "ssn",
            "tin",
            "soc sec",
            "dob",
            "born",
            "geb.",
            "né le",
            "phone",
            "tel",
            "mobile",
            "teléfono",
            "contraseña",
            "gültig bis",
            "Kontostand",
            "overdraft",
            "límite de crédito",
        ];
        for w in &list {
            pieces.push(w.as_bytes().to_vec());
            pieces.push(w.to_ascii_uppercase().into_bytes());
            pieces.push(w.as_bytes()[..w.len() / 2].to_vec());
        }
        for b in [b" ", b"x", b"1", b":", b"\xc3", b"\xa9", b"\0", b"\xff"] {
            pieces.push(b.to_vec());
        }
        for _ in 0..2000 {
            let mut hay = Vec::new();
            for _ in 0..rand(12) {
                hay.extend_from_slice(&pieces[rand(pieces.len())]);
            }
            // Expected: per end position, shortest keyword and per-length
            // context bits.
            let mut want: Vec<Ends> = Vec::new();
            for hit in ac.find_overlapping_iter(&hay) {
                let p = hit.pattern().as_usize();
                let end = hit.end() as u64;
                let len = hit.len() as u16;
                let e = match want.iter().position(|w| w.0 == end) {
                    Some(i) => &mut want[i],
                    None => {
                        want.push((end, 0, Vec::new()));
                        want.last_mut().unwrap()
                    }
                };
                if m.all_kw[p] != u32::MAX && (e.1 == 0 || len < e.1) {
                    e.1 = len;
                }
                if m.all_ctx[p] != 0 {
                    match e.2.iter_mut().find(|c| c.1 == len) {
                        Some(c) => c.0 |= m.all_ctx[p],
                        None => e.2.push((m.all_ctx[p], len)),
                    }
                }
            }
            // Feed in two pieces to carry the state across a cut.
            let cut = rand(hay.len() + 1);
            let mut got: Vec<Ends> = Vec::new();
            let mut record = |ends: WordEnds<'_>, end: u64| {
                got.push((end, ends.keyword, ends.context.to_vec()));
            };
            let s = d.run(d.start(), 0, &hay[..cut], &mut record);
            d.run(s, cut as u64, &hay[cut..], &mut record);
            let norm = |v: &mut Vec<Ends>| {
                for e in v.iter_mut() {
                    e.2.sort_unstable_by_key(|c| c.1);
                }
                v.sort_unstable_by_key(|e| e.0);
            };
            norm(&mut want);
            norm(&mut got);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&hay));
            // `find_all` (the text scanner's pass) reports every trigger
            // word with its index and every context word, by start.
            let mut want_all: Vec<(usize, u32, u64)> = ac
                .find_overlapping_iter(&hay)
                .map(|hit| {
                    let p = hit.pattern().as_usize();
                    (hit.start(), m.all_kw[p], m.all_ctx[p])
                })
                .collect();
            let mut got_all: Vec<(usize, u32, u64)> = Vec::new();
            d.find_all(&hay, |end, kws, ctxs| {
                // A word both kinds (none in the built-in packs) shows up
                // once per kind: merge by start.
                let mut at: Vec<(usize, u32, u64)> = Vec::new();
                for &(k, l) in kws {
                    at.push((end - usize::from(l), k, 0));
                }
                for &(bits, l) in ctxs {
                    let s = end - usize::from(l);
                    match at.iter_mut().find(|e| e.0 == s) {
                        Some(e) => e.2 = bits,
                        None => at.push((s, u32::MAX, bits)),
                    }
                }
                got_all.extend(at);
            });
            want_all.sort_unstable();
            got_all.sort_unstable();
            assert_eq!(got_all, want_all, "{:?}", String::from_utf8_lossy(&hay));
        }
    }
}
