//! `emulate`: the provider's partner API on a local port, for demos and tests (see
//! `provider::emulator`), with the key pair, the client id and the flows from the command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use kyc_monitor::provider::{
    ApiGeneration, DeliverySigning, Emulator, EmulatorConfig, FlowConfig, PayloadForm, PrivateKey,
    PublicKey, SignatureHeaderNames,
};
use kyc_monitor::signature::{Ed25519PrivateKey, Signer};

use crate::{parse_addr, UsageError};

#[derive(Args)]
pub struct EmulateArgs {
    /// Where the emulated API listens; port 0 takes any free port.
    #[arg(long, default_value = "127.0.0.1:8790", value_name = "ADDR:PORT", value_parser = parse_addr)]
    listen: SocketAddr,
    /// The client id assertions must carry.
    #[arg(long, default_value = "emulator-client", value_name = "ID")]
    client_id: String,
    /// The partner's public key (PEM). Without it, a key pair is made and the private half
    /// written to --write-private-key.
    #[arg(long, value_name = "PEM_PATH")]
    public_key: Option<PathBuf>,
    /// Where a made private key is written [default: a file in the temporary folder]
    #[arg(long, value_name = "PEM_PATH", conflicts_with = "public_key")]
    write_private_key: Option<PathBuf>,
    /// Delivers to this URL straight away, without waiting for a registration.
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
    /// Signs deliveries to --webhook-url with this secret: whsec_... (v1 entries, HMAC), or a
    /// whsk_... Ed25519 private key (as --signing-key).
    #[arg(long, value_name = "SECRET", requires = "webhook_url")]
    signing_secret: Option<String>,
    /// Signs every delivery, the validation request included, with this Ed25519 private key
    /// (whsk_..., v1a entries), as a provider with asymmetric signing; also after a registration
    /// with a whsec_ secret (then both entries are sent). Prints the public key as
    /// `signing-public-key: whpk_...`, for serve --signing-secret.
    #[arg(long, value_name = "KEY", conflicts_with = "new_signing_key")]
    signing_key: Option<String>,
    /// Like --signing-key, with a key pair made now.
    #[arg(long)]
    new_signing_key: bool,
    /// The header names signatures travel in: webhook-id/-timestamp/-signature (Standard
    /// Webhooks) or svix-id/-timestamp/-signature (as senders built on the Svix libraries).
    #[arg(long, value_enum, default_value = "webhook", value_name = "NAMES")]
    signature_headers: SignatureHeaderNames,
    /// Simulated users.
    #[arg(long, default_value_t = 20)]
    users: u32,
    /// Divides every simulated delay (1: a watchable demo; 100: a quick test).
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive)]
    speed: f64,
    /// Share of users rejected.
    #[arg(long, default_value_t = 0.2, value_parser = parse_rate)]
    reject_rate: f64,
    /// Share of users left ON_HOLD for review, never decided.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    hold_rate: f64,
    /// Share of users who stop at NOT_STARTED or OPEN and never finish; the users not
    /// rejected, held or abandoned are approved.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    abandon_rate: f64,
    /// Share of the users who finish that are put ON_HOLD for documents on the way.
    #[arg(long, default_value_t = 0.3, value_parser = parse_rate)]
    review_rate: f64,
    /// Seeds the simulation: the same seed gives the same ids, outcomes and delays.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// The payload form deliveries use (the documented API; the beta API sends envelopes).
    #[arg(long, value_enum, default_value = "flat")]
    form: PayloadForm,
    /// Which provider API to behave as: `documented` (every status change delivered) or `beta`
    /// (only final outcomes, as signed envelopes with the newer fields; the states between
    /// answered by /v1/kyc/status; each user's id printed as `started: ID` when it starts).
    #[arg(long, value_enum, default_value = "documented", value_name = "API")]
    api: ApiGeneration,
    /// Share of deliveries sent twice (same id).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    duplicates: f64,
    /// Share of steps delivered after the step that follows them.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    reorder: f64,
    /// Share of steps never delivered (reconcile finds them).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    drop: f64,
    /// Attempts per delivery before giving up.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// The first retry's wait in milliseconds (doubling, with jitter, up to 30 s).
    #[arg(long, default_value_t = 500)]
    retry_base_ms: u64,
    /// How long an attempt (and the validation request) waits for an answer, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Requests per second allowed per client address (the provider allows about 20).
    #[arg(long, default_value_t = 20)]
    rate_limit: u32,
    /// Exits once every flow is delivered (exit 1 if some delivery was given up).
    #[arg(long)]
    exit_when_done: bool,
}

/// The flows, once their outcome shares (rejected, held, abandoned) add up to at most 1.
pub fn outcome_shares_checked(flows: FlowConfig, flags: &str) -> Result<FlowConfig, UsageError> {
    let taken = flows.reject_rate + flows.hold_rate + flows.abandon_rate;
    if taken > 1.0 + 1e-9 {
        return Err(UsageError(format!(
            "{flags} add up to {taken}: they are shares of all users, so at most 1 together (the rest are approved)"
        )));
    }
    Ok(flows)
}

pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a share between 0 and 1, such as 0.25"
        )),
    }
}

pub fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed > 0.0 && speed.is_finite() => Ok(speed),
        _ => Err(format!(
            "{text:?} is not a positive number, such as 1 or 50"
        )),
    }
}

pub fn emulate(args: EmulateArgs) -> anyhow::Result<()> {
    let (signing_secret, mut signing_key) = match args.signing_secret.as_deref() {
        None => (None, None),
        Some(text) => match text
            .parse::<Signer>()
            .map_err(|e| UsageError(format!("--signing-secret: {e}")))?
        {
            Signer::Shared(secret) => (Some(secret), None),
            Signer::Ed25519(key) => (None, Some(key)),
        },
    };
    let other_key = match (args.signing_key.as_deref(), args.new_signing_key) {
        (Some(text), _) => Some(
            text.parse::<Ed25519PrivateKey>()
                .map_err(|e| UsageError(format!("--signing-key: {e}")))?,
        ),
        (None, true) => Some(Ed25519PrivateKey::generate()),
        (None, false) => None,
    };
    if other_key.is_some() {
        if signing_key.is_some() {
            return Err(UsageError(
                "--signing-secret already gives a whsk_ key: leave out --signing-key and --new-signing-key".into(),
            )
            .into());
        }
        signing_key = other_key;
    }
    let (public_key, written_key) = match &args.public_key {
        Some(path) => (PublicKey::from_file(path)?, None),
        None => {
            let key = PrivateKey::generate();
            (key.public_key(), Some(key))
        }
    };
    let flows = FlowConfig {
        users: args.users,
        speed: args.speed,
        reject_rate: args.reject_rate,
        hold_rate: args.hold_rate,
        abandon_rate: args.abandon_rate,
        review_rate: args.review_rate,
        seed: args.seed,
        form: args.form,
        api: args.api,
        duplicate_rate: args.duplicates,
        reorder_rate: args.reorder,
        drop_rate: args.drop,
        max_attempts: args.max_attempts.max(1),
        retry_base: Duration::from_millis(args.retry_base_ms),
        delivery_timeout: Duration::from_millis(args.timeout_ms),
        refused_ids: Vec::new(),
    };
    let flows = outcome_shares_checked(flows, "--reject-rate, --hold-rate and --abandon-rate")?;
    let config = EmulatorConfig {
        listen: args.listen,
        client_id: args.client_id.clone(),
        public_key,
        flows,
        validation_timeout: Duration::from_millis(args.timeout_ms),
        rate_limit: args.rate_limit.max(1),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let emulator = Emulator::start(config)
            .await
            .with_context(|| format!("cannot listen on {}; choose another with --listen", args.listen))?;
        let stop = kyc_monitor::serve::stop_signal().context("cannot listen for Ctrl-C and SIGTERM")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "api-base: {}", emulator.api_base())?;
        writeln!(out, "token-url: {}", emulator.token_url())?;
        writeln!(out, "client-id: {}", args.client_id)?;
        if let Some(key) = &signing_key {
            writeln!(out, "signing-public-key: {}", key.public_key().expose())?;
        }
        emulator.sign_with(DeliverySigning {
            headers: args.signature_headers,
            key: signing_key,
        });
        if let Some(key) = written_key {
            let path = args.write_private_key.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("kyc-monitor-emulator-{}.pem", emulator.addr().port()))
            });
            kyc_monitor::private_file::replace(&path, key.expose_pem().as_bytes())
                .with_context(|| format!("cannot write the private key to {}", path.display()))?;
            writeln!(out, "private-key: {}", path.display())?;
        }
        if let Some(url) = &args.webhook_url {
            emulator.deliver_to(url, signing_secret);
        }
        out.flush()?;
        drop(out);
        if let Some(mut started) = emulator.follow_started_users() {
            // The newer API names a user only once final: a partner's backend knows them from
            // the start, and a script plays that backend with these lines.
            tokio::spawn(async move {
                while let Some(user) = started.recv().await {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "started: {}", user.external_id).and_then(|()| out.flush());
                    drop(out);
                    user.known();
                }
            });
        }
        tracing::info!("emulator ready: register a webhook URL with it (kyc-monitor register ... --api-base ... --token-url ...)");
        tokio::pin!(stop);
        let finished = tokio::select! {
            summary = emulator.finished() => Some(summary),
            () = &mut stop => None,
        };
        if let Some(summary) = &finished {
            println!("summary: {summary}");
            if !args.exit_when_done {
                tokio::select! {
                    () = &mut stop => {},
                }
            }
        } else if emulator.target_url().is_some() {
            println!("summary: {}", emulator.summary());
        }
        let failed = emulator.summary().failed;
        emulator.stop().await;
        if args.exit_when_done && failed > 0 {
            return Err(anyhow::anyhow!("{failed} deliveries were given up after {} attempts", args.max_attempts));
        }
        Ok(())
    })
}
