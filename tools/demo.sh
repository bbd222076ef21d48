#!/bin/bash
# demo.sh - build wsdbg and watch a real WebSocket server with it: Debian's
# python3-websockets echo server runs under `wsdbg run`, a scripted client
# talks to it, and wsdbg shows the connection and every message from
# outside the server (tools/demo/demo.py). To decode a recorded session
# without running anything, see tools/decode/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/common.sh

wsdbg_need_packages "${WSDBG_BUILD_PACKAGES[@]}" python3-websockets
wsdbg_setup build/demo -Dtests=false
ninja -C build/demo >/dev/null

exec /usr/bin/python3 tools/demo/demo.py build/demo
