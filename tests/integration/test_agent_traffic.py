"""test_agent_traffic.py: clients driven the way agents and their libraries
drive them, against the mock, where earlier tests did not go.

- pycurl's multi interface with a write callback that pauses
  (CURL_WRITEFUNC_PAUSE) and a loop that unpauses it (curl_easy_pause), as
  libraries that apply back-pressure do: the whole JSON reply, released only
  at the end of the transfer, must still arrive whole and scrubbed, with the
  transfer ending in success, over TLS and plain HTTP, and a stream too.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import PII_VALUES, PY, Mock, Results, run, shim_env  # noqa: E402

R = Results()

PAUSING = r'''
import json, os, sys, time, pycurl
url, stream = sys.argv[1], sys.argv[2] == "1"
c = pycurl.Curl()
got, st = [], {"calls": 0, "paused": False}
def wf(b):
    st["calls"] += 1
    if st["calls"] % 2:           # every other call: not now
        st["paused"] = True
        return pycurl.WRITEFUNC_PAUSE
    got.append(b)
c.setopt(pycurl.URL, url)
c.setopt(pycurl.CAINFO, os.environ["SSL_CERT_FILE"])
c.setopt(pycurl.HTTPHEADER, ["Content-Type: application/json"])
c.setopt(pycurl.POSTFIELDS, json.dumps({"model": "m", "stream": stream,
         "messages": [{"role": "user", "content": "mock:pii hello"}]}))
c.setopt(pycurl.WRITEFUNCTION, wf)
m = pycurl.CurlMulti()
m.add_handle(c)
end = time.time() + 20
while time.time() < end:
    ret, running = m.perform()
    if st["paused"]:
        st["paused"] = False
        c.pause(pycurl.PAUSE_CONT)
    if not running:
        break
    m.select(0.05)
q, ok, err = m.info_read()
print(json.dumps({"ok": len(ok), "err": [e[1] for e in err], "status": c.getinfo(pycurl.RESPONSE_CODE),
                  "body": b"".join(got).decode("utf-8", "replace")}))
'''


def sse_text(body):
    out = []
    for line in body.splitlines():
        if line.startswith("data: {"):
            for ch in json.loads(line[6:]).get("choices", []):
                out.append(ch.get("delta", {}).get("content") or "")
    return "".join(out)


def pausing_multi(m):
    path = os.path.join(m.dir, "pausing.py")
    with open(path, "w") as f:
        f.write(PAUSING)
    for how, tls in (("TLS", True), ("plain HTTP", False)):
        for stream in (False, True):
            name = "pycurl multi, pausing write callback, %s, %s" % (
                how, "stream" if stream else "whole JSON reply")
            p = run([PY, path, m.url("/v1/chat/completions", tls=tls), "1" if stream else "0"],
                    env=shim_env(m.env()))
            try:
                o = json.loads(p.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                R.fail(name + ": runs", "exit %d: %s" % (p.returncode, p.stderr[-400:]))
                continue
            R.check(name + ": the transfer succeeds", o["ok"] == 1 and not o["err"],
                    "ok %d, errors %r" % (o["ok"], o["err"]))
            body = o["body"]
            if stream:
                text = sse_text(body)
            else:
                try:
                    text = json.loads(body)["choices"][0]["message"]["content"]
                except (ValueError, KeyError, IndexError):
                    text = ""
            R.check(name + ": the reply arrives whole, scrubbed",
                    "<EMAIL_ADDRESS>" in text and text.rstrip().endswith("<IP_ADDRESS>."),
                    "got %d bytes" % len(body))
            R.check(name + ": no planted value reaches the program",
                    not any(v in body for v in PII_VALUES), "one did")


def main():
    with Mock() as m:
        pausing_multi(m)
    R.finish()


if __name__ == "__main__":
    main()
