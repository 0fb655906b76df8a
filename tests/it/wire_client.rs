//! Raw-bytes DNS client for protocol tests: queries are built byte by byte
//! (so that malformed ones can be sent too), replies are read back both as
//! bytes and through hickory-proto's decoder.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::Message;
use pindns::server::{Options, Server};

/// How long a test waits for a reply before calling it silence.
pub(crate) const REPLY_WAIT: Duration = Duration::from_millis(1500);

/// The repository root, where the shipped config.toml lives.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A pindns serving on a free loopback port, from the shipped files or
/// from an edited copy of them in a temporary directory.
pub(crate) struct TestServer {
    /// The running server.
    server: Option<Server>,
    /// Where it serves UDP and TCP.
    pub(crate) address: SocketAddr,
    /// The copy of the files, when the test edited them.
    _files: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Serves the shipped config.toml, zones and pins.
    pub(crate) fn shipped() -> Self {
        Self::from_config(&repo_root().join("config.toml"), None)
    }

    /// Copies config.toml and zones/ into a temporary directory (data/ is
    /// linked), lets `edit` change them, and serves the copy.
    pub(crate) fn edited(edit: impl FnOnce(&Path)) -> Self {
        let files = tempfile::tempdir().expect("temporary directory");
        let root = files.path();
        std::fs::copy(repo_root().join("config.toml"), root.join("config.toml"))
            .expect("copy config.toml");
        std::fs::create_dir(root.join("zones")).expect("zones directory");
        for entry in std::fs::read_dir(repo_root().join("zones")).expect("read zones") {
            let entry = entry.expect("zones entry");
            std::fs::copy(entry.path(), root.join("zones").join(entry.file_name()))
                .expect("copy zone file");
        }
        // Paths in config.toml are relative to it: data/ resolves as in
        // the repository.
        std::os::unix::fs::symlink(repo_root().join("data"), root.join("data"))
            .expect("link data/");
        edit(root);
        let config = root.join("config.toml");
        Self::from_config(&config, Some(files))
    }

    /// Starts the server on `127.0.0.1:0`.
    fn from_config(config: &Path, files: Option<tempfile::TempDir>) -> Self {
        let options = Options {
            listen: Some(vec!["127.0.0.1:0".parse().expect("loopback address")]),
        };
        let server = Server::start(config, &options).expect("pindns starts");
        let address = server.addresses()[0];
        Self {
            server: Some(server),
            address,
            _files: files,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

/// Replaces `key = ...` in the `[server]` table of a copied config.toml
/// (or adds it there when absent; a `None` value removes it).
pub(crate) fn set_server_setting(root: &Path, key: &str, value: Option<&str>) {
    let path = root.join("config.toml");
    let text = std::fs::read_to_string(&path).expect("read config.toml");
    let mut lines: Vec<String> = Vec::new();
    let mut in_server = false;
    let mut done = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if in_server && !done {
                if let Some(value) = value {
                    lines.push(format!("{key} = {value}"));
                }
                done = true;
            }
            in_server = trimmed.starts_with("[server]");
        }
        let is_key = trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if in_server && is_key {
            if let Some(value) = value {
                lines.push(format!("{key} = {value}"));
            }
            done = true;
            continue;
        }
        lines.push(line.to_owned());
    }
    assert!(done, "config.toml has a [server] table followed by another");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write config.toml");
}

/// The EDNS part of a query under construction.
#[derive(Debug, Clone)]
pub(crate) struct EdnsSpec {
    /// Advertised UDP payload size.
    pub(crate) udp_payload: u16,
    /// EDNS version.
    pub(crate) version: u8,
    /// The 16 flag bits (DO is 0x8000).
    pub(crate) flags: u16,
    /// Options as (code, payload).
    pub(crate) options: Vec<(u16, Vec<u8>)>,
}

impl Default for EdnsSpec {
    fn default() -> Self {
        Self {
            udp_payload: 1232,
            version: 0,
            flags: 0,
            options: Vec::new(),
        }
    }
}

/// A query to be encoded byte for byte.
#[derive(Debug, Clone)]
pub(crate) struct QuerySpec {
    /// Message ID.
    pub(crate) id: u16,
    /// Header flag word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub(crate) flags: u16,
    /// Question name in presentation form, case kept.
    pub(crate) name: String,
    /// Question type.
    pub(crate) qtype: u16,
    /// Question class.
    pub(crate) qclass: u16,
    /// OPT record, if any.
    pub(crate) edns: Option<EdnsSpec>,
}

impl QuerySpec {
    /// A class IN query with ID 0x1234, no flags and no EDNS.
    pub(crate) fn new(name: &str, qtype: u16) -> Self {
        Self {
            id: 0x1234,
            flags: 0,
            name: name.to_owned(),
            qtype,
            qclass: 1,
            edns: None,
        }
    }

    /// Adds a default OPT record (version 0, payload 1232).
    pub(crate) fn with_edns(mut self) -> Self {
        self.edns = Some(EdnsSpec::default());
        self
    }

    /// Adds an OPT record.
    pub(crate) fn with(mut self, edns: EdnsSpec) -> Self {
        self.edns = Some(edns);
        self
    }

    /// Sets the opcode.
    pub(crate) fn opcode(mut self, opcode: u8) -> Self {
        self.flags = (self.flags & !0x7800) | (u16::from(opcode & 0x0F) << 11);
        self
    }

    /// The wire-format message.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&u16::from(self.edns.is_some()).to_be_bytes());
        out.extend_from_slice(&encode_name(&self.name));
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some(edns) = &self.edns {
            out.extend_from_slice(&encode_opt(edns));
        }
        out
    }
}

/// A name in uncompressed wire format, case kept.
pub(crate) fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(u8::try_from(label.len()).expect("label fits"));
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// An OPT pseudo-record.
pub(crate) fn encode_opt(edns: &EdnsSpec) -> Vec<u8> {
    let mut rdata = Vec::new();
    for (code, payload) in &edns.options {
        rdata.extend_from_slice(&code.to_be_bytes());
        rdata.extend_from_slice(
            &u16::try_from(payload.len())
                .expect("option fits")
                .to_be_bytes(),
        );
        rdata.extend_from_slice(payload);
    }
    let mut out = vec![0];
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&edns.udp_payload.to_be_bytes());
    out.push(0);
    out.push(edns.version);
    out.extend_from_slice(&edns.flags.to_be_bytes());
    out.extend_from_slice(
        &u16::try_from(rdata.len())
            .expect("rdata fits")
            .to_be_bytes(),
    );
    out.extend_from_slice(&rdata);
    out
}

/// An ECS option payload for an address and source prefix (scope 0).
pub(crate) fn ecs_payload(network: &str) -> Vec<u8> {
    let (address, prefix) = network.split_once('/').expect("ADDRESS/PREFIX");
    let address: std::net::IpAddr = address.parse().expect("ECS address");
    let prefix: u8 = prefix.parse().expect("ECS prefix");
    let (family, octets): (u16, Vec<u8>) = match address {
        std::net::IpAddr::V4(v4) => (1, v4.octets().to_vec()),
        std::net::IpAddr::V6(v6) => (2, v6.octets().to_vec()),
    };
    let mut out = family.to_be_bytes().to_vec();
    out.push(prefix);
    out.push(0);
    out.extend_from_slice(&octets[..usize::from(prefix).div_ceil(8)]);
    out
}

/// Bytes from hex text (spaces allowed).
pub(crate) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| {
            u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex digit")
        })
        .collect()
}

/// Sends one datagram and returns the reply, or `None` after [`REPLY_WAIT`].
pub(crate) fn udp_exchange(server: SocketAddr, message: &[u8]) -> Option<Vec<u8>> {
    udp_exchange_within(server, message, REPLY_WAIT)
}

/// Sends one datagram and waits at most `wait` for the reply.
pub(crate) fn udp_exchange_within(
    server: SocketAddr,
    message: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP client");
    socket.set_read_timeout(Some(wait)).expect("read timeout");
    socket.send_to(message, server).expect("send datagram");
    let mut buffer = vec![0u8; 65535];
    match socket.recv(&mut buffer) {
        Ok(length) => {
            buffer.truncate(length);
            Some(buffer)
        }
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(error) => panic!("UDP receive failed: {error}"),
    }
}

/// Opens a TCP connection with a read timeout.
pub(crate) fn tcp_connect(server: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(server).expect("TCP connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Frames a message with its two-byte length (RFC 1035 §4.2.2).
pub(crate) fn framed(message: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(message.len())
        .expect("message fits")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(message);
    out
}

/// Reads one length-prefixed reply; `None` when the server closed.
pub(crate) fn tcp_read_reply(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut prefix = [0u8; 2];
    if stream.read_exact(&mut prefix).is_err() {
        return None;
    }
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut reply).ok()?;
    Some(reply)
}

/// Sends one query on a fresh TCP connection and reads its reply.
pub(crate) fn tcp_exchange(server: SocketAddr, message: &[u8]) -> Vec<u8> {
    let mut stream = tcp_connect(server);
    stream.write_all(&framed(message)).expect("TCP write");
    tcp_read_reply(&mut stream).expect("TCP reply")
}

/// Whether the server closed the connection (EOF or reset) within `wait`.
pub(crate) fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("read timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Decodes a reply with hickory-proto, failing the test if it cannot.
pub(crate) fn parse(reply: &[u8]) -> Message {
    Message::from_vec(reply).expect("reply parses as a DNS message")
}

/// ID of a raw message.
pub(crate) fn id_of(message: &[u8]) -> u16 {
    u16::from_be_bytes([message[0], message[1]])
}

/// Header RCODE (low four bits) of a raw message.
pub(crate) fn header_rcode(message: &[u8]) -> u8 {
    message[3] & 0x0F
}

/// Opcode of a raw message.
pub(crate) fn opcode_of(message: &[u8]) -> u8 {
    (message[2] >> 3) & 0x0F
}

/// Whether TC is set in a raw message.
pub(crate) fn truncated(message: &[u8]) -> bool {
    message[2] & 0x02 != 0
}

/// The four section counts of a raw message.
pub(crate) fn counts(message: &[u8]) -> [u16; 4] {
    let at = |index: usize| u16::from_be_bytes([message[4 + 2 * index], message[5 + 2 * index]]);
    [at(0), at(1), at(2), at(3)]
}

/// An OPT record's payload size, extended rcode, version, flags and
/// options as (code, payload).
pub(crate) type OptFields = (u16, u8, u8, u16, Vec<(u16, Vec<u8>)>);

/// The OPT record of a raw reply: (payload size, extended rcode, version,
/// flags, options), found by walking every section.
pub(crate) fn opt_of(message: &[u8]) -> Option<OptFields> {
    let [questions, answers, authority, additional] = counts(message);
    let mut offset = 12;
    for _ in 0..questions {
        offset = skip_name(message, offset) + 4;
    }
    let records = u32::from(answers) + u32::from(authority) + u32::from(additional);
    for _ in 0..records {
        let owner = offset;
        offset = skip_name(message, offset);
        let field = |at: usize| u16::from_be_bytes([message[at], message[at + 1]]);
        let record_type = field(offset);
        let class = field(offset + 2);
        let ttl = &message[offset + 4..offset + 8];
        let rdata_len = usize::from(field(offset + 8));
        let rdata = &message[offset + 10..offset + 10 + rdata_len];
        offset += 10 + rdata_len;
        if record_type == 41 {
            assert_eq!(message[owner], 0, "OPT owner is the root");
            let mut options = Vec::new();
            let mut at = 0;
            while at < rdata.len() {
                let code = u16::from_be_bytes([rdata[at], rdata[at + 1]]);
                let length = usize::from(u16::from_be_bytes([rdata[at + 2], rdata[at + 3]]));
                options.push((code, rdata[at + 4..at + 4 + length].to_vec()));
                at += 4 + length;
            }
            let flags = u16::from_be_bytes([ttl[2], ttl[3]]);
            return Some((class, ttl[0], ttl[1], flags, options));
        }
    }
    None
}

/// Skips a possibly compressed name.
fn skip_name(message: &[u8], mut offset: usize) -> usize {
    loop {
        let length = message[offset];
        if length == 0 {
            return offset + 1;
        }
        if length & 0xC0 == 0xC0 {
            return offset + 2;
        }
        offset += 1 + usize::from(length);
    }
}

/// The question section of a raw message with QDCOUNT 1.
pub(crate) fn question_bytes(message: &[u8]) -> &[u8] {
    let end = skip_name(message, 12) + 4;
    &message[12..end]
}

/// Runs `dig` against the server with extra arguments; returns stdout.
pub(crate) fn dig(server: SocketAddr, arguments: &[&str]) -> String {
    let output = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+norec", "+nocookie", "+time=2", "+tries=1"])
        .args(arguments)
        .output()
        .expect("dig runs (package dnsutils / bind9-dnsutils)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether `dig` is installed; tests that need it say so and skip.
pub(crate) fn have_dig() -> bool {
    let found = Command::new("dig").arg("-v").output().is_ok();
    if !found {
        eprintln!("dig is not installed: skipping the dig checks");
    }
    found
}

/// A normal query after an odd one must still be answered: the server
/// keeps serving.
pub(crate) fn assert_still_answers(server: SocketAddr) {
    let reply = udp_exchange(server, &QuerySpec::new("www.example.com", 1).encode())
        .expect("the server still answers a normal query");
    let message = parse(&reply);
    assert_eq!(header_rcode(&reply), 0, "normal query answered NOERROR");
    assert_eq!(message.answers.len(), 1, "www.example.com A has one record");
}
