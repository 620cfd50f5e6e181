"""openssl_clients.py: runs HTTP jobs with one Python client, in a child
process that the tests start with or without the shim preloaded.

    /usr/bin/python3 openssl_clients.py CLIENT [THREADS] < jobs.json > results.json

CLIENT is urllib, requests (one Session for all jobs), httpx (one Client),
httpx-async (one AsyncClient; its SSL* has memory BIOs, no descriptor).
jobs.json: [{"url", "body" (text), "headers": {}}...]; results.json: one
{"status", "body" (latin-1 text of the exact bytes), "error"} per job, in
order.  With THREADS > 1 the jobs are spread over that many threads, each
with its own client.  Errors are caught and reported, never raised: a crash
of the child is a failure of the test.
"""
import json
import os
import sys
import threading

CA = os.environ.get("SSL_CERT_FILE")


def enc(b):
    return b.decode("latin-1")


def run_urllib(jobs):
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=CA)
    out = []
    for j in jobs:
        req = urllib.request.Request(j["url"], data=j["body"].encode("utf-8"), method="POST",
                                     headers=j.get("headers", {}))
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
                out.append({"status": r.status, "body": enc(r.read()), "error": None})
        except urllib.error.HTTPError as e:
            out.append({"status": e.code, "body": enc(e.read()), "error": None})
        except Exception as e:  # noqa: BLE001 - reported to the test
            out.append({"status": None, "body": "", "error": "%s: %s" % (type(e).__name__, e)})
    return out


def run_requests(jobs):
    import requests

    out = []
    with requests.Session() as s:
        for j in jobs:
            try:
                r = s.post(j["url"], data=j["body"].encode("utf-8"), headers=j.get("headers", {}),
                           verify=CA, timeout=20)
                out.append({"status": r.status_code, "body": enc(r.content), "error": None})
            except Exception as e:  # noqa: BLE001
                out.append({"status": None, "body": "", "error": "%s: %s" % (type(e).__name__, e)})
    return out


def run_httpx(jobs):
    import httpx

    out = []
    with httpx.Client(verify=CA, timeout=20) as c:
        for j in jobs:
            try:
                with c.stream("POST", j["url"], content=j["body"].encode("utf-8"),
                              headers=j.get("headers", {})) as r:
                    body = b"".join(r.iter_bytes())
                out.append({"status": r.status_code, "body": enc(body), "error": None})
            except Exception as e:  # noqa: BLE001
                out.append({"status": None, "body": "", "error": "%s: %s" % (type(e).__name__, e)})
    return out


def run_httpx_async(jobs):
    import asyncio

    import httpx

    async def main():
        out = []
        async with httpx.AsyncClient(verify=CA, timeout=20) as c:
            for j in jobs:
                try:
                    async with c.stream("POST", j["url"], content=j["body"].encode("utf-8"),
                                        headers=j.get("headers", {})) as r:
                        body = b""
                        async for part in r.aiter_bytes():
                            body += part
                    out.append({"status": r.status_code, "body": enc(body), "error": None})
                except Exception as e:  # noqa: BLE001
                    out.append({"status": None, "body": "",
                                "error": "%s: %s" % (type(e).__name__, e)})
        return out

    return asyncio.run(main())


CLIENTS = {"urllib": run_urllib, "requests": run_requests, "httpx": run_httpx,
           "httpx-async": run_httpx_async}


def main():
    fn = CLIENTS[sys.argv[1]]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    jobs = json.load(sys.stdin)
    if threads <= 1:
        results = fn(jobs)
    else:
        results = [None] * len(jobs)
        parts = [list(range(i, len(jobs), threads)) for i in range(threads)]

        def worker(idx):
            res = fn([jobs[k] for k in idx])
            for k, r in zip(idx, res):
                results[k] = r

        ts = [threading.Thread(target=worker, args=(p,)) for p in parts if p]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
