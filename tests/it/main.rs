//! pindns integration tests: the real server started in-process on
//! `127.0.0.1:0` and queried over UDP and TCP, the binary's `check` and
//! `serve`, and property tests of the query function. One test binary, so
//! shared servers are started once; see `support` for the pieces.

mod support;

mod client_subnet;
mod dig_client;
mod geo_overrides;
mod geo_test_addresses;
mod hostile_files;
mod invariants;
mod mmdb_layouts;
mod name_case;
mod negative_answers;
mod pin_validation;
mod pinned_set;
mod reload;
mod static_zone;
mod steering;

mod edns;
mod fuzz_replay;
mod protocol;
mod resolver;
mod tcp;
mod wire_client;
mod zone_rdata;
