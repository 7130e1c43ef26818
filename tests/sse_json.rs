//! SSE events whose data is JSON (live chat): field rules mask by key, the
//! `data:` framing is kept, and output and redaction offsets do not depend
//! on where the stream was split (session 12 leak review: such events used
//! to get text rules only, so `"accountNumber":"12345678"` passed).

use scrim::{redact_all, Format, Matcher, Redactor};
use std::sync::{Arc, OnceLock};

fn matcher() -> &'static Arc<Matcher> {
    static M: OnceLock<Arc<Matcher>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Matcher::builtin().expect("builtin packs compile")))
}

/// Output and (rule id, start, end) of each redaction, feeding `input` in
/// pieces cut at `cuts`.
fn sse(input: &[u8], cuts: &[usize]) -> (String, Vec<(String, u64, u64)>) {
    let m = matcher();
    let mut r = Redactor::new(m.clone(), Format::Sse);
    let (mut out, mut ev, mut prev) = (Vec::new(), Vec::new(), 0);
    for &c in cuts {
        r.feed(&input[prev..c], &mut out, &mut ev).expect("feed");
        prev = c;
    }
    r.feed(&input[prev..], &mut out, &mut ev).expect("feed");
    r.finish(&mut out, &mut ev).expect("finish");
    let ev = ev
        .iter()
        .map(|e| (m.rule_id(e.rule).to_string(), e.start, e.end))
        .collect();
    (String::from_utf8(out).expect("utf-8"), ev)
}

/// `input` gives exactly `want` whole, cut at every byte, and bytewise,
/// with the same redactions each time. Returns the redactions.
fn assert_sse(input: &str, want: &str) -> Vec<(String, u64, u64)> {
    let b = input.as_bytes();
    let (out, ev) = sse(b, &[]);
    assert_eq!(out, want, "whole");
    for c in 0..=b.len() {
        assert_eq!(sse(b, &[c]), (out.clone(), ev.clone()), "cut at {c}");
    }
    let every: Vec<usize> = (1..b.len()).collect();
    assert_eq!(sse(b, &every), (out, ev.clone()), "bytewise");
    ev
}

/// The input bytes a redaction's offsets span. A JSON scanner reports a
/// string's token (with its quotes), a number with the byte that ended it,
/// and a text-rule match inside a string as the string's opening quote;
/// SSE events report the same, in stream offsets.
fn covered<'a>(input: &'a str, e: &(String, u64, u64)) -> &'a str {
    &input[e.1 as usize..e.2 as usize]
}

/// (rule id, bytes spanned) of each redaction.
fn covered_all<'a>(input: &'a str, ev: &'a [(String, u64, u64)]) -> Vec<(&'a str, &'a str)> {
    ev.iter()
        .map(|e| (e.0.as_str(), covered(input, e)))
        .collect()
}

/// The redactions of `doc` as one JSON document, moved by `by` bytes.
fn json_events(doc: &str, by: u64) -> Vec<(String, u64, u64)> {
    let m = matcher();
    let (_, ev) = redact_all(m, Format::Json, doc.as_bytes()).expect("scan");
    ev.iter()
        .map(|e| (m.rule_id(e.rule).to_string(), e.start + by, e.end + by))
        .collect()
}

#[test]
fn field_rules_apply_to_json_event_data() {
    let input = "event: account\nid: 7\ndata: {\"accountNumber\":\"12345678\",\"routingNumber\":\"021000021\",\"balance\":1523.77,\"note\":\"ok\"}\n\n";
    let want = "event: account\nid: 7\ndata: {\"accountNumber\":\"****5678\",\"routingNumber\":\"*********\",\"balance\":\"[BALANCE]\",\"note\":\"ok\"}\n\n";
    let ev = assert_sse(input, want);
    let got = covered_all(input, &ev);
    assert_eq!(
        got,
        [
            ("field.account", "\"12345678\""),
            ("field.routing", "\"021000021\""),
            ("field.balance", "1523.77,"),
        ]
    );
    // The same as the JSON scanner's, moved by the framing before it.
    let prefix = "event: account\nid: 7\ndata: ";
    let doc = input[prefix.len()..].trim_end();
    assert_eq!(ev, json_events(doc, prefix.len() as u64));
}

/// A document over several `data:` lines (with and without the space):
/// the client joins them with line breaks, which JSON reads as whitespace.
#[test]
fn json_over_several_data_lines_keeps_its_framing() {
    let input = "data: {\"ssn\":\r\ndata:\"219-45-6789\",\r\ndata: \"text\":\"card 4111 1111 1111 1111\"}\r\n\r\n";
    let want = "data: {\"ssn\":\r\ndata:\"[SSN]\",\r\ndata: \"text\":\"card **** **** **** 1111\"}\r\n\r\n";
    let ev = assert_sse(input, want);
    let got = covered_all(input, &ev);
    assert_eq!(got, [("field.ssn", "\"219-45-6789\""), ("card.pan", "\"")]);
    assert_eq!(ev[1].1 as usize, input.find("\"card").expect("fixture"));
}

/// JSON events, text events and events with no data in one stream; each
/// event is decided by its own first `data:` line.
#[test]
fn json_and_text_events_mix() {
    let input = concat!(
        ": keep-alive\n\n",
        "data: {\"iban\":\"DE89 3704 0044 0532 0130 00\"}\n\n",
        "data: card 4111111111111111, {\"accountNumber\":\"12345678\"}\n\n",
        "data: [1, {\"account_number\": 12345678}]\ndata: {\"n\":2}\n\n",
        "retry: 1000\n\n",
    );
    let want = concat!(
        ": keep-alive\n\n",
        "data: {\"iban\":\"**** **** **** **** **30 00\"}\n\n",
        // A text event: text rules only (the key's spelling of "account
        // number" is a context word).
        "data: card ************1111, {\"accountNumber\":\"****5678\"}\n\n",
        "data: [1, {\"account_number\": \"****5678\"}]\ndata: {\"n\":2}\n\n",
        "retry: 1000\n\n",
    );
    let ev = assert_sse(input, want);
    let got = covered_all(input, &ev);
    assert_eq!(
        got,
        [
            ("field.iban", "\"DE89 3704 0044 0532 0130 00\""),
            ("card.pan", "4111111111111111"),
            ("bank.account", "12345678"),
            ("field.account", "12345678}"),
        ]
    );
}

/// After the JSON data, another field line is not JSON: the rest of the
/// event is scanned as text, from the first byte of that line.
#[test]
fn other_fields_after_json_data_are_scanned_as_text() {
    let input =
        "data: {\"a\":1}\nid: 4111111111111111\n\ndata: {\"b\":2}\ndat: ssn 219-45-6789\n\n";
    let want = "data: {\"a\":1}\nid: ************1111\n\ndata: {\"b\":2}\ndat: ssn ***-**-****\n\n";
    let ev = assert_sse(input, want);
    let got = covered_all(input, &ev);
    assert_eq!(
        got,
        [("card.pan", "4111111111111111"), ("id.ssn", "219-45-6789")]
    );
}

/// A comment or another field between the data lines of a JSON event is
/// not part of the data a client joins: it is scanned as text on its own
/// and the JSON goes on after it, field rules included (session 13 leak
/// review: the rest of the event used to be text, so the account number
/// after a keep-alive comment passed).
#[test]
fn comment_between_json_data_lines_keeps_the_json() {
    let input = concat!(
        "data: {\"accountNumber\":\n",
        ": keep-alive 4111 1111 1111 1111\n",
        "data: \"12345678\",\r\n",
        "id: 7\r\n",
        "data: \"balance\": 12.5}\n\n",
    );
    let want = concat!(
        "data: {\"accountNumber\":\n",
        ": keep-alive **** **** **** 1111\n",
        "data: \"****5678\",\r\n",
        "id: 7\r\n",
        "data: \"balance\": \"[BALANCE]\"}\n\n",
    );
    let ev = assert_sse(input, want);
    assert_eq!(
        covered_all(input, &ev),
        [
            ("card.pan", "4111 1111 1111 1111"),
            ("field.account", "\"12345678\""),
            ("field.balance", "12.5}"),
        ]
    );
}

/// A side line right after a number: the line break made the number whole,
/// so it is released before the line, and the JSON goes on after it
/// (session 13 leak review: the held number made the rest of the event
/// text, so the balance after a keep-alive passed).
#[test]
fn side_line_after_a_number_keeps_the_json() {
    let input = concat!(
        "data: {\"a\":1\n",
        ": keep-alive\n",
        "data: ,\"balance\":5}\n\n",
        "data: {\"balance\":12\r\n",
        "id: 4\r\n",
        "retry: 100\r\n",
        "data: ,\"accountNumber\":\"12345678\"}\r\n\r\n",
    );
    let want = concat!(
        "data: {\"a\":1\n",
        ": keep-alive\n",
        "data: ,\"balance\":\"[BALANCE]\"}\n\n",
        "data: {\"balance\":\"[BALANCE]\"\r\n",
        "id: 4\r\n",
        "retry: 100\r\n",
        "data: ,\"accountNumber\":\"****5678\"}\r\n\r\n",
    );
    let ev = assert_sse(input, want);
    assert_eq!(
        covered_all(input, &ev),
        [
            ("field.balance", "5}"),
            ("field.balance", "12\r"),
            ("field.account", "\"12345678\""),
        ]
    );
}

/// A side line that starts like `data:` (`dat: …`, `d`), after a comma or
/// a number: the held `data:` bytes start the line, which is scanned as
/// text with them, and the JSON goes on after it (session 13 leak review).
#[test]
fn side_line_starting_like_data_keeps_the_json() {
    let input = concat!(
        "data: {\"a\":\"x\",\n",
        "dat: ssn 219-45-6789\n",
        "data: \"accountNumber\":\"12345678\",\n",
        "d\n",
        "data: \"b\":7\n",
        "datum: 4111111111111111\n",
        "data: ,\"balance\":5}\n\n",
    );
    let want = concat!(
        "data: {\"a\":\"x\",\n",
        "dat: ssn ***-**-****\n",
        "data: \"accountNumber\":\"****5678\",\n",
        "d\n",
        "data: \"b\":7\n",
        "datum: ************1111\n",
        "data: ,\"balance\":\"[BALANCE]\"}\n\n",
    );
    let ev = assert_sse(input, want);
    assert_eq!(
        covered_all(input, &ev),
        [
            ("id.ssn", "219-45-6789"),
            ("field.account", "\"12345678\""),
            ("card.pan", "4111111111111111"),
            ("field.balance", "5}"),
        ]
    );
}

/// The stream ends inside a side line: it is scanned and released.
#[test]
fn stream_ending_in_a_side_line() {
    let input = "data: [1,\n: 4111111111111111";
    let want = "data: [1,\n: ************1111";
    assert_sse(input, want);
}

/// Data that starts like JSON but is not: the event falls back to text and
/// nothing passes unscanned.
#[test]
fn broken_json_event_data_is_scanned_as_text() {
    let input = "data: {not json, card 4111 1111 1111 1111}\n\ndata: {\"ssn\": 219-45-6789 x}\n\n";
    let want = "data: {not json, card **** **** **** 1111}\n\ndata: {\"ssn\": [SSN]}\n\n";
    let (out, _) = sse(input.as_bytes(), &[]);
    assert_eq!(out, want);
    assert_sse(input, want);
}

/// More than one space, or a tab, after `data:`: the client strips one
/// space and a JSON reader skips the rest, so the data is still JSON.
#[test]
fn json_after_several_spaces_or_a_tab() {
    let input = "data:  {\"accountNumber\":\"12345678\"}\n\ndata:\t[{\"ssn\":\"219456789\"}]\n\n";
    let want = "data:  {\"accountNumber\":\"****5678\"}\n\ndata:\t[{\"ssn\":\"[SSN]\"}]\n\n";
    let ev = assert_sse(input, want);
    let ids: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids, ["field.account", "field.ssn"]);
}
