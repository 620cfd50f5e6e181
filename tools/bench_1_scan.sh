#!/bin/sh
# tools/bench_1_scan.sh: scan throughput of `airlock scan` with the full
# default rule packs on >= 8 MiB of English prose (~4 KB texts, JSON lines in
# and out), against the seed approach (CPython re over its 10 injection and 6
# PII patterns) on the same texts.  Lines: the full packs as prompts (every
# rule for prompts plus the classifier), the full packs as completions (the
# completion rules: PII scrubbing and unsafe output, no classifier), pattern
# rules only (no classifier, no name/place detectors), and the full packs as
# prompts without the literal prefilter; each by wall-clock and CPU time (the
# CPU figure is the stable one on a shared machine), and each against the
# seed.  Every line runs on one thread (--jobs 1), as the shim scans an
# exchange; a last line runs the full packs on every processor (the default
# of `airlock scan`), where the wall-clock rate is the one that counts.
# Run by `make bench`.
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
t=$(best "$B/airlock" scan --jobs 1 --as prompt --rules "$rules" "$jsonl") || { echo "bench: airlock scan failed" >&2; exit 1; }
tc=$(best "$B/airlock" scan --jobs 1 --as completion --rules "$rules" "$jsonl") || exit 1
tn=$(AIRLOCK_NO_PREFILTER=1 best "$B/airlock" scan --jobs 1 --as prompt --rules "$rules" "$jsonl")
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
tj=$(best "$B/airlock" scan --as prompt --rules "$rules" "$jsonl") || exit 1
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
tp=$(best "$B/airlock" scan --jobs 1 --as prompt --rules "$pat" "$jsonl")
seed=$(/usr/bin/python3 tools/bench_seed.py "$prose")
sw=$(echo "$seed" | sed -n 's/.*seed_mb_s=\([0-9.]*\).*/\1/p')
sc=$(echo "$seed" | sed -n 's/.*seed_cpu_mb_s=\([0-9.]*\).*/\1/p')
echo "scan bench: $bytes bytes of English prose in $lines texts (~4 KB each), ${nrules:-?} rules from $rules"
echo "$bytes $t $tn $sw $sc $tp $tc $tj $ncpu" | awk '{
    mb = $1 / 1e6
    # fields: 2,3 prompt; 4,5 no prefilter; 6,7 seed MB/s; 8,9 patterns only; 10,11 completion;
    # 12,13 prompt on every processor; 14 processors
    printf "  one thread each:\n"
    printf "  full packs as prompt (rules + classifier):     %6.1f MB/s wall, %6.1f MB/s CPU  (%5.1fx seed CPU)\n", mb / $2, mb / $3, (mb / $3) / $7
    printf "  full packs as completion (no classifier):      %6.1f MB/s wall, %6.1f MB/s CPU  (%5.1fx seed CPU)\n", mb / $10, mb / $11, (mb / $11) / $7
    printf "  pattern rules only (no classifier, no names):  %6.1f MB/s wall, %6.1f MB/s CPU  (%5.1fx seed CPU)\n", mb / $8, mb / $9, (mb / $9) / $7
    printf "  full packs as prompt, literal prefilter off:   %6.1f MB/s wall, %6.1f MB/s CPU  (%5.1fx seed CPU)\n", mb / $4, mb / $5, (mb / $5) / $7
    printf "  full packs as prompt on %d threads (the default): %6.1f MB/s wall, %6.1f MB/s CPU\n", $14, mb / $12, mb / $13
    printf "  seed approach (CPython re, 16 patterns):       %6.2f MB/s wall, %6.2f MB/s CPU\n", $6, $7
    printf "  target: >= 150 MB/s and >= 50x the seed for the full packs\n"
}'
