//! Validates `deploy/` (alert rules, manifests against the Kubernetes
//! schemas, dashboard JSON, example config) by running `deploy/validate.sh`.
//!
//! The validators are Debian/PyPI tools that `.ci/run` installs. Where they
//! are missing outside CI the test says so and returns; under CI (`CI` set)
//! a missing tool fails the test.

use std::process::Command;

#[test]
fn deploy_files_validate() {
    let have = |tool: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let tools = ["promtool", "yamllint", "kubernetes-validate"];
    if std::env::var_os("CI").is_none() && !tools.iter().all(|t| have(t)) {
        eprintln!("deploy_files_validate: skipped, install promtool, yamllint and kubernetes-validate (see .ci/run)");
        return;
    }
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/validate.sh"))
        .env("SCRIM_BIN", env!("CARGO_BIN_EXE_scrim"))
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "deploy/validate.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
