//! Engine throughput: gated streaming scanner vs. the naive per-rule
//! baseline, on generated transcripts of several densities.
//!
//! `cargo bench --bench engine` prints bytes per second for each case.
//! Sizes are 4 MiB per corpus, so the working set is realistic but the run
//! stays short on a 2-core machine.

use divan::counter::BytesCount;
use divan::Bencher;
use scrim::corpus::{json_tickets, transcript, Density};
use scrim::reference::Naive;
use scrim::{Format, Matcher, Redactor};
use std::sync::{Arc, OnceLock};

const SIZE: usize = 4 << 20;
const CHUNK: usize = 16 * 1024;

fn main() {
    divan::main();
}

fn matcher() -> &'static Arc<Matcher> {
    static M: OnceLock<Arc<Matcher>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Matcher::builtin().expect("builtin packs")))
}

fn corpus(kind: &str) -> &'static [u8] {
    static C: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    let all = C.get_or_init(|| {
        let mut v = Vec::new();
        for (name, d) in [
            ("dense", Density::Dense),
            ("typical", Density::Typical),
            ("clean", Density::Clean),
            ("adversarial", Density::Adversarial),
        ] {
            v.push((format!("text-{name}"), transcript(42, SIZE, d).bytes));
            v.push((format!("json-{name}"), json_tickets(42, SIZE, d).bytes));
        }
        v
    });
    all.iter()
        .find(|(n, _)| n == kind)
        .map(|(_, b)| b.as_slice())
        .expect("known corpus")
}

fn run(
    format: Format,
    input: &[u8],
    chunk: usize,
    out: &mut Vec<u8>,
    ev: &mut Vec<scrim::Redaction>,
) {
    let mut r = Redactor::new(matcher().clone(), format);
    out.clear();
    ev.clear();
    for c in input.chunks(chunk) {
        r.feed(c, out, ev).expect("scan");
    }
    r.finish(out, ev).expect("finish");
}

const TEXT: &[&str] = &[
    "text-dense",
    "text-typical",
    "text-clean",
    "text-adversarial",
];
const JSON: &[&str] = &["json-dense", "json-typical", "json-clean"];

/// Plain text, whole buffer in one feed.
#[divan::bench(args = TEXT)]
fn text_whole(b: Bencher, kind: &str) {
    let input = corpus(kind);
    let (mut out, mut ev) = (Vec::with_capacity(input.len() + 4096), Vec::new());
    b.counter(BytesCount::new(input.len()))
        .bench_local(|| run(Format::Text, input, usize::MAX, &mut out, &mut ev));
}

/// Plain text, 16 KiB chunks (what the proxy sees).
#[divan::bench(args = TEXT)]
fn text_stream_16k(b: Bencher, kind: &str) {
    let input = corpus(kind);
    let (mut out, mut ev) = (Vec::with_capacity(input.len() + 4096), Vec::new());
    b.counter(BytesCount::new(input.len()))
        .bench_local(|| run(Format::Text, input, CHUNK, &mut out, &mut ev));
}

/// The baseline: each rule's regex over the whole input, one after another.
#[divan::bench(args = TEXT)]
fn text_naive(b: Bencher, kind: &str) {
    let input = corpus(kind);
    let naive = Naive::new(matcher()).expect("naive");
    let mut out = Vec::with_capacity(input.len() + 4096);
    b.counter(BytesCount::new(input.len())).bench_local(|| {
        out.clear();
        naive.redact(matcher(), input, &mut out)
    });
}

/// JSON tickets, whole buffer.
#[divan::bench(args = JSON)]
fn json_whole(b: Bencher, kind: &str) {
    let input = corpus(kind);
    let (mut out, mut ev) = (Vec::with_capacity(input.len() + 4096), Vec::new());
    b.counter(BytesCount::new(input.len()))
        .bench_local(|| run(Format::Json, input, usize::MAX, &mut out, &mut ev));
}

/// JSON tickets, 16 KiB chunks.
#[divan::bench(args = JSON)]
fn json_stream_16k(b: Bencher, kind: &str) {
    let input = corpus(kind);
    let (mut out, mut ev) = (Vec::with_capacity(input.len() + 4096), Vec::new());
    b.counter(BytesCount::new(input.len()))
        .bench_local(|| run(Format::Json, input, CHUNK, &mut out, &mut ev));
}

/// One 4 KiB JSON record per response, as the proxy's `r4k` case sees it:
/// a new redactor each time, so what setting one up costs shows against
/// `json_whole`.
#[divan::bench]
fn json_4k_records(b: Bencher) {
    let record = json_tickets(42, 4 << 10, Density::Typical).bytes;
    let (mut out, mut ev) = (Vec::with_capacity(8 << 10), Vec::new());
    b.counter(BytesCount::new(record.len()))
        .bench_local(|| run(Format::Json, &record, CHUNK, &mut out, &mut ev));
}

/// Setting up a redactor alone (no input).
#[divan::bench]
fn redactor_setup(b: Bencher) {
    b.bench_local(|| Redactor::new(matcher().clone(), Format::Json));
}
