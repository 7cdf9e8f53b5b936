//! Slow and hostile connections hold at most a connection each, never a request slot:
//! a publisher keeps getting 202 within a second while hundreds of clients trickle their
//! headers or bodies a byte at a time, and each of those is cut off at its deadline.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{item_event, TestServer};

/// A connection to `server` from the loopback address `from` (127.0.0.0/8 is all ours).
async fn connect_from(from: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    socket.connect(server).await.unwrap()
}

fn addr(server: &TestServer) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

/// Reads until the server closes; what it said, and how long that took.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

const SLOW_CLIENTS: usize = 520;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_bodies_never_starve_a_publisher() {
    let server = TestServer::start_with(&[
        "--max-requests-in-flight=8",
        "--header-read-timeout=3s",
        "--body-read-timeout=3s",
    ])
    .await;
    let site = server.create_site().await;
    let target = addr(&server);
    // Half trickle their headers, half their bodies, from four addresses (each client
    // address may hold 256 connections).
    let mut slow = Vec::new();
    for i in 0..SLOW_CLIENTS {
        let from = format!("127.0.0.{}", 2 + i % 4);
        let mut stream = connect_from(&from, target).await;
        let head = if i % 2 == 0 {
            "POST /sign-in HTTP/1.1\r\nhost: x\r\n".to_owned()
        } else {
            "POST /sign-in HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 60000\r\n\r\n".to_owned()
        };
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    let trickle = tokio::spawn(async move {
        // One byte a second on each, past both deadlines.
        for _ in 0..6 {
            for stream in slow.iter_mut() {
                let _ = stream.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        slow
    });
    // Meanwhile a publisher on its own address is answered at once, again and again.
    let mut slowest = Duration::ZERO;
    for i in 0..30 {
        let started = Instant::now();
        server.publish(&site, item_event(&i.to_string())).await;
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a publish took {slowest:?} beside {SLOW_CLIENTS} slow clients"
    );
    // Every slow client is cut off at its deadline: headers closed, bodies 408.
    let mut slow = trickle.await.unwrap();
    let (mut cut_headers, mut timed_out_bodies) = (0, 0);
    for (i, stream) in slow.iter_mut().enumerate() {
        let (answer, _) = until_closed(stream).await;
        if i % 2 == 0 {
            cut_headers += 1;
        } else if answer.starts_with("HTTP/1.1 408") {
            timed_out_bodies += 1;
        }
    }
    assert_eq!(cut_headers, SLOW_CLIENTS / 2);
    assert_eq!(
        timed_out_bodies,
        SLOW_CLIENTS / 2,
        "each slow body is answered 408"
    );
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_slow_body_is_answered_408_naming_the_deadline() {
    let server = TestServer::start_with(&["--body-read-timeout=1s"]).await;
    let mut stream = connect_from("127.0.0.1", addr(&server)).await;
    stream
        .write_all(b"POST /api/v1/sites HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"na")
        .await
        .unwrap();
    let (answer, took) = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("--body-read-timeout"), "{answer}");
    assert!(took < Duration::from_secs(10), "cut off after {took:?}");
}

#[tokio::test]
async fn idle_and_half_open_connections_are_closed() {
    let server = TestServer::start_with(&["--header-read-timeout=1s", "--idle-timeout=2s"]).await;
    // Connected, sends nothing: closed once the headers' deadline passes.
    let mut silent = connect_from("127.0.0.1", addr(&server)).await;
    let (_, took) = until_closed(&mut silent).await;
    assert!(took < Duration::from_secs(10), "open for {took:?}");
    // A keep-alive connection after one answer: closed when idle.
    let mut kept = connect_from("127.0.0.1", addr(&server)).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, took) = until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took < Duration::from_secs(10), "open for {took:?}");
}

#[tokio::test]
async fn one_client_address_cannot_take_every_connection() {
    let server = TestServer::start_with(&["--max-connections-per-client=5"]).await;
    let target = addr(&server);
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = connect_from("127.0.0.9", target).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        held.push(stream);
    }
    // The sixth from that address is closed at once; another address is served.
    let mut sixth = connect_from("127.0.0.9", target).await;
    let _ = sixth
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let (answer, _) = until_closed(&mut sixth).await;
    assert!(answer.is_empty(), "{answer}");
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    drop(held);
}
