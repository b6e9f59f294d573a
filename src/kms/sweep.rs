//! The sweeper: applies what time alone decides — the end of a key's deletion window and a
//! key's automatic rotation — even for keys nobody uses. Loading a key already applies both
//! ([`Kms`]'s key loading), so the sweep loads every key once per period. With several
//! instances on one `s3` key store, each sweeps; conditional writes make that safe.

use std::sync::Arc;
use std::time::Duration;

use super::{Kms, KmsError, internal};

/// How often the sweeper runs.
pub const SWEEP_PERIOD: Duration = Duration::from_secs(60);

impl Kms {
    /// Loads every key once, deleting those whose deletion date passed and rotating those
    /// due. Returns how many keys were visited; corrupt records are reported, not skipped.
    pub async fn sweep(&self) -> Result<usize, KmsError> {
        let paths = self.store.list("keys/").await.map_err(internal)?;
        let mut visited = 0;
        for path in paths {
            let Some(key_id) = path.strip_prefix("keys/").and_then(|p| p.strip_suffix(".json")) else {
                continue;
            };
            match self.load_key(key_id).await {
                Ok(_) | Err(KmsError::NotFound(_)) => visited += 1,
                Err(error) => {
                    tracing::error!(key_id, error = %error.detail(), "the KMS sweeper cannot load a key record")
                }
            }
        }
        Ok(visited)
    }
}

impl Kms {
    /// Whether the key store answers (the readiness probe).
    pub async fn check_store(&self) -> Result<(), KmsError> {
        self.store.list("keys/").await.map(|_| ()).map_err(internal)
    }
}

/// Runs [`Kms::sweep`] every [`SWEEP_PERIOD`], forever (spawn it).
pub async fn run(kms: Arc<Kms>) {
    let mut ticker = tokio::time::interval(SWEEP_PERIOD);
    loop {
        ticker.tick().await;
        if let Err(error) = kms.sweep().await {
            tracing::error!(error = %error.detail(), "the KMS sweep failed");
        }
    }
}
