#!/usr/bin/env bash
# run_long.sh - fuzz one target for longer than the test command does.
#
#   tests/fuzz/run_long.sh TARGET [SECONDS]
#
# TARGET is a fuzz target's name with or without "fuzz_" (capture_snapshot,
# ws_decoder, http_upgrade); SECONDS defaults to 3600. Builds build/fuzz
# (clang, libFuzzer, ASan+UBSan; the same as tools/test.sh; another folder
# with WSDBG_FUZZ_BUILD=DIR) when needed, grows
# build/fuzz/corpus/fuzz_TARGET from the seeds in
# tests/fuzz/corpus/TARGET/, and uses every core but one (libFuzzer -fork).
# Prints inputs run and inputs per second at the end. A crash input lands
# in build/fuzz/ (crash-*, leak-*, timeout-*); keep it as a regression
# test by copying it to tests/fuzz/regressions/TARGET/ (the test builds
# replay that folder on every run) once the bug is fixed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/lib/common.sh

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 TARGET [SECONDS]" >&2
	exit 2
fi
short=${1#fuzz_}
seconds=${2:-3600}
case $seconds in
'' | *[!0-9]*) echo "$0: SECONDS must be a number: '$seconds'" >&2; exit 2 ;;
esac
if [ ! -d "tests/fuzz/corpus/$short" ]; then
	echo "$0: no such target: $1 (see tests/fuzz/corpus/)" >&2
	exit 2
fi

build=${WSDBG_FUZZ_BUILD:-build/fuzz}
CC=clang wsdbg_setup "$build" -Dfuzz=true -Dtests=false \
	-Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all
ninja -C "$build" "tests/fuzz/fuzz_$short" >/dev/null

corpus=$build/corpus/fuzz_$short
mkdir -p "$corpus"
cp -n "tests/fuzz/corpus/$short"/* "$corpus"/ 2>/dev/null || true
jobs=$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))
log=$build/fuzz_$short.long.log
echo "fuzz_$short: ${seconds}s on $jobs core(s), log $log"
status=0
"$build/tests/fuzz/fuzz_$short" -max_total_time="$seconds" -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 -fork="$jobs" \
	-ignore_crashes=0 -artifact_prefix="$build/" "$corpus" \
	>"$log" 2>&1 || status=$?
# -fork prints the running total of inputs at the start of status lines.
runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
echo "fuzz_$short: ${runs:-?} inputs, about $(( ${runs:-0} / (seconds > 0 ? seconds : 1) )) per second"
if [ $status -ne 0 ]; then
	tail -40 "$log"
	echo "fuzz_$short: FAILED; the input is in $build/ (crash-*):" \
		"fix the bug, then keep it in tests/fuzz/regressions/$short/"
fi
exit $status
