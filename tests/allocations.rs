//! The query function allocates nothing on the steered and static paths:
//! every allocation made by the calling thread around `resolve::answer` is
//! counted, and must be zero once the reply buffer has its capacity.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::path::Path;

use pindns::resolve::{self, Transport};
use pindns::snapshot::Snapshot;

/// Counts allocations per thread, then hands them to the system allocator.
struct CountingAllocator;

thread_local! {
    /// Allocations made by this thread so far.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations this thread has made.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A query for `name`/`qtype` with EDNS, and ECS when `subnet` is given.
fn query(name: &str, qtype: u16, subnet: Option<(u16, u8, &[u8])>) -> Vec<u8> {
    let mut message = vec![0x12, 0x34, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.split('.') {
        message.push(label.len() as u8);
        message.extend_from_slice(label.as_bytes());
    }
    message.push(0);
    message.extend_from_slice(&qtype.to_be_bytes());
    message.extend_from_slice(&1u16.to_be_bytes());
    let mut options = Vec::new();
    if let Some((family, source, address)) = subnet {
        options.extend_from_slice(&8u16.to_be_bytes());
        options.extend_from_slice(&((4 + address.len()) as u16).to_be_bytes());
        options.extend_from_slice(&family.to_be_bytes());
        options.push(source);
        options.push(0);
        options.extend_from_slice(address);
    }
    message.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    message.extend_from_slice(&(options.len() as u16).to_be_bytes());
    message.extend_from_slice(&options);
    message
}

#[test]
/// Steered A/AAAA (with and without ECS, dedicated IPs, NODATA) and static
/// answers (records, CNAME chains, NXDOMAIN, REFUSED) allocate nothing.
fn steered_and_static_answers_allocate_nothing() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let snapshot = match Snapshot::load(&config) {
        Ok(loaded) => loaded.snapshot,
        Err(errors) => panic!("the shipped files load: {errors:?}"),
    };
    let berlin: &[u8] = &[130, 149, 1];
    let germany6: &[u8] = &[0x20, 0x03, 0, 0, 0, 0];
    let cases = [
        (
            "steered A with ECS",
            query("api.example.com", 1, Some((1, 24, berlin))),
        ),
        (
            "steered AAAA with ECS",
            query("api.example.com", 28, Some((2, 48, germany6))),
        ),
        ("steered A by source", query("global.example.com", 1, None)),
        (
            "wildcard pin",
            query("a.b.eu.example.com", 1, Some((1, 24, berlin))),
        ),
        ("dedicated IPs", query("dedicated.example.com", 28, None)),
        (
            "NODATA at a pinned name",
            query("mixed.example.com", 28, None),
        ),
        ("static A", query("www.example.com", 1, None)),
        ("static MX", query("example.com", 15, None)),
        ("CNAME chain", query("docs.example.com", 1, None)),
        ("NXDOMAIN", query("nosuch.example.com", 1, None)),
        ("REFUSED", query("example.org", 1, None)),
    ];
    let probe = allocations();
    drop(std::hint::black_box(vec![1u8]));
    assert!(
        allocations() > probe,
        "the counter sees this thread's allocations"
    );
    let client: IpAddr = "192.0.2.200".parse().expect("an address");
    let mut reply = Vec::with_capacity(65535);
    for (what, message) in &cases {
        for transport in [Transport::Udp, Transport::Tcp] {
            // Warm-up: lazily built tables, first-use thread locals.
            resolve::answer(&snapshot, message, client, transport, &mut reply);
            let before = allocations();
            for _ in 0..100 {
                let length = resolve::answer(&snapshot, message, client, transport, &mut reply);
                assert!(length.is_some(), "{what}: no reply");
            }
            let made = allocations() - before;
            assert_eq!(
                made, 0,
                "{what} over {transport:?}: {made} allocations in 100 queries"
            );
        }
    }
}
