//! What the .deb ships for running on a server (`packaging/`): the systemd unit passes
//! `systemd-analyze verify`, the example configuration is one `serve` accepts, and the Tauri
//! bundle configuration really puts both in the package.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn packaged(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(name)
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(packaged("kyc-monitor.service")).unwrap();
    for wanted in [
        "User=kyc-monitor",
        "StateDirectory=kyc-monitor",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "ExecStart=/usr/bin/kyc-monitor serve --config /etc/kyc-monitor/kyc-monitor.toml",
    ] {
        assert!(
            unit.lines().any(|line| line == wanted),
            "the unit lacks {wanted}"
        );
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed here (apt-get install systemd), so the unit was not verified");
        return;
    }
    // verify checks that ExecStart's program exists: the binary this test was built with
    // stands in for /usr/bin/kyc-monitor.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kyc-monitor.service");
    std::fs::write(&copy, unit.replace("/usr/bin/kyc-monitor", BIN)).unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    // An unknown or misspelt key is only a warning (exit 0): any word about the unit fails.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(!said.contains("kyc-monitor.service"), "{said}");
}

#[test]
fn the_example_configuration_is_accepted_by_config() {
    let example = packaged("kyc-monitor.toml");
    let output = Command::new(BIN)
        .arg("config")
        .arg("--config")
        .arg(&example)
        .env_remove("KYC_MONITOR_DB")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = stdout(&output);
    for line in [
        "db = \"/var/lib/kyc-monitor/kyc-monitor.db\"",
        "metrics-listen = \"127.0.0.1:9187\"",
        "log-format = \"json\"",
    ] {
        let shown = printed
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{line} not in:\n{printed}"));
        assert!(shown.contains("# file "), "{shown}");
    }
}

#[test]
fn the_deb_ships_the_unit_the_example_and_the_user() {
    let conf: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tauri.conf.json"))
            .unwrap(),
    )
    .unwrap();
    let deb = &conf["bundle"]["linux"]["deb"];
    for (installed, source) in [
        (
            "/usr/lib/systemd/system/kyc-monitor.service",
            "packaging/kyc-monitor.service",
        ),
        (
            "/usr/share/kyc-monitor/kyc-monitor.toml",
            "packaging/kyc-monitor.toml",
        ),
    ] {
        assert_eq!(deb["files"][installed], source);
    }
    let postinst = std::fs::read_to_string(packaged("postinst")).unwrap();
    assert_eq!(deb["postInstallScript"], "packaging/postinst");
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(
        postinst.contains("/usr/share/kyc-monitor/kyc-monitor.toml"),
        "{postinst}"
    );
}
