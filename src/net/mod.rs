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
    for &address in addresses {
        let (sockets, listener) = bind_pair(address, udp_workers).await?;
        let local = listener.local_addr()?;
        bound.push(local);
        udp_threads.extend(udp::spawn(sockets, live.clone(), stop_udp.clone())?);
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
        match TcpListener::bind(udp_address).await {
            Ok(listener) => return Ok((sockets, listener)),
            Err(error) if address.port() == 0 => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port")))
}

impl Listeners {
    /// Stops every listener and waits for the UDP workers.
    pub fn stop(self) {
        self.stop_udp.store(true, Ordering::Relaxed);
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
