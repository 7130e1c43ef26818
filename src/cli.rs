//! The `scrim` command line: arguments become plain data once, then each
//! command runs with it. `main.rs` only calls [`run`].

use crate::mask::TokenKey;
use crate::matcher::{CompileOptions, Matcher};
use crate::pack::{self, PackErrors};
use crate::redactor::{Format, Redactor};
use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// scrim: masks card numbers, IBANs, balances, SSNs and other personal data
/// in CRM responses as they stream to an outsourced agent console.
#[derive(Debug, Parser)]
#[command(name = "scrim", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by commands that load rule packs.
#[derive(Debug, clap::Args, Clone, Default)]
pub struct PackArgs {
    /// Load rule packs (*.toml) from this directory instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub patterns: Option<PathBuf>,
    /// File holding the key for `token` actions (at least 16 bytes). The
    /// SCRIM_TOKEN_KEY environment variable is used when this is not given.
    #[arg(long, value_name = "FILE")]
    pub token_key_file: Option<PathBuf>,
}

/// scrim's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Redact files (or standard input) to standard output, offline, with the
    /// same engine and packs as the proxy.
    Redact {
        /// Body format.
        #[arg(long, default_value = "text", value_parser = ["text", "json", "ndjson", "jsonl", "sse"])]
        format: String,
        /// Pack options.
        #[command(flatten)]
        packs: PackArgs,
        /// Print a summary of what was redacted (rule ids and counts, never
        /// values) to standard error.
        #[arg(long)]
        summary: bool,
        /// Files to redact; standard input when none is given.
        files: Vec<PathBuf>,
    },
    /// Validate rule packs (and a config file): compile every rule, run
    /// every example, report every error with file, line and rule id; exit
    /// non-zero on any.
    Check {
        /// Pack options.
        #[command(flatten)]
        packs: PackArgs,
        /// Also validate this config file (and the packs it names).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Run the redacting reverse proxy.
    Serve(ServeArgs),
    /// A first run: start a sample CRM and scrim in front of it on
    /// loopback, print URLs to try, run until Ctrl-C.
    Demo,
    /// GET a URL and exit 0 on a 2xx answer (container health checks).
    Probe {
        /// URL to fetch, e.g. http://127.0.0.1:9090/healthz.
        url: String,
    },
}

/// `scrim serve` flags; they override the config file.
#[derive(Debug, clap::Args, Clone, Default)]
pub struct ServeArgs {
    /// Proxy listen address, e.g. 0.0.0.0:8443.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Upstream (CRM) base URL, http:// or https://.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Admin listen address for /metrics, /healthz, /readyz.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// Config file (TOML); see deploy/scrim.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Observe mode on every route: count and audit, change nothing.
    #[arg(long)]
    pub observe: bool,
    /// Log format on standard error (overrides [log] format).
    #[arg(long, value_parser = ["json", "human"])]
    pub log_format: Option<String>,
    /// Pack options.
    #[command(flatten)]
    pub packs: PackArgs,
}

impl ServeArgs {
    /// The overrides these flags make.
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            admin: self.admin.clone(),
            patterns: self.packs.patterns.clone(),
            token_key_file: self.packs.token_key_file.clone(),
            observe: self.observe,
        }
    }
}

/// Reads the token key from a file or the environment (through `env`, so
/// tests never touch the process environment).
pub fn token_key(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<TokenKey>, String> {
    let bytes = match file {
        Some(p) => {
            let mut b = std::fs::read(p)
                .map_err(|e| format!("cannot read token key file {}: {e}", p.display()))?;
            while b.last().is_some_and(|c| c.is_ascii_whitespace()) {
                b.pop();
            }
            b
        }
        None => match env("SCRIM_TOKEN_KEY") {
            Some(v) => v.trim().as_bytes().to_vec(),
            None => return Ok(None),
        },
    };
    TokenKey::new(bytes).map(Some)
}

/// Loads and compiles packs as `args` say.
pub fn load_matcher(
    args: &PackArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Matcher, String> {
    load_matcher_with(args, env, false)
}

/// Like [`load_matcher`]; `fingerprint` turns on audit fingerprints.
pub fn load_matcher_with(
    args: &PackArgs,
    env: impl Fn(&str) -> Option<String>,
    fingerprint: bool,
) -> Result<Matcher, String> {
    let key = token_key(args.token_key_file.as_deref(), env)?;
    let specs = match &args.patterns {
        Some(dir) => pack::load_dir(dir),
        None => pack::builtin(),
    }
    .map_err(|e| e.to_string())?;
    if fingerprint && key.is_none() {
        return Err(
            "audit fingerprints need a token key (SCRIM_TOKEN_KEY or token_key_file)".into(),
        );
    }
    Matcher::compile(
        &specs,
        &CompileOptions {
            token_key: key,
            fingerprint,
        },
    )
    .map_err(|e: PackErrors| e.to_string())
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Redact {
            format,
            packs,
            summary,
            files,
        } => {
            let Some(format) = Format::parse(&format) else {
                eprintln!("scrim redact: unknown format {format:?}");
                return 2;
            };
            let m = match load_matcher(&packs, env_lookup) {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    eprintln!("scrim redact: rule packs are invalid:\n{e}");
                    return 2;
                }
            };
            match redact_files(&m, format, &files, summary) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("scrim redact: {e}");
                    1
                }
            }
        }
        Command::Check { packs, config } => {
            if let Some(path) = config {
                let ov = crate::config::Overrides {
                    patterns: packs.patterns.clone(),
                    token_key_file: packs.token_key_file.clone(),
                    ..Default::default()
                };
                match crate::config::Config::load(Some(&path), &ov) {
                    Ok(c) => {
                        println!("config {}: OK ({} routes)", path.display(), c.routes.len());
                        let packs = PackArgs {
                            patterns: c.packs_dir.clone(),
                            token_key_file: c.token_key_file.clone(),
                        };
                        check(&packs)
                    }
                    Err(errs) => {
                        for e in errs {
                            eprintln!("{e}");
                        }
                        eprintln!("scrim check: FAILED");
                        1
                    }
                }
            } else {
                check(&packs)
            }
        }
        Command::Serve(args) => serve(args),
        Command::Demo => crate::demo::run(),
        Command::Probe { url } => probe(&url),
    }
}

/// Sets up structured logs (JSON or human) on standard error. Logs carry
/// request ids and rule ids, never values.
pub fn init_logging(json: bool, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("scrim={level},warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn serve(args: ServeArgs) -> i32 {
    let ov = args.overrides();
    let config = match crate::config::Config::load(args.config.as_deref(), &ov) {
        Ok(c) => c,
        Err(errs) => {
            for e in errs {
                eprintln!("{e}");
            }
            eprintln!("scrim serve: invalid configuration");
            return 2;
        }
    };
    let json_logs = match args.log_format.as_deref() {
        Some(f) => f == "json",
        None => config.log_json,
    };
    init_logging(json_logs, &config.log_level);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scrim serve: {e}");
            return 1;
        }
    };
    match rt.block_on(crate::service::run_until_signal(
        config,
        args.config.clone(),
        ov,
    )) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("scrim serve: {e}");
            2
        }
    }
}

fn probe(url: &str) -> i32 {
    let Ok(uri) = url.parse::<http::Uri>() else {
        eprintln!("scrim probe: bad URL {url:?}");
        return 2;
    };
    let Ok(rt) = runtime() else { return 1 };
    rt.block_on(async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        match tokio::time::timeout(std::time::Duration::from_secs(5), client.get(uri)).await {
            Ok(Ok(r)) if r.status().is_success() => 0,
            Ok(Ok(r)) => {
                eprintln!("scrim probe: {}", r.status());
                1
            }
            _ => {
                eprintln!("scrim probe: no answer");
                1
            }
        }
    })
}

fn check(packs: &PackArgs) -> i32 {
    let m = match load_matcher(packs, env_lookup) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("scrim check: FAILED");
            return 1;
        }
    };
    let errs = crate::selftest::run(&m);
    for e in &errs {
        eprintln!("{e}");
    }
    let examples: usize = m
        .examples()
        .iter()
        .map(|e| e.must_match.len() + e.no_match.len() + e.redact.len())
        .sum();
    if errs.is_empty() {
        for (name, n) in m.packs() {
            println!("pack {name}: {n} rules");
        }
        println!(
            "scrim check: OK ({} rules, {examples} examples, digest {})",
            m.rule_count(),
            m.digest()
        );
        0
    } else {
        eprintln!("scrim check: FAILED ({} errors)", errs.len());
        1
    }
}

fn redact_files(
    m: &Arc<Matcher>,
    format: Format,
    files: &[PathBuf],
    summary: bool,
) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut run_one = |name: &str, reader: &mut dyn Read| -> Result<(), String> {
        let mut r = Redactor::new(m.clone(), format);
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::with_capacity(80 * 1024);
        let mut events = Vec::new();
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    r.abort();
                    return Err(format!("{name}: read error: {e}"));
                }
            };
            r.feed(&buf[..n], &mut out, &mut events)
                .map_err(|e| format!("{name}: {e}"))?;
            w.write_all(&out).map_err(|e| format!("write error: {e}"))?;
            out.clear();
            for e in events.drain(..) {
                *counts.entry(m.rule_id(e.rule).to_string()).or_default() += 1;
            }
        }
        r.finish(&mut out, &mut events)
            .map_err(|e| format!("{name}: {e}"))?;
        w.write_all(&out).map_err(|e| format!("write error: {e}"))?;
        for e in events.drain(..) {
            *counts.entry(m.rule_id(e.rule).to_string()).or_default() += 1;
        }
        if r.malformed() {
            eprintln!(
                "scrim redact: {name}: not valid {}; the rest was scanned as text",
                format.name()
            );
        }
        Ok(())
    };
    if files.is_empty() {
        run_one("<stdin>", &mut std::io::stdin().lock())?;
    } else {
        for f in files {
            let mut file =
                std::fs::File::open(f).map_err(|e| format!("cannot open {}: {e}", f.display()))?;
            run_one(&f.display().to_string(), &mut file)?;
        }
    }
    w.flush().map_err(|e| format!("write error: {e}"))?;
    if summary {
        for (rule, n) in &counts {
            eprintln!("{rule}\t{n}");
        }
    }
    Ok(())
}
