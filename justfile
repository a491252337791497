# Contributor shortcuts. Nothing here is required: each recipe is one plain
# cargo command you can run yourself.

# Run every test, as CI does.
test:
    cargo test --workspace

# Run a built-in scenario (release build), printing its trace and verdict.
run NAME="black-hole" *ARGS="":
    cargo run --release -p squall-scenarios -- run {{NAME}} {{ARGS}}

# Replay one seed of a scenario.
replay SEED NAME="black-hole":
    cargo run --release -p squall-scenarios -- run {{NAME}} --seed {{SEED}}

# Re-record trace snapshots after an intended change; review the diff before committing.
snapshots:
    INSTA_UPDATE=always cargo test --workspace

# Longer property-test runs than CI's fixed budget.
proptest-long CASES="20000":
    PROPTEST_CASES={{CASES}} cargo test --release -p squall-pool --test limiter_model --test breaker_model

# Everything CI checks.
ci:
    CI=true bash .ci/run
