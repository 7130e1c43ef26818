//! Engine tests: the gated streaming scanner against the naive reference
//! (differential), chunk-split invariance, no leaks on generated corpora,
//! decoys left intact, and every pack example.

use proptest::prelude::*;
use scrim::corpus::{json_tickets, transcript, Density};
use scrim::reference::Naive;
use scrim::{redact_all, Format, Matcher, Redactor};
use std::sync::{Arc, OnceLock};

fn matcher() -> &'static Arc<Matcher> {
    static M: OnceLock<Arc<Matcher>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Matcher::builtin().expect("builtin packs compile")))
}

fn naive() -> &'static Naive {
    static N: OnceLock<Naive> = OnceLock::new();
    N.get_or_init(|| Naive::new(matcher()).expect("naive compiles"))
}

fn gated(input: &[u8]) -> Vec<u8> {
    redact_all(matcher(), Format::Text, input).expect("scan").0
}

fn reference(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    naive().redact(matcher(), input, &mut out);
    out
}

fn chunked(format: Format, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut r = Redactor::new(matcher().clone(), format);
    let mut out = Vec::new();
    let mut ev = Vec::new();
    let mut prev = 0;
    for &c in cuts {
        let c = c.clamp(prev, input.len());
        r.feed(&input[prev..c], &mut out, &mut ev).expect("feed");
        prev = c;
    }
    r.feed(&input[prev..], &mut out, &mut ev).expect("feed");
    r.finish(&mut out, &mut ev).expect("finish");
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `input` redacts to exactly `want` in the gated scanner, the reference
/// scanner and fed in two pieces cut at every point.
fn assert_everywhere(input: &[u8], want: &[u8]) {
    let text = String::from_utf8_lossy(input);
    assert_eq!(gated(input), want, "{text:?}");
    assert_eq!(reference(input), want, "{text:?}");
    for cut in 0..=input.len() {
        assert_eq!(
            chunked(Format::Text, input, &[cut]),
            want,
            "{text:?} cut at {cut}"
        );
    }
}

/// `needle` occurs in `hay` with no digit right before or after it: the
/// value itself, not a fragment of a longer number.
fn contains_value(hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    !needle.is_empty()
        && (0..=hay.len().saturating_sub(n)).any(|i| {
            &hay[i..i + n] == needle
                && (i == 0 || !hay[i - 1].is_ascii_digit())
                && hay.get(i + n).is_none_or(|b| !b.is_ascii_digit())
        })
}

/// The engine's self-test: every example of every built-in rule.
#[test]
fn every_pack_example_passes() {
    let errs = scrim::selftest::run(matcher());
    assert!(errs.is_empty(), "{}", scrim::pack::PackErrors(errs));
}

#[test]
fn gated_equals_naive_on_corpora() {
    for density in [
        Density::Dense,
        Density::Typical,
        Density::Clean,
        Density::Adversarial,
    ] {
        for seed in 0..3 {
            let c = transcript(seed, 48 * 1024, density);
            let g = gated(&c.bytes);
            let n = reference(&c.bytes);
            assert!(g == n, "gated != naive for {density:?} seed {seed}");
            let j = json_tickets(seed, 32 * 1024, density);
            assert!(
                gated(&j.bytes) == reference(&j.bytes),
                "json-as-text {density:?} seed {seed}"
            );
        }
    }
}

#[test]
fn corpora_leak_no_secret_and_keep_decoys() {
    for density in [Density::Dense, Density::Typical] {
        for seed in 0..4 {
            let c = transcript(seed, 64 * 1024, density);
            let out = gated(&c.bytes);
            for s in &c.secrets {
                // Short values (CVV, PIN-like) are checked as whole tokens.
                if s.len() >= 6 {
                    assert!(
                        !contains(&out, s.as_bytes()),
                        "secret #{} leaked ({density:?}, seed {seed})",
                        s.len()
                    );
                }
            }
            for d in &c.decoys {
                assert!(
                    contains(&out, d.as_bytes()),
                    "decoy {d:?} was redacted ({density:?}, seed {seed})"
                );
            }
            let j = json_tickets(seed, 64 * 1024, density);
            let out = redact_all(matcher(), Format::Json, &j.bytes)
                .expect("json")
                .0;
            for s in &j.secrets {
                if s.len() >= 6 {
                    assert!(
                        !contains(&out, s.as_bytes()),
                        "json secret leaked ({density:?}, seed {seed})"
                    );
                }
            }
        }
    }
}

/// Values that look numeric but are not sensitive must stay readable.
#[test]
fn decoys_stay_intact() {
    let decoys = [
        "Order 4111111111111112 shipped", // fails Luhn
        "order #100234577 is on its way",
        "tracking 1Z999AA10123456784",
        "ticket TCK-2026-000123",
        "at 2026-03-14T09:12:33Z",
        "[2026-03-14 09:12:33] Agent: hi",
        "uuid 3f2b8c1e-9a4d-4e7b-8c21-5d6f7a8b9c0d",
        "the headset costs $49.99 (was €59,00)",
        "version v2.14.3 and build 20260314.1",
        "invoice INV-2026-004512, total 1,299.00 USD",
        "call us on weekdays 9-17",
        "SKU 8-40512-33 in stock",
        "IP 192.168.10.254 port 8443",
        "ISBN 978-3-16-148410-0",
        "order 123-45-6789",
        "phone extension 4821",
        "1234 5678 9012 3456", // fails Luhn
    ];
    for d in decoys {
        assert_eq!(String::from_utf8(gated(d.as_bytes())).unwrap(), d);
    }
}

#[test]
fn exact_redactions() {
    let cases = [
        (
            "card 4111 1111 1111 1111, exp 09/27, CVV 123",
            "card **** **** **** 1111, exp [EXPIRY], CVV [CVV]",
        ),
        (
            "IBAN: GB82 WEST 1234 5698 7654 32.",
            "IBAN: **** **** **** **** **54 32.",
        ),
        (
            "Your available balance is $12,345.67 today",
            "Your available balance is [BALANCE] today",
        ),
        ("Sie schulden 1.234,56 EUR", "Sie schulden [BALANCE]"),
        (
            "email maria.lopez@example.com or +44 20 7946 0958",
            "email [EMAIL] or +** ** **** **58",
        ),
        (
            "link ?email=maria.lopez%40example.com&page=2",
            "link ?email=[EMAIL]&page=2",
        ),
        (
            "to=maria@example%2Ecom&cc=jo%40mail&#46;example&period;org;",
            "to=[EMAIL]&cc=[EMAIL];",
        ),
        (
            "SSN 123-45-6789; DOB: 1984-07-21",
            "SSN ***-**-****; DOB: [DOB]",
        ),
        (
            "my password is Hunter2!x and PIN 4821",
            "my password is [REDACTED] and PIN [PIN]",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            String::from_utf8(gated(input.as_bytes())).unwrap(),
            want,
            "input {input:?}"
        );
        assert_eq!(
            String::from_utf8(reference(input.as_bytes())).unwrap(),
            want
        );
    }
}

#[test]
fn every_split_of_a_card_gives_the_same_output() {
    let input = b"pay 4111 1111 1111 1111 now, IBAN DE89 3704 0044 0532 0130 00 and maria@example.com, balance $1,200.50";
    let whole = gated(input);
    for f in [Format::Text, Format::Sse] {
        for cut in 0..=input.len() {
            assert_eq!(chunked(f, input, &[cut]), whole, "split at {cut}");
        }
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(chunked(f, input, &cuts), whole, "byte by byte");
    }
}

#[test]
fn whole_amounts_right_after_a_balance_word_are_masked_however_split() {
    assert_everywhere(
        b"Your balance is 5000, you owe 1,200 and Kontostand: 1234 Punkte.",
        b"Your balance is [BALANCE], you owe [BALANCE] and Kontostand: [BALANCE] Punkte.",
    );
    // Not right after the word, or not an amount: kept.
    let kept: &[u8] = b"balance the load across 3 servers; balance sheet 2026; ticket 12345";
    assert_everywhere(kept, kept);
    // In a JSON string (the word precheck lets it through to the scan).
    let json = br#"{"note":"customer says balance is 5000","id":5000}"#;
    assert_eq!(
        redact_all(matcher(), Format::Json, json).expect("scan").0,
        br#"{"note":"customer says balance is [BALANCE]","id":5000}"#.to_vec()
    );
}

#[test]
fn emails_with_encoded_domain_dots_are_masked_however_split() {
    assert_everywhere(
        b"mail maria@example%2Ecom, jo@mail&#46;example&#x2E;org or x%40y&period;io.",
        b"mail [EMAIL], [EMAIL] or [EMAIL].",
    );
    // Not an email: no letters after the last encoded dot.
    assert_everywhere(b"v2@3%2E4 and a@b%2E", b"v2@3%2E4 and a@b%2E");
}

#[test]
fn non_utf8_input_is_scanned_as_bytes() {
    let mut input = b"\xff\xfe card 4111111111111111 \xc3".to_vec();
    input.extend_from_slice(&[0x80, 0x00, b'x']);
    let out = gated(&input);
    assert!(!contains(&out, b"4111111111111111"));
    assert!(contains(&out, b"************1111"));
    assert!(out.starts_with(b"\xff\xfe card "));
}

fn arb_text() -> impl Strategy<Value = Vec<u8>> {
    // Mixtures of fragments that exercise every rule, plus noise bytes.
    let frags = prop::sample::select(vec![
        "4111 1111 1111 1111",
        "5555555555554444",
        "378282246310005",
        "4111",
        " ",
        "-",
        ".",
        "0",
        "1",
        "9",
        "@",
        "maria@example.com",
        "x@y",
        "%40",
        "%2540",
        "%",
        "maria%40example.com",
        "x%40y",
        ".org",
        "%2Eorg",
        "&#46;com",
        "DE89 3704 0044 0532 0130 00",
        "GB82",
        "balance ",
        "balance is ",
        "you owe ",
        "5000",
        "$",
        "€",
        "12,345.67",
        " EUR",
        "CVV ",
        "123",
        "expires ",
        "09/27",
        "SSN ",
        "123-45-6789",
        "DOB: ",
        "1984-07-21",
        "password: ",
        "Hunter2",
        "PIN ",
        "4821",
        "+44 20 7946 0958",
        "(415) 555-0198",
        "routing number ",
        "021000021",
        "account number ",
        "\n",
        "\r\n",
        "\n\n",
        "data: ",
        "{\"card_number\":",
        "\"",
        "\\u0034",
        "é",
        "\u{20ac}",
        // Context words glued to letters, digits, camelCase and escapes:
        // the word gate keeps only occurrences that can be whole words.
        "tel",
        "tell me ",
        "hotel",
        "phone",
        "Number",
        "ssn",
        "x",
        "%20",
        "0171 2345678",
        "born",
    ]);
    prop::collection::vec(
        prop_oneof![
            4 => frags.prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..6),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// Gate correctness: gated output == ungated per-rule regex output.
    #[test]
    fn gated_equals_naive(input in arb_text()) {
        prop_assert_eq!(gated(&input), reference(&input));
    }

    /// Emails with a percent-encoded `@`, whose trigger words reach back
    /// over the local part, and encoded domain dots: gated output == naive
    /// output, however split.
    #[test]
    fn pct_emails_equal_naive(
        parts in prop::collection::vec(
            "[a-zA-Z0-9.%+_ =-]{0,70}(%40|%2540|@|%4|%25)[a-zA-Z0-9.%-]{0,24}((\\.|%2E|%2e|%252E|&#46;|&#x2E;|&period;|&#4)[a-z]{1,4})?[ &;]?",
            1..4,
        ),
        cut in 0usize..300,
    ) {
        let input = parts.concat().into_bytes();
        let whole = gated(&input);
        prop_assert_eq!(&whole, &reference(&input));
        prop_assert_eq!(chunked(Format::Text, &input, &[cut]), whole);
    }

    /// Any chunking gives the one-shot output, in every format.
    #[test]
    fn random_splits_give_whole_output(input in arb_text(), cuts in prop::collection::vec(0usize..400, 0..12)) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        for f in [Format::Text, Format::Json, Format::Ndjson, Format::Sse] {
            let whole = redact_all(matcher(), f, &input).expect("scan").0;
            prop_assert_eq!(chunked(f, &input, &cuts), whole);
        }
    }

    /// Whole JSON strings take the precheck fast path (`scan::may_match`);
    /// fed one byte at a time, every string is scanned in full. Both give
    /// the same output, so the precheck never skips a match, with values
    /// and keys drawn from every rule's fragments (and context words in
    /// earlier strings).
    #[test]
    fn json_string_precheck_equals_full_scan(
        parts in prop::collection::vec((arb_text(), any::<bool>()), 1..6),
    ) {
        let mut doc = String::from("{");
        for (i, (t, as_key)) in parts.iter().enumerate() {
            let t = String::from_utf8_lossy(t).into_owned();
            let t = serde_json::to_string(&t).expect("json string");
            if i > 0 {
                doc.push_str(", ");
            }
            if *as_key {
                doc.push_str(&format!("{t}: {i}"));
            } else {
                doc.push_str(&format!("\"k{i}\": {t}"));
            }
        }
        doc.push('}');
        let whole = redact_all(matcher(), Format::Json, doc.as_bytes()).expect("scan").0;
        let every: Vec<usize> = (1..doc.len()).collect();
        prop_assert_eq!(chunked(Format::Json, doc.as_bytes(), &every), whole);
    }

    /// JSON numbers take the same precheck with their key as context; debug
    /// builds also scan every skipped number and assert it had no match
    /// (`json.rs`, `end_number`). Keys and earlier strings here carry
    /// context words of every gated rule, numbers every digit shape.
    #[test]
    fn json_number_precheck_is_exact(
        parts in prop::collection::vec((
            prop::sample::select(vec![
                "acct", "account no", "routing", "aba", "ssn", "tin", "soc sec", "dob",
                "born", "phone", "tel", "balance", "saldo", "owe", "n", "order", "",
            ]),
            prop::sample::select(vec!["", " ", "_", ": ", " is "]),
            "-?(0|[1-9][0-9]{0,17})(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?",
        ), 1..5),
    ) {
        let mut doc = String::from("{");
        for (i, (word, sep, num)) in parts.iter().enumerate() {
            if i > 0 {
                doc.push_str(", ");
            }
            doc.push_str(&format!("\"{word}{sep}{i}\": {num}, \"s{i}\": \"{word}\""));
        }
        doc.push('}');
        let whole = redact_all(matcher(), Format::Json, doc.as_bytes()).expect("scan").0;
        let every: Vec<usize> = (1..doc.len()).collect();
        prop_assert_eq!(chunked(Format::Json, doc.as_bytes(), &every), whole);
    }

    /// Arbitrary bytes never panic, and splitting never changes output.
    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..600), cut in 0usize..600) {
        for f in [Format::Text, Format::Json, Format::Ndjson, Format::Sse] {
            let whole = redact_all(matcher(), f, &input).expect("scan").0;
            prop_assert_eq!(chunked(f, &input, &[cut]), whole);
        }
    }

    /// No valid test card survives in any format, wherever it sits. The
    /// cards here do not occur in the fragments, so any standalone
    /// occurrence in the output is the planted one leaking.
    #[test]
    fn cards_never_leak(prefix in arb_text(), suffix in arb_text(), sep in prop::sample::select(vec!["", " ", "-", ".", " - ", "  ", "\t"]), f in prop::sample::select(vec![Format::Text, Format::Json, Format::Ndjson, Format::Sse]), which in 0usize..2) {
        let groups = [["3530", "1113", "3330", "0000"], ["6011", "0009", "9013", "9424"]][which];
        let card = groups.join(sep);
        let mut input = prefix.clone();
        input.extend_from_slice(b" ");
        input.extend_from_slice(card.as_bytes());
        input.extend_from_slice(b" ");
        input.extend_from_slice(&suffix);
        let out = redact_all(matcher(), f, &input).expect("scan").0;
        prop_assert!(!contains_value(&out, card.as_bytes()), "{:?} -> {:?}", String::from_utf8_lossy(&input), String::from_utf8_lossy(&out));
    }

    /// The same in SSE events whose data is JSON (the card in a string
    /// value under a plain or a field-rule key, the document over one or
    /// two `data:` lines), split anywhere: never a planted card.
    #[test]
    fn cards_never_leak_from_sse_json(prefix in arb_text(), suffix in arb_text(), sep in prop::sample::select(vec!["", " ", "-"]), key in prop::sample::select(vec!["note", "card_number", "ssn"]), two_lines in any::<bool>(), cut in 0usize..400, which in 0usize..2) {
        let groups = [["3530", "1113", "3330", "0000"], ["6011", "0009", "9013", "9424"]][which];
        let card = groups.join(sep);
        let mut value = Vec::new();
        for &b in prefix.iter().chain(b" ").chain(card.as_bytes()).chain(b" ").chain(&suffix) {
            match b {
                b'"' | b'\\' => value.extend_from_slice(&[b'\\', b]),
                b if b < 0x20 => value.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                b => value.push(b),
            }
        }
        let mut input = format!("event: m\ndata: {{\"id\":1,{}\"{key}\":\"", if two_lines { "\ndata: " } else { "" }).into_bytes();
        input.extend_from_slice(&value);
        input.extend_from_slice(b"\"}\n\n");
        let whole = redact_all(matcher(), Format::Sse, &input).expect("scan").0;
        prop_assert!(!contains_value(&whole, card.as_bytes()), "{:?} -> {:?}", String::from_utf8_lossy(&input), String::from_utf8_lossy(&whole));
        prop_assert_eq!(chunked(Format::Sse, &input, &[cut]), whole);
    }

    /// NDJSON: whatever the lines before it (broken JSON, text, a string
    /// or number cut by a line break), a field value on a line of its own
    /// is masked by its rule, split anywhere.
    #[test]
    fn ndjson_field_values_never_leak_after_any_line(prefix in arb_text(), key in prop::sample::select(vec!["accountNumber", "balance", "ssn"]), indent in prop::sample::select(vec!["", "  ", "\t"]), number in any::<bool>(), cut in 0usize..400) {
        let value = "73914086";
        let quoted = if number { value.to_string() } else { format!("\"{value}\"") };
        let mut input = prefix.clone();
        input.extend_from_slice(format!("\n{indent}{{\"{key}\":{quoted}}}\n").as_bytes());
        let whole = redact_all(matcher(), Format::Ndjson, &input).expect("scan").0;
        prop_assert!(!contains_value(&whole, value.as_bytes()), "{:?} -> {:?}", String::from_utf8_lossy(&input), String::from_utf8_lossy(&whole));
        prop_assert_eq!(chunked(Format::Ndjson, &input, &[cut]), whole);
    }

    /// SSE JSON events with comment and field lines between data lines:
    /// a field value after them is masked, split anywhere, wherever the
    /// lines come: after a comma, a number, a key, a colon or a masked
    /// number, and when a line starts like `data:` (`dat: …`).
    #[test]
    fn sse_json_field_values_never_leak_past_side_lines(side in prop::collection::vec(prop::sample::select(vec![": keep-alive", ":", "id: 7", "event: chat", "retry: 100", ": 4111 1111 1111 1111", "dat: x", "d", "da: 1", "datum: 2", "data", "dataz"]), 1..4), at in 0usize..5, crlf in any::<bool>(), cut in 0usize..200) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let (head, tail) = [
            ("{\"id\":1,", "\"accountNumber\":\"73914086\"}"),
            ("{\"id\":1", ",\"accountNumber\":\"73914086\"}"),
            ("{\"id\":1,\"accountNumber\"", ":\"73914086\"}"),
            ("{\"id\":1,\"accountNumber\":", "\"73914086\"}"),
            ("{\"accountNumber\":\"73914086\",\"balance\":73914086", ",\"balance\":73914086}"),
        ][at];
        let mut input = format!("data: {head}{nl}");
        for line in &side {
            input.push_str(line);
            input.push_str(nl);
        }
        input.push_str(&format!("data: {tail}{nl}{nl}"));
        let whole = redact_all(matcher(), Format::Sse, input.as_bytes()).expect("scan").0;
        prop_assert!(!contains_value(&whole, b"73914086"), "{:?} -> {:?}", input, String::from_utf8_lossy(&whole));
        prop_assert!(!contains_value(&whole, b"4111"), "{:?}", String::from_utf8_lossy(&whole));
        prop_assert_eq!(chunked(Format::Sse, input.as_bytes(), &[cut]), whole);
    }
}

/// Audit fingerprints (issue 5): keyed, stable across spellings of a value,
/// absent unless asked for, and never the value.
#[test]
fn fingerprints_are_keyed_and_optional() {
    use scrim::mask::{fingerprint, TokenKey};
    let key = TokenKey::new(b"0123456789abcdef0123".to_vec()).unwrap();
    let specs = scrim::pack::builtin().unwrap();
    let with = Arc::new(
        Matcher::compile(
            &specs,
            &scrim::CompileOptions {
                token_key: Some(key.clone()),
                fingerprint: true,
            },
        )
        .unwrap(),
    );
    let (_, ev1) = redact_all(&with, Format::Text, b"card 4111 1111 1111 1111").unwrap();
    let (_, ev2) = redact_all(&with, Format::Text, b"card 4111-1111-1111-1111").unwrap();
    let want = fingerprint(b"4111111111111111", &key);
    assert_eq!(ev1[0].fingerprint, Some(want));
    assert_eq!(ev2[0].fingerprint, Some(want));
    let other = TokenKey::new(b"another key of 16+ bytes".to_vec()).unwrap();
    assert_ne!(fingerprint(b"4111111111111111", &other), want);
    let (_, ev) = redact_all(matcher(), Format::Text, b"card 4111 1111 1111 1111").unwrap();
    assert_eq!(ev[0].fingerprint, None);
    let (_, evj) = redact_all(
        &with,
        Format::Json,
        br#"{"card_number":"4111 1111 1111 1111"}"#,
    )
    .unwrap();
    assert_eq!(evj[0].fingerprint, Some(want));
}

/// More than four distinct trigger bytes cannot be gated; compiling such
/// packs must fail instead of silently never firing a rule.
#[test]
fn too_many_trigger_bytes_are_refused() {
    let mut rules = String::from("[pack]\nname = \"t\"\n");
    for (i, b) in ["#", "%", "&", "~", "^"].iter().enumerate() {
        rules.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\ncategory = \"c\"\npattern = '''\\{b}[a-z]{{3}}'''\ntrigger = {{ bytes = \"{b}\" }}\naction = {{ type = \"label\", label = \"[X]\" }}\n"
        ));
    }
    let spec = scrim::pack::parse("t.toml", &rules).unwrap();
    let err = Matcher::compile(&[spec], &scrim::CompileOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("at most 4 distinct trigger.bytes"),
        "{err}"
    );
}

/// Regression (issue 3): a balance whose context word follows it, after a
/// long run of the rule's alphabet, was skipped by the context-word gate
/// because the gate checked only the first trigger's context region before
/// jumping over the run.
#[test]
fn context_gate_sees_words_after_a_long_run() {
    let input = b"4111 1111 1111 1111DE89 3704 0044 0532 0130 0012,345.67 \\u0034\0\0\0\0{balance \xe2\x82\xac";
    let out = gated(input);
    assert_eq!(out, reference(input));
    assert!(contains(&out, b"0130 [BALANCE] \\u0034"));
}

/// Regression (issue 6 review, found by fuzzing random packs): fed one
/// byte at a time, a gated rule missed candidates whose context word
/// ("routing", after the value) lay wholly in the buffer but had not been
/// collected yet, because words are collected only up to where the longest
/// context word of any rule ("número de cuenta", 17 bytes) could be whole.
/// Before the fix, byte-by-byte gave `4837279***7*…`: six digits unmasked
/// that the whole-buffer scan masked.
#[test]
fn short_context_word_after_the_value_is_seen_before_longer_words_complete() {
    let src = r#"[pack]
name = "t"
[[rule]]
id = "long"
category = "c1"
pattern = '''\b[0-9]{2,3}\b'''
trigger = { digits = true }
context = { words = ["número de cuenta"], after = 8 }
action = { type = "mask", keep_last = 1 }
[[rule]]
id = "short"
category = "c2"
pattern = '''\B[0-9]{1,5}'''
trigger = { digits = true }
context = { words = ["routing"], before = 26, after = 23 }
action = { type = "mask", keep_last = 1 }
"#;
    let spec = scrim::pack::parse("t.toml", src).unwrap();
    let m =
        std::sync::Arc::new(Matcher::compile(&[spec], &scrim::CompileOptions::default()).unwrap());
    let input = b"483727999775IBANs, routing  balances";
    let whole = redact_all(&m, Format::Text, input).unwrap().0;
    let mut r = Redactor::new(m.clone(), Format::Text);
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    for b in input.iter() {
        r.feed(std::slice::from_ref(b), &mut out, &mut ev).unwrap();
    }
    r.finish(&mut out, &mut ev).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&whole)
    );
    let mut naive = Vec::new();
    scrim::reference::Naive::new(&m)
        .unwrap()
        .redact(&m, input, &mut naive);
    assert_eq!(naive, whole);
    assert_eq!(&whole[..], b"4****7****7*IBANs, routing  balances");
}

/// A context or deny word cut by the edge of its window is judged with the
/// byte beyond the edge. Before the fix the edge counted as a word boundary:
/// "order" at the start of the SSN rule's 24-byte deny window, inside
/// "Border", suppressed the SSN (a leak), and "ssn" at the start of the
/// 40-byte context window, inside "Xssn", confirmed a bare nine-digit
/// number (a false positive). Gated, reference and every split agree.
#[test]
fn words_cut_by_the_window_edge_are_not_whole_words() {
    let cases: [(&[u8], &[u8]); 16] = [
        // Deny word "order" exactly 24 bytes before the SSN.
        (
            b"Border                   219-45-6789 end",
            b"Border                   ***-**-**** end",
        ),
        // The whole word "order" there still denies.
        (
            b" order                   219-45-6789 end",
            b" order                   219-45-6789 end",
        ),
        // At the very start of the text the edge is a real boundary.
        (
            b"order                   219-45-6789 end",
            b"order                   219-45-6789 end",
        ),
        // Context word "ssn" exactly 40 bytes before a bare number.
        (
            b"Xssn                                     123456789 end",
            b"Xssn                                     123456789 end",
        ),
        (
            b" ssn                                     123456789 end",
            b" ssn                                     ********* end",
        ),
        // "balance" ending exactly where the 20-byte after window ends,
        // inside "balanced": the amount stays; the whole word confirms it.
        (
            b"paid $45.10             balanced",
            b"paid $45.10             balanced",
        ),
        (
            b"paid $45.10             balance",
            b"paid [BALANCE]             balance",
        ),
        // The value side of a window is a boundary: a word may touch the
        // value (found in review of the first version of this fix, which
        // left all four unmasked).
        (b"Account #12345678 ok", b"Account #****5678 ok"),
        (b"SS#219456789 ok", b"SS#********* ok"),
        (b"Geb.21.07.1984 ok", b"Geb.[DOB] ok"),
        (b"balanceUSD 45.10 ok", b"balance[BALANCE] ok"),
        // Neither neighbour of a word may be a letter or digit, even when
        // the word ends in punctuation: "ss#" does not count before "x".
        (b"ss#x 123456789 ok", b"ss#x 123456789 ok"),
        // Second review: letting "account #" touch digits confirmed account
        // numbers beside SSNs, and the account mask (keep_last 4) showed
        // SSN digits where the two overlapped. Outputs as at 0d3360b.
        (
            b"Account #55012, SSN 219-45-6789 2 kids",
            b"Account #55012, SSN ***-**-**** 2 kids",
        ),
        (
            b"Account #55012 SSN 219456789 2 kids",
            b"Account #55012 SSN ********* 2 kids",
        ),
        (
            b"Account #7, SSN 219-45-6789 12",
            b"Account #7, SSN ***-**-**** 12",
        ),
        (
            b"Account #12345678 ok\nSS#219456789 12 ok",
            b"Account #****5678 ok\nSS#********* 12 ok",
        ),
    ];
    for (input, want) in cases {
        assert_everywhere(input, want);
    }
}

/// The word gate drops context-word occurrences that cannot be whole words
/// (`tel` in `tell`, `ssn` in `assn`), which made the phone rule replay
/// its match chain at every digit run near "Could you tell me" (issue 6:
/// 17 % of the text scanner's instructions). It keeps every occurrence a
/// context window can count: beside a value on either side, a camelCase
/// step, a percent escape of punctuation. Gated, reference and every split
/// agree on each.
#[test]
fn the_word_gate_keeps_every_occurrence_that_can_be_whole() {
    let cases: [(&[u8], &[u8]); 14] = [
        (
            b"Could you tell me 0171 2345678 ok",
            b"Could you tell me 0171 2345678 ok",
        ),
        (b"my tel 0171 2345678 ok", b"my tel **** *****78 ok"),
        (b"hotel 0171 2345678 ok", b"hotel 0171 2345678 ok"),
        (b"Hotel: tel 0171 2345678", b"Hotel: tel **** *****78"),
        (
            b"phoneNumber 0171 2345678 ok",
            b"phoneNumber **** *****78 ok",
        ),
        (b"ok 0171 2345678tell", b"ok 0171 2345678tell"),
        (b"my ssn is 219456789", b"my ssn is *********"),
        (b"assn 219456789", b"assn 219456789"),
        (b"customerSSN 219456789", b"customerSSN *********"),
        (b"my%20ssn%20219456789", b"my%20ssn%20*********"),
        (b"kontonr.12345678", b"kontonr.****5678"),
        (b"Geb.21.07.1984 ok", b"Geb.[DOB] ok"),
        (b"reborn 1984-07-21 ok", b"reborn 1984-07-21 ok"),
        (b"balanceUSD 45.10 ok", b"balance[BALANCE] ok"),
    ];
    for (input, want) in cases {
        assert_everywhere(input, want);
    }
}

/// A label nearer the value than a deny word wins; a deny word nearer
/// than the label still denies (red-team pass, 2026-12-03: before, any
/// deny word in the window kept the value readable, so `re your order: my
/// SSN is …` leaked the SSN).
#[test]
fn a_nearer_label_overrides_a_deny_word() {
    let cases: [(&[u8], &[u8]); 9] = [
        (
            b"re your order: my SSN is 219-45-6789.",
            b"re your order: my SSN is ***-**-****.",
        ),
        (b"tel ssn 219-45-6789", b"tel ssn ***-**-****"),
        (b"SSN, order 219-45-6789", b"SSN, order 219-45-6789"),
        (
            b"ticket 88: call me at 415-555-0198",
            b"ticket 88: call me at ***-***-**98",
        ),
        (b"call re order 415-555-0198", b"call re order 415-555-0198"),
        (
            b"refund the order to account number 12345678",
            b"refund the order to account number ****5678",
        ),
        (
            b"acct ok, order 123456789012",
            b"acct ok, order 123456789012",
        ),
        // Words count only whole: "ssnorder" neither denies nor labels, and
        // "telephone" holds "phone" and "tel" but is neither, so the
        // SSN-shaped value is masked.
        (b"ssnorder 219-45-6789", b"ssnorder ***-**-****"),
        (b"telephone 219-45-6789", b"telephone ***-**-****"),
    ];
    for (input, want) in cases {
        assert_everywhere(input, want);
    }
}

/// Two rules confirming the same span: the action that leaves least
/// readable wins, whatever the rule order. Here `bank.account` (keep_last
/// 4, "acct") and `id.ssn` (keep_last 0) both take "219-45-6789"; before,
/// the banking pack's earlier load order showed the SSN's last four
/// digits.
#[test]
fn equal_spans_take_the_action_that_reveals_least() {
    assert_everywhere(b"acct 219-45-6789 ok", b"acct ***-**-**** ok");
}

/// A candidate that overlaps another keeps nothing readable (second
/// review of this session): `bank.account` (keep_last 4, "acct") took
/// "219-45-6789 99" and showed "89" of the SSN inside it; and with a
/// longer account number before an SSN the kept digits were the SSN's
/// first three.
#[test]
fn overlapping_candidates_reveal_nothing() {
    let cases: [(&[u8], &[u8]); 4] = [
        // The same number seen by two rules that keep the same digits.
        (b"call +1 415 555 0132 now", b"call +* *** *** **32 now"),
        (b"acct 219-45-6789 99 ok", b"acct ***-**-**** ** ok"),
        (
            b"acct 1234 5678 9012 34 219-45-6789 ok",
            b"acct **** **** **** ** ***-**-**** ok",
        ),
        // Alone, an account number keeps its last four digits.
        (b"acct 1234 5678 9012 ok", b"acct **** **** 9012 ok"),
    ];
    for (input, want) in cases {
        assert_everywhere(input, want);
        let every: Vec<usize> = (0..=input.len()).collect();
        assert_eq!(
            String::from_utf8_lossy(&chunked(Format::Text, input, &every)),
            String::from_utf8_lossy(want),
            "{:?} byte by byte",
            String::from_utf8_lossy(input)
        );
    }
}

/// A keep_last candidate overlapping a label candidate, with no context
/// rule (the scanner keeps one byte of history): "keep" starts ten bytes
/// inside "long" and ends after it. Every chunk size gives the one-shot
/// output, which equals the reference. (Written for 0cf0787; it passes
/// without that fix too, so it does not reproduce the compaction case.)
#[test]
fn held_candidate_survives_compaction() {
    let src = r#"[pack]
name = "t"
[[rule]]
id = "long"
category = "c1"
pattern = '''\bX[0-9]{20}\b'''
trigger = { digits = true, back = 1 }
action = { type = "label", label = "[L]" }
[[rule]]
id = "keep"
category = "c2"
pattern = '''[0-9]{10} [0-9]{3}'''
trigger = { digits = true }
action = { type = "mask", keep_last = 2 }
"#;
    let spec = scrim::pack::parse("t.toml", src).unwrap();
    let m =
        std::sync::Arc::new(Matcher::compile(&[spec], &scrim::CompileOptions::default()).unwrap());
    let input = b"id X12345678901234567890 123 end";
    let whole = redact_all(&m, Format::Text, input).unwrap().0;
    let mut naive = Vec::new();
    scrim::reference::Naive::new(&m)
        .unwrap()
        .redact(&m, input, &mut naive);
    assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&naive)
    );
    // "keep" overlaps "long", so it shows nothing of its own.
    assert_eq!(String::from_utf8_lossy(&whole), "id [L] *** end");
    for step in 1..=input.len() {
        let mut r = Redactor::new(m.clone(), Format::Text);
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        for piece in input.chunks(step) {
            r.feed(piece, &mut out, &mut ev).unwrap();
        }
        r.finish(&mut out, &mut ev).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&whole),
            "pieces of {step}"
        );
    }
}

/// The trigger contract is checked when packs compile: a pattern that can
/// match without a trigger byte, or with more than `back` bytes before its
/// first one, would silently miss values, so it is refused with the fix.
#[test]
fn trigger_contract_violations_are_refused() {
    let compile = |pattern: &str, trigger: &str| {
        let src = format!(
            "[pack]\nname = \"t\"\n[[rule]]\nid = \"r\"\ncategory = \"c\"\npattern = '''{pattern}'''\ntrigger = {trigger}\naction = {{ type = \"label\", label = \"[X]\" }}\n"
        );
        let spec = scrim::pack::parse("t.toml", &src).unwrap();
        Matcher::compile(&[spec], &scrim::CompileOptions::default())
            .err()
            .map(|e| e.to_string())
    };
    // Letters only can match: no digit to trigger on.
    let e = compile(r"\b[A-Z]{2}[0-9]{0,6}\b", "{ digits = true, back = 2 }").unwrap();
    assert!(
        e.contains("can match 2 bytes that contain no trigger"),
        "{e}"
    );
    // `LM-4829…`: three bytes before the first digit.
    let e = compile(r"\b[A-Z]{2}-?[0-9]{6,10}\b", "{ digits = true, back = 2 }").unwrap();
    assert!(
        e.contains("a match can have 3 bytes before its first trigger, but trigger.back = 2"),
        "{e}"
    );
    assert_eq!(
        compile(r"\b[A-Z]{2}-?[0-9]{6,10}\b", "{ digits = true, back = 3 }"),
        None
    );
    // An email needs its `@` within `back` bytes of the start.
    let e = compile(
        r"[a-z0-9.]{1,64}@[a-z]{1,20}\.[a-z]{2,6}",
        "{ bytes = \"@\", back = 32 }",
    )
    .unwrap();
    assert!(e.contains("64 bytes before its first trigger"), "{e}");
    assert_eq!(
        compile(
            r"[a-z0-9.]{1,64}@[a-z]{1,20}\.[a-z]{2,6}",
            "{ bytes = \"@\", back = 64 }"
        ),
        None
    );
    // Optional separators and alternations are followed on every path.
    let e = compile(r"(?:acct|a/c)?[ ]?[0-9]{6}", "{ digits = true, back = 4 }").unwrap();
    assert!(e.contains("5 bytes before its first trigger"), "{e}");
    // Words with `back`: every match needs a word's first byte, at most
    // `back` bytes in (`contact.email_pct` reaches back from `%40`).
    let e = compile(
        r"[a-z]{1,10}%40[a-z]{2,5}\.com",
        "{ words = [\"%40\"], back = 5 }",
    )
    .unwrap();
    assert!(
        e.contains("a match can have 10 bytes before its first trigger word, but trigger.back = 5"),
        "{e}"
    );
    assert_eq!(
        compile(
            r"[a-z]{1,10}%40[a-z]{2,5}\.com",
            "{ words = [\"%40\"], back = 10 }"
        ),
        None
    );
    let e = compile(
        r"[a-z]{1,10}(?:%40|@)[a-z]{2,5}\.com",
        "{ words = [\"%40\"], back = 10 }",
    )
    .unwrap();
    assert!(e.contains("contain no trigger word"), "{e}");
    let e = compile(r"[a-z]{1,10}%40", "{ words = [\"%40\"], digits = true }").unwrap();
    assert!(
        e.contains("trigger.words cannot be combined with digits or bytes"),
        "{e}"
    );
}

/// An IBAN candidate that runs on into the next word does not hide a
/// following IBAN: the search resumes after the IBAN found, or inside a
/// candidate that held none (red-team pass, 2026-12-03: the second IBAN
/// of each of these stayed readable).
#[test]
fn an_iban_after_another_candidate_is_found() {
    let cases: [(&[u8], &[u8]); 5] = [
        (
            b"from NL91 ABNA 0417 1643 00 to DE89 3704 0044 0532 0130 00 ok",
            b"from **** **** **** **43 00 to **** **** **** **** **30 00 ok",
        ),
        // The first fails mod-97 (a typo) and stays as it was.
        (
            b"old NL91 ABNA 0417 1643 01 new DE89 3704 0044 0532 0130 00",
            b"old NL91 ABNA 0417 1643 01 new **** **** **** **** **30 00",
        ),
        (
            b"Room AB12 at HQ DE89 3704 0044 0532 0130 00",
            b"Room AB12 at HQ **** **** **** **** **30 00",
        ),
        (
            b"NL91ABNA0417164300 DE89370400440532013000",
            b"**************4300 ******************3000",
        ),
        // Candidates restarting inside a failed one still need a valid
        // IBAN: none of these words is one.
        (
            b"ref AB12 CD34 EF56 GH78 IJ90 KL12 MN34 done",
            b"ref AB12 CD34 EF56 GH78 IJ90 KL12 MN34 done",
        ),
    ];
    for (input, want) in cases {
        assert_everywhere(input, want);
    }
}
