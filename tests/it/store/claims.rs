//! Claims, leases, results and resends: the queue's rules under concurrency.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_get_the_same_call() {
    let (store, _dir, _) = open().await;
    let (_, calls) = seeded(&store, 5, 60).await;
    let now = now_millis();
    let mut claimers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(now, now + 60_000, 7).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| c.call_id));
            }
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), unique.len(), "a call was claimed twice");
    assert_eq!(unique, calls.into_iter().collect::<HashSet<_>>());
}

#[tokio::test]
async fn a_claim_hides_the_call_until_its_lease_expires() {
    let (store, _dir, _) = open().await;
    let (_, calls) = seeded(&store, 1, 1).await;
    let now = now_millis();
    let first = store.claim_due(now, now + 1_000, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].call_id, calls[0]);
    assert!(first[0].webhook.is_some());
    assert!(String::from_utf8_lossy(&first[0].body).contains("\"entity_type\":\"item\""));
    assert!(store
        .claim_due(now + 999, now + 5_000, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store.claim_due(now + 1_000, now + 5_000, 10).await.unwrap();
    assert_eq!(again.len(), 1, "an expired lease makes the call due again");
    assert_ne!(again[0].claim_token, first[0].claim_token);
}

#[tokio::test]
async fn only_the_current_claim_moves_a_call_but_every_attempt_counts() {
    let (store, _dir, _) = open().await;
    let (site, calls) = seeded(&store, 1, 1).await;
    let now = now_millis();
    let stale = store.claim_due(now, now + 10, 1).await.unwrap().remove(0);
    let current = store
        .claim_due(now + 10, now + 60_000, 1)
        .await
        .unwrap()
        .remove(0);
    let mut stale_result = done(&stale.call_id, &stale.claim_token, CallStatus::Success);
    stale_result.attempt = Some(answered_200(now));
    store.record_results([stale_result]).await.unwrap();
    let call = store.call_detail(&site, &calls[0]).await.unwrap();
    assert_eq!(
        call.summary.status,
        CallStatus::Pending,
        "the stale result did not move the call"
    );
    assert_eq!(call.summary.attempt_count, 1);
    assert_eq!(call.attempts.len(), 1);

    store
        .record_results([done(
            &current.call_id,
            &current.claim_token,
            CallStatus::Failed,
        )])
        .await
        .unwrap();
    let call = store.call_detail(&site, &calls[0]).await.unwrap();
    assert_eq!(call.summary.status, CallStatus::Failed);
    assert!(store
        .claim_due(now + 120_000, now + 180_000, 1)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_result_for_a_call_deleted_meanwhile_does_not_stop_the_others_being_recorded() {
    let (store, _dir, _) = open().await;
    let (site, calls) = seeded(&store, 2, 1).await;
    let now = now_millis();
    let claimed = store.claim_due(now, now + 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let gone = store.call_detail(&site, &calls[0]).await.unwrap();
    store
        .delete_webhook(&site, &gone.summary.webhook_id, &tester())
        .await
        .unwrap();
    let results: Vec<AttemptResult> = claimed
        .iter()
        .map(|c| AttemptResult {
            attempt: Some(answered_200(now)),
            ..done(&c.call_id, &c.claim_token, CallStatus::Success)
        })
        .collect();
    store.record_results(results).await.unwrap();
    assert!(matches!(
        store.call_detail(&site, &calls[0]).await,
        Err(StoreError::NotFound)
    ));
    let kept = store.call_detail(&site, &calls[1]).await.unwrap();
    assert_eq!(kept.summary.status, CallStatus::Success);
    assert_eq!(kept.attempts.len(), 1);
}

#[tokio::test]
async fn a_publish_racing_a_webhooks_deletion_creates_no_call_to_it() {
    let (store, _dir, url) = open().await;
    let (site, _) = seeded(&store, 2, 1).await;
    let hooks = store.list_webhooks(&site, None, 50).await.unwrap().data;
    // Another process (or a request this store's cache has not seen yet) deletes one.
    let other = Store::open(&url, &PoolSettings::default()).await.unwrap();
    other
        .delete_webhook(&site, &hooks[0].id, &tester())
        .await
        .unwrap();
    // This store still matches the event against both webhooks: the write must not
    // create a call to the deleted one (refused, or made without it once the cache
    // has expired on PostgreSQL).
    let published = store.publish_event(&site, &event("2"), None).await;
    let calls = store
        .list_calls(
            &site,
            &CallFilter {
                limit: 100,
                ..CallFilter::default()
            },
        )
        .await
        .unwrap()
        .data;
    assert!(
        calls.iter().all(|c| c.webhook_id != hooks[0].id),
        "{calls:?}"
    );
    match published {
        Err(StoreError::Conflict(message)) => assert!(message.contains("deleted"), "{message}"),
        Ok(PublishOutcome::Created(p)) => assert_eq!(p.webhook_call_ids.len(), 1),
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn released_claims_are_due_at_once() {
    let (store, _dir, _) = open().await;
    seeded(&store, 1, 2).await;
    let now = now_millis();
    let claimed = store.claim_due(now, now + 600_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let held: Vec<_> = claimed
        .iter()
        .map(|c| (c.call_id.clone(), c.claim_token.clone()))
        .collect();
    store.release_claims(&held, now).await.unwrap();
    assert_eq!(
        store.claim_due(now, now + 600_000, 10).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn resend_gives_a_finished_call_one_shot_and_brings_a_pending_one_forward() {
    let (store, _dir, _) = open().await;
    let (site, calls) = seeded(&store, 1, 2).await;
    let now = now_millis();
    let claimed = store.claim_due(now, now + 60_000, 10).await.unwrap();
    let finished = claimed.iter().find(|c| c.call_id == calls[0]).unwrap();
    let retrying = claimed.iter().find(|c| c.call_id == calls[1]).unwrap();
    let mut later = done(
        &retrying.call_id,
        &retrying.claim_token,
        CallStatus::Pending,
    );
    later.next = NextStep::RetryAt(now + 3_600_000);
    store
        .record_results([
            done(&finished.call_id, &finished.claim_token, CallStatus::Failed),
            later,
        ])
        .await
        .unwrap();
    assert!(store
        .claim_due(now + 1, now + 60_000, 10)
        .await
        .unwrap()
        .is_empty());

    for call in &calls {
        let summary = store.resend_call(&site, call, now + 2).await.unwrap();
        assert_eq!(summary.status, CallStatus::Pending);
    }
    let resent = store.claim_due(now + 2, now + 60_000, 10).await.unwrap();
    assert_eq!(resent.len(), 2);
    for claimed in resent {
        assert!(claimed.manual);
        assert_eq!(
            claimed.one_shot,
            claimed.call_id == calls[0],
            "only the finished call is one-shot"
        );
    }
    assert!(matches!(
        store.resend_call(&site, "call_missing", now).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_with_one_idempotency_key_create_one_event() {
    let (store, _dir, _) = open().await;
    let site = store.create_site("s").await.unwrap().id;
    store
        .create_webhook(&site, &settings("h"), &generate_secret(), &tester())
        .await
        .unwrap();
    let mut publishers = Vec::new();
    for _ in 0..8 {
        let (store, site) = (store.clone(), site.clone());
        publishers.push(tokio::spawn(async move {
            let key = IdempotencyKey {
                key: "k-1",
                request_hash: "same",
            };
            store
                .publish_event(&site, &event("1"), Some(key))
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    let mut answers = Vec::new();
    for publisher in publishers {
        match publisher.await.unwrap() {
            PublishOutcome::Created(p) => {
                created += 1;
                answers.push(p);
            }
            PublishOutcome::Replayed(p) => answers.push(p),
        }
    }
    assert_eq!(created, 1);
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "every caller got the same answer"
    );
    let now = now_millis();
    assert_eq!(
        store.claim_due(now, now + 1000, 100).await.unwrap().len(),
        1
    );

    let other = IdempotencyKey {
        key: "k-1",
        request_hash: "different",
    };
    assert!(matches!(
        store.publish_event(&site, &event("2"), Some(other)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.prune_idempotency_keys(now).await.unwrap(), 0);
    assert_eq!(
        store
            .prune_idempotency_keys(now + 25 * 3_600_000)
            .await
            .unwrap(),
        1
    );
}
