//! Running every rule's examples against a compiled matcher.
//!
//! Used by `scrim check`, by the start-up and reload self-test, and by the
//! test suite. Each example is also fed one byte at a time, so a rule whose
//! output depends on chunking fails here too.

use crate::matcher::Matcher;
use crate::pack::PackError;
use crate::redactor::{redact_all, Format, Redactor};
use std::sync::Arc;

fn streamed(m: &Arc<Matcher>, format: Format, input: &[u8]) -> Option<Vec<u8>> {
    let mut r = Redactor::new(m.clone(), format);
    let mut out = Vec::new();
    let mut ev = Vec::new();
    for b in input {
        r.feed(std::slice::from_ref(b), &mut out, &mut ev).ok()?;
    }
    r.finish(&mut out, &mut ev).ok()?;
    Some(out)
}

/// Runs every example of every rule; returns every failure.
pub fn run(m: &Arc<Matcher>) -> Vec<PackError> {
    let mut errs = Vec::new();
    for ex in m.examples() {
        let id = m.rule_id(ex.rule).to_string();
        let mut fail = |msg: String| {
            errs.push(PackError {
                file: ex.file.clone(),
                line: Some(ex.line),
                rule: Some(id.clone()),
                message: msg,
            })
        };
        let format = if ex.is_field {
            Format::Json
        } else {
            Format::Text
        };
        for (i, text) in ex.must_match.iter().enumerate() {
            match redact_all(m, Format::Text, text.as_bytes()) {
                Ok((_, ev)) if ev.iter().any(|e| e.rule == ex.rule) => {}
                Ok(_) => fail(format!(
                    "match example {} ({text:?}) is not redacted by this rule",
                    i + 1
                )),
                Err(e) => fail(format!("match example {}: {e}", i + 1)),
            }
        }
        for (i, text) in ex.no_match.iter().enumerate() {
            match redact_all(m, Format::Text, text.as_bytes()) {
                Ok((_, ev)) if ev.iter().all(|e| e.rule != ex.rule) => {}
                Ok(_) => fail(format!(
                    "no_match example {} ({text:?}) is redacted by this rule",
                    i + 1
                )),
                Err(e) => fail(format!("no_match example {}: {e}", i + 1)),
            }
        }
        for (i, [input, want]) in ex.redact.iter().enumerate() {
            match redact_all(m, format, input.as_bytes()) {
                Ok((out, _)) if out == want.as_bytes() => {}
                Ok((out, _)) => fail(format!(
                    "redact example {}: got {:?}, want {want:?}",
                    i + 1,
                    String::from_utf8_lossy(&out)
                )),
                Err(e) => fail(format!("redact example {}: {e}", i + 1)),
            }
            if streamed(m, format, input.as_bytes()).as_deref() != Some(want.as_bytes()) {
                fail(format!(
                    "redact example {}: byte-by-byte streaming gives a different output",
                    i + 1
                ));
            }
        }
    }
    errs
}
