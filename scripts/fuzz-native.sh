#!/bin/bash
# libFuzzer harnesses of the helper's plan reader and the native front's
# prepared-plan reader (src/native/fuzz/), built with ASan and UBSan by
# Debian's clang into a temporary directory (never into dist/), seeded with
# real plans made by the TypeScript encoder (src/native/fuzz/seeds.ts).
#
#   scripts/fuzz-native.sh                 each harness for FUZZ_SECONDS (default 60)
#   FUZZ_SECONDS=3600 npm run fuzz:native  longer
#   scripts/fuzz-native.sh --replay        only replay test/fixtures/fuzz/native/* (CI)
#
# A crash leaves its input in test/fixtures/fuzz/native/HARNESS/ (commit it:
# test/integration/fuzz-native.test.ts replays every file there) and the
# script exits non-zero. FUZZ_KEEP=DIR keeps the corpus and the build in DIR.
# Prints one line per harness: "fuzz HARNESS: N runs in S s, cov C, crashes K".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
native=$root/src/native
fixtures=$root/test/fixtures/fuzz/native
seconds=${FUZZ_SECONDS:-60}
replay=0
[ "${1:-}" = --replay ] && replay=1
command -v clang >/dev/null || { echo "fuzz-native: clang is not installed (scripts/install.sh installs it)" >&2; exit 1; }

if [ -n "${FUZZ_KEEP:-}" ]; then
	work=$FUZZ_KEEP
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/igloo-fuzz-native.XXXXXX)
	trap 'rm -rf "$work"' EXIT
fi

flags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Wl,--wrap=fail)
# every file of the helper but main.c (libFuzzer has the main) and front.c
# (prepared_fuzz.c includes it, for its static functions)
others=()
for f in $(make -s -C "$native" print-srcs); do
	case $f in main.c | front.c) ;; *) others+=("$native/$f") ;; esac
done
clang "${flags[@]}" -o "$work/plan_fuzz" "$native/fuzz/plan_fuzz.c" "$native/fuzz/common.c" \
	"$native/plan.c" "$native/util.c" "$native/report.c"
clang "${flags[@]}" -o "$work/prepared_fuzz" "$native/fuzz/prepared_fuzz.c" \
	"$native/fuzz/common.c" "${others[@]}"

status=0
for h in plan prepared; do
	mkdir -p "$fixtures/$h"
	# the fixtures first: every crash found so far must stay fixed
	mapfile -t found < <(find "$fixtures/$h" -type f ! -name '.*' | sort)
	if [ ${#found[@]} -gt 0 ]; then
		if ! "$work/${h}_fuzz" -runs=1 "${found[@]}" >"$work/$h-replay.log" 2>&1; then
			echo "fuzz $h: a fixture crashes again:" >&2
			tail -40 "$work/$h-replay.log" >&2
			status=1
			continue
		fi
		echo "fuzz $h: ${#found[@]} fixtures replayed, no crash"
	fi
	[ $replay = 1 ] && continue
	if [ ! -d "$work/seeds" ]; then
		(cd "$root" && node --import tsx src/native/fuzz/seeds.ts "$work/seeds")
	fi
	mkdir -p "$work/corpus-$h"
	log=$work/$h.log
	set +e
	"$work/${h}_fuzz" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix="$fixtures/$h/" "$work/corpus-$h" "$work/seeds/$h" \
		>"$log" 2>&1
	rc=$?
	set -e
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	crashes=$(find "$fixtures/$h" -type f -newer "$work/${h}_fuzz" | wc -l)
	echo "fuzz $h: ${runs:-0} runs in $seconds s, cov ${cov:-0}, crashes $crashes"
	if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
		echo "fuzz $h: libFuzzer exited $rc; the input is in $fixtures/$h/:" >&2
		grep -A30 'ERROR: \|runtime error' "$log" | head -60 >&2 || tail -40 "$log" >&2
		status=1
	fi
done
exit $status
