//! Protocol behaviour a resolver relies on, over real UDP and TCP: one
//! question per query, opcodes, the question echoed byte for byte,
//! truncation by the requester's payload size, minimal ANY, CHAOS, zone
//! transfers, responses sent to us, and garbage.

use std::net::SocketAddr;

use crate::wire_client::*;

/// Record type numbers used below.
const A: u16 = 1;
/// SOA type number.
const SOA: u16 = 6;
/// TXT type number.
const TXT: u16 = 16;
/// IXFR type number.
const IXFR: u16 = 251;
/// AXFR type number.
const AXFR: u16 = 252;
/// ANY type number.
const ANY: u16 = 255;
/// CHAOS class number.
const CH: u16 = 3;

/// RCODE numbers.
const NOERROR: u8 = 0;
/// FORMERR.
const FORMERR: u8 = 1;
/// NOTIMP.
const NOTIMP: u8 = 4;
/// REFUSED.
const REFUSED: u8 = 5;

/// A pindns whose example.com zone also holds 40 A records at `big`
/// (16 bytes each on the wire: 40 of them do not fit in 512 bytes).
fn server_with_big_rrset() -> TestServer {
    TestServer::edited(|root| {
        let zone = root.join("zones/example.com.zone");
        let mut text = std::fs::read_to_string(&zone).expect("read zone");
        for index in 1..=40 {
            text.push_str(&format!("big IN A 192.0.2.{}\n", 100 + index));
        }
        std::fs::write(&zone, text).expect("write zone");
    })
}

#[test]
fn rfc9619_query_without_question_is_formerr_with_id_echoed() {
    let server = TestServer::shipped();
    // A header with QDCOUNT 0, without and with an OPT record.
    let mut bare = QuerySpec::new("example.com", SOA).encode()[..12].to_vec();
    bare[0..2].copy_from_slice(&0xbeefu16.to_be_bytes());
    bare[4..6].copy_from_slice(&[0, 0]);
    bare[10..12].copy_from_slice(&[0, 0]);
    let mut with_opt = bare.clone();
    with_opt[10..12].copy_from_slice(&1u16.to_be_bytes());
    with_opt.extend_from_slice(&encode_opt(&EdnsSpec::default()));
    for query in [bare, with_opt] {
        let reply = udp_exchange(server.address, &query).expect("QDCOUNT 0 is answered");
        assert_eq!(id_of(&reply), 0xbeef, "ID echoed");
        assert_eq!(reply[2] & 0x80, 0x80, "QR set");
        assert_eq!(header_rcode(&reply), FORMERR);
        parse(&reply);
    }
    assert_still_answers(server.address);
}

#[test]
fn rfc9619_query_with_two_questions_is_formerr() {
    let server = TestServer::shipped();
    let query = hex("beef00000002000000000000\
         0363646e076578616d706c6503636f6d0000010001\
         03777777076578616d706c6503636f6d0000010001");
    let reply = udp_exchange(server.address, &query).expect("QDCOUNT 2 is answered");
    assert_eq!(
        &reply[..4],
        &[0xbe, 0xef, 0x80, 0x01],
        "beef8001: response, FORMERR"
    );
    assert_eq!(counts(&reply)[1], 0, "no answer");
    parse(&reply);
    assert_still_answers(server.address);
}

#[test]
fn dig_header_only_query_gets_formerr() {
    let server = TestServer::shipped();
    if !have_dig() {
        return;
    }
    let output = dig(server.address, &["+header-only"]);
    assert!(output.contains("status: FORMERR"), "{output}");
}

#[test]
fn rfc1035_unassigned_opcode_15_is_notimp_with_opcode_echoed() {
    let server = TestServer::shipped();
    for query in [
        QuerySpec::new("example.com", SOA).opcode(15),
        QuerySpec::new("example.com", SOA).opcode(15).with_edns(),
    ] {
        let reply = udp_exchange(server.address, &query.encode()).expect("opcode 15 is answered");
        assert_eq!(id_of(&reply), query.id);
        assert_eq!(opcode_of(&reply), 15, "opcode echoed");
        assert_eq!(header_rcode(&reply), NOTIMP);
        assert_eq!(counts(&reply)[1], 0, "no answer");
    }
    assert_still_answers(server.address);
}

#[test]
fn rfc8906_notify_is_notimp_and_never_answered_with_data() {
    let server = TestServer::shipped();
    for name in ["example.com", "api.example.com"] {
        for qtype in [SOA, A] {
            let query = QuerySpec::new(name, qtype).opcode(4);
            let reply = udp_exchange(server.address, &query.encode()).expect("NOTIFY is answered");
            assert_eq!(opcode_of(&reply), 4, "opcode NOTIFY echoed");
            assert_eq!(header_rcode(&reply), NOTIMP);
            assert_eq!(counts(&reply)[1..3], [0, 0], "no SOA, no geo data");
        }
    }
    if have_dig() {
        let output = dig(
            server.address,
            &["+opcode=notify", "api.example.com", "SOA"],
        );
        assert!(output.contains("opcode: NOTIFY"), "{output}");
        assert!(output.contains("status: NOTIMP"), "{output}");
        assert!(output.contains("ANSWER: 0"), "{output}");
        let output = dig(server.address, &["+opcode=15", "example.com", "SOA"]);
        assert!(output.contains("status: NOTIMP"), "{output}");
    }
    assert_still_answers(server.address);
}

#[test]
fn responses_sent_to_the_server_get_no_reply() {
    let server = TestServer::shipped();
    let response = hex("beef800000010000000000000363646e076578616d706c6503636f6d0000010001");
    assert_eq!(
        udp_exchange(server.address, &response),
        None,
        "QR=1: silence"
    );
    // Also a response carrying an answer and EDNS, and over TCP.
    let mut with_edns = QuerySpec::new("www.example.com", A).with_edns();
    with_edns.flags = 0x8400;
    assert_eq!(udp_exchange(server.address, &with_edns.encode()), None);
    let mut stream = tcp_connect(server.address);
    std::io::Write::write_all(&mut stream, &framed(&response)).expect("write");
    let query = QuerySpec::new("www.example.com", A);
    std::io::Write::write_all(&mut stream, &framed(&query.encode())).expect("write");
    let reply = tcp_read_reply(&mut stream).expect("the query after it is answered");
    assert_eq!(id_of(&reply), query.id, "the only reply is to the query");
    assert_still_answers(server.address);
}

#[test]
fn rfc4343_question_is_echoed_byte_for_byte_with_0x20_case() {
    let server = TestServer::shipped();
    for name in [
        "WwW.eXaMpLe.CoM",
        "API.Example.COM",
        "x.Y.eU.ExAmPlE.cOm",
        "NoSuch.EXAMPLE.com",
    ] {
        let query = QuerySpec::new(name, A).with_edns().encode();
        let expected = &query[12..12 + encode_name(name).len() + 4];
        let over_udp = udp_exchange(server.address, &query).expect("UDP reply");
        assert_eq!(question_bytes(&over_udp), expected, "{name} over UDP");
        let over_tcp = tcp_exchange(server.address, &query);
        assert_eq!(question_bytes(&over_tcp), expected, "{name} over TCP");
        let message = parse(&over_udp);
        assert!(
            message.answers.len() + message.authorities.len() > 0,
            "{name}: answered from the data, whatever the case"
        );
    }
}

#[test]
fn rfc1035_udp_reply_without_edns_is_truncated_to_512_bytes() {
    let server = server_with_big_rrset();
    let query = QuerySpec::new("big.example.com", A).encode();
    let reply = udp_exchange(server.address, &query).expect("UDP reply");
    assert!(reply.len() <= 512, "{} bytes over 512", reply.len());
    assert!(truncated(&reply), "TC set");
    assert_eq!(reply[2] & 0x04, 0x04, "still authoritative");
    assert_eq!(question_bytes(&reply), &query[12..], "question kept");
    assert_eq!(opt_of(&reply), None, "no OPT to a query without one");
}

#[test]
fn rfc6891_payload_size_below_512_counts_as_512() {
    let server = server_with_big_rrset();
    for udp_payload in [0, 100, 511, 512] {
        let query = QuerySpec::new("big.example.com", A).with(EdnsSpec {
            udp_payload,
            ..EdnsSpec::default()
        });
        let reply = udp_exchange(server.address, &query.encode()).expect("UDP reply");
        assert!(
            reply.len() <= 512,
            "payload {udp_payload}: {} bytes",
            reply.len()
        );
        assert!(truncated(&reply), "payload {udp_payload}: TC set");
        let (our_payload, _, version, _, _) =
            opt_of(&reply).expect("OPT kept in a truncated reply");
        assert_eq!((our_payload, version), (1232, 0));
    }
    // A small answer fits in 512 bytes whatever the advertised size.
    let small = QuerySpec::new("www.example.com", A).with(EdnsSpec {
        udp_payload: 100,
        ..EdnsSpec::default()
    });
    let reply = udp_exchange(server.address, &small.encode()).expect("UDP reply");
    assert!(!truncated(&reply), "a 60-byte answer is not truncated");
    assert_eq!(counts(&reply)[1], 1);
}

#[test]
fn rfc6891_reply_fits_the_requester_payload_size_between_512_and_1232() {
    let server = server_with_big_rrset();
    // The full answer is 684 bytes: 600 is too small, 700 is enough.
    for (udp_payload, fits) in [(600u16, false), (683, false), (684, true), (700, true)] {
        let query = QuerySpec::new("big.example.com", A).with(EdnsSpec {
            udp_payload,
            ..EdnsSpec::default()
        });
        let reply = udp_exchange(server.address, &query.encode()).expect("UDP reply");
        assert!(
            reply.len() <= usize::from(udp_payload),
            "payload {udp_payload}"
        );
        assert_eq!(truncated(&reply), !fits, "payload {udp_payload}: TC");
        assert_eq!(
            counts(&reply)[1],
            if fits { 40 } else { 0 },
            "payload {udp_payload}"
        );
    }
}

#[test]
fn rfc6891_payload_size_1232_carries_all_40_records_in_one_datagram() {
    let server = server_with_big_rrset();
    let query = QuerySpec::new("big.example.com", A).with(EdnsSpec {
        udp_payload: 1232,
        ..EdnsSpec::default()
    });
    let reply = udp_exchange(server.address, &query.encode()).expect("UDP reply");
    assert!(!truncated(&reply), "TC clear");
    assert_eq!(counts(&reply)[1], 40, "all 40 records");
    assert_eq!(reply.len(), 684, "header, question, 40 × 16, OPT");
    // A larger advertised size does not make a larger reply than needed,
    // and never one above our own 1232.
    let large = QuerySpec::new("big.example.com", A).with(EdnsSpec {
        udp_payload: 65535,
        ..EdnsSpec::default()
    });
    let reply = udp_exchange(server.address, &large.encode()).expect("UDP reply");
    assert_eq!(counts(&reply)[1], 40);
    assert!(reply.len() <= 1232);
}

#[test]
fn rfc7766_truncated_answer_is_complete_over_tcp() {
    let server = server_with_big_rrset();
    let query = QuerySpec::new("big.example.com", A).encode();
    let reply = tcp_exchange(server.address, &query);
    assert!(!truncated(&reply), "TC clear over TCP");
    assert!(reply.len() > 512);
    let message = parse(&reply);
    assert_eq!(message.answers.len(), 40, "all 40 records over TCP");
}

#[test]
fn dig_sees_tc_and_retries_over_tcp() {
    let server = server_with_big_rrset();
    if !have_dig() {
        return;
    }
    for arguments in [
        &["+noedns", "+ignore", "big.example.com", "A"][..],
        &["+bufsize=512", "+ignore", "big.example.com", "A"][..],
        &["+bufsize=100", "+ignore", "big.example.com", "A"][..],
    ] {
        let output = dig(server.address, arguments);
        assert!(
            output.contains("flags: qr aa tc;"),
            "{arguments:?}: {output}"
        );
        let size = message_size(&output);
        assert!(size <= 512, "{arguments:?}: {size} bytes");
    }
    let output = dig(server.address, &["+bufsize=1232", "big.example.com", "A"]);
    assert!(output.contains("flags: qr aa;"), "{output}");
    assert!(output.contains("ANSWER: 40"), "{output}");
    let output = dig(server.address, &["+noedns", "big.example.com", "A"]);
    assert!(
        output.contains("Truncated, retrying in TCP mode"),
        "{output}"
    );
    assert!(output.contains("ANSWER: 40"), "{output}");
}

/// The `MSG SIZE  rcvd:` figure of dig's output.
fn message_size(output: &str) -> usize {
    output
        .lines()
        .find_map(|line| line.strip_prefix(";; MSG SIZE  rcvd: "))
        .and_then(|size| size.trim().parse().ok())
        .unwrap_or_else(|| panic!("no MSG SIZE in {output}"))
}

#[test]
fn rfc8482_any_query_gets_one_minimal_record() {
    let server = TestServer::shipped();
    for name in ["example.com", "www.example.com", "api.example.com"] {
        for over_tcp in [false, true] {
            let query = QuerySpec::new(name, ANY).with_edns().encode();
            let reply = if over_tcp {
                tcp_exchange(server.address, &query)
            } else {
                udp_exchange(server.address, &query).expect("UDP reply")
            };
            assert_eq!(header_rcode(&reply), NOERROR, "{name}");
            let message = parse(&reply);
            assert_eq!(message.answers.len(), 1, "{name}: one record, not the node");
            let record = &message.answers[0];
            assert_eq!(u16::from(record.record_type()), 13, "{name}: HINFO");
            assert!(record.data.to_string().contains("RFC8482"), "{name}");
        }
    }
    // A name that does not exist is still NXDOMAIN.
    let reply = udp_exchange(
        server.address,
        &QuerySpec::new("nosuch.example.com", ANY).encode(),
    )
    .expect("UDP reply");
    assert_eq!(header_rcode(&reply), 3);
}

/// The TXT strings of the first answer of a reply.
fn txt_answer(reply: &[u8]) -> String {
    let message = parse(reply);
    let record = message.answers.first().expect("a TXT answer");
    assert_eq!(u16::from(record.record_type()), TXT);
    record.data.to_string().trim_matches('"').to_owned()
}

#[test]
fn chaos_version_bind_and_id_server_answer_from_config() {
    let server = TestServer::shipped();
    for (name, expected) in [
        ("version.bind", "pindns"),
        ("VERSION.BIND", "pindns"),
        ("version.server", "pindns"),
        ("id.server", "pindns.example"),
        ("hostname.bind", "pindns.example"),
    ] {
        let mut query = QuerySpec::new(name, TXT);
        query.qclass = CH;
        let reply = udp_exchange(server.address, &query.encode()).expect("CH reply");
        assert_eq!(header_rcode(&reply), NOERROR, "{name}");
        assert_eq!(txt_answer(&reply), expected, "{name}");
        assert_eq!(
            question_bytes(&reply),
            &query.encode()[12..],
            "{name}: question echoed"
        );
    }
    if have_dig() {
        let output = dig(server.address, &["+short", "CH", "TXT", "version.bind"]);
        assert_eq!(output.trim(), "\"pindns\"");
        let output = dig(server.address, &["+short", "CH", "TXT", "id.server"]);
        assert_eq!(output.trim(), "\"pindns.example\"");
    }
    // Anything else in CHAOS is refused.
    let mut other = QuerySpec::new("authors.bind", TXT);
    other.qclass = CH;
    let reply = udp_exchange(server.address, &other.encode()).expect("CH reply");
    assert_eq!(header_rcode(&reply), REFUSED);
}

#[test]
fn chaos_identity_is_refused_when_not_configured() {
    let server = TestServer::edited(|root| {
        set_server_setting(root, "version", None);
        set_server_setting(root, "identity", None);
    });
    for name in [
        "version.bind",
        "id.server",
        "hostname.bind",
        "version.server",
    ] {
        let mut query = QuerySpec::new(name, TXT);
        query.qclass = CH;
        let reply = udp_exchange(server.address, &query.encode()).expect("CH reply");
        assert_eq!(header_rcode(&reply), REFUSED, "{name}");
        assert_eq!(counts(&reply)[1], 0, "{name}: nothing disclosed");
    }
}

#[test]
fn zone_transfers_are_refused() {
    let server = TestServer::shipped();
    for qtype in [AXFR, IXFR] {
        let query = QuerySpec::new("example.com", qtype).encode();
        let reply = tcp_exchange(server.address, &query);
        assert_eq!(header_rcode(&reply), REFUSED, "type {qtype} over TCP");
        assert_eq!(counts(&reply)[1], 0);
        let reply = udp_exchange(server.address, &query).expect("UDP reply");
        assert_eq!(header_rcode(&reply), REFUSED, "type {qtype} over UDP");
    }
    if have_dig() {
        let output = dig(server.address, &["AXFR", "example.com"]);
        assert!(output.contains("Transfer failed"), "{output}");
    }
}

#[test]
fn unknown_query_type_gets_nodata_not_an_error() {
    let server = TestServer::shipped();
    let reply = udp_exchange(
        server.address,
        &QuerySpec::new("www.example.com", 666).encode(),
    )
    .expect("UDP reply");
    assert_eq!(header_rcode(&reply), NOERROR);
    assert_eq!(counts(&reply)[1..3], [0, 1], "NODATA: SOA in authority");
}

#[test]
fn header_z_bit_and_unknown_flags_are_not_echoed() {
    let server = TestServer::shipped();
    let mut query = QuerySpec::new("www.example.com", A);
    // RD, Z, AD and CD set in the query; only RD and CD are copied.
    query.flags = 0x0100 | 0x0040 | 0x0020 | 0x0010;
    let reply = udp_exchange(server.address, &query.encode()).expect("UDP reply");
    assert_eq!(reply[2] & 0x01, 0x01, "RD copied");
    assert_eq!(reply[3] & 0x80, 0, "RA clear: no recursion");
    assert_eq!(reply[3] & 0x40, 0, "Z clear");
    assert_eq!(reply[3] & 0x20, 0, "AD clear");
    assert_eq!(reply[3] & 0x10, 0x10, "CD copied");
}

/// Sends hostile input and checks the outcome is FORMERR or silence.
fn expect_formerr_or_silence(server: SocketAddr, input: &[u8]) {
    match udp_exchange_within(server, input, std::time::Duration::from_millis(300)) {
        None => {}
        Some(reply) => {
            assert!(
                input.len() >= 12,
                "a reply to {input:02x?} without a header"
            );
            assert_eq!(reply[..2], input[..2], "ID echoed for {input:02x?}");
            assert!(
                matches!(header_rcode(&reply), FORMERR | NOTIMP),
                "rcode {} for {input:02x?}",
                header_rcode(&reply)
            );
            parse(&reply);
        }
    }
}

#[test]
fn garbage_and_short_packets_get_formerr_or_silence_and_serving_goes_on() {
    let server = TestServer::shipped();
    let valid = QuerySpec::new("www.example.com", A).with_edns().encode();
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0],
        vec![0x12, 0x34],
        valid[..11].to_vec(),
        valid[..12].to_vec(),
        valid[..20].to_vec(),
        valid[..valid.len() - 1].to_vec(),
        vec![0xFF; 64],
        vec![0; 512],
    ];
    // A name with a compression loop, a pointer, a bad label type, an
    // over-long name, and counts far above what the message holds.
    let mut looped = valid[..12].to_vec();
    looped.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    inputs.push(looped);
    let mut label_type = valid[..12].to_vec();
    label_type.extend_from_slice(&[0x40, 1, 0, 0, 1, 0, 1]);
    inputs.push(label_type);
    let mut long_name = valid[..12].to_vec();
    for _ in 0..5 {
        long_name.push(63);
        long_name.extend_from_slice(&[b'a'; 63]);
    }
    long_name.extend_from_slice(&[0, 0, 1, 0, 1]);
    inputs.push(long_name);
    let mut many = valid.clone();
    many[6..12].copy_from_slice(&[0xFF; 6]);
    inputs.push(many);
    // Two OPT records; an OPT in the answer section; an option running
    // past the OPT's RDATA.
    let mut two_opts = valid.clone();
    two_opts[10..12].copy_from_slice(&2u16.to_be_bytes());
    two_opts.extend_from_slice(&encode_opt(&EdnsSpec::default()));
    inputs.push(two_opts);
    let mut opt_in_answer = valid.clone();
    opt_in_answer[6..8].copy_from_slice(&1u16.to_be_bytes());
    opt_in_answer[10..12].copy_from_slice(&0u16.to_be_bytes());
    inputs.push(opt_in_answer);
    let mut bad_option = QuerySpec::new("www.example.com", A).encode();
    bad_option[10..12].copy_from_slice(&1u16.to_be_bytes());
    bad_option.extend_from_slice(&hex("0000292000000000000004000800ff"));
    inputs.push(bad_option);
    for input in &inputs {
        expect_formerr_or_silence(server.address, input);
    }
    // The same over TCP on one connection: the connection may close, the
    // server must not.
    for input in &inputs {
        let mut stream = tcp_connect(server.address);
        stream
            .set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .expect("read timeout");
        let _ = std::io::Write::write_all(&mut stream, &framed(input));
        if let Some(reply) = tcp_read_reply(&mut stream) {
            assert!(matches!(header_rcode(&reply), FORMERR | NOTIMP));
        }
    }
    assert_still_answers(server.address);
}
