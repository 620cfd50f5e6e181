# tests/integration/lib.sh: shared helpers for the shell integration tests
# (POSIX sh; source it with `. "$(dirname "$0")/lib.sh"`).
#   start_mock   start examples/mock_llm.py in the background; sets TLS_PORT,
#                HTTP_PORT, CA (its certificate), MOCK_LOG (one JSON line per
#                request; the body is a JSON string there, so grep for text
#                without quotes or backslashes) and MOCK_DIR (a temp dir removed by stop_mock);
#                stops it on exit.
#   stop_mock    stop it now (idempotent).
#   ok NAME / fail NAME WHY / finish   count results; finish prints
#                "N passed, N failed" and exits non-zero on any failure.
#   check_contains / check_absent NAME FILE TEXT   fixed-string assertions.
# B (build dir, default build), SHIM and AIRLOCK point at the build under test.
# Tests never print prompt/completion text they planted except on failure.

if [ -z "$ROOT" ]; then
    ROOT=$(cd "$(dirname "$0")/../.." && pwd)
fi
B=${B:-build}
case "$B" in /*) ;; *) B=$ROOT/$B ;; esac
SHIM=$B/libairlock.so
AIRLOCK=$B/airlock
PY=/usr/bin/python3
MOCK=$ROOT/examples/mock_llm.py
MOCK_CERTDIR=${MOCK_CERTDIR:-$B/mock-certs}
export B SHIM AIRLOCK ROOT
PASSED=0
FAILED=0
MOCK_PID=

ok() {
    PASSED=$((PASSED + 1))
    echo "ok   $1"
}

fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $1: $2"
}

# finish: stops the mock, prints the summary line, exits 1 on any failure.
finish() {
    stop_mock
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}

# check_contains NAME FILE TEXT: ok when FILE holds TEXT (fixed string).
check_contains() {
    if grep -qF -- "$3" "$2" 2>/dev/null; then ok "$1"; else fail "$1" "expected text not found in $(basename "$2")"; fi
}

# check_absent NAME FILE TEXT: ok when FILE exists and does not hold TEXT.
check_absent() {
    if [ ! -e "$2" ]; then
        fail "$1" "$(basename "$2") missing"
    elif grep -qF -- "$3" "$2"; then
        fail "$1" "unexpected text found in $(basename "$2")"
    else
        ok "$1"
    fi
}

# mock_requests: number of requests the mock has logged so far.
mock_requests() {
    if [ -f "$MOCK_LOG" ]; then wc -l < "$MOCK_LOG" | tr -d ' '; else echo 0; fi
}

start_mock() {
    MOCK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/airlock-mock.XXXXXX")
    MOCK_LOG=$MOCK_DIR/requests.log
    "$PY" "$MOCK" --portfile "$MOCK_DIR/ports" --log "$MOCK_LOG" --certdir "$MOCK_CERTDIR" \
        > "$MOCK_DIR/stdout" 2>&1 &
    MOCK_PID=$!
    # Stop the mock on exit, keeping any EXIT trap the test set (which then
    # must call stop_mock itself, or finish); signals end the script via exit.
    trap > "$MOCK_DIR/traps"
    grep -q ' EXIT$' "$MOCK_DIR/traps" || trap 'stop_mock' EXIT
    grep -q ' INT$' "$MOCK_DIR/traps" || trap 'exit 1' INT TERM HUP
    i=0
    while [ ! -s "$MOCK_DIR/ports" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$MOCK_PID" 2>/dev/null; then
            echo "start_mock: mock server did not start:" >&2
            cat "$MOCK_DIR/stdout" >&2
            fail "start_mock" "mock server did not start"
            finish
        fi
        sleep 0.05
    done
    TLS_PORT=$(sed -E 's/.*"tls": *([0-9]+).*/\1/' "$MOCK_DIR/ports")
    HTTP_PORT=$(sed -E 's/.*"http": *([0-9]+).*/\1/' "$MOCK_DIR/ports")
    CA=$MOCK_CERTDIR/cert.pem
    export TLS_PORT HTTP_PORT CA MOCK_LOG MOCK_DIR
}

stop_mock() {
    if [ -n "$MOCK_PID" ]; then
        kill "$MOCK_PID" 2>/dev/null
        wait "$MOCK_PID" 2>/dev/null
        MOCK_PID=
    fi
    if [ -n "$MOCK_DIR" ] && [ -d "$MOCK_DIR" ]; then
        rm -rf "$MOCK_DIR"
    fi
    MOCK_DIR=
}
