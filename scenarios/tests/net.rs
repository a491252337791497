//! `squall serve`, `squall load` and `squall paired` over real TCP on
//! 127.0.0.1: the report scripts read has every field, a healthy server
//! gives no errors, and the pool opens exactly the connections it was
//! asked for (one per slot, none per RPC). Nothing here is timed: speed is measured by `squall bench-net`,
//! never asserted.

use std::time::Duration;

use serde_json::Value;
use squall_scenarios::net::{
    ClientSpec, EchoServer, LoadConfig, Method, PairedConfig, PairedError, Target, paired::BLOCKS,
    run_load, run_paired,
};

async fn load(target: &Target, client: ClientSpec, method: Method, connections: usize) -> Value {
    let config = LoadConfig {
        target: target.clone(),
        client,
        method,
        concurrency: 8,
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(50),
        connections,
        prometheus: None,
    };
    let report = run_load(&config)
        .await
        .unwrap_or_else(|e| panic!("{client} {method}: {e}"));
    serde_json::from_str(&report.json()).expect("the report is JSON")
}

fn assert_shape(json: &Value) {
    for field in ["qps", "rss_kib", "connections_opened", "ok", "concurrency"] {
        assert!(json[field].is_number(), "{field} in {json}");
    }
    for p in ["p50", "p90", "p99", "p999", "max"] {
        assert!(
            json["latency_ms"][p].is_number(),
            "latency_ms.{p} in {json}"
        );
    }
    assert!(json["errors"].is_object(), "errors in {json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_against_serve_reports_every_field_and_opens_only_its_connections() {
    let server = EchoServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("binds a free loopback port");
    let target: Target = server.url().parse().expect("a loopback URL");

    let pool = load(&target, ClientSpec::Pool, Method::Echo, 3).await;
    assert_shape(&pool);
    assert_eq!(pool["errors"], serde_json::json!({}), "{pool}");
    assert_eq!(pool["connections_opened"], 3, "{pool}");
    assert_eq!(pool["client"], "pool");
    // Some RPC completed: the run measured something (no rate is asserted).
    assert!(pool["ok"].as_u64().unwrap() > 0, "{pool}");
    assert!(pool["latency_ms"]["max"].as_f64().unwrap() > 0.0, "{pool}");

    // Health is the method for loading servers other than squall's.
    let health = load(&target, ClientSpec::Pool, Method::Health, 1).await;
    assert_eq!(health["errors"], serde_json::json!({}), "{health}");
    assert_eq!(health["connections_opened"], 1, "{health}");

    // Coalescing request writes changes how they are written, not what.
    let coalescing = load(&target, ClientSpec::PoolCoalescing, Method::Echo, 2).await;
    assert_shape(&coalescing);
    assert_eq!(coalescing["errors"], serde_json::json!({}), "{coalescing}");
    assert_eq!(coalescing["connections_opened"], 2, "{coalescing}");
    assert_eq!(coalescing["client"], "pool-coalescing");
    assert!(coalescing["ok"].as_u64().unwrap() > 0, "{coalescing}");

    let channels = load(&target, ClientSpec::Channels(2), Method::Echo, 3).await;
    assert_shape(&channels);
    assert_eq!(channels["errors"], serde_json::json!({}), "{channels}");
    assert_eq!(channels["connections_opened"], 2, "{channels}");
    assert_eq!(channels["client"], "channels:2");

    server.stop().await.expect("stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_gone_fails_the_run_with_a_clear_error() {
    // Bind and close a port so nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let target: Target = format!("http://{addr}").parse().unwrap();
    let config = LoadConfig {
        target,
        client: ClientSpec::Channel,
        method: Method::Echo,
        concurrency: 1,
        duration: Duration::from_millis(10),
        warmup: Duration::ZERO,
        connections: 1,
        prometheus: None,
    };
    let error = run_load(&config).await.expect_err("nothing listens");
    assert!(
        error
            .to_string()
            .starts_with("cannot connect to http://127.0.0.1:"),
        "{error}"
    );
}

/// Every pair measured lands in the report, each client's latency is a
/// real one, and the pool is not paired with a pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paired_measures_every_pair_against_each_kind_of_channel() {
    let server = EchoServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("binds a free loopback port");
    let target: Target = server.url().parse().expect("a loopback URL");

    for against in [
        ClientSpec::Channel,
        ClientSpec::ChannelLikePool,
        ClientSpec::Channels(2),
    ] {
        // Runs of 7 do not divide 40 pairs: the last turn is shorter.
        let config = PairedConfig {
            against,
            method: Method::Health,
            run_length: if against == ClientSpec::Channel { 1 } else { 7 },
            ..PairedConfig::new(target.clone(), 40)
        };
        let report = run_paired(&config)
            .await
            .unwrap_or_else(|e| panic!("{against}: {e}"));
        assert_eq!(report.pairs, 40);
        assert_eq!(report.against, against.to_string());
        assert_eq!(report.block_ratios.len(), BLOCKS);
        for summary in [report.pool, report.other] {
            assert!(summary.mean_us > 0.0, "{report:?}");
            assert!(summary.trimmed_mean_us > 0.0, "{report:?}");
            assert!(summary.median_us > 0.0, "{report:?}");
        }
        let expected = report.other.trimmed_mean_us / report.pool.trimmed_mean_us;
        assert_eq!(report.ratio, expected);
    }

    for pool in [ClientSpec::Pool, ClientSpec::PoolCoalescing] {
        let against_a_pool = PairedConfig {
            against: pool,
            ..PairedConfig::new(target.clone(), 40)
        };
        assert!(matches!(
            run_paired(&against_a_pool).await,
            Err(PairedError::AgainstAPool)
        ));
    }
    let no_run = PairedConfig {
        run_length: 0,
        ..PairedConfig::new(target.clone(), 40)
    };
    assert!(matches!(
        run_paired(&no_run).await,
        Err(PairedError::NoRunLength)
    ));
    let absurd = PairedConfig {
        warmup_pairs: usize::MAX,
        ..PairedConfig::new(target.clone(), 40)
    };
    assert!(matches!(
        run_paired(&absurd).await,
        Err(PairedError::TooManyPairs)
    ));
    let too_few = PairedConfig::new(target, BLOCKS - 1);
    assert!(matches!(
        run_paired(&too_few).await,
        Err(PairedError::TooFewPairs)
    ));
    server.stop().await.expect("stops cleanly");
}
