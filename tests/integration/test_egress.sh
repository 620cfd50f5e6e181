#!/bin/sh
# test_egress.sh: the egress allowlist.  With AIRLOCK_EGRESS set, a
# preloaded client reaches the hosts on the list (by address, CIDR,
# "localhost", or a name it resolved) and no other: a connection elsewhere
# fails at connect() with EACCES before any byte leaves, in curl, Python and
# node, with one stderr line and one audit line; monitor mode and a broken
# list behave as the rest of airlock.  An address allowed only through a
# resolved name is held to that name at the connection's first bytes (TLS
# server name, HTTP Host).
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

# by name, at the first bytes: an address allowed only because an allowed
# name resolved to it admits that name, not another one served from the same
# address (a CDN, domain fronting).  The TLS server name (SNI) or HTTP Host
# the program writes must be on the list too.  Needs a name other than
# "localhost" (an address entry) that resolves to 127.0.0.1, where the mock listens.
LN=
for n in "$HN" runsc; do
    case "$(getent ahostsv4 "$n" 2> /dev/null | awk 'NR==1{print $1}')" in 127.0.0.1) LN=$n; break ;; esac
done
if [ -n "$LN" ]; then
    FRONT=exfil.example
    sni_curl() { # sni_curl NAME URL-HOST [curl args]: TLS call through $LN's address
        name=$1 host=$2
        shift 2
        env LD_PRELOAD="$SHIM" AIRLOCK_AUDIT="$T/$name.audit" AIRLOCK_EGRESS="${LIST:-$LN}" $ENVX \
            curl -sS -k --max-time 10 --connect-to "$host::$LN:" -H 'content-type: application/json' \
            -d "$BODY" "$@" "https://$host:$TLS_PORT/v1/chat/completions" > "$T/$name.out" 2> "$T/$name.err"
        echo $? > "$T/$name.rc"
    }
    sni_curl sni_ok "$LN"
    [ "$(cat "$T/sni_ok.rc")" = 0 ] && grep -q '"choices"' "$T/sni_ok.out" && ! grep -q '"event":"egress"' "$T/sni_ok.audit" &&
        ok "curl reaches a listed name whose address it resolved (SNI on the list)" ||
        fail "sni ok" "rc $(cat "$T/sni_ok.rc"): $(cat "$T/sni_ok.err")"
    mid=$(mock_requests)
    sni_curl sni_front "$FRONT"
    [ "$(cat "$T/sni_front.rc")" = 35 ] && [ "$(mock_requests)" = "$mid" ] &&
        ok "curl to another name on that address fails at the handshake and sends nothing" ||
        fail "sni front" "rc $(cat "$T/sni_front.rc"): $(cat "$T/sni_front.err")"
    grep -q "airlock: refused a TLS connection to $FRONT (127.0.0.1) port $TLS_PORT: its server name (SNI) is not in AIRLOCK_EGRESS (the address was allowed for $LN)" "$T/sni_front.err" &&
        ok "stderr names the unlisted server name and the name the address was allowed for" ||
        fail "sni stderr" "$(cat "$T/sni_front.err")"
    grep -q '"event":"egress","host":"'$FRONT'","addr":"127.0.0.1","port":'"$TLS_PORT"',"verdict":"refused","mode":"enforce","check":"tls_sni","reason":"unlisted","allowed_as":"'$LN'"' "$T/sni_front.audit" &&
        ok "the audit log records the refused server name" || fail "sni audit" "$(cat "$T/sni_front.audit" 2>&1)"
    ENVX=AIRLOCK_MODE=monitor sni_curl sni_mon "$FRONT"
    [ "$(cat "$T/sni_mon.rc")" = 0 ] && grep -q "would refuse (monitor mode) a TLS connection to $FRONT" "$T/sni_mon.err" &&
        grep -q '"host":"'$FRONT'".*"verdict":"unverified","mode":"monitor","check":"tls_sni"' "$T/sni_mon.audit" &&
        ok "monitor mode lets an unlisted server name through and records it" || fail "sni monitor" "$(cat "$T/sni_mon.err")"
    LIST="$LN,127.0.0.0/8" sni_curl sni_cidr "$FRONT"
    [ "$(cat "$T/sni_cidr.rc")" = 0 ] && ok "an address listed itself (IP, CIDR) is not held to a name" ||
        fail "sni cidr" "$(cat "$T/sni_cidr.err")"
    env LD_PRELOAD="$SHIM" curl -sS -k --max-time 10 --connect-to "$FRONT::$LN:" -d "$BODY" \
        -H 'content-type: application/json' "https://$FRONT:$TLS_PORT/v1/chat/completions" > /dev/null 2>&1 &&
        ok "without AIRLOCK_EGRESS no name is checked" || fail "sni unset" "curl failed"
    # an IP-literal URL sends no SNI: it cannot be held to a name, AIRLOCK_FAIL decides
    sni_curl sni_none 127.0.0.1
    [ "$(cat "$T/sni_none.rc")" = 35 ] && grep -q "refused a TLS connection to 127.0.0.1 port $TLS_PORT: it sends no server name (SNI)" "$T/sni_none.err" &&
        grep -q '"host":null,.*"verdict":"refused".*"check":"tls_sni","reason":"no_name"' "$T/sni_none.audit" &&
        ok "TLS without a server name on an address allowed by name is refused (AIRLOCK_FAIL=closed)" ||
        fail "sni none" "rc $(cat "$T/sni_none.rc"): $(cat "$T/sni_none.err")"
    ENVX=AIRLOCK_FAIL=open sni_curl sni_none_open 127.0.0.1
    [ "$(cat "$T/sni_none_open.rc")" = 0 ] && grep -q '"verdict":"unverified","mode":"enforce","check":"tls_sni"' "$T/sni_none_open.audit" &&
        ! grep -q 'airlock:' "$T/sni_none_open.err" &&
        ok "AIRLOCK_FAIL=open lets TLS without a server name through, recorded in the audit log only" ||
        fail "sni none open" "rc $(cat "$T/sni_none_open.rc"): $(cat "$T/sni_none_open.err")"

    # plain HTTP: the Host header
    host_curl() { # host_curl NAME [curl args]
        name=$1
        shift
        env LD_PRELOAD="$SHIM" AIRLOCK_AUDIT="$T/$name.audit" AIRLOCK_EGRESS="$LN" curl -sS --max-time 10 \
            -H 'content-type: application/json' -d "$BODY" "$@" "http://$LN:$HTTP_PORT/v1/chat/completions" \
            > "$T/$name.out" 2> "$T/$name.err"
        echo $? > "$T/$name.rc"
    }
    host_curl host_ok
    [ "$(cat "$T/host_ok.rc")" = 0 ] && grep -q '"choices"' "$T/host_ok.out" &&
        ok "plain HTTP to a listed name works" || fail "host ok" "$(cat "$T/host_ok.err")"
    mid=$(mock_requests)
    host_curl host_front -H "Host: $FRONT"
    [ "$(cat "$T/host_front.rc")" = 55 ] && [ "$(mock_requests)" = "$mid" ] &&
        grep -q "airlock: refused an HTTP request to $FRONT (127.0.0.1) port $HTTP_PORT: its Host is not in AIRLOCK_EGRESS (the address was allowed for $LN)" "$T/host_front.err" &&
        grep -q '"host":"'$FRONT'".*"verdict":"refused","mode":"enforce","check":"http_host"' "$T/host_front.audit" &&
        ok "plain HTTP with another name in Host is refused before it is sent, with stderr and audit lines" ||
        fail "host front" "rc $(cat "$T/host_front.rc"): $(cat "$T/host_front.err")"

    # Python (OpenSSL through the ssl module): the name it hands to wrap_socket
    cat > "$T/sni.py" <<'EOF'
import socket, ssl, sys
name, port, sni = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ip = socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    s = ctx.wrap_socket(socket.create_connection((ip, port), timeout=5), server_hostname=sni)
    s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: " + sni.encode() + b"\r\nConnection: close\r\n\r\n")
    print(s.recv(12).decode())
except OSError as e:
    print(type(e).__name__, e.errno)
EOF
    env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS="$LN" $PY "$T/sni.py" "$LN" "$TLS_PORT" "$LN" > "$T/pysni_ok.out" 2> "$T/pysni_ok.err"
    grep -qx 'HTTP/1.1 200' "$T/pysni_ok.out" && ok "Python reaches a listed name (server_hostname on the list)" ||
        fail "python sni ok" "$(cat "$T/pysni_ok.out" "$T/pysni_ok.err")"
    env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS="$LN" AIRLOCK_AUDIT="$T/pysni.audit" $PY "$T/sni.py" "$LN" "$TLS_PORT" "$FRONT" \
        > "$T/pysni.out" 2> "$T/pysni.err"
    grep -qx 'ConnectionRefusedError 111' "$T/pysni.out" && grep -q "refused a TLS connection to $FRONT" "$T/pysni.err" &&
        grep -q '"host":"'$FRONT'".*"verdict":"refused".*"check":"tls_sni"' "$T/pysni.audit" &&
        ok "Python with another server_hostname on the same socket address is refused (ConnectionRefusedError)" ||
        fail "python sni" "$(cat "$T/pysni.out" "$T/pysni.err")"
else
    ok "no name but localhost resolves to 127.0.0.1 here: name check covered by the unit tests"
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
    if [ -n "$LN" ]; then # node's own TLS: the servername it sends
        for sn in "$LN" exfil.example; do
            env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS="$LN" timeout 20 "$NODE" -e "
const r = require('https').request({host: '$LN', family: 4, port: $TLS_PORT, path: '/v1/models', servername: '$sn', rejectUnauthorized: false},
    res => { console.log('status', res.statusCode); res.resume(); });
r.on('error', e => console.log('error', e.code)); r.end();" > "$T/node-$sn.out" 2> "$T/node-$sn.err"
        done
        grep -qx 'status 200' "$T/node-$LN.out" && grep -qx 'error ECONNREFUSED' "$T/node-exfil.example.out" &&
            grep -q 'refused a TLS connection to exfil.example' "$T/node-exfil.example.err" &&
            ok "node reaches the listed server name and is refused another one on the same address" ||
            fail "node sni" "$(cat "$T/node-$LN.out" "$T/node-exfil.example.out" "$T/node-exfil.example.err")"
    fi
else
    fail "node" "node is not installed (tools/deps.sh installs nodejs)"
fi

finish
