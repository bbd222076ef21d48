#!/bin/bash
# soak.sh - the long soak, not part of the test suite: connections opening
# and closing without pause for SECONDS (default 30) through the C echo
# server under the shim, its RSS and the registry's memory_used sampled
# every 0.5 s and printed, with the figures (tests/models/soak.py). Fails
# when an echo is lost, the totals are not exact, memory_used passes its
# cap, or RSS grows between the first and the second half of the run.
#
#   tests/models/soak.sh [SECONDS]
#
# Builds build/plain first (WSDBG_SOAK_BUILD=DIR to use another build
# directory, which must exist).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/lib/common.sh

seconds=${1:-30}
build=${WSDBG_SOAK_BUILD:-build/plain}
if [ -z "${WSDBG_SOAK_BUILD:-}" ]; then
	wsdbg_need_packages "${WSDBG_BUILD_PACKAGES[@]}" libcriterion-dev \
		python3 python3-websockets
	wsdbg_setup "$build"
	ninja -C "$build" >/dev/null
fi
exec env PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 tests/models/soak.py \
	--shim "$build/src/shim/libwsdbg.so" \
	--server "$build/tests/peers/ws-echo-server" \
	--client "$build/tests/peers/ws-client" \
	--load-client "$build/tests/models/ws-load-client" \
	--seconds "$seconds" --budget $((seconds + 120))
