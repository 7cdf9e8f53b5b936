//! Fresh calls handed to the local dispatcher, and back-pressure from delivery and recording.

use super::*;

/// A process that delivers gets its fresh calls in memory, already leased to it, while its
/// dispatcher has room for them; without room, or behind a backlog, calls wait in the queue.
#[tokio::test]
async fn fresh_calls_are_handed_to_the_local_dispatcher_while_it_has_room() {
    use std::sync::atomic::Ordering;

    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 2, 0).await;
    let (handoff, mut handed) = deliver_locally(&store, 3);
    let room = handoff.room.clone();
    let first = publish(&store, &site, "1").await;
    let mut got = vec![handed.try_recv().unwrap(), handed.try_recv().unwrap()];
    got.sort_by(|a, b| a.call.call_id.cmp(&b.call.call_id));
    let mut ids = first.clone();
    ids.sort();
    assert_eq!(
        got.iter()
            .map(|h| h.call.call_id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    let body = String::from_utf8_lossy(&got[0].call.body);
    assert!(body.contains("\"id\":\"1\""), "{body}");
    assert!(got[0].call.webhook.is_some());
    assert_eq!(
        room.available_permits(),
        1,
        "room for one call taken per handed call"
    );
    let now = now_millis();
    assert!(
        store.claim_due(now, now + 1, 10).await.unwrap().is_empty(),
        "handed calls are leased, not due"
    );

    // Two calls, room for one: both go to the queue, and the dispatcher is rung.
    let wake = handoff.wake.notified();
    let queued = publish(&store, &site, "2").await;
    wake.await;
    assert!(handed.try_recv().is_err());
    assert!(handoff.backlog.load(Ordering::SeqCst));
    // Room frees up, but the backlog is served first.
    drop(got);
    assert!(!publish(&store, &site, "3").await.is_empty());
    assert!(handed.try_recv().is_err(), "nothing overtakes the queue");
    let claimed = store
        .claim_due(now_millis(), now + 60_000, 10)
        .await
        .unwrap();
    let mut claimed_ids: Vec<_> = claimed.iter().map(|c| c.call_id.clone()).collect();
    claimed_ids.sort();
    let mut expected: Vec<_> = queued.clone();
    expected.sort();
    assert_eq!(claimed_ids.len(), 4);
    assert!(expected.iter().all(|id| claimed_ids.contains(id)));
}

/// A publisher that finds the dispatcher full waits a moment for room before queueing:
/// room that frees up meanwhile takes its calls in memory, so ingestion slows to the pace
/// of delivery instead of building a backlog.
#[tokio::test]
async fn a_publisher_waits_briefly_for_room_before_queueing() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 2, 0).await;
    let (handoff, mut handed) = deliver_locally(&store, 2);
    let room = handoff.room.clone();
    // The dispatcher is full; its calls finish a few milliseconds into the publish.
    let full = room.clone().try_acquire_many_owned(2).unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(full);
    });
    let published = publish(&store, &site, "w").await;
    let mut got = vec![
        handed.try_recv().expect("handed over").call.call_id,
        handed.try_recv().expect("handed over").call.call_id,
    ];
    got.sort();
    let mut ids = published.clone();
    ids.sort();
    assert_eq!(got, ids);
    assert!(
        !handoff.backlog.load(Ordering::SeqCst),
        "nothing was queued"
    );
}

/// A dispatcher that stopped while an event was being published does not strand its
/// calls behind a lease: they are made due at once for whoever runs next.
#[tokio::test]
async fn calls_a_stopped_dispatcher_cannot_take_are_due_at_once() {
    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 2, 0).await;
    let (_handoff, handed) = deliver_locally(&store, 8);
    drop(handed);
    let published = publish(&store, &site, "x").await;
    let now = now_millis();
    let mut due: Vec<_> = store
        .claim_due(now, now + 60_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    due.sort();
    let mut expected = published.clone();
    expected.sort();
    assert_eq!(due, expected);
}

/// Fresh calls wait in the dispatcher's memory for a slot (room for as many again as it
/// has slots) instead of taking the queue; but while calls due in the queue find no room,
/// publishers are sent to the queue behind them, so fresh calls cannot starve them.
#[tokio::test]
async fn fresh_calls_wait_in_memory_for_a_slot_without_starving_due_ones() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    use tokio::sync::watch;

    let (store, _dir, _) = open().await;
    let (site, _) = seeded(&store, 1, 0).await;
    // The id of its only call.
    let publish_one = |id: &'static str| {
        let (store, site) = (store.clone(), site.clone());
        async move { publish(&store, &site, id).await.remove(0) }
    };
    // Due in the queue before this process delivers.
    let queued = publish_one("queued").await;
    let (dispatcher, gate, mut started) = gated_dispatcher(&store, 1, Duration::from_millis(50));
    let handoff = dispatcher.handoff();
    store.deliver_locally(handoff.clone());

    // One slot, room for two: both fresh calls are handed over, leased, not queued.
    let first = publish_one("first").await;
    let second = publish_one("second").await;
    for id in [&first, &second] {
        let call = store.call_detail(&site, id).await.unwrap().summary;
        assert!(
            call.next_attempt_at.unwrap() > now_millis() + 30_000,
            "{id} is leased to this process"
        );
    }
    assert!(!handoff.backlog.load(Ordering::SeqCst));

    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(dispatcher.run(stopped));
    assert_eq!(started.recv().await.unwrap(), first);
    // No room to claim the queued call: the dispatcher holds publishers back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !handoff.backlog.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publishers were never held back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let third = publish_one("third").await;
    let call = store.call_detail(&site, &third).await.unwrap().summary;
    assert!(
        call.next_attempt_at.unwrap() <= now_millis(),
        "third waits in the queue"
    );

    gate.add_permits(4);
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(started.recv().await.unwrap());
    }
    assert_eq!(
        order,
        [second, queued, third],
        "nothing overtakes the queue"
    );
    stop.send(true).unwrap();
    running.await.unwrap();
}

/// While results cannot be recorded (the database is locked), the dispatcher stops starting
/// deliveries instead of piling unrecorded results up in memory; once the lock is gone,
/// everything is delivered and recorded.
#[tokio::test]
async fn deliveries_wait_for_their_results_to_be_recorded() {
    use sqlx::Connection;
    use std::time::Duration;
    use tokio::sync::watch;

    let (store, _dir, url) = open().await;
    // Queued before the dispatcher runs, so one claim takes them all.
    let (site, calls) = seeded(&store, 10, 60).await;
    let (dispatcher, gate, mut started) = gated_dispatcher(&store, 1024, Duration::from_millis(10));
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(dispatcher.run(stopped));
    started.recv().await.expect("a first delivery starts");

    // Hold the database so that no result can be written.
    sqlx::any::install_default_drivers();
    let mut locker = sqlx::AnyConnection::connect(&url).await.unwrap();
    let lock = if crate::support::backend::is_postgres() {
        "BEGIN; LOCK TABLE webhook_attempts IN ACCESS EXCLUSIVE MODE"
    } else {
        "BEGIN IMMEDIATE"
    };
    sqlx::raw_sql(lock).execute(&mut locker).await.unwrap();
    gate.add_permits(calls.len());
    let mut delivered = 1;
    let stalled = tokio::time::timeout(Duration::from_secs(2), async {
        while delivered < 50 {
            started.recv().await.expect("the dispatcher runs");
            delivered += 1;
        }
    })
    .await;
    assert!(
        stalled.is_err(),
        "{delivered} deliveries ran ahead of their unrecorded results"
    );

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    while delivered < calls.len() {
        started.recv().await.expect("the dispatcher runs");
        delivered += 1;
    }
    stop.send(true).unwrap();
    running.await.unwrap();
    for id in &calls {
        let call = store.call_detail(&site, id).await.unwrap().summary;
        assert_eq!(call.status, CallStatus::Success, "{id} was recorded");
    }
}
