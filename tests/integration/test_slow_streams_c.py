#!/usr/bin/python3
"""test_slow_streams_c.py: a slow model's stream reaches a program on libcurl
or on GnuTLS while it is written, as test_slow_streams.py checks for Python's
own clients.  The mock writes the text one event of 1-4 characters every
200 ms (scenario crawl).  The stream scrubber holds the detectors' last 96
bytes, so the clean 118-character answer used to reach these programs whole
after ~9.6 s.  libcurl: examples/client_curl_cb (--stream: it prints each
piece its write callback gets) with curl_easy_perform and with the multi
interface and a write callback that pauses every third piece, libcurl with
OpenSSL and with GnuTLS, SSE over TLS (HTTP/1.1, HTTP/2) and Ollama NDJSON
over plain HTTP; and pycurl, whose own progress callback must be called as
it asked (NOPROGRESS), whose abort from it must end the transfer (42), and
whose write callback's refusal of the first text, let out at a pause from
the progress callback, must end it as a write error (23).  GnuTLS:
tests/integration/edge/gnutls_stream.c on a blocking socket, and on a
non-blocking one polled with a 3 s read timeout.  The clean answer's first
text must come within 2.5 s of the headers (libcurl's NDJSON: 4.0 s of the
program's start, as it has no headers time to tell), no text may wait over
1.5 s for the next, the text must be unchanged, and in the PII text the
values the patterns find must still be replaced.  The clean streams run
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
from mocklib import B, CLEAN_TEXT, PY, ROOT, Mock, Results, check_slow_pii, shim_env  # noqa: E402

FIRST_BY = 2.5  # s after the headers (the first word alone takes ~1.2 s to write)
FIRST_NDJSON = 4.0  # s after the program started (its start, the first screening: 0.8-1.3 s)
WAIT_BY = 1.5  # the longest wait between two texts of the clean stream


# A Python program on libcurl (pycurl, libcurl with GnuTLS): SSE over TLS, with
# the program's own progress callback: "progress" asks for its calls
# (NOPROGRESS 0), "quiet" sets it and leaves NOPROGRESS at 1 (libcurl then
# never calls it), "abort" returns 1 from it once 1 s has passed, "refuse"
# has the write callback refuse the first piece with text.
PYCURL = r"""
import json, re, sys, time, pycurl
url, ca, text, mode = sys.argv[1:5]
body = {"model": "gpt-4o-mini", "stream": True,
        "messages": [{"role": "user", "content": "hi mock:%s+crawl" % text}]}
out = {"pieces": [], "calls": 0, "error": None}
t0 = time.monotonic()

def write(b):
    if mode == "refuse" and re.search(rb'"content":"[^"]', b):
        return 0
    out["pieces"].append((time.monotonic() - t0, b.decode("utf-8", "replace")))

def progress(dt, dn, ut, un):
    out["calls"] += 1
    return 1 if mode == "abort" and time.monotonic() - t0 > 1.0 else 0

c = pycurl.Curl()
c.setopt(pycurl.URL, url)
c.setopt(pycurl.CAINFO, ca)
c.setopt(pycurl.POSTFIELDS, json.dumps(body))
c.setopt(pycurl.HTTPHEADER, ["Content-Type: application/json"])
c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
c.setopt(pycurl.WRITEFUNCTION, write)
c.setopt(pycurl.XFERINFOFUNCTION, progress)
if mode != "quiet":
    c.setopt(pycurl.NOPROGRESS, 0)
try:
    c.perform()
except pycurl.error as e:
    out["error"] = e.args[0]
out["end"] = time.monotonic() - t0
print(json.dumps(out))
"""


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

        def py(name, mode):
            p = subprocess.Popen([PY, "-c", PYCURL, m.url("/v1/chat/completions"), m.ca, "clean",
                                  mode],
                                 env=shim_env(m.env()), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            runs.append(("pycurl, " + name, mode, True, "py", p, None))

        def tls(name, mode, text, ms):
            p = subprocess.Popen([exe, str(m.tls_port), m.ca, text, mode, str(ms)],
                                 env=shim_env(m.env()), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            runs.append(("GnuTLS " + name, text, True, "tls", p, None))

        def batch(text):
            curl("(OpenSSL), easy, SSE over TLS, HTTP/1.1", "openssl", "openai", text,
                 ["--http1.1"])
            curl("(OpenSSL), easy, Ollama NDJSON over HTTP", "openssl", "ollama", text, [])
            curl("(GnuTLS), multi, pausing writer, SSE over TLS, HTTP/2", "gnutls", "openai",
                 text, ["--http2", "--multi", "--pause"])
            curl("(OpenSSL), multi, pausing writer, Ollama NDJSON over HTTP", "openssl",
                 "ollama", text, ["--multi", "--pause"])
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
        py("its own progress callback asked for (NOPROGRESS 0)", "progress")
        py("its own progress callback not asked for (NOPROGRESS 1)", "quiet")
        py("its progress callback aborts after 1 s", "abort")
        py("its write callback refuses the first text", "refuse")
        check(r, runs)
    shutil.rmtree(tmp, ignore_errors=True)
    r.finish()


def check_py(r, name, mode, so, se):
    """The pycurl program's run (see PYCURL)."""
    try:
        out = json.loads(so)
    except ValueError:
        r.check(name + ": client ran", False, se.decode("utf-8", "replace")[-300:])
        return
    pieces = [(t, b.encode()) for t, b in out["pieces"]]
    ev = texts(lines_of(pieces))
    start = pieces[0][0] if pieces else 0.0
    first = ev[0][0] - start if ev else None
    got = "".join(d for _, d in ev)
    print("  %s: first text after %s s, progress calls %d, error %s after %.2f s"
          % (name, "%.2f" % first if first is not None else "-", out["calls"], out["error"],
             out["end"]))
    if mode in ("progress", "quiet"):
        r.check(name + ": the text came whole, the first within %.1f s of the headers" % FIRST_BY,
                out["error"] is None and got == CLEAN_TEXT and first is not None and
                first < FIRST_BY, "%s, %d chars, %s" % (out["error"], len(got), first))
    if mode == "progress":
        r.check(name + ": libcurl calls it still", out["calls"] > 5, str(out["calls"]))
    elif mode == "quiet":
        r.check(name + ": libcurl never calls it", out["calls"] == 0, str(out["calls"]))
    elif mode == "abort":
        r.check(name + ": the transfer ends with its abort (42) at once",
                out["error"] == 42 and out["end"] < 4.0, "%s %.2f s" % (out["error"], out["end"]))
    else:
        # the first text is let out at a pause, from the progress callback: the
        # refusal still ends the transfer as a write error (23), and at once
        r.check(name + ": the transfer ends as a write error (23) when refused, within %.1f s "
                "of the headers" % (FIRST_BY + 0.5),
                out["error"] == 23 and out["end"] - start < FIRST_BY + 0.5 and not got,
                "%s %.2f s, %d chars" % (out["error"], out["end"] - start, len(got)))


def check(r, runs):
    for name, text, shim, how, p, rd in runs:
        if how == "py":
            try:
                so, se = p.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
                so, se = p.communicate()
            check_py(r, name, text, so, se)
            continue
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
        check_slow_pii(r, name, got)


if __name__ == "__main__":
    main()
