//! pindns behind a real recursive resolver: Unbound, started on a free
//! loopback port with a stub zone for example.com pointing at pindns,
//! resolves pinned and static names end to end. Skipped (with a message)
//! when Unbound is not installed; `.ci/run` installs it.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::rr::RData;

use crate::wire_client::*;

/// A type number.
const A: u16 = 1;
/// AAAA type number.
const AAAA: u16 = 28;
/// CNAME type number.
const CNAME: u16 = 5;
/// MX type number.
const MX: u16 = 15;
/// EDNS option code of Client Subnet.
const ECS: u16 = 8;

/// Where the Unbound binary is, if installed.
fn unbound_binary() -> Option<PathBuf> {
    let on_path = Command::new("unbound")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if on_path {
        return Some(PathBuf::from("unbound"));
    }
    let system = PathBuf::from("/usr/sbin/unbound");
    system.exists().then_some(system)
}

/// A running Unbound, stopped when dropped.
struct Unbound {
    /// The process.
    child: Child,
    /// Where it answers.
    address: SocketAddr,
    /// Its configuration and working directory.
    _dir: tempfile::TempDir,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago (for UDP and TCP alike).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
        let port = udp.local_addr().expect("probe address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts Unbound with a stub zone for example.com at `pindns`, iterator
/// only (no DNSSEC validation), plus `extra` server options.
fn start_unbound(binary: &Path, pindns: SocketAddr, modules: &str, extra: &str) -> Unbound {
    let dir = tempfile::tempdir().expect("Unbound directory");
    let port = free_port();
    let config = format!(
        r#"server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    so-reuseport: no
    module-config: "{modules}"
    domain-insecure: "example.com"
    # 0x20: pindns must echo the question's case for the answer to count.
    use-caps-for-id: yes
{extra}
remote-control:
    control-enable: no

stub-zone:
    name: "example.com"
    stub-addr: {pindns_ip}@{pindns_port}
"#,
        dir = dir.path().display(),
        pindns_ip = pindns.ip(),
        pindns_port = pindns.port(),
    );
    let config_path = dir.path().join("unbound.conf");
    std::fs::write(&config_path, config).expect("write unbound.conf");
    let log = std::fs::File::create(dir.path().join("unbound.log")).expect("Unbound log");
    let child = Command::new(binary)
        .arg("-d")
        .arg("-c")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start unbound");
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut unbound = Unbound {
        child,
        address,
        _dir: dir,
    };
    // Ready once it answers anything (REFUSED or SERVFAIL count).
    let deadline = Instant::now() + Duration::from_secs(20);
    let probe = QuerySpec::new("ready.invalid", A).encode();
    loop {
        if udp_exchange_within(address, &probe, Duration::from_millis(200)).is_some() {
            return unbound;
        }
        if let Ok(Some(status)) = unbound.child.try_wait() {
            let log = std::fs::read_to_string(unbound._dir.path().join("unbound.log"))
                .unwrap_or_default();
            panic!("unbound exited ({status}): {log}");
        }
        assert!(Instant::now() < deadline, "unbound did not start answering");
    }
}

/// Asks the resolver (RD set) and returns the reply.
fn resolve_through(resolver: SocketAddr, name: &str, qtype: u16) -> Vec<u8> {
    let mut query = QuerySpec::new(name, qtype).with_edns();
    query.flags = 0x0100;
    // A cold resolver may need more than one try.
    for _ in 0..5 {
        if let Some(reply) = udp_exchange(resolver, &query.encode()) {
            return reply;
        }
    }
    panic!("no answer from unbound for {name}");
}

/// The A/AAAA addresses and CNAME targets of a resolver's answer.
fn answers(reply: &[u8]) -> (Vec<IpAddr>, Vec<String>) {
    let message = parse(reply);
    let mut addresses = Vec::new();
    let mut targets = Vec::new();
    for record in &message.answers {
        match &record.data {
            RData::A(a) => addresses.push(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => addresses.push(IpAddr::V6(aaaa.0)),
            RData::CNAME(target) => targets.push(target.0.to_ascii()),
            _ => {}
        }
    }
    (addresses, targets)
}

/// Parses addresses for comparisons.
fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter()
        .map(|text| text.parse().expect("address"))
        .collect()
}

#[test]
fn unbound_resolves_pinned_and_static_names_through_pindns() {
    let Some(binary) = unbound_binary() else {
        eprintln!("unbound is not installed: skipping the end-to-end resolver test");
        return;
    };
    let pindns = TestServer::shipped();
    let unbound = start_unbound(&binary, pindns.address, "iterator", "");
    // Unbound without the subnetcache module sends no Client Subnet: pindns
    // sees the resolver's 127.0.0.1, which no database places, so each
    // pinned domain gets the first PoP it lists (SPEC.md rule 5).
    let cases: [(&str, u16, &[&str]); 12] = [
        ("api.example.com", A, &["192.0.2.1"]),
        ("api.example.com", AAAA, &["2001:db8::1"]),
        ("API.Example.COM", A, &["192.0.2.1"]),
        ("global.example.com", A, &["192.0.2.1"]),
        ("unpinned.example.com", AAAA, &["2001:db8::1"]),
        ("dedicated.example.com", A, &["203.0.113.10"]),
        ("dedicated.example.com", AAAA, &["2001:db8:ff::10"]),
        ("mixed.example.com", A, &["203.0.113.20"]),
        ("x.y.eu.example.com", A, &["192.0.2.3"]),
        ("www.example.com", A, &["192.0.2.80"]),
        ("www.example.com", AAAA, &["2001:db8::80"]),
        ("ns1.example.com", A, &["192.0.2.53"]),
    ];
    for (name, qtype, expected) in cases {
        let reply = resolve_through(unbound.address, name, qtype);
        assert_eq!(header_rcode(&reply), 0, "{name} {qtype}");
        assert_eq!(reply[3] & 0x80, 0x80, "{name}: RA from the resolver");
        let (addresses, _) = answers(&reply);
        assert_eq!(addresses, ips(expected), "{name} {qtype}");
        assert!(opt_of(&reply).is_none_or(|opt| opt.4.iter().all(|(code, _)| *code != ECS)));
    }
    // A CNAME inside the zone is followed.
    let reply = resolve_through(unbound.address, "docs.example.com", A);
    let (addresses, targets) = answers(&reply);
    assert_eq!(targets, vec!["www.example.com.".to_owned()]);
    assert_eq!(addresses, ips(&["192.0.2.80"]));
    let reply = resolve_through(unbound.address, "docs.example.com", CNAME);
    assert_eq!(answers(&reply).1, vec!["www.example.com.".to_owned()]);
    // MX from the zone; NODATA and NXDOMAIN come through as such.
    let reply = resolve_through(unbound.address, "example.com", MX);
    assert_eq!(parse(&reply).answers.len(), 1, "the MX");
    for (name, qtype, rcode) in [
        ("mixed.example.com", AAAA, 0),
        ("api.example.com", MX, 0),
        ("nosuch.example.com", A, 3),
        ("deeper.nosuch.example.com", AAAA, 3),
    ] {
        let reply = resolve_through(unbound.address, name, qtype);
        assert_eq!(header_rcode(&reply), rcode, "{name} {qtype}");
        assert_eq!(counts(&reply)[1], 0, "{name}: no answer records");
    }
    if have_dig() {
        let output = Command::new("dig")
            .arg(format!("@{}", unbound.address.ip()))
            .args(["-p", &unbound.address.port().to_string()])
            .args(["+short", "+time=2", "+tries=3", "api.example.com", "A"])
            .output()
            .expect("dig runs");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "192.0.2.1");
    }
}

#[test]
fn unbound_with_subnetcache_forwards_client_subnet_and_gets_the_nearest_pop() {
    let Some(binary) = unbound_binary() else {
        eprintln!("unbound is not installed: skipping the end-to-end resolver test");
        return;
    };
    let pindns = TestServer::shipped();
    // The subnet module sends ECS to pindns and caches answers by the
    // scope pindns gives.
    let extra = format!(
        "    send-client-subnet: {}\n    client-subnet-always-forward: yes\n",
        pindns.address.ip()
    );
    let unbound = start_unbound(&binary, pindns.address, "subnetcache iterator", &extra);
    let ask = |network: &str, name: &str, qtype: u16| {
        let mut query = QuerySpec::new(name, qtype).with(EdnsSpec {
            options: vec![(ECS, ecs_payload(network))],
            ..EdnsSpec::default()
        });
        query.flags = 0x0100;
        let reply = (0..5)
            .find_map(|_| udp_exchange(unbound.address, &query.encode()))
            .unwrap_or_else(|| panic!("no answer from unbound for {name} from {network}"));
        assert_eq!(header_rcode(&reply), 0, "{name} from {network}");
        answers(&reply).0
    };
    // Berlin and Tokyo are both nearer Frankfurt than Ohio for api; global
    // is answered from Tokyo for Tokyo, from California for Stanford. The
    // repeated Tokyo query checks that the cached Stanford answer is not
    // served to another network.
    let cases: [(&str, &str, u16, &str); 7] = [
        ("130.149.1.0/24", "api.example.com", A, "192.0.2.3"),
        ("133.11.1.0/24", "api.example.com", A, "192.0.2.3"),
        ("171.64.1.0/24", "api.example.com", A, "192.0.2.1"),
        ("133.11.1.0/24", "global.example.com", A, "192.0.2.7"),
        ("171.64.1.0/24", "global.example.com", A, "192.0.2.2"),
        ("133.11.1.0/24", "global.example.com", A, "192.0.2.7"),
        ("2003::/48", "api.example.com", AAAA, "2001:db8::3"),
    ];
    for (network, name, qtype, expected) in cases {
        assert_eq!(
            ask(network, name, qtype),
            ips(&[expected]),
            "{name} from {network}"
        );
    }
}
