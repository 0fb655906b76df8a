//! The answer a real resolver tool sees: `dig` (when installed) against
//! the in-process server, over UDP and TCP, with `+subnet=`.

use std::process::Command;

use crate::support::shipped_server;

/// Whether `dig` can be run here.
fn have_dig() -> bool {
    Command::new("dig")
        .arg("-v")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// dig gets 192.0.2.3 and `CLIENT-SUBNET: 130.149.1.0/24/16` for api.example.com.
#[test]
fn dig_sees_the_steered_answer_and_its_ecs_scope() {
    if !have_dig() {
        println!("note: dig is not installed; skipping (apt-get install dnsutils)");
        return;
    }
    let server = shipped_server();
    let port = server.address().port().to_string();
    for transport in ["+notcp", "+tcp"] {
        let output = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port,
                "+norec",
                "+time=2",
                "+tries=3",
                transport,
                "api.example.com",
                "A",
                "+subnet=130.149.1.0/24",
            ])
            .output()
            .expect("run dig");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "dig failed:\n{stdout}");
        assert!(stdout.contains("status: NOERROR"), "{stdout}");
        assert!(
            stdout.contains("CLIENT-SUBNET: 130.149.1.0/24/16"),
            "no ECS echo with scope 16 over {transport}:\n{stdout}"
        );
        let answers: Vec<Vec<&str>> = stdout
            .lines()
            .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
            .map(|line| line.split_whitespace().collect())
            .collect();
        assert_eq!(
            answers,
            vec![vec!["api.example.com.", "60", "IN", "A", "192.0.2.3"]],
            "over {transport}:\n{stdout}"
        );
        let flags = stdout
            .lines()
            .find(|line| line.starts_with(";; flags:"))
            .unwrap_or_default();
        assert!(flags.contains(" aa"), "authoritative: {flags}");
        assert!(!flags.contains(" ra"), "no recursion: {flags}");
    }
}
