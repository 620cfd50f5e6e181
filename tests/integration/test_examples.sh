#!/bin/sh
# test_examples.sh: the example clients (libcurl program, raw OpenSSL client,
# urllib chat client) work against the local mock WITHOUT the shim, so a
# failure under the shim is the shim's, not the client's.  Also: the mock
# gives identical bytes for identical requests (the baseline for
# byte-identity checks).
. "$(dirname "$0")/lib.sh"
unset LD_PRELOAD
EX=$B/ex
for p in client_libcurl client_openssl; do
    if [ ! -x "$EX/$p" ]; then
        fail "$p built" "$EX/$p missing (make examples)"
        finish
    fi
done
start_mock
T=$MOCK_DIR
U=https://localhost:$TLS_PORT/v1/chat/completions
BODY='{"model":"m","messages":[{"role":"user","content":"hello"}]}'
SBODY='{"model":"m","stream":true,"messages":[{"role":"user","content":"hello"}]}'

# text FILE: the completion text of an OpenAI chat reply (JSON or SSE).
text() {
    "$PY" "$ROOT/examples/chat_client.py" --text < "$1" 2>/dev/null
}

timeout 20 "$EX/client_libcurl" --cacert "$CA" -d "$BODY" "$U" > "$T/c1" 2> "$T/e1"
if grep -qx 'HTTP/2 200' "$T/e1" && [ "$(text "$T/c1")" = "Photosynthesis converts light energy into chemical energy stored in glucose. Plants release oxygen as a by-product." ]; then
    ok "client_libcurl: JSON reply over HTTP/2 by default, status and version on stderr"
else
    fail "client_libcurl JSON" "$(cat "$T/e1")"
fi

timeout 20 "$EX/client_libcurl" --cacert "$CA" --http1.1 --stream -H "X-Mock-Scenario: pii" \
    -d "$SBODY" "$U" > "$T/c2" 2> "$T/e2"
case "$(text "$T/c2")" in
Sure.*10.20.30.40.) grep -qx 'HTTP/1.1 200' "$T/e2" && ok "client_libcurl --stream --http1.1: SSE assembles" ||
    fail "client_libcurl stream" "$(cat "$T/e2")" ;;
*) fail "client_libcurl stream" "text did not assemble" ;;
esac

timeout 30 "$EX/client_libcurl" --cacert "$CA" --threads 8 -H "X-Mock-Scenario: echo" \
    -d "$BODY" "$U" > "$T/c3" 2> "$T/e3"
n=$(grep -c '"content":"hello"' "$T/c3")
s=$(grep -c '^HTTP/2 200$' "$T/e3")
[ "$n" -eq 8 ] && [ "$s" -eq 8 ] && ok "client_libcurl --threads 8: 8 replies in one process" ||
    fail "client_libcurl threads" "$n bodies, $s statuses"

timeout 30 "$EX/client_libcurl" --cacert "$CA" --repeat 20 -o "$T/c4" -d "$BODY" "$U" 2> "$T/e4"
c=$(grep -o '"conn":[0-9]*' "$MOCK_LOG" | tail -n 20 | sort -u | wc -l)
[ "$(grep -o chatcmpl-mock0001 "$T/c4" | wc -l)" -eq 20 ] && [ "$c" -eq 1 ] &&
    ok "client_libcurl --repeat 20: 20 exchanges on one connection" ||
    fail "client_libcurl repeat" "connections: $c; $(cat "$T/e4")"

timeout 20 "$EX/client_openssl" --cacert "$CA" "$TLS_PORT" /v1/chat/completions -d "$BODY" > "$T/o1" 2> "$T/f1"
rc=$?
[ $rc -eq 3 ] && grep -qx 'alpn: h2' "$T/f1" &&
    ok "client_openssl offers h2,http/1.1 and refuses h2 when the server picks it" ||
    fail "client_openssl alpn" "rc $rc: $(cat "$T/f1")"

timeout 20 "$EX/client_openssl" --cacert "$CA" --alpn http/1.1 "$TLS_PORT" /v1/chat/completions \
    -H "X-Mock-Scenario: pii" -d "$SBODY" > "$T/o2" 2> "$T/f2"
rc=$?
timeout 20 "$EX/client_openssl" --cacert "$CA" --alpn http/1.1 --ex --write-size 5 --read-size 3 \
    "$TLS_PORT" /v1/chat/completions -H "X-Mock-Scenario: pii" -d "$SBODY" > "$T/o3" 2> "$T/f3"
rc3=$?
if [ $rc -eq 0 ] && [ $rc3 -eq 0 ] && head -n 1 "$T/o2" | grep -q '^HTTP/1.1 200 OK' &&
    grep -q 'Transfer-Encoding: chunked' "$T/o2" && grep -qx 'closed: clean' "$T/f2"; then
    ok "client_openssl 1-byte reads: whole raw HTTP/1.1 reply, clean close"
else
    fail "client_openssl raw" "rc $rc/$rc3: $(cat "$T/f2" "$T/f3")"
fi
cmp -s "$T/o2" "$T/o3" && ok "the mock answers identical requests with identical bytes (SSL_read vs _ex, any split)" ||
    fail "mock determinism" "raw replies differ"

timeout 20 "$EX/client_openssl" --cacert "$CA" --alpn http/1.1 "$TLS_PORT" /v1/chat/completions \
    -H "X-Mock-Scenario: close-mid-stream" -d "$SBODY" > "$T/o4" 2> "$T/f4"
rc=$?
[ $rc -eq 2 ] && ok "client_openssl reports a close without close_notify (exit 2)" ||
    fail "client_openssl unexpected eof" "rc $rc"

SSL_CERT_FILE=$CA timeout 20 "$PY" "$ROOT/examples/chat_client.py" --api anthropic --stream \
    "https://localhost:$TLS_PORT/v1/messages" "mock:pii please" > "$T/p1" 2>&1
case "$(cat "$T/p1")" in
Sure.*10.20.30.40.) ok "chat_client.py (urllib): Anthropic stream assembled" ;;
*) fail "chat_client.py" "$(head -c 200 "$T/p1")" ;;
esac
finish
