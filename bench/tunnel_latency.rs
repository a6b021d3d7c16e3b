//! The latency a local bore tunnel adds to each delivery: the same deliveries posted to the
//! webhook listener directly and through a bore server on loopback, one at a time, both over
//! kept-alive connections and over a new connection per delivery.
//!
//!   cargo run --release --example tunnel_latency [DELIVERIES]

use std::time::{Duration, Instant};

use kyc_monitor::serve::{ServeConfig, Server};
use kyc_monitor::tunnel::{TunnelOptions, TunnelSecret, TunnelSpec, TunnelState};

const SECRET: &str = "latency-bench";

fn main() -> anyhow::Result<()> {
    let deliveries: usize = std::env::args().nth(1).map_or(Ok(2000), |n| n.parse())?;
    let dir = tempfile::tempdir()?;

    // The bore server on its own runtime, as a separate machine would be.
    let bore = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut server = bore_cli::server::Server::new(20_000..=40_000, Some(SECRET));
    server.set_bind_addr("127.0.0.1".parse()?);
    server.set_bind_tunnels("127.0.0.1".parse()?);
    bore.spawn(server.listen());

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let config = ServeConfig {
            db: dir.path().join("bench.db"),
            listen: "127.0.0.1:0".parse()?,
            ui_listen: None,
            ui_port_fallback: false,
            webhook_token: true,
            max_body: 64 * 1024,
            signing_secrets: Vec::new(),
            rotation_grace: kyc_monitor::secret_file::DEFAULT_GRACE,
            demo: Default::default(),
            tunnel: TunnelSpec::Bore {
                host: "127.0.0.1".into(),
                port: 7835,
            },
            tunnel_options: TunnelOptions {
                bore_secret: Some(TunnelSecret::new(SECRET)),
                ..TunnelOptions::default()
            },
            outbound: Default::default(),
            team: None,
            metrics_listen: None,
            polling: Default::default(),
            review_sla: kyc_monitor::monitor::DEFAULT_REVIEW_SLA,
            ui_deadline: kyc_monitor::serve::UI_REQUEST_DEADLINE,
        };
        let server = Server::bind(config).await?;
        let direct = server.webhook_url().to_owned();
        let mut state = server.tunnel_state();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async move { drop(stopped.await) }));
        let public = loop {
            if let TunnelState::Up { public_url } = &*state.borrow_and_update() {
                break public_url.clone();
            }
            state.changed().await?;
        };

        println!("{deliveries} deliveries each, one at a time, synchronous=FULL");
        println!(
            "{:<34} {:>9} {:>9} {:>9}",
            "", "p50 ms", "p99 ms", "mean ms"
        );
        let mut medians = Vec::new();
        for (reuse, label) in [
            (true, "kept-alive connection"),
            (false, "new connection each"),
        ] {
            for (url, path) in [(&direct, "direct"), (&public, "through bore")] {
                let figures = measure(url, deliveries, reuse).await?;
                println!(
                    "{:<34} {:>9.3} {:>9.3} {:>9.3}",
                    format!("{path}, {label}"),
                    figures.0,
                    figures.1,
                    figures.2
                );
                medians.push(figures.0);
            }
        }
        println!(
            "added by the tunnel (p50): {:.3} ms kept-alive, {:.3} ms with a new connection each",
            medians[1] - medians[0],
            medians[3] - medians[2]
        );
        let _ = stop.send(());
        running.await??;
        anyhow::Ok(())
    })?;
    bore.shutdown_background();
    Ok(())
}

/// p50, p99 and mean latency in milliseconds of `n` sequential deliveries to `url`.
async fn measure(url: &str, n: usize, reuse: bool) -> anyhow::Result<(f64, f64, f64)> {
    let mut builder = reqwest::Client::builder();
    if !reuse {
        builder = builder.pool_max_idle_per_host(0);
    }
    let client = builder.build()?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 100 {
        let body = format!(
            r#"{{"externalId":"bench-{i}","decision":"","status":"OPEN","subStatus":"","participantId":"","account":""}}"#
        );
        let start = Instant::now();
        let response = client.post(url).body(body).send().await?;
        anyhow::ensure!(response.status() == 200, "answered {}", response.status());
        response.bytes().await?;
        if i >= 100 {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    Ok((times[times.len() / 2], times[times.len() * 99 / 100], mean))
}
