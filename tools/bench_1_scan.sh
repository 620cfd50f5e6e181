#!/bin/sh
# tools/bench_1_scan.sh: scan throughput of `airlock scan` with the full
# default rule packs on >= 8 MiB of English prose, against the seed approach
# (CPython re over its 10 injection and 6 PII patterns) on the same texts.
# Prints both rates and the ratio.  Run by `make bench`.
B=${B:-build}
dir=$B/bench
mkdir -p "$dir"
prose=$dir/prose.txt
jsonl=$dir/prose.jsonl
[ -s "$prose" ] || sh tools/bench_corpus.sh "$prose" 8388608 || exit 1
[ -s "$jsonl" ] || /usr/bin/python3 -c '
import json, sys
with open(sys.argv[1], encoding="utf-8", errors="replace") as f, open(sys.argv[2], "w") as o:
    for line in f:
        o.write(json.dumps({"text": line.rstrip("\n")}) + "\n")
' "$prose" "$jsonl" || exit 1
bytes=$(wc -c < "$prose")
lines=$(wc -l < "$prose")
rules=${AIRLOCK_RULES:-rules}
nrules=$("$B/airlock" check-rules "$rules" 2>/dev/null | sed -n 's/^ok: \([0-9]*\) rules.*/\1/p')
best() { # prints the best wall time in seconds of 3 runs of "$@"
    b=""
    for i in 1 2 3; do
        t0=$(date +%s.%N)
        "$@" > /dev/null || return 1
        t1=$(date +%s.%N)
        b=$(echo "$t0 $t1 $b" | awk '{d = $2 - $1; if ($3 == "" || d < $3) print d; else print $3}')
    done
    echo "$b"
}
t=$(best "$B/airlock" scan --rules "$rules" "$jsonl") || { echo "bench: airlock scan failed" >&2; exit 1; }
tn=$(AIRLOCK_NO_PREFILTER=1 best "$B/airlock" scan --rules "$rules" "$jsonl")
seed=$(/usr/bin/python3 tools/bench_seed.py "$prose" | sed -n 's/^seed_mb_s=\([0-9.]*\).*/\1/p')
echo "scan bench: $bytes bytes of English prose in $lines texts (~4 KB each), ${nrules:-?} rules from $rules"
echo "$bytes $t $tn $seed" | awk '{
    mb = $1 / 1e6; a = mb / $2; n = mb / $3
    printf "  airlock scan (full default packs, JSON in/out): %.1f MB/s (%.2f s)\n", a, $2
    printf "  same without the literal prefilter:             %.1f MB/s (%.2f s)\n", n, $3
    printf "  seed approach (CPython re, 16 patterns):         %.2f MB/s\n", $4
    printf "  ratio airlock / seed: %.1fx\n", a / $4
}'
