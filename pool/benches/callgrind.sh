#!/usr/bin/env bash
# Instructions per unary RPC under callgrind, for squall's pool (default,
# and with `coalesce_request_writes`), bare hyper and a tonic Channel,
# default and configured like the pool (keepalive and a 30 s deadline;
# benches/per_rpc.rs). Instruction counts do not depend
# on the machine's load, so this is the figure to compare across commits.
#
# One run of one client varies by a few hundred instructions per RPC, and
# nearly all of that is glibc's allocator (how often `malloc` consolidates
# depends on how the runtime's threads interleave). So each client runs
# RUNS times and the table gives the median, the range, and the median of
# what ran outside libc, which varies by tens. Compare medians of at least
# 7 runs; a difference inside the ranges is no difference.
#
# Leaves the last run's profiles in target/callgrind/ for
# `callgrind_annotate`.
#
#   bash pool/benches/callgrind.sh [COUNT] [RUNS]   (from the workspace root)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-2000}"
runs="${2:-1}"
exe=$(cargo bench -p squall-pool --bench per_rpc --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*per_rpc[^"]*"' | tail -1 | cut -d'"' -f4)
out=target/callgrind
mkdir -p "$out"

# Per-RPC instructions of a profile: the total, and the total less libc's.
per_rpc() {
  callgrind_annotate --inclusive=no --threshold=100 "$1" 2>/dev/null | python3 -c '
import re, sys
count = int(sys.argv[1])
total = libc = 0
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)", line)
    if not m:
        continue
    n = int(m.group(1).replace(",", ""))
    if "PROGRAM TOTALS" in m.group(2):
        total = n
    elif "libc.so" in m.group(2):
        libc += n
print(total // count, (total - libc) // count)
' "$count"
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

declare -A med low high rest
for client in hyper channel channel-like-pool pool pool-coalescing; do
  totals=() rests=()
  for _ in $(seq "$runs"); do
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='per_rpc::measured*' \
      --callgrind-out-file="$out/$client.out" "$exe" "$client" "$count" >/dev/null 2>"$out/$client.log"
    read -r total outside < <(per_rpc "$out/$client.out")
    totals+=("$total")
    rests+=("$outside")
  done
  med[$client]=$(printf '%s\n' "${totals[@]}" | median)
  low[$client]=$(printf '%s\n' "${totals[@]}" | sort -n | head -1)
  high[$client]=$(printf '%s\n' "${totals[@]}" | sort -n | tail -1)
  rest[$client]=$(printf '%s\n' "${rests[@]}" | median)
done

echo "$runs run(s) per client, $count RPCs each; medians"
echo
echo "| client | instructions per RPC | range | vs bare hyper | outside libc |"
echo "| --- | ---: | --- | ---: | ---: |"
for client in hyper channel channel-like-pool pool pool-coalescing; do
  echo "| $client | ${med[$client]} | ${low[$client]}-${high[$client]} | $(( med[$client] - med[hyper] )) | ${rest[$client]} |"
done
echo
echo "profiles: $out/{pool,pool-coalescing,hyper,channel,channel-like-pool}.out"
echo "the pool's own functions: callgrind_annotate --inclusive=yes $out/pool.out | grep squall_pool"
