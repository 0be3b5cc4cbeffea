#!/bin/sh
# run-fuzzer.sh SRCDIR SECONDS NAME - run one libFuzzer harness (make fuzz).
#
# Runs ./fuzz/NAME for SECONDS on its seed corpus (SRCDIR/fuzz/corpus/NAME,
# read only) plus the inputs it found before (fuzz-out/NAME/corpus), with
# its dictionary if there is one.  SECONDS=0 only replays the corpora.
# Prints one summary line; exits non-zero, with the end of the log, on a
# finding (a crash, a sanitizer report, a leak, a timeout, out of memory).
set -u
srcdir=$1
secs=$2
name=$3
out=fuzz-out/$name
mkdir -p "$out/corpus"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* \
    "$out"/slow-unit-*

set -- -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$out/"
if [ "$secs" -gt 0 ]; then
	set -- "$@" -max_total_time="$secs"
else
	set -- "$@" -runs=0
fi
[ -f "$srcdir/fuzz/dict/$name.dict" ] &&
	set -- "$@" -dict="$srcdir/fuzz/dict/$name.dict"
case $name in
fuzz_client)
	# The daemon logs to stderr; keep it out of the way (reports
	# still reach the sanitizer's descriptor).
	set -- "$@" -close_fd_mask=2 ;;
esac

start=$(date +%s)
ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    "./fuzz/$name" "$@" "$out/corpus" "$srcdir/fuzz/corpus/$name" \
    >"$out/log" 2>&1
rc=$?
end=$(date +%s)

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$out/log" | tail -n 1)
ft=$(grep -o 'ft: [0-9]*' "$out/log" | tail -n 1)
n=$(ls "$out/corpus" | wc -l)
echo "$name: ${execs:-?} executions in $((end - start))s, ${cov:-cov: ?}," \
    "${ft:-ft: ?}, $n new corpus files (log: $out/log)"
found=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* \
    2>/dev/null)
if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
	echo "$name: FINDING (exit $rc) ${found:-}" >&2
	tail -n 60 "$out/log" >&2
	exit 1
fi
exit 0
