#!/usr/bin/env bash
# The pool against another client at one RPC in flight, in one process:
# RUNS runs of `squall paired` (20,000 pairs each, the two clients taking
# turns) against one long-lived `squall serve`, each run's ratio of
# trimmed mean latencies (the pool's relative QPS), then their median.
# Drift on a shared machine falls on both clients alike, so a difference
# of ~1 % shows in a dozen runs, where `qps-at-one.sh` needs far more.
#
#   bash pool/benches/paired.sh [RUNS] [PAIRED-ARGS...]   (from the workspace root)
#
# PAIRED-ARGS go to `squall paired` (e.g. `--against channel-like-pool`,
# `--run-length 100`); PAIRS=N in the environment sets the pairs per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-12}"
shift || true
out=target/paired
. pool/benches/serve.sh
start_serve "$out"

: > "$out/runs.jsonl"
for run in $(seq 1 "$runs"); do
  echo "run $run of $runs" >&2
  "$squall" paired --target "$url" --pairs "${PAIRS:-20000}" --warmup-pairs 1000 --json "$@" >> "$out/runs.jsonl"
done

python3 - "$out/runs.jsonl" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, statistics, sys
path, cores, load = sys.argv[1], sys.argv[2], sys.argv[3]
runs = [json.loads(line) for line in open(path)]
ratios = [r["ratio"] for r in runs]
against = runs[0]["against"]
print(f"{len(runs)} runs of {runs[0]['pairs']} pairs (turns of {runs[0]['run_length']}), "
      f"{cores} cores, load average {load} after\n")
print(f"pool / {against}, per run: " + ", ".join(f"{r:.3f}" for r in ratios))
print(f"median {statistics.median(ratios):.3f}, {sum(r < 1 for r in ratios)} of {len(ratios)} below 1")
PY
