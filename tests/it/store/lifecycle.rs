//! Opening, migrating and sharing one database: schema versions, caches, two writers.

use super::*;

#[tokio::test]
async fn a_database_from_a_newer_binary_is_refused() {
    let (store, _dir, url) = open().await;
    store.close().await;
    crate::support::add_future_migration(&url).await;
    let error = Store::open(&url, &PoolSettings::default())
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, StoreError::SchemaTooNew { found: 999, .. }));
    assert!(error.to_string().contains("newer than this binary"));
}

#[tokio::test]
async fn opening_twice_is_idempotent_and_deleting_a_site_removes_its_calls() {
    let (store, _dir, url) = open().await;
    let (site, calls) = seeded(&store, 2, 2).await;
    let reopened = Store::open(&url, &PoolSettings::default()).await.unwrap();
    assert_eq!(
        reopened
            .call_detail(&site, &calls[0])
            .await
            .unwrap()
            .summary
            .id,
        calls[0]
    );
    reopened.delete_site(&site).await.unwrap();
    assert!(matches!(
        store.call_detail(&site, &calls[0]).await,
        Err(StoreError::NotFound)
    ));
    let now = now_millis();
    assert!(store
        .claim_due(now, now + 1000, 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_next_event_sees_every_webhook_change() {
    let (store, _dir, _) = open().await;
    let site = store.create_site("s").await.unwrap().id;
    let first = store
        .create_webhook(&site, &settings("a"), &generate_secret(), &tester())
        .await
        .unwrap();
    assert_eq!(publish(&store, &site, "1").await.len(), 1);
    let second = store
        .create_webhook(&site, &settings("b"), &generate_secret(), &tester())
        .await
        .unwrap();
    assert_eq!(
        publish(&store, &site, "2").await.len(),
        2,
        "a new webhook counts at once"
    );
    let mut disabled = first.settings.clone();
    disabled.enabled = false;
    store
        .update_webhook(
            &site,
            &first.id,
            &disabled,
            &tester(),
            first.settings.changes_to(&disabled),
        )
        .await
        .unwrap();
    assert_eq!(
        publish(&store, &site, "3").await.len(),
        1,
        "a disabled one stops at once"
    );
    store
        .delete_webhook(&site, &second.id, &tester())
        .await
        .unwrap();
    assert_eq!(
        publish(&store, &site, "4").await.len(),
        0,
        "a deleted one too"
    );
}

/// On SQLite the hot path and the administrative writes use two connections to one file;
/// neither may fail while the other is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn administrative_writes_succeed_beside_a_busy_hot_path() {
    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 3, 0).await;
    let publisher = {
        let (store, site) = (store.clone(), site.clone());
        tokio::spawn(async move {
            let mut published = 0;
            for round in 0..40 {
                let batch = (0..10).map(|i| {
                    let (store, site) = (store.clone(), site.clone());
                    async move {
                        let e = event(&format!("{round}-{i}"));
                        store.publish_event(&site, &e, None).await
                    }
                });
                for outcome in futures_util::future::join_all(batch).await {
                    outcome.expect("publishing succeeds");
                    published += 1;
                }
            }
            published
        })
    };
    let worker = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut recorded = 0;
            while recorded < 1200 {
                let now = now_millis();
                let claimed = store.claim_due(now, now + 60_000, 50).await.unwrap();
                let results: Vec<_> = claimed
                    .iter()
                    .map(|c| done(&c.call_id, &c.claim_token, CallStatus::Success))
                    .collect();
                recorded += results.len();
                store.record_results(results).await.unwrap();
                tokio::task::yield_now().await;
            }
            recorded
        })
    };
    for i in 0..20 {
        let other = store.create_site(&format!("other {i}")).await.unwrap();
        store
            .create_webhook(&other.id, &settings("x"), &generate_secret(), &tester())
            .await
            .expect("a webhook is created while the hot path writes");
        assert!(store
            .set_site_lock(&other.id, true, &tester())
            .await
            .unwrap());
    }
    assert_eq!(publisher.await.unwrap(), 400);
    assert_eq!(worker.await.unwrap(), 1200);
    assert!(store
        .claim_due(now_millis(), now_millis() + 1, 10)
        .await
        .unwrap()
        .is_empty());
}
