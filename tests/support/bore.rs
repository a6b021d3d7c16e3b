//! A real bore server on loopback for the tunnel tests. bore's control port is fixed (7835):
//! one server at a time, which a test binary's tests take turns for.

use std::net::TcpStream;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// A guard against a hang, not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(30);

/// A bore server on its own runtime, so that killing it closes every connection.
pub struct BoreServer {
    runtime: Option<tokio::runtime::Runtime>,
}

impl BoreServer {
    /// Starts a bore server on loopback, on its own runtime, with `secret`.
    pub fn start(ports: RangeInclusive<u16>, secret: &str) -> BoreServer {
        let start = Instant::now();
        // A killed server's listener closes as its runtime winds down.
        while TcpStream::connect(("127.0.0.1", 7835)).is_ok() {
            assert!(
                start.elapsed() < PATIENCE,
                "something else holds bore's port 7835"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut server = bore_cli::server::Server::new(ports, Some(secret));
        server.set_bind_addr("127.0.0.1".parse().unwrap());
        server.set_bind_tunnels("127.0.0.1".parse().unwrap());
        runtime.spawn(async move {
            if let Err(error) = server.listen().await {
                eprintln!("bore server: {error}");
            }
        });
        while TcpStream::connect(("127.0.0.1", 7835)).is_err() {
            assert!(start.elapsed() < PATIENCE, "the bore server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        BoreServer {
            runtime: Some(runtime),
        }
    }

    /// Stops it the way a crash would: every connection closes, nothing is said goodbye.
    pub fn kill(mut self) {
        self.runtime.take().unwrap().shutdown_background();
    }
}

impl Drop for BoreServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
