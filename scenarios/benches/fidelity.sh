#!/usr/bin/env bash
# The fidelity tables of docs/fidelity.md: `squall compare` on every
# built-in script (release build, as root), one after another so that no
# two kernel runs share the machine's cores. RUNS kernel runs per script
# (default 2); scripts longer than LONG seconds (default 120) get one;
# scripts longer than MAX seconds (default 900: the production-settings
# scripts, hours long) are listed but not compared, since kernel mode runs
# in real time. Prints markdown on stdout; progress on stderr. Takes about
# half an hour.
#
#   sudo bash scenarios/benches/fidelity.sh > /tmp/fidelity.md
set -uo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-2}"
long="${LONG:-120}"
max="${MAX:-900}"
cargo build --release -p squall-scenarios >&2 || exit 2
squall=./target/release/squall

echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Each: \`squall compare NAME --runs N\` (N = ${runs}; 1 for scripts over ${long} s)."
echo
agree=0
total=0
for name in $("$squall" list | awk '{print $1}'); do
  seconds=$("$squall" check "$name" | sed -n 's/.*, \([0-9.]*\)s of load).*/\1/p')
  if [ "${seconds%.*}" -gt "$max" ] 2>/dev/null; then
    echo "== $name: not compared (${seconds} s in real time)" >&2
    printf '### %s\n\nnot compared: kernel mode would take its %s s of load in real time (MAX=%s).\n\n' \
      "$name" "$seconds" "$max"
    continue
  fi
  n="$runs"
  if [ "${seconds%.*}" -gt "$long" ] 2>/dev/null; then n=1; fi
  echo "== $name ($n run(s))" >&2
  echo "### $name"
  echo
  echo '```text'
  "$squall" compare "$name" --runs "$n"
  status=$?
  echo '```'
  echo
  total=$((total + 1))
  [ "$status" = 0 ] && agree=$((agree + 1))
done
echo "$agree of $total scripts agree within tolerance."
