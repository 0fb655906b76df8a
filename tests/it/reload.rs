//! Hot reload: pin table and zone files follow their files atomically,
//! whatever tool writes them, losing no query and never applying a bad or
//! half-written file (SPEC "Reload"; cases C13 and C15).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::support::{Fixture, QueryBuilder, Reply, TestServer, ip, query, rcode};

/// How long a change may take to be served (debounce plus reload).
const SETTLE: Duration = Duration::from_secs(3);

/// The F0 address of a PoP.
fn f0(code: &str) -> IpAddr {
    ip(match code {
        "ams" => "192.0.2.10",
        "fra" => "192.0.2.20",
        "nrt" => "192.0.2.30",
        "iad" => "192.0.2.40",
        "gru" => "192.0.2.50",
        other => panic!("no F0 PoP {other}"),
    })
}

/// The F0 pin table with `r.example.com` pinned to `pop`.
fn pins_with_r_at(pop: &str) -> String {
    crate::support::F0_PINS.replace("ips = [\"ams\"]", &format!("ips = [\"{pop}\"]"))
}

/// One UDP exchange with a deadline; `None` on timeout.
fn ask_once(socket: &UdpSocket, server: SocketAddr, query: &QueryBuilder) -> Option<Reply> {
    let bytes = query.build();
    socket.send_to(&bytes, server).ok()?;
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(1);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let Ok(length) = socket.recv(&mut buffer) else {
            return None;
        };
        if buffer[..2] == bytes[..2] {
            return Some(Reply::parse(buffer[..length].to_vec()));
        }
    }
    None
}

/// What a querier saw for one name.
#[derive(Debug, Default)]
struct Seen {
    /// Distinct answer sets.
    answers: BTreeSet<Vec<IpAddr>>,
    /// Queries sent.
    sent: usize,
    /// Timeouts, error codes and empty answers, described.
    failures: Vec<String>,
}

/// A client that keeps querying names over UDP until stopped.
struct Querier {
    /// Tells the thread to stop.
    stop: Arc<AtomicBool>,
    /// The querying thread.
    thread: JoinHandle<Vec<Seen>>,
}

impl Querier {
    /// Starts querying `names` (A) in turn, as fast as replies come.
    fn start(server: SocketAddr, names: &[&str]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
            let mut seen: Vec<Seen> = names.iter().map(|_| Seen::default()).collect();
            while !flag.load(Ordering::Relaxed) {
                for (name, seen) in names.iter().zip(&mut seen) {
                    seen.sent += 1;
                    match ask_once(&socket, server, &query(name, RecordType::A)) {
                        None => seen.failures.push(format!("{name}: timeout")),
                        Some(reply) if reply.rcode() != rcode::NOERROR => {
                            seen.failures
                                .push(format!("{name}: rcode {}", reply.rcode()));
                        }
                        Some(reply) if reply.addresses().is_empty() => {
                            seen.failures.push(format!("{name}: empty answer"));
                        }
                        Some(reply) => {
                            let mut addresses = reply.addresses();
                            addresses.sort();
                            seen.answers.insert(addresses);
                        }
                    }
                }
            }
            seen
        });
        Self { stop, thread }
    }

    /// Stops and returns what was seen, per name.
    fn finish(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the querier does not panic")
    }
}

/// The addresses `name` A answers now (over UDP).
fn a_addresses(server: &TestServer, name: &str) -> Vec<IpAddr> {
    server.ask_udp(&query(name, RecordType::A)).addresses()
}

/// Waits until `name` A answers exactly `expected` (over UDP).
fn wait_for_answer(server: &TestServer, name: &str, expected: &[IpAddr]) {
    wait_for_answer_within(server, name, expected, SETTLE);
}

/// Waits up to `limit` until `name` A answers exactly `expected`.
fn wait_for_answer_within(server: &TestServer, name: &str, expected: &[IpAddr], limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = a_addresses(server, name);
        if last == expected {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{name} answers {last:?}, not {expected:?}, {limit:?} after the change");
}

/// Replaces a file the way editors and config management do: write a
/// temporary file beside it, then rename it over.
fn save_by_rename(path: &Path, contents: &str) {
    let temporary = path.with_extension("tmp~");
    std::fs::write(&temporary, contents).expect("write the temporary file");
    std::fs::rename(&temporary, path).expect("rename over the file");
}

/// Truncates the file in place, pauses past the debounce window, then
/// writes the new contents into the same inode.
fn save_in_place(path: &Path, contents: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open the file for writing");
    file.flush().expect("flush the truncation");
    std::thread::sleep(Duration::from_millis(60));
    file.write_all(contents.as_bytes()).expect("write the file");
}

/// Truncates the file in place and writes `first` into it, leaving it
/// open for writing: a save in progress, its writer not yet closed.
fn begin_write_in_place(path: &Path, first: &[u8]) -> std::fs::File {
    use std::io::Write;
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open the file for writing");
    writer.write_all(first).expect("write the first part");
    writer.flush().expect("flush");
    writer
}

/// Deletes the file, pauses past the debounce window, writes it anew.
fn save_by_delete_and_recreate(path: &Path, contents: &str) {
    std::fs::remove_file(path).expect("delete the file");
    std::thread::sleep(Duration::from_millis(60));
    std::fs::write(path, contents).expect("recreate the file");
}

/// The CH TXT `generation.pindns` text of a server.
fn generation_text(server: &TestServer) -> String {
    pindns::net::query_generation(server.address()).expect("generation.pindns answers")
}

/// The generation number a server publishes.
fn generation(server: &TestServer) -> u64 {
    let text = generation_text(server);
    text.split_whitespace()
        .nth(1)
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no generation in {text:?}"))
}

/// The rejected-reload count a server at `address` publishes.
pub(crate) fn failed_reloads_at(address: SocketAddr) -> u64 {
    let text = pindns::net::query_generation(address).expect("generation.pindns answers");
    text.rsplit(' ')
        .next()
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no failed-reloads in {text:?}"))
}

/// Waits until the server at `address` has rejected `count` reloads.
pub(crate) fn wait_for_failed_reloads_at(address: SocketAddr, count: u64) {
    let deadline = Instant::now() + SETTLE;
    while failed_reloads_at(address) < count {
        assert!(Instant::now() < deadline, "the bad file was never rejected");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The rejected-reload count a server publishes.
fn failed_reloads(server: &TestServer) -> u64 {
    failed_reloads_at(server.address())
}

/// Waits until the failed-reload count reaches `count`.
fn wait_for_failed_reloads(server: &TestServer, count: u64) {
    wait_for_failed_reloads_at(server.address(), count);
}

#[test]
/// The pin file rewritten 100+ times, by rename, in place, by delete and
/// recreate, and with invalid contents, under continuous UDP queries:
/// no query fails, no answer comes from an invalid file, the last valid
/// file wins.
fn pin_table_rewritten_every_way_loses_no_query_and_never_applies_a_bad_file() {
    let server = Fixture::f0().start();
    let pins = server.fixture().path().join("pins.toml");
    let querier = Querier::start(server.address(), &["r.example.com", "cdn.example.com"]);
    let valid_pops = ["nrt", "iad", "ams", "fra"];
    // gru appears only in invalid files: it must never be answered.
    let invalid = [
        // TOML syntax error.
        pins_with_r_at("gru").replace("ips = [\"gru\"]", "ips = [\"gru\""),
        // An unknown region target in another entry: the whole file goes.
        format!(
            "{}\n[[reserved_domain]]\ndomain = \"x.example.com\"\nips = [\"banana\"]\n",
            pins_with_r_at("gru")
        ),
        // A duplicate name.
        format!(
            "{}\n[[reserved_domain]]\ndomain = \"r.example.com\"\nips = [\"gru\"]\n",
            pins_with_r_at("gru")
        ),
    ];
    let mut last_valid = "ams";
    let mut writes = 0;
    let mut round = 0usize;
    while writes < 104 {
        let pop = valid_pops[round % valid_pops.len()];
        let contents = pins_with_r_at(pop);
        match round % 4 {
            0 => save_by_rename(&pins, &contents),
            1 => save_in_place(&pins, &contents),
            2 => save_by_delete_and_recreate(&pins, &contents),
            _ => {
                let failed = failed_reloads(&server);
                save_by_rename(&pins, &invalid[round / 4 % invalid.len()]);
                wait_for_failed_reloads(&server, failed + 1);
                writes += 1;
                save_by_rename(&pins, &contents);
            }
        }
        last_valid = pop;
        writes += 1;
        round += 1;
        std::thread::sleep(Duration::from_millis(40));
    }
    wait_for_answer(&server, "r.example.com", &[f0(last_valid)]);
    let seen = querier.finish();
    let (r, cdn) = (&seen[0], &seen[1]);
    assert!(
        r.failures.is_empty(),
        "r.example.com failed {} of {} queries: {:?}",
        r.failures.len(),
        r.sent,
        r.failures
    );
    assert!(
        cdn.failures.is_empty(),
        "cdn.example.com failed: {:?}",
        cdn.failures
    );
    let allowed: BTreeSet<Vec<IpAddr>> = valid_pops.iter().map(|pop| vec![f0(pop)]).collect();
    assert!(
        r.answers.is_subset(&allowed),
        "answers from an invalid file: {:?}",
        r.answers
    );
    assert!(
        r.answers.len() >= 2,
        "the changes were never seen: {:?}",
        r.answers
    );
    assert!(r.sent > 100, "too few queries to mean anything: {}", r.sent);
    assert!(
        failed_reloads(&server) >= 1,
        "invalid files were never rejected"
    );
}

#[test]
/// A Kubernetes ConfigMap volume: the pin file is a symlink through
/// `..data`, which is swapped atomically to a new timestamped directory.
fn configmap_symlink_swaps_are_followed() {
    let fixture = Fixture::f0();
    let root = fixture.path().to_path_buf();
    let version = |n: usize, pop: &str| -> PathBuf {
        let dir = root.join(format!("..2026_12_03_00_00_{n:02}.000000001"));
        std::fs::create_dir_all(&dir).expect("create a version directory");
        std::fs::write(dir.join("pins.toml"), pins_with_r_at(pop)).expect("write a version");
        dir
    };
    std::fs::remove_file(root.join("pins.toml")).expect("remove the plain file");
    let first = version(0, "ams");
    std::os::unix::fs::symlink(first.file_name().expect("a name"), root.join("..data"))
        .expect("link ..data");
    std::os::unix::fs::symlink("..data/pins.toml", root.join("pins.toml")).expect("link pins.toml");
    let server = fixture.start();
    let querier = Querier::start(server.address(), &["r.example.com"]);
    let pops = ["nrt", "iad", "fra", "ams"];
    for n in 1..=12 {
        let pop = pops[n % pops.len()];
        let dir = version(n, pop);
        // kubelet: a new ..data_tmp link, renamed over ..data.
        let temporary = root.join("..data_tmp");
        std::os::unix::fs::symlink(dir.file_name().expect("a name"), &temporary)
            .expect("link ..data_tmp");
        std::fs::rename(&temporary, root.join("..data")).expect("swap ..data");
        wait_for_answer(&server, "r.example.com", &[f0(pop)]);
    }
    let seen = querier.finish();
    assert!(
        seen[0].failures.is_empty(),
        "queries failed: {:?}",
        seen[0].failures
    );
}

#[test]
/// C13: saves by rename, more than once. Each is seen: the watch is on the
/// directory, not on the inode the first rename replaced.
fn pin_file_saved_by_rename_repeatedly_is_followed_each_time() {
    let server = Fixture::f0().start();
    let pins = server.fixture().path().join("pins.toml");
    wait_for_answer(&server, "r.example.com", &[f0("ams")]);
    save_by_rename(&pins, &pins_with_r_at("nrt"));
    wait_for_answer(&server, "r.example.com", &[f0("nrt")]);
    save_by_rename(&pins, &pins_with_r_at("iad"));
    wait_for_answer(&server, "r.example.com", &[f0("iad")]);
    // vim-style: move the original away, write a new file, remove the old.
    let backup = pins.with_extension("toml~");
    std::fs::rename(&pins, &backup).expect("move the original away");
    std::fs::write(&pins, pins_with_r_at("ams")).expect("write the new file");
    std::fs::remove_file(&backup).expect("remove the backup");
    wait_for_answer(&server, "r.example.com", &[f0("ams")]);
}

#[test]
/// C15: an empty intermediate file, a syntax error and an unknown PoP are
/// never applied; the last good table keeps serving and a good file is
/// picked up again.
fn half_written_or_invalid_pin_table_is_never_applied() {
    let server = Fixture::f0().start();
    let pins = server.fixture().path().join("pins.toml");
    let querier = Querier::start(server.address(), &["r.example.com", "cdn.example.com"]);
    // (a) truncate, pause, write.
    save_in_place(&pins, &pins_with_r_at("nrt"));
    wait_for_answer(&server, "r.example.com", &[f0("nrt")]);
    let before = failed_reloads(&server);
    // (b) a TOML syntax error.
    save_by_rename(
        &pins,
        "[[reserved_domain]]\ndomain = \"r.example.com\"\nips = [\"iad\"",
    );
    wait_for_failed_reloads(&server, before + 1);
    // (c) an unknown PoP in another entry rejects the whole file.
    save_by_rename(
        &pins,
        "[[reserved_domain]]\ndomain = \"r.example.com\"\nips = [\"iad\"]\n\n[[reserved_domain]]\ndomain = \"cdn.example.com\"\nips = [\"xyz\"]\n",
    );
    wait_for_failed_reloads(&server, before + 2);
    let seen = querier.finish();
    assert_eq!(a_addresses(&server, "r.example.com"), vec![f0("nrt")]);
    assert!(
        seen[0].failures.is_empty(),
        "queries failed: {:?}",
        seen[0].failures
    );
    assert!(
        seen[1].failures.is_empty(),
        "cdn.example.com failed: {:?}",
        seen[1].failures
    );
    let allowed: BTreeSet<Vec<IpAddr>> = [vec![f0("ams")], vec![f0("nrt")]].into_iter().collect();
    assert!(
        seen[0].answers.is_subset(&allowed),
        "an invalid file was applied: {:?}",
        seen[0].answers
    );
    // Restoring a valid file is applied.
    save_by_rename(&pins, &pins_with_r_at("iad"));
    wait_for_answer(&server, "r.example.com", &[f0("iad")]);
}

#[test]
/// A zone edit is served after the debounce; a broken zone file leaves the
/// previous zone serving and counts a failed reload.
fn zone_file_edits_are_served_and_broken_zones_are_rejected() {
    let server = Fixture::f0().start();
    let zone = server.fixture().path().join("zones/example.com.zone");
    let original = std::fs::read_to_string(&zone).expect("read the zone");
    let querier = Querier::start(server.address(), &["www.example.com", "r.example.com"]);
    save_by_rename(&zone, &format!("{original}new IN A 192.0.2.99\n"));
    wait_for_answer(&server, "new.example.com", &[ip("192.0.2.99")]);
    let before = failed_reloads(&server);
    let generation_before = generation(&server);
    save_by_rename(
        &zone,
        &format!("{original}new IN A 192.0.2.99\nbroken IN A not-an-address\n"),
    );
    wait_for_failed_reloads(&server, before + 1);
    assert_eq!(
        generation(&server),
        generation_before,
        "a rejected reload publishes no new generation"
    );
    assert_eq!(
        a_addresses(&server, "new.example.com"),
        vec![ip("192.0.2.99")]
    );
    let seen = querier.finish();
    for (name, seen) in ["www", "r"].iter().zip(&seen) {
        assert!(
            seen.failures.is_empty(),
            "{name} failed: {:?}",
            seen.failures
        );
    }
}

#[test]
/// Every published snapshot has a generation, visible as CH TXT
/// `generation.pindns` with its publication time.
fn generation_counts_published_snapshots() {
    let server = Fixture::f0().start();
    let text = generation_text(&server);
    assert!(text.starts_with("generation 1 published 20"), "{text}");
    assert!(text.ends_with("failed-reloads 0"), "{text}");
    let pins = server.fixture().path().join("pins.toml");
    save_by_rename(&pins, &pins_with_r_at("nrt"));
    wait_for_answer(&server, "r.example.com", &[f0("nrt")]);
    assert_eq!(generation(&server), 2);
}

#[test]
/// A pin directory of shard files: a change to one shard is read alone and
/// served; a removed shard takes its names with it; a duplicate across
/// shards is rejected with both places.
fn pin_directory_shards_reload_one_file_at_a_time() {
    let fixture = Fixture::f0_sharded(&[("b.toml", "b", "nrt")]);
    let server = fixture.start();
    let shard = server.fixture().path().join("pins.d/b.toml");
    wait_for_answer(&server, "b.example.com", &[f0("nrt")]);
    save_by_rename(
        &shard,
        "[[reserved_domain]]\ndomain = \"b.example.com\"\nips = [\"iad\"]\n",
    );
    wait_for_answer(&server, "b.example.com", &[f0("iad")]);
    let before = failed_reloads(&server);
    save_by_rename(
        &shard,
        "[[reserved_domain]]\ndomain = \"r.example.com\"\nips = [\"gru\"]\n",
    );
    wait_for_failed_reloads(&server, before + 1);
    assert_eq!(a_addresses(&server, "r.example.com"), vec![f0("ams")]);
    assert_eq!(a_addresses(&server, "b.example.com"), vec![f0("iad")]);
    std::fs::remove_file(&shard).expect("remove the shard");
    let deadline = Instant::now() + SETTLE;
    loop {
        let reply = server.ask_udp(&query("b.example.com", RecordType::A));
        if reply.rcode() == rcode::NXDOMAIN {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the removed shard's name is still served"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(a_addresses(&server, "r.example.com"), vec![f0("ams")]);
}

#[test]
/// SIGHUP forces a reload at once, without waiting for a file event's
/// quiet window (here an hour long).
fn sighup_forces_a_reload() {
    let fixture = Fixture::f0();
    fixture.edit_config(|config| {
        config.replace("reload_debounce_ms = 20", "reload_debounce_ms = 3600000")
    });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pindns"))
        .args(["serve", "--config"])
        .arg(fixture.config_path())
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start pindns serve");
    let stderr = child.stderr.take().expect("stderr is piped");
    let address = listen_address_from_log(stderr);
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
    let r_answer = || {
        ask_once(&client, address, &query("r.example.com", RecordType::A))
            .map(|reply| reply.addresses())
            .unwrap_or_default()
    };
    assert_eq!(r_answer(), vec![f0("ams")]);
    save_by_rename(&fixture.path().join("pins.toml"), &pins_with_r_at("nrt"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        r_answer(),
        vec![f0("ams")],
        "the file event must wait for its quiet window"
    );
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
    let deadline = Instant::now() + SETTLE;
    while r_answer() != vec![f0("nrt")] {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads the server's log until it says where it serves.
fn listen_address_from_log(stderr: std::process::ChildStderr) -> SocketAddr {
    let (address, _log) = follow_log(stderr);
    address
}

/// Follows the server's log: where it serves, and every later line.
fn follow_log(
    stderr: std::process::ChildStderr,
) -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = sender.send(line);
        }
    });
    loop {
        let line = receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("the server logs its listen address");
        if let Some(rest) = line.split("address=").nth(1) {
            let text = rest.split_whitespace().next().unwrap_or_default();
            return (text.parse().expect("a socket address in the log"), receiver);
        }
    }
}

/// A server process, killed when the test ends, failed or not.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends SIGHUP to `child`.
fn hang_up(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// The log up to and including the next line about a reload (published
/// or rejected; errors are logged before it), with ANSI colours taken out.
fn next_reload_line(log: &std::sync::mpsc::Receiver<String>) -> String {
    let deadline = Instant::now() + SETTLE;
    let mut lines = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = log.recv_timeout(left).expect("a reload is logged");
        let mut plain = String::with_capacity(line.len());
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|&c| c == 'm');
            } else {
                plain.push(c);
            }
        }
        lines.push_str(&plain);
        if plain.contains("published new snapshot") || plain.contains("reload rejected") {
            return lines;
        }
        lines.push('\n');
    }
}

#[test]
/// SIGHUP reads every pin file and the zones again, but compiles only the
/// shards whose content changed (added, edited, removed); with nothing
/// changed it compiles none. An edited zone, or a broken shard, is still
/// seen by it.
fn sighup_recompiles_only_the_pin_shards_that_changed() {
    let fixture = Fixture::f0();
    fixture.edit_config(|config| {
        config
            .replace("pins = \"pins.toml\"", "pins = \"pins.d\"")
            .replace("reload_debounce_ms = 20", "reload_debounce_ms = 3600000")
    });
    let shard = crate::support::one_name_shard;
    fixture.write("pins.d/a.toml", crate::support::F0_PINS);
    fixture.write("pins.d/b.toml", shard("b", "nrt"));
    fixture.write("pins.d/c.toml", shard("c", "nrt"));
    let mut child = Stopped(
        std::process::Command::new(env!("CARGO_BIN_EXE_pindns"))
            .args(["serve", "--config"])
            .arg(fixture.config_path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start pindns serve"),
    );
    let stderr = child.0.stderr.take().expect("stderr is piped");
    let (address, log) = follow_log(stderr);
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
    let ask =
        |name: &str| ask_once(&client, address, &query(name, RecordType::A)).expect("an answer");
    assert_eq!(ask("b.example.com").addresses(), vec![f0("nrt")]);

    // Nothing changed: nothing compiled, and the table is the same.
    hang_up(&child.0);
    let line = next_reload_line(&log);
    assert!(line.contains("pin_files_compiled=0"), "{line}");
    assert!(
        line.contains("added 0 [], removed 0 [], changed 0 []"),
        "{line}"
    );

    // One shard edited, one removed, one added: those three only.
    let pins = fixture.path().join("pins.d");
    save_by_rename(&pins.join("b.toml"), &shard("b", "iad"));
    std::fs::remove_file(pins.join("c.toml")).expect("remove a shard");
    save_by_rename(&pins.join("d.toml"), &shard("d", "fra"));
    hang_up(&child.0);
    let line = next_reload_line(&log);
    assert!(line.contains("pin_files_compiled=3"), "{line}");
    assert!(
        line.contains(
            "added 1 [d.example.com.], removed 1 [c.example.com.], changed 1 [b.example.com.]"
        ),
        "{line}"
    );
    assert_eq!(ask("b.example.com").addresses(), vec![f0("iad")]);
    assert_eq!(ask("c.example.com").rcode(), rcode::NXDOMAIN);
    assert_eq!(ask("d.example.com").addresses(), vec![f0("fra")]);
    assert_eq!(
        ask("eu.example.com").addresses(),
        vec![f0("fra")],
        "an unchanged shard still serves"
    );

    // A broken shard is read and rejected; the last good table serves on.
    save_by_rename(
        &pins.join("b.toml"),
        "[[reserved_domain]]\ndomain = \"b.example.com\"\nips = [\"nowhere\"]\n",
    );
    hang_up(&child.0);
    let line = next_reload_line(&log);
    assert!(line.contains("reload rejected"), "{line}");
    assert_eq!(ask("b.example.com").addresses(), vec![f0("iad")]);

    // A zone edit (and the repaired shard) are seen: the repaired shard is
    // compiled, the others are checked against the edited zone.
    save_by_rename(&pins.join("b.toml"), &shard("b", "ams"));
    let zone = fixture.path().join("zones/example.com.zone");
    let serial = |serial: u32| {
        crate::support::F0_ZONE.replace("hostmaster 1 ", &format!("hostmaster {serial} "))
    };
    save_by_rename(&zone, &format!("{}new  IN A   192.0.2.99\n", serial(2)));
    hang_up(&child.0);
    let line = next_reload_line(&log);
    assert!(line.contains("pin_files_compiled=1"), "{line}");
    assert!(line.contains("serial 1 -> 2"), "{line}");
    assert_eq!(ask("b.example.com").addresses(), vec![f0("ams")]);
    assert_eq!(
        ask("new.example.com").addresses(),
        vec!["192.0.2.99".parse::<IpAddr>().expect("address")]
    );

    // A zone edit that puts a CNAME where an unchanged shard pins a name is
    // rejected, naming that shard's file and line.
    save_by_rename(&zone, &format!("{}d  IN CNAME www\n", serial(3)));
    hang_up(&child.0);
    let text = next_reload_line(&log);
    assert!(text.contains("reload rejected"), "{text}");
    assert!(text.contains("d.toml:2"), "the pin's file and line: {text}");
    assert!(text.contains("holds a CNAME"), "{text}");
    assert_eq!(ask("d.example.com").addresses(), vec![f0("fra")]);

    // A new zone changes which zone a name may fall in: compiled whole.
    save_by_rename(&zone, &serial(4));
    fixture.write(
        "zones/sub.example.com.zone",
        "$ORIGIN sub.example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ IN NS ns1.example.com.\n",
    );
    hang_up(&child.0);
    let line = next_reload_line(&log);
    assert!(line.contains("pin_files_compiled=3"), "{line}");
    assert!(line.contains("+sub.example.com."), "{line}");
    assert_eq!(ask("d.example.com").addresses(), vec![f0("fra")]);
}

#[test]
/// A pin file replaced by a FIFO (or a device) is refused before it is
/// opened: reading it would block the reloader forever.
fn pin_file_that_is_not_a_regular_file_is_refused_without_blocking() {
    let server = Fixture::f0().start();
    let pins = server.fixture().path().join("pins.toml");
    let before = failed_reloads(&server);
    std::fs::remove_file(&pins).expect("remove the pin file");
    let status = std::process::Command::new("mkfifo")
        .arg(&pins)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    wait_for_failed_reloads(&server, before + 1);
    assert_eq!(a_addresses(&server, "r.example.com"), vec![f0("ams")]);
    std::fs::remove_file(&pins).expect("remove the FIFO");
    std::fs::write(&pins, pins_with_r_at("nrt")).expect("write the pin file");
    wait_for_answer(&server, "r.example.com", &[f0("nrt")]);
}

#[test]
/// A pin file written in place is read once its writer closes it, not at
/// the first pause: cut before its `ips` line, the last entry would be
/// valid TOML routing the name to every PoP. While the writer pauses the
/// last good table serves; after the close the finished file does.
fn a_pin_file_written_in_place_is_read_after_its_writer_closes_it() {
    use std::io::Write;
    let server = Fixture::f0().start();
    let japan = |name: &str| query(name, RecordType::A).ecs("203.0.113.0/25");
    assert_eq!(
        server.ask_udp(&japan("r.example.com")).addresses(),
        vec![f0("ams")]
    );
    let pins = server.fixture().path().join("pins.toml");
    let finished = pins_with_r_at("iad");
    let cut = finished.find("ips = [\"iad\"]").expect("r's ips line");
    let mut writer = begin_write_in_place(&pins, &finished.as_bytes()[..cut]);
    // Many quiet windows (20 ms each) pass; r stays pinned to ams.
    let pause = Instant::now();
    while pause.elapsed() < Duration::from_millis(600) {
        assert_eq!(
            server.ask_udp(&japan("r.example.com")).addresses(),
            vec![f0("ams")],
            "a half-written pin file was read"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    writer
        .write_all(&finished.as_bytes()[cut..])
        .expect("write the rest");
    drop(writer);
    wait_for_answer(&server, "r.example.com", &[f0("iad")]);
}

#[test]
/// A shard kept open and written to for longer than a burst lasts (5 s)
/// is still not read until its writer closes it, and does not hold back
/// another shard renamed in meanwhile: that one is served within the
/// burst's limit.
fn a_shard_written_for_long_is_read_at_its_close_without_holding_back_the_others() {
    use std::io::Write;
    let fixture = Fixture::f0_sharded(&[("c.toml", "c", "ams")]);
    let server = fixture.start();
    let japan = |name: &str| query(name, RecordType::A).ecs("203.0.113.0/25");
    let shards = server.fixture().path().join("pins.d");
    // c.toml rewritten in place, cut before its ips line, then trickled
    // into (comment bytes) for 6 s without a close.
    let mut writer = begin_write_in_place(
        &shards.join("c.toml"),
        b"[[reserved_domain]]\ndomain = \"c.example.com\"\n#",
    );
    let started = Instant::now();
    let mut renamed = false;
    let mut d_served = None;
    while started.elapsed() < Duration::from_secs(6) {
        writer.write_all(b"#").expect("trickle");
        if !renamed && started.elapsed() > Duration::from_millis(300) {
            save_by_rename(
                &shards.join("d.toml"),
                "[[reserved_domain]]\ndomain = \"d.example.com\"\nips = [\"fra\"]\n",
            );
            renamed = true;
        }
        assert_eq!(
            server.ask_udp(&japan("c.example.com")).addresses(),
            vec![f0("ams")],
            "a shard open for writing was read"
        );
        if d_served.is_none()
            && server.ask_udp(&japan("d.example.com")).addresses() == vec![f0("fra")]
        {
            d_served = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let d_served = d_served.expect("the renamed shard is served while the other is written");
    assert!(
        d_served < Duration::from_millis(5_800),
        "d.toml served after {d_served:?}"
    );
    writer
        .write_all(b"\nips = [\"iad\"]\n")
        .expect("write the rest");
    drop(writer);
    wait_for_answer(&server, "c.example.com", &[f0("iad")]);
}

#[test]
/// An empty shard in a pin directory is a write in progress: it does not
/// hold back a zone edit, its last good names keep serving, and its
/// contents are applied once it is written.
fn an_empty_shard_keeps_its_names_and_does_not_hold_back_a_zone_edit() {
    let fixture = Fixture::f0_sharded(&[("b.toml", "b", "nrt")]);
    let server = fixture.start();
    let shard = server.fixture().path().join("pins.d/b.toml");
    std::fs::write(&shard, "").expect("empty the shard");
    let zone = server.fixture().path().join("zones/example.com.zone");
    let original = std::fs::read_to_string(&zone).expect("read the zone");
    save_by_rename(&zone, &format!("{original}new IN A 192.0.2.99\n"));
    wait_for_answer(&server, "new.example.com", &[ip("192.0.2.99")]);
    assert_eq!(
        a_addresses(&server, "b.example.com"),
        vec![f0("nrt")],
        "the empty shard's last good names serve"
    );
    std::fs::write(
        &shard,
        "[[reserved_domain]]\ndomain = \"b.example.com\"\nips = [\"iad\"]\n",
    )
    .expect("write the shard");
    wait_for_answer(&server, "b.example.com", &[f0("iad")]);
}

#[test]
/// A full reload (here a zone edit) does not wait for a pin shard open
/// for writing: the zone edit is served at once, the shard's last good
/// names keep serving, and the shard is read at its writer's close.
fn a_shard_open_for_writing_does_not_hold_back_a_zone_edit() {
    use std::io::Write;
    let fixture = Fixture::f0_sharded(&[("b.toml", "b", "nrt")]);
    let server = fixture.start();
    let dir = server.fixture().path().to_path_buf();
    let finished = crate::support::one_name_shard("b", "iad");
    let cut = finished.find("ips").expect("b's ips line");
    let mut writer = begin_write_in_place(&dir.join("pins.d/b.toml"), &finished.as_bytes()[..cut]);
    std::thread::sleep(Duration::from_millis(100));
    let zone = dir.join("zones/example.com.zone");
    let original = std::fs::read_to_string(&zone).expect("read the zone");
    save_by_rename(&zone, &format!("{original}new IN A 192.0.2.99\n"));
    // The burst the write began waits up to 5 s for the close, then goes
    // ahead without it.
    wait_for_answer_within(
        &server,
        "new.example.com",
        &[ip("192.0.2.99")],
        SETTLE + Duration::from_secs(5),
    );
    assert_eq!(
        a_addresses(&server, "b.example.com"),
        vec![f0("nrt")],
        "the open shard's last good names serve"
    );
    writer
        .write_all(&finished.as_bytes()[cut..])
        .expect("write the rest");
    drop(writer);
    wait_for_answer(&server, "b.example.com", &[f0("iad")]);
    assert_eq!(failed_reloads(&server), 0);
}

#[test]
/// A reload put off by an empty shard, or a full reload that must wait
/// for one (a zone added: the table is built afresh from every file), is
/// not forgotten and counts as no failure: once the shard is written, the
/// next reload reads everything the put-off one was for (another shard's
/// change in the same burst, the zone added meanwhile), not the one shard
/// alone.
fn changes_put_off_by_an_empty_shard_are_applied_once_it_is_written() {
    let fixture = Fixture::f0_sharded(&[("b.toml", "b", "nrt")]);
    let shard = |name: &str| crate::support::one_name_shard(name, "nrt");
    let server = fixture.start();
    let dir = server.fixture().path().to_path_buf();
    // One burst: a emptied, b renamed over with another name.
    std::fs::write(dir.join("pins.d/a.toml"), "").expect("empty a.toml");
    save_by_rename(&dir.join("pins.d/b.toml"), &shard("bnew"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server
            .ask_udp(&query("bnew.example.com", RecordType::A))
            .rcode(),
        rcode::NXDOMAIN
    );
    // A zone added while a.toml is still empty: put off for now.
    save_by_rename(
        &dir.join("zones/example.net.zone"),
        "$ORIGIN example.net.\n$TTL 300\n@ IN SOA ns1.example.com. hostmaster 1 7200 3600 1209600 60\n@ IN NS ns1.example.com.\nwww IN A 192.0.2.98\n",
    );
    std::thread::sleep(Duration::from_millis(300));
    save_by_rename(&dir.join("pins.d/a.toml"), crate::support::F0_PINS);
    wait_for_answer(&server, "bnew.example.com", &[f0("nrt")]);
    wait_for_answer(&server, "www.example.net", &[ip("192.0.2.98")]);
    assert_eq!(
        failed_reloads(&server),
        0,
        "waiting for a shard to be written is no failed reload"
    );
}

#[test]
/// A file open for writing that is renamed away stops holding reloads
/// back: its path no longer names the file being written, so a zone edit
/// made meanwhile is applied without waiting for the writer's close.
fn a_file_renamed_away_while_open_for_writing_does_not_hold_reloads_back() {
    use std::io::Write;
    let fixture = Fixture::f0_sharded(&[("b.toml", "b", "nrt")]);
    let server = fixture.start();
    let dir = server.fixture().path().to_path_buf();
    let mut writer = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("pins.d/b.toml"))
        .expect("open b.toml for writing");
    writer.write_all(b"# more\n").expect("write");
    std::thread::sleep(Duration::from_millis(100));
    std::fs::rename(dir.join("pins.d/b.toml"), dir.join("pins.d/b.moved"))
        .expect("rename the open file away");
    let zone = dir.join("zones/example.com.zone");
    let original = std::fs::read_to_string(&zone).expect("read the zone");
    save_by_rename(&zone, &format!("{original}new IN A 192.0.2.99\n"));
    wait_for_answer(&server, "new.example.com", &[ip("192.0.2.99")]);
    drop(writer);
}

#[test]
/// Pin shards are units of their own: in one burst a new shard and a bad
/// change to another, the bad one is rejected and the new one is served
/// at once; the rejected one stays due, so that it is read with the next
/// event even when that event is another file's (here the fix is to drop
/// the other side of a duplicate).
fn a_rejected_shard_does_not_hold_back_the_other_shards_of_its_burst() {
    use crate::support::one_name_shard;
    let fixture = Fixture::f0_sharded(&[("b.toml", "b", "nrt"), ("c.toml", "c", "nrt")]);
    let server = fixture.start();
    let dir = server.fixture().path().join("pins.d");
    wait_for_answer(&server, "b.example.com", &[f0("nrt")]);
    let before = failed_reloads(&server);
    save_by_rename(&dir.join("d.toml"), &one_name_shard("d", "gru"));
    save_by_rename(
        &dir.join("b.toml"),
        "[[reserved_domain]]\ndomain = \"b.example.com\"\nips = [\"banana\"]\n",
    );
    // Rejected, then read once more after d is served.
    wait_for_failed_reloads(&server, before + 2);
    wait_for_answer(&server, "d.example.com", &[f0("gru")]);
    assert_eq!(a_addresses(&server, "b.example.com"), vec![f0("nrt")]);

    // b now clashes with c: rejected again, c's own name keeps serving.
    save_by_rename(
        &dir.join("b.toml"),
        &(one_name_shard("b", "iad") + &one_name_shard("c", "iad")),
    );
    wait_for_failed_reloads(&server, before + 3);
    assert_eq!(a_addresses(&server, "c.example.com"), vec![f0("nrt")]);
    assert_eq!(a_addresses(&server, "b.example.com"), vec![f0("nrt")]);
    // Removing c's side of the clash is c's event; b, still due, is read
    // with it and served.
    std::fs::remove_file(dir.join("c.toml")).expect("remove c.toml");
    wait_for_answer(&server, "b.example.com", &[f0("iad")]);
    assert_eq!(a_addresses(&server, "c.example.com"), vec![f0("iad")]);
    assert_eq!(a_addresses(&server, "d.example.com"), vec![f0("gru")]);
}
