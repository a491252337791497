#!/usr/bin/env bash
# Instructions per unary RPC under callgrind, for squall's pool, bare hyper
# and a tonic Channel, default and configured like the pool (keepalive and
# a 30 s deadline; benches/per_rpc.rs). Instruction counts do not depend
# on the machine's load, so this is the figure to compare across commits.
# Leaves the profiles in target/callgrind/ for `callgrind_annotate`.
#
#   bash pool/benches/callgrind.sh [COUNT]      (from the workspace root)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-2000}"
exe=$(cargo bench -p squall-pool --bench per_rpc --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*per_rpc[^"]*"' | tail -1 | cut -d'"' -f4)
out=target/callgrind
mkdir -p "$out"

declare -A per_rpc
for client in pool hyper channel channel-like-pool; do
  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='per_rpc::measured*' \
    --callgrind-out-file="$out/$client.out" "$exe" "$client" "$count" >/dev/null 2>"$out/$client.log"
  total=$(grep -o 'Collected : [0-9]*' "$out/$client.log" | grep -o '[0-9]*$')
  per_rpc[$client]=$(( total / count ))
done

echo "| client | instructions per RPC | vs bare hyper |"
echo "| --- | ---: | ---: |"
for client in hyper channel channel-like-pool pool; do
  echo "| $client | ${per_rpc[$client]} | $(( per_rpc[$client] - per_rpc[hyper] )) |"
done
echo
echo "profiles: $out/{pool,hyper,channel,channel-like-pool}.out"
echo "the pool's own functions: callgrind_annotate --inclusive=yes $out/pool.out | grep squall_pool"
