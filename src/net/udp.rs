//! The UDP path: one blocking worker thread per `SO_REUSEPORT` socket,
//! receiving and sending in batches (`recvmmsg`/`sendmmsg`) with buffers
//! allocated once per worker.
//!
//! ```text
//!   socket ─▶ recvmmsg (≤ BATCH) ─▶ for each: resolve::answer ─▶ sendmmsg
//! ```
//!
//! A worker loads the published snapshot once per batch: a reload is seen
//! by the next batch, and a batch never mixes two snapshots.

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::live::Live;
use crate::resolve::{self, Transport};
use crate::snapshot::Snapshot;
use crate::wire::NameKey;

/// Datagrams received or sent per system call.
const BATCH: usize = 32;

/// Largest datagram read: a UDP payload can be no larger, so every query
/// is read whole and answered (FORMERR included), never cut short.
const RECEIVE_SIZE: usize = 65535;

/// One batch slot's receive buffer. The padding makes consecutive slots
/// start one cache line apart modulo the cache's way size: with a stride
/// of exactly 64 KiB (or 64 KiB - 1) every slot's first lines would fall
/// in the same few cache sets, and a batch's queries would evict each
/// other between the kernel writing them and the worker reading them.
#[repr(C, align(64))]
struct ReceiveSlot {
    bytes: [u8; RECEIVE_SIZE],
    _stagger: [u8; 65],
}

/// Reply buffer capacity reserved up front, so that no ordinary reply
/// makes the buffer grow.
const REPLY_CAPACITY: usize = 4096;

/// Binds `workers` sockets sharing one address with `SO_REUSEPORT` (the
/// first decides the port when `address` has port 0).
pub fn bind(address: SocketAddr, workers: usize) -> io::Result<Vec<UdpSocket>> {
    let mut sockets = Vec::with_capacity(workers.max(1));
    let mut bound = address;
    for _ in 0..workers.max(1) {
        let socket = Socket::new(Domain::for_address(bound), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_port(true)?;
        if bound.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_recv_buffer_size(4 << 20).ok();
        never_fragment(&socket, bound.is_ipv6())?;
        socket.bind(&bound.into())?;
        let socket: UdpSocket = socket.into();
        bound = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok(sockets)
}

/// Makes every reply leave unfragmented (RFC 9715 §3.1): DF set on IPv4,
/// no fragment header on IPv6. The kernel sizes packets by the interface
/// MTU and ignores ICMP "fragmentation needed" messages, which anyone can
/// forge to make a server fragment (the attack RFC 9715 answers). A UDP
/// reply is at most [`crate::wire::OUR_UDP_PAYLOAD`] bytes, which fits the smallest
/// IPv6 MTU; a larger answer is truncated and retried over TCP.
///
/// DF also spares the kernel a keyed hash per packet: an IPv4 packet that
/// may not be fragmented needs no unpredictable IP identification.
fn never_fragment(socket: &Socket, ipv6: bool) -> io::Result<()> {
    let (level, option, value) = if ipv6 {
        (
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_PROBE,
        )
    } else {
        (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_PROBE,
        )
    };
    // SAFETY: setsockopt reads size_of::<c_int>() bytes from `value`, a
    // live c_int, on a descriptor `socket` owns.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Starts one worker thread per socket.
///
/// A worker blocks in `recvmmsg` with no timeout, so an idle server does
/// not wake up at all; [`wake`] ends the wait when `stop` is set.
pub fn spawn(
    sockets: &[Arc<UdpSocket>],
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
) -> io::Result<Vec<JoinHandle<()>>> {
    sockets
        .iter()
        .cloned()
        .enumerate()
        .map(|(index, socket)| {
            let live = live.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("udp-{index}"))
                .spawn(move || {
                    let mut worker = Worker::new(socket);
                    worker.run(&live, &stop);
                })
        })
        .collect()
}

/// Wakes a worker blocked on `socket` for good: shutting down the
/// receive side makes the blocked and every later `recvmmsg` return at
/// once, so the worker sees its stop flag.
pub fn wake(socket: &UdpSocket) {
    // SAFETY: shutdown on a descriptor we own; it returns ENOTCONN for an
    // unconnected UDP socket but wakes its waiters all the same.
    unsafe {
        libc::shutdown(socket.as_raw_fd(), libc::SHUT_RD);
    }
}

/// The datagram received into batch slot `slot`.
fn datagram<'b>(receive: &'b [ReceiveSlot], headers: &[libc::mmsghdr], slot: usize) -> &'b [u8] {
    let length = (headers[slot].msg_len as usize).min(RECEIVE_SIZE);
    &receive[slot].bytes[..length]
}

/// One worker's socket and reused buffers.
struct Worker {
    /// The socket it serves.
    socket: Arc<UdpSocket>,
    /// Receive buffers, one per batch slot.
    receive: Vec<ReceiveSlot>,
    /// Reply buffers, one per batch slot.
    replies: Vec<Vec<u8>>,
    /// Peer addresses, one per batch slot.
    peers: Vec<libc::sockaddr_storage>,
    /// Scatter/gather vectors for receiving.
    receive_iov: Vec<libc::iovec>,
    /// Scatter/gather vectors for sending.
    send_iov: Vec<libc::iovec>,
    /// Message headers for receiving.
    receive_headers: Vec<libc::mmsghdr>,
    /// Message headers for sending.
    send_headers: Vec<libc::mmsghdr>,
    /// Scratch space for question names.
    name: NameKey,
}

impl Worker {
    /// Allocates every buffer the worker will use.
    fn new(socket: Arc<UdpSocket>) -> Self {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs
        // for which all-zero bytes are a valid value.
        let zeroed_storage: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
        let zeroed_header: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        let empty_iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut worker = Self {
            socket,
            receive: (0..BATCH)
                .map(|_| ReceiveSlot {
                    bytes: [0; RECEIVE_SIZE],
                    _stagger: [0; 65],
                })
                .collect(),
            replies: (0..BATCH)
                .map(|_| Vec::with_capacity(REPLY_CAPACITY))
                .collect(),
            peers: vec![zeroed_storage; BATCH],
            receive_iov: vec![empty_iov; BATCH],
            send_iov: vec![empty_iov; BATCH],
            receive_headers: vec![zeroed_header; BATCH],
            send_headers: vec![zeroed_header; BATCH],
            name: NameKey::root(),
        };
        worker.aim_receive_headers();
        worker
    }

    /// Serves until `stop` is set.
    fn run(&mut self, live: &Live, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let received = match self.receive_batch() {
                Ok(count) => count,
                Err(error) if is_transient(&error) => continue,
                Err(error) => {
                    tracing::warn!(%error, "UDP receive failed");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let snapshot = live.snapshot();
            if received > 1 && snapshot.pins.worth_prefetching() {
                self.prefetch(&snapshot, received);
            }
            let mut ready = 0usize;
            for slot in 0..received {
                let header = &self.receive_headers[slot].msg_hdr;
                if header.msg_flags & libc::MSG_TRUNC != 0 {
                    continue;
                }
                let Some(peer) = peer_address(&self.peers[slot]) else {
                    continue;
                };
                let query = datagram(&self.receive, &self.receive_headers, slot);
                let reply = &mut self.replies[ready];
                if resolve::answer_reusing(
                    &snapshot,
                    query,
                    peer.ip(),
                    Transport::Udp,
                    reply,
                    &mut self.name,
                )
                .is_some()
                {
                    if ready != slot {
                        self.peers[ready] = self.peers[slot];
                    }
                    ready += 1;
                }
            }
            drop(snapshot);
            self.rearm_receive_headers(received);
            self.send_batch(ready);
        }
    }

    /// Starts the pin-table reads of a batch's questions, for all of them
    /// before any is answered: in a large table each is a memory access,
    /// and issued together they overlap instead of stalling one by one.
    fn prefetch(&mut self, snapshot: &Snapshot, received: usize) {
        let mut tokens = [None; BATCH];
        for (slot, token) in tokens.iter_mut().enumerate().take(received) {
            let message = datagram(&self.receive, &self.receive_headers, slot);
            *token = resolve::prefetch(snapshot, message, &mut self.name);
        }
        for token in tokens.iter().take(received).flatten() {
            resolve::prefetch_next(snapshot, *token);
        }
    }

    /// Points every receive header at its buffers (once: the buffers are
    /// heap allocations that stay put when the worker moves).
    fn aim_receive_headers(&mut self) {
        for slot in 0..BATCH {
            self.receive_iov[slot] = libc::iovec {
                iov_base: self.receive[slot].bytes.as_mut_ptr().cast(),
                iov_len: RECEIVE_SIZE,
            };
            let header = &mut self.receive_headers[slot].msg_hdr;
            header.msg_name = (&raw mut self.peers[slot]).cast();
            header.msg_iov = &raw mut self.receive_iov[slot];
            header.msg_iovlen = 1;
            header.msg_control = std::ptr::null_mut();
            header.msg_controllen = 0;
        }
        self.rearm_receive_headers(BATCH);
    }

    /// Resets what the kernel wrote into the first `used` receive headers
    /// (the others are as they were): at a low rate a batch holds a few
    /// datagrams, and rewriting all 32 headers each time would cost more
    /// than the answers.
    fn rearm_receive_headers(&mut self, used: usize) {
        for entry in &mut self.receive_headers[..used] {
            entry.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            entry.msg_hdr.msg_flags = 0;
            entry.msg_len = 0;
        }
    }

    /// Receives up to `BATCH` datagrams, waiting for the first.
    fn receive_batch(&mut self) -> io::Result<usize> {
        // SAFETY: every header points at buffers owned by `self` that live
        // as long as it does, with their true lengths (aim_receive_headers).
        let count = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                self.receive_headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(count as usize)
    }

    /// Sends the first `count` replies to their peers.
    fn send_batch(&mut self, count: usize) {
        for slot in 0..count {
            self.send_iov[slot] = libc::iovec {
                iov_base: self.replies[slot].as_mut_ptr().cast(),
                iov_len: self.replies[slot].len(),
            };
            let header = &mut self.send_headers[slot].msg_hdr;
            header.msg_name = (&raw mut self.peers[slot]).cast();
            header.msg_namelen = sockaddr_len(&self.peers[slot]);
            header.msg_iov = &raw mut self.send_iov[slot];
            header.msg_iovlen = 1;
            header.msg_control = std::ptr::null_mut();
            header.msg_controllen = 0;
            header.msg_flags = 0;
        }
        let mut sent = 0usize;
        while sent < count {
            // SAFETY: headers `sent..count` point at live buffers owned by
            // `self`, with their true lengths.
            let result = unsafe {
                libc::sendmmsg(
                    self.socket.as_raw_fd(),
                    self.send_headers[sent..].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    0,
                )
            };
            if result < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // One unreachable peer must not cost the rest of the batch
                // their replies: skip it and go on.
                sent += 1;
                continue;
            }
            sent += (result as usize).max(1);
        }
    }
}

/// Errors that only mean "nothing arrived yet".
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The peer address in a `sockaddr_storage` filled by the kernel.
fn peer_address(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET.
            let v4 = unsafe { &*(std::ptr::from_ref(storage).cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for AF_INET6.
            let v6 = unsafe { &*(std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Length of the socket address held in `storage`.
fn sockaddr_len(storage: &libc::sockaddr_storage) -> libc::socklen_t {
    match i32::from(storage.ss_family) {
        libc::AF_INET => size_of::<libc::sockaddr_in>() as libc::socklen_t,
        _ => size_of::<libc::sockaddr_in6>() as libc::socklen_t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_slots_start_in_different_cache_sets() {
        let stride = size_of::<ReceiveSlot>();
        assert_eq!(stride % 64, 0);
        assert_eq!(stride % 4096, 64, "one line apart modulo a 4 KiB way");
    }

    /// The path-MTU mode the kernel holds for a socket.
    fn mtu_discovery(socket: &UdpSocket, ipv6: bool) -> libc::c_int {
        let (level, option) = if ipv6 {
            (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER)
        } else {
            (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER)
        };
        let mut value: libc::c_int = -1;
        let mut length = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `length` bytes into `value`.
        let result = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                level,
                option,
                (&raw mut value).cast(),
                &raw mut length,
            )
        };
        assert_eq!(result, 0, "{}", io::Error::last_os_error());
        value
    }

    #[test]
    fn replies_are_never_fragmented() {
        let v4 = bind("127.0.0.1:0".parse().expect("address"), 2).expect("bind IPv4");
        for socket in &v4 {
            assert_eq!(mtu_discovery(socket, false), libc::IP_PMTUDISC_PROBE);
        }
        // IPv6 may be missing from a build host; when it is there, the
        // same holds.
        if let Ok(v6) = bind("[::1]:0".parse().expect("address"), 1) {
            assert_eq!(mtu_discovery(&v6[0], true), libc::IPV6_PMTUDISC_PROBE);
        }
    }
}
