#!/usr/bin/env bash
# Builds the Pipedrive connector into a component of world `connector`,
# against the contract in wit/since_v0.2.0 of this repository.
#
#   examples/connector-python/build.sh [OUTPUT]
#
# OUTPUT defaults to pipedrive_py.wasm beside this script. COMPONENTIZE_PY
# names the componentize-py to run (default: the one on PATH).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
output="$(realpath -m "${1:-$here/pipedrive_py.wasm}")"
componentize="${COMPONENTIZE_PY:-componentize-py}"
case "$componentize" in
  */*) componentize="$(realpath -m "$componentize")" ;;
esac
cd "$here"
"$componentize" -q -d ../../wit/since_v0.2.0 -w connector \
  componentize app -o "$output"
