//! A complete user suite for squall, as a newcomer would write one for
//! their own service (docs/your-service.md walks through it):
//!
//! - [`OrdersService`]: the service under test, with its own `.proto`
//!   (`proto/orders.proto`, compiled with protox by `build.rs`);
//! - [`client`]: its client program, the generated `OrdersClient` over
//!   squall's pool with the team's own interceptor ([`with_tenant`]);
//! - [`orders_succeed_after_faults`]: an invariant of the team's, over the
//!   trace;
//! - [`world`]: all three as the world `orders`, which the fault scripts in
//!   `scripts/` name (`world = "orders"`).
//!
//! `tests/scripts.rs` runs every script in `scripts/` and snapshots its
//! trace; `src/bin/squall.rs` is the suite's own `squall` command line
//! (`cargo run -p squall-example-orders --bin squall -- run scripts/nat-expiry.toml`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use squall_sim::{RpcCall, Trace, TraceEvent, UserClient, UserWorld};
use tonic::{Request, Response, Status, metadata::MetadataValue, service::Routes};

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

/// How long after the last heal an order may still fail: the pool's
/// detection and redial.
pub const RECOVERY: Duration = Duration::from_secs(3);

/// The team's invariant: every order placed more than [`RECOVERY`] after
/// the last fault ended succeeded (every order, with no fault), and the
/// client placed some.
pub fn orders_succeed_after_faults(trace: &Trace) -> Result<String, String> {
    let last_heal = trace
        .lines
        .iter()
        .filter(|line| matches!(line.event, TraceEvent::FaultHeal(_)))
        .map(|line| line.at)
        .max()
        .unwrap_or_default();
    let calm_from = if last_heal.is_zero() {
        Duration::ZERO
    } else {
        last_heal + RECOVERY
    };
    let mut judged = 0;
    for (line, rpc) in trace.rpcs() {
        if rpc.call != RpcCall::User("PlaceOrder".into()) || rpc.sent_at < calm_from {
            continue;
        }
        judged += 1;
        if let Err(code) = rpc.result {
            return Err(format!(
                "an order failed after the faults: {line} ({code:?})"
            ));
        }
    }
    if judged == 0 {
        return Err(format!(
            "no order was placed after {} ms",
            calm_from.as_millis()
        ));
    }
    Ok(format!(
        "{judged} orders placed from {} ms on, all succeeded",
        calm_from.as_millis()
    ))
}

/// The world `orders`: the service on every server, the client program on
/// the client host, the invariant beside squall's.
pub fn world() -> UserWorld {
    UserWorld::new("orders")
        .service(|host| Routes::new(OrdersServer::new(OrdersService::new(host))))
        .client(client)
        .invariant("orders_succeed_after_faults", orders_succeed_after_faults)
}
