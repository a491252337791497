//! Building a pool: bad input is rejected at build time with an error that
//! names what is wrong, and nothing is started.

use std::time::Duration;

use squall_pool::{BuildError, Pool, PoolConfig, TcpConnector};

#[tokio::test]
async fn bad_config_names_the_field() {
    let mut config = PoolConfig::default();
    config.keepalive.interval = Duration::ZERO;
    let error = Pool::builder()
        .endpoint("http://127.0.0.1:1")
        .config(config)
        .build(TcpConnector)
        .err()
        .expect("rejected");
    match &error {
        BuildError::Config(e) => assert_eq!(e.field, "keepalive.interval"),
        other => panic!("wrong error: {other}"),
    }
    assert!(
        error.to_string().contains("`keepalive.interval`"),
        "{error}"
    );
}

#[tokio::test]
async fn bad_endpoints_are_rejected() {
    let build = |endpoints: &[&str]| {
        Pool::builder()
            .endpoints(endpoints.iter().copied())
            .build(TcpConnector)
            .err()
            .expect("rejected")
    };
    assert!(matches!(build(&[]), BuildError::NoEndpoints));
    assert!(matches!(
        build(&["http://127.0.0.1:1", "not a uri at all"]),
        BuildError::Endpoint { index: 1, .. }
    ));
    assert!(matches!(
        build(&["http://127.0.0.1:1", "http://127.0.0.1:1"]),
        BuildError::DuplicateEndpoint(_)
    ));
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    let result = Pool::builder()
        .endpoint("http://127.0.0.1:1")
        .build(TcpConnector);
    assert!(matches!(result, Err(BuildError::NoRuntime)));
}
