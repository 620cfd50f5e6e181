"""The GnuTLS hook keeps gnutls_record_send's contract for a non-blocking
host: when the socket cannot take a screened request yet, the call returns
GNUTLS_E_AGAIN at once (it waited up to 30 s), and the host's retry, with
the same data or with NULL, 0, completes the request, which reaches the
server intact.  A blocking client that reads to the end of the stream after
its request was blocked (answered by airlock, never sent) gets the answer and
then the end, instead of waiting for a server that owes it nothing.

The client is tests/integration/edge/gnutls_edge.c, run under the shim; the
TLS server here waits two seconds before it reads anything.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import answer_one_chat  # noqa: E402


def slow_tls_server(certdir, delay, bodies):
    """One TLS connection: handshake, wait `delay` seconds, read the request,
    answer a chat completion.  Returns the port."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(certdir, "cert.pem"), os.path.join(certdir, "key.pem"))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ls.bind(("127.0.0.1", 0))
    ls.listen(2)

    def serve():
        raw, _ = ls.accept()
        raw.settimeout(20)
        try:
            c = ctx.wrap_socket(raw, server_side=True)
            time.sleep(delay)
            bodies.append(answer_one_chat(c))
        except (OSError, IndexError, ValueError) as e:
            bodies.append(("error", str(e)))
        ls.close()

    threading.Thread(target=serve, daemon=True).start()
    return ls.getsockname()[1]


def main():
    from mocklib import Mock, Results, shim_env, run, ROOT
    r = Results()
    tmp = tempfile.mkdtemp(prefix="airlock-gnutls.")
    exe = os.path.join(tmp, "gnutls_edge")
    src = os.path.join(ROOT, "tests", "integration", "edge", "gnutls_edge.c")
    b = subprocess.run(["cc", "-std=gnu11", "-O1", "-g", "-D_GNU_SOURCE", "-o", exe, src,
                        "-lgnutls"], capture_output=True, text=True)
    if b.returncode != 0:
        r.fail("build gnutls_edge.c", b.stderr[-300:])
        shutil.rmtree(tmp, ignore_errors=True)
        r.finish()
    with Mock() as m:  # (for its certificate)
        certdir = os.path.dirname(m.ca)
        for mode in ("same", "null"):
            bodies = []
            port = slow_tls_server(certdir, 2.0, bodies)
            p = run([exe, str(port), m.ca, "200000", mode], env=shim_env(m.env()), timeout=40)
            try:
                o = json.loads(p.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                o = None
            why = "%s %s" % (p.stdout[-300:], p.stderr[-300:])
            r.check("non-blocking gnutls_record_send of a request the server is not reading "
                    "yet returns GNUTLS_E_AGAIN at once (retry with %s data)" % mode,
                    o is not None and o["again"] > 0 and o["slowest"] < 1.0, why)
            t_end = time.time() + 5
            while not bodies and time.time() < t_end:
                time.sleep(0.05)
            r.check("the retried sends (%s data) report the whole request sent and deliver "
                    "its body intact" % mode,
                    o is not None and o["sent"] == o["len"] and len(bodies) == 1
                    and isinstance(bodies[0], bytes) and len(bodies[0]) == o["body"]
                    and o["reply"].startswith("HTTP/1.1 200"), why + repr(bodies)[:200])
        for mode, kind in (("eof", "blocking"), ("eof-poll", "non-blocking, polling")):
            before = len(m.requests())
            p = run([exe, str(m.tls_port), m.ca, "0", mode], env=shim_env(m.env()), timeout=20)
            try:
                o = json.loads(p.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                o = None
            why = "%s %s" % (p.stdout[-300:], p.stderr[-300:])
            r.check("a blocked request's %s client reading to the end gets the error answer "
                    "and then the end of the stream at once" % kind,
                    o is not None and o["status"].startswith("HTTP/1.1 4") and o["end"] == 0
                    and o["secs"] < 2.5, why)
            r.check("the blocked request (%s client) never reaches the server" % kind,
                    len(m.requests()) == before, "the mock logged it")
    shutil.rmtree(tmp, ignore_errors=True)
    r.finish()


if __name__ == "__main__":
    main()
