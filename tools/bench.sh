#!/bin/bash
# bench.sh - build wsdbg and its benchmark suite, install what the
# comparisons need when it is missing (strace, tshark, Debian's node-ws and
# python3-websockets), and print one table: the C echo server alone, under
# wsdbg, under a forward-only preload, under strace and during a tshark
# capture; python3-websockets and node ws alone and under wsdbg;
# permessage-deflate; the hooked-call and decode-and-record
# microbenchmarks; memory per connection. See tools/bench/README.md.
#
#   ./tools/bench.sh [--quick] [run_bench.py options]
#
# A full run takes about 15 minutes, --quick about 2. The table is also
# written to build/bench/bench-results.md (raw figures beside it, .json).
# Build directory: build/bench, buildtype debugoptimized (the project's
# default, what `meson setup build` gives users; -O2 with symbols, so perf
# can name functions).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/common.sh

wsdbg_need_packages "${WSDBG_BUILD_PACKAGES[@]}" python3 python3-websockets \
	strace tshark valgrind nodejs node-ws util-linux procps

# node `ws`: Debian's node-ws beside whatever nodejs is installed
# (nodesource's 20.x here); it lives in /usr/share/nodejs.
if ! NODE_PATH=/usr/share/nodejs node -e "require('ws')" 2>/dev/null; then
	echo "bench: node cannot load Debian's ws from /usr/share/nodejs" >&2
	exit 1
fi

wsdbg_setup build/bench -Dbuildtype=debugoptimized -Dtests=false
ninja -C build/bench >build/bench/ninja.out 2>&1 || {
	cat build/bench/ninja.out
	exit 1
}

exec /usr/bin/python3 tools/bench/run_bench.py --build build/bench \
	--buildtype debugoptimized --out build/bench/bench-results.md "$@"
