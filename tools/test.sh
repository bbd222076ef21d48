#!/bin/bash
# test.sh - build wsdbg and run the whole test suite:
#   1. unit and tool tests (Criterion, meson test), optimised build;
#   2. the same tests under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the shim's threaded scenarios under ThreadSanitizer (meson suite
#      "tsan"), any report failing them;
#   4. each libFuzzer target for a bounded time (WSDBG_FUZZ_SECONDS, 60 s
#      each by default), with sanitizers, seeded from tests/fuzz/corpus/.
# Ends with one line "wsdbg: N passed, N failed, N skipped" (a test skips
# itself, saying why, when what it needs cannot run here: Chromium under
# ASan) and exits non-zero on any failure. Build directories live under
# build/.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/common.sh

fuzz_seconds=${WSDBG_FUZZ_SECONDS:-60}

# Real peers and hosts the tests run: python3-websockets, nginx (a proxy
# under the shim), chromium (a browser's process tree under the shim),
# jemalloc (another preloaded library), valgrind (leak check), tmux (what
# a person sees on a terminal).
wsdbg_need_packages "${WSDBG_BUILD_PACKAGES[@]}" libcriterion-dev \
	clang libclang-rt-14-dev python3 python3-websockets nginx-light \
	chromium libjemalloc2 valgrind tmux

failed_stages=()

# Runs the meson tests of build dir $1 (all, or those the meson test
# options after $2 select); records a failure by name $2.
run_suite() {
	local dir=$1 name=$2
	shift 2
	echo "== $name"
	if ! ninja -C "$dir" >"$dir/ninja.out" 2>&1; then
		cat "$dir/ninja.out"
		failed_stages+=("$name build")
		return 0
	fi
	if ! meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" \
		| grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Timeout):'; then
		:
	fi
	if ! python3 tools/lib/count_tests.py "$dir/meson-logs/testlog.json" \
		>"$dir/counts"; then
		failed_stages+=("$name")
	fi
}

wsdbg_setup build/plain
run_suite build/plain "unit tests"

# UBSan findings must fail the test, not just print.
wsdbg_setup build/asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build/asan "unit tests under ASan+UBSan"

# Criterion cannot run under TSan: no unit tests in this build, only the
# shim in real processes, with the TSan runtime preloaded first. A report
# ends the host with status 66 and is on its stderr, which the scenarios
# check. die_after_fork=0: the shim starts its stats thread again in fork
# children, by design (TSan otherwise refuses threads after a fork).
wsdbg_setup build/tsan -Db_sanitize=thread -Db_lundef=false -Dunit_tests=false
TSAN_OPTIONS=halt_on_error=1:exitcode=66:die_after_fork=0 \
	run_suite build/tsan "shim under ThreadSanitizer" --suite tsan

echo "== fuzzing, ${fuzz_seconds}s per target"
CC=clang wsdbg_setup build/fuzz -Dfuzz=true -Dtests=false \
	-Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all
fuzz_passed=0 fuzz_failed=0
if ninja -C build/fuzz >build/fuzz/ninja.out 2>&1; then
	for target in build/fuzz/tests/fuzz/fuzz_*; do
		[ -f "$target" ] && [ -x "$target" ] || continue
		name=$(basename "$target")
		corpus=build/fuzz/corpus/$name
		mkdir -p "$corpus"
		seeds=tests/fuzz/corpus/${name#fuzz_}
		[ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
		if "$target" -max_total_time="$fuzz_seconds" -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=build/fuzz/ "$corpus" \
			>build/fuzz/$name.log 2>&1; then
			runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
				build/fuzz/$name.log | grep -o '[0-9]*$' || echo '?')
			echo "$name: ok, $runs inputs in ${fuzz_seconds}s"
			fuzz_passed=$((fuzz_passed + 1))
		else
			tail -40 build/fuzz/$name.log
			echo "$name: FAILED (input saved under build/fuzz/)"
			fuzz_failed=$((fuzz_failed + 1))
			failed_stages+=("$name")
		fi
	done
	if [ $((fuzz_passed + fuzz_failed)) -eq 0 ]; then
		echo "no fuzz target was built"
		failed_stages+=("fuzz targets")
	fi
else
	cat build/fuzz/ninja.out
	failed_stages+=("fuzz build")
fi

passed=$fuzz_passed failed=$fuzz_failed skipped=0
for counts in build/plain/counts build/asan/counts build/tsan/counts; do
	[ -f "$counts" ] || continue
	read -r p f s <"$counts"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + ${s:-0}))
done
if [ ${#failed_stages[@]} -gt 0 ]; then
	echo "failed: ${failed_stages[*]}"
	[ "$failed" -eq 0 ] && failed=${#failed_stages[@]}
fi
echo "wsdbg: $passed passed, $failed failed, $skipped skipped"
[ ${#failed_stages[@]} -eq 0 ]
