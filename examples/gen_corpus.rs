//! Writes a generated transcript corpus to standard output (for profiling
//! and load tests): `cargo run --release --example gen_corpus -- text|json dense|typical|clean|adversarial BYTES [SEED]`.

use scrim::corpus::{json_tickets, transcript, Density};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: gen_corpus text|json dense|typical|clean|adversarial BYTES [SEED]";
    if args.len() < 4 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let density = match args[2].as_str() {
        "dense" => Density::Dense,
        "typical" => Density::Typical,
        "clean" => Density::Clean,
        "adversarial" => Density::Adversarial,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let Ok(len) = args[3].parse::<usize>() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let seed = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(42);
    let c = match args[1].as_str() {
        "json" => json_tickets(seed, len, density),
        _ => transcript(seed, len, density),
    };
    if std::io::stdout().write_all(&c.bytes).is_err() {
        std::process::exit(1);
    }
}
