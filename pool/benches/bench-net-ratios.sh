#!/usr/bin/env bash
# QPS of squall's pool against one tonic Channel on loopback, as the median
# of per-run ratios: `squall bench-net` RUNS times (each run measures the
# three clients one after another at every concurrency, so a machine whose
# load drifts affects them alike), then, per concurrency, the median of
# pool QPS / Channel QPS over the runs. Issue 19's target: >= 1.00 at 1,
# 16, 256 and 1024 in flight.
#
#   bash pool/benches/bench-net-ratios.sh [RUNS]     (from the workspace root)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-3}"
cargo build --release -p squall-scenarios --bin squall >/dev/null
out=target/bench-net
mkdir -p "$out"
for run in $(seq 1 "$runs"); do
  echo "run $run of $runs" >&2
  ./target/release/squall bench-net --json > "$out/run-$run.json"
done
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
ratios, channels, pools = {}, {}, {}
cores = None
before = after = None
for run in range(1, runs + 1):
    data = json.load(open(f"{out}/run-{run}.json"))
    cores = data["cores"]
    before = before or data["load_average_before"]
    after = data["load_average_after"]
    qps = {}
    for r in data["reports"]:
        qps[(r["concurrency"], r["client"])] = r["qps"]
    for c in sorted({c for c, _ in qps}):
        ratios.setdefault(c, []).append(qps[(c, "pool")] / qps[(c, "channel")])
        channels.setdefault(c, []).append(qps[(c, "channel")])
        pools.setdefault(c, []).append(qps[(c, "pool")])
print(f"{runs} runs, {cores} cores, load average {before} before, {after} after\n")
print("| concurrency | Channel QPS (median) | pool QPS (median) | pool / Channel, per run | median ratio |")
print("| ---: | ---: | ---: | --- | ---: |")
for c in sorted(ratios):
    per_run = ", ".join(f"{x:.2f}" for x in ratios[c])
    print(f"| {c} | {statistics.median(channels[c]):.0f} | {statistics.median(pools[c]):.0f} | {per_run} | {statistics.median(ratios[c]):.2f} |")
PY
