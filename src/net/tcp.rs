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
//!   are full;
//! - a small kernel send buffer per connection, and a reset rather than a
//!   graceful close when a connection that timed out still has unread
//!   replies queued: otherwise the kernel keeps them, outside the cap, in
//!   an orphaned socket for as long as the client keeps its end open.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::live::Live;
use crate::resolve::{self, Transport};
use crate::wire::NameKey;

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

/// Room for one whole message and its length prefix: the input buffer can
/// always complete the message it holds the start of.
const INPUT_CAPACITY: usize = 2 + u16::MAX as usize;

/// Replies gathered past this size are written out before more queries are
/// answered, so a long pipelined burst does not grow the output buffer.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Serves one connection: read whatever has arrived, answer every complete
/// message in it, write all those replies at once, repeat.
///
/// A pipelined burst costs one read and one write, not a read per prefix,
/// a read per body and a write per reply. A read that leaves the socket
/// empty is not followed by another read to hear "would block"; and the
/// idle timer is armed once and moved only when it fires early, not
/// re-armed for every read.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    live: &Live,
    idle_timeout: Duration,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    stream.set_nodelay(true).ok();
    SockRef::from(&stream)
        .set_send_buffer_size(SEND_BUFFER)
        .ok();
    let ended = exchange(&mut stream, peer, live, idle_timeout, shutdown).await;
    if matches!(&ended, Err(error) if error.kind() == io::ErrorKind::TimedOut) {
        abandon(&stream);
    }
    ended
}

/// The most reply bytes the kernel holds for one connection (it doubles
/// this for its bookkeeping): a few of the largest replies, so that a
/// client that stops reading ties up little memory.
const SEND_BUFFER: usize = 4 * 64 * 1024;

/// Ends a connection the client stopped serving: if the kernel still holds
/// replies it never read, the connection is reset, so that they are thrown
/// away at once instead of held by an orphaned socket until the client goes.
fn abandon(stream: &TcpStream) {
    let mut unsent: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int, the bytes in the socket's send queue.
    let result = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &raw mut unsent) };
    if result == 0 && unsent > 0 {
        SockRef::from(stream).set_linger(Some(Duration::ZERO)).ok();
    }
}

/// Answers the messages of one connection until it closes or fails; a
/// client that goes quiet past the idle timeout, or stops taking replies
/// for as long, ends it with `TimedOut`.
async fn exchange(
    stream: &mut TcpStream,
    peer: SocketAddr,
    live: &Live,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut input = vec![0u8; INPUT_CAPACITY];
    // Unanswered bytes are input[start..end].
    let (mut start, mut end) = (0usize, 0usize);
    let mut output: Vec<u8> = Vec::with_capacity(OUTPUT_HIGH_WATER + INPUT_CAPACITY);
    let mut reply = Vec::with_capacity(4096);
    let mut name = NameKey::root();
    // Between messages a client has `idle_timeout` to begin the next; a
    // message that has begun gets `idle_timeout` from then to complete.
    let mut deadline = Instant::now() + idle_timeout;
    let idle = tokio::time::sleep_until(deadline);
    tokio::pin!(idle);
    let mut partial = false;
    loop {
        let mut completed = false;
        while let Some(length) = complete_message(&input[start..end]) {
            let body = &input[start + 2..start + 2 + length];
            start += 2 + length;
            completed = true;
            let snapshot = live.snapshot();
            let answered = resolve::answer_reusing(
                &snapshot,
                body,
                peer.ip(),
                Transport::Tcp,
                &mut reply,
                &mut name,
            );
            drop(snapshot);
            if answered.is_some() {
                let reply_length = u16::try_from(reply.len()).unwrap_or(u16::MAX);
                output.extend_from_slice(&reply_length.to_be_bytes());
                output.extend_from_slice(&reply[..usize::from(reply_length)]);
            }
            if output.len() >= OUTPUT_HIGH_WATER {
                write_out(stream, &mut output, idle_timeout).await?;
            }
        }
        write_out(stream, &mut output, idle_timeout).await?;
        if start == end {
            (start, end) = (0, 0);
        } else if start > 0 {
            input.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        if completed {
            partial = false;
            deadline = Instant::now() + idle_timeout;
        }
        if start < end && !partial {
            partial = true;
            deadline = Instant::now() + idle_timeout;
        }
        let read = loop {
            tokio::select! {
                result = read_some(stream, &mut input[end..]) => break result?,
                () = &mut idle => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::from(io::ErrorKind::TimedOut));
                    }
                    // Armed for an earlier deadline: follow the latest.
                    idle.as_mut().reset(deadline);
                }
                _ = shutdown.changed() => return Ok(()),
            }
        };
        if read == 0 {
            return Ok(());
        }
        end += read;
    }
}

/// Reads what has arrived into `buffer` (0 at end of stream), waiting
/// until something has.
///
/// A read shorter than the buffer took everything the socket held, so the
/// socket is marked not readable at once instead of by a second read that
/// would fail with "would block"; the reactor's readiness tick keeps this
/// safe against bytes that arrive in between.
async fn read_some(stream: &TcpStream, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        let mut taken = 0;
        let result = stream.try_io(Interest::READABLE, || {
            let mut socket: &socket2::Socket = &SockRef::from(stream);
            taken = socket.read(buffer)?;
            if taken > 0 && taken < buffer.len() {
                Err(io::Error::from(io::ErrorKind::WouldBlock))
            } else {
                Ok(taken)
            }
        });
        match result {
            Ok(read) => return Ok(read),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if taken > 0 {
                    return Ok(taken);
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// The body length of the message at the start of `buffered`, once the
/// whole message has arrived.
fn complete_message(buffered: &[u8]) -> Option<usize> {
    let prefix: [u8; 2] = buffered.get(..2)?.try_into().ok()?;
    let length = usize::from(u16::from_be_bytes(prefix));
    (buffered.len() >= 2 + length).then_some(length)
}

/// Writes and empties `output`, giving up after `timeout`.
async fn write_out(
    writer: &mut TcpStream,
    output: &mut Vec<u8>,
    timeout: Duration,
) -> io::Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(timeout, writer.write_all(output)).await {
        Ok(result) => result?,
        Err(_) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
    }
    output.clear();
    Ok(())
}
