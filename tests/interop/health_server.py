"""A C-core gRPC server (grpcio) serving grpc.health.v1.Health on loopback,
for squall's interop suite (tests/interop.rs).

Prints "listening on PORT" once it listens, then serves until its standard
input closes (the test holds it open and closes it, or dies) or it is killed.

Options map onto C-core channel arguments:
  --max-concurrent-streams N    grpc.max_concurrent_streams
  --max-connection-age-ms MS    grpc.max_connection_age_ms
  --max-connection-age-grace-ms MS
                                grpc.max_connection_age_grace_ms
  --min-ping-interval-ms MS     ping enforcement: a client PING sooner than
                                this after the last one (with or without
                                data) is a strike; too many strikes and the
                                server sends GOAWAY ENHANCE_YOUR_CALM
                                "too_many_pings"
"""

import argparse
import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-concurrent-streams", type=int)
    parser.add_argument("--max-connection-age-ms", type=int)
    parser.add_argument("--max-connection-age-grace-ms", type=int)
    parser.add_argument("--min-ping-interval-ms", type=int)
    args = parser.parse_args()

    options = []
    if args.max_concurrent_streams is not None:
        options.append(("grpc.max_concurrent_streams", args.max_concurrent_streams))
    if args.max_connection_age_ms is not None:
        options.append(("grpc.max_connection_age_ms", args.max_connection_age_ms))
    if args.max_connection_age_grace_ms is not None:
        options.append(
            ("grpc.max_connection_age_grace_ms", args.max_connection_age_grace_ms)
        )
    if args.min_ping_interval_ms is not None:
        options += [
            ("grpc.http2.min_recv_ping_interval_without_data_ms", args.min_ping_interval_ms),
            ("grpc.http2.min_ping_interval_without_data_ms", args.min_ping_interval_ms),
            ("grpc.http2.max_ping_strikes", 2),
        ]

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=options)
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening on {port}", flush=True)
    # Serve until the test closes our standard input (or exits).
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
