//! The provider's side: the partner API client the monitor uses to register its webhook and ask
//! for a user's status, and the emulator that stands in for the provider in demos and tests.

pub mod actions;
pub mod client;
pub mod emulator;
pub mod jwt;
mod signing;
mod throttle;
pub mod watch;

pub use client::{Endpoints, Environment, ProviderClient, ProviderError, Registration};
pub use emulator::{
    ApiGeneration, DeliverySigning, Emulator, EmulatorConfig, FlowConfig, Outcome, PayloadForm,
    SignatureHeaderNames, StartedUser, Summary,
};
pub use jwt::{KeyError, PrivateKey, PublicKey};
