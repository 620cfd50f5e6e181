#!/bin/sh
# tools/bench_2_shim.sh (part of make bench): what the shim costs a client.
#  1. CPU time added per LLM exchange (4 KB prompt, 2 KB completion, whole
#     and streamed as ~800 SSE events of 1-4 characters, written by the mock in
#     one go so the client's read pattern is the same in every run): a libcurl
#     program (the shim's curl layer) and a Python http.client loop (its
#     OpenSSL layer) each run N sequential exchanges on one keep-alive
#     connection against the local mock, with and without the shim; the client's own user+sys time is
#     measured at two values of N so process start-up (rule loading) cancels
#     out.  Target: <= 100 us added per exchange.
#  2. A large HTTPS download that is not an LLM call (200 MB; curl, and a
#     Python http.client loop) with and without the shim: throughput ratio
#     (best of 7 interleaved runs; the median and client CPU too, since a
#     shared machine makes single runs noisy).  Target: >= 95%.
#  3. The same for a plain-HTTP download (200 MB from the mock's http port;
#     curl, which its curl layer sees, and Python http.client through the
#     socket layer, which keeps following the connection for an LLM call
#     that may come next on it: the download alone, and after a small
#     request).  Target: >= 95%.
#     With valgrind installed, also the instructions the Python client runs
#     for a 50 MB download with and without the shim (not noisy).
#     With BENCH_IR=1 (and valgrind installed), part 1 also counts the
#     instructions the client runs per exchange with and without the shim
#     (callgrind, 30 minus 10 exchanges): not noisy, so a change of a few
#     percent shows, which CPU time on a shared machine cannot resolve.
# BENCH_PARTS (default 123) picks parts; BENCH_RUNS (default 7) the number of
# interleaved download runs.
# Needs B (build dir); prints its numbers, exits 0 (numbers are reported,
# not asserted, so a slow machine does not fail the build).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/integration/lib.sh"
CLIENT=$B/ex/client_libcurl
if [ ! -f "$SHIM" ] || [ ! -x "$CLIENT" ]; then
    echo "bench_2_shim: $SHIM or $CLIENT missing (make all examples)" >&2
    exit 1
fi
start_mock
export SHIM CLIENT CA TLS_PORT HTTP_PORT MOCK_DIR
/usr/bin/python3 - <<'EOF'
import json, os, statistics, subprocess, sys, tempfile, time

SHIM, CLIENT, CA = os.environ["SHIM"], os.environ["CLIENT"], os.environ["CA"]
PORT, W = os.environ["TLS_PORT"], os.environ["MOCK_DIR"]
HTTP_PORT = os.environ["HTTP_PORT"]
PARTS = os.environ.get("BENCH_PARTS", "123")
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
URL = "https://localhost:%s" % PORT
AUDIT = os.path.join(W, "bench-audit.jsonl")
SENTENCES = [
    "Summarise the following notes on soil preparation for a small vegetable garden.",
    "Compost improves drainage in clay soil and helps sandy soil hold water.",
    "Raised beds warm up earlier in spring and are easier on the back.",
    "Tomatoes prefer full sun, steady watering and a stake or cage for support.",
    "Mulch keeps weeds down and reduces evaporation during hot weeks.",
    "Rotate crop families each year to limit pests and soil-borne disease.",
    "Beans fix nitrogen, so leafy greens often do well in the bed the year after.",
]
prompt, i = [], 0
while sum(len(s) + 1 for s in prompt) < 4096:
    prompt.append(SENTENCES[i % len(SENTENCES)])
    i += 1
prompt = " ".join(prompt)[:4096]
for stream in (False, True):
    body = {"model": "gpt-4o-mini", "stream": stream,
            "messages": [{"role": "system", "content": "You are a helpful gardening assistant."},
                         {"role": "user", "content": prompt}]}
    with open(os.path.join(W, "req-%d.json" % stream), "w") as f:
        json.dump(body, f)

base_env = dict(os.environ)
base_env.pop("LD_PRELOAD", None)
# every request here re-sends the same 4 KB prompt: the scan memo is off so
# each exchange pays for a prompt it has not seen; memo_env measures the
# memo on its own (a conversation re-sending its history)
shim_env = dict(base_env, LD_PRELOAD=SHIM, AIRLOCK_AUDIT=AUDIT, AIRLOCK_SCAN_CACHE="0")
memo_env = dict(shim_env, AIRLOCK_SCAN_CACHE="256")


def run(cmd, env):
    """(client user+sys seconds, wall seconds, stderr) of one child."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE)
        err = p.stderr.read().decode("utf-8", "replace")
        _, status, ru = os.wait4(p.pid, 0)
        out.seek(0)
        run.stdout = out.read().decode("utf-8", "replace")
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (os.path.basename(cmd[0]), p.returncode,
                                                   err.strip()[-300:]))
    return ru.ru_utime + ru.ru_stime, wall, err


PYCLIENT = r"""
import http.client, ssl, sys
n, path, scen, port, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
body = open(path, "rb").read()
c = http.client.HTTPSConnection("localhost", port, context=ssl.create_default_context(cafile=ca))
for _ in range(n):
    c.request("POST", "/v1/chat/completions", body,
              {"Content-Type": "application/json", "X-Mock-Scenario": scen})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("HTTP %d" % r.status)
print("HTTP/1.1 200", file=sys.stderr)
"""


def exchange_cmd(client, n, stream):
    scen = "medium" + (",burst" if stream else "")
    req = os.path.join(W, "req-%d.json" % stream)
    if client == "libcurl":
        return [CLIENT, "--http1.1", "--cacert", CA, "--repeat", str(n), "-o", "/dev/null",
                "-H", "X-Mock-Scenario: " + scen, "-d", "@" + req, URL + "/v1/chat/completions"]
    return ["/usr/bin/python3", "-c", PYCLIENT, str(n), req, scen, PORT, CA]


def exchanges(client, n, stream, env):
    cpu, wall, err = run(exchange_cmd(client, n, stream), env)
    if "200" not in err.strip().splitlines()[-1]:
        raise RuntimeError("unexpected reply: " + err.strip()[-200:])
    return cpu


def per_exchange(client, stream, env, n1, n2, reps):
    """Median over reps of the marginal client CPU per exchange, and the
    start-up cost (CPU at n1 minus n1 marginal exchanges), in seconds."""
    per, start = [], []
    for _ in range(reps):
        c1, c2 = exchanges(client, n1, stream, env), exchanges(client, n2, stream, env)
        m = (c2 - c1) / (n2 - n1)
        per.append(m)
        start.append(c1 - n1 * m)
    return statistics.median(per), statistics.median(start)


def part1():
    print("== shim: client CPU per LLM exchange (HTTP/1.1 over TLS, 4 KB prompt, 2 KB completion;")
    print("   streamed = ~800 SSE events of 1-4 characters)")
    ok_all = True
    for client, label in (("libcurl", "libcurl program (curl layer)"),
                          ("python", "Python http.client (OpenSSL layer)")):
        print("  %s" % label)
        try:
            for stream, (n1, n2, reps) in ((False, (20, 420, 5)), (True, (10, 110, 3))):
                exchanges(client, 3, stream, shim_env)  # warm the page cache and the mock
                before = sum(1 for _ in open(AUDIT)) if os.path.exists(AUDIT) else 0
                plain, plain_start = per_exchange(client, stream, base_env, n1, n2, reps)
                shim, shim_start = per_exchange(client, stream, shim_env, n1, n2, reps)
                seen = (sum(1 for _ in open(AUDIT)) if os.path.exists(AUDIT) else 0) - before
                added = (shim - plain) * 1e6
                good = added <= 100
                ok_all &= good
                print("    %-13s without %7.1f us   with %7.1f us   added %7.1f us   "
                      "(target <= 100 us: %s)" % ("streamed" if stream else "whole JSON",
                                                 plain * 1e6, shim * 1e6, added,
                                                 "met" if good else "NOT met"))
                print("    %-13s shim start-up once per process %.1f ms; audit lines %d of %d"
                      % ("", (shim_start - plain_start) * 1e3, seen, reps * (n1 + n2)))
            # the same prompt again with the scan memo on: what a conversation
            # pays for the history it re-sends
            plain, _ = per_exchange(client, False, base_env, 20, 420, 3)
            memo, _ = per_exchange(client, False, memo_env, 20, 420, 3)
            print("    %-13s without %7.1f us   with %7.1f us   added %7.1f us   "
                  "(the prompt already screened: scan memo hit)" % ("whole, seen", plain * 1e6,
                                                                   memo * 1e6, (memo - plain) * 1e6))
        except RuntimeError as e:
            print("    FAILED: %s" % e)
            ok_all = False
    print("  (whole and streamed: every exchange's prompt is screened in full, AIRLOCK_SCAN_CACHE=0;")
    print("   whole, seen: the same prompt re-sent with the memo on, as a conversation re-sends history)")
    print("  (streamed: the shim re-frames a reply it scrubs into one chunk per read of ~16 KB, so a")
    print("   client that parses each chunk itself, like http.client, does less of that work with the")
    print("   shim than without; its added figure nets that saving against the shim's own cost)")


def part1_instructions():
    """Client instructions per exchange (callgrind), with and without the
    shim: the count at 30 exchanges minus the count at 10, over 20."""
    import re
    print("== shim: client instructions per LLM exchange (valgrind; 30 minus 10 exchanges, / 20)")
    for client in ("libcurl", "python"):
        for stream, memo in ((False, False), (True, False), (False, True)):
            label = "whole, seen" if memo else "streamed" if stream else "whole JSON"
            irs = {}
            try:
                for name, env in (("without", base_env), ("with", memo_env if memo else shim_env)):
                    for n in (10, 30):
                        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
                        _, _, err = run(cmd + exchange_cmd(client, n, stream), env)
                        irs[name, n] = int(re.search(r"Collected : (\d+)", err).group(1))
            except (RuntimeError, AttributeError) as e:
                print("  %-8s %-12s FAILED: %s" % (client, label, e))
                continue
            per = {k: (irs[k, 30] - irs[k, 10]) / 20 for k in ("without", "with")}
            print("  %-8s %-12s without %6.0f K   with %6.0f K   added %6.0f K"
                  % (client, label, per["without"] / 1e3, per["with"] / 1e3,
                     (per["with"] - per["without"]) / 1e3))


if "1" in PARTS:
    part1()
    import shutil
    if os.environ.get("BENCH_IR") == "1" and shutil.which("valgrind"):
        part1_instructions()

PYDOWNLOAD = r"""
import http.client, ssl, sys, time
n, port, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPSConnection("localhost", port, context=ssl.create_default_context(cafile=ca))
c.request("GET", "/")  # one small request first: start-up and handshake stay outside the timing
c.getresponse().read()
t0 = time.perf_counter()
c.request("GET", "/download?bytes=%d" % n)
r = c.getresponse()
got = 0
while True:
    b = r.read(65536)
    if not b:
        break
    got += len(b)
print("%.0f" % (got / (time.perf_counter() - t0)))
sys.exit(0 if got == n else "short read: %d" % got)
"""

PYPLAIN = r"""
import http.client, sys, time
n, port, first = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
c = http.client.HTTPConnection("127.0.0.1", port)
if first:  # a small request first: the download follows on the kept-alive connection
    c.request("GET", "/")
    c.getresponse().read()
t0 = time.perf_counter()
c.request("GET", "/download?bytes=%d" % n)
r = c.getresponse()
got = 0
while True:
    b = r.read(65536)
    if not b:
        break
    got += len(b)
print("%.0f" % (got / (time.perf_counter() - t0)))
sys.exit(0 if got == n else "short read: %d" % got)
"""


def downloads(title, cases):
    """Best and median of RUNS interleaved runs of each case, with and without the shim."""
    print(title)
    for label, cmd in cases:
        print("  %s" % label)
        try:
            rates = {"without": [], "with": []}  # bytes/s as the client measured its transfer
            cpus = {"without": [], "with": []}
            for _ in range(RUNS):  # interleaved, so a busy moment hits both sides
                for name, env in (("without", base_env), ("with", shim_env)):
                    cpu, wall, _ = run(cmd, env)
                    cpus[name].append(cpu)
                    rates[name].append(float(run.stdout.strip().split()[-1]))
            best = {k: max(v) / 1e6 for k, v in rates.items()}
            med = {k: statistics.median(v) / 1e6 for k, v in rates.items()}
            ratio = best["with"] / best["without"] * 100
            print("    best of %d: without %6.0f MB/s   with %6.0f MB/s   ratio %5.1f%%   "
                  "(target >= 95%%: %s)" % (RUNS, best["without"], best["with"], ratio,
                                           "met" if ratio >= 95 else "NOT met"))
            print("    median:    without %6.0f MB/s   with %6.0f MB/s   ratio %5.1f%%"
                  % (med["without"], med["with"], med["with"] / med["without"] * 100))
            cw, cs = statistics.median(cpus["without"]), statistics.median(cpus["with"])
            print("    client CPU (user+sys), median: without %.0f ms, with %.0f ms (%+.1f%%)"
                  % (cw * 1e3, cs * 1e3, (cs - cw) / cw * 100))
        except RuntimeError as e:
            print("    FAILED: %s" % e)


n = 200000000
if "2" in PARTS:
    downloads("== shim: large HTTPS download that is not an LLM call (200 MB, HTTP/1.1)", (
        ("curl (curl layer)", ["curl", "-sS", "--http1.1", "--cacert", CA, "-o", "/dev/null",
                               "-w", "%{speed_download}", URL + "/download?bytes=%d" % n]),
        ("Python http.client (OpenSSL layer)",
         ["/usr/bin/python3", "-c", PYDOWNLOAD, str(n), PORT, CA])))
if "3" in PARTS:
    PLAIN = "http://127.0.0.1:%s" % HTTP_PORT
    downloads("== shim: large plain-HTTP download that is not an LLM call (200 MB, HTTP/1.1)", (
        ("curl (curl layer)", ["curl", "-sS", "-o", "/dev/null", "-w", "%{speed_download}",
                               PLAIN + "/download?bytes=%d" % n]),
        ("Python http.client, download alone (socket layer)",
         ["/usr/bin/python3", "-c", PYPLAIN, str(n), HTTP_PORT, "0"]),
        ("Python http.client, download after a small request (socket layer)",
         ["/usr/bin/python3", "-c", PYPLAIN, str(n), HTTP_PORT, "1"])))
    # wall-clock rates of a transfer this fast are noisy on a shared machine;
    # the instructions the client executes (valgrind) are not
    import re, shutil
    if shutil.which("valgrind"):
        m_ir = 50000000
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "/usr/bin/python3",
               "-c", PYPLAIN, str(m_ir), HTTP_PORT, "1"]
        try:
            irs = {}
            for _ in range(2):  # fewest of 2: the count still varies with how reads split
                for name, env in (("without", base_env), ("with", shim_env)):
                    _, _, err = run(cmd, env)
                    k = int(re.search(r"Collected : (\d+)", err).group(1))
                    irs[name] = min(irs.get(name, k), k)
            added = irs["with"] - irs["without"]
            print("  Python http.client, 50 MB after a small request, client instructions "
                  "(valgrind, fewest of 2):")
            print("    without %.0f M   with %.0f M   added %.2f M (%.1f%%; %.0f per MB, shim start-up "
                  "included)" % (irs["without"] / 1e6, irs["with"] / 1e6, added / 1e6,
                                 added / irs["without"] * 100, added / (m_ir / 1e6)))
        except (RuntimeError, AttributeError) as e:
            print("    instruction count FAILED: %s" % e)
print("  (rates as each client timed its transfer, so process and shim start-up are not in")
print("   them, though they are in the CPU times;")
print("   the server is the bundled Python mock, which bounds both sides)")
EOF
rc=$?
stop_mock
exit $rc
