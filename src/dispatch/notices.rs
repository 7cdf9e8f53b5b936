//! Publishes operator notices (see `domain/operator.rs`) as events in their webhooks'
//! sites, where any webhook or notification target subscribed to them picks them up.
//!
//! They are published after the change they report has committed: a crash in between
//! loses the notice, never the change (the webhook stays disabled, the call failed).

use std::time::Duration;

use tokio::sync::watch;

use crate::domain::operator::Notice;
use crate::domain::time::now_millis;
use crate::store::Store;

pub async fn publish(store: Store, notices: Vec<Notice>) {
    for notice in notices {
        let site_id = notice.webhook().site_id.clone();
        if let Err(e) = store.publish_event(&site_id, &notice.event(), None).await {
            tracing::warn!(error = %e, site = %site_id, ?notice, "could not publish an operator event");
        }
    }
}

/// Every `interval`, disables webhooks that have failed for longer than their
/// `disable_after` (`default_after_ms` unless they set their own) and reports them.
pub async fn watch_health(
    store: Store,
    default_after_ms: u64,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match store
            .disable_failing_webhooks(now_millis(), default_after_ms)
            .await
        {
            Ok(notices) if !notices.is_empty() => publish(store.clone(), notices).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checking failing webhooks failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
