#!/usr/bin/env bash
# Simulation speed: simulated seconds per wall second, release build, for an
# idle-heavy world (nat-keepalive-holds: 600 s, keepalive traffic only), a
# load-heavy one (load-heavy.toml here: 1,000 RPC/s for 60 s, with faults)
# and the production-settings scripts (hours of simulated time). Each runs
# skipping idle time (the default) and tick by tick (`--no-skip`), RUNS
# times each (default 3); the table shows the fastest run, the least
# disturbed by other work on the machine, and the load average. BEFORE=path
# adds a column for another squall binary (e.g. one built from an older
# commit), run the same way without flags.
#
#   bash scenarios/benches/sim-speed.sh        (from the workspace root)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-3}"
before="${BEFORE:-}"
cargo build --release -p squall-scenarios >&2
squall=./target/release/squall

# script, simulated seconds, label
cases=(
  "nat-keepalive-holds|600|idle-heavy: nat-keepalive-holds (1 server, 1 RPC per 20 s, keepalive every 2 s)"
  "scenarios/benches/load-heavy.toml|60|load-heavy: load-heavy.toml (3 servers, 1,000 RPC/s, 3 faults)"
  "prod-nat-idle-2h|7200|production: prod-nat-idle-2h (default keepalive, NAT 350 s, 1 RPC per 10 min)"
  "prod-max-age-4h|14400|production: prod-max-age-4h (3 servers, max age 30 min, 9 restarts)"
)

# fastest wall time in ms of RUNS runs of: BINARY SCRIPT [FLAGS...]
fastest() {
  local binary=$1 script=$2 best="" start end ms
  shift 2
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    # The verdict is not the point here, but a failing run is not a
    # benchmark of the intended world.
    "$binary" run "$script" --json "$@" >/dev/null
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    if [[ -z "$best" || "$ms" -lt "$best" ]]; then best=$ms; fi
  done
  echo "$best"
}

echo "$(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg); fastest of ${runs} runs"
echo
header="| world | simulated | skipping: wall | sim s per wall s | tick by tick: wall | sim s per wall s | speed-up |"
rule="| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
if [[ -n "$before" ]]; then
  header="$header before: wall | before: sim s per wall s |"
  rule="$rule ---: | ---: |"
fi
echo "$header"
echo "$rule"
for case in "${cases[@]}"; do
  IFS='|' read -r script simulated label <<<"$case"
  skip=$(fastest "$squall" "$script")
  tick=$(fastest "$squall" "$script" --no-skip)
  row=$(awk -v label="$label" -v sim="$simulated" -v s="$skip" -v t="$tick" \
    'BEGIN { printf "| %s | %d s | %.3f s | %.0f | %.2f s | %.0f | %.1fx |", label, sim, s / 1000, sim / (s / 1000), t / 1000, sim / (t / 1000), t / s }')
  if [[ -n "$before" ]] && ! "$before" check "$script" >/dev/null 2>&1; then
    row="$row n/a (no such script) | |"
  elif [[ -n "$before" ]]; then
    old=$(fastest "$before" "$script")
    row="$row$(awk -v sim="$simulated" -v o="$old" 'BEGIN { printf " %.2f s | %.0f |", o / 1000, sim / (o / 1000) }')"
  fi
  echo "$row"
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
