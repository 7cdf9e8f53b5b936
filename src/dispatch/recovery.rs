//! Carries out bulk recoveries (see `store/recoveries.rs`): takes one nobody holds, makes
//! its failed calls due again batch by batch, and hands it back on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::domain::time::now_millis;
use crate::store::{Store, RECOVERY_BATCH};

/// How long a recovery is held without progress before another process may take it over.
const LEASE: Duration = Duration::from_secs(30);

pub async fn run(
    store: Store,
    wake: Arc<Notify>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let lease_ms = LEASE.as_millis() as i64;
    loop {
        let now = now_millis();
        match store.lease_recovery(now, now + lease_ms).await {
            Ok(Some(mut recovery)) => {
                tracing::info!(recovery = %recovery.id, webhook = %recovery.webhook_id, "recovering failed calls");
                loop {
                    if *shutdown.borrow() {
                        if let Err(e) = store.release_recovery(&recovery).await {
                            tracing::warn!(error = %e, "could not hand a recovery back; its lease will run out");
                        }
                        return;
                    }
                    let now = now_millis();
                    match store
                        .recover_batch(&mut recovery, now, now + lease_ms)
                        .await
                    {
                        Ok(resent) => {
                            if resent > 0 {
                                wake.notify_one();
                            }
                            if resent < RECOVERY_BATCH {
                                tracing::info!(recovery = %recovery.id, "recovery done");
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, recovery = %recovery.id, "a recovery batch failed; it will be taken up again");
                            break;
                        }
                    }
                }
                continue; // another may be waiting
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "looking for recoveries failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
