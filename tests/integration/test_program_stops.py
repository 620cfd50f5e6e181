"""The audit line of an exchange the program itself ends early: a program
that stops reading a stream and closes it (requests, plain HTTP and TLS) or
refuses the bytes in its libcurl write callback (pycurl) gets one audit line
whose fail field says the program closed it before the end of the reply,
while a program that stops at the stream's end event, or reads the whole
reply, gets fail null.  No line holds the planted values."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import Mock, Results, PY, PII_VALUES, run, shim_env  # noqa: E402

R = Results()
CUT = "closed by the program before the end of the reply"

CLIENT = r'''
import sys, requests, pycurl
mode, url, ca = sys.argv[1:4]
body = '{"model":"m","stream":true,"messages":[{"role":"user","content":"mock:pii+slow hi"}]}'
if mode == "pycurl-abort":
    n = [0]
    def w(b):
        n[0] += 1
        return 0 if n[0] > 2 else None
    c = pycurl.Curl()
    c.setopt(c.URL, url)
    c.setopt(c.CAINFO, ca)
    c.setopt(c.POSTFIELDS, body)
    c.setopt(c.HTTPHEADER, ["Content-Type: application/json"])
    c.setopt(c.WRITEFUNCTION, w)
    try:
        c.perform()
    except pycurl.error as e:
        print("pycurl error %d" % e.args[0])
    sys.exit()
r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, stream=True,
                  verify=ca, timeout=20)
it = r.iter_lines()
if mode == "stop-early":
    next(it)
    next(it)
elif mode == "stop-at-done":
    for l in it:
        if l == b"data: [DONE]":
            break
else:
    for l in it:
        pass
r.close()
print("done")
'''


def main():
    with Mock() as m, tempfile.TemporaryDirectory() as d:
        for tls in (False, True):
            url = m.url("/v1/chat/completions", tls=tls)
            where = "TLS" if tls else "plain HTTP"
            for mode, want in (("stop-early", CUT), ("stop-at-done", None), ("read-all", None),
                               ("pycurl-abort", CUT)):
                audit = os.path.join(d, "%s-%s.log" % (mode, tls))
                p = run([PY, "-c", CLIENT, mode, url, m.ca], env=shim_env(m.env(), AIRLOCK_AUDIT=audit))
                lines = open(audit).read().splitlines() if os.path.exists(audit) else []
                recs = [json.loads(l) for l in lines]
                R.check("%s, %s: one audit line, fail %s" % (where, mode, json.dumps(want)),
                        len(recs) == 1 and recs[0].get("fail") == want,
                        "%s %s" % ([r.get("fail") for r in recs], p.stderr[-200:]))
                R.check("%s, %s: the audit line holds no planted value" % (where, mode),
                        not any(v in l for l in lines for v in PII_VALUES))
    R.finish()


if __name__ == "__main__":
    main()
