#!/bin/sh
# tests/run.sh unit|integration|all [UNIT_BINARIES...]
# Runs unit test programs and/or tests/integration/test_* scripts, each with a
# time limit, and ends with one line "N passed, N failed" over all of them.
# Exit status 0 only when nothing failed.
what=$1; shift
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
    for t in $(ls tests/integration/test_* 2>/dev/null | sort); do
        n=$(basename "$t")
        echo "== integration: $n"
        case "$t" in
            *.py) timeout 300 /usr/bin/python3 "$t" > "$tmp/out" 2>&1 ;;
            *) timeout 300 sh "$t" > "$tmp/out" 2>&1 ;;
        esac
        rc=$?
        cat "$tmp/out" | grep -v '^ok  '
        count "$tmp/out" $rc "$n"
    done
fi
[ -n "$failed_list" ] && echo "failing:$failed_list"
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
