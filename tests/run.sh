#!/bin/sh
# tests/run.sh unit|integration|all [UNIT_BINARIES...]
# Runs unit test programs (one at a time) and/or tests/integration/test_*
# scripts (TEST_JOBS at a time, default one per processor), each with a
# time limit, and ends with one line "N passed, N failed" over all of them.
# Exit status 0 only when nothing failed.
what=$1; shift
if [ "$what" = one-integration ]; then # one-integration TMPDIR TEST: run by xargs below
    n=$(basename "$2")
    case "$2" in
        *.py) timeout 300 /usr/bin/python3 "$2" > "$1/$n.out" 2>&1 ;;
        *) timeout 300 sh "$2" > "$1/$n.out" 2>&1 ;;
    esac
    echo $? > "$1/$n.rc"
    { echo "== integration: $n"; grep -v '^ok  ' "$1/$n.out"; } > "$1/$n.show"
    cat "$1/$n.show"
    exit 0
fi
P=0; F=0; failed_list=""
count() { # $1 = output file, $2 = exit code, $3 = name
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    else
        if [ "$2" -eq 0 ]; then p=1; f=0; else p=0; f=1; fi
    fi
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    P=$((P + p)); F=$((F + f))
    [ "$f" -ne 0 ] && failed_list="$failed_list $3"
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ "$what" = unit ] || [ "$what" = all ]; then
    for t in "$@"; do
        n=$(basename "$t")
        echo "== unit: $n"
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            timeout 300 "$t" > "$tmp/out" 2>&1
        rc=$?
        grep -v '^ok  ' "$tmp/out"
        count "$tmp/out" $rc "$n"
    done
fi
if [ "$what" = integration ] || [ "$what" = all ]; then
    # TEST_JOBS at a time (default: one per processor); each test's lines are
    # shown as it ends, and counted afterwards in name order
    jobs=${TEST_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
    ls tests/integration/test_* 2>/dev/null | sort |
        xargs -P "$jobs" -n 1 sh "$0" one-integration "$tmp"
    for t in $(ls tests/integration/test_* 2>/dev/null | sort); do
        n=$(basename "$t")
        count "$tmp/$n.out" "$(cat "$tmp/$n.rc" 2>/dev/null || echo 1)" "$n"
    done
fi
[ -n "$failed_list" ] && echo "failing:$failed_list"
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
