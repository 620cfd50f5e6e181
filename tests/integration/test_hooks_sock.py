"""The plain-socket hooks keep the socket API's contracts on connections the
shim follows: MSG_WAITALL fills the buffer, MSG_DONTWAIT and non-blocking
sockets never wait, bytes held from a short first write reach the server
whatever the program does next (shutdown, dup2 over it, fork), and bytes the
shim holds for the host wake an epoll loop however many connections it has.

The clients run as child processes under the shim (LD_PRELOAD takes effect at
exec): `test_hooks_sock.py client MODE ARG...` prints what the program saw;
the servers run in this (unpreloaded) process.
"""
import json
import os
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import answer_one_chat  # noqa: E402


def stream_request(scenario="slow"):
    b = json.dumps({"model": "m", "stream": True, "messages": [
        {"role": "user", "content": "mock:%s Tell me about plants." % scenario}]}).encode()
    return (("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n")
            % len(b)).encode() + b


def raise_fd_limit(need):
    """Raises the soft descriptor limit to at least `need` (within the hard
    limit) for the 1100-connection check."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        top = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def read_to_eof(s):
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d


def client(mode, args):
    if mode == "waitall":  # port: the whole reply, then half of it with MSG_WAITALL
        port = int(args[0])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(stream_request())
        whole = read_to_eof(s)
        s.close()
        half = len(whole) // 2
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(stream_request())
        a = s.recv(half, socket.MSG_WAITALL)
        rest = s.recv(1 << 20, socket.MSG_WAITALL)
        s.close()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(stream_request())
        m = s.recvmsg(half, 0, socket.MSG_WAITALL)[0]
        s.close()
        print(json.dumps({"whole": len(whole), "half": len(a), "want": half,
                          "rest": len(rest), "same": a + rest == whole, "recvmsg": len(m)}))
    elif mode == "dontwait":  # port: MSG_DONTWAIT reads of a slow stream never wait
        port = int(args[0])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(stream_request())
        out, eagain, slowest, t_end = b"", 0, 0.0, time.time() + 20
        while time.time() < t_end:
            t0 = time.time()
            try:
                d = s.recv(65536, socket.MSG_DONTWAIT)
                slowest = max(slowest, time.time() - t0)
                if not d:
                    break
                out += d
            except BlockingIOError:
                slowest = max(slowest, time.time() - t0)
                eagain += 1
                time.sleep(0.002)
        print(json.dumps({"eagain": eagain, "slowest": slowest, "len": len(out),
                          "done": out.endswith(b"0\r\n\r\n")}))
    elif mode == "nb-send":  # port, body bytes: a non-blocking send to a server not reading yet
        port, size = int(args[0]), int(args[1])
        body = json.dumps({"model": "m", "messages": [
            {"role": "user", "content": "plants " * (size // 7)}]}).encode()
        req = (("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n")
               % len(body)).encode() + body
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        off, slowest, eagain = 0, 0.0, 0
        while off < len(req):
            t0 = time.time()
            try:
                off += s.send(req[off:])
                slowest = max(slowest, time.time() - t0)
            except BlockingIOError:
                slowest = max(slowest, time.time() - t0)
                eagain += 1
                select.select([], [s], [], 10)
        s.setblocking(True)
        out = read_to_eof(s)
        print(json.dumps({"slowest": slowest, "eagain": eagain, "sent": off,
                          "body": len(body), "reply": out[:12].decode("latin-1")}))
    elif mode == "alarm-send":  # port, body bytes: a blocking send interrupted by a signal
        import signal
        port, size = int(args[0]), int(args[1])
        body = json.dumps({"model": "m", "messages": [
            {"role": "user", "content": "plants " * (size // 7)}]}).encode()
        req = (("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")
               % len(body)).encode() + body

        def on_alarm(*_):
            raise TimeoutError("alarm")

        signal.signal(signal.SIGALRM, on_alarm)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.connect(("127.0.0.1", port))
        t0 = time.time()
        signal.alarm(1)
        try:
            s.sendall(req)
            res = "sent"
        except TimeoutError:
            res = "timeout"
        signal.alarm(0)
        print(json.dumps({"result": res, "secs": time.time() - t0}))
        s.close()
    elif mode in ("shutdown", "dup2"):  # port: a 3-byte first write, then shutdown/dup2
        port = int(args[0])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET")
        if mode == "shutdown":
            s.shutdown(socket.SHUT_WR)
            s.recv(10)  # the server closes once it has seen the end
        else:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, s.fileno())
            os.close(null)
            time.sleep(0.3)
        s.close()
        print("done")
    elif mode == "fork":  # port: 2 bytes held, fork, the child closes its copy, the rest
        port = int(args[0])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GE")
        pid = os.fork()
        if pid == 0:
            os.close(s.fileno())
            os._exit(0)
        os.waitpid(pid, 0)
        s.sendall(b"T / HTTP/1.0\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        s.recv(10)
        s.close()
        print("done")
    elif mode == "epoll-busy":  # port: held bytes vs a socket always ready, one event a wait
        port = int(args[0])
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.3)
        c.recv(10)  # the shim now holds the rest of the reply; the kernel has none
        busy, other = socket.socketpair()
        other.sendall(b"x")  # never read: busy stays readable
        ep = select.epoll()
        ep.register(busy.fileno(), select.EPOLLIN)
        ep.register(c.fileno(), select.EPOLLIN)
        waits = None
        for i in range(5):
            if any(fd == c.fileno() for fd, _ in ep.poll(1.0, 1)):
                waits = i + 1
                break
        print(json.dumps({"waits": waits}))
    elif mode == "many-epoll":  # port, count: readiness of held bytes past 1024 connections
        port, count = int(args[0]), int(args[1])
        raise_fd_limit(count + 64)
        conns = []
        for _ in range(count):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            conns.append(c)
        time.sleep(0.5)  # every reply is in the kernel; a read takes all of it
        seen = []
        for i in (0, count - 1):
            c = conns[i]
            first = c.recv(10)
            ep = select.epoll()
            ep.register(c.fileno(), select.EPOLLIN)
            ev = ep.poll(2.0)
            ep.close()
            rest = c.recv(65536) if ev else b""
            seen.append({"i": i, "ready": bool(ev), "len": len(first) + len(rest)})
        print(json.dumps(seen))
        for c in conns:
            c.close()


class Recorder:
    """A TCP server that records what each connection sends until EOF, then
    closes it."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.got = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            c.settimeout(10)
            data = b""
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
            except OSError:
                pass
            self.got.append(data)
            c.close()


def slow_reader(delay, replies):
    """An HTTP server that waits `delay` seconds before reading a request
    (its receive buffer small), then records the body and answers."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)

    def serve():
        c, _ = ls.accept()
        time.sleep(delay)
        replies.append(answer_one_chat(c))

    threading.Thread(target=serve, daemon=True).start()
    return ls.getsockname()[1]


def page_server():
    """Answers every GET on a kept-alive connection with a 2000-byte page
    and keeps the connection open."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(2048)
    keep = []
    page = b"x" * 2000
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2000\r\n\r\n" + page

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                d = c.recv(4096)
                if not d:
                    break
                data += d
            c.sendall(reply)
            keep.append(c)

    threading.Thread(target=serve, daemon=True).start()
    return ls.getsockname()[1], len(reply)


def main():
    from mocklib import Mock, Results, shim_env, run, PY
    r = Results()
    me = os.path.abspath(__file__)
    with Mock() as m:
        env = shim_env(m.env())

        def go(mode, *args, timeout=40):
            p = run([PY, me, "client", mode] + [str(a) for a in args], env=env, timeout=timeout)
            try:
                return json.loads(p.stdout.strip().splitlines()[-1]), p
            except (ValueError, IndexError):
                return None, p

        # MSG_WAITALL
        o, p = go("waitall", m.http_port)
        ok = o is not None
        r.check("recv with MSG_WAITALL on a screened stream returns the full length asked for",
                ok and o["half"] == o["want"] and o["want"] > 100, (o, p.stderr[-300:]))
        r.check("recv with MSG_WAITALL larger than the reply returns everything up to the end",
                ok and o["same"], (o, p.stderr[-300:]))
        r.check("recvmsg with MSG_WAITALL returns the full length asked for",
                ok and o["recvmsg"] == o["want"], (o, p.stderr[-300:]))

        # MSG_DONTWAIT on reads, a non-blocking send
        o, p = go("dontwait", m.http_port)
        r.check("recv with MSG_DONTWAIT on a screened slow stream answers EAGAIN at once",
                o is not None and o["eagain"] > 0 and o["slowest"] < 0.5 and o["done"],
                (o, p.stderr[-300:]))
        replies = []
        port = slow_reader(2.0, replies)
        o, p = go("nb-send", port, 200000)
        r.check("a non-blocking send of an LLM request the server is not reading yet "
                "returns EAGAIN at once", o is not None and o["slowest"] < 1.0 and o["eagain"] > 0,
                (o, p.stderr[-300:]))
        r.check("the retried non-blocking send delivers the request body intact",
                o is not None and len(replies) == 1 and len(replies[0]) == o["body"]
                and o["reply"].startswith("HTTP/1.1 200"), (o, [len(x) for x in replies]))

        # a signal during a blocking send: the program's handler runs at once
        port = slow_reader(4.0, [])
        o, p = go("alarm-send", port, 400000, timeout=20)
        r.check("a signal during a blocking send of an LLM request the server is not reading "
                "interrupts it (the program's alarm timeout fires)",
                o is not None and o["result"] == "timeout" and o["secs"] < 3.0,
                (o, p.stderr[-300:]))

        # bytes held from a short first write
        rec = Recorder()
        for mode in ("shutdown", "dup2"):
            n = len(rec.got)
            _, p = go(mode, rec.port, timeout=20)
            t_end = time.time() + 5
            while len(rec.got) == n and time.time() < t_end:
                time.sleep(0.05)
            got = rec.got[n] if len(rec.got) > n else None
            r.check("a 3-byte first write then %s: the server receives the bytes" % mode,
                    got == b"GET", repr(got) + p.stderr[-200:])
        n = len(rec.got)
        _, p = go("fork", rec.port, timeout=20)
        t_end = time.time() + 5
        while len(rec.got) == n and time.time() < t_end:
            time.sleep(0.05)
        got = rec.got[n] if len(rec.got) > n else None
        r.check("bytes held across a fork reach the server once, in order",
                got == b"GET / HTTP/1.0\r\n\r\n", repr(got) + p.stderr[-200:])

        # readiness past 1024 connections, and under a busy event loop
        raise_fd_limit(1100 + 64)
        port, rlen = page_server()
        o, p = go("epoll-busy", port)
        r.check("epoll with room for one event reports held bytes although another socket "
                "is always ready", o is not None and o["waits"] == 1, (o, p.stderr[-300:]))
        o, p = go("many-epoll", port, 1100, timeout=50)
        r.check("epoll reports bytes held for the 1st of 1100 screened connections",
                o is not None and o[0]["ready"] and o[0]["len"] == rlen, (o, p.stderr[-300:]))
        r.check("epoll reports bytes held for the 1100th of 1100 screened connections",
                o is not None and o[1]["ready"] and o[1]["len"] == rlen, (o, p.stderr[-300:]))
    r.finish()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3:])
    else:
        main()
