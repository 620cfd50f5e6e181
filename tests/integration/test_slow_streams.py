#!/usr/bin/python3
"""test_slow_streams.py: a slow model's stream reaches the program while it
is written, not once ~144 bytes have come.  The mock writes the PII text as
an Ollama NDJSON stream over plain HTTP and as an OpenAI SSE stream over TLS,
one event of 1-4 characters every 200 ms (scenario crawl: ~12 bytes a
second, a 7B model on a laptop CPU).  With name detectors on, the stream
scrubber holds the last 96 bytes of text for them, so the first text used to
reach the program only after ~11 s, and a client whose read timeout is
shorter failed.  Read with httpx and requests, with a 3 s read timeout (a
non-blocking socket under the hood: the program's poll, or SSL_read's
WANT_READ) and without one (a blocking socket: the shim's own wait before
the real read): the first text must arrive within 2.5 s of the reply's
headers and no text wait more than 1.5 s for the next, no read may time out (a value a pattern may still complete is held
until it is: the e-mail address after the name, ~36 characters, takes ~3 s
to write here), and the values the patterns find (the e-mail address written over ~10
pauses, the card, phone, SSN, IBAN, address) must still be replaced."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import CLEAN_TEXT, PY, Mock, Results, check_slow_pii, shim_env  # noqa: E402

CLIENT = r"""
import json, sys, time
kind, lib, url, timeout, text = sys.argv[1:6]
timeout = float(timeout) if timeout != "none" else None
msgs = [{"role": "user", "content": "hi mock:%s+crawl" % text}]
if kind == "ollama":
    body = {"model": "llama3.2", "messages": msgs}
else:
    body = {"model": "gpt-4o-mini", "stream": True, "messages": msgs}
out = {"first": None, "text": "", "error": None, "lines": 0, "gap": 0.0}
last = [None]

def got(d):
    now = time.monotonic() - t0
    if out["first"] is None:
        out["first"] = now
    if last[0] is not None:
        out["gap"] = max(out["gap"], now - last[0])
    last[0] = now
    out["text"] += d
t0 = time.monotonic()

def take(line):
    line = line.strip()
    if kind == "ollama":
        if not line:
            return ""
        return json.loads(line).get("message", {}).get("content", "")
    if not line.startswith("data: ") or line == "data: [DONE]":
        return ""
    ch = json.loads(line[6:]).get("choices") or [{}]
    return ch[0].get("delta", {}).get("content") or ""

try:
    if lib == "httpx":
        import httpx
        t = httpx.Timeout(10.0, read=timeout) if timeout else httpx.Timeout(None)
        with httpx.Client(timeout=t, verify=False) as c:
            with c.stream("POST", url, json=body) as r:
                t0 = time.monotonic()
                for line in r.iter_lines():
                    d = take(line)
                    out["lines"] += 1
                    if d:
                        got(d)
    else:
        import requests
        r = requests.post(url, json=body, stream=True, verify=False,
                          timeout=(10.0, timeout) if timeout else None)
        t0 = time.monotonic()
        for line in r.iter_lines(decode_unicode=True):
            d = take(line or "")
            out["lines"] += 1
            if d:
                got(d)
except Exception as e:
    out["error"] = type(e).__name__
out["total"] = time.monotonic() - t0
print(json.dumps(out))
"""

# stream kind, library, tls, read timeout
READERS = [
    ("ollama/http, httpx, read timeout %s s", "ollama", "httpx", False),
    ("ollama/http, requests, blocking socket", "ollama", "requests", False),
    ("openai/tls, requests, read timeout %s s", "openai", "requests", True),
    ("openai/tls, httpx, blocking socket", "openai", "httpx", True),
]
FIRST_BY = 2.5  # seconds after the headers: the old first text came after ~9 s (the
# first word, "Photosynthesis", takes ~1.2 s to write, and a word being written waits)
WAIT_BY = 1.5  # the longest wait between two texts of the clean stream


def main():
    r = Results()
    with Mock() as m:
        procs = []

        def start(name, kind, lib, tls, timeout, text, shim):
            url = m.url("/api/chat" if kind == "ollama" else "/v1/chat/completions", tls=tls)
            env = shim_env(m.env()) if shim else m.env()
            p = subprocess.Popen([PY, "-c", CLIENT, kind, lib, url, timeout, text], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append((name, text, shim, timeout, p))

        # the clean text (118 characters, ~9 s): it used to come out whole at the end
        for name, kind, lib, tls in READERS:
            blocking = "blocking" in name
            start(name % "3" if not blocking else name, kind, lib, tls,
                  "none" if blocking else "3.0", "clean", True)
        # the PII text (170 characters, ~13 s): a value a pattern may still complete is
        # held until it is (the IBAN and the address after it, ~5 s here), so the
        # readers with a timeout are given 10 s
        for name, kind, lib, tls in READERS:
            blocking = "blocking" in name
            start(name % "10" if not blocking else name, kind, lib, tls,
                  "none" if blocking else "10.0", "pii", True)
        start("ollama/http, httpx, without airlock", "ollama", "httpx", False, "2.0", "clean",
              False)
        for name, text, shim, timeout, p in procs:
            name = "%s, %s text" % (name, text)
            try:
                so, se = p.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
                so, se = p.communicate()
            try:
                out = json.loads(so)
            except ValueError:
                r.check(name + ": client ran", False, (se or "")[-300:])
                continue
            first = out["first"]
            print("  %s: first text after %s s, longest wait %.2f s, stream %.2f s, error %s"
                  % (name, "%.2f" % first if first is not None else "-", out["gap"],
                     out["total"], out["error"]))
            if not shim:
                # the mock really writes slowly: without the timing the test means nothing
                r.check(name + ": the stream takes seconds", out["total"] > 6.0 and
                        out["error"] is None and first is not None and first < 0.5,
                        "%.2f s, %s" % (out["total"], out["error"]))
                continue
            r.check(name + ": no read timed out", out["error"] is None, str(out["error"]))
            r.check(name + ": the text reached its end", out["text"].rstrip().endswith("."),
                    "%d chars" % len(out["text"]))
            if text == "clean":
                r.check(name + ": first text within %.1f s" % FIRST_BY,
                        first is not None and first < FIRST_BY, str(first))
                r.check(name + ": no wait between texts over %.1f s" % WAIT_BY,
                        out["gap"] < WAIT_BY, "%.2f s" % out["gap"])
                r.check(name + ": the text is unchanged", out["text"] == CLEAN_TEXT,
                        "%d chars" % len(out["text"]))
                continue
            # a name split by a pause is seen by the detector only in part: report, not assert
            check_slow_pii(r, name, out["text"])
    r.finish()


if __name__ == "__main__":
    main()
