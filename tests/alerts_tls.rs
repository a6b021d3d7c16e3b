//! Alert emails over TLS: the real monitor talks to a real SMTP server (Python's aiosmtpd,
//! started here) that offers and requires STARTTLS with a certificate from a test authority
//! made here (Python's `cryptography`). The monitor trusts it through `SSL_CERT_FILE`, as it
//! would a firm's internal CA in the system store; it refuses a certificate from any other
//! authority, and a server off loopback without STARTTLS, before the password goes out;
//! `smtps://` uses the same roots. The server reports every line it received in clear, so the
//! tests see what went unencrypted.

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Value};
use support::tls::{certificates, Certificates, Reporter};
use support::*;

const SMTP_USER: &str = "alerts";
const SMTP_PASSWORD: &str = "smtp-password-NOT-SHOWN-tls";

/// How the sink protects its conversations.
enum Mode<'a> {
    /// No STARTTLS offered; AUTH taken in clear.
    Plain,
    /// STARTTLS offered and required; AUTH only over TLS.
    StartTls(&'a Certificates),
    /// TLS from the first byte (`smtps://`).
    Implicit(&'a Certificates),
}

/// aiosmtpd on `host`, reporting what it receives (see `tests/signers/smtp_tls_sink.py`).
struct TlsSink {
    port: u16,
    sink: Reporter,
}

impl TlsSink {
    fn start(host: IpAddr, mode: Mode) -> TlsSink {
        let port = std::net::TcpListener::bind((host, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut config = json!({
            "host": host.to_string(),
            "port": port,
            "user": SMTP_USER,
            "password": SMTP_PASSWORD,
        });
        if let Mode::StartTls(tls) | Mode::Implicit(tls) = mode {
            config["cert"] = json!(tls.server);
            config["key"] = json!(tls.key);
            config["implicit_tls"] = json!(matches!(mode, Mode::Implicit(_)));
        }
        let config = config.to_string();
        let (sink, first) = Reporter::start("smtp_tls_sink.py", &[config.as_ref()]);
        assert_eq!(first, "ready", "the SMTP sink did not start");
        TlsSink { port, sink }
    }

    fn all(&self, event: &str) -> Vec<Value> {
        self.sink.all(event)
    }

    /// The lines received before TLS.
    fn clear_lines(&self) -> Vec<String> {
        self.all("clear")
            .iter()
            .map(|e| e["line"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn wait_for(&self, event: &str, count: usize) -> Vec<Value> {
        let what = format!("{count} {event} event(s)");
        self.sink
            .wait_until(&what, |sink| sink.all(event).len() >= count)
            .await;
        self.all(event)
    }

    /// Waits until a conversation that sent something has ended: what it sent is reported.
    async fn wait_closed(&self) {
        self.wait_for("closed", 1).await;
    }

    /// Waits until a line starting with `verb` has come in clear.
    async fn wait_for_clear(&self, verb: &str) {
        eventually(&format!("{verb} in clear"), || async {
            let lines = self.clear_lines();
            if lines
                .iter()
                .any(|l| l.to_ascii_uppercase().starts_with(verb))
            {
                Ok(())
            } else {
                Err(format!("{lines:?}"))
            }
        })
        .await
    }

    /// Nothing received in clear is AUTH or holds the password, plain or base64 (as AUTH PLAIN
    /// and AUTH LOGIN carry it).
    fn assert_no_password_in_clear(&self) {
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let forms = [
            SMTP_PASSWORD.to_owned(),
            b64(SMTP_PASSWORD),
            b64(&format!("\0{SMTP_USER}\0{SMTP_PASSWORD}")),
        ];
        for line in self.clear_lines() {
            assert!(
                !line.to_ascii_uppercase().starts_with("AUTH"),
                "AUTH went in clear: {line}"
            );
            for form in &forms {
                assert!(!line.contains(form.as_str()), "the password went in clear");
            }
        }
    }
}

/// A monitor with the UI on, sending email through `smtp_url`, trusting `ssl_cert_file` (the
/// variable replaces the system's store, as for OpenSSL).
fn start_monitor(
    db: &Path,
    smtp_url: &str,
    ssl_cert_file: &Path,
    extra: &[&str],
) -> (Monitor, String, String) {
    let mut command = Command::new(BIN);
    command
        .env("KYC_MONITOR_SMTP_PASSWORD", SMTP_PASSWORD)
        .env("SSL_CERT_FILE", ssl_cert_file)
        .env_remove("SSL_CERT_DIR")
        .stderr(Stdio::piped());
    let mut args = vec![
        "--alert-to",
        "mailto:oncall@example.com",
        "--smtp-url",
        smtp_url,
        "--alert-from",
        "KYC Monitor <monitor@example.com>",
    ];
    args.extend_from_slice(extra);
    let mut monitor = Monitor::start_with(db, true, &args, &mut command);
    let (base, token) = monitor.ui();
    (monitor, base, token)
}

async fn test_alert(base: &str, token: &str) -> Value {
    let answer = send(
        client()
            .post(format!("{base}/api/alerts/test"))
            .bearer_auth(token)
            .json(&json!({"target": 0})),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

async fn alerts_view(base: &str, token: &str) -> Value {
    let answer = send(
        client()
            .get(format!("{base}/api/alerts"))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Stops the monitor; the password is in neither its log nor its database.
fn assert_no_secret_kept(monitor: Monitor) {
    let db = monitor.db.clone();
    let log = monitor.killed_log();
    assert!(!log.contains(SMTP_PASSWORD), "the log holds the password");
    assert!(!database_files_contain(&db, SMTP_PASSWORD.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_test_alert_and_a_rule_alert_go_over_starttls_to_a_server_the_ssl_cert_file_ca_signed() {
    let scratch = Scratch::new();
    let certs = certificates(scratch.dir.path(), &["127.0.0.1", "localhost"]);
    let sink = TlsSink::start([127, 0, 0, 1].into(), Mode::StartTls(&certs));
    let smtp_url = format!("smtp://{SMTP_USER}@127.0.0.1:{}", sink.port);
    let (monitor, base, token) = start_monitor(
        &scratch.db(),
        &smtp_url,
        &certs.ca,
        &["--alert-silence", "2s", "--alert-settle", "300ms"],
    );

    let answer = test_alert(&base, &token).await;
    assert_eq!(answer["delivered"], true, "{answer}");
    // The silence rule starts: a rule alert through the same server.
    let mails = sink.wait_for("mail", 2).await;
    let parts: Vec<_> = mails
        .iter()
        .map(|m| mail_parts(m["data"].as_str().unwrap()))
        .collect();
    let subject = |start: &str| {
        parts
            .iter()
            .position(|(headers, _)| headers["subject"].starts_with(start))
            .unwrap_or_else(|| panic!("no mail with a subject starting {start:?}: {parts:?}"))
    };
    let test = subject("[KYC Monitor] Test alert: a test alert, sent from Settings");
    let rule = subject("[KYC Monitor] Alert: No delivery for 2s");
    assert!(
        parts[test]
            .1
            .starts_with("KYC Monitor test alert: a test alert")
            && parts[test].1.contains(&format!("{base}/#/settings")),
        "{}",
        parts[test].1
    );
    assert!(
        parts[rule]
            .1
            .contains(&format!("Open: {base}/#/deliveries")),
        "{}",
        parts[rule].1
    );
    for (index, mail) in mails.iter().enumerate() {
        assert_eq!(mail["tls"], true, "sent over TLS: {mail}");
        assert_eq!(mail["auth_user"], SMTP_USER, "signed in: {mail}");
        assert_eq!(mail["rcpt_tos"], json!(["oncall@example.com"]));
        assert_eq!(mail["mail_from"], "monitor@example.com");
        let (headers, _) = &parts[index];
        assert_eq!(headers["to"], "oncall@example.com");
        assert!(
            headers["from"].contains("monitor@example.com"),
            "{headers:?}"
        );
    }
    // Each conversation upgraded (TLS 1.2 or 1.3) and signed in with the right password,
    // only under TLS.
    for handshake in sink.all("tls") {
        let version = handshake["version"].as_str().unwrap_or_default();
        assert!(version == "TLSv1.3" || version == "TLSv1.2", "{handshake}");
    }
    let auths = sink.all("auth");
    assert_eq!(auths.len(), 2, "{auths:?}");
    for auth in &auths {
        assert_eq!(auth["tls"], true, "{auth}");
        assert_eq!(auth["user"], SMTP_USER, "{auth}");
        assert_eq!(auth["password_matches"], true, "{auth}");
    }
    sink.assert_no_password_in_clear();
    let clear = sink.clear_lines();
    assert!(
        clear
            .iter()
            .all(|l| l.to_ascii_uppercase().starts_with("EHLO") || l == "STARTTLS"),
        "only EHLO and STARTTLS in clear: {clear:?}"
    );
    let view = alerts_view(&base, &token).await;
    assert_eq!(view["targets"][0]["kind"], "email", "{view}");
    assert!(!view.to_string().contains(SMTP_PASSWORD));
    assert_no_secret_kept(monitor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_whose_certificate_another_ca_signed_gets_no_password_and_the_failure_says_why() {
    let scratch = Scratch::new();
    let certs = certificates(scratch.dir.path(), &["127.0.0.1", "localhost"]);
    let sink = TlsSink::start([127, 0, 0, 1].into(), Mode::StartTls(&certs));
    let smtp_url = format!("smtp://{SMTP_USER}@127.0.0.1:{}", sink.port);
    // The monitor trusts only another authority (and Mozilla's roots).
    let (monitor, base, token) = start_monitor(&scratch.db(), &smtp_url, &certs.other_ca, &[]);

    let answer = test_alert(&base, &token).await;
    assert_eq!(answer["delivered"], false, "{answer}");
    let error = answer["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("its certificate is not trusted")
            && error.contains("not signed by an authority this machine trusts")
            && error.contains("SSL_CERT_FILE")
            && error.contains("nothing was sent"),
        "{error}"
    );
    let view = alerts_view(&base, &token).await;
    let target = &view["targets"][0];
    assert_eq!(target["failures"][0]["error"], error.as_str(), "{view}");
    assert_eq!(target["sent"], 0, "{view}");
    println!("the failure shown: {error}");

    // The client asked for TLS, refused the certificate and went no further.
    sink.wait_for_clear("STARTTLS").await;
    sink.wait_closed().await;
    assert!(
        sink.all("auth").is_empty(),
        "no AUTH: {:?}",
        sink.all("auth")
    );
    assert!(sink.all("mail").is_empty(), "nothing sent");
    sink.assert_no_password_in_clear();
    assert!(!view.to_string().contains(SMTP_PASSWORD));
    assert_no_secret_kept(monitor);

    // SSL_CERT_FILE naming a file that is not there: the failure says so too.
    let missing = scratch.dir.path().join("no-such-ca.pem");
    let scratch2 = Scratch::new();
    let (monitor, base, token) = start_monitor(&scratch2.db(), &smtp_url, &missing, &[]);
    let answer = test_alert(&base, &token).await;
    assert_eq!(answer["delivered"], false, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("its certificate is not trusted")
            && error.contains("some trusted roots could not be read")
            && error.contains(missing.to_str().unwrap()),
        "{error}"
    );
    println!("the failure shown: {error}");
    sink.wait_for("closed", 2).await;
    assert!(
        sink.all("auth").is_empty(),
        "no AUTH: {:?}",
        sink.all("auth")
    );
    assert!(sink.all("mail").is_empty(), "nothing sent");
    sink.assert_no_password_in_clear();
    assert_no_secret_kept(monitor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smtps_speaks_tls_from_the_first_byte_with_the_same_trusted_roots() {
    let scratch = Scratch::new();
    let certs = certificates(scratch.dir.path(), &["127.0.0.1"]);
    let sink = TlsSink::start([127, 0, 0, 1].into(), Mode::Implicit(&certs));
    let smtp_url = format!("smtps://{SMTP_USER}@127.0.0.1:{}", sink.port);
    let (monitor, base, token) = start_monitor(&scratch.db(), &smtp_url, &certs.ca, &[]);

    let answer = test_alert(&base, &token).await;
    assert_eq!(answer["delivered"], true, "{answer}");
    let mail = sink.wait_for("mail", 1).await;
    assert_eq!(mail[0]["tls"], true, "{}", mail[0]);
    assert_eq!(mail[0]["auth_user"], SMTP_USER, "{}", mail[0]);
    let auths = sink.all("auth");
    assert_eq!(auths.len(), 1, "{auths:?}");
    assert_eq!(auths[0]["tls"], true, "{}", auths[0]);
    assert_eq!(auths[0]["password_matches"], true, "{}", auths[0]);
    // Not one line in clear: EHLO came over TLS too.
    assert_eq!(sink.clear_lines(), Vec::<String>::new());
    assert_eq!(sink.all("tls").len(), 1, "one TLS connection");
    assert_no_secret_kept(monitor);
}

/// A non-loopback address of this machine, found without sending anything: the default
/// route's, else the first IPv4 address `hostname -I` lists.
fn non_loopback_address() -> Result<IpAddr, String> {
    let routed = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect("203.0.113.1:9")?;
            socket.local_addr()
        })
        .map(|address| address.ip());
    match routed {
        Ok(ip) if !ip.is_loopback() && !ip.is_unspecified() => return Ok(ip),
        _ => {}
    }
    let listed = Command::new("hostname")
        .arg("-I")
        .output()
        .map_err(|e| format!("no default route ({routed:?}), and `hostname -I` failed: {e}"))?;
    String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .filter_map(|word| word.parse::<IpAddr>().ok())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .ok_or_else(|| {
            format!("no default route ({routed:?}), and `hostname -I` lists no IPv4 address")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn off_loopback_a_server_without_starttls_gets_neither_the_password_nor_the_alert() {
    let ip = match non_loopback_address() {
        Ok(ip) => ip,
        Err(reason) => {
            println!(
                "SKIPPED off_loopback_a_server_without_starttls...: this machine has no \
                 non-loopback address to serve SMTP on: {reason}"
            );
            return;
        }
    };
    let scratch = Scratch::new();
    let certs = certificates(scratch.dir.path(), &["127.0.0.1"]);
    // No STARTTLS offered; this server would take AUTH in clear.
    let sink = TlsSink::start(ip, Mode::Plain);
    let smtp_url = format!("smtp://{SMTP_USER}@{ip}:{}", sink.port);
    let (monitor, base, token) = start_monitor(&scratch.db(), &smtp_url, &certs.ca, &[]);

    let answer = test_alert(&base, &token).await;
    assert_eq!(answer["delivered"], false, "{answer}");
    let error = answer["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains(&format!(
            "the mail server {ip}:{} does not offer STARTTLS",
            sink.port
        )) && error.contains("the password least of all"),
        "{error}"
    );
    let view = alerts_view(&base, &token).await;
    assert_eq!(
        view["targets"][0]["failures"][0]["error"],
        error.as_str(),
        "{view}"
    );
    println!("the failure shown: {error}");

    sink.wait_for_clear("EHLO").await;
    sink.wait_closed().await;
    assert!(
        sink.all("auth").is_empty(),
        "no AUTH: {:?}",
        sink.all("auth")
    );
    assert!(sink.all("mail").is_empty(), "nothing sent");
    sink.assert_no_password_in_clear();
    let clear = sink.clear_lines();
    assert!(
        !clear
            .iter()
            .any(|l| l.to_ascii_uppercase().starts_with("MAIL")),
        "no MAIL FROM: {clear:?}"
    );
    assert_no_secret_kept(monitor);
}
