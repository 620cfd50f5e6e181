#!/bin/sh
# test_egress.sh: the egress allowlist.  With AIRLOCK_EGRESS set, a
# preloaded client reaches the hosts on the list (by address, CIDR,
# "localhost", or a name it resolved) and no other: a connection elsewhere
# fails at connect() with EACCES before any byte leaves, in curl, Python and
# node, with one stderr line and one audit line; monitor mode and a broken
# list behave as the rest of airlock.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'stop_mock; rm -rf "$T"' EXIT
start_mock
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Name a primary colour."}]}'
URL=https://localhost:$TLS_PORT/v1/chat/completions

curl_llm() { # curl_llm NAME VAR=VALUE...: one LLM call; exit code to $T/NAME.rc
    name=$1
    shift
    env LD_PRELOAD="$SHIM" AIRLOCK_AUDIT="$T/$name.audit" "$@" curl -sS --max-time 10 --cacert "$CA" \
        -H 'content-type: application/json' -d "$BODY" "$URL" > "$T/$name.out" 2> "$T/$name.err"
    echo $? > "$T/$name.rc"
}

before=$(mock_requests)
curl_llm allowed AIRLOCK_EGRESS="localhost"
[ "$(cat "$T/allowed.rc")" = 0 ] && grep -q '"choices"' "$T/allowed.out" &&
    ok "curl reaches an LLM host on the list" || fail "allowed" "$(cat "$T/allowed.err")"

curl_llm cidr AIRLOCK_EGRESS="10.0.0.0/8,127.0.0.0/8,::1"
[ "$(cat "$T/cidr.rc")" = 0 ] && ok "CIDR and address entries allow their addresses" || fail "cidr" "$(cat "$T/cidr.err")"

mid=$(mock_requests)
curl_llm refused AIRLOCK_EGRESS="api.openai.com,*.anthropic.com"
[ "$(cat "$T/refused.rc")" = 7 ] && ok "curl cannot connect to a host that is not on the list" ||
    fail "refused" "rc $(cat "$T/refused.rc"): $(cat "$T/refused.err")"
[ "$(mock_requests)" = "$mid" ] && ok "the refused request never reached the server" || fail "server log" "request arrived"
 # (curl answers "localhost" itself, without getaddrinfo: no name is known)
grep -q "airlock: refused a connection to \(127.0.0.1\|::1\) port $TLS_PORT: not in AIRLOCK_EGRESS" "$T/refused.err" &&
    ok "stderr names the address and port refused" || fail "stderr" "$(cat "$T/refused.err")"
grep -q '"event":"egress".*"addr":"\(127.0.0.1\|::1\)","port":'"$TLS_PORT"',"verdict":"refused"' "$T/refused.audit" &&
    ok "the audit log records the refused connection" || fail "audit" "$(cat "$T/refused.audit" 2>&1)"
grep -q 'primary colour' "$T/refused.audit" && fail "audit content" "prompt text in the audit log" ||
    ok "the egress audit line holds no request content"

curl_llm monitor AIRLOCK_EGRESS="api.openai.com" AIRLOCK_MODE=monitor
[ "$(cat "$T/monitor.rc")" = 0 ] && grep -q 'would refuse (monitor mode)' "$T/monitor.err" &&
    ok "monitor mode lets the connection through and says it would refuse it" || fail "monitor" "$(cat "$T/monitor.err")"

curl_llm broken AIRLOCK_EGRESS="api.openai.com,10.0.0.0/99"
[ "$(cat "$T/broken.rc")" = 7 ] && grep -q "AIRLOCK_EGRESS: entry '10.0.0.0/99': bad prefix length" "$T/broken.err" &&
    ok "a list that does not parse refuses connections and says why" || fail "broken" "$(cat "$T/broken.err")"
curl_llm broken_open AIRLOCK_EGRESS="api.openai.com,10.0.0.0/99" AIRLOCK_FAIL=open
[ "$(cat "$T/broken_open.rc")" = 0 ] && ok "AIRLOCK_FAIL=open: a broken list limits nothing" || fail "broken open" "$(cat "$T/broken_open.err")"

# airlock run --egress sets the same list
"$AIRLOCK" run --egress api.openai.com -- curl -sS --max-time 10 --cacert "$CA" -d "$BODY" \
    -H 'content-type: application/json' "$URL" > "$T/run.out" 2> "$T/run.err"
[ $? = 7 ] && grep -q 'not in AIRLOCK_EGRESS' "$T/run.err" && ok "airlock run --egress limits the program's connections" ||
    fail "run --egress" "$(cat "$T/run.err")"

# Python: the error a program sees
cat > "$T/py.py" <<'EOF'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("connected")
except PermissionError as e:
    print("PermissionError", e.errno)
except OSError as e:
    print("OSError", e.errno)
EOF
env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS="192.0.2.1" $PY "$T/py.py" "$TLS_PORT" > "$T/py.out" 2> /dev/null
grep -qx 'PermissionError 13' "$T/py.out" && ok "Python sees PermissionError (EACCES) for a refused connection" ||
    fail "python" "$(cat "$T/py.out")"
env LD_PRELOAD="$SHIM" $PY "$T/py.py" "$TLS_PORT" > "$T/py2.out" 2> /dev/null
grep -qx 'connected' "$T/py2.out" && ok "without AIRLOCK_EGRESS nothing is limited" || fail "no list" "$(cat "$T/py2.out")"

# by name: the machine's host name, resolved by the process, allows the
# address it resolved to; the same address never resolved from that name does not
HN=$(hostname 2>/dev/null)
if [ -n "$HN" ] && getent ahostsv4 "$HN" > /dev/null 2>&1; then
    cat > "$T/name.py" <<'EOF'
import socket, sys
srv = socket.socket(); srv.bind(("0.0.0.0", 0)); srv.listen(4)
port = srv.getsockname()[1]
host = sys.argv[1]
ip = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
def attempt(target):
    try:
        socket.create_connection((target, port), timeout=5).close(); return "connected"
    except PermissionError: return "refused"
    except OSError as e: return "error %d" % e.errno
print("by-name", attempt(host))
EOF
    env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS="$HN" $PY "$T/name.py" "$HN" > "$T/name.out" 2> "$T/name.err"
    grep -qx 'by-name connected' "$T/name.out" && ok "a name on the list allows the address the process resolved it to" ||
        fail "by name" "$(cat "$T/name.out" "$T/name.err")"
    cat > "$T/lit.py" <<'EOF'
import socket, sys
srv = socket.socket(); srv.bind(("0.0.0.0", 0)); srv.listen(4)
ip = sys.argv[1]
try:
    socket.create_connection((ip, srv.getsockname()[1]), timeout=5).close(); print("connected")
except PermissionError: print("refused")
EOF
    IP=$(getent ahostsv4 "$HN" | awk 'NR==1{print $1}')
    env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS="$HN" $PY "$T/lit.py" "$IP" > "$T/lit.out" 2> /dev/null
    grep -qx 'refused' "$T/lit.out" && ok "the same address by literal, never resolved from an allowed name, is refused" ||
        fail "literal" "$(cat "$T/lit.out")"
else
    ok "host name does not resolve here: name check covered by the unit tests"
fi

# node (libuv): connect refused, the program gets an error, not a hang
NODE=$(command -v node || command -v nodejs)
if [ -n "$NODE" ]; then
    env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS="api.openai.com" NODE_EXTRA_CA_CERTS="$CA" timeout 20 "$NODE" -e "
const https = require('https');
const req = https.request('$URL', {method: 'POST', headers: {'content-type': 'application/json'}}, r => { console.log('status', r.statusCode); });
req.on('error', e => console.log('error', e.code));
req.end('$BODY');" > "$T/node.out" 2> /dev/null
    grep -qx 'error EACCES' "$T/node.out" && ok "node gets EACCES for a host that is not on the list" ||
        fail "node" "$(cat "$T/node.out")"
else
    fail "node" "node is not installed (tools/deps.sh installs nodejs)"
fi

finish
