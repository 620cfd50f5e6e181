#!/bin/sh
# test_weights.sh: model weight verification.  With AIRLOCK_WEIGHTS naming a
# sha256sum-format manifest, a preloaded process may open a weight file for
# reading only when the file's SHA-256 is in the manifest: a swapped or
# tampered file fails to open with EACCES (Python: PermissionError), whatever
# call opened it (open/open64, openat, fopen); monitor mode and AIRLOCK_FAIL
# behave as for prompts; the audit log records each decision without
# directories or contents; `airlock verify` checks files from the shell.
. "$(dirname "$0")/lib.sh"

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
printf 'GGUF trusted weights v1' > good.gguf
printf 'GGUF weights with a backdoor' > evil.gguf
cp good.gguf copy.safetensors
printf 'GGUF weights with a backdoor' > notes.txt
printf 'PK\003\004 zipped torch weights' > model.pth
sha256sum good.gguf > manifest.sha256
printf '# comment line\n' >> manifest.sha256

# reads each file with Python's open(); prints "name ok <bytes>" or "name EACCES"
cat > read.py <<'EOF'
import errno, sys
for f in sys.argv[1:]:
    try:
        with open(f, "rb") as fh:
            print(f, "ok", len(fh.read()))
    except OSError as e:
        print(f, "EACCES" if e.errno == errno.EACCES else "error %d" % e.errno)
EOF

run() { # run ENV... -- CMD...: with the shim preloaded, stdout to out, stderr to err
    env "$@" > out 2> err
}

run LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS=manifest.sha256 AIRLOCK_AUDIT="$W/audit.jsonl" \
    $PY read.py good.gguf copy.safetensors evil.gguf notes.txt model.pth
grep -qx 'good.gguf ok 23' out && ok "a weight file in the manifest loads whole" || fail "good weights" "$(cat out err)"
grep -qx 'copy.safetensors ok 23' out && ok "a renamed copy of trusted weights loads (the digest decides)" || fail "renamed copy" "$(cat out)"
grep -qx 'evil.gguf EACCES' out && ok "weights not in the manifest fail to open with EACCES" || fail "evil weights" "$(cat out)"
grep -qx 'notes.txt ok 28' out && ok "files that are not weights are never checked" || fail "non-weight" "$(cat out)"
grep -qx 'model.pth EACCES' out && ok "PyTorch .pth weights are checked" || fail "pth" "$(cat out)"
grep -q 'refused weight file evil.gguf: sha256 [0-9a-f]\{64\} is not in the manifest' err &&
    ok "the refusal names the file and its digest on stderr" || fail "stderr line" "$(cat err)"
if grep -q 'backdoor' err || [ "$(grep -c 'refused weight file' err)" -ne 2 ]; then
    fail "stderr" "content, or a refusal other than evil.gguf and model.pth (Python's own .pth path files?): $(cat err)"
else
    ok "stderr carries no file content, and Python's own .pth path files are left alone"
fi
[ "$(grep -c '"event":"weights"' audit.jsonl)" -eq 4 ] && ok "the audit log has one line per weight file opened" ||
    fail "audit count" "$(cat audit.jsonl)"
grep '"file":"evil.gguf"' audit.jsonl | grep -q '"verdict":"refused"' &&
    grep '"file":"good.gguf"' audit.jsonl | grep -q '"verdict":"allowed"' &&
    ok "audit lines say allowed or refused per file" || fail "audit verdicts" "$(cat audit.jsonl)"
grep -q "$W\|backdoor" audit.jsonl && fail "audit" "directory or content in the audit log" ||
    ok "audit lines hold the file's name only: no directory, no content"

# every way of opening: openat (os.open with dir_fd), fopen (through libc)
cat > ways.py <<'EOF'
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.fopen.restype = ctypes.c_void_p
d = os.open(".", os.O_RDONLY)
for f in ("good.gguf", "evil.gguf"):
    try:
        os.close(os.open(f, os.O_RDONLY, dir_fd=d)); r1 = "ok"
    except OSError as e:
        r1 = "EACCES" if e.errno == errno.EACCES else "err"
    fp = libc.fopen(f.encode(), b"rb")
    r2 = "ok" if fp else ("EACCES" if ctypes.get_errno() == errno.EACCES else "err")
    if fp: libc.fclose(ctypes.c_void_p(fp))
    print(f, r1, r2)
# O_PATH opens (a handle for fstat or *at calls, no reading) are not loads
try:
    os.close(os.open("evil.gguf", os.O_PATH)); print("o_path ok")
except OSError as e:
    print("o_path", e.errno)
# writing weights is not reading them: a new file may be written
with open("new.gguf", "wb") as fh:
    fh.write(b"freshly trained")
print("write ok")
EOF
run LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS=manifest.sha256 $PY ways.py
grep -qx 'good.gguf ok ok' out && grep -qx 'evil.gguf EACCES EACCES' out &&
    ok "openat and fopen are checked like open" || fail "openat/fopen" "$(cat out err)"
grep -qx 'write ok' out && ok "a weight file opened for writing is not checked" || fail "write" "$(cat out err)"
grep -qx 'o_path ok' out && ok "an O_PATH handle to a weight file is not a load and is not refused" || fail "O_PATH" "$(cat out err)"

# a file changed after it was verified is verified again
cat > change.py <<'EOF'
import os, time
open("good.gguf", "rb").read()
os.utime("good.gguf", ns=(0, time.time_ns() + 10**9))
with open("good.gguf", "ab") as fh: fh.write(b" tampered")
try:
    open("good.gguf", "rb").read(); print("reopen ok")
except PermissionError:
    print("reopen EACCES")
EOF
cp good.gguf good.orig
run LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS=manifest.sha256 $PY change.py
grep -qx 'reopen EACCES' out && ok "weights changed after a verified open are refused at the next open" ||
    fail "tamper after verify" "$(cat out err)"
mv good.orig good.gguf

# monitor mode: loads, says what it would have refused
run LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS=manifest.sha256 AIRLOCK_MODE=monitor $PY read.py evil.gguf
grep -qx 'evil.gguf ok 28' out && grep -q 'would refuse (monitor mode) weight file evil.gguf' err &&
    ok "monitor mode lets unknown weights load and says it would refuse them" || fail "monitor" "$(cat out err)"

# a manifest that cannot be read: fail closed by default, open on request
run LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS="$W/missing.sha256" $PY read.py good.gguf notes.txt
grep -qx 'good.gguf EACCES' out && grep -qx 'notes.txt ok 28' out && grep -q 'cannot load the weights manifest' err &&
    ok "an unreadable manifest refuses every weight file (fail closed)" || fail "fail closed" "$(cat out err)"
run LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS="$W/missing.sha256" AIRLOCK_FAIL=open $PY read.py good.gguf
grep -qx 'good.gguf ok 23' out && grep -q 'loading unverified' err &&
    ok "AIRLOCK_FAIL=open loads weights unverified when the manifest cannot be read" || fail "fail open" "$(cat out err)"

# AIRLOCK_WEIGHTS_EXT narrows which files count as weights
run LD_PRELOAD="$SHIM" AIRLOCK_WEIGHTS=manifest.sha256 AIRLOCK_WEIGHTS_EXT=safetensors $PY read.py evil.gguf
grep -qx 'evil.gguf ok 28' out && ok "AIRLOCK_WEIGHTS_EXT limits the check to the listed extensions" ||
    fail "ext list" "$(cat out err)"

# airlock run --weights
"$AIRLOCK" run --weights manifest.sha256 -- $PY read.py good.gguf evil.gguf > out 2> err
grep -qx 'good.gguf ok 23' out && grep -qx 'evil.gguf EACCES' out &&
    ok "airlock run --weights enforces the manifest" || fail "run --weights" "$(cat out err)"
"$AIRLOCK" run --weights nothing-here.sha256 -- true 2> err
[ $? -eq 2 ] && grep -q 'cannot use weights manifest nothing-here.sha256' err &&
    ok "airlock run --weights with a missing manifest is an error before the program starts" ||
    fail "run --weights missing" "$(cat err)"

# airlock verify
"$AIRLOCK" verify --manifest manifest.sha256 good.gguf copy.safetensors > out 2> err
[ $? -eq 0 ] && grep -qx 'copy.safetensors: OK (good.gguf)' out && ok "airlock verify passes trusted files" ||
    fail "verify ok" "$(cat out err)"
"$AIRLOCK" verify --manifest manifest.sha256 good.gguf evil.gguf > out 2> err
[ $? -eq 1 ] && grep -q '^evil.gguf: NOT IN MANIFEST (sha256 [0-9a-f]\{64\})$' out &&
    ok "airlock verify exits 1 and names the file that is not in the manifest" || fail "verify bad" "$(cat out err)"
"$AIRLOCK" verify --print good.gguf evil.gguf > printed.sha256 && "$AIRLOCK" verify --manifest printed.sha256 evil.gguf > out &&
    sha256sum -c printed.sha256 > /dev/null 2>&1 &&
    ok "airlock verify --print writes a manifest sha256sum and airlock both accept" || fail "verify --print" "$(cat printed.sha256 out)"
"$AIRLOCK" verify --manifest notes.txt good.gguf > out 2> err
[ $? -eq 2 ] && grep -q 'notes.txt:1: expected 64 hex digits' err &&
    ok "a broken manifest is an error naming its line" || fail "verify broken manifest" "$(cat err)"

finish
