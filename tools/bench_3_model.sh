#!/bin/sh
# tools/bench_3_model.sh (part of make bench): the injection/jailbreak
# classifier's cost per KB of prompt (target <= 20 us/KB), and the full
# engine's prompt-scan throughput with the classifier beside rules only, on
# >= 8 MB of English prose cut into ~4 KB prompts.  Numbers are reported, not
# asserted; times are process CPU time (steadier on a shared machine).  Needs B.
B=${B:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$B/ex/bench_model
[ -x "$BIN" ] || { echo "bench_3_model: $BIN missing (make examples)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sh "$ROOT/tools/bench_corpus.sh" "$tmp/corpus.txt" 8388608 || exit 1
cp -r "$ROOT/rules" "$tmp/rules-only"
/usr/bin/python3 - "$tmp/rules-only" <<'PY' || exit 1
import json, os, sys
d = sys.argv[1]
for n in os.listdir(d):
    if n.endswith(".json"):
        p = os.path.join(d, n)
        pack = json.load(open(p, encoding="utf-8"))
        if pack.pop("model", None) is not None:
            json.dump(pack, open(p, "w", encoding="utf-8"))
PY
echo "== bench_3_model: injection/jailbreak classifier"
"$BIN" "$ROOT/rules/injection.model" "$tmp/corpus.txt" "$ROOT/rules" "$tmp/rules-only"
