//! A world's servers may run any `tower::Service` over HTTP/2 requests,
//! not only tonic's generated services: here a bare service that refuses
//! every call (trailers-only, RESOURCE_EXHAUSTED), as an overloaded
//! server written without tonic's codegen might. The orders client's
//! calls reach it through the pool and fail with its status; squall's
//! health service still answers beside it.

use std::{convert::Infallible, time::Duration};

use squall_example_orders::client;
use squall_scenarios::{Script, Worlds, run_script_in, script::ClientKind};
use squall_sim::{RpcCall, UserWorld};
use tonic::{Code, Status, body::Body};

#[test]
fn a_bare_tower_service_answers_the_clients_calls() {
    let world = UserWorld::new("refusing")
        .http_service(|_host| {
            tower::service_fn(|_request: http::Request<Body>| async {
                Ok::<_, Infallible>(Status::resource_exhausted("busy").into_http::<Body>())
            })
        })
        .client(client);
    let script = Script::builder("refusing")
        .world("refusing")
        .no_load()
        .servers(1)
        .client(ClientKind::Pool, &["server-1"])
        .duration(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let report = run_script_in(&script, 1, &Worlds::new().with(world)).expect("a known world");
    let orders: Vec<_> = report
        .trace
        .rpcs()
        .filter(|(_, rpc)| rpc.call == RpcCall::User("PlaceOrder".into()))
        .map(|(_, rpc)| rpc.result)
        .collect();
    assert_eq!(orders.len(), 5, "one burst in 10 s");
    assert!(
        orders.iter().all(|r| *r == Err(Code::ResourceExhausted)),
        "{orders:?}"
    );
}
