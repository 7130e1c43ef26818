//! The naive, ungated scanner: each rule's regex runs over the whole input,
//! one rule after another, with the same validation, context and overlap
//! rules as [`crate::scan`].
//!
//! It exists for two reasons: it is the oracle of the differential tests
//! (gated streaming output must equal it byte for byte) and the baseline of
//! the engine benchmark. It buffers the whole input; never use it on the
//! proxy path.

use crate::matcher::{Matcher, RuleRef, Window};
use crate::scan::Redaction;
use regex_automata::util::syntax;
use regex_automata::{meta, Anchored, Input};

/// One `meta::Regex` per text rule.
#[derive(Debug)]
pub struct Naive {
    regexes: Vec<meta::Regex>,
}

impl Naive {
    /// Compiles every text rule of `m` on its own.
    pub fn new(m: &Matcher) -> Result<Naive, String> {
        let regexes = m
            .rules
            .iter()
            .map(|r| {
                meta::Regex::builder()
                    .syntax(syntax::Config::new().unicode(false).utf8(false))
                    .build(&r.pattern)
                    .map_err(|e| format!("{}: {e}", r.id))
            })
            .collect::<Result<_, _>>()?;
        Ok(Naive { regexes })
    }

    /// Redacts `input` as plain text; appends to `out`, returns redactions.
    pub fn redact(&self, m: &Matcher, input: &[u8], out: &mut Vec<u8>) -> Vec<Redaction> {
        let mut cands: Vec<(usize, usize, u16)> = Vec::new();
        for (ri, (rule, re)) in m.rules.iter().zip(&self.regexes).enumerate() {
            let mut pos = 0;
            while let Some(mat) = re.search(&Input::new(input).range(pos..)) {
                let (s, e) = (mat.start(), mat.end());
                pos = e;
                let (mut ms, mut me) = (s, e);
                if let Some((vre, group)) = &rule.value_re {
                    let hay = &input[..e];
                    let mut caps = vre.create_captures();
                    vre.search_captures(
                        &Input::new(hay).span(s..e).anchored(Anchored::Yes),
                        &mut caps,
                    );
                    if let Some(span) = caps.get_group(*group) {
                        ms = span.start;
                        me = span.end;
                    }
                }
                if let Some(v) = rule.validator {
                    let (span, resume) = v.check(&input[ms..me]);
                    pos = (ms + resume).clamp(s + 1, e);
                    match span {
                        Some((a, b)) => {
                            me = ms + b;
                            ms += a;
                        }
                        None => continue,
                    }
                }
                if ms >= me {
                    continue;
                }
                if let Some(ctx) = &rule.context {
                    let before = Window::before(input, ms, ctx.before);
                    let after = Window::after(input, me, ctx.after);
                    if !ctx.confirms(before, after) {
                        continue;
                    }
                }
                cands.push((ms, me, ri as u16));
            }
        }
        let reveals = |r: u16| m.rules[r as usize].action.reveals();
        cands.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.cmp(&a.1))
                .then(reveals(a.2).cmp(&reveals(b.2)))
                .then(a.2.cmp(&b.2))
        });
        let mut events = Vec::new();
        let mut pos = 0;
        for (i, &(s, e, r)) in cands.iter().enumerate() {
            if e <= pos {
                continue;
            }
            // Overlapping another candidate: nothing stays readable, unless
            // every other one ends here too and reveals as much.
            let action = &m.rules[r as usize].action;
            let k = action.reveals();
            let overlapped = k > 0
                && (s < pos
                    || cands[i + 1..]
                        .iter()
                        .take_while(|d| d.0 < e)
                        .any(|d| d.1 != e || m.rules[d.2 as usize].action.reveals() < k));
            let s = s.max(pos);
            out.extend_from_slice(&input[pos..s]);
            let action = if overlapped {
                &crate::mask::Action::Mask { keep_last: 0 }
            } else {
                action
            };
            action.apply(&input[s..e], m.token_key.as_ref(), out);
            events.push(Redaction {
                rule: RuleRef(r),
                start: s as u64,
                end: e as u64,
                fingerprint: m.fingerprint(&input[s..e]),
            });
            pos = e;
        }
        out.extend_from_slice(&input[pos..]);
        events
    }
}
