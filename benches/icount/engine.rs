//! Instruction counts for the redaction engine: redacts one generated
//! corpus `reps` times, so that callgrind's totals for two rep counts give
//! the steady-state instructions per byte (setup and lazy-DFA warm-up
//! cancel out). Machines here are shared and noisy; instruction counts are
//! not. Run by `benches/icount/run.sh`, which prints the figures.
//!
//! Usage: `engine_icount {text|json} {dense|typical|clean|adversarial} REPS`

use scrim::corpus::{json_tickets, transcript, Density};
use scrim::{Format, Matcher, Redactor};
use std::process::ExitCode;
use std::sync::Arc;

/// Size of the corpus redacted per rep.
const SIZE: usize = 1 << 20;
/// Chunk size fed to the redactor, as a proxy would see body frames.
const CHUNK: usize = 16 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kind), Some(density), Some(reps)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: engine_icount {{text|json}} {{dense|typical|clean|adversarial}} REPS");
        return ExitCode::from(2);
    };
    let density = match density.as_str() {
        "dense" => Density::Dense,
        "typical" => Density::Typical,
        "clean" => Density::Clean,
        "adversarial" => Density::Adversarial,
        other => {
            eprintln!("unknown density {other:?}");
            return ExitCode::from(2);
        }
    };
    let Ok(reps) = reps.parse::<usize>() else {
        eprintln!("REPS must be a number, got {reps:?}");
        return ExitCode::from(2);
    };
    let (format, input) = match kind.as_str() {
        "text" => (Format::Text, transcript(42, SIZE, density).bytes),
        "json" => (Format::Json, json_tickets(42, SIZE, density).bytes),
        other => {
            eprintln!("unknown kind {other:?}");
            return ExitCode::from(2);
        }
    };
    let m = match Matcher::builtin() {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("built-in packs: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = Vec::with_capacity(input.len() * 2);
    let mut events = Vec::new();
    let mut written = 0usize;
    for _ in 0..reps {
        let mut r = Redactor::new(m.clone(), format);
        out.clear();
        events.clear();
        for c in input.chunks(CHUNK) {
            if let Err(e) = r.feed(c, &mut out, &mut events) {
                eprintln!("scan failed: {e}");
                return ExitCode::FAILURE;
            }
        }
        if let Err(e) = r.finish(&mut out, &mut events) {
            eprintln!("scan failed: {e}");
            return ExitCode::FAILURE;
        }
        written += out.len();
    }
    // Printed so the work cannot be optimised away; sizes only.
    println!("{} bytes in, {written} bytes out", input.len() * reps);
    ExitCode::SUCCESS
}
