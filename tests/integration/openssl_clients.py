"""openssl_clients.py: runs HTTP jobs with one Python client, in a child
process that the tests start with or without the shim preloaded.

    /usr/bin/python3 openssl_clients.py CLIENT [THREADS] < jobs.json > results.json

CLIENT is urllib, requests (one Session for all jobs), httpx (one Client;
httpx-h2: with http2=True, so it offers h2 in ALPN),
httpx-async (one AsyncClient; its SSL* has memory BIOs, no descriptor),
asyncio (asyncio streams, as aiohttp uses them: the event loop reads the SSL
only when the socket turns readable; one connection per job, opened a moment
before the request so the server's session tickets are already consumed).
jobs.json: [{"url", "body" (text), "headers": {}, "chunked": bool}...] (chunked:
requests and httpx upload the body from a generator, Transfer-Encoding:
chunked); results.json: one
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


def body_of(j):
    """The request body: bytes, or a generator (a chunked upload) when asked."""
    b = j["body"].encode("utf-8")
    if not j.get("chunked"):
        return b
    return (b[i:i + 7] for i in range(0, len(b), 7))


def run_requests(jobs):
    import requests

    out = []
    with requests.Session() as s:
        for j in jobs:
            try:
                r = s.post(j["url"], data=body_of(j), headers=j.get("headers", {}),
                           verify=CA, timeout=20)
                out.append({"status": r.status_code, "body": enc(r.content), "error": None})
            except Exception as e:  # noqa: BLE001
                out.append({"status": None, "body": "", "error": "%s: %s" % (type(e).__name__, e)})
    return out


def run_httpx(jobs, http2=False):
    import httpx

    out = []
    with httpx.Client(verify=CA, timeout=20, http2=http2) as c:
        for j in jobs:
            try:
                with c.stream("POST", j["url"], content=body_of(j),
                              headers=j.get("headers", {})) as r:
                    body = b"".join(r.iter_bytes())
                out.append({"status": r.status_code, "body": enc(body), "error": None,
                            "http_version": r.http_version})
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


def run_asyncio(jobs):
    import asyncio
    import ssl
    import urllib.parse

    async def one(j):
        u = urllib.parse.urlsplit(j["url"])
        ctx = ssl.create_default_context(cafile=CA)
        r, w = await asyncio.open_connection(u.hostname, u.port, ssl=ctx)
        await asyncio.sleep(0.1)
        body = j["body"].encode("utf-8")
        head = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (
            u.path + ("?" + u.query if u.query else ""), u.netloc, len(body))
        head += "".join("%s: %s\r\n" % kv for kv in j.get("headers", {}).items())
        w.write(head.encode() + b"\r\n" + body)
        await w.drain()
        raw = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdr = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
               for l in lines[1:] if ":" in l}
        if "content-length" in hdr:
            data = await asyncio.wait_for(r.readexactly(int(hdr["content-length"])), 20)
        elif hdr.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                n = int((await asyncio.wait_for(r.readuntil(b"\r\n"), 20)).split(b";")[0], 16)
                chunk = await asyncio.wait_for(r.readexactly(n + 2), 20)
                if n == 0:
                    break
                data += chunk[:-2]
        else:
            data = await asyncio.wait_for(r.read(), 20)
        w.close()
        return {"status": status, "body": enc(data), "error": None}

    async def main():
        out = []
        for j in jobs:
            try:
                out.append(await one(j))
            except Exception as e:  # noqa: BLE001
                out.append({"status": None, "body": "", "error": "%s: %s" % (type(e).__name__, e)})
        return out

    return asyncio.run(main())


CLIENTS = {"urllib": run_urllib, "requests": run_requests, "httpx": run_httpx,
           "httpx-async": run_httpx_async, "asyncio": run_asyncio,
           "httpx-h2": lambda jobs: run_httpx(jobs, http2=True)}


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
