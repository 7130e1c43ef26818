//! The `scrim` command line, run as a process: exact output on the shipped
//! example transcript, `check` on good and bad packs (every error with file,
//! line and rule id), and clear failures for bad arguments and files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn scrim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scrim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SCRIM_TOKEN_KEY")
        .output()
        .expect("run scrim")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scrim-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

const REDACTED_TRANSCRIPT: &str = "\
--- chat TCK-2026-000123 via web chat ---
[2026-03-14 09:12:33] Agent (Maria): Thanks for waiting, I can see your order #A-448812 shipped on 2026-03-12.
[2026-03-14 09:13:02] Customer: great. can you also update my card? it's **** **** **** 1111, expires [EXPIRY], CVV [CVV]
[2026-03-14 09:13:40] Agent (Maria): Done. Your available balance is [BALANCE] and the refund of $49.99 is on its way.
[2026-03-14 09:14:05] Customer: please send the receipt to [EMAIL] or call +* *** *** **32
[2026-03-14 09:14:31] Customer: for the wire my IBAN is **** **** **** **** **30 00, routing number *********
[2026-03-14 09:15:10] Agent (Maria): For verification: SSN ***-**-**** and DOB: [DOB] are on file. Ticket TCK-2026-000123 closed.
";

#[test]
fn redact_the_shipped_example_exactly() {
    let out = scrim(&["redact", "examples/transcript.txt"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), REDACTED_TRANSCRIPT);
}

#[test]
fn redact_summary_names_rules_not_values() {
    let out = scrim(&["redact", "--summary", "examples/transcript.txt"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("card.pan\t1"), "{err}");
    assert!(!err.contains("4111"), "summary leaked a value");
}

#[test]
fn check_passes_on_the_builtin_packs() {
    let out = scrim(&["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("scrim check: OK"));
    let out = scrim(&["check", "--patterns", "patterns"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = scrim(&[
        "check",
        "--config",
        "deploy/scrim.toml",
        "--patterns",
        "patterns",
    ]);
    // deploy/scrim.toml names a key file that does not exist here: that is
    // reported, not ignored.
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token key"));
}

#[test]
fn check_reports_every_error_with_file_line_and_rule() {
    let dir = temp_dir("bad");
    std::fs::write(
        dir.join("bad.toml"),
        "[pack]\nname = \"bad\"\n\n[[rule]]\nid = \"a\"\ncategory = \"x\"\npattern = '''[0-9]+'''\ntrigger = { digits = true }\naction = { type = \"label\", label = \"[A]\" }\n\n[[rule]]\nid = \"b\"\ncategory = \"x\"\npattern = '''[0-9]{3}'''\ntrigger = { digits = true }\naction = { type = \"token\" }\n[rule.examples]\nmatch = [\"123\"]\n",
    )
    .unwrap();
    let out = scrim(&["check", "--patterns", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:4: rule \"a\": pattern is unbounded"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:11: rule \"b\": type = \"token\" needs a token key"),
        "{err}"
    );
    std::fs::write(
        dir.join("bad.toml"),
        "[pack]\nname = \"bad\"\n\n[[field]]\nid = \"f1\"\ncategory = \"x\"\nkeys = [\"a\"]\nsuffixes = [\"card_cvv\", \"\"]\naction = { type = \"label\", label = \"[X]\" }\n\n[[field]]\nid = \"f2\"\ncategory = \"x\"\nkeys = [\"b\"]\nsuffixes = [\"cardCvv\"]\naction = { type = \"label\", label = \"[X]\" }\n",
    )
    .unwrap();
    let out = scrim(&["check", "--patterns", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:4: rule \"f1\": suffix \"\" is empty or too long"),
        "{err}"
    );
    assert!(
        err.contains(
            "bad.toml:11: rule \"f2\": suffix \"cardCvv\" is already claimed by another field rule"
        ),
        "{err}"
    );
    std::fs::write(
        dir.join("bad.toml"),
        "[pack]\nname = \"bad\"\n\n[[rule]]\nid = \"l\"\ncategory = \"x\"\npattern = '[0-9]{9}'\ntrigger = { digits = true }\ncontext = { words = [\"ssn\"], labels = [\"social\"] }\naction = { type = \"label\", label = \"[A]\" }\n",
    )
    .unwrap();
    let out = scrim(&["check", "--patterns", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:4: rule \"l\": context `labels` only override `deny` words"),
        "{err}"
    );
    std::fs::write(dir.join("bad.toml"), "[pack]\nname = 1\n").unwrap();
    let out = scrim(&["check", "--patterns", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:2:"));
}

#[test]
fn bad_arguments_and_files_fail_clearly() {
    let out = scrim(&["redact", "--nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nope"));
    let out = scrim(&["redact", "no/such/file.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open no/such/file.txt"));
    let out = scrim(&["redact", "--format", "xml", "examples/transcript.txt"]);
    assert_eq!(out.status.code(), Some(2));
    let out = scrim(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("upstream is required"));
    let out = scrim(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["redact", "check", "serve", "demo"] {
        assert!(help.contains(cmd), "help lists {cmd}");
    }
}
