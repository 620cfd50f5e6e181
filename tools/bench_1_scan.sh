#!/bin/sh
# tools/bench_1_scan.sh: scan throughput of `airlock scan` with the full
# default rule packs on >= 8 MiB of English prose, against the seed approach
# (CPython re over its 10 injection and 6 PII patterns) on the same texts.
# Prints both rates and the ratio, by wall-clock time and by CPU time (the
# CPU figure is the stable one on a shared machine).  Run by `make bench`.
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
# best of 3 runs: prints "<wall seconds> <cpu seconds>"
best() {
    out=""
    for i in 1 2 3; do
        /usr/bin/time -f "%e %U %S" -o "$dir/time" "$@" > /dev/null || return 1
        out="$out $(awk '{print $1, $2 + $3}' "$dir/time")"
    done
    echo "$out" | awk '{w = $1; c = $2; for (i = 3; i < NF; i += 2) { if ($i < w) w = $i; if ($(i+1) < c) c = $(i+1) } print w, c}'
}
t=$(best "$B/airlock" scan --rules "$rules" "$jsonl") || { echo "bench: airlock scan failed" >&2; exit 1; }
tn=$(AIRLOCK_NO_PREFILTER=1 best "$B/airlock" scan --rules "$rules" "$jsonl")
# the same packs without the classifier and the gazetteer detectors: what
# the pattern rules alone cost
pat=$dir/patterns-only
rm -rf "$pat" && mkdir -p "$pat"
[ -d "$rules" ] && [ -d "$rules/data" ] && cp -r "$rules/data" "$pat/"
/usr/bin/python3 -c '
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
files = [os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith(".json")] if os.path.isdir(src) else [src]
for f in files:
    d = json.load(open(f))
    d.pop("model", None)
    d["rules"] = [r for r in d["rules"] if "detector" not in r or r["detector"] in ("control_chars", "invisible_unicode")]
    if d["rules"]:
        json.dump(d, open(os.path.join(dst, os.path.basename(f)), "w"))
' "$rules" "$pat"
tp=$(best "$B/airlock" scan --rules "$pat" "$jsonl")
seed=$(/usr/bin/python3 tools/bench_seed.py "$prose")
sw=$(echo "$seed" | sed -n 's/.*seed_mb_s=\([0-9.]*\).*/\1/p')
sc=$(echo "$seed" | sed -n 's/.*seed_cpu_mb_s=\([0-9.]*\).*/\1/p')
echo "scan bench: $bytes bytes of English prose in $lines texts (~4 KB each), ${nrules:-?} rules from $rules"
echo "$bytes $t $tn $sw $sc $tp" | awk '{
    mb = $1 / 1e6
    printf "  airlock scan, full default packs, JSON in/out: %6.1f MB/s wall, %6.1f MB/s CPU\n", mb / $2, mb / $3
    printf "  the same without the literal prefilter:        %6.1f MB/s wall, %6.1f MB/s CPU\n", mb / $4, mb / $5
    printf "  pattern rules only (no classifier, no names):  %6.1f MB/s wall, %6.1f MB/s CPU\n", mb / $8, mb / $9
    printf "  seed approach (CPython re, 16 patterns):       %6.2f MB/s wall, %6.2f MB/s CPU\n", $6, $7
    printf "  ratio airlock / seed: %.1fx wall, %.1fx CPU (pattern rules only: %.1fx CPU)\n", (mb / $2) / $6, (mb / $3) / $7, (mb / $9) / $7
}'
