# Contributor shortcuts. Nothing here is required: each recipe is one plain
# cargo command you can run yourself.

# Run every test, as CI does.
test:
    cargo test --workspace

# Run a script (a built-in name or a file; release build), printing its trace and verdict.
run SCRIPT="black-hole" *ARGS="":
    cargo run --release -p squall-scenarios -- run {{SCRIPT}} {{ARGS}}

# Validate scripts without running them.
check +SCRIPTS:
    cargo run --release -p squall-scenarios -- check {{SCRIPTS}}

# Rerun a saved failing case (a script with its seed, from `run --save-case`).
replay FILE:
    cargo run --release -p squall-scenarios -- replay {{FILE}}

# Re-record trace snapshots after an intended change; review the diff before committing.
snapshots:
    INSTA_UPDATE=always cargo test --workspace

# Longer property-test runs than CI's fixed budget.
proptest-long CASES="20000":
    PROPTEST_CASES={{CASES}} cargo test --release -p squall-pool --test limiter_model --test breaker_model

# Everything CI checks.
ci:
    CI=true bash .ci/run

# Run a script and write its timeline (one self-contained HTML page) to FILE.
timeline SCRIPT="black-hole" FILE="timeline.html":
    cargo run --release -p squall-scenarios -- run {{SCRIPT}} --html {{FILE}}

# The pool against one and N tonic Channels over loopback TCP at concurrency
# 1, 16, 256, 1024 (release; ~1.5 min); prints the tables for docs/benchmarks.md.
bench-net *ARGS="":
    cargo run --release -p squall-scenarios -- bench-net {{ARGS}}

# QPS of the pool over one Channel as the median of per-run ratios, RUNS
# runs of bench-net (release; ~5 min for 3).
bench-net-ratios RUNS="3":
    bash pool/benches/bench-net-ratios.sh {{RUNS}}

# QPS at one RPC in flight: ROUNDS rotated rounds of `squall load`
# against one server, each client's median ratio to a Channel (~4 min for 20).
bench-qps-at-one ROUNDS="20" *CLIENTS="":
    bash pool/benches/qps-at-one.sh {{ROUNDS}} {{CLIENTS}}

# The pool against a Channel at one RPC in flight, taking turns in one
# process (`squall paired`): RUNS runs, their median (~2 min for 12).
bench-paired RUNS="12" *ARGS="":
    bash pool/benches/paired.sh {{RUNS}} {{ARGS}}

# The C-core server (grpcio from PyPI) the interop suite runs against, in
# target/interop-venv; then the suite itself.
interop:
    bash tests/interop/setup.sh
    cargo test --test interop -- --nocapture

# Simulated seconds per wall second: idle-heavy and load-heavy worlds (release).
bench-sim:
    bash scenarios/benches/sim-speed.sh

# Per-RPC time (divan) and heap per idle connection and per in-flight RPC.
bench-pool:
    cargo bench -p squall-pool --bench rpc --bench footprint

# Instructions per RPC under callgrind (independent of machine load):
# medians of 9 runs per client.
bench-callgrind:
    bash pool/benches/callgrind.sh 2000 9

# A property sweep (release): N random fault scripts of SUITE (faults or
# admission) in one worker process per core (`--jobs N` to change), every
# invariant checked, failures shrunk and written to target/squall/failures/.
# Summary: cases, failures, probes, cases/s.
sweep N="1000" SUITE="faults" *ARGS="":
    cargo run --profile sweep -p squall-scenarios -- sweep --suite {{SUITE}} --cases {{N}} {{ARGS}}

# The property suites as `cargo test` runs them, with N cases each.
proptest-sim N="500":
    SQUALL_CASES={{N}} cargo test --release -p squall-suite --test properties
