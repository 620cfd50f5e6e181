#!/usr/bin/python3
"""eval_names.py: scores airlock's PERSON and LOCATION findings and how often
the default completion policy leaves benign text untouched.

    tools/eval_names.py --airlock build/airlock --eval ../shared/eval [--rules rules]

PII: presidio-research's generated sentences (pii/presidio_research_generated_
{small,large}.jsonl) go through `airlock scan`; a finding counts as a hit
when it overlaps a labelled span (gold offsets are code points, airlock's are
UTF-8 bytes: converted).  Label policy: airlock reports street addresses as
LOCATION, so a LOCATION finding on a span labelled ADDRESS is correct, not a
false positive; LOCATION recall is over LOCATION labels only (ADDRESS recall
is shown beside it).  A finding on any other label (ORGANIZATION, DATE_TIME,
...) or on no label is a false positive.  Two rows per entity: "all" counts
every finding of `--as prompt` (flagged or not: detection quality), and
"redacted" only the findings the default completion policy redacts
(`--as completion`, action "redact": what a scrubbed answer loses).

Benign: every benign row of prompts/*.jsonl goes through `airlock scan --as
completion` with the default packs; the table shows the share whose text came
back unchanged (target >= 98%) and which rules changed the others.
Stdlib only; prints no text from the data.
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys


def scan(airlock, rules, texts, direction):
    """Runs airlock scan over texts; returns one result dict per text."""
    cmd = [airlock, "scan", "--as", direction]
    if rules:
        cmd += ["--rules", rules]
    data = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    p = subprocess.run(cmd, input=data.encode(), capture_output=True)
    lines = p.stdout.decode("utf-8", "replace").splitlines()
    if len(lines) != len(texts):
        sys.exit("eval_names: %s gave %d lines for %d inputs (exit %d): %s" %
                 (" ".join(cmd), len(lines), len(texts), p.returncode,
                  p.stderr.decode("utf-8", "replace")[:300]))
    return [json.loads(line) for line in lines]


def byte_offsets(text):
    """Maps code-point offsets to UTF-8 byte offsets."""
    offs, b = [0], 0
    for ch in text:
        b += len(ch.encode("utf-8", "surrogatepass"))
        offs.append(b)
    return offs


def overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


def score_pii(rows, results, redacted_only):
    c = collections.Counter()
    for row, res in zip(rows, results):
        offs = byte_offsets(row["text"])
        gold = collections.defaultdict(list)
        for s in row["spans"]:
            gold[s["entity"]].append((offs[s["start"]], offs[s["end"]]))
        pred = collections.defaultdict(list)
        for f in res.get("findings", []):
            if redacted_only and f.get("action") != "redact":
                continue
            pred[f.get("entity")].append((f["start"], f["end"]))
        for ent, ok_labels in (("PERSON", ("PERSON",)), ("LOCATION", ("LOCATION", "ADDRESS"))):
            for p in pred[ent]:
                c[ent, "pred"] += 1
                if any(overlaps(p, g) for lab in ok_labels for g in gold[lab]):
                    c[ent, "tp"] += 1
        tb = row["text"].encode("utf-8", "surrogatepass")
        for ent in ("PERSON", "LOCATION", "ADDRESS"):
            for g in gold[ent]:
                c[ent, "gold"] += 1
                hits = [p for p in pred["PERSON" if ent == "PERSON" else "LOCATION"]
                        if overlaps(p, g)]
                if hits:
                    c[ent, "found"] += 1
                    # how much of a label that was hit the findings cover
                    # (non-space bytes): a part left beside a placeholder
                    # still gives the value away
                    for i in range(g[0], g[1]):
                        if not tb[i:i + 1].isspace():
                            c[ent, "bytes"] += 1
                            if any(p[0] <= i < p[1] for p in hits):
                                c[ent, "covered"] += 1
    return c


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--airlock", default="build/airlock")
    ap.add_argument("--eval", default="../shared/eval")
    ap.add_argument("--rules", default=None, help="packs (default: airlock's own default)")
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(a.eval, "pii")):
        sys.exit("eval_names: no evaluation data at %s (pass --eval DIR)" % a.eval)
    if not os.access(a.airlock, os.X_OK):
        sys.exit("eval_names: %s is not an executable airlock (run make first)" % a.airlock)
    ok = True

    print("PII names and places (presidio-research generated; hit = overlap)")
    print("%-8s %-9s %-9s %7s %7s %9s" % ("set", "entity", "findings", "prec%", "recall%",
                                          "labels"))
    total = {False: collections.Counter(), True: collections.Counter()}
    for name in ("small", "large"):
        path = os.path.join(a.eval, "pii", "presidio_research_generated_%s.jsonl" % name)
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        texts = [r["text"] for r in rows]
        results = {False: scan(a.airlock, a.rules, texts, "prompt"),
                   True: scan(a.airlock, a.rules, texts, "completion")}
        for red in (False, True):
            c = score_pii(rows, results[red], red)
            total[red].update(c)
            for ent in ("PERSON", "LOCATION"):
                print("%-8s %-9s %-9s %7.1f %7.1f %9d" % (
                    name, ent, "redacted" if red else "all", pct(c[ent, "tp"], c[ent, "pred"]),
                    pct(c[ent, "found"], c[ent, "gold"]), c[ent, "gold"]))
    for red in (False, True):
        c = total[red]
        for ent in ("PERSON", "LOCATION", "ADDRESS"):
            p = pct(c[ent, "tp"], c[ent, "pred"]) if ent != "ADDRESS" else float("nan")
            print("%-8s %-9s %-9s %7.1f %7.1f %9d" % (
                "both", ent, "redacted" if red else "all", p,
                pct(c[ent, "found"], c[ent, "gold"]), c[ent, "gold"]))
    c = total[True]
    print("redacted labels, share of their non-space bytes the placeholders cover: "
          "PERSON %.1f%%, LOCATION %.1f%%, ADDRESS %.1f%%" % tuple(
              pct(c[ent, "covered"], c[ent, "bytes"]) for ent in ("PERSON", "LOCATION", "ADDRESS")))
    c = total[False]
    targets = (("PERSON", 70.0), ("LOCATION", 60.0))
    for ent, want in targets:
        prec, rec = pct(c[ent, "tp"], c[ent, "pred"]), pct(c[ent, "found"], c[ent, "gold"])
        met = rec >= want and prec >= 80.0
        ok &= met
        print("target %s recall >= %.0f%% at precision >= 80%%: %s" %
              (ent, want, "met" if met else "NOT met"))

    print()
    print("Benign texts untouched by the default completion policy (target >= 98%)")
    print("%-36s %6s %10s  %s" % ("file", "texts", "untouched%", "rules that changed text"))
    for path in sorted(glob.glob(os.path.join(a.eval, "prompts", "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        texts = [r["text"] for r in rows if r.get("label") == "benign"]
        if not texts:
            continue
        results = scan(a.airlock, a.rules, texts, "completion")
        same, by = 0, collections.Counter()
        for t, res in zip(texts, results):
            if res.get("text") == t:
                same += 1
            else:
                for rid in sorted({f.get("rule") for f in res.get("findings", [])
                                   if f.get("action") not in ("flag", "allow")}):
                    by[rid] += 1
        rate = pct(same, len(texts))
        ok &= rate >= 98.0
        print("%-36s %6d %10.1f  %s" % (os.path.basename(path), len(texts), rate,
                                        ", ".join("%s:%d" % kv for kv in by.most_common(4))))
    return 0  # the table says which targets are met; make eval goes on to the next tool


if __name__ == "__main__":
    sys.exit(main())
