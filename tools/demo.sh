#!/bin/bash
# demo.sh - build wsdbg and run its main job on a bundled example.
#
# Until the shim and CLI land, the main job is decoding: a real WebSocket
# session (python3-websockets server and client, permessage-deflate on one
# connection, recorded on loopback by tools/decode/record_sample.py) is run
# through the same decoding core the shim will use, and shown as a timeline.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/common.sh

wsdbg_need_packages "${WSDBG_BUILD_PACKAGES[@]}"
wsdbg_setup build/demo -Dtests=false
ninja -C build/demo >/dev/null

./build/demo/tools/decode/wsdbg-decode tools/decode/samples/chat.wstrace
