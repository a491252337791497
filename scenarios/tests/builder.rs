//! The Rust builder and the TOML loader produce the same `Script` type with
//! the same checks, and no input makes the loader panic.
//!
//! Tests build scripts in Rust; users write them in TOML. Both must mean the
//! same run, and a typo in either must be an error, never a crash.

use std::time::Duration;

use squall_scenarios::{
    Script, library,
    script::{BUILDER_FILE, CallName, ClientKind, Load, MixEntry, RateOverride, WindowOverride},
};
use squall_sim::{BlackHole, Fault, GracefulRestart, Pace, StatusCode};

fn hole(b: &str) -> Fault {
    Fault::BlackHole(BlackHole {
        a: "client".into(),
        b: b.into(),
    })
}

/// The builder, given black-hole.toml's values, builds that very script.
#[test]
fn builder_and_toml_agree_on_the_black_hole_script() {
    let from_toml = library::builtin("black-hole").expect("valid built-in");
    let built = Script::builder("black-hole")
        .description(&from_toml.description)
        .seed(1)
        .duration(Duration::from_secs(60))
        .time_limit(Duration::from_secs(70))
        .servers(2)
        .client(ClientKind::Pool, &["server-1", "server-2"])
        .pool(|p| {
            p.connections_per_endpoint = Some(2);
            p.default_rpc_timeout = Some(Duration::from_secs(1));
            p.shutdown_grace = Some(Duration::from_secs(1));
            p.keepalive.interval = Some(Duration::from_secs(2));
            p.keepalive.timeout = Some(Duration::from_secs(1));
            p.keepalive.while_idle = Some(true);
        })
        .load(Load {
            start: Duration::from_secs(1),
            rate: Some(10),
            interval: None,
            concurrency: None,
            think: None,
            deadline: Duration::from_secs(1),
            mix: Vec::new(),
            ramp: Vec::new(),
            idempotent: false,
        })
        .fault_at(
            Duration::from_millis(5050),
            Some(Duration::from_secs(20)),
            hole("server-2"),
        )
        .expect(|e| {
            e.detection_within = Some(Duration::from_millis(3001));
            e.max_failed_rpcs = Some(10);
            e.no_leaks = true;
        })
        .build()
        .expect("valid");
    assert_eq!(built, from_toml);
}

/// The builder runs the loader's checks and names the field at fault.
#[test]
fn builder_rejects_what_the_loader_rejects() {
    let errors = Script::builder("bad")
        .servers(2)
        .fault_at(
            Duration::from_secs(5),
            Some(Duration::ZERO),
            hole("server-3"),
        )
        .pool(|p| p.backoff.jitter = Some(1.5))
        .build()
        .expect_err("three problems");
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["pool.backoff.jitter", "faults[0].heal_after", "faults[0].b"]
    );
    assert!(
        errors
            .0
            .iter()
            .all(|e| e.file == BUILDER_FILE && e.location.is_none())
    );
    let text = errors.to_string();
    assert!(text.contains("error: unknown host `server-3`"), "{text}");
    assert!(text.contains("(field `faults[0].b`)"), "{text}");
}

/// Defaults: every server is a target, the seed is 1, the limit is +10 s.
#[test]
fn builder_defaults_are_a_runnable_script() {
    let script = Script::builder("defaults")
        .servers(3)
        .build()
        .expect("valid");
    assert_eq!(script.client.targets, ["server-1", "server-2", "server-3"]);
    assert_eq!(script.default_seed(), 1);
    assert_eq!(script.time_limit(), Duration::from_secs(70));
    let world = script.world(5);
    assert_eq!(world.seed, 5);
    assert_eq!(
        world.load.pace,
        Pace::Open {
            interval: Duration::from_millis(100)
        }
    );
    assert!(world.load.mix.is_empty());
}

/// Every prefix of a real script, and every single-byte corruption of it
/// at each line start, is either a script or an error: never a panic.
#[test]
fn no_prefix_or_corruption_of_a_script_panics() {
    let text = library::text("black-hole").expect("built-in");
    let mut accepted = 0;
    for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        if Script::parse("p", "p.toml", &text[..end]).is_ok() {
            accepted += 1;
        }
    }
    // Only prefixes that end inside the final [expect] table parse.
    let expect_at = text.find("\n[expect]").expect("an [expect] table");
    assert!(
        accepted > 0 && accepted <= text.len() - expect_at,
        "{accepted}"
    );
    for (start, _) in text.match_indices('\n') {
        for junk in ["=", "[", "\"", "-", "0", "é"] {
            let mut broken = text.to_owned();
            broken.insert_str(start + 1, junk);
            let _ = Script::parse("c", "c.toml", &broken);
        }
    }
}

/// The builder's load and pool knobs (closed loop, call mix, limiter,
/// breaker) build the same script as the TOML keys they stand for.
#[test]
fn builder_and_toml_agree_on_load_mix_and_pool_overrides() {
    let text = r#"
description = "mixed"
duration = "10s"

[topology]
servers = 1

[pool.limiter]
max_concurrency = 8
rate = { per_second = 100, burst = 10 }

[pool.breaker]
sliding_window = { time = "5s" }
minimum_calls = 5
failure_codes = ["UNAVAILABLE", "INTERNAL"]

[load]
start = "1s"
concurrency = 8
think = "5ms"
deadline = "1s"

[[load.mix]]
call = "echo"
weight = 5

[[load.mix]]
call = "slow-echo"
weight = 2
delay = "200ms"
deadline = "2s"

[[load.mix]]
call = "failing-echo"
weight = 1
code = "UNAVAILABLE"

[[load.mix]]
call = "echo-stream"
weight = 1
count = 4
interval = "25ms"

[[load.mix]]
call = "health-check"
weight = 1
"#;
    let from_toml = Script::parse("mixed", "mixed.toml", text).unwrap_or_else(|e| panic!("{e}"));
    let ms = Duration::from_millis;
    let built = Script::builder("mixed")
        .description("mixed")
        .duration(Duration::from_secs(10))
        .limiter(|l| {
            l.max_concurrency = Some(8);
            l.rate = Some(RateOverride {
                per_second: 100,
                burst: 10,
            });
        })
        .breaker(|b| {
            b.sliding_window = Some(WindowOverride::Time(Duration::from_secs(5)));
            b.minimum_calls = Some(5);
            b.failure_codes = Some(vec![StatusCode::Unavailable, StatusCode::Internal]);
        })
        .closed_loop(8, ms(5))
        .mix(MixEntry::echo(5))
        .mix(MixEntry::slow_echo(2, ms(200)).with_deadline(Duration::from_secs(2)))
        .mix(MixEntry::failing_echo(1, StatusCode::Unavailable))
        .mix(MixEntry::echo_stream(1, 4, ms(25)))
        .mix(MixEntry::health_check(1))
        .build()
        .expect("valid");
    assert_eq!(built, from_toml);
    let world = built.world(3);
    assert_eq!(
        world.load.pace,
        Pace::Closed {
            callers: 8,
            think: ms(5)
        }
    );
    assert_eq!(world.load.mix.len(), 5);
}

/// The builder reports load and pool problems by field, like the loader.
#[test]
fn builder_rejects_bad_load_and_pool_overrides() {
    let errors = Script::builder("bad")
        .limiter(|l| l.max_queue_wait = Some(Duration::ZERO))
        .closed_loop(2000, Duration::from_millis(1))
        .mix(MixEntry::new(CallName::SlowEcho, 0))
        .build()
        .expect_err("problems");
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "pool.limiter.max_queue_wait",
            "load.concurrency",
            "load.mix[0].weight",
            "load.mix[0].delay"
        ]
    );
    assert!(
        errors
            .0
            .iter()
            .all(|e| e.file == BUILDER_FILE && e.location.is_none())
    );
}

/// Durations a gRPC deadline cannot carry (99999999h and up) are rejected
/// by the builder as by the loader, in any field: the pool's default
/// deadline, a fault's time, a fault's own field. Issue 18: they passed
/// and then panicked tonic (or overflowed `at + heal_after`) in the run.
#[test]
fn builder_rejects_durations_past_the_grpc_limit() {
    let huge = Duration::from_secs(1_000_000_000_000);
    let errors = Script::builder("huge")
        .servers(2)
        .pool(|p| p.default_rpc_timeout = Some(Duration::MAX))
        .fault_at(huge, Some(Duration::MAX), hole("server-2"))
        .fault_at(
            Duration::from_secs(5),
            None,
            Fault::GracefulRestart(GracefulRestart {
                hosts: vec!["server-1".into()],
                drain_timeout: huge,
                downtime: Duration::from_secs(1),
            }),
        )
        .build()
        .expect_err("too long");
    let mut fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "faults[0].at",
            "faults[0].heal_after",
            "faults[1].drain_timeout",
            "pool.default_rpc_timeout",
        ]
    );
    for error in &errors.0 {
        assert!(error.expected.contains("below 99999999h"), "{error}");
    }
    // Just below the limit is a valid script.
    let longest = Duration::from_secs(99_999_998 * 3600);
    Script::builder("long")
        .pool(|p| p.default_rpc_timeout = Some(longest))
        .build()
        .expect("below the limit");
}
