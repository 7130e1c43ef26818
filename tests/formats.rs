//! Format-level behaviour of the redactor: JSON structure preservation,
//! exact outputs for field rules, escapes and numbers, NDJSON, malformed and
//! truncated JSON, SSE event release, text hold-back, `abort()`, and output
//! that does not depend on where the input was split.
//!
//! Assertion messages never print corpus values (they may be sensitive);
//! only the small fixtures written in this file appear in failures.

use scrim::corpus::{json_tickets, transcript, Corpus, Density};
use scrim::{redact_all, Format, Matcher, Redaction, Redactor, ScanError};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

// ---------------------------------------------------------------------------
// Helpers

fn matcher() -> Arc<Matcher> {
    static M: OnceLock<Arc<Matcher>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Matcher::builtin().expect("built-in packs compile")))
        .clone()
}

fn redact(format: Format, input: &[u8]) -> (Vec<u8>, Vec<Redaction>) {
    redact_all(&matcher(), format, input).expect("redact_all")
}

fn redact_str(format: Format, input: &str) -> String {
    String::from_utf8(redact(format, input.as_bytes()).0).expect("output is UTF-8")
}

/// Result of feeding a stream in pieces.
struct Run {
    out: Vec<u8>,
    events: Vec<Redaction>,
    malformed: bool,
}

fn stream<'a>(
    format: Format,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Run, ScanError> {
    let mut r = Redactor::new(matcher(), format);
    let mut out = Vec::new();
    let mut events = Vec::new();
    for c in chunks {
        r.feed(c, &mut out, &mut events)?;
    }
    r.finish(&mut out, &mut events)?;
    Ok(Run {
        out,
        events,
        malformed: r.malformed(),
    })
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A JSON value that keeps object keys in document order (serde_json's own
/// `Value` sorts them unless `preserve_order` is enabled).
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl<'de> serde::Deserialize<'de> for J {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<J, E> {
                Ok(J::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<J, E> {
                Ok(J::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<J, E> {
                Ok(J::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<J, E> {
                Ok(J::Num(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<J, E> {
                Ok(J::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<J, E> {
                Ok(J::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element::<J>()? {
                    v.push(x);
                }
                Ok(J::Arr(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, J>()? {
                    v.push((k, x));
                }
                Ok(J::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

fn parse(b: &[u8]) -> Result<J, String> {
    // The error message carries only a position, never the input.
    serde_json::from_slice::<J>(b).map_err(|e| format!("line {} column {}", e.line(), e.column()))
}

fn kind(j: &J) -> &'static str {
    match j {
        J::Null => "null",
        J::Bool(_) => "bool",
        J::Num(_) => "number",
        J::Str(_) => "string",
        J::Arr(_) => "array",
        J::Obj(_) => "object",
    }
}

/// Checks that `out` has the shape of `inp`: same keys in the same order,
/// same array lengths, same kinds, except that a number may have become a
/// string or null (masked). Returns how many numbers were masked. Errors name
/// a path of keys and indices, never a value.
fn same_shape(inp: &J, out: &J, path: &mut String, masked: &mut usize) -> Result<(), String> {
    match (inp, out) {
        (J::Null, J::Null) | (J::Bool(_), J::Bool(_)) | (J::Num(_), J::Num(_)) => Ok(()),
        (J::Str(_), J::Str(_)) => Ok(()),
        (J::Num(_), J::Str(_) | J::Null) => {
            *masked += 1;
            Ok(())
        }
        (J::Arr(a), J::Arr(b)) => {
            if a.len() != b.len() {
                return Err(format!("{path}: array of {} became {}", a.len(), b.len()));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                same_shape(x, y, path, masked)?;
                path.truncate(len);
            }
            Ok(())
        }
        (J::Obj(a), J::Obj(b)) => {
            if a.len() != b.len() {
                return Err(format!(
                    "{path}: object of {} keys became {}",
                    a.len(),
                    b.len()
                ));
            }
            for (i, ((ka, x), (kb, y))) in a.iter().zip(b).enumerate() {
                if ka != kb {
                    return Err(format!("{path}: key #{i} changed"));
                }
                let len = path.len();
                path.push('.');
                path.push_str(ka);
                same_shape(x, y, path, masked)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Err(format!("{path}: {} became {}", kind(inp), kind(out))),
    }
}

fn count_sub(hay: &[u8], needle: &[u8]) -> usize {
    memchr::memmem::find_iter(hay, needle).count()
}

/// Occurrences of `needle` not glued to a letter, digit, `*` or `/` on
/// either side (a masked card's kept "1111" after `*` is not standalone; a
/// "09/27" inside a longer date is not).
fn count_standalone(hay: &[u8], needle: &[u8]) -> usize {
    let glued = |b: u8| b.is_ascii_alphanumeric() || b == b'*' || b == b'/';
    memchr::memmem::find_iter(hay, needle)
        .filter(|&i| {
            let before = i.checked_sub(1).map(|p| hay[p]);
            let after = hay.get(i + needle.len()).copied();
            !before.is_some_and(glued) && !after.is_some_and(glued)
        })
        .count()
}

/// Every recorded secret occurrence is gone from `out`.
///
/// Soundness: a value may legitimately occur in the input more often than it
/// was recorded (a 4-digit CVV equal to the last group of a card written
/// with spaces, whose mask keeps that group). So for each distinct value,
/// the output may keep at most `input occurrences - recorded occurrences`.
/// Long values are counted as plain substrings; short ones (CVVs, expiries:
/// at most 5 bytes) as standalone tokens, since they also occur inside
/// longer numbers.
fn assert_secrets_gone(label: &str, corpus_in: &[u8], secrets: &[String], out: &[u8]) {
    let mut recorded: HashMap<&str, usize> = HashMap::new();
    for s in secrets {
        *recorded.entry(s.as_str()).or_default() += 1;
    }
    let mut values: Vec<_> = recorded.into_iter().collect();
    values.sort_unstable();
    for (i, (s, rec)) in values.into_iter().enumerate() {
        let count = |hay: &[u8]| {
            if s.len() <= 5 {
                count_standalone(hay, s.as_bytes())
            } else {
                count_sub(hay, s.as_bytes())
            }
        };
        let (n_in, n_out) = (count(corpus_in), count(out));
        assert!(
            n_in >= rec,
            "{label}: distinct secret #{i} ({} bytes) recorded {rec}x but found {n_in}x in the input (check is unsound)",
            s.len()
        );
        assert!(
            n_out + rec <= n_in,
            "{label}: distinct secret #{i} ({} bytes) survives: {n_out} of {n_in} input occurrences remain, {rec} recorded",
            s.len()
        );
    }
}

/// Feeds `input` split at every single position, byte by byte, and in a
/// few three-piece splits; each run must give the one-shot output and
/// events. A `corpus` label keeps generated (possibly sensitive) bytes out
/// of failure messages.
fn assert_split_invariant_as(format: Format, input: &[u8], corpus: Option<&str>) {
    let (want, want_ev) = redact(format, input);
    let check = |run: Run, how: &str| match corpus {
        None => {
            assert_eq!(
                show(&run.out),
                show(&want),
                "{format:?} {how}: output differs from one-shot for input {:?}",
                show(input)
            );
            assert_eq!(
                run.events,
                want_ev,
                "{format:?} {how}: events differ for {:?}",
                show(input)
            );
        }
        Some(label) => {
            assert!(
                run.out == want,
                "{format:?} {label} {how}: output differs from one-shot"
            );
            assert!(
                run.events == want_ev,
                "{format:?} {label} {how}: events differ from one-shot"
            );
        }
    };
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        check(
            stream(format, [a, b]).expect("scan"),
            &format!("split at {at}"),
        );
    }
    check(
        stream(format, input.chunks(1)).expect("scan"),
        "byte by byte",
    );
    let n = input.len();
    for (x, y) in [
        (n / 3, 2 * n / 3),
        (1, n.saturating_sub(1)),
        (n / 2, n / 2 + 1),
    ] {
        if x <= y && y <= n {
            check(
                stream(format, [&input[..x], &input[x..y], &input[y..]]).expect("scan"),
                &format!("split at {x} and {y}"),
            );
        }
    }
}

fn assert_split_invariant(format: Format, input: &[u8]) {
    assert_split_invariant_as(format, input, None);
}

const JSON_DENSITIES: [Density; 3] = [Density::Dense, Density::Typical, Density::Adversarial];
const CORPUS_LEN: usize = 64 << 10;

// ---------------------------------------------------------------------------
// 1. JSON structure preserved on generated ticket exports

#[test]
fn json_corpus_shape_preserved_and_secrets_gone() {
    for density in JSON_DENSITIES {
        for seed in [1u64, 2, 3] {
            let label = format!("json_tickets({seed}, 64K, {density:?})");
            let c = json_tickets(seed, CORPUS_LEN, density);
            let inp =
                parse(&c.bytes).unwrap_or_else(|e| panic!("{label}: input does not parse at {e}"));

            // Streamed in 4 KiB chunks; must equal the one-shot result.
            let run = stream(Format::Json, c.bytes.chunks(4096)).expect("scan");
            let (once, once_ev) = redact(Format::Json, &c.bytes);
            assert!(
                run.out == once,
                "{label}: chunked output differs from one-shot"
            );
            assert_eq!(
                run.events.len(),
                once_ev.len(),
                "{label}: event count differs"
            );
            assert!(!run.malformed, "{label}: valid JSON reported malformed");

            let out =
                parse(&run.out).unwrap_or_else(|e| panic!("{label}: output does not parse at {e}"));
            let mut masked = 0;
            same_shape(&inp, &out, &mut String::from("$"), &mut masked)
                .unwrap_or_else(|e| panic!("{label}: shape changed at {e}"));
            assert!(
                masked <= run.events.len(),
                "{label}: {masked} numbers changed, {} events",
                run.events.len()
            );

            if density == Density::Adversarial {
                assert!(c.secrets.is_empty());
            } else {
                assert!(!c.secrets.is_empty(), "{label}: corpus has no secrets");
                assert!(
                    run.events.len() >= c.secrets.len() / 2,
                    "{label}: too few redactions"
                );
            }
            assert_secrets_gone(&label, &c.bytes, &c.secrets, &run.out);
        }
    }
}

#[test]
fn json_corpus_decoys_survive() {
    for density in [Density::Dense, Density::Typical] {
        for seed in [1u64, 2] {
            let label = format!("json_tickets({seed}, 64K, {density:?})");
            let c = json_tickets(seed, CORPUS_LEN, density);
            let (out, _) = redact(Format::Json, &c.bytes);
            let mut recorded: HashMap<&str, usize> = HashMap::new();
            for d in &c.decoys {
                *recorded.entry(d.as_str()).or_default() += 1;
            }
            for (d, rec) in recorded {
                // Decoys are harmless, so they may be printed.
                let n = count_sub(&out, d.as_bytes());
                assert!(
                    n >= rec,
                    "{label}: decoy {d:?} recorded {rec}x, {n}x left in output"
                );
            }
        }
    }
}

#[test]
fn clean_json_corpus_passes_through_byte_identical() {
    for seed in [1u64, 2] {
        let c = json_tickets(seed, CORPUS_LEN, Density::Clean);
        let (out, events) = redact(Format::Json, &c.bytes);
        let m = matcher();
        let rules: Vec<&str> = events.iter().map(|e| m.rule_id(e.rule)).collect();
        assert!(
            events.is_empty(),
            "seed {seed}: clean corpus had redactions: {rules:?}"
        );
        assert!(
            out == c.bytes,
            "seed {seed}: clean corpus output differs from input"
        );
        assert!(
            parse(&out) == parse(&c.bytes),
            "seed {seed}: decoded value changed"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Exact outputs

fn assert_json_exact(cases: &[(&str, &str)]) {
    for &(input, want) in cases {
        let got = redact_str(Format::Json, input);
        assert_eq!(got, want, "input {input:?}");
        parse(got.as_bytes())
            .unwrap_or_else(|e| panic!("output of {input:?} does not parse at {e}"));
        let run = stream(Format::Json, [input.as_bytes()]).expect("scan");
        assert!(!run.malformed, "{input:?} reported malformed");
    }
}

#[test]
fn json_field_rules_exact() {
    assert_json_exact(&[
        (
            r#"{"card_number":"4111 1111 1111 1111"}"#,
            r#"{"card_number":"**** **** **** 1111"}"#,
        ),
        (
            r#"{"cardNumber":4111111111111111}"#,
            r#"{"cardNumber":"************1111"}"#,
        ),
        (r#"{"cvv": 123}"#, r#"{"cvv": "[CVV]"}"#),
        (
            r#"{"user":"a","password":"hunter2"}"#,
            r#"{"user":"a","password":"[REDACTED]"}"#,
        ),
        // Under 12 digits is no card number (field.card's min_digits).
        (r#"{"PAN":"x"}"#, r#"{"PAN":"x"}"#),
        (r#"{"PAN":"12345678901x2"}"#, r#"{"PAN":"*********01x2"}"#),
        (
            r#"{"iban":"DE89 3704 0044 0532 0130 00"}"#,
            r#"{"iban":"**** **** **** **** **30 00"}"#,
        ),
        (
            r#"{"availableBalance": -1234.5, "id": 7}"#,
            r#"{"availableBalance": "[BALANCE]", "id": 7}"#,
        ),
        // A field value's escapes are decoded before masking, and the mask
        // is written back validly escaped.
        (
            r#"{"password":"a\"b\\c\u0041"}"#,
            r#"{"password":"[REDACTED]"}"#,
        ),
        (
            r#"{"pan":"41\u0031\u0031 1111 1111 1111"}"#,
            r#"{"pan":"**** **** **** 1111"}"#,
        ),
    ]);
}

#[test]
fn json_key_normalisation_exact() {
    let want = r#""**** **** **** 1111"}"#;
    for key in [
        "card_number",
        "Card-Number",
        "CARD_NUMBER",
        "card.number",
        "card number",
        "cardnumber",
        "CardNumber",
        "card\\u005fnumber",
    ] {
        let input = format!(r#"{{"{key}":"4111 1111 1111 1111"}}"#);
        let got = redact_str(Format::Json, &input);
        assert!(got.ends_with(want), "key {key:?}: got {got:?}");
    }
    // An escaped key is written back in canonical form.
    assert_json_exact(&[(
        r#"{"card\u005fnumber":"4111 1111 1111 1111"}"#,
        r#"{"card_number":"**** **** **** 1111"}"#,
    )]);
    // Not field keys: a word containing a field key, or a different key.
    assert_json_exact(&[
        (
            r#"{"card_number_type":"visa"}"#,
            r#"{"card_number_type":"visa"}"#,
        ),
        (r#"{"cards":"two"}"#, r#"{"cards":"two"}"#),
    ]);
}

#[test]
fn json_field_key_suffixes_exact() {
    // A key whose last words (after `_`, `-`, `.`, a space or a camelCase
    // step) are a field rule's suffix gets that rule.
    assert_json_exact(&[
        (
            r#"{"cardCvv":"123","card_cvv":456,"primary-card.cvc":"789"}"#,
            r#"{"cardCvv":"[CVV]","card_cvv":"[CVV]","primary-card.cvc":"[CVV]"}"#,
        ),
        (
            r#"{"customerSSN":"219-09-9999","spouse_ssn":"x","billingEmail":"a@b.co"}"#,
            r#"{"customerSSN":"[SSN]","spouse_ssn":"[SSN]","billingEmail":"[EMAIL]"}"#,
        ),
        (
            r#"{"homePhone":"555 123 4567","payoutIban":"DE89 3704 0044 0532 0130 00"}"#,
            r#"{"homePhone":"*** *** **67","payoutIban":"**** **** **** **** **30 00"}"#,
        ),
        (
            r#"{"savingsAccountNumber":12345678,"accountBalance":12.5,"paymentCardExpiry":"09/27"}"#,
            r#"{"savingsAccountNumber":"****5678","accountBalance":"[BALANCE]","paymentCardExpiry":"[EXPIRY]"}"#,
        ),
        (
            r#"{"new_password":"hunter2","stripeApiKey":"sk_x","OAUTH_ACCESS_TOKEN":"t"}"#,
            r#"{"new_password":"[REDACTED]","stripeApiKey":"[REDACTED]","OAUTH_ACCESS_TOKEN":"[REDACTED]"}"#,
        ),
        // The longest matching ending wins: `card_security_code` is a CVV.
        (
            r#"{"card_security_code":"123"}"#,
            r#"{"card_security_code":"[CVV]"}"#,
        ),
        // A suffix is also a whole key.
        (
            r#"{"cvv_code":"123","cvvNumber":"456","pwd":"x","msisdn":"4155550132"}"#,
            r#"{"cvv_code":"[CVV]","cvvNumber":"[CVV]","pwd":"[REDACTED]","msisdn":"********32"}"#,
        ),
        // Salesforce custom fields (`__c`, person accounts `__pc`).
        (
            r#"{"CVV__c":"123","PIN__c":"4821","Card_Expiry__c":"09/27","Mobile__c":"4155550132","Password__c":"hunter2","Tax_ID__pc":"219456789"}"#,
            r#"{"CVV__c":"[CVV]","PIN__c":"[PIN]","Card_Expiry__c":"[EXPIRY]","Mobile__c":"********32","Password__c":"[REDACTED]","Tax_ID__pc":"[SSN]"}"#,
        ),
    ]);
    // Not suffix matches: an ending inside a word, a suffix followed by
    // more words, booleans under a matching key, and endings no rule lists.
    assert_json_exact(&[
        (
            r#"{"iphone":"x","discardExpiry":"09/27","tokenExpiry":"09/27","passwordHint":"pet"}"#,
            r#"{"iphone":"x","discardExpiry":"09/27","tokenExpiry":"09/27","passwordHint":"pet"}"#,
        ),
        (
            r#"{"minBalanceRequired":5,"hasCvv":true,"isSecret":false,"order_number":"12345"}"#,
            r#"{"minBalanceRequired":5,"hasCvv":true,"isSecret":false,"order_number":"12345"}"#,
        ),
        (
            r#"{"zip_pin":"560001","shipping_tel":"x","card_type":"visa"}"#,
            r#"{"zip_pin":"560001","shipping_tel":"x","card_type":"visa"}"#,
        ),
        // An Indian postal code is a PIN code; `__c` alone is no field.
        (
            r#"{"pin_code":"560001","pinCode":"560001","__c":"x","Order__c":"12345"}"#,
            r#"{"pin_code":"560001","pinCode":"560001","__c":"x","Order__c":"12345"}"#,
        ),
    ]);
    // However the key is split across chunks.
    assert_split_invariant(
        Format::Json,
        br#"{"customer_ssn":"219-09-9999","cardCvv":"123"}"#,
    );
}

#[test]
fn json_field_rule_on_containers_exact() {
    assert_json_exact(&[
        (
            r#"{"balance":{"amount":12.5,"currency":"EUR"}}"#,
            r#"{"balance":{"amount":"[BALANCE]","currency":"[BALANCE]"}}"#,
        ),
        // Every scalar inside, at any depth; booleans and null stay.
        (
            r#"{"balance":{"amount":12.5,"ok":true,"n":null,"list":[1,"a",false,{"deep":[2]}]},"id":7,"note":"hi"}"#,
            r#"{"balance":{"amount":"[BALANCE]","ok":true,"n":null,"list":["[BALANCE]","[BALANCE]",false,{"deep":["[BALANCE]"]}]},"id":7,"note":"hi"}"#,
        ),
        // The rule ends with the container: later siblings are untouched.
        (
            r#"{"balance":[1,2],"id":7,"x":{"balance_note":"ok"}}"#,
            r#"{"balance":["[BALANCE]","[BALANCE]"],"id":7,"x":{"balance_note":"ok"}}"#,
        ),
        (
            r#"{"pan":["4111111111111111", 4111111111111111, true],"n":3}"#,
            r#"{"pan":["************1111", "************1111", true],"n":3}"#,
        ),
        (r#"{"balance":{},"b":[]}"#, r#"{"balance":{},"b":[]}"#),
        // Booleans and null under a field rule stay.
        (
            r#"{"card_number":true,"pan":null,"cvv":false}"#,
            r#"{"card_number":true,"pan":null,"cvv":false}"#,
        ),
    ]);
}

#[test]
fn json_text_rules_in_strings_exact() {
    assert_json_exact(&[
        (
            r#"{"message":"card 4111 1111 1111 1111 ok"}"#,
            r#"{"message":"card **** **** **** 1111 ok"}"#,
        ),
        (
            r#"{"message":"\"4111 1111 1111 1111\" and\nmaria.lopez@example.com"}"#,
            r#"{"message":"\"**** **** **** 1111\" and\n[EMAIL]"}"#,
        ),
        // Card written with \u escapes, partly or wholly.
        (
            r#"{"m":"4\u0031\u00311 1111 1111 1111"}"#,
            r#"{"m":"**** **** **** 1111"}"#,
        ),
        (
            r#"{"m":"\u0034\u0031\u0031\u0031\u0020\u0031111\u00201111 1111"}"#,
            r#"{"m":"**** **** **** 1111"}"#,
        ),
        // Key context: the key counts as a preceding word.
        (r#"{"routing":"021000021"}"#, r#"{"routing":"*********"}"#),
        // Decoys stay.
        (
            r#"{"message":"order 4111111111111112 shipped 2026-03-14, $49.99"}"#,
            r#"{"message":"order 4111111111111112 shipped 2026-03-14, $49.99"}"#,
        ),
    ]);
}

#[test]
fn json_numbers_exact() {
    assert_json_exact(&[
        (r#"{"n":4111111111111111}"#, r#"{"n":"************1111"}"#),
        (
            r#"[4111111111111111, 5555555555554444]"#,
            r#"["************1111", "************4444"]"#,
        ),
        (
            r#"{"m":4.111111111111111e15}"#,
            r#"{"m":"************1111"}"#,
        ),
        (
            r#"{"m":4.111111111111111E+15}"#,
            r#"{"m":"************1111"}"#,
        ),
        (
            r#"{"m":41111111111111.11e2}"#,
            r#"{"m":"************1111"}"#,
        ),
        (r#"{"m":-4111111111111111}"#, r#"{"m":"-************1111"}"#),
        // Ordinary numbers are written back byte for byte.
        (
            r#"{"order_id": 100234567, "total_price": 12.50, "x": -0.5e-3, "y": 1E+2, "z": 0}"#,
            r#"{"order_id": 100234567, "total_price": 12.50, "x": -0.5e-3, "y": 1E+2, "z": 0}"#,
        ),
        (r#"4111111111111111"#, r#""************1111""#),
    ]);
}

/// A number has the context of the keys and strings before it, as a
/// string value does (red-team pass, 2026-12-03: `{"name":"SSN","value":
/// 219456789}` kept the SSN; as a string it was masked). Under `"value"`
/// that is now a name/value pair, masked by the SSN field rule; under
/// `"v"` the text rule's context still masks it.
#[test]
fn json_numbers_take_the_context_of_earlier_values() {
    let cases = [
        (
            r#"{"name":"SSN","value":219456789}"#,
            r#"{"name":"SSN","value":"[SSN]"}"#,
        ),
        (
            r#"{"name":"SSN","v":219456789}"#,
            r#"{"name":"SSN","v":"*********"}"#,
        ),
        (
            r#"{"name":"SSN","v":"219456789"}"#,
            r#"{"name":"SSN","v":"*********"}"#,
        ),
        (
            r#"{"label":"account number","v":12345678}"#,
            r#"{"label":"account number","v":"****5678"}"#,
        ),
        (
            r#"[{"type":"ssn"}, 219456789, 2]"#,
            r#"[{"type":"ssn"}, "*********", 2]"#,
        ),
        // Without a context word the same numbers stay as they were.
        (
            r#"{"name":"order","value":219456789,"v":12345678}"#,
            r#"{"name":"order","value":219456789,"v":12345678}"#,
        ),
    ];
    assert_json_exact(&cases);
    for (input, _) in cases {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

#[test]
fn json_numbers_other_exponent_spellings() {
    assert_json_exact(&[
        (
            r#"{"m":41111111111111110e-1}"#,
            r#"{"m":"************1111"}"#,
        ),
        (
            r#"{"m":4111111111111111000e-3}"#,
            r#"{"m":"************1111"}"#,
        ),
        (
            r#"{"m":0.4111111111111111e16}"#,
            r#"{"m":"************1111"}"#,
        ),
    ]);
}

#[test]
fn json_keys_are_scanned() {
    assert_json_exact(&[
        (
            r#"{"4111 1111 1111 1111":1}"#,
            r#"{"**** **** **** 1111":1}"#,
        ),
        (
            r#"{"maria.lopez@example.com":{"x":1}}"#,
            r#"{"[EMAIL]":{"x":1}}"#,
        ),
        // Cards need no word boundary (a card glued to letters is a card).
        (
            r#"{"k\u0034111111111111111":1}"#,
            r#"{"k************1111":1}"#,
        ),
        (
            r#"{"k 4\u0031\u00311111111111111":1}"#,
            r#"{"k ************1111":1}"#,
        ),
    ]);
}

/// Upstreams escape `<`, `>`, `&`, U+2028 and U+2029 in JSON so that it
/// cannot close a `<script>` element it is placed in; a string scrim
/// decodes and writes again keeps them escaped, masked or not, however the
/// body is cut (and leaves raw ones raw). The decoded value is unchanged.
#[test]
fn json_html_safe_escapes_stay_escaped() {
    assert_json_exact(&[
        (
            r#"{"m":"\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e"}"#,
            r#"{"m":"\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e"}"#,
        ),
        (
            r#"{"m":"\u003cb\u003e4111 1111 1111 1111\u003c/b\u003e \u0026 \u2028\u2029"}"#,
            r#"{"m":"\u003cb\u003e**** **** **** 1111\u003c/b\u003e \u0026 \u2028\u2029"}"#,
        ),
        // After one escaped, raw ones in the same string are escaped too.
        (
            r#"{"m":"\u0026 </script> 4111 1111 1111 1111"}"#,
            r#"{"m":"\u0026 \u003c/script\u003e **** **** **** 1111"}"#,
        ),
        // Raw ones, as the upstream wrote them, stay raw.
        (
            "{\"m\":\"</script> 4111 1111 1111 1111 & \u{2028}\"}",
            "{\"m\":\"</script> **** **** **** 1111 & \u{2028}\"}",
        ),
        // A string no rule can match is copied through as it came.
        (
            r#"{"m":"<b>hello</b> & bye"}"#,
            r#"{"m":"<b>hello</b> & bye"}"#,
        ),
    ]);
    for input in [
        r#"{"m":"\u003cb\u003e4111 1111 1111 1111\u003c/b\u003e \u0026 \u2028\u2029"}"#,
        "{\"m\":\"</script> 4111 1111 1111 1111 & \u{2028}\"}",
        r#"{"m":"\u0026 </script> 4111 1111 1111 1111"}"#,
        r#"{"m":"</script> 4111 1111 1111 1111 \u0026 <"}"#,
    ] {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

#[test]
fn json_escapes_preserved() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"a":"x\n\t\"\\\/\u00e9\ud83d\ude00\u0001\b\f\r"}"#,
            "{\"a\":\"x\\n\\t\\\"\\\\/é😀\\u0001\\b\\f\\r\"}",
        ),
        (
            r#"["\u0000", "\u001F", "\u2028", "caf\u00e9 \\u0034"]"#,
            "[\"\\u0000\", \"\\u001f\", \"\\u2028\", \"café \\\\u0034\"]",
        ),
        (r#"{"\u006bey":"v\u0061l"}"#, r#"{"key":"val"}"#),
        ("{\"emoji\":\"🙏 ok\"}", "{\"emoji\":\"🙏 ok\"}"),
    ];
    for &(input, want) in cases {
        let (out, events) = redact(Format::Json, input.as_bytes());
        assert!(events.is_empty(), "{input:?}: unexpected redaction");
        assert_eq!(show(&out), want, "input {input:?}");
        let (a, b) = (parse(input.as_bytes()), parse(&out));
        assert!(b.is_ok(), "{input:?}: output does not parse");
        assert_eq!(a, b, "{input:?}: decoded value changed");
    }
    // Lone surrogates (which serde_json rejects) become U+FFFD.
    assert_json_exact(&[
        (r#"{"a":"\ud800x"}"#, "{\"a\":\"\u{FFFD}x\"}"),
        (r#"{"a":"\udc00"}"#, "{\"a\":\"\u{FFFD}\"}"),
    ]);
}

/// Strings with escapes that lie whole in one chunk are decoded and
/// scanned in one piece; split anywhere, they go byte by byte. Both give
/// the same output: text rules across escapes, field rules in JSON held in
/// a string, surrogate pairs, and the cases left to the byte-by-byte path
/// (a lone surrogate, a raw control byte, an HTML-safe escape).
#[test]
fn json_escaped_strings_whole_or_split() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"m":"line one\ncard 4111 1111 1111 1111\tend"}"#,
            r#"{"m":"line one\ncard **** **** **** 1111\tend"}"#,
        ),
        (
            r#"{"k\u0065y":"caf\u00e9 \ud83d\ude00 ok"}"#,
            r#"{"key":"café 😀 ok"}"#,
        ),
        (
            r#"{"p":"{\"pan\":\"4111111111111111\",\"n\":\"x\"}"}"#,
            r#"{"p":"{\"pan\":\"************1111\",\"n\":\"x\"}"}"#,
        ),
        (
            r#"{"p":"{\"api_key\":\"sk_live_abcdefghij\"}","q":"[\"x\"]"}"#,
            r#"{"p":"{\"api_key\":\"[REDACTED]\"}","q":"[\"x\"]"}"#,
        ),
        (
            r#"{"s":"\"quoted\" 219-45-6789 \/"}"#,
            r#"{"s":"\"quoted\" ***-**-**** /"}"#,
        ),
        (r#"{"u":"\ud800x \u0041"}"#, "{\"u\":\"\u{FFFD}x A\"}"),
        ("{\"c\":\"tab\traw \\n\"}", r#"{"c":"tab\traw \n"}"#),
        (
            r#"{"h":"a < b \u0026 4111 1111 1111 1111"}"#,
            r#"{"h":"a < b \u0026 **** **** **** 1111"}"#,
        ),
    ];
    assert_json_exact(cases);
    for &(input, _) in cases {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

#[test]
fn json_long_field_value_gets_label() {
    let long = "7".repeat(3000);
    let input = format!(r#"{{"card_number":"{long}","n":1}}"#);
    assert_eq!(
        redact_str(Format::Json, &input),
        r#"{"card_number":"[REDACTED]","n":1}"#
    );
}

// ---------------------------------------------------------------------------
// 3. NDJSON

#[test]
fn ndjson_lines_exact() {
    let input = concat!(
        r#"{"card_number":"4111 1111 1111 1111"}"#,
        "\n",
        r#"{"message":"call +1 415 555 0132"}"#,
        "\n",
        r#"{"n":4111111111111111}"#,
        "\n",
        "[1,2,3]\n",
        r#""routing 021000021""#,
        "\r\n",
        r#"{"ok":true,"balance":5}"#,
        "\n",
    );
    let want = concat!(
        r#"{"card_number":"**** **** **** 1111"}"#,
        "\n",
        r#"{"message":"call +* *** *** **32"}"#,
        "\n",
        r#"{"n":"************1111"}"#,
        "\n",
        "[1,2,3]\n",
        r#""routing *********""#,
        "\r\n",
        r#"{"ok":true,"balance":"[BALANCE]"}"#,
        "\n",
    );
    let run = stream(Format::Ndjson, [input.as_bytes()]).expect("scan");
    assert_eq!(show(&run.out), want);
    assert!(!run.malformed);
    assert_eq!(run.events.len(), 5);
    assert_split_invariant(Format::Ndjson, input.as_bytes());
}

/// A malformed NDJSON line is scanned as text up to the next line that
/// starts with `{` or `[`, where JSON (and field rules) resume (session 13
/// leak review: the rest of the body used to be text, so a later
/// `"balance":5` passed).
#[test]
fn ndjson_recovers_after_a_malformed_line() {
    let input = concat!(
        r#"{"a":1}"#,
        "\n",
        r#"{"note": oops 4111 1111 1111 1111}"#,
        "\n",
        "  not json, ssn 219-45-6789\n",
        r#"  {"balance":5,"accountNumber":"12345678"}"#,
        "\n",
        r#"[{"card_number":"4111111111111111"}] trailing"#,
        "\r\n",
        r#"{"ok":true,"balance":7}"#,
        "\n",
    );
    let want = concat!(
        r#"{"a":1}"#,
        "\n",
        r#"{"note": oops **** **** **** 1111}"#,
        "\n",
        "  not json, ssn ***-**-****\n",
        r#"  {"balance":"[BALANCE]","accountNumber":"****5678"}"#,
        "\n",
        r#"[{"card_number":"************1111"}] trailing"#,
        "\r\n",
        r#"{"ok":true,"balance":"[BALANCE]"}"#,
        "\n",
    );
    let run = stream(Format::Ndjson, [input.as_bytes()]).expect("scan");
    assert_eq!(show(&run.out), want);
    assert!(run.malformed, "a malformed line is still reported");
    let m = matcher();
    let ids: Vec<&str> = run.events.iter().map(|e| m.rule_id(e.rule)).collect();
    assert_eq!(
        ids,
        [
            "card.pan",
            "id.ssn",
            "field.balance",
            "field.account",
            "field.card",
            "field.balance"
        ]
    );
    assert_split_invariant(Format::Ndjson, input.as_bytes());
}

/// In NDJSON a string never spans lines: a line that ends inside one is
/// broken there, and the next line is a document of its own, as a
/// line-by-line reader sees it.
#[test]
fn ndjson_line_break_inside_a_string_ends_the_line() {
    let input = concat!(
        "{\"note\":\"abc\n",
        "{\"balance\":\"73914086\"}\n",
        "{\"ssn\":\"219-45\\\n",
        "{\"accountNumber\":12345678}\n",
    );
    let want = concat!(
        "{\"note\":\"abc\n",
        "{\"balance\":\"[BALANCE]\"}\n",
        "{\"ssn\":\"[SSN]\n",
        "{\"accountNumber\":\"****5678\"}\n",
    );
    let run = stream(Format::Ndjson, [input.as_bytes()]).expect("scan");
    assert_eq!(show(&run.out), want);
    assert_split_invariant(Format::Ndjson, input.as_bytes());
}

/// A line that starts with `{` or `[` where the document before it cannot
/// go on starts the next document (a broken or truncated line, or a
/// pretty-printed document cut short).
#[test]
fn ndjson_object_at_a_line_start_begins_a_document() {
    let input = concat!(
        "{\"a\": 12\n",
        "{\"balance\":\"73914086\"}\n",
        "[{\"ssn\": 219\n",
        "  {\"accountNumber\":12345678}\n",
        "{\"note\": \"x\",\n",
        "  \"card_number\": \"4111111111111111\"\n",
        "}\n",
    );
    let want = concat!(
        "{\"a\": 12\n",
        "{\"balance\":\"[BALANCE]\"}\n",
        "[{\"ssn\": \"[SSN]\"\n",
        "  {\"accountNumber\":\"****5678\"}\n",
        "{\"note\": \"x\",\n",
        "  \"card_number\": \"************1111\"\n",
        "}\n",
    );
    let run = stream(Format::Ndjson, [input.as_bytes()]).expect("scan");
    assert_eq!(show(&run.out), want);
    assert_split_invariant(Format::Ndjson, input.as_bytes());
}

/// Plain text sniffed as JSON recovers the same way, and a pretty-printed
/// document in it keeps its field rules.
#[test]
fn sniffed_json_recovers_at_a_line_start() {
    let input = concat!(
        "{\"a\": oops,\n",
        "{\n",
        "  \"balance\": \"73914086\",\n",
        "  \"note\": \"ok\"\n",
        "}\n",
    );
    let want = concat!(
        "{\"a\": oops,\n",
        "{\n",
        "  \"balance\": \"[BALANCE]\",\n",
        "  \"note\": \"ok\"\n",
        "}\n",
    );
    for cut in 0..=input.len() {
        let mut r = Redactor::sniffing(matcher());
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        let (a, b) = input.as_bytes().split_at(cut);
        r.feed(a, &mut out, &mut ev).expect("feed");
        r.feed(b, &mut out, &mut ev).expect("feed");
        r.finish(&mut out, &mut ev).expect("finish");
        assert_eq!(show(&out), want, "cut at {cut}");
        assert!(r.sniffed_json());
    }
}

/// Text is context for the document that follows it, as it was when the
/// whole rest was text.
#[test]
fn ndjson_recovered_document_keeps_the_context_before_it() {
    let input = "{oops, customer ssn:\n[\"219456789\"]\n";
    let run = stream(Format::Ndjson, [input.as_bytes()]).expect("scan");
    assert_eq!(show(&run.out), "{oops, customer ssn:\n[\"*********\"]\n");
    assert_split_invariant(Format::Ndjson, input.as_bytes());
}

/// Many malformed lines in one chunk: the scanner loops, it does not
/// recurse per line.
#[test]
fn ndjson_many_malformed_lines_in_one_chunk() {
    let line = "{x 4111111111111111\n";
    let input = line.repeat(100_000);
    let run = stream(Format::Ndjson, [input.as_bytes()]).expect("scan");
    assert_eq!(
        show(&run.out),
        "{x ************1111\n".repeat(100_000),
        "every line masked"
    );
    assert_eq!(run.events.len(), 100_000);
}

#[test]
fn ndjson_corpus_lines_each_redacted() {
    for density in [Density::Dense, Density::Typical] {
        let c = json_tickets(7, CORPUS_LEN, density);
        let label = format!("ndjson from json_tickets(7, 64K, {density:?})");
        let tickets: Vec<serde_json::Value> =
            serde_json::from_slice(&c.bytes).expect("corpus parses");
        let mut input = Vec::new();
        for t in &tickets {
            serde_json::to_writer(&mut input, t).expect("serialise");
            input.push(b'\n');
        }
        let run = stream(Format::Ndjson, input.chunks(3000)).expect("scan");
        assert!(!run.malformed, "{label}: reported malformed");
        let lines: Vec<&[u8]> = run.out.split(|&b| b == b'\n').collect();
        assert!(
            run.out.ends_with(b"\n"),
            "{label}: output does not end with a newline"
        );
        assert_eq!(
            lines.len() - 1,
            tickets.len(),
            "{label}: line count changed"
        );
        let in_lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        for (i, (a, b)) in in_lines.iter().zip(&lines).take(tickets.len()).enumerate() {
            let a = parse(a).unwrap_or_else(|e| panic!("{label}: input line {i} at {e}"));
            let b = parse(b)
                .unwrap_or_else(|e| panic!("{label}: output line {i} does not parse at {e}"));
            let mut masked = 0;
            same_shape(&a, &b, &mut format!("line {i}"), &mut masked)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
        }
        assert_secrets_gone(&label, &input, &c.secrets, &run.out);
    }
}

// ---------------------------------------------------------------------------
// 4. Malformed and truncated JSON

fn assert_malformed(input: &str, want: &str) {
    let run = stream(Format::Json, [input.as_bytes()]).expect("scan");
    assert_eq!(show(&run.out), want, "input {input:?}");
    assert!(run.malformed, "{input:?}: malformed() should be true");
    for at in 0..=input.len() {
        let (a, b) = input.as_bytes().split_at(at);
        let run = stream(Format::Json, [a, b]).expect("scan");
        assert_eq!(show(&run.out), want, "input {input:?} split at {at}");
        assert!(run.malformed);
    }
    let run = stream(Format::Json, input.as_bytes().chunks(1)).expect("scan");
    assert_eq!(show(&run.out), want, "input {input:?} byte by byte");
}

#[test]
fn malformed_json_scanned_as_text() {
    assert_malformed("not json 4111111111111111", "not json ************1111");
    assert_malformed(r#"{"a":1} 4111111111111111"#, r#"{"a":1} ************1111"#);
    // A raw control byte inside a string keeps the structure (it is
    // re-escaped), so it is not a malformation any more (review finding).
    let m = std::sync::Arc::new(scrim::Matcher::builtin().unwrap());
    let (out, _) = scrim::redact_all(
        &m,
        Format::Json,
        "{\"a\":\"x\u{1} 4111 1111 1111 1111\"}".as_bytes(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"a\":\"x\\u0001 **** **** **** 1111\"}"
    );
    // A number followed by a non-JSON byte is rescanned as text with it.
    assert_malformed(r#"{"a": 4111111111111111 x"#, r#"{"a": ************1111 x"#);
    assert_malformed(
        r#"{"a": 4111-1111-1111-1111}"#,
        r#"{"a": ****-****-****-1111}"#,
    );
    assert_malformed(r#"{"a" 4111111111111111}"#, r#"{"a" ************1111}"#);
}

#[test]
fn malformed_json_number_then_more_digits() {
    // A bare number is held until the next byte proves the document is
    // still JSON; if it is not, the number is rescanned with what follows.
    assert_malformed(
        r#"{"a": 4111 1111 1111 1111 oops"#,
        r#"{"a": **** **** **** 1111 oops"#,
    );
    assert_malformed(
        r#"{"a": 41111111 11111111 x"#,
        r#"{"a": ******** ****1111 x"#,
    );
    assert_malformed(r#"[1, 4111 1111 1111 1111]"#, r#"[1, **** **** **** 1111]"#);
}

#[test]
fn malformed_json_field_number_then_more_digits() {
    for input in [
        r#"{"card_number": 4111 1111 1111 1111}"#,
        r#"{"pan": 4111 1111 1111 1111"#,
    ] {
        let run = stream(Format::Json, [input.as_bytes()]).expect("scan");
        assert!(run.malformed);
        assert_eq!(count_sub(&run.out, b"4111"), 0, "{input:?}");
        assert_eq!(
            count_sub(&run.out, b"1111 1111 1111"),
            0,
            "{input:?}: 12 card digits leak: {:?}",
            show(&run.out)
        );
    }
}

#[test]
fn truncated_json_flushed_scanned() {
    assert_malformed(
        r#"{"a":"4111 1111 1111 1111"#,
        r#"{"a":"**** **** **** 1111"#,
    );
    assert_malformed(
        r#"[{"card_number": "4111 1111 1111 1111"#,
        r#"[{"card_number": "**** **** **** 1111"#,
    );
    assert_malformed(r#"{"a": 4111111111111111"#, r#"{"a": "************1111""#);
    assert_malformed(r#"{"a":[4111111111111111"#, r#"{"a":["************1111""#);
    assert_malformed(r#"{"a":"x\u00"#, r#"{"a":"x"#);
    for input in [
        r#"{"a":"4111 1111 1111 1111"#,
        r#"[{"card_number": "4111 1111 1111 1111"#,
        r#"{"a": 4111111111111111"#,
    ] {
        let run = stream(Format::Json, [input.as_bytes()]).expect("scan");
        assert_eq!(count_sub(&run.out, b"4111"), 0, "{input:?}");
    }
}

#[test]
fn malformed_field_value_stays_masked() {
    for (input, value) in [
        (r#"{"cvv": 0123}"#, "0123"),
        (r#"{"pin": 01234, "x": 1}"#, "01234"),
        (r#"{"cvv": 123.}"#, "123"),
        (r#"{"cvv": 123."#, "123"),
        (r#"{"password":"C:\secret-Hunter2"}"#, "Hunter2"),
    ] {
        let run = stream(Format::Json, [input.as_bytes()]).expect("scan");
        assert!(run.malformed, "{input:?}");
        assert_eq!(
            count_sub(&run.out, value.as_bytes()),
            0,
            "{input:?}: field value leaks: {:?}",
            show(&run.out)
        );
    }
}

#[test]
fn truncated_json_inside_incomplete_number() {
    for input in [
        r#"{"a": 4111111111111111."#,
        r#"{"a": -"#,
        r#"{"cvv": 12."#,
        r#"[4111111111111111e"#,
    ] {
        let run = stream(Format::Json, [input.as_bytes()])
            .unwrap_or_else(|e| panic!("{input:?}: finish failed: {e}"));
        assert!(run.malformed, "{input:?}");
        assert_eq!(count_sub(&run.out, b"4111"), 0, "{input:?}");
    }
}

// ---------------------------------------------------------------------------
// 5. SSE

#[test]
fn sse_event_released_when_complete() {
    let m = matcher();
    let mut r = Redactor::new(m, Format::Sse);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    r.feed(b"data: card 4111 1111 1111 1111\n\n", &mut out, &mut ev)
        .unwrap();
    assert_eq!(show(&out), "data: card **** **** **** 1111\n\n");
    assert_eq!(r.held(), 0);
    assert_eq!(ev.len(), 1);
    r.finish(&mut out, &mut ev).unwrap();
    assert_eq!(show(&out), "data: card **** **** **** 1111\n\n");
    assert_eq!(ev.len(), 1);
}

#[test]
fn sse_several_events() {
    let events: [(&str, &str); 4] = [
        ("data: hello\n\n", "data: hello\n\n"),
        (
            "event: msg\nid: 7\ndata: my card is 4111-1111-1111-1111\ndata: mail maria.lopez@example.com\n\n",
            "event: msg\nid: 7\ndata: my card is ****-****-****-1111\ndata: mail [EMAIL]\n\n",
        ),
        // A context word on an earlier line of the same event counts.
        ("data: routing number\ndata: 021000021\n\n", "data: routing number\ndata: *********\n\n"),
        (": comment 4111111111111111\n\n", ": comment ************1111\n\n"),
    ];
    // One event per feed: each is out as soon as it is fed.
    let mut r = Redactor::new(matcher(), Format::Sse);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    let mut want = String::new();
    for (i, (e, w)) in events.iter().enumerate() {
        r.feed(e.as_bytes(), &mut out, &mut ev).unwrap();
        want.push_str(w);
        assert_eq!(show(&out), want, "after event {i}");
        assert_eq!(r.held(), 0, "after event {i}");
    }
    // All in one feed.
    let all: String = events.iter().map(|e| e.0).collect();
    let mut r = Redactor::new(matcher(), Format::Sse);
    let mut out = Vec::new();
    r.feed(all.as_bytes(), &mut out, &mut ev).unwrap();
    assert_eq!(show(&out), want);
    assert_eq!(r.held(), 0);
    assert_split_invariant(Format::Sse, all.as_bytes());
}

#[test]
fn sse_crlf_events() {
    let mut r = Redactor::new(matcher(), Format::Sse);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    r.feed(b"data: card 4111 1111 1111 1111\r\n\r\n", &mut out, &mut ev)
        .unwrap();
    assert_eq!(show(&out), "data: card **** **** **** 1111\r\n\r\n");
    assert_eq!(r.held(), 0);
    r.feed(
        b"data: a\r\ndata: b 5555555555554444\r\n\r\n",
        &mut out,
        &mut ev,
    )
    .unwrap();
    assert_eq!(
        show(&out),
        "data: card **** **** **** 1111\r\n\r\ndata: a\r\ndata: b ************4444\r\n\r\n"
    );
    assert_eq!(r.held(), 0);
    // Blank line split across feeds, CR and LF apart.
    r.feed(b"data: c 4111111111111111\r", &mut out, &mut ev)
        .unwrap();
    r.feed(b"\n\r", &mut out, &mut ev).unwrap();
    r.feed(b"\n", &mut out, &mut ev).unwrap();
    assert!(show(&out).ends_with("data: c ************1111\r\n\r\n"));
    assert_eq!(r.held(), 0);
}

#[test]
fn sse_crlf_event_is_one_segment() {
    let lf = redact_str(Format::Sse, "data: routing number\ndata: 021000021\n\n");
    assert_eq!(lf, "data: routing number\ndata: *********\n\n");
    let crlf = redact_str(
        Format::Sse,
        "data: routing number\r\ndata: 021000021\r\n\r\n",
    );
    assert_eq!(crlf, "data: routing number\r\ndata: *********\r\n\r\n");
}

#[test]
fn sse_event_split_mid_card() {
    let mut r = Redactor::new(matcher(), Format::Sse);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    r.feed(b"data: card 4111 11", &mut out, &mut ev).unwrap();
    assert_eq!(
        count_sub(&out, b"4111"),
        0,
        "partial card released: {:?}",
        show(&out)
    );
    r.feed(b"11 1111 1111\n", &mut out, &mut ev).unwrap();
    assert_eq!(count_sub(&out, b"4111"), 0);
    r.feed(b"\n", &mut out, &mut ev).unwrap();
    assert_eq!(show(&out), "data: card **** **** **** 1111\n\n");
    assert_eq!(r.held(), 0);
    assert_eq!(ev.len(), 1);
}

#[test]
fn sse_transcript_events_released_one_by_one() {
    for density in [Density::Dense, Density::Typical] {
        let c: Corpus = transcript(11, 32 << 10, density);
        let label = format!("sse from transcript(11, 32K, {density:?})");
        let text = String::from_utf8(c.bytes.clone()).expect("utf8");
        let mut all = Vec::new();
        let mut r = Redactor::new(matcher(), Format::Sse);
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        for (i, line) in text.lines().filter(|l| !l.is_empty()).enumerate() {
            let event = format!("data: {line}\n\n");
            all.extend_from_slice(event.as_bytes());
            r.feed(event.as_bytes(), &mut out, &mut ev).unwrap();
            assert_eq!(r.held(), 0, "{label}: event {i} not released");
            assert!(
                out.ends_with(b"\n\n"),
                "{label}: event {i} not complete in output"
            );
        }
        r.finish(&mut out, &mut ev).unwrap();
        let (once, _) = redact(Format::Sse, &all);
        assert!(out == once, "{label}: differs from one-shot");
        assert_secrets_gone(&label, &all, &c.secrets, &out);
    }
}

// ---------------------------------------------------------------------------
// 6. Text hold-back

#[test]
fn text_hold_back() {
    let mut r = Redactor::new(matcher(), Format::Text);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    r.feed(b"hello world, no numbers here.\n", &mut out, &mut ev)
        .unwrap();
    r.feed(b"my card is 4111 1111", &mut out, &mut ev).unwrap();
    assert_eq!(
        count_sub(&out, b"4111"),
        0,
        "digits released early: {:?}",
        show(&out)
    );
    assert!(r.held() >= "4111 1111".len());
    r.feed(b"1111 1111 1111 done", &mut out, &mut ev).unwrap();
    assert_eq!(count_sub(&out, b"4111"), 0);
    r.finish(&mut out, &mut ev).unwrap();
    assert_eq!(r.held(), 0);
    // The pieces join as "4111 11111111 1111 1111": the card is the longest
    // run of whole groups that validates (16 digits), the last group stays.
    let want = "hello world, no numbers here.\nmy card is **** ******** 1111 1111 done";
    assert_eq!(show(&out), want);
    let joined = "hello world, no numbers here.\nmy card is 4111 11111111 1111 1111 done";
    assert_eq!(redact_str(Format::Text, joined), want);
    assert_eq!(ev.len(), 1);
    assert_eq!(matcher().rule_id(ev[0].rule), "card.pan");
    assert_eq!(matcher().rule_category(ev[0].rule), "card");
    let start = joined.find("4111").unwrap() as u64;
    assert_eq!(
        (ev[0].start, ev[0].end),
        (start, start + "4111 11111111 1111".len() as u64)
    );
}

#[test]
fn text_hold_back_with_space() {
    let mut r = Redactor::new(matcher(), Format::Text);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    r.feed(b"my card is 4111 1111 ", &mut out, &mut ev).unwrap();
    assert_eq!(count_sub(&out, b"4111"), 0);
    r.feed(b"1111 1111 done", &mut out, &mut ev).unwrap();
    assert_eq!(count_sub(&out, b"4111"), 0);
    r.finish(&mut out, &mut ev).unwrap();
    assert_eq!(show(&out), "my card is **** **** **** 1111 done");
    assert_eq!(r.held(), 0);
}

#[test]
fn text_plain_lines_released_at_once() {
    // Lines without digits, `@`, `+` or trigger words go straight through.
    let mut r = Redactor::new(matcher(), Format::Text);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    let mut want = String::new();
    for line in [
        "hello world, no numbers here.\n",
        "Let me check that for you, one moment please.\n",
        "I understand, that's really frustrating.\n",
        "Thanks! 🙏\n",
    ] {
        r.feed(line.as_bytes(), &mut out, &mut ev).unwrap();
        want.push_str(line);
        assert_eq!(show(&out), want, "held {} bytes", r.held());
        assert_eq!(r.held(), 0);
    }
}

#[test]
fn held_back_bytes_stay_bounded() {
    // The scanner holds at most the window plus one input slice (JSON adds
    // at most one field value and one number token).
    let m = matcher();
    let bound = m.window() + scrim::scan::MAX_SLICE + 1024 + 256;
    for (format, c) in [
        (Format::Text, transcript(9, 128 << 10, Density::Adversarial)),
        (Format::Sse, transcript(10, 128 << 10, Density::Adversarial)),
        (
            Format::Json,
            json_tickets(9, 128 << 10, Density::Adversarial),
        ),
    ] {
        let mut r = Redactor::new(m.clone(), format);
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        let mut max = 0;
        for chunk in c.bytes.chunks(16 << 10) {
            r.feed(chunk, &mut out, &mut ev).unwrap();
            max = max.max(r.held());
        }
        assert!(max <= bound, "{format:?}: held {max} bytes, bound {bound}");
        r.finish(&mut out, &mut ev).unwrap();
        assert_eq!(r.held(), 0);
        let (once, _) = redact(format, &c.bytes);
        assert!(
            out == once,
            "{format:?}: chunked output differs from one-shot"
        );
    }
}

// ---------------------------------------------------------------------------
// 7. abort()

#[test]
fn abort_drops_held_bytes() {
    for (format, input) in [
        (Format::Text, "card 4111 1111 1111"),
        (Format::Sse, "data: card 4111 1111 1111"),
        (Format::Json, r#"{"card_number":"4111 1111"#),
        (Format::Json, r#"{"m":"card 4111 1111 1111"#),
        (Format::Ndjson, r#"{"n":4111111111111111"#),
    ] {
        let mut r = Redactor::new(matcher(), format);
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        r.feed(input.as_bytes(), &mut out, &mut ev).unwrap();
        assert_eq!(
            count_sub(&out, b"4111"),
            0,
            "{format:?} {input:?}: {:?}",
            show(&out)
        );
        let before = out.clone();
        r.abort();
        assert_eq!(r.held(), 0, "{format:?} {input:?}");
        r.finish(&mut out, &mut ev).unwrap();
        assert_eq!(
            out, before,
            "{format:?} {input:?}: finish after abort wrote more"
        );
        assert!(ev.is_empty());
    }
    let mut r = Redactor::new(matcher(), Format::Json);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    r.feed(br#"{"card_number":"4111 1111"#, &mut out, &mut ev)
        .unwrap();
    assert_eq!(show(&out), r#"{"card_number":""#);
}

#[test]
fn nothing_after_abort() {
    for format in [Format::Text, Format::Sse, Format::Json] {
        let mut r = Redactor::new(matcher(), format);
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        r.feed(b"card 4111 1111 1111", &mut out, &mut ev).unwrap();
        r.abort();
        let before = out.len();
        let _ = r.feed(b"1111 and more text\n\n", &mut out, &mut ev);
        let _ = r.finish(&mut out, &mut ev);
        assert_eq!(
            out.len(),
            before,
            "{format:?}: output after abort: {:?}",
            show(&out[before..])
        );
    }
}

// ---------------------------------------------------------------------------
// 8. Split invariance

#[test]
fn split_invariance_text() {
    for input in [
        "pay with 4111 1111 1111 1111 today",
        "my CVV is 123. mail maria.lopez@example.com, call +1 415 555 0132",
        "routing number 021000021, account number 123456789012",
        "your balance is $12,345.67 and DOB: 1984-07-21",
        "my password is Hunter2!x ok\nPIN is 4821.",
        "IBAN GB82 WEST 1234 5698 7654 32 done, SSN 219-45-6789",
        "order 4111111111111112 shipped 2026-03-14 for $49.99",
        "4111 1111 1111 1111 42",
    ] {
        assert_split_invariant(Format::Text, input.as_bytes());
    }
    let c = transcript(3, 1500, Density::Dense);
    assert_split_invariant_as(Format::Text, &c.bytes, Some("transcript(3, 1500, Dense)"));
}

#[test]
fn split_invariance_json() {
    for input in [
        r#"{"card_number":"4111 1111 1111 1111","n":4111111111111111}"#,
        r#"{"m":"4\u0031\u00311 1111 1111 1111","e":4.111111111111111e15}"#,
        r#"{"balance":{"amount":12.5,"list":[1,"a",true]},"id":7}"#,
        r#"{"message":"\"a\"\n\\ mail maria.lopez@example.com \ud83d\ude00"}"#,
        r#"{"4111 1111 1111 1111":1,"routing":"021000021"}"#,
        r#"{"a": 4111111111111111 x"#,
    ] {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
    let c = json_tickets(5, 1500, Density::Dense);
    assert_split_invariant_as(Format::Json, &c.bytes, Some("json_tickets(5, 1500, Dense)"));
}

#[test]
fn split_invariance_json_long_key() {
    // A key longer than the engine remembers (128 bytes), ending in a
    // context word, then a value that needs that context.
    let key = format!("{} routing", "x".repeat(140));
    let input = format!(r#"{{"{key}":"021000021","n":1}}"#);
    assert_split_invariant(Format::Json, input.as_bytes());
}

#[test]
fn split_invariance_json_event_offsets() {
    for input in [
        r#"{"message":"card 4111 1111 1111 1111 and more text after it"}"#,
        r#"{"card_number":"4111 1111 1111 1111"}"#,
        // Long enough after the card that it is decided before the string ends.
        r#"{"message":"card 4111 1111 1111 1111 and then a long tail of ordinary words, long enough that the card is decided while the string is still open, well past any look-ahead the rules need for their context after the match"}"#,
    ] {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

#[test]
fn split_invariance_sse_and_ndjson() {
    assert_split_invariant(
        Format::Sse,
        b"data: card 4111 1111 1111 1111\n\nevent: x\r\ndata: CVV 123\r\n\r\ndata: tail 5555555555554444",
    );
    assert_split_invariant(
        Format::Ndjson,
        b"{\"a\":\"4111 1111 1111 1111\"}\n{\"pan\":5555555555554444}\r\n\"x\"\n",
    );
}

/// Review findings (issue 3): common JSON deviations keep the structure, so
/// field rules still apply, and a broken field value stays masked to its end.
#[test]
fn json_deviations_keep_field_rules() {
    let m = std::sync::Arc::new(scrim::Matcher::builtin().unwrap());
    let run = |input: &[u8]| {
        String::from_utf8(scrim::redact_all(&m, scrim::Format::Json, input).unwrap().0).unwrap()
    };
    assert_eq!(
        run(b"\xef\xbb\xbf{\"password\":\"hunter2\",\"n\":NaN,\"m\":-Infinity,\"i\":Infinity}"),
        "\u{feff}{\"password\":\"[REDACTED]\",\"n\":NaN,\"m\":-Infinity,\"i\":Infinity}"
    );
    assert_eq!(
        run(b"{\"note\":\"a\tb\",\"ssn\":\"078051120\"}"),
        "{\"note\":\"a\\tb\",\"ssn\":\"[SSN]\"}"
    );
    assert_eq!(
        run(br#"{"password":"ab\qc\"hunter2secret"}"#),
        r#"{"password":"[REDACTED]"}"#
    );
    assert_eq!(
        run(b"{\"accountNumber\": '12345678', \"x\": 1}"),
        "{\"accountNumber\": '****5678', \"x\": 1}"
    );
}

/// Review finding (issue 3): a label in one JSON string confirms a value in
/// the next (context words reach back across the document's strings), in
/// any chunking; a price with no such word stays.
#[test]
fn json_context_crosses_strings() {
    let m = std::sync::Arc::new(scrim::Matcher::builtin().unwrap());
    let input = br#"[{"label":"SSN","v":"219456789"},{"label":"Available balance","amount":"$12,345.67"},{"product":"headset","price":"$49.99"}]"#;
    let want = r#"[{"label":"SSN","v":"*********"},{"label":"Available balance","amount":"[BALANCE]"},{"product":"headset","price":"$49.99"}]"#;
    let (out, _) = scrim::redact_all(&m, scrim::Format::Json, input).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), want);
    for at in 0..=input.len() {
        let mut r = scrim::Redactor::new(m.clone(), scrim::Format::Json);
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        r.feed(&input[..at], &mut out, &mut ev).unwrap();
        r.feed(&input[at..], &mut out, &mut ev).unwrap();
        r.finish(&mut out, &mut ev).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), want, "split at {at}");
    }
}

/// Session 12 leak review: a value whose first letters begin a literal
/// (`NL91…` reads as `NaN`, `IT60…` as `Infinity`, `tr…` as `true`) made
/// the document malformed after those letters had been written out, so
/// the text scan began past them and missed the IBAN. A literal is now
/// written only once whole; a cut one is rescanned with the rest.
#[test]
fn literal_cut_short_is_rescanned_as_text() {
    for (input, want) in [
        ("[NL91ABNA0417164300, 1]", "[**************4300, 1]"),
        (
            "{\"x\": IT60X0542811101000000123456}",
            "{\"x\": ***********************3456}",
        ),
        (
            "{\"a\":[true,false,null,NaN,-Infinity,Infinity]}",
            "{\"a\":[true,false,null,NaN,-Infinity,Infinity]}",
        ),
        ("{\"ssn\": Nope}", "{\"ssn\": [SSN]}"),
        ("{\"a\": tr", "{\"a\": tr"),
    ] {
        assert_eq!(redact_str(Format::Json, input), want, "{input:?}");
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

/// `Redactor::sniffing` (bodies labelled `text/plain` or not labelled):
/// JSON gets field rules, text is scanned exactly as text, at every split.
#[test]
fn sniffed_plain_text_bodies() {
    let run = |input: &[u8], cuts: &[usize]| {
        let mut r = Redactor::sniffing(matcher());
        let (mut out, mut ev, mut prev) = (Vec::new(), Vec::new(), 0);
        for &c in cuts {
            r.feed(&input[prev..c], &mut out, &mut ev).expect("feed");
            prev = c;
        }
        r.feed(&input[prev..], &mut out, &mut ev).expect("feed");
        let json = r.sniffed_json();
        r.finish(&mut out, &mut ev).expect("finish");
        (String::from_utf8(out).expect("utf-8"), ev, json)
    };
    let every = |input: &str, want: &str, json: bool| {
        let b = input.as_bytes();
        let whole = run(b, &[]);
        assert_eq!((whole.0.as_str(), whole.2), (want, json), "{input:?}");
        for c in 0..=b.len() {
            assert_eq!(run(b, &[c]), whole, "{input:?} cut at {c}");
        }
        let all: Vec<usize> = (1..b.len()).collect();
        assert_eq!(run(b, &all), whole, "{input:?} bytewise");
    };
    every(
        " \r\n\t{\"ssn\":\"219-45-6789\"}\n[{\"iban\":\"x\"}]",
        " \r\n\t{\"ssn\":\"[SSN]\"}\n[{\"iban\":\"*\"}]",
        true,
    );
    // Text, even when it starts with `[`: the same as the text scanner.
    for text in [
        "[09:12] ssn 219-45-6789, card 4111 1111 1111 1111",
        "  note: {\"ssn\":\"219-45-6789\"}",
        "[NL91ABNA0417164300] ok",
    ] {
        let want = redact_str(Format::Text, text);
        assert_ne!(want, text);
        let json = text.trim_start().starts_with('[');
        every(text, &want, json);
    }
    every("", "", false);
    every(" \n ", " \n ", false);
    // Past the limit of leading whitespace the body is JSON, which turns
    // to text at its first byte that is not JSON.
    let pad = " ".repeat(scrim::redactor::SNIFF_LIMIT + 1);
    let long = format!("{pad}{{\"ssn\":\"219-45-6789\"}}");
    let (out, _, json) = run(long.as_bytes(), &[]);
    assert_eq!((out, json), (format!("{pad}{{\"ssn\":\"[SSN]\"}}"), true));
    let long_text = format!("{pad}ssn 219-45-6789");
    let (out, _, _) = run(long_text.as_bytes(), &[]);
    assert_eq!(out, format!("{pad}ssn ***-**-****"));
    // A byte-order mark before the JSON (a JSON reader skips it).
    every(
        "\u{feff}{\"accountNumber\":\"12345678\"}",
        "\u{feff}{\"accountNumber\":\"****5678\"}",
        true,
    );
}

/// `s` as a JSON string literal (ASCII input).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON held in a JSON string (webhook payloads, stored API responses) is
/// read as JSON, so field rules apply inside it, four levels deep (red-team
/// pass, 2026-12-03: it got text rules only, and field-only values such as
/// API keys stayed readable; two levels until 2026-12-04).
#[test]
fn json_inside_json_strings_gets_field_rules() {
    let inner2 = r#"{"ssn":"219-45-6789"}"#;
    let inner = format!(
        r#"{{"api_key":"zz_test_0000EXAMPLE","phone":"4155550198","note":"card 4111111111111111","inner":{}}}"#,
        json_string(inner2)
    );
    let input = format!(
        r#"{{"event":"webhook","payload":{},"list":{},"text":{},"plain":{}}}"#,
        json_string(&inner),
        json_string(r#"[{"password":"hunter2"}, 7]"#),
        json_string("{not json, card 4111 1111 1111 1111"),
        json_string(r#"hello "world""#),
    );
    let want_inner = format!(
        r#"{{"api_key":"[REDACTED]","phone":"********98","note":"card ************1111","inner":{}}}"#,
        json_string(r#"{"ssn":"[SSN]"}"#)
    );
    let want = format!(
        r#"{{"event":"webhook","payload":{},"list":{},"text":{},"plain":{}}}"#,
        json_string(&want_inner),
        json_string(r#"[{"password":"[REDACTED]"}, 7]"#),
        json_string("{not json, card **** **** **** 1111"),
        json_string(r#"hello "world""#),
    );
    assert_json_exact(&[(input.as_str(), want.as_str())]);
    assert_split_invariant(Format::Json, input.as_bytes());
    // The same in an SSE event's data.
    let sse = format!("data: {input}\n\n");
    assert_eq!(redact_str(Format::Sse, &sse), format!("data: {want}\n\n"));
    assert_split_invariant(Format::Sse, sse.as_bytes());
    // Four levels of strings get JSON rules; a fifth gets text rules only,
    // so a field-only value there stays (Known limits in the README).
    let mut deep = r#"{"api_key":"abc123def456"}"#.to_string();
    for key in ["l0", "l1", "l2", "l3", "l4"] {
        deep = format!(r#"{{"{key}":{}}}"#, json_string(&deep));
    }
    assert_json_exact(&[(deep.as_str(), deep.as_str())]);
    let mut four = r#"{"api_key":"abc123def456"}"#.to_string();
    let mut four_want = r#"{"api_key":"[REDACTED]"}"#.to_string();
    for key in ["l0", "l1", "l2", "l3"] {
        four = format!(r#"{{"{key}":{}}}"#, json_string(&four));
        four_want = format!(r#"{{"{key}":{}}}"#, json_string(&four_want));
    }
    assert_json_exact(&[(four.as_str(), four_want.as_str())]);
    assert_split_invariant(Format::Json, four.as_bytes());
    // The JSON in a string sees the outer string's context, as the string
    // did when it was read as text (review of aed97a1). (`"value"` there
    // would make a name/value pair: the SSN field rule would mask the whole
    // string; `"v"` keeps this about context.)
    let ctx = [
        (
            r#"{"label":"SSN","v":"[219456789]"}"#,
            r#"{"label":"SSN","v":"[\"*********\"]"}"#,
        ),
        (
            r#"{"label":"SSN","v":"{\"v\":219456789}"}"#,
            r#"{"label":"SSN","v":"{\"v\":\"*********\"}"}"#,
        ),
    ];
    assert_json_exact(&ctx);
    for (input, _) in ctx {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

/// JSON in a string after leading whitespace, and several documents in one
/// string (one per line or one after another), get JSON rules too (red-team
/// pass, 2026-12-03: they got text rules only). More than 64 bytes of
/// leading whitespace, or a string that does not start as JSON, is text.
#[test]
fn json_in_strings_after_whitespace_and_in_sequences() {
    let pad = " ".repeat(64);
    let cases = [
        (
            r#"{"p":" \n\t{\"api_key\":\"abc123def456\"}","q":"   ","r":" x 4111111111111111"}"#.to_string(),
            r#"{"p":" \n\t{\"api_key\":\"[REDACTED]\"}","q":"   ","r":" x ************1111"}"#.to_string(),
        ),
        (
            r#"{"s":"  [\"a\", {\"password\":\"hunter2\"}]","e":""}"#.to_string(),
            r#"{"s":"  [\"a\", {\"password\":\"[REDACTED]\"}]","e":""}"#.to_string(),
        ),
        (
            r#"{"log":"{\"a\":1}\n{\"api_key\":\"abc123def456\"}\n"}"#.to_string(),
            r#"{"log":"{\"a\":1}\n{\"api_key\":\"[REDACTED]\"}\n"}"#.to_string(),
        ),
        (
            r#"{"l":"{\"a\":1} {\"api_key\":\"abc123def456\"}","m":"[1][2]{\"api_key\":\"abc123def456\"}"}"#.to_string(),
            r#"{"l":"{\"a\":1} {\"api_key\":\"[REDACTED]\"}","m":"[1][2]{\"api_key\":\"[REDACTED]\"}"}"#.to_string(),
        ),
        (
            format!(r#"{{"p":"{pad}{{\"api_key\":\"abc123def456\"}}"}}"#),
            format!(r#"{{"p":"{pad}{{\"api_key\":\"[REDACTED]\"}}"}}"#),
        ),
        // Limits: 65 spaces; a string that starts as a number; text after a
        // document on its line.
        (
            format!(r#"{{"p":" {pad}{{\"api_key\":\"abc123def456\"}}"}}"#),
            format!(r#"{{"p":" {pad}{{\"api_key\":\"abc123def456\"}}"}}"#),
        ),
        (
            r#"{"n":"1 {\"api_key\":\"abc123def456\"}","t":"{\"a\":1} hi {\"api_key\":\"abc123def456\"}"}"#.to_string(),
            r#"{"n":"1 {\"api_key\":\"abc123def456\"}","t":"{\"a\":1} hi {\"api_key\":\"abc123def456\"}"}"#.to_string(),
        ),
    ];
    for (input, want) in &cases {
        assert_json_exact(&[(input.as_str(), want.as_str())]);
        assert_split_invariant(Format::Json, input.as_bytes());
    }
    // A key is never read as JSON, whatever it starts with.
    let key = r#"{" {\"api_key\":\"abc123def456\"}":1}"#;
    assert_json_exact(&[(key, key)]);
    assert_split_invariant(Format::Json, key.as_bytes());
}

/// A field rule with `min_digits` leaves values with fewer digits to the
/// text rules, in objects, arrays and containers under the key (red-team
/// pass, 2026-12-03: keys `pin`, `pan` and `tel` masked whatever they
/// held).
#[test]
fn field_rules_skip_values_with_too_few_digits() {
    let cases = [
        (
            r#"{"pin":true,"pan":"left","tel":"n/a","mobile":"none","pin2":7}"#,
            r#"{"pin":true,"pan":"left","tel":"n/a","mobile":"none","pin2":7}"#,
        ),
        (
            r#"{"pin":"4821","pan":"4111 1111 1111 1112","tel":"555 0198 7"}"#,
            r#"{"pin":"[PIN]","pan":"**** **** **** 1112","tel":"*** ***8 7"}"#,
        ),
        // Values it does not cover still get the text rules.
        (
            r#"{"tel":"mail maria.lopez@example.com","pin":12}"#,
            r#"{"tel":"mail [EMAIL]","pin":12}"#,
        ),
        // Inside a container under the key every scalar is masked: digits
        // split over elements are still the value (review of aed97a1).
        (
            r#"{"pan":{"side":"left","n":"5555555555554444"},"pin":["ok",4821]}"#,
            r#"{"pan":{"side":"****","n":"************4444"},"pin":["[PIN]","[PIN]"]}"#,
        ),
        (
            r#"{"pan":["4111","1111","1111","1111"],"x":{"pan":[4111,1111,1111,1111]}}"#,
            r#"{"pan":["****","****","****","****"],"x":{"pan":["****","****","****","****"]}}"#,
        ),
        // A piece with fewer digits than the value keeps none readable; a
        // whole value inside the container keeps its last digits.
        (
            r#"{"phone":["415","555","0198"],"tel":{"home":"+1 415 555 0198"}}"#,
            r#"{"phone":["***","***","****"],"tel":{"home":"+* *** *** **98"}}"#,
        ),
        // Full-width digits count, and a number's digits in its plain form
        // (48e2 is 4800).
        (
            "{\"pin\":\"\u{FF14}\u{FF18}\u{FF12}\u{FF11}\",\"atm_pin\":48e2}",
            r#"{"pin":"[PIN]","atm_pin":"[PIN]"}"#,
        ),
    ];
    assert_json_exact(&cases);
    for (input, _) in cases {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

/// Red-team pass, 2026-12-07 (issue 6 session): JSON shapes whose values
/// reached the client although the same text was masked. Plaid's
/// `/auth/get` numbers under a bare `account` key, keyword rules' words as
/// JSON keys in several languages, and name/value pairs (Salesforce,
/// Zendesk custom fields) whose name is a CVV or PIN word. Exact outputs,
/// valid JSON, and the same output at every split.
#[test]
fn json_keys_and_name_value_pairs_from_the_red_team_pass() {
    let cases = [
        (
            r#"{"numbers":{"ach":[{"account":"1111222233330000","routing":"021000021","wire_routing":"021000021"}],"bacs":[{"account":"31926819","sort_code":"601613"}]}}"#,
            r#"{"numbers":{"ach":[{"account":"************0000","routing":"*********","wire_routing":"*********"}],"bacs":[{"account":"****6819","sort_code":"******"}]}}"#,
        ),
        (
            r#"{"account":"Acme Corp","bank":{"account":12345678}}"#,
            r#"{"account":"Acme Corp","bank":{"account":"****5678"}}"#,
        ),
        (
            r#"{"passwort":"hunter2","Prüfnummer":"123","Geheimzahl":"4821","Ablaufdatum":"12/27"}"#,
            r#"{"passwort":"[REDACTED]","Prüfnummer":"[CVV]","Geheimzahl":"[PIN]","Ablaufdatum":"[EXPIRY]"}"#,
        ),
        (
            r#"{"exp":"12/27","card":{"expires":"12/27"},"valid_thru":"12/27","cvn":"123","pin_no":"4821","Kontostand":5000}"#,
            r#"{"exp":"[EXPIRY]","card":{"expires":"[EXPIRY]"},"valid_thru":"[EXPIRY]","cvn":"[CVV]","pin_no":"[PIN]","Kontostand":"[BALANCE]"}"#,
        ),
        (
            r#"{"fields":[{"name":"CVV","value":"123"},{"name":"PIN","value":4821},{"name":"order","value":"4821"}]}"#,
            r#"{"fields":[{"name":"CVV","value":"[CVV]"},{"name":"PIN","value":"[PIN]"},{"name":"order","value":"4821"}]}"#,
        ),
        (
            r#"{"routingNumber":"021000021","sortCode":"12-34-56"}"#,
            r#"{"routingNumber":"*********","sortCode":"**-**-**"}"#,
        ),
    ];
    assert_json_exact(&cases);
    for (input, _) in cases {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

/// The JSON word trail drops a context word that goes on in a letter or
/// digit within its string (`tel` in `tell`), which ran the phone rule's
/// precheck on strings after "Could you tell me" (issue 6). A word that
/// ends its string, one before a camelCase step and a whole one still
/// confirm. Exact outputs, valid JSON, every split.
#[test]
fn json_word_trail_keeps_words_that_can_be_whole() {
    let cases = [
        (
            r#"{"a":"tell","b":"0171 2345678"}"#,
            r#"{"a":"tell","b":"0171 2345678"}"#,
        ),
        (
            r#"{"a":"my tel","b":"0171 2345678"}"#,
            r#"{"a":"my tel","b":"**** *****78"}"#,
        ),
        (
            r#"{"a":"tel","b":"0171 2345678"}"#,
            r#"{"a":"tel","b":"**** *****78"}"#,
        ),
        (
            r#"{"note":"phoneNumber","v":"0171 2345678"}"#,
            r#"{"note":"phoneNumber","v":"**** *****78"}"#,
        ),
        (
            r#"{"label":"hotel","n":"0171 2345678"}"#,
            r#"{"label":"hotel","n":"0171 2345678"}"#,
        ),
        (
            r#"{"m":"Could you tell me your SSN","v":"219456789"}"#,
            r#"{"m":"Could you tell me your SSN","v":"*********"}"#,
        ),
    ];
    assert_json_exact(&cases);
    for (input, _) in cases {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}

/// Name/value pairs (red-team pass, 2026-12-07): a CRM's custom fields and
/// attributes as `{"name":"Password","value":"…"}`. The field rule that the
/// name string names applies to a value key later in the same object, at
/// the same depth, with the rule's own `min_digits`; it ends with the
/// object. Exact outputs, valid JSON, every split.
#[test]
fn json_name_value_pairs_take_the_named_field_rule() {
    let cases = [
        (
            r#"{"fields":[{"name":"Password","value":"hunter2"},{"name":"Color","value":"red"}]}"#,
            r#"{"fields":[{"name":"Password","value":"[REDACTED]"},{"name":"Color","value":"red"}]}"#,
        ),
        (
            r#"{"attributes":[{"key":"api_key","type":"text","value":"sk_live_abc"}]}"#,
            r#"{"attributes":[{"key":"api_key","type":"text","value":"[REDACTED]"}]}"#,
        ),
        (
            r#"{"label":"Card number","value":"4111 1111 1111 1111"}"#,
            r#"{"label":"Card number","value":"**** **** **** 1111"}"#,
        ),
        (
            r#"{"field_name":"SSN","field_value":219456789}"#,
            r#"{"field_name":"SSN","field_value":"[SSN]"}"#,
        ),
        (
            r#"{"name":"password","values":["a","b"],"note":"ok"}"#,
            r#"{"name":"password","values":["[REDACTED]","[REDACTED]"],"note":"ok"}"#,
        ),
        (
            r#"{"name":"password","meta":{"value":"x"},"value2":"y"}"#,
            r#"{"name":"password","meta":{"value":"x"},"value2":"y"}"#,
        ),
        (
            r#"{"name":"PIN","value":"n/a"}"#,
            r#"{"name":"PIN","value":"n/a"}"#,
        ),
        (
            r#"{"name":{"first":"Ann"},"value":"hunter2"}"#,
            r#"{"name":{"first":"Ann"},"value":"hunter2"}"#,
        ),
        // A label's punctuation; a question and its answer; a chat
        // message's `content` is not a pair's value.
        (
            r#"{"label":"Password:","value":"hunter2","x":{"question":"PIN?","answer":"4821"}}"#,
            r#"{"label":"Password:","value":"[REDACTED]","x":{"question":"PIN?","answer":"[PIN]"}}"#,
        ),
        (
            r#"{"role":"user","name":"secret","content":"see you at 5"}"#,
            r#"{"role":"user","name":"secret","content":"see you at 5"}"#,
        ),
        // An inner pair ends with its object; the outer one holds on.
        (
            r#"{"name":"password","meta":{"name":"ssn","value":"219456789"},"value":"hunter2"}"#,
            r#"{"name":"password","meta":{"name":"ssn","value":"[SSN]"},"value":"[REDACTED]"}"#,
        ),
    ];
    assert_json_exact(&cases);
    for (input, _) in cases {
        assert_split_invariant(Format::Json, input.as_bytes());
    }
}
