//! `serve --config FILE` and `kyc-monitor config`: options from a TOML file by their long names,
//! behind the command line and the environment, each resolved value with where it came from
//! and secrets masked. The real binary.

mod support;

use std::process::{Command, Stdio};

use support::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn write_config(scratch: &Scratch, text: &str) -> std::path::PathBuf {
    let path = scratch.db().with_file_name("kyc-monitor.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `kyc-monitor config ...` with a clean environment but for `env`.
fn config(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.arg("config").args(args).stdin(Stdio::null());
    for name in [
        "KYC_MONITOR_SIGNING_SECRET",
        "KYC_MONITOR_FORWARD_SIGNING_SECRET",
        "KYC_MONITOR_DB",
        "KYC_MONITOR_CONFIG",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied()).output().unwrap()
}

/// The line `config` printed for `name`, split into its value and its source.
fn line<'a>(stdout: &'a str, name: &str) -> (&'a str, &'a str) {
    let line = stdout
        .lines()
        .map(|line| line.strip_prefix("# ").unwrap_or(line))
        .find(|line| line.starts_with(&format!("{name} =")))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"));
    let (setting, source) = line.split_once(" # ").unwrap();
    (setting.split_once(" = ").unwrap().1.trim(), source.trim())
}

#[test]
fn flags_win_over_the_environment_which_wins_over_the_file_which_wins_over_defaults() {
    let scratch = Scratch::new();
    let file = write_config(
        &scratch,
        r#"
listen = "127.0.0.1:9911"
ui-listen = "127.0.0.1:9912"
signing-secret = "whsec_c2VjcmV0LWluLXRoZS1maWxlLTEyMzQ1Njc4OTA="
forward-to = ["https://backend.example/kyc", "https://second.example/hook"]
keep-deliveries = 30
no-webhook-token = true
"#,
    );
    let file_arg = file.to_str().unwrap();
    let output = config(
        &["--config", file_arg, "--ui-listen", "off"],
        &[("KYC_MONITOR_SIGNING_SECRET", SECRET)],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_file = format!("file {file_arg}");
    assert_eq!(
        line(&stdout, "listen"),
        ("\"127.0.0.1:9911\"", from_file.as_str())
    );
    assert_eq!(line(&stdout, "ui-listen"), ("\"off\"", "flag"));
    assert_eq!(
        line(&stdout, "signing-secret"),
        ("(set, not shown)", "environment KYC_MONITOR_SIGNING_SECRET")
    );
    assert_eq!(
        line(&stdout, "forward-to"),
        (
            "[\"https://backend.example/kyc\", \"https://second.example/hook\"]",
            from_file.as_str()
        )
    );
    assert_eq!(line(&stdout, "keep-deliveries"), ("30", from_file.as_str()));
    assert_eq!(
        line(&stdout, "no-webhook-token"),
        ("true", from_file.as_str())
    );
    assert_eq!(line(&stdout, "max-body"), ("\"64KiB\"", "default"));
    // Neither secret is ever printed.
    assert!(
        !stdout.contains(SECRET) && !stdout.contains("c2VjcmV0"),
        "{stdout}"
    );
}

#[test]
fn serve_runs_with_the_file_s_options() {
    let scratch = Scratch::new();
    let file = write_config(
        &scratch,
        "listen = \"127.0.0.1:0\"\nui-listen = \"off\"\nno-webhook-token = true\n",
    );
    let mut child = Command::new(BIN)
        .args(["serve", "--config", file.to_str().unwrap(), "--db"])
        .arg(scratch.db())
        .env_remove("KYC_MONITOR_SIGNING_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let webhook = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // The file's no-webhook-token: the bare path; its ui-listen off: no ui: line.
    assert!(
        webhook.starts_with("webhook: http://127.0.0.1:"),
        "{webhook}"
    );
    assert!(webhook.ends_with("/kyc-webhook"), "{webhook}");
}

#[test]
fn a_bad_value_or_an_unknown_key_in_the_file_is_a_usage_error_naming_it() {
    let scratch = Scratch::new();
    for (text, says) in [
        (
            "listen = \"nowhere\"\n",
            "invalid value 'nowhere' for '--listen",
        ),
        (
            "lisen = \"127.0.0.1:1\"\n",
            "\"lisen\" is not an option of serve",
        ),
        (
            "keep-deliveries = [1, 2]\n",
            "keep-deliveries = [1, 2]: this option takes one value",
        ),
        (
            "demo = \"yes\"\n",
            "demo = \"yes\": this option is true or false",
        ),
        ("listen = \n", "is not TOML"),
        (
            "demo-reject-rate = 0.9\ndemo-hold-rate = 0.5\n",
            "add up to 1.5",
        ),
    ] {
        let file = write_config(&scratch, text);
        for command in ["config", "serve"] {
            let output = Command::new(BIN)
                .args([command, "--config", file.to_str().unwrap(), "--db"])
                .arg(scratch.db())
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command} {text:?}: {stderr}"
            );
            assert!(stderr.contains(says), "{command} {text:?}: {stderr}");
        }
    }
    // A file that is not a file is refused at once, with what it is.
    let output = config(&["--config", "/dev/zero"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("it is a device, not a regular file"));
}

/// `kyc-monitor config` with `args`, and its exit code and stderr.
fn config_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .arg("config")
        .args(args)
        .env_remove("KYC_MONITOR_OIDC_CLIENT_SECRET")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn combinations_that_cannot_work_are_usage_errors_that_say_what_to_add() {
    let (code, _, said) = config_with(&["--ui-listen", "0.0.0.0:8788"], &[]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("--auth oidc") && said.contains("--auth proxy"),
        "{said}"
    );
    let oidc = [
        "--auth",
        "oidc",
        "--ui-listen",
        "0.0.0.0:8788",
        "--public-ui-url",
        "https://kyc.example.com",
        "--role",
        "admin=kyc-admins",
    ];
    for (args, expected) in [
        (&oidc[..], "--oidc-issuer"),
        (
            &[
                "--auth",
                "proxy",
                "--public-ui-url",
                "https://k.example",
                "--role",
                "admin=a",
            ][..],
            "--trusted-proxy",
        ),
        (
            &[
                "--auth",
                "proxy",
                "--trusted-proxy",
                "10.0.0.0/8",
                "--role",
                "admin=a",
            ][..],
            "--public-ui-url",
        ),
        (
            &[
                "--auth",
                "proxy",
                "--trusted-proxy",
                "10.0.0.0/8",
                "--public-ui-url",
                "https://k.example",
            ][..],
            "--role",
        ),
        (
            &["--auth", "proxy", "--trusted-proxy", "10.0.0.0/99"][..],
            "address range",
        ),
        (&["--role", "root=admins"][..], "not a role"),
        (&["--session-idle", "forever"][..], "duration"),
    ] {
        let (code, _, said) = config_with(args, &[]);
        assert_eq!(code, 2, "{args:?}: {said}");
        assert!(
            said.contains(expected),
            "{args:?}: expected {expected:?} in {said}"
        );
    }
}

#[test]
fn the_oidc_client_secret_is_taken_from_the_environment_and_never_shown() {
    let secret = "oidc-client-secret-that-must-not-show";
    let (code, shown, said) = config_with(
        &[
            "--auth",
            "oidc",
            "--oidc-issuer",
            "https://idp.example.com",
            "--oidc-client-id",
            "kyc",
            "--public-ui-url",
            "https://kyc.example.com",
            "--ui-listen",
            "0.0.0.0:8788",
            "--role",
            "admin=kyc-admins",
            "--session-idle",
            "30m",
        ],
        &[("KYC_MONITOR_OIDC_CLIENT_SECRET", secret)],
    );
    assert_eq!(code, 0, "{said}");
    assert!(!shown.contains(secret) && !said.contains(secret));
    let line = shown
        .lines()
        .find(|line| line.starts_with("# oidc-client-secret ="))
        .expect("the secret's line");
    assert!(
        line.contains("(set, not shown)") && line.contains("KYC_MONITOR_OIDC_CLIENT_SECRET"),
        "{line}"
    );
    assert!(shown.contains("session-idle = \"30m\""), "{shown}");
    assert!(shown.contains("role = [\"admin=kyc-admins\"]"), "{shown}");
}

#[test]
fn rotation_grace_and_several_signing_secrets_come_from_the_file_the_secrets_masked() {
    let scratch = Scratch::new();
    let other = "whsec_b3RoZXItc2VjcmV0LWZvci10aGUtcm90YXRpb24=";
    let file = write_config(
        &scratch,
        &format!("rotation-grace = \"90m\"\nsigning-secret = [\"{SECRET}\", \"{other}\"]\n"),
    );
    let output = config(&["--config", file.to_str().unwrap()], &[]);
    let stdout = stdout(&output);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_file = format!("file {}", file.display());
    assert_eq!(
        line(&stdout, "rotation-grace"),
        ("\"90m\"", from_file.as_str())
    );
    assert_eq!(
        line(&stdout, "signing-secret"),
        ("(set, not shown)", from_file.as_str())
    );
    for secret in [SECRET, other] {
        assert!(!stdout.contains(&secret[6..]), "{stdout}");
    }
    let output = config(&["--rotation-grace", "soon"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("\"soon\" is not a duration such as 24h"),
        "{stderr}"
    );
    let output = config(&["--rotation-grace", "400d"], &[]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("at most a year"));
}

/// What `config` prints is itself a file `--config` takes, secrets set and all (shown as
/// comments, never their values); and `config --demo` names the database `serve --demo` uses.
#[test]
fn config_s_output_is_a_file_config_takes_and_names_the_demo_s_database() {
    let scratch = Scratch::new();
    let env = [
        ("KYC_MONITOR_SIGNING_SECRET", SECRET),
        ("HOME", scratch.dir.path().to_str().unwrap()),
        ("XDG_DATA_HOME", scratch.dir.path().to_str().unwrap()),
    ];
    let output = config(
        &[
            "--demo",
            "--keep-deliveries",
            "30",
            "--forward-to",
            "https://fwd:FWDPASS@backend.example/kyc?k=KEYVALUE",
        ],
        &env,
    );
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in [SECRET, "FWDPASS", "KEYVALUE"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    // A masked destination is not the one given: commented out, not fed back.
    assert!(
        printed.contains("# forward-to = [\"https://***@backend.example/kyc?k=***\"]"),
        "{printed}"
    );
    let db = printed.lines().find(|l| l.starts_with("db = ")).unwrap();
    assert!(db.contains("kyc-monitor-demo.db"), "{db}");
    let file = write_config(&scratch, &printed);
    let again = config(&["--config", file.to_str().unwrap()], &env);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let shown = String::from_utf8_lossy(&again.stdout).into_owned();
    assert_eq!(line(&shown, "keep-deliveries").0, "30");
    assert_eq!(line(&shown, "demo").0, "true");
    assert_eq!(
        line(&shown, "signing-secret"),
        ("(set, not shown)", "environment KYC_MONITOR_SIGNING_SECRET")
    );
}
