"""mocklib.py: shared helpers for the Python integration tests.

    from mocklib import Mock, Results, B, SHIM, AIRLOCK, shim_env, run
    with Mock() as m:                     # starts examples/mock_llm.py
        m.url("/v1/chat/completions")     # https://localhost:<tls>/v1/...
        m.url("/api/chat", tls=False)     # http://127.0.0.1:<http>/api/chat
        m.ca, m.log, m.requests()         # cert path, log path, parsed log lines
    r = Results(); r.check("name", cond, "why"); r.finish()  # "N passed, N failed"

B comes from the environment (default build); clients that must run under the
shim run as child processes (run(..., env=shim_env())) because LD_PRELOAD only
takes effect at exec.
"""
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.environ.get("B") or "build"
if not os.path.isabs(B):
    B = os.path.join(ROOT, B)
SHIM = os.path.join(B, "libairlock.so")
AIRLOCK = os.path.join(B, "airlock")
PY = "/usr/bin/python3"
MOCK = os.path.join(ROOT, "examples", "mock_llm.py")

CLEAN_TEXT = ("Photosynthesis converts light energy into chemical energy stored in glucose. "
              "Plants release oxygen as a by-product.")
PII_TEXT = ("Sure. Reach John Smith at john.smith@example.com or +1 415-555-0132. "
            "Card 4111 1111 1111 1111, SSN 536-22-1234, IBAN GB82 WEST 1234 5698 7654 32, "
            "host 10.20.30.40.")
# The values PII_TEXT plants; none may survive scrubbing.
PII_VALUES = ["John Smith", "john.smith@example.com", "415-555-0132", "4111 1111 1111 1111",
              "536-22-1234", "GB82 WEST 1234 5698 7654 32", "10.20.30.40"]


class Mock:
    """Context manager running the mock server for the duration of a with
    block.  Attributes: tls_port, http_port, ca, log, dir."""

    def __init__(self, certdir=None):
        self.certdir = certdir or os.environ.get("MOCK_CERTDIR") or os.path.join(B, "mock-certs")
        self.proc = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="airlock-mock.")
        self.log = os.path.join(self.dir, "requests.log")
        ports = os.path.join(self.dir, "ports")
        self._out = open(os.path.join(self.dir, "stdout"), "w")
        self.proc = subprocess.Popen([PY, MOCK, "--portfile", ports, "--log", self.log,
                                      "--certdir", self.certdir],
                                     stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not os.path.exists(ports):
            if self.proc.poll() is not None or time.time() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("mock server did not start")
            time.sleep(0.05)
        with open(ports) as f:
            p = json.load(f)
        self.tls_port, self.http_port = p["tls"], p["http"]
        self.ca = os.path.join(self.certdir, "cert.pem")
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        self._out.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def url(self, path, tls=True, host="localhost"):
        if tls:
            return "https://%s:%d%s" % (host, self.tls_port, path)
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def requests(self):
        """The requests logged so far, parsed: dicts with proto, tls, method,
        path, headers, body."""
        return [json.loads(l) for l in self.log_text().splitlines() if l.strip()]

    def env(self, **extra):
        """Environment for a child client that trusts the mock's certificate."""
        e = dict(os.environ)
        e.update(SSL_CERT_FILE=self.ca, REQUESTS_CA_BUNDLE=self.ca, CURL_CA_BUNDLE=self.ca)
        e.update({k: str(v) for k, v in extra.items()})
        return e


def serve(handler, unix_path=None):
    """Accepts connections on 127.0.0.1 (or on a Unix socket file at unix_path),
    each handled by handler(conn) in a thread of its own; returns the TCP port."""
    ls = socket.socket(socket.AF_UNIX) if unix_path else socket.socket()
    ls.bind(unix_path or ("127.0.0.1", 0))
    ls.listen(20)

    def loop():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return None if unix_path else ls.getsockname()[1]


def echo(c):
    """Sends every byte back until the peer closes (a service that is not HTTP)."""
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()


def echo_server():
    """A local TCP echo service (not HTTP); returns its port."""
    return serve(echo)


def read_request(f):
    """Reads one HTTP/1.x request with a Content-Length body (or none) from
    the binary file f (socket.makefile("rb")).  Returns (request line, headers
    with lower-case names, body), or None at the end of the stream."""
    line = f.readline()
    if not line:
        return None
    hdrs = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return line, hdrs, f.read(int(hdrs.get("content-length", "0")))


def answer_one_chat(c):
    """Reads one HTTP request with a Content-Length body from socket c (plain
    or TLS), answers it with a short chat completion and closes c; returns the
    request body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += c.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
         if l.lower().startswith(b"content-length:")][0]
    while len(body) < n:
        d = c.recv(65536)
        if not d:
            break
        body += d
    r = json.dumps({"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Leaves are green."},
         "finish_reason": "stop"}]}).encode()
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(r), r))
    c.close()
    return body


def pipe(a, b):
    """Relay bytes both ways between two sockets until either side closes (test proxies)."""
    try:
        while True:
            r, _, _ = select.select([a, b], [], [], 30)
            if not r:
                return
            for s in r:
                d = s.recv(65536)
                if not d:
                    return
                (b if s is a else a).sendall(d)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


def shim_env(base=None, **extra):
    """base (default os.environ) plus LD_PRELOAD=SHIM and extra variables,
    e.g. shim_env(m.env(), AIRLOCK_AUDIT=path)."""
    e = dict(base if base is not None else os.environ)
    e["LD_PRELOAD"] = SHIM + ((" " + e["LD_PRELOAD"]) if e.get("LD_PRELOAD") else "")
    e.update({k: str(v) for k, v in extra.items()})
    return e


def run(cmd, env=None, input=None, timeout=30):
    """Runs cmd (a list) and returns CompletedProcess with text stdout/stderr;
    a timeout becomes returncode -9 with 'TIMEOUT' in stderr, never a hang."""
    try:
        return subprocess.run(cmd, env=env, input=input, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (
            e.stdout or "")
        return subprocess.CompletedProcess(cmd, -9, out, "TIMEOUT after %ss" % timeout)


def run_python(code, env=None, timeout=30):
    """Runs a Python snippet in a child /usr/bin/python3 (so LD_PRELOAD in env
    applies to it)."""
    return run([PY, "-c", code], env=env, timeout=timeout)


def assemble_sse_openai(text):
    """Joins the content deltas of an OpenAI chat SSE stream; returns
    (text, saw_done)."""
    out, done = [], False
    for line in text.splitlines():
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            done = True
            continue
        obj = json.loads(data)
        for ch in obj.get("choices", []):
            c = ch.get("delta", {}).get("content")
            if c:
                out.append(c)
    return "".join(out), done


def sse_data(text):
    """The JSON data of each SSE event in text (LF or CRLF), "[DONE]" skipped."""
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            out.append(json.loads(line[6:]))
    return out


def assemble_sse_responses(text):
    """Joins the output_text deltas of an OpenAI Responses SSE stream;
    returns (text, saw_completed)."""
    evs = sse_data(text)
    return ("".join(e.get("delta", "") for e in evs
                    if e.get("type") == "response.output_text.delta"),
            any(e.get("type") == "response.completed" for e in evs))


def assemble_sse_anthropic(text):
    """The content blocks of an Anthropic Messages SSE stream, put together
    as a client library does (text, thinking with its signature)."""
    blocks = {}
    for e in sse_data(text):
        i = e.get("index")
        if e.get("type") == "content_block_start":
            blocks[i] = dict(e["content_block"])
        elif e.get("type") == "content_block_delta":
            d, b = e["delta"], blocks.setdefault(i, {})
            for k in ("text", "thinking", "partial_json", "signature"):
                if k in d:
                    b[k] = b.get(k, "") + d[k] if k != "signature" else d[k]
    return [blocks[i] for i in sorted(blocks)]


ECHO_CLIENT = r"""
import json, sys
import requests
url, ca, prompt = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
for stream in (False, True):
    r = requests.post(url, json={"model": "gpt-4o-mini", "stream": stream,
                                 "messages": [{"role": "user", "content": prompt}]},
                      verify=ca, headers={"X-Mock-Scenario": "echo"}, stream=stream)
    if stream:
        out["stream"] = {"status": r.status_code, "body": b"".join(r.iter_content(7)).decode()}
    else:
        out["whole"] = {"status": r.status_code, "body": r.text}
print(json.dumps(out))
"""


def echo_replies(m, env, prompt):
    """A Python requests client under env asks the mock m to echo prompt as
    an OpenAI chat reply, whole and as an SSE stream read 7 bytes at a time.
    Returns ({"whole"|"stream": (status, content text)}, None), or (None,
    the client's stderr) when it failed."""
    p = run([PY, "-c", ECHO_CLIENT, m.url("/v1/chat/completions"), m.ca, prompt], env=env,
            timeout=60)
    if p.returncode != 0:
        return None, p.stderr[-300:]
    out, got = json.loads(p.stdout), {}
    for kind in ("whole", "stream"):
        o = out.get(kind, {})
        if kind == "whole":
            try:
                text = json.loads(o.get("body", ""))["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                text = ""
        else:
            text, _ = assemble_sse_openai(o.get("body", ""))
        got[kind] = (o.get("status"), text)
    return got, None


def audit_lines(path):
    """The audit log at path as a list of records ([] when it is not there)."""
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def check_slow_pii(r, name, text):
    """A slow stream's PII text as the program got it: every pattern value
    (e-mail, card, ...) replaced is asserted; the name, which a pause may
    split, is reported only (replaced whole, in part, or not)."""
    left = [v for v in PII_VALUES if v != "John Smith" and v in text]
    r.check(name + ": pattern values written over pauses are replaced", not left and
            "<EMAIL_ADDRESS>" in text and "<CREDIT_CARD>" in text,
            "%d values left" % len(left))
    print("  %s: the name %s" % (name, "was replaced whole" if "John" not in text and
                                 "Smith" not in text else
                                 "was replaced in part" if "<PERSON>" in text else
                                 "went through"))


class Results:
    """ok/fail counters; finish() prints "N passed, N failed" and exits."""

    def __init__(self):
        self.passed = self.failed = 0

    def ok(self, name):
        self.passed += 1
        print("ok   " + name, flush=True)

    def fail(self, name, why=""):
        self.failed += 1
        print("FAIL %s: %s" % (name, why), flush=True)

    def check(self, name, cond, why=""):
        if cond:
            self.ok(name)
        else:
            self.fail(name, why)
        return bool(cond)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)
