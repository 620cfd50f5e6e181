#!/usr/bin/python3
"""eval_pii.py: scores airlock's structured PII and secret findings.

    tools/eval_pii.py --airlock build/airlock --eval ../shared/eval [--rules rules]

PII (EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, US_SSN, IBAN_CODE, IP_ADDRESS):
texts go through one `airlock scan --as completion` process.  A predicted span
of an entity is correct when it overlaps an expected span of that entity
(gold offsets are code points, airlock's are UTF-8 bytes: converted).
- pii/presidio/<ENTITY>.jsonl, Presidio's recognizer unit cases (target:
  precision and recall >= 95%).  Some SSN/IP cases are ones Presidio itself
  scores "very weak" (expected score range entirely below 0.5, e.g. a bare
  9-digit number or the unspecified address "::"); they are counted in the
  "all" columns and left out of the "strong" columns, where a finding on such
  a span is neither a hit nor a false positive.  A case with an expected
  count but no spans stands for the whole text.
- pii/presidio_research_generated_{small,large}.jsonl (no target).
Secrets: secrets/detect_secrets.jsonl and llm_guard_secrets_cases.jsonl go
through `airlock scan --as prompt`; a row counts as flagged when any finding
has category "secret" (target: recall >= 85% at <= 10% false positives).
Benign: share of prompts/*.jsonl benign rows with no finding of these
entities or any secret, scanned --as completion (the scrubber must leave
ordinary answers alone).
Stdlib only; prints no text from the data; exits 0 whatever the numbers.
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys

ENTITIES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS"]
WEAK_MAX = 0.5  # an expected score range whose top is below this is "very weak"


class ScanFailed(Exception):
    pass


def scan(airlock, rules, texts, direction):
    """Runs one airlock scan process over texts; one result dict per text."""
    cmd = [airlock, "scan", "--as", direction]
    if rules:
        cmd += ["--rules", rules]
    data = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    p = subprocess.run(cmd, input=data.encode(), capture_output=True)
    lines = [l for l in p.stdout.decode("utf-8", "replace").split("\n") if l]
    if len(lines) != len(texts):
        raise ScanFailed("%s gave %d lines for %d inputs (exit %d): %s" %
                         (" ".join(cmd), len(lines), len(texts), p.returncode,
                          p.stderr.decode("utf-8", "replace")[:300]))
    return [json.loads(line) for line in lines]


def byte_offsets(text):
    """offs[i] = UTF-8 byte offset of code point i."""
    offs, b = [0], 0
    for ch in text:
        b += len(ch.encode("utf-8", "surrogatepass"))
        offs.append(b)
    return offs


def overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Score:
    def __init__(self):
        self.tp = self.fp = self.fn = 0

    def add(self, gold, pred, ignore=()):
        """gold, pred, ignore: lists of (start, end) byte spans of one entity."""
        for g in gold:
            if any(overlaps(g, p) for p in pred):
                self.tp += 1
            else:
                self.fn += 1
        for p in pred:
            if not any(overlaps(p, g) for g in gold) and not any(overlaps(p, w) for w in ignore):
                self.fp += 1

    def p(self):
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    def r(self):
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")


def pct(x):
    return "  n/a" if x != x else "%5.1f" % (100 * x)


def entity_spans(res, entity):
    return [(f["start"], f["end"]) for f in res["findings"] if f.get("entity") == entity]


def presidio_unit(args):
    print("\nPII: Presidio recognizer unit cases (--as completion; target P and R >= 95%)")
    print("%-14s %6s | %6s %6s %4s %4s %4s | %6s %6s %4s %4s %4s" %
          ("entity", "cases", "P all", "R all", "tp", "fp", "fn", "P str", "R str", "tp", "fp", "fn"))
    for ent in ENTITIES:
        path = os.path.join(args.eval, "pii", "presidio", ent + ".jsonl")
        if not os.path.exists(path):
            print("%-14s (missing)" % ent)
            continue
        rows = read_jsonl(path)
        results = scan(args.airlock, args.rules, [r["text"] for r in rows], "completion")
        full, strong = Score(), Score()
        for row, res in zip(rows, results):
            offs = byte_offsets(row["text"])
            spans = row.get("spans")
            n = row.get("expected_count", 0)
            if spans is None:
                spans = [[0, len(row["text"])]] * (1 if n else 0)
            gold = [(offs[s], offs[e]) for s, e in spans]
            ranges = (row.get("params") or {}).get("expected_score_ranges") or []
            weak = [g for i, g in enumerate(gold)
                    if i < len(ranges) and ranges[i] and ranges[i][1] < WEAK_MAX]
            pred = entity_spans(res, ent)
            full.add(gold, pred)
            strong.add([g for g in gold if g not in weak], pred, ignore=weak)
        print("%-14s %6d | %6s %6s %4d %4d %4d | %6s %6s %4d %4d %4d" %
              (ent, len(rows), pct(full.p()), pct(full.r()), full.tp, full.fp, full.fn,
               pct(strong.p()), pct(strong.r()), strong.tp, strong.fp, strong.fn))
    print("(all: every case; str: without the spans Presidio itself scores below %.1f)" % WEAK_MAX)


def research(args):
    print("\nPII: presidio-research generated sentences (--as completion; no target)")
    print("%-44s %6s %6s %5s %5s %5s" % ("file / entity", "P", "R", "tp", "fp", "fn"))
    for name in ("small", "large"):
        path = os.path.join(args.eval, "pii", "presidio_research_generated_%s.jsonl" % name)
        if not os.path.exists(path):
            continue
        rows = read_jsonl(path)
        results = scan(args.airlock, args.rules, [r["text"] for r in rows], "completion")
        scores = {e: Score() for e in ENTITIES}
        for row, res in zip(rows, results):
            offs = byte_offsets(row["text"])
            for ent in ENTITIES:
                gold = [(offs[s["start"]], offs[s["end"]]) for s in row["spans"]
                        if s["entity"] == ent]
                scores[ent].add(gold, entity_spans(res, ent))
        for ent in ENTITIES:
            s = scores[ent]
            if s.tp + s.fp + s.fn == 0:
                continue
            print("%-44s %6s %6s %5d %5d %5d" % ("generated_%s %s" % (name, ent), pct(s.p()),
                                                  pct(s.r()), s.tp, s.fp, s.fn))


def secrets(args):
    print("\nSecrets (--as prompt, any secret finding; target recall >= 85%, FP <= 10%)")
    rows = []
    for name in ("detect_secrets.jsonl", "llm_guard_secrets_cases.jsonl"):
        path = os.path.join(args.eval, "secrets", name)
        if os.path.exists(path):
            for r in read_jsonl(path):
                r.setdefault("detector", "llm_guard")
                rows.append(r)
    if not rows:
        print("(no secrets data)")
        return
    results = scan(args.airlock, args.rules, [r["text"] for r in rows], "prompt")
    per = collections.defaultdict(lambda: [0, 0, 0, 0])  # pos, pos hit, neg, neg hit
    for row, res in zip(rows, results):
        pos = row["label"] in ("secret", "contains_secret")
        hit = any(f["category"] == "secret" for f in res["findings"])
        s = per[row["detector"]]
        s[0 if pos else 2] += 1
        s[1 if pos else 3] += int(hit)
    print("%-20s %10s %10s" % ("detector", "recall", "false pos"))
    for d in sorted(per):
        s = per[d]
        print("%-20s %10s %10s" % (d, "%d/%d" % (s[1], s[0]) if s[0] else "-",
                                   "%d/%d" % (s[3], s[2]) if s[2] else "-"))
    tp = sum(s[1] for s in per.values())
    npos = sum(s[0] for s in per.values())
    fp = sum(s[3] for s in per.values())
    nneg = sum(s[2] for s in per.values())
    print("%-20s %10s %10s" % ("all", "%d/%d" % (tp, npos), "%d/%d" % (fp, nneg)))
    print("recall %s%%  false-positive rate %s%%" % (pct(tp / npos if npos else float("nan")),
                                                   pct(fp / nneg if nneg else float("nan"))))


def benign(args):
    print("\nBenign prompts scanned --as completion: rows without any structured-PII or secret finding")
    for path in sorted(glob.glob(os.path.join(args.eval, "prompts", "*.jsonl"))):
        rows = [r for r in read_jsonl(path) if r.get("label") == "benign"]
        if not rows:
            continue
        results = scan(args.airlock, args.rules, [r["text"] for r in rows], "completion")
        touched = sum(1 for res in results
                      if any(f.get("entity") in ENTITIES or f["category"] == "secret"
                             for f in res["findings"]))
        print("%-36s %5d rows  %6s%% untouched" % (os.path.basename(path), len(rows),
                                                  pct(1 - touched / len(rows))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--airlock", default="build/airlock")
    ap.add_argument("--eval", default="../shared/eval")
    ap.add_argument("--rules", default=None, help="pack file or directory (default: airlock's)")
    args = ap.parse_args()
    if not os.path.isdir(args.eval):
        print("eval_pii: no evaluation data at %s; skipped" % args.eval)
        return 0
    if not os.access(args.airlock, os.X_OK):
        print("eval_pii: %s is not built; skipped" % args.airlock)
        return 0
    try:
        presidio_unit(args)
        research(args)
        secrets(args)
        benign(args)
    except ScanFailed as e:
        print("eval_pii: %s" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
