//! The TCP path (RFC 7766): many queries per connection, pipelined, each
//! answered by the same query function as UDP.
//!
//! Limits, and why each exists:
//! - a cap on open connections, so that idle or slow clients cannot take
//!   every file descriptor (RFC 7766 §6.2.2); connections past the cap are
//!   closed at once;
//! - an idle timeout between messages, so that a silent client frees its
//!   slot (RFC 7766 §6.2.3); a message whose length prefix has arrived gets
//!   the same time again to complete, and is always answered;
//! - the same timeout on writing replies, so that a client that stops
//!   reading them cannot hold its slot for ever once the socket buffers
//!   are full.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::live::Live;
use crate::resolve::{self, Transport};

/// TCP limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a connection may sit idle between messages.
    pub idle_timeout: Duration,
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    live: Arc<Live>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // EMFILE and friends: wait a little rather than spin.
                tracing::warn!(%error, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Over the cap: close at once, the client retries elsewhere.
            drop(stream);
            continue;
        };
        let live = live.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = connection(stream, peer, &live, limits.idle_timeout, shutdown).await
            {
                tracing::debug!(%peer, %error, "TCP connection ended");
            }
        });
    }
}

/// Serves one connection: read a length-prefixed message, answer, repeat.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    live: &Live,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    stream.set_nodelay(true).ok();
    let (mut reader, writer) = stream.into_split();
    let mut writer = BufWriter::new(writer);
    let mut message = vec![0u8; u16::MAX as usize];
    let mut reply = Vec::with_capacity(4096);
    loop {
        let mut prefix = [0u8; 2];
        // Flush pipelined replies before waiting for more input.
        let read = async {
            match reader.read(&mut prefix[..1]).await? {
                0 => Ok(false),
                _ => {
                    reader.read_exact(&mut prefix[1..]).await?;
                    Ok::<_, io::Error>(true)
                }
            }
        };
        match tokio::time::timeout(idle_timeout, writer.flush()).await {
            Ok(result) => result?,
            Err(_) => return Ok(()),
        }
        let more = tokio::select! {
            result = tokio::time::timeout(idle_timeout, read) => match result {
                Ok(result) => result?,
                Err(_) => return Ok(()),
            },
            _ = shutdown.changed() => return Ok(()),
        };
        if !more {
            return Ok(());
        }
        let length = usize::from(u16::from_be_bytes(prefix));
        let body = &mut message[..length];
        match tokio::time::timeout(idle_timeout, reader.read_exact(body)).await {
            Ok(result) => result?,
            Err(_) => return Ok(()),
        };
        let snapshot = live.snapshot();
        let answered = resolve::answer(&snapshot, body, peer.ip(), Transport::Tcp, &mut reply);
        drop(snapshot);
        if answered.is_some() {
            let reply_length = u16::try_from(reply.len()).unwrap_or(u16::MAX);
            let write = async {
                writer.write_all(&reply_length.to_be_bytes()).await?;
                writer.write_all(&reply[..usize::from(reply_length)]).await
            };
            match tokio::time::timeout(idle_timeout, write).await {
                Ok(result) => result?,
                Err(_) => return Ok(()),
            }
        }
        // Answer whatever else is already buffered before flushing: a
        // pipelined burst goes back in as few segments as possible.
    }
}
