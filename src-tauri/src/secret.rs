//! A secret given to the monitor (a tunnel's authtoken or shared secret): kept as text for the
//! one call that needs it, never shown by `Debug`. A leaf: the keychain that may hold one and
//! the tunnels that use one both depend on it, not on each other.

/// A secret a tunnel needs (ngrok authtoken, bore secret). Its `Debug` never shows it.
#[derive(Clone, Default)]
pub struct TunnelSecret(String);

impl TunnelSecret {
    pub fn new(text: impl Into<String>) -> TunnelSecret {
        TunnelSecret(text.into())
    }

    /// A secret given as text (a flag, the environment); blank is none.
    pub fn given(text: Option<String>) -> Option<TunnelSecret> {
        text.filter(|t| !t.trim().is_empty()).map(TunnelSecret)
    }

    /// The secret itself, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TunnelSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelSecret(redacted)")
    }
}
