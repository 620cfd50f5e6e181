"""test_get_reads.py: replies a program reads back with GET (a background
Responses call, stored chat completions, conversation items, Anthropic batch
results) reach it scrubbed, whole and streamed, through curl (libcurl layer),
requests and httpx (OpenSSL), wget (GnuTLS) and plain-HTTP http.client
(sockets); a clean one is byte-identical to the run without
airlock; GETs that are not such reads pass untouched; every read has one
audit line without text.  And an Anthropic thinking block airlock scrubbed
goes back to the server as signed (the mock, like Anthropic, refuses a
thinking block whose text does not match its signature)."""
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import (Mock, Results, PII_VALUES, PY, run_python, shim_env,  # noqa: E402
                     assemble_sse_responses, audit_lines)

R = Results()

READS = [  # (path, kind): kind says how the body is read back
    ("/v1/responses/resp_mock0001", "json"),
    ("/v1/responses/resp_mock0001?stream=true", "sse"),
    ("/v1/responses/resp_mock0001/input_items", "json"),
    ("/v1/chat/completions/chatcmpl-mock0001", "json"),
    ("/v1/chat/completions/chatcmpl-mock0001/messages", "json"),
    ("/v1/chat/completions", "json"),
    ("/v1/conversations/conv_mock01/items", "json"),
    ("/v1/conversations/conv_mock01/items/msg_mock0001", "json"),
    ("/openai/v1/responses/resp_mock0001", "json"),  # behind a path prefix (a gateway)
    ("/v1/messages/batches/msgbatch_mock01/results", "jsonl"),
]
OTHER_GETS = ["/v1/models", "/download?bytes=300000", "/", "/v1/responses"]

CLIENTS = {
    "curl": None,
    "wget": None,
    "requests": r'''
import os, sys, requests
r = requests.get(os.environ["URL"], headers={"X-Mock-Scenario": os.environ["SCN"]},
                 verify=os.environ["CA"], timeout=20)
sys.stdout.buffer.write(r.content)
''',
    "httpx": r'''
import os, sys, httpx
with httpx.Client(verify=os.environ["CA"], timeout=20) as c:
    with c.stream("GET", os.environ["URL"], headers={"X-Mock-Scenario": os.environ["SCN"]}) as r:
        for chunk in r.iter_bytes():
            sys.stdout.buffer.write(chunk)
''',
    "http.client": r'''
import os, sys, http.client, urllib.parse
u = urllib.parse.urlsplit(os.environ["URL"])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
c.request("GET", u.path + ("?" + u.query if u.query else ""),
          headers={"X-Mock-Scenario": os.environ["SCN"]})
sys.stdout.buffer.write(c.getresponse().read())
''',
}


def fetch(m, client, path, scenario, env):
    """The body client read for GET path (its bytes as latin-1 text, so a
    binary download compares exactly), its exit status and stderr."""
    tls = client != "http.client"
    url = m.url(path, tls=tls)
    if client == "curl":
        cmd = ["curl", "-sS", "--max-time", "20", "-H", "X-Mock-Scenario: " + scenario, url]
    elif client == "wget":
        cmd = ["wget", "-qO-", "--content-on-error", "--timeout=20", "--tries=1",
               "--ca-certificate=" + m.ca,
               "--header=X-Mock-Scenario: " + scenario, url]
    else:
        cmd = [PY, "-c", CLIENTS[client]]
        env = dict(env, URL=url, SCN=scenario, CA=m.ca)
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "", -9, "TIMEOUT"
    return r.stdout.decode("latin-1"), r.returncode, r.stderr.decode("utf-8", "replace")


def leaks(text):
    return [v for v in PII_VALUES if v in text]


def texts_of(kind, body):
    """Checks the body still parses as what the program expects; returns a
    short reason when it does not."""
    try:
        if kind == "json":
            json.loads(body)
        elif kind == "jsonl":
            lines = [json.loads(l) for l in body.splitlines() if l.strip()]
            if len(lines) != 2:
                return "%d lines" % len(lines)
        else:
            text, done = assemble_sse_responses(body)
            if not text or not done:
                return "stream did not assemble"
    except ValueError as e:
        return "does not parse: %s" % e
    return None


def test_reads(m):
    audit = os.path.join(m.dir, "reads.log")
    shim = shim_env(m.env(), AIRLOCK_AUDIT=audit)
    bare = m.env()
    expected_lines = expected_stream = 0
    for client in CLIENTS:
        reads = READS if client in ("curl", "requests") else [
            r for r in READS if r[0].startswith("/v1/responses/resp_mock0001") or
            r[1] == "jsonl"]
        for path, kind in reads:
            name = "%s GET %s" % (client, path)
            raw, rc0, _ = fetch(m, client, path, "pii", bare)
            if not R.check(name + ": the mock's reply carries the PII (control)",
                           rc0 == 0 and len(leaks(raw)) == len(PII_VALUES), "rc %d" % rc0):
                continue
            got, rc, err = fetch(m, client, path, "pii", shim)
            expected_lines += 1
            R.check(name + ": PII replaced", rc == 0 and not leaks(got) and
                    "<EMAIL_ADDRESS>" in got,
                    "rc %d, %d values left, %s" % (rc, len(leaks(got)), err[-200:]))
            why = texts_of(kind, got)
            R.check(name + ": scrubbed reply still parses", why is None, why)
            clean0, _, _ = fetch(m, client, path, "clean", bare)
            clean1, rc, _ = fetch(m, client, path, "clean", shim)
            expected_lines += 1
            expected_stream += 2 if kind == "sse" else 0
            R.check(name + ": a clean reply is byte-identical to the run without airlock",
                    rc == 0 and clean1 == clean0 and len(clean0) > 0,
                    "%d vs %d bytes" % (len(clean1), len(clean0)))
    for client in ("curl", "requests", "wget", "http.client"):
        for path in OTHER_GETS:
            a, rc0, _ = fetch(m, client, path, "pii", bare)
            b, rc, _ = fetch(m, client, path, "pii", shim)
            R.check("%s GET %s (not a stored reply): untouched" % (client, path),
                    rc == rc0 and a == b and len(a) > 0,
                    "%d vs %d bytes, exit %d vs %d" % (len(b), len(a), rc, rc0))
    lines = audit_lines(audit)
    R.check("audit: one line per read, none for other GETs", len(lines) == expected_lines,
            "%d lines for %d reads" % (len(lines), expected_lines))
    R.check("audit: reads are GET lines with provider, path, status",
            all(l.get("method") == "GET" and l.get("provider") in ("openai", "anthropic") and
                l.get("status") == 200 and l.get("path", "").split("/")[-1] != "models"
                for l in lines), "")
    pii_lines = [l for l in lines if l.get("redactions")]
    R.check("audit: the PII reads count their completion redactions",
            len(pii_lines) == expected_lines // 2 and all(
                l["redactions"].get("EMAIL_ADDRESS", {}).get("completion", 0) >= 1
                for l in pii_lines), "%d lines with redactions" % len(pii_lines))
    R.check("audit: the streamed reads (and only they) are marked stream",
            sum(1 for l in lines if l.get("stream")) == expected_stream,
            "%d of %d" % (sum(1 for l in lines if l.get("stream")), expected_stream))
    with open(audit) as f:
        text = f.read()
    R.check("audit: no text of the replies", not leaks(text) and "Photosynthesis" not in text)


def test_plain_http_request_head(m):
    """The socket layer forwards the held GET without adding a body length."""
    env = shim_env(m.env(), AIRLOCK_AUDIT=os.path.join(m.dir, "plain.log"))
    before = len(m.requests())
    out, rc, _ = fetch(m, "http.client", "/v1/responses/resp_mock0001", "clean", env)
    reqs = m.requests()[before:]
    hdrs = {k.lower(): v for k, v in (reqs[-1]["headers"].items() if reqs else [])}
    R.check("plain HTTP: the GET reaches the server once, with no Content-Length and "
            "identity encoding", rc == 0 and len(reqs) == 1 and "content-length" not in hdrs and
            hdrs.get("accept-encoding") == "identity", str(sorted(hdrs)))


THINK = r'''
import json, os, sys
stream = os.environ["STREAM"] == "1"
url, ca = os.environ["URL"], os.environ["CA"]
first = {"model": "claude-mock", "max_tokens": 512, "stream": stream,
         "thinking": {"type": "enabled", "budget_tokens": 256},
         "messages": [{"role": "user", "content": "Who should I call about the invoice?"}]}
hdr = {"X-Mock-Scenario": "pii+thinking", "anthropic-version": "2023-06-01"}
if stream:
    import httpx
    sys.path.insert(0, os.environ["LIBDIR"])
    from mocklib import assemble_sse_anthropic
    with httpx.Client(verify=ca, timeout=20) as c:
        r1 = c.post(url, json=first, headers=hdr)
        content = assemble_sse_anthropic(r1.text)
        s1 = r1.status_code
else:
    import requests
    r1 = requests.post(url, json=first, headers=hdr, verify=ca, timeout=20)
    s1, content = r1.status_code, r1.json()["content"]
sent = json.loads(json.dumps(content))
if os.environ.get("TAMPER"):
    sent[0]["thinking"] += " (edited)"
second = dict(first, stream=False, messages=first["messages"] + [
    {"role": "assistant", "content": sent},
    {"role": "user", "content": "Thanks. Summarise in one line."}])
import requests
r2 = requests.post(url, json=second, headers={"anthropic-version": "2023-06-01"}, verify=ca,
                   timeout=20)
print(json.dumps({"s1": s1, "content": content, "s2": r2.status_code, "reply2": r2.text}))
'''


def post_bare(m, body):
    req = urllib.request.Request(m.url("/v1/messages"), data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=m.ca),
                                    timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_thinking(m):
    libdir = os.path.dirname(os.path.abspath(__file__))
    for stream in ("0", "1"):
        how = "streamed" if stream == "1" else "whole"
        audit = os.path.join(m.dir, "think%s.log" % stream)
        env = shim_env(m.env(), AIRLOCK_AUDIT=audit, URL=m.url("/v1/messages"), CA=m.ca,
                       STREAM=stream, LIBDIR=libdir)
        r = run_python(THINK, env=env)
        try:
            o = json.loads(r.stdout)
        except ValueError:
            R.fail("thinking (%s): client ran" % how, r.stderr[-300:])
            continue
        th = [b for b in o["content"] if b.get("type") == "thinking"]
        R.check("thinking (%s): the program gets the block scrubbed" % how,
                o["s1"] == 200 and len(th) == 1 and not leaks(th[0]["thinking"]) and
                "<EMAIL_ADDRESS>" in th[0]["thinking"] and th[0].get("signature"),
                json.dumps([b.get("type") for b in o["content"]]))
        R.check("thinking (%s): sent back, the server accepts it (its text as signed)" % how,
                o["s2"] == 200 and not leaks(o["reply2"]), "status %s" % o["s2"])
        body = {"model": "claude-mock", "max_tokens": 16, "messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": th},
            {"role": "user", "content": "go on"}]}
        R.check("thinking (%s): the scrubbed block sent without airlock is refused "
                "(control: the mock checks signatures)" % how, post_bare(m, body) == 400)
        lines = audit_lines(audit)
        R.check("thinking (%s): the audit line of the second call counts one restored "
                "block, and no text" % how,
                len(lines) == 2 and lines[1].get("thinking_restored") == 1 and
                not lines[0].get("thinking_restored") and
                not leaks(open(audit).read()), json.dumps([l.get("thinking_restored")
                                                          for l in lines]))
    env = shim_env(m.env(), URL=m.url("/v1/messages"), CA=m.ca, STREAM="0", LIBDIR=libdir,
                   TAMPER="1")
    r = run_python(THINK, env=env)
    o = json.loads(r.stdout) if r.stdout.strip() else {}
    R.check("thinking: a block the program edited is not put back (the server refuses it)",
            o.get("s2") == 400, "status %s" % o.get("s2"))


def main():
    with Mock() as m:
        test_reads(m)
        test_plain_http_request_head(m)
        test_thinking(m)
    R.finish()


if __name__ == "__main__":
    main()
