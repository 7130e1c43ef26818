//! scrim: a PII-redacting streaming reverse proxy for CRM transcripts.
//!
//! The crate is split the way the data flows:
//!
//! - Engine (pure: no tokio, hyper, rustls or prometheus):
//!   - [`pack`]: the rule-pack TOML format and the built-in packs.
//!   - [`matcher`]: compiling packs into one immutable, shared [`matcher::Matcher`].
//!   - [`validate`]: Luhn, IBAN mod-97, ABA, SSN and card-issuer checks.
//!   - [`mask`]: masking actions (mask, label, keyed token).
//!   - [`scan`]: the streaming text scanner and its gate (the hot path).
//!   - [`json`]: the streaming JSON/NDJSON scanner.
//!   - [`redactor`]: the per-stream entry point for every format.
//!   - [`selftest`]: running every rule's examples.
//!   - [`reference`]: the naive ungated scanner (test oracle, bench baseline).
//! - [`corpus`]: seeded transcript generator for benchmarks and tests.
//! - Proxy and operations (tokio, hyper, rustls, prometheus):
//!   - [`config`]: the config file and flags, validated.
//!   - [`proxy`]: the streaming redacting reverse proxy (HTTP/1.1, HTTP/2,
//!     TLS, WebSocket, compression).
//!   - [`metrics`]: Prometheus metrics; [`audit`]: the audit log.
//!   - [`service`]: start, reload (SIGHUP, file watch), admin listener, drain.
//!   - [`demo`]: the sample CRM behind `scrim demo`.
//! - [`cli`]: the `scrim` command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod demo;
pub mod json;
pub mod mask;
pub mod matcher;
pub mod metrics;
pub mod pack;
pub mod proxy;
pub mod redactor;
pub mod reference;
pub mod scan;
pub mod selftest;
pub mod service;
pub mod validate;

pub use matcher::{CompileOptions, Matcher, RuleRef};
pub use redactor::{redact_all, Format, Redactor};
pub use scan::{Redaction, ScanError};
