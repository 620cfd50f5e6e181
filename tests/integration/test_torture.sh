#!/bin/sh
# test_torture.sh: out-of-memory torture ($B/san/torture, built by make
# examples): the shipped packs load, a prompt and a completion scan, a
# stream scrubs and a connection exchanges with the N-th allocation failing
# for every N (sampled when there are thousands); each run must end in an
# error or a correct result, never a crash, a leak or PII reaching the host.
B=${B:-build}
cd "$(dirname "$0")/../.." || exit 1
if [ ! -x "$B/san/torture" ]; then
    echo "not ok torture: $B/san/torture missing (make examples)"
    echo "0 passed, 1 failed"
    exit 1
fi
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    timeout 120 "$B/san/torture" "${TORTURE_SECONDS:-35}" > "/tmp/al_torture.$$" 2>&1
rc=$?
grep -E '^(ok|FAIL) |failing|^torture:' "/tmp/al_torture.$$"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "/tmp/al_torture.$$" | tail -n 1)
if [ $rc -ne 0 ]; then
    # leaks found at exit or a crash: show the sanitizer's summary lines
    grep -E 'SUMMARY|ERROR:' "/tmp/al_torture.$$" | sort | uniq -c | head -n 5
fi
rm -f "/tmp/al_torture.$$"
if [ -n "$line" ] && [ $rc -eq 0 ]; then
    echo "$line"
    exit 0
fi
p=$(echo "$line" | sed -nE 's/^([0-9]+) passed.*/\1/p')
f=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p')
[ -n "$f" ] && [ "$f" -gt 0 ] || f=1
echo "${p:-0} passed, $f failed"
exit 1
