#!/usr/bin/env bash
# Regenerates vendor/NAME.patch for each fork: `diff -ruN` of the crates.io
# release's src/ (from cargo's registry cache) against the vendored src/.
# Each patch applies to a fresh release with `patch -p1 < vendor/NAME.patch`
# from the crate's root. Run from anywhere; fetches the releases if needed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

fetch() { # NAME VERSION: print the release's unpacked source directory
  local name=$1 version=$2 dir
  dir=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$name-$version" 2>/dev/null | head -n 1 || true)
  if [ -z "$dir" ]; then
    local tmp; tmp=$(mktemp -d)
    printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
      "$name" "$name" "$version" > "$tmp/Cargo.toml"
    mkdir "$tmp/src" && echo 'fn main() {}' > "$tmp/src/main.rs"
    (cd "$tmp" && cargo fetch -q)
    rm -rf "$tmp"
    dir=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$name-$version" | head -n 1)
  fi
  echo "$dir"
}

patch_for() { # NAME VERSION
  local name=$1 version=$2 pristine work
  pristine=$(fetch "$name" "$version")
  work=$(mktemp -d)
  mkdir -p "$work/a" "$work/b"
  cp -r "$pristine/src" "$work/a/src"
  cp -r "$here/$name/src" "$work/b/src"
  # diff exits 1 when the trees differ, which is the point; the dates in
  # its file headers are dropped so that a regenerated patch only differs
  # where the change does.
  (cd "$work" && diff -ruN a/src b/src || [ $? -eq 1 ]) |
    sed -E 's/^(---|\+\+\+) ([^\t]+)\t.*$/\1 \2/' > "$here/$name.patch"
  rm -rf "$work"
  echo "vendor/$name.patch: $(grep -c '^diff ' "$here/$name.patch") files, $(wc -l < "$here/$name.patch") lines"
}

patch_for turmoil 0.7.2
patch_for tonic 0.14.9
patch_for tokio 1.54.1
patch_for hyper 1.12.0
