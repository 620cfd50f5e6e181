#!/bin/sh
# test_around_calls.sh: regressions found by probing the features around the
# LLM calls (policy file, egress, weights, limits, the airlock command) with
# real programs, as a user adopting airlock would.  Each check names what the
# user would have seen go wrong.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'stop_mock; rm -rf "$T"' EXIT

# ---- policy file: nothing a reviewer wrote may be silently dropped ----
mkdir -p "$T/pol"
printf '{"mode": "enforce"}\n{"egress": ["localhost"]}\n' > "$T/pol/two.json"
"$AIRLOCK" run --policy "$T/pol/two.json" -- true 2> "$T/two.err"
[ $? -eq 2 ] && grep -q 'two.json: policy: text after the JSON object' "$T/two.err" &&
    ok "a policy file with text after its object is refused, not half applied" ||
    fail "policy trailing text" "$(cat "$T/two.err")"
printf '{"prompt": {"pii": "redact", "pii": "allow"}}' > "$T/pol/dup.json"
"$AIRLOCK" run --policy "$T/pol/dup.json" -- true 2> "$T/dup.err"
[ $? -eq 2 ] && grep -q 'dup.json: prompt.pii: appears twice' "$T/dup.err" &&
    ok "a category repeated inside prompt/completion is an error naming it" ||
    fail "policy nested duplicate" "$(cat "$T/dup.err")"
printf '{"egress": ["api.openai.com", "*"]}' > "$T/pol/egress.json"
"$AIRLOCK" run --policy "$T/pol/egress.json" -- true 2> "$T/egress.err"
[ $? -eq 2 ] && grep -q "egress.json: egress: entry '\*'" "$T/egress.err" &&
    ok "an egress entry that cannot parse stops airlock run before the program starts" ||
    fail "policy egress entry" "$(cat "$T/egress.err")"

# ---- policy under LD_PRELOAD: an empty variable, a relative path and a child elsewhere ----
printf '{"egress": ["192.0.2.1"]}' > "$T/pol/fence.json"
cat > "$T/dial.py" <<'EOF2'
import socket
try:
    socket.create_connection(("127.0.0.1", 9), timeout=2); print("connected")
except PermissionError:
    print("EACCES")
except OSError:
    print("other")
EOF2
env AIRLOCK_EGRESS= LD_PRELOAD="$SHIM" AIRLOCK_POLICY="$T/pol/fence.json" $PY "$T/dial.py" > "$T/fence1.out" 2>/dev/null
grep -qx EACCES "$T/fence1.out" &&
    ok "an exported but empty AIRLOCK_EGRESS does not lift the policy file's egress list" ||
    fail "policy empty env" "$(cat "$T/fence1.out")"
(cd "$T/pol" && env LD_PRELOAD="$SHIM" AIRLOCK_POLICY=fence.json sh -c "cd / && $PY $T/dial.py") > "$T/fence2.out" 2> "$T/fence2.err"
grep -qx EACCES "$T/fence2.out" && ! grep -q 'policy not applied' "$T/fence2.err" &&
    ok "a relative AIRLOCK_POLICY still applies in a child that changed directory" ||
    fail "policy relative child" "$(cat "$T/fence2.out" "$T/fence2.err")"

(cd "$T" && env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS=192.0.2.1 AIRLOCK_AUDIT=rel.jsonl sh -c "cd / && $PY $T/dial.py") > /dev/null 2>&1
grep -q '"verdict":"refused"' "$T/rel.jsonl" 2>/dev/null && [ ! -e /rel.jsonl ] &&
    ok "a relative AIRLOCK_AUDIT is the same file in a child that changed directory" ||
    fail "relative audit path" "$(ls "$T")"

# ---- airlock run: an egress list or the files a policy names, checked before the program runs ----
"$AIRLOCK" run --egress '' -- true 2> "$T/eg0.err"
[ $? -eq 2 ] && grep -q "cannot use egress list '': the list is empty" "$T/eg0.err" &&
    ok "airlock run --egress '' (an unset variable) is refused instead of lifting the limit" ||
    fail "run empty egress" "$(cat "$T/eg0.err")"
"$AIRLOCK" run --egress 'api.openai.com,*' -- true 2> "$T/eg1.err"
[ $? -eq 2 ] && grep -q "entry '\*'" "$T/eg1.err" &&
    ok "airlock run --egress with a bad entry stops before the program runs" ||
    fail "run bad egress" "$(cat "$T/eg1.err")"
printf '{"weights": "missing.sha256"}' > "$T/pol/w.json"
"$AIRLOCK" run --policy "$T/pol/w.json" -- true 2> "$T/pw.err"
[ $? -eq 2 ] && grep -q 'w.json: .*missing.sha256: No such file' "$T/pw.err" &&
    ok "a policy naming a missing weights manifest stops airlock run, as --weights does" ||
    fail "run policy weights" "$(cat "$T/pw.err")"

# ---- airlock scan: a NUL escape, an input that cannot be read ----
printf '{"text":"ok \\u0000 then jane.roe@example.org"}\n{"text":"a \\\\u0000 literal"}\n' > "$T/nul.jsonl"
"$AIRLOCK" scan --as completion "$T/nul.jsonl" > "$T/nul.out" 2>&1
rc=$?
[ $rc -eq 1 ] && [ "$(sed -n 1p "$T/nul.out")" = '{"error":"input line has a NUL character (\\u0000), which cannot be scanned"}' ] &&
    sed -n 2p "$T/nul.out" | grep -q '"text":"a \\\\u0000 literal"' &&
    ok "airlock scan: text after a \\u0000 escape is an error line, not silently dropped unscanned" ||
    fail "scan nul" "rc=$rc $(cat "$T/nul.out")"
"$AIRLOCK" scan "$T" > "$T/dir.out" 2> "$T/dir.err"
rc=$?
[ $rc -eq 2 ] && grep -q 'Is a directory' "$T/dir.err" &&
    ok "airlock scan of an input it cannot read says why and exits 2, not 0 with no output" ||
    fail "scan dir" "rc=$rc $(cat "$T/dir.err")"

# ---- egress: TCP Fast Open connects inside sendto/sendmsg ----
cat > "$T/tfo.py" <<'EOF2'
import socket, sys, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(2)
port = srv.getsockname()[1]
got = []
def serve():
    srv.settimeout(2)
    for _ in range(2):
        try:
            c, _ = srv.accept(); c.settimeout(2); got.append(c.recv(64)); c.close()
        except OSError:
            pass
th = threading.Thread(target=serve); th.start()
out = []
for how in ("sendto", "sendmsg"):
    s = socket.socket()
    try:
        if how == "sendto":
            s.sendto(b"fastopen-data", socket.MSG_FASTOPEN, ("127.0.0.1", port))
        else:
            s.sendmsg([b"fastopen-data"], [], socket.MSG_FASTOPEN, ("127.0.0.1", port))
        out.append(how + ":sent")
    except PermissionError:
        out.append(how + ":EACCES")
    except OSError as e:
        out.append(how + ":errno%d" % e.errno)
    s.close()
th.join()
print(" ".join(out), "server-got:%d" % len(got))
EOF2
env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS=192.0.2.1 AIRLOCK_AUDIT="$T/tfo.jsonl" timeout 20 $PY "$T/tfo.py" > "$T/tfo.out" 2> "$T/tfo.err"
grep -qx 'sendto:EACCES sendmsg:EACCES server-got:0' "$T/tfo.out" &&
    [ "$(grep -c '"verdict":"refused"' "$T/tfo.jsonl")" = 2 ] &&
    ok "a TCP Fast Open sendto/sendmsg to an address off the egress list is refused" ||
    fail "egress fast open" "$(cat "$T/tfo.out" "$T/tfo.err")"
env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS=localhost timeout 20 $PY "$T/tfo.py" > "$T/tfo2.out" 2>&1
grep -qx 'sendto:sent sendmsg:sent server-got:2' "$T/tfo2.out" &&
    ok "a TCP Fast Open send to a listed address goes ahead" || fail "egress fast open allowed" "$(cat "$T/tfo2.out")"

# ---- egress: TCP Fast Open inside sendmmsg ----
cat > "$T/mm.py" <<'EOF2'
import ctypes, socket, struct, threading
libc = ctypes.CDLL(None, use_errno=True)
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1); port = srv.getsockname()[1]
got = []
def acc():
    srv.settimeout(2)
    try: c,_ = srv.accept(); c.settimeout(2); got.append(c.recv(64)); c.close()
    except Exception as e: got.append("none")
th = threading.Thread(target=acc); th.start()
class iovec(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure): _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t), ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure): _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
data = ctypes.create_string_buffer(b"mmsg-data")
iov = iovec(ctypes.cast(data, ctypes.c_void_p), 9)
sa = ctypes.create_string_buffer(struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton("127.0.0.1") + b"\0"*8, 16)
m = mmsghdr(msghdr(ctypes.cast(sa, ctypes.c_void_p), 16, ctypes.pointer(iov), 1, None, 0, 0), 0)
s = socket.socket()
r = libc.sendmmsg(s.fileno(), ctypes.byref(m), 1, 0x20000000)
e = ctypes.get_errno()
th.join()
print("sendmmsg=%d errno=%d accepted=%d" % (r, e, len([g for g in got if g != "none"])))
EOF2
env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS=192.0.2.1 timeout 20 $PY "$T/mm.py" > "$T/mm.out" 2> "$T/mm.err"
grep -qx 'sendmmsg=-1 errno=13 accepted=0' "$T/mm.out" &&
    ok "a TCP Fast Open sendmmsg to an address off the egress list is refused" ||
    fail "egress sendmmsg" "$(cat "$T/mm.out" "$T/mm.err")"
env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS=localhost timeout 20 $PY "$T/mm.py" > "$T/mm2.out" 2>&1
grep -qx 'sendmmsg=1 errno=0 accepted=1' "$T/mm2.out" &&
    ok "a TCP Fast Open sendmmsg to a listed address goes ahead" || fail "egress sendmmsg allowed" "$(cat "$T/mm2.out")"

# ---- egress: an IPv6 sockaddr without its scope id (24 bytes, which connect(2) takes) ----
cat > "$T/v6short.py" <<'EOF2'
import ctypes, socket, struct, threading
libc = ctypes.CDLL(None, use_errno=True)
srv = socket.socket(socket.AF_INET6); srv.bind(("::1", 0)); srv.listen(1)
port = srv.getsockname()[1]
got = []
def serve():
    srv.settimeout(2)
    try:
        c, _ = srv.accept(); got.append(1); c.close()
    except OSError:
        pass
th = threading.Thread(target=serve); th.start()
s = socket.socket(socket.AF_INET6)
sa = struct.pack("=H", socket.AF_INET6) + struct.pack("!H", port) + b"\0" * 4 + socket.inet_pton(socket.AF_INET6, "::1")
r = libc.connect(s.fileno(), ctypes.create_string_buffer(sa, 24), 24)
e = ctypes.get_errno()
s.close(); th.join()
print("connect=%d errno=%d accepted=%d" % (r, e, len(got)))
EOF2
env LD_PRELOAD="$SHIM" AIRLOCK_EGRESS=192.0.2.1 timeout 20 $PY "$T/v6short.py" > "$T/v6.out" 2> "$T/v6.err"
grep -qx 'connect=-1 errno=13 accepted=0' "$T/v6.out" &&
    ok "a 24-byte IPv6 sockaddr to an address off the egress list is refused" ||
    fail "egress v6 short sockaddr" "$(cat "$T/v6.out" "$T/v6.err")"

# ---- weights: read-write opens, and a file changed with its mtime put back ----
mkdir -p "$T/w"
printf 'GGUF trusted weights' > "$T/w/good.gguf"
printf 'GGUF unknown weights' > "$T/w/evil.gguf"
(cd "$T/w" && sha256sum good.gguf) > "$T/w/trusted.sha256"
: > "$T/w/empty.gguf"
cat > "$T/w/load.py" <<'EOF2'
import os, sys
d = sys.argv[1]
def t(f):
    try:
        f(); return "ok"
    except PermissionError:
        return "EACCES"
out = [t(lambda: os.read(os.open(d + "/evil.gguf", os.O_RDWR), 4)),
       t(lambda: open(d + "/evil.gguf", "r+b").read(4)),
       t(lambda: open(d + "/good.gguf", "r+b").read(4)),
       t(lambda: os.close(os.open(d + "/empty.gguf", os.O_RDWR))),
       t(lambda: open(d + "/new.gguf", "wb").write(b"x"))]
p = d + "/good.gguf"
st = os.stat(p)
with open(p, "r+b") as f:
    f.write(b"EVIL")  # same size
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # modification time put back
out.append(t(lambda: open(p, "rb").read()))
print(" ".join(out))
EOF2
env LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS="$T/w/trusted.sha256" timeout 20 $PY "$T/w/load.py" "$T/w" > "$T/w.out" 2> "$T/w.err"
set -- $(cat "$T/w.out")
[ "$1 $2" = "EACCES EACCES" ] && ok "an unknown weight file opened read-write (O_RDWR, r+b) is refused" ||
    fail "weights O_RDWR" "$(cat "$T/w.out" "$T/w.err")"
[ "$3 $4 $5" = "ok ok ok" ] &&
    ok "a trusted file read-write, an empty file being written and a new file still open" ||
    fail "weights writers" "$(cat "$T/w.out" "$T/w.err")"
[ "$6" = "EACCES" ] && ok "a weight file rewritten after it was verified, its mtime put back, is hashed again" ||
    fail "weights memo" "$(cat "$T/w.out" "$T/w.err")"

# ---- weights: freopen (a C program reopening stdin on a weight file) ----
cat > "$T/w/freopen.py" <<'EOF2'
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.freopen.restype = ctypes.c_void_p
libc.freopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
libc.fopen.restype = ctypes.c_void_p
out = []
for name in sys.argv[1:]:
    f = libc.fopen(b"/dev/null", b"rb")
    r = libc.freopen(name.encode(), b"rb", ctypes.c_void_p(f))
    out.append("ok" if r else "errno%d" % ctypes.get_errno())
print(" ".join(out))
EOF2
printf 'GGUF trusted again' > "$T/w/good2.gguf"
printf 'GGUF not trusted' > "$T/w/evil2.gguf"
(cd "$T/w" && sha256sum good2.gguf) > "$T/w/trusted2.sha256"
env LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS="$T/w/trusted2.sha256" $PY "$T/w/freopen.py" "$T/w/good2.gguf" "$T/w/evil2.gguf" > "$T/fr.out" 2> "$T/fr.err"
grep -qx 'ok errno13' "$T/fr.out" && ok "freopen of an unknown weight file is refused, of a trusted one allowed" ||
    fail "weights freopen" "$(cat "$T/fr.out" "$T/fr.err")"

# ---- weights: a manifest line for a name holding a newline (sha256sum escapes it) ----
NL=$(printf 'odd\nname.gguf')
printf 'GGUF odd' > "$T/w/$NL"
(cd "$T/w" && "$AIRLOCK" verify --print "$NL" good.gguf) > "$T/w/printed.sha256"
(cd "$T/w" && sha256sum "$NL") > "$T/w/coreutils.sha256"
[ "$(wc -l < "$T/w/printed.sha256")" -eq 2 ] && head -c 1 "$T/w/printed.sha256" | grep -q '\\' &&
    "$AIRLOCK" verify --manifest "$T/w/printed.sha256" "$T/w/$NL" > /dev/null 2> "$T/vp.err" &&
    ok "airlock verify --print escapes a newline in a name as sha256sum does, and reads it back" ||
    fail "verify print newline" "$(cat "$T/w/printed.sha256" "$T/vp.err")"
env LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS="$T/w/coreutils.sha256" $PY -c 'import sys; open(sys.argv[1], "rb").read()' "$T/w/$NL" 2> "$T/vc.err" &&
    ok "a manifest written by sha256sum for such a name loads and trusts the file" ||
    fail "sha256sum escaped manifest" "$(cat "$T/vc.err")"

# ---- limits: a state file with "nan" or a last call in the future ----
start_mock
URL=https://localhost:$TLS_PORT/v1/chat/completions
BENIGN='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Name a primary colour."}]}'
limcall() { # limcall NAME: curl under the shim with AIRLOCK_RATE=2/min and $T/lim
    env LD_PRELOAD="$SHIM" AIRLOCK_RATE=2/min AIRLOCK_LIMITS_FILE="$T/lim" curl -sS --max-time 10 \
        --cacert "$CA" -H 'content-type: application/json' -d "$BENIGN" "$URL" > "$T/$1.out" 2> "$T/$1.err"
}
echo "airlock-limits 1 nan 1 0" > "$T/lim"
before=$(mock_requests)
limcall nan
grep -q 'state file cannot be used' "$T/nan.out" && [ "$(mock_requests)" = "$before" ] &&
    ok "a state file holding nan is damaged: the call follows AIRLOCK_FAIL (closed)" ||
    fail "limits nan" "$(cat "$T/nan.out" "$T/nan.err")"
echo "airlock-limits 1 0 $(($(date +%s) + 600)) 0" > "$T/lim"
limcall future
grep -Eq 'retry in (6[0-9][0-9]) s' "$T/future.out" &&
    ok "a 429 behind a last call 10 min ahead says to retry in about 630 s, not 30 s" ||
    fail "limits future" "$(cat "$T/future.out" "$T/future.err")"

# ---- settings from the environment that do not parse are reported, not silently defaulted ----
env LD_PRELOAD="$SHIM" AIRLOCK_BLOCK_THRESHOLD=0,8 curl -sS --max-time 10 --cacert "$CA" \
    -H 'content-type: application/json' -d "$BENIGN" "$URL" > "$T/thr.out" 2> "$T/thr.err"
grep -q 'AIRLOCK_BLOCK_THRESHOLD=0,8 is not a positive number; keeping the default' "$T/thr.err" &&
    grep -q '"choices"' "$T/thr.out" &&
    ok "AIRLOCK_BLOCK_THRESHOLD=0,8 (a decimal comma) is reported instead of silently ignored" ||
    fail "threshold note" "$(cat "$T/thr.err")"

finish
