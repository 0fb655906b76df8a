//! pindns: an authoritative geo-DNS server that answers each pinned domain
//! only from the Points of Presence it is pinned to.
//!
//! ```text
//!   config.toml ─┐
//!   zones/*.zone ┼─▶ snapshot (config, geo, zones, pins) ─▶ live (ArcSwap) ◀─ reload
//!   pins.toml ───┘                                            │
//!                     net::udp / net::tcp ─▶ resolve::answer(snapshot, bytes, client) ─▶ reply
//! ```
//!
//! - [`wire`]: strict decoding of queries, allocation-free encoding of replies;
//! - [`zones`]: static data from RFC 1035 files;
//! - [`pins`]: the pin table, its validation and the choice within a pin set;
//! - [`geo`]: where a client is and which PoPs are nearest;
//! - [`resolve`]: the one query function every transport calls;
//! - [`net`], [`reload`], [`server`]: I/O, hot reload, and their assembly.

pub mod config;
pub mod diagnostics;
pub mod explain;
pub mod geo;
pub mod live;
pub mod net;
pub mod pins;
pub mod reload;
pub mod resolve;
pub mod server;
pub mod snapshot;
pub mod wire;
pub mod zones;
