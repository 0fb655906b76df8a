//! The `pindns` command: serve, check, explain.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use pindns::diagnostics::render;
use pindns::explain::{self, Question};
use pindns::geo;
use pindns::pins::Family;
use pindns::server::{Options, Server};
use pindns::snapshot::Snapshot;

/// Usage text.
const USAGE: &str = "\
usage: pindns [serve] [--config FILE]
       pindns check [--config FILE]
       pindns explain DOMAIN [A|AAAA] --client IP[/PREFIX] [--config FILE]
       pindns status [--server ADDR:PORT] [--config FILE]
       pindns --version

  serve    answer queries on the configured addresses (the default)
  check    validate config, zones and pins with the loader serve uses
  explain  show the location, the allowed PoPs, the choice and the answer
           for one client (IP/PREFIX is sent as EDNS Client Subnet)
  status   ask a running server (default: the first configured listen
           address) which snapshot generation it serves, since when, and
           how many reloads it rejected (CH TXT generation.pindns)";

/// A parsed command line.
enum Command {
    /// Serve.
    Serve(PathBuf),
    /// Validate.
    Check(PathBuf),
    /// Explain one answer.
    Explain(PathBuf, Question),
    /// Ask a running server for its generation.
    Status(PathBuf, Option<String>),
    /// Print the version and attribution.
    Version,
    /// Print usage.
    Help,
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_arguments(&arguments) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("pindns: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!(
                "pindns {}\n\n{}",
                env!("CARGO_PKG_VERSION"),
                geo::ATTRIBUTION
            );
            ExitCode::SUCCESS
        }
        Command::Check(config) => check(&config),
        Command::Explain(config, question) => explain_command(&config, &question),
        Command::Serve(config) => serve(&config),
        Command::Status(config, server) => status(&config, server.as_deref()),
    }
}

/// Parses the command line.
fn parse_arguments(arguments: &[String]) -> Result<Command, String> {
    let mut config = PathBuf::from("config.toml");
    let mut client: Option<String> = None;
    let mut server: Option<String> = None;
    let mut positional: Vec<&str> = Vec::new();
    let mut iter = arguments.iter();
    while let Some(argument) = iter.next() {
        match argument.as_str() {
            "--config" | "-c" => {
                config = PathBuf::from(iter.next().ok_or("--config needs a file")?)
            }
            "--client" => client = Some(iter.next().ok_or("--client needs an address")?.clone()),
            "--server" => server = Some(iter.next().ok_or("--server needs ADDRESS:PORT")?.clone()),
            "--version" | "-V" => return Ok(Command::Version),
            "--help" | "-h" | "help" => return Ok(Command::Help),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => positional.push(other),
        }
    }
    match positional.as_slice() {
        [] | ["serve"] => Ok(Command::Serve(config)),
        ["check"] => Ok(Command::Check(config)),
        ["status"] => Ok(Command::Status(config, server)),
        ["explain", domain, rest @ ..] => {
            let family = match rest {
                [] => Family::V4,
                [kind] if kind.eq_ignore_ascii_case("A") => Family::V4,
                [kind] if kind.eq_ignore_ascii_case("AAAA") => Family::V6,
                _ => return Err("explain takes DOMAIN and A or AAAA".to_owned()),
            };
            let client = client.ok_or("explain needs --client IP[/PREFIX]")?;
            let (address, prefix) = match client.split_once('/') {
                Some((address, prefix)) => (
                    address,
                    Some(
                        prefix
                            .parse::<u8>()
                            .map_err(|_| format!("bad prefix in {client}"))?,
                    ),
                ),
                None => (client.as_str(), None),
            };
            let client: IpAddr = address
                .parse()
                .map_err(|_| format!("bad client address {address}"))?;
            let limit = if client.is_ipv4() { 32 } else { 128 };
            if prefix.is_some_and(|prefix| prefix > limit) {
                return Err(format!("prefix longer than {limit}"));
            }
            Ok(Command::Explain(
                config,
                Question {
                    domain: (*domain).to_owned(),
                    family,
                    client,
                    prefix,
                },
            ))
        }
        other => Err(format!("unknown command {}", other.join(" "))),
    }
}

/// Sets up logging to stderr (RUST_LOG overrides the level).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// `pindns serve`.
fn serve(config: &std::path::Path) -> ExitCode {
    init_logging();
    match Server::start(config, &Options::default()) {
        Ok(server) => {
            server.wait_for_shutdown_signal();
            server.stop();
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pindns: cannot start:\n{error}");
            ExitCode::FAILURE
        }
    }
}

/// `pindns check`.
fn check(config: &std::path::Path) -> ExitCode {
    match Snapshot::load(config) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                println!("warning: {warning}");
            }
            let snapshot = loaded.snapshot;
            println!(
                "ok: {} zones, {} reserved domains ({} distinct pin sets), {} PoPs; geo: {}",
                snapshot.zones.len(),
                snapshot.pins.len(),
                snapshot.pins.policy_count(),
                snapshot.config.pops.len(),
                snapshot.geo.describe()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}", render(&errors));
            eprintln!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}

/// `pindns explain`.
fn explain_command(config: &std::path::Path, question: &Question) -> ExitCode {
    let loaded = match Snapshot::load(config) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("{}", render(&errors));
            return ExitCode::FAILURE;
        }
    };
    match explain::explain(&loaded.snapshot, question) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("pindns: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `pindns status`: the generation a running server publishes.
fn status(config: &std::path::Path, server: Option<&str>) -> ExitCode {
    let address = match server {
        Some(text) => text
            .parse::<std::net::SocketAddr>()
            .map_err(|_| format!("bad server address {text}")),
        None => pindns::config::Config::load(config)
            .map_err(|errors| render(&errors))
            .and_then(|config| {
                config
                    .listen
                    .first()
                    .copied()
                    .ok_or_else(|| "no listen address".to_owned())
            }),
    };
    let result = address.and_then(|address| {
        let text = pindns::net::query_generation(address)
            .map_err(|error| format!("{address}: {error}"))?;
        Ok((address, text))
    });
    match result {
        Ok((address, text)) => {
            println!("{address}: {text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("pindns: {message}");
            ExitCode::FAILURE
        }
    }
}
