#!/usr/bin/env bash
# QPS at one RPC in flight, where one `bench-net` cell is too noisy to
# read: ROUNDS rounds of `squall load --concurrency 1` against one
# long-lived `squall serve`, every client once per round, the order
# rotating from round to round (so no client always runs first or last),
# then per client the median of its per-round ratio to a tonic Channel.
#
#   bash pool/benches/qps-at-one.sh [ROUNDS] [CLIENT...]   (from the workspace root)
#
# CLIENTs are `squall load --client` values (default: channel,
# channel-like-pool, pool); `channel` is always measured, as the base.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-12}"
shift || true
if [ $# -gt 0 ]; then
  clients=(channel "$@")
else
  clients=(channel channel-like-pool pool)
fi
out=target/qps-at-one
. pool/benches/serve.sh
start_serve "$out"

: > "$out/rounds.txt"
count=${#clients[@]}
for round in $(seq 1 "$rounds"); do
  echo "round $round of $rounds" >&2
  for i in $(seq 0 $((count - 1))); do
    client=${clients[$(( (i + round) % count ))]}
    qps=$("$squall" load --target "$url" --concurrency 1 --duration 3s \
      --warmup 500ms --client "$client" --json |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["qps"])')
    echo "$round $client $qps" >> "$out/rounds.txt"
  done
done

python3 - "$out/rounds.txt" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys
path, cores, load = sys.argv[1], sys.argv[2], sys.argv[3]
qps = {}
for line in open(path):
    round_, client, value = line.split()
    qps.setdefault(int(round_), {})[client] = float(value)
rounds = sorted(qps)
clients = list(qps[rounds[0]])
print(f"{len(rounds)} rounds, {cores} cores, load average {load} after\n")
print("| client | QPS (median) | / Channel (median of rounds) | rounds below a Channel |")
print("| --- | ---: | ---: | ---: |")
for client in clients:
    ratios = [qps[r][client] / qps[r]["channel"] for r in rounds]
    median_qps = statistics.median(qps[r][client] for r in rounds)
    below = sum(1 for x in ratios if x < 1)
    print(f"| {client} | {median_qps:,.0f} | {statistics.median(ratios):.3f} | {below} of {len(rounds)} |")
PY
