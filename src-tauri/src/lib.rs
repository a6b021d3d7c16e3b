//! KYC Monitor's core: everything the CLI, the web UI and the desktop shell share.

pub mod access;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod backoff;
mod backup_dir;
mod blocking;
pub mod config;
pub mod connections;
#[cfg(feature = "desktop")]
pub mod desktop;
pub mod export;
pub mod forward;
pub mod ingest;
pub mod keychain;
pub mod kyc;
pub mod logs;
pub mod metrics;
pub mod monitor;
pub mod named_file;
pub mod private_file;
pub mod provider;
pub mod random;
pub mod secret;
pub mod secret_file;
pub mod serve;
pub mod settings;
pub mod signature;
pub mod store;
pub mod team_link;
pub mod time;
pub mod trust;
pub mod tunnel;
