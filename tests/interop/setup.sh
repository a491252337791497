#!/usr/bin/env bash
# Creates target/interop-venv with the C-core gRPC server the interop suite
# (tests/interop.rs) runs against: grpcio and grpcio-health-checking from
# PyPI, pinned in requirements.txt. Needs python3 with venv and pip.
#
#   bash tests/interop/setup.sh          (from the workspace root)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/interop-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
"$venv/bin/python" -c 'import grpc, grpc_health; print("interop venv: grpcio", grpc.__version__)'
