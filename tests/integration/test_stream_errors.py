"""test_stream_errors.py: a stream that fails part-way, as the APIs end one:
OpenAI's `data: {"error": ...}` event, Anthropic's `event: error`, Gemini's
error object in its SSE stream, Ollama's `{"error": ...}` line.  The error's
message may echo what was sent or name somebody, as a whole error reply's
may (those are scrubbed, every string): through curl (libcurl layer),
requests over TLS (OpenSSL layer) and over plain HTTP (socket layer), the
program must get the text before the error and the error event, parsing,
with the e-mail address in its message replaced.  A raw server in this file
writes the streams."""
import json
import os
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import PY, Mock, Results, read_request, run, shim_env  # noqa: E402

R = Results()
MAIL = "maria.garcia@contoso.com"
MSG = "Overloaded while answering %s, try again" % MAIL


def jd(o):
    return json.dumps(o, separators=(",", ":"))


def sse(obj, event=None):
    return ((("event: %s\n" % event) if event else "") + "data: " + jd(obj) + "\n\n").encode()


def openai():
    ev = [sse({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [
        {"index": 0, "delta": {"content": w}, "finish_reason": None}]}) for w in ("Leaves ", "are ")]
    return "text/event-stream", ev + [sse({"error": {"message": MSG, "type": "server_error",
                                                     "param": None, "code": None}})]


def anthropic():
    ev = [sse({"type": "message_start", "message": {
        "id": "m", "type": "message", "role": "assistant", "content": [], "model": "c",
        "usage": {"input_tokens": 3, "output_tokens": 1}}}, "message_start"),
        sse({"type": "content_block_start", "index": 0,
             "content_block": {"type": "text", "text": ""}}, "content_block_start")]
    ev += [sse({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": w}}, "content_block_delta")
           for w in ("Leaves ", "are ")]
    return "text/event-stream", ev + [sse({"type": "error", "error": {
        "type": "overloaded_error", "message": MSG}}, "error")]


def gemini():
    ev = [sse({"candidates": [{"content": {"parts": [{"text": w}], "role": "model"},
                               "index": 0}]}) for w in ("Leaves ", "are ")]
    return "text/event-stream", ev + [sse({"error": {"code": 503, "message": MSG,
                                                     "status": "UNAVAILABLE"}})]


def ollama():
    ev = [(jd({"model": "l", "created_at": "t", "message": {"role": "assistant", "content": w},
               "done": False}) + "\n").encode() for w in ("Leaves ", "are ")]
    return "application/x-ndjson", ev + [(jd({"error": MSG}) + "\n").encode()]


SHAPES = {"openai": ("/v1/chat/completions", openai), "anthropic": ("/v1/messages", anthropic),
          "gemini": ("/v1beta/models/g:streamGenerateContent?alt=sse", gemini),
          "ollama": ("/api/chat", ollama)}


class Server:
    def __init__(self, certdir):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(certdir, "cert.pem"),
                                 os.path.join(certdir, "key.pem"))
        self.ports = []
        for tls in (True, False):
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(16)
            self.ports.append(ls.getsockname()[1])
            threading.Thread(target=self.loop, args=(ls, tls), daemon=True).start()

    def loop(self, ls, tls):
        while True:
            c, _ = ls.accept()
            threading.Thread(target=self.serve, args=(c, tls), daemon=True).start()

    def serve(self, c, tls):
        try:
            if tls:
                c = self.ctx.wrap_socket(c, server_side=True)
            req = read_request(c.makefile("rb"))
            if req is None:
                return
            path = req[0].split()[1].decode()
            name = next(k for k, (p, _) in SHAPES.items() if path.startswith(p.split("?")[0]))
            ctype, events = SHAPES[name][1]()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
                      b"Connection: close\r\n\r\n" % ctype.encode())
            for e in events:
                c.sendall(b"%x\r\n%s\r\n" % (len(e), e))
            c.sendall(b"0\r\n\r\n")
        except (OSError, StopIteration):
            pass
        finally:
            c.close()


CLIENT = r'''
import json, os, sys, requests
url, body = sys.argv[1], sys.argv[2]
r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, stream=True,
                  timeout=20)
sys.stdout.write(b"".join(r.iter_content(None)).decode("utf-8", "replace"))
'''


def check(name, how, out):
    lines = [l[6:] if l.startswith("data: ") else l for l in out.splitlines()
             if l.startswith("data: ") or (name == "ollama" and l.startswith("{"))]
    try:
        objs = [json.loads(l) for l in lines]
    except ValueError as e:
        R.fail("%s over %s: every event parses" % (name, how), repr(e))
        return
    R.check("%s over %s: every event parses" % (name, how), objs, "no events: %r" % out[:200])
    err = [o for o in objs if isinstance(o, dict) and "error" in o]
    text = json.dumps(objs)
    R.check("%s over %s: the text before the error arrives" % (name, how),
            "Leaves " in text and "are " in text, out[:200])
    R.check("%s over %s: the error event arrives with its message scrubbed" % (name, how),
            err and "<EMAIL_ADDRESS>" in json.dumps(err) and "try again" in json.dumps(err),
            "error events: %d" % len(err))
    R.check("%s over %s: the e-mail address in the error never reaches the program" % (name, how),
            MAIL not in out, "it did")


def main():
    with Mock() as m:
        srv = Server(m.certdir)
        tls_port, plain_port = srv.ports
        client = os.path.join(m.dir, "client.py")
        with open(client, "w") as f:
            f.write(CLIENT)
        for name, (path, _) in SHAPES.items():
            body = json.dumps({"model": "m", "stream": True, "max_tokens": 9,
                               "messages": [{"role": "user", "content": "hi"}],
                               "contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
            p = run(["curl", "-sS", "--cacert", m.ca, "-H", "Content-Type: application/json",
                     "-d", body, "https://localhost:%d%s" % (tls_port, path)],
                    env=shim_env(m.env()))
            check(name, "curl", p.stdout)
            for how, url in (("requests (TLS)", "https://localhost:%d%s" % (tls_port, path)),
                             ("requests (plain)", "http://127.0.0.1:%d%s" % (plain_port, path))):
                p = run([PY, client, url, body], env=shim_env(m.env()))
                check(name, how, p.stdout)
    R.finish()


if __name__ == "__main__":
    main()
