#!/usr/bin/python3
"""test_slow_streams_c.py: a slow model's stream reaches a C program on GnuTLS
while it is written, as test_slow_streams.py checks for Python's clients.  The
mock writes an OpenAI SSE stream over TLS, one event of 1-4 characters every
200 ms (scenario crawl).  The stream scrubber holds the detectors' last 96
bytes, so the clean 118-character answer used to reach the program whole
after ~9.5 s.  The client (tests/integration/edge/gnutls_stream.c) reads a
blocking socket, and a non-blocking one polled with a 3 s read timeout.  The
clean answer's first text must come within 2.5 s of the headers, no text may
wait over 1.5 s for the next, the text must be unchanged, and in the PII text
the values the patterns find must still be replaced.  The clean streams run
first, together, then the PII ones; a libcurl program without airlock shows
that the mock really writes slowly."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import B, CLEAN_TEXT, PII_VALUES, ROOT, Mock, Results, shim_env  # noqa: E402

FIRST_BY = 2.5  # s after the headers (the first word alone takes ~1.2 s to write)
FIRST_NDJSON = 3.0  # s after the program started: libcurl's NDJSON has no headers time
WAIT_BY = 1.5  # the longest wait between two texts of the clean stream


def texts(lines):
    """(time, content) of each event in [(time, line)] (SSE or NDJSON)."""
    out = []
    for t, line in lines:
        line = line.strip()
        try:
            if line.startswith("data: "):
                if line == "data: [DONE]":
                    continue
                ch = json.loads(line[6:]).get("choices") or [{}]
                d = ch[0].get("delta", {}).get("content") or ""
            elif line.startswith("{"):
                d = json.loads(line).get("message", {}).get("content", "")
            else:
                continue
        except ValueError:
            d = "<bad line>"
        if d:
            out.append((t, d))
    return out


def lines_of(pieces):
    """[(time, bytes)] -> [(time the line was complete, line)]."""
    out, buf = [], b""
    for t, b in pieces:
        buf += b
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            out.append((t, line.decode("utf-8", "replace")))
    return out


def dechunk(raw, times):
    """The chunked body of raw (bytes after the headers), each byte with the
    time of the read that brought it: [(time, bytes)]."""
    out, i = [], 0
    while True:
        j = raw.find(b"\r\n", i)
        if j < 0:
            return out
        n = int(raw[i:j].split(b";")[0] or b"0", 16)
        if n == 0:
            return out
        for k in range(j + 2, j + 2 + n):
            out.append((times[k] if k < len(times) else times[-1], raw[k:k + 1]))
        i = j + 2 + n + 2


def tls_records(so):
    """gnutls_stream's output -> (headers time, [(time, line)], end code)."""
    pos, raw, times, end = 0, b"", [], None
    while pos < len(so):
        nl = so.find(b"\n", pos)
        head = so[pos:nl].decode()
        if head.startswith("END"):
            end = int(head.split()[1])
            break
        t, n = head.split()
        t, n = float(t), int(n)
        raw += so[nl + 1:nl + 1 + n]
        times += [t] * n
        pos = nl + 1 + n
    h = raw.find(b"\r\n\r\n")
    if h < 0:
        return None, [], end
    body = dechunk(raw[h + 4:], times[h + 4:])
    return times[h + 3], lines_of(body), end


class Reader(threading.Thread):
    """Reads a process's stdout as it comes, noting when each piece came."""

    def __init__(self, p, t0):
        super().__init__(daemon=True)
        self.p, self.t0, self.pieces = p, t0, []
        self.start()

    def run(self):
        while True:
            b = os.read(self.p.stdout.fileno(), 65536)
            if not b:
                return
            self.pieces.append((time.monotonic() - self.t0, b))


def main():
    r = Results()
    tmp = tempfile.mkdtemp(prefix="airlock-slow-c.")
    exe = os.path.join(tmp, "gnutls_stream")
    src = os.path.join(ROOT, "tests", "integration", "edge", "gnutls_stream.c")
    b = subprocess.run(["cc", "-std=gnu11", "-O1", "-g", "-D_GNU_SOURCE", "-o", exe, src,
                        "-lgnutls"], capture_output=True, text=True)
    if b.returncode != 0:
        r.fail("build gnutls_stream.c", b.stderr[-300:])
        shutil.rmtree(tmp, ignore_errors=True)
        r.finish()
    with Mock() as m:
        runs = []

        def curl(name, flavour, kind, text, args, shim=True):
            url = m.url("/api/chat" if kind == "ollama" else "/v1/chat/completions",
                        tls=kind != "ollama")
            body = {"model": "llama3.2" if kind == "ollama" else "gpt-4o-mini", "stream": True,
                    "messages": [{"role": "user", "content": "hi mock:%s+crawl" % text}]}
            cmd = [os.path.join(B, "ex", "client_curl_cb_" + flavour), "--cacert", m.ca,
                   "--stream", "-d", json.dumps(body)] + args + [url]
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, env=shim_env(m.env()) if shim else m.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            runs.append(("libcurl " + name, text, shim, "curl", p, Reader(p, t0)))

        def tls(name, mode, text, ms):
            p = subprocess.Popen([exe, str(m.tls_port), m.ca, text, mode, str(ms)],
                                 env=shim_env(m.env()), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            runs.append(("GnuTLS " + name, text, True, "tls", p, None))

        def batch(text):
            tls("blocking socket", "block", text, 0)
            # a value a pattern may still complete is held until it is (the IBAN
            # and the address after it, ~5 s): the PII reader is given 10 s
            tls("non-blocking socket, %d s read timeout" % (3 if text == "clean" else 10), "poll",
                text, 3000 if text == "clean" else 10000)

        batch("clean")
        curl("(OpenSSL), easy, SSE over TLS, without airlock", "openssl", "openai", "clean",
             ["--http1.1"], shim=False)
        check(r, runs)
        runs.clear()
        batch("pii")
        check(r, runs)
    shutil.rmtree(tmp, ignore_errors=True)
    r.finish()


def check(r, runs):
    for name, text, shim, how, p, rd in runs:
        name = "%s, %s text" % (name, text)
        if how == "curl":  # (rd reads its stdout)
            try:
                p.wait(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            so, se = b"", p.stderr.read()
        else:
            try:
                so, se = p.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
                so, se = p.communicate()
        err = se.decode("utf-8", "replace")
        if how == "curl":
            rd.join(5)
            ev = texts(lines_of(rd.pieces))
            sse = rd.pieces and rd.pieces[0][1].startswith(b"data: ")
            # the first SSE event (the role, no text) comes with the headers
            start = rd.pieces[0][0] if sse else 0.0
            ok = p.returncode == 0
            total = rd.pieces[-1][0] - start if rd.pieces else 0.0
            why = err[-200:]
        else:
            start, lines, end = tls_records(so)
            ev = texts(lines)
            ok = start is not None and end == 0
            total = lines[-1][0] - start if lines and start is not None else 0.0
            why = "end %s %s" % (end, err[-200:])
        got = "".join(d for _, d in ev)
        first = ev[0][0] - start if ev else None
        gap = max([b[0] - a[0] for a, b in zip(ev, ev[1:])] or [0.0])
        print("  %s: first text after %s s, longest wait %.2f s, stream %.2f s"
              % (name, "%.2f" % first if first is not None else "-", gap, total))
        if not shim:
            # the mock really writes slowly: without the timing the test means nothing
            r.check(name + ": the stream takes seconds", ok and total > 6.0 and
                    first is not None and first < 1.0, "%.2f s %s" % (total, why))
            continue
        r.check(name + ": the stream ended cleanly", ok, why)
        r.check(name + ": the text reached its end", got.rstrip().endswith("."),
                "%d chars" % len(got))
        if text == "clean":
            by = FIRST_NDJSON if how == "curl" and not start else FIRST_BY
            r.check(name + ": first text within %.1f s" % by,
                    first is not None and first < by, str(first))
            r.check(name + ": no wait between texts over %.1f s" % WAIT_BY, gap < WAIT_BY,
                    "%.2f s" % gap)
            r.check(name + ": the text is unchanged", got == CLEAN_TEXT,
                    "%d chars" % len(got))
            continue
        left = [v for v in PII_VALUES if v != "John Smith" and v in got]
        r.check(name + ": pattern values written over pauses are replaced", not left and
                "<EMAIL_ADDRESS>" in got and "<CREDIT_CARD>" in got,
                "%d values left" % len(left))
        print("  %s: the name %s" % (name, "was replaced whole" if "John" not in got and
                                     "Smith" not in got else
                                     "was replaced in part" if "<PERSON>" in got else
                                     "went through"))


if __name__ == "__main__":
    main()
