//! DNS over TCP (RFC 7766): several queries per connection, pipelined,
//! length prefixes split across segments, the idle timeout and the cap on
//! connections.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::wire_client::*;

/// A type number.
const A: u16 = 1;

/// A query for `name` A with the given ID.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut spec = QuerySpec::new(name, A);
    spec.id = id;
    spec.encode()
}

/// A pindns with a short idle timeout and a small connection cap.
fn limited_server(idle_seconds: &str, max_connections: &str) -> TestServer {
    TestServer::edited(|root| {
        set_server_setting(root, "tcp_idle_timeout", Some(idle_seconds));
        set_server_setting(root, "tcp_max_connections", Some(max_connections));
    })
}

/// A pindns with a 1 s idle timeout (and `max_connections`, if given)
/// whose `big.example.com` has 40 A records: 684-byte replies, so that a
/// client that does not read them soon fills the socket buffers.
fn big_reply_server(max_connections: Option<&str>) -> TestServer {
    TestServer::edited(|root| {
        set_server_setting(root, "tcp_idle_timeout", Some("1.0"));
        if max_connections.is_some() {
            set_server_setting(root, "tcp_max_connections", max_connections);
        }
        let zone = root.join("zones/example.com.zone");
        let mut text = std::fs::read_to_string(&zone).expect("read zone");
        for index in 1..=40 {
            text.push_str(&format!("big IN A 192.0.2.{}\n", 100 + index));
        }
        std::fs::write(&zone, text).expect("write zone");
    })
}

/// Reads `count` replies and returns their IDs, checking each is NOERROR.
fn read_ids(stream: &mut TcpStream, count: usize) -> Vec<u16> {
    let mut ids: Vec<u16> = (0..count)
        .map(|index| {
            let reply = tcp_read_reply(stream).unwrap_or_else(|| panic!("reply {index}"));
            assert_eq!(header_rcode(&reply), 0, "reply {index} is NOERROR");
            parse(&reply);
            id_of(&reply)
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn rfc7766_pipelined_queries_are_all_answered_on_one_connection() {
    let server = TestServer::shipped();
    let mut stream = tcp_connect(server.address);
    let burst: Vec<u8> = [
        query(1, "www.example.com"),
        query(2, "api.example.com"),
        query(3, "global.example.com"),
    ]
    .iter()
    .flat_map(|message| framed(message))
    .collect();
    stream
        .write_all(&burst)
        .expect("one write of three queries");
    assert_eq!(read_ids(&mut stream, 3), vec![1, 2, 3], "each ID once");
    // The connection stays open for more.
    stream
        .write_all(&framed(&query(4, "www.example.com")))
        .expect("write a fourth query");
    assert_eq!(read_ids(&mut stream, 1), vec![4]);
    // A hundred at once.
    let many: Vec<u8> = (100..200)
        .flat_map(|id| framed(&query(id, "api.example.com")))
        .collect();
    stream.write_all(&many).expect("write a hundred queries");
    assert_eq!(read_ids(&mut stream, 100), (100..200).collect::<Vec<u16>>());
}

#[test]
fn rfc7766_length_prefix_split_across_segments_is_reassembled() {
    let server = TestServer::shipped();
    let mut stream = tcp_connect(server.address);
    let both: Vec<u8> = [query(1, "www.example.com"), query(2, "api.example.com")]
        .iter()
        .flat_map(|message| framed(message))
        .collect();
    // The first length byte alone, then the rest.
    stream.write_all(&both[..1]).expect("first byte");
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&both[1..]).expect("the rest");
    assert_eq!(read_ids(&mut stream, 2), vec![1, 2]);
    // One byte per segment, message after message.
    for byte in framed(&query(3, "www.example.com")) {
        stream.write_all(&[byte]).expect("one byte");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(read_ids(&mut stream, 1), vec![3]);
    // A split inside the body of a query, and inside the second prefix.
    let split: Vec<u8> = [query(5, "www.example.com"), query(6, "api.example.com")]
        .iter()
        .flat_map(|message| framed(message))
        .collect();
    let second_prefix = framed(&query(5, "www.example.com")).len() + 1;
    stream.write_all(&split[..10]).expect("part of the body");
    std::thread::sleep(Duration::from_millis(200));
    stream
        .write_all(&split[10..second_prefix])
        .expect("up to the middle of the next prefix");
    std::thread::sleep(Duration::from_millis(200));
    stream.write_all(&split[second_prefix..]).expect("the rest");
    assert_eq!(read_ids(&mut stream, 2), vec![5, 6]);
}

#[test]
fn dig_keeps_one_tcp_connection_open_for_several_queries() {
    let server = TestServer::shipped();
    if !have_dig() {
        return;
    }
    let output = dig(
        server.address,
        &[
            "+tcp",
            "+keepopen",
            "www.example.com",
            "A",
            "api.example.com",
            "A",
            "global.example.com",
            "A",
        ],
    );
    assert_eq!(output.matches("status: NOERROR").count(), 3, "{output}");
}

#[test]
fn rfc7766_idle_connection_is_closed_after_the_idle_timeout() {
    let server = limited_server("1.0", "16");
    let mut stream = tcp_connect(server.address);
    let opened = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(4)),
        "idle connection closed"
    );
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, too early"
    );
    // Also after a query: the timeout counts from the last message.
    let mut stream = tcp_connect(server.address);
    stream
        .write_all(&framed(&query(1, "www.example.com")))
        .expect("query");
    assert_eq!(read_ids(&mut stream, 1), vec![1]);
    assert!(
        closed_within(&mut stream, Duration::from_secs(4)),
        "closed once idle"
    );
}

#[test]
fn rfc7766_busy_connection_outlives_the_idle_timeout() {
    let server = limited_server("1.0", "16");
    let mut stream = tcp_connect(server.address);
    // A query every 600 ms for 3 s: never idle for a whole second.
    for id in 1..=5 {
        stream
            .write_all(&framed(&query(id, "www.example.com")))
            .expect("query");
        assert_eq!(read_ids(&mut stream, 1), vec![id]);
        std::thread::sleep(Duration::from_millis(600));
    }
    // A query whose bytes straddle the idle timeout is still answered:
    // the prefix comes after 800 ms, the body 700 ms later.
    std::thread::sleep(Duration::from_millis(200));
    let message = framed(&query(9, "www.example.com"));
    stream
        .write_all(&message[..6])
        .expect("prefix and part of the query");
    std::thread::sleep(Duration::from_millis(700));
    stream
        .write_all(&message[6..])
        .expect("the rest of the query");
    assert_eq!(
        read_ids(&mut stream, 1),
        vec![9],
        "outstanding query answered"
    );
}

#[test]
fn rfc7766_connections_over_the_cap_are_closed_and_slots_come_back() {
    let server = limited_server("5.0", "2");
    let mut held: Vec<TcpStream> = (1..=2)
        .map(|id| {
            let mut stream = tcp_connect(server.address);
            stream
                .write_all(&framed(&query(id, "www.example.com")))
                .expect("query");
            assert_eq!(read_ids(&mut stream, 1), vec![id], "connection {id} served");
            stream
        })
        .collect();
    let mut over = tcp_connect(server.address);
    let _ = over.write_all(&framed(&query(3, "www.example.com")));
    assert!(
        closed_within(&mut over, Duration::from_secs(2)),
        "the third connection is closed at once"
    );
    // A slot freed by a client is given to the next one.
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut next = tcp_connect(server.address);
        let _ = next.write_all(&framed(&query(4, "www.example.com")));
        if let Some(reply) = tcp_read_reply(&mut next) {
            assert_eq!(id_of(&reply), 4);
            break;
        }
        assert!(Instant::now() < deadline, "a freed slot is reused");
        std::thread::sleep(Duration::from_millis(50));
    }
    // UDP is not affected by the TCP cap.
    assert_still_answers(server.address);
}

#[test]
fn rfc7766_client_that_never_reads_does_not_hold_a_slot_forever() {
    let server = big_reply_server(Some("1"));
    // Queries whose 684-byte replies are never read: once the socket
    // buffers are full the server cannot write, and must give up on the
    // connection rather than wait for ever.
    let mut stuck = tcp_connect(server.address);
    stuck.set_nonblocking(true).expect("nonblocking");
    let burst: Vec<u8> = (0..200_000u32)
        .flat_map(|id| framed(&query(id as u16, "big.example.com")))
        .collect();
    let mut sent = 0;
    let writing_until = Instant::now() + Duration::from_secs(3);
    while sent < burst.len() && Instant::now() < writing_until {
        match stuck.write(&burst[sent..]) {
            Ok(written) => sent += written,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => break,
        }
    }
    assert!(
        sent < burst.len(),
        "the server stopped reading once its replies backed up"
    );
    // Within a few idle timeouts the slot is free for another client.
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let mut next = tcp_connect(server.address);
        next.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("read timeout");
        let _ = next.write_all(&framed(&query(7, "www.example.com")));
        if let Some(reply) = tcp_read_reply(&mut next) {
            assert_eq!(id_of(&reply), 7);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a client that never reads keeps the only TCP slot"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stuck);
}

#[test]
fn rfc7766_replies_a_stalled_client_never_read_are_dropped_with_a_reset() {
    let server = big_reply_server(None);
    // Queries the server reads in full, whose 1 MB of replies are far more
    // than the socket buffers hold (the client's is made small), and a
    // client that never reads them.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    socket
        .connect(&server.address.into())
        .expect("connect to the server");
    let mut stuck: TcpStream = socket.into();
    let burst: Vec<u8> = (0..1500u32)
        .flat_map(|id| framed(&query(id as u16, "big.example.com")))
        .collect();
    stuck.write_all(&burst).expect("send the queries");
    // The server gives up on the client one timeout after its writes
    // stalled. A graceful close would leave the unread replies queued in
    // the kernel for as long as the client keeps its socket; a reset
    // throws them away, and the client sees it once it reads.
    std::thread::sleep(Duration::from_millis(2500));
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0usize;
    let ending = loop {
        match std::io::Read::read(&mut stuck, &mut buffer) {
            Ok(0) => break "end of stream",
            Ok(count) => received += count,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break "reset",
            Err(error) => panic!("read after {received} bytes: {error}"),
        }
    };
    assert_eq!(
        ending, "reset",
        "the abandoned connection is reset ({received} bytes of replies read first)"
    );
}

#[test]
fn rfc7766_a_query_trickled_byte_by_byte_cannot_hold_a_connection() {
    let server = limited_server("1.0", "16");
    let mut stream = tcp_connect(server.address);
    let message = framed(&query(1, "www.example.com"));
    // One byte every 300 ms: never a second of silence, but the message
    // would take 10 s to arrive. It has one idle timeout from its first
    // byte to complete.
    let started = Instant::now();
    for &byte in &message {
        if stream.write_all(&[byte]).is_err() {
            break;
        }
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    // Closed while the client was still trickling (its last byte came
    // less than a second ago, so a timeout counted per read would not
    // have fired yet).
    assert!(
        closed_within(&mut stream, Duration::from_millis(200)),
        "trickling client closed within the idle timeout of its first byte"
    );
}

#[test]
fn rfc7766_a_long_pipelined_burst_is_answered_in_full() {
    let server = TestServer::shipped();
    let mut stream = tcp_connect(server.address);
    // 3,000 queries (~100 KB) in one write, the last one split in two: the
    // replies outgrow any single write, the queries any single read.
    let count: u16 = 3000;
    let mut burst: Vec<u8> = (1..=count)
        .flat_map(|id| framed(&query(id, "global.example.com")))
        .collect();
    let tail = burst.split_off(burst.len() - 7);
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        writer.write_all(&burst).expect("burst");
        std::thread::sleep(Duration::from_millis(200));
        writer.write_all(&tail).expect("tail");
    });
    let ids = read_ids(&mut stream, usize::from(count));
    sender.join().expect("sender");
    assert_eq!(ids, (1..=count).collect::<Vec<u16>>(), "every ID once");
}
