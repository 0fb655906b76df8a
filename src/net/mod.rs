//! Network I/O around the query function: UDP workers and TCP listeners on
//! every listen address, sharing one published snapshot.
//!
//! ```text
//!            ┌─ udp worker × N (SO_REUSEPORT, recvmmsg/sendmmsg) ─┐
//!  listen ───┤                                                    ├─▶ resolve::answer(snapshot, bytes, client)
//!            └─ tcp listener (tokio, capped, idle timeout) ───────┘          ▲
//!                                                                              │ Live::snapshot (lock-free)
//!  reload (watcher, SIGHUP) ─▶ build aside ─▶ Live::publish (one swap) ────────┘
//! ```

pub mod tcp;
pub mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::live::Live;

/// A running set of listeners.
pub struct Listeners {
    /// Where UDP and TCP are served (port 0 resolved).
    pub addresses: Vec<SocketAddr>,
    /// Tells UDP workers to stop.
    stop_udp: Arc<AtomicBool>,
    /// Tells TCP listeners and connections to stop.
    stop_tcp: watch::Sender<bool>,
    /// UDP worker threads.
    udp_threads: Vec<JoinHandle<()>>,
    /// The workers' sockets, to wake them when stopping.
    udp_sockets: Vec<Arc<std::net::UdpSocket>>,
}

/// Binds UDP and TCP on every address (a port of 0 is chosen once and used
/// for both) and starts serving. TCP tasks run on the current tokio runtime.
pub async fn start(
    addresses: &[SocketAddr],
    udp_workers: usize,
    tcp_limits: tcp::Limits,
    live: Arc<Live>,
) -> io::Result<Listeners> {
    let stop_udp = Arc::new(AtomicBool::new(false));
    let (stop_tcp, stop_tcp_receiver) = watch::channel(false);
    let mut bound = Vec::with_capacity(addresses.len());
    let mut udp_threads = Vec::new();
    let mut udp_sockets = Vec::new();
    for &address in addresses {
        let (sockets, listener) = bind_pair(address, udp_workers).await.map_err(|error| {
            io::Error::new(error.kind(), format!("cannot bind {address}: {error}"))
        })?;
        let local = listener.local_addr()?;
        bound.push(local);
        let sockets: Vec<_> = sockets.into_iter().map(Arc::new).collect();
        udp_threads.extend(udp::spawn(&sockets, live.clone(), stop_udp.clone())?);
        udp_sockets.extend(sockets);
        tokio::spawn(tcp::serve(
            listener,
            live.clone(),
            tcp_limits,
            stop_tcp_receiver.clone(),
        ));
        tracing::info!(address = %local, udp_workers = udp_workers.max(1), "serving UDP and TCP");
    }
    Ok(Listeners {
        addresses: bound,
        stop_udp,
        stop_tcp,
        udp_threads,
        udp_sockets,
    })
}

/// Binds the UDP sockets and the TCP listener of one address on the same
/// port. With port 0 the UDP port is taken first; should TCP find it busy,
/// another port is tried.
async fn bind_pair(
    address: SocketAddr,
    udp_workers: usize,
) -> io::Result<(Vec<std::net::UdpSocket>, TcpListener)> {
    const ATTEMPTS: usize = 16;
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let sockets = udp::bind(address, udp_workers)?;
        let udp_address = sockets
            .first()
            .map(std::net::UdpSocket::local_addr)
            .transpose()?
            .unwrap_or(address);
        match tcp_listener(udp_address) {
            Ok(listener) => return Ok((sockets, listener)),
            Err(error) if address.port() == 0 => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port")))
}

/// A TCP listener on exactly `address`: an IPv6 address serves IPv6 only,
/// as its UDP sockets do, so that `0.0.0.0` and `[::]` can both be listed.
fn tcp_listener(address: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

impl Listeners {
    /// Stops every listener and waits for the UDP workers.
    pub fn stop(self) {
        self.stop_udp.store(true, Ordering::Relaxed);
        for socket in &self.udp_sockets {
            udp::wake(socket);
        }
        let _ = self.stop_tcp.send(true);
        for thread in self.udp_threads {
            let _ = thread.join();
        }
    }
}

/// Number of UDP workers for a setting of 0 (one per core).
pub fn default_workers(setting: usize) -> usize {
    if setting > 0 {
        return setting;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Asks a server for `generation.pindns` (CH TXT) over UDP and returns the
/// text: the generation it serves, when it was published, and how many
/// reloads were rejected.
pub fn query_generation(server: SocketAddr) -> io::Result<String> {
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = std::net::UdpSocket::bind(local)?;
    socket.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let mut query = vec![0x9e, 0x57, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(b"\x0ageneration\x06pindns\x00");
    query.extend_from_slice(&[0, 16, 0, 3]);
    socket.send_to(&query, server)?;
    let mut reply = [0u8; 1500];
    let (length, _) = socket
        .recv_from(&mut reply)
        .map_err(|error| match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
                io::ErrorKind::TimedOut,
                "no answer within 2 s (is pindns serving there?)",
            ),
            _ => error,
        })?;
    let reply = &reply[..length];
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    if reply.len() < 12 || reply[..2] != query[..2] || reply[3] & 0x0F != 0 || reply[6..8] == [0, 0]
    {
        return Err(bad("no generation answer (is it pindns?)"));
    }
    // Answer: a pointer owner (2), type, class, TTL, RDLENGTH (10), then
    // TXT character-strings.
    let rdata_at = query.len() + 12;
    let rdata = reply.get(rdata_at..).ok_or_else(|| bad("short reply"))?;
    let mut text = String::new();
    let mut at = 0;
    while let Some(&length) = rdata.get(at) {
        let chunk = rdata
            .get(at + 1..at + 1 + usize::from(length))
            .ok_or_else(|| bad("bad TXT"))?;
        text.push_str(&String::from_utf8_lossy(chunk));
        at += 1 + usize::from(length);
    }
    Ok(text)
}
