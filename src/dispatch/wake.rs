//! Cross-process wake-up on PostgreSQL: an API node's commit `NOTIFY`s, and every worker
//! `LISTEN`s, so deliveries start at once instead of at the next poll.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::{watch, Notify};

use crate::store::WAKE_CHANNEL;

/// Forwards notifications to every one of `wakes` (dispatcher, job runner) until shutdown.
/// Polling still runs underneath, so a lost connection only costs latency, never work.
pub async fn listen(
    database_url: String,
    wakes: Vec<Arc<Notify>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let connected = async {
            let mut listener = PgListener::connect(&database_url).await?;
            listener.listen(WAKE_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match connected.await {
            Ok(mut listener) => loop {
                tokio::select! {
                    received = listener.recv() => match received {
                        Ok(_) => wakes.iter().for_each(|w| w.notify_one()),
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the wake-up channel; reconnecting");
                            break;
                        }
                    },
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            },
            Err(e) => tracing::warn!(error = %e, "cannot listen for wake-ups; relying on polling"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
