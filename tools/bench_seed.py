#!/usr/bin/python3
"""The seed approach airlock replaces, for make bench: CPython `re` over the
seed's 10 injection patterns and 6 PII patterns, one pass per pattern over
the same text.  Prints one line: seed_mb_s=<MB/s> bytes=<n> matches=<n>."""
import re
import sys
import time

INJECTION = [
    r"ignore (all )?previous instructions",
    r"you are now",
    r"new instructions:",
    r"system prompt",
    r"forget everything",
    r"act as",
    r"jailbreak",
    r"DAN mode",
    r"<system>",
    r"\[INST\]",
]
PII = [
    r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",          # email
    r"\b(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]?\d{3}[-. ]?\d{4}\b",         # phone
    r"\b(?:\d{4}[- ]?){3}\d{4}\b",                                   # credit card
    r"\b\d{3}-\d{2}-\d{4}\b",                                        # SSN
    r"\b(?:\d{1,3}\.){3}\d{1,3}\b",                                  # IPv4
    r"\b[A-Z]{2}\d{2}[A-Z0-9]{4}\d{7}(?:[A-Z0-9]?){0,16}\b",         # IBAN
]


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [l for l in f.read().split("\n")]
    pats = [re.compile(p, re.IGNORECASE) for p in INJECTION] + [re.compile(p) for p in PII]
    total = sum(len(l.encode()) for l in lines)
    best = best_cpu = None
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        for text in lines:
            for p in pats:
                n += sum(1 for _ in p.finditer(text))
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        best = dt if best is None or dt < best else best
        best_cpu = dc if best_cpu is None or dc < best_cpu else best_cpu
    print("seed_mb_s=%.2f seed_cpu_mb_s=%.2f bytes=%d matches=%d"
          % (total / best / 1e6, total / best_cpu / 1e6, total, n))


main()
