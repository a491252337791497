//! A complete user suite for squall, as a newcomer would write one for
//! their own service (docs/your-service.md walks through it):
//!
//! - [`OrdersService`]: the service under test, with its own `.proto`
//!   (`proto/orders.proto`, compiled with protox by `build.rs`);
//! - [`client`]: its client program, the generated `OrdersClient` over
//!   squall's pool with the team's own interceptor ([`with_tenant`]);
//! - [`orders_keep_their_tenant`]: an invariant of the team's, over the
//!   trace;
//! - [`world`]: all three as the world `orders`, which the fault scripts in
//!   `scripts/` name (`world = "orders"`).
//!
//! `tests/scripts.rs` runs every script in `scripts/` and snapshots its
//! trace; `src/bin/orders-squall.rs` is the suite's own `squall` command line
//! (`cargo run -p squall-example-orders --bin orders-squall -- run scripts/nat-expiry.toml`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use squall_sim::{RpcCall, Trace, UserClient, UserWorld};
use tonic::{Code, Request, Response, Status, metadata::MetadataValue, service::Routes};

/// Code generated from `proto/orders.proto`.
pub mod proto {
    tonic::include_proto!("orders.v1");
}

use proto::{
    PlaceOrderReply, PlaceOrderRequest,
    orders_client::OrdersClient,
    orders_server::{Orders, OrdersServer},
};

/// The metadata key the team's interceptor sets and the service requires.
pub const TENANT_HEADER: &str = "x-tenant";

/// The service: takes orders, numbering them per server. A request
/// without a tenant is refused (UNAUTHENTICATED), one for no quantity is
/// invalid.
#[derive(Debug, Clone)]
pub struct OrdersService {
    server: Arc<str>,
    next_id: Arc<AtomicU64>,
}

impl OrdersService {
    pub fn new(server: &str) -> Self {
        Self {
            server: server.into(),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }
}

#[tonic::async_trait]
impl Orders for OrdersService {
    async fn place_order(
        &self,
        request: Request<PlaceOrderRequest>,
    ) -> Result<Response<PlaceOrderReply>, Status> {
        if request.metadata().get(TENANT_HEADER).is_none() {
            return Err(Status::unauthenticated("no tenant"));
        }
        let order = request.into_inner();
        if order.quantity == 0 {
            return Err(Status::invalid_argument("quantity must be at least 1"));
        }
        Ok(Response::new(PlaceOrderReply {
            order_id: self.next_id.fetch_add(1, Ordering::Relaxed),
            server: self.server.to_string(),
        }))
    }
}

/// The team's interceptor: every call carries its tenant.
pub fn with_tenant(mut request: Request<()>) -> Result<Request<()>, Status> {
    request
        .metadata_mut()
        .insert(TENANT_HEADER, MetadataValue::from_static("example"));
    Ok(request)
}

/// How the client sends: a burst of orders, then a pause long enough for
/// an idle connection to be forgotten by a NAT, until the script ends.
const BURST: u64 = 5;
const BETWEEN_ORDERS: Duration = Duration::from_millis(100);
const BETWEEN_BURSTS: Duration = Duration::from_secs(25);
const DEADLINE: Duration = Duration::from_secs(1);

/// The client program: the generated client over squall's pool, with the
/// team's interceptor, placing orders in bursts; every call goes through
/// [`UserClient::call`], which records it in the trace.
pub async fn client(ctx: UserClient) {
    let mut orders = OrdersClient::with_interceptor(ctx.pool(), with_tenant);
    let mut placed: u64 = 0;
    while ctx.elapsed() < ctx.until() {
        for _ in 0..BURST {
            placed += 1;
            let order = PlaceOrderRequest {
                item: format!("item-{placed}"),
                quantity: 1 + (placed % 3) as u32,
            };
            // The outcome is in the trace; the program goes on either way,
            // as a real client would.
            let _ = ctx
                .call("PlaceOrder", order, DEADLINE, |request| {
                    orders.place_order(request)
                })
                .await;
            tokio::time::sleep(BETWEEN_ORDERS).await;
        }
        // The last pause ends with the script, so the run ends in time.
        let left = ctx.until().saturating_sub(ctx.elapsed());
        tokio::time::sleep(BETWEEN_BURSTS.min(left)).await;
    }
}

/// The team's invariant: whatever the network does, no order is refused
/// for what the client sent. The service answers UNAUTHENTICATED to a call
/// without the interceptor's tenant and INVALID_ARGUMENT to a mangled
/// order; neither may happen however the pool resends, retries or hedges
/// a call, or whichever connection it takes. Faults may fail orders
/// otherwise (UNAVAILABLE, DEADLINE_EXCEEDED, a failing server's code):
/// the scripts bound how many, the sweep's random ones do not.
pub fn orders_keep_their_tenant(trace: &Trace) -> Result<String, String> {
    let mut orders = 0;
    for (line, rpc) in trace.rpcs() {
        if rpc.call != RpcCall::User("PlaceOrder".into()) {
            continue;
        }
        orders += 1;
        if let Err(code @ (Code::Unauthenticated | Code::InvalidArgument)) = rpc.result {
            return Err(format!(
                "the service refused what the client sent ({code:?}): {line}"
            ));
        }
    }
    Ok(format!(
        "{orders} orders, none refused for a missing tenant or a bad order"
    ))
}

/// The world `orders`: the service on every server, the client program on
/// the client host, the invariant beside squall's.
pub fn world() -> UserWorld {
    UserWorld::new("orders")
        .service(|host| Routes::new(OrdersServer::new(OrdersService::new(host))))
        .client(client)
        .invariant("orders_keep_their_tenant", orders_keep_their_tenant)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use squall_sim::{RpcOutcome, TraceEvent, TraceLine};

    use super::*;

    fn order(id: u64, result: Result<(), Code>) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(id * 100),
            host: "client".into(),
            event: TraceEvent::Rpc(RpcOutcome {
                id,
                call: RpcCall::User("PlaceOrder".into()),
                deadline: DEADLINE,
                conn: None,
                endpoint: None,
                sent_at: Duration::from_millis(id * 100 - 2),
                sent_seq: 0,
                result,
            }),
        }
    }

    #[test]
    fn an_order_refused_for_its_tenant_breaks_the_invariant_and_a_fault_does_not() {
        let trace = |lines| Trace { lines, dropped: 0 };
        let ok = orders_keep_their_tenant(&trace(vec![
            order(1, Ok(())),
            order(2, Err(Code::Unavailable)),
            order(3, Err(Code::DeadlineExceeded)),
        ]));
        assert_eq!(
            ok,
            Ok("3 orders, none refused for a missing tenant or a bad order".into())
        );
        let refused = orders_keep_their_tenant(&trace(vec![
            order(1, Ok(())),
            order(2, Err(Code::Unauthenticated)),
        ]));
        assert!(refused.is_err_and(|e| e.contains("Unauthenticated")));
    }
}
