# Sourced by the one-in-flight benchmarks (qps-at-one.sh, paired.sh):
# builds `squall` (release), starts one `squall serve` on a free loopback
# port for the whole run, stopped when the script exits.
#
#   start_serve OUT_DIR   sets $squall (the binary) and $url (the server)
start_serve() {
  local out=$1
  cargo build --release -p squall-scenarios --bin squall >/dev/null
  squall=./target/release/squall
  mkdir -p "$out"
  "$squall" serve --addr 127.0.0.1:0 > "$out/serve.txt" &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 1 50); do
    grep -q "listening on" "$out/serve.txt" 2>/dev/null && break
    sleep 0.1
  done
  url=$(sed -n 's/^listening on //p' "$out/serve.txt")
  [ -n "$url" ] || { echo "squall serve did not start" >&2; exit 1; }
}
