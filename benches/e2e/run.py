#!/usr/bin/env python3
"""End-to-end proxy benchmark (issue 6): scrim against a pass-through policy,
the bare upstream and nginx, in one run on loopback.

Setups, all serving the same fixed bodies from one upstream
(`e2e_upstream serve`, benches/e2e/upstream.rs):

  A  direct to the upstream
  B  scrim, route `/pass` in mode "pass" (bodies relayed unscanned)
  C  scrim, route `/` in mode "enforce" (default packs)
  D  nginx as a plain reverse proxy (keepalive upstream pool, no redaction)
  E  a bare hyper reverse proxy (`e2e_floor`, benches/e2e/floor.rs): the
     floor for any hyper-based proxy here, for reference (no target)

B and C are one scrim process (two routes); a second scrim process serves
TLS. Proxies run on core 1; the upstream and every load generator on core 0.
Phases (each interleaved per round): saturation (wrk; A B C D E), open-loop
latency at half of B's median saturation rate (oha, coordinated-omission
correction; A B C D), HTTP/2 (h2load; h2c A B C D E) and TLS (B C D), SSE
delivery delay (sse-probe; A B C D) and memory with 1,000 idle streaming
connections (idle; B C D). Correctness is checked in the same run: B, D and
E equal A byte for byte, C equals `scrim redact` of the fixture and carries
none of its planted values.

Results go to target/e2e/results.json and, unless --no-write, into
BENCHMARKS.md between `<!-- e2e:begin -->` and `<!-- e2e:end -->`.
The exit status is non-zero when a correctness check fails. Nothing printed
here ever contains a planted value: checks report counts only.

Run it through benches/e2e/run.sh, which installs the tools and builds.
"""

import argparse
import collections
import datetime
import http.client
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIM = ROOT / "target" / "release" / "scrim"
UPSTREAM = ROOT / "target" / "release" / "examples" / "e2e_upstream"
FLOOR = ROOT / "target" / "release" / "examples" / "e2e_floor"
BENCHMARKS = ROOT / "BENCHMARKS.md"
RESULTS = ROOT / "target" / "e2e" / "results.json"
BEGIN, END = "<!-- e2e:begin -->", "<!-- e2e:end -->"

# Core 1 runs the proxy under test, core 0 the upstream and load generator.
PROXY_CORE, LOAD_CORE = "1", "0"
# Saturation runs every setup; E (the bare hyper proxy) is a reference
# floor and stays out of the latency, SSE and memory phases.
SETUPS = ["A", "B", "C", "D", "E"]
SSE_SETUPS = ["A", "B", "C", "D"]
BODIES = ["r4k", "r64k", "t1m"]
LATENCY_BODIES = ["r4k", "r64k", "t1m"]
# The latency phase also runs C at half of C's own saturation rate (not a
# target: it shows C's added latency when it is not overloaded).
LATENCY_SETUPS = ["A", "B", "C", "D", "C_own"]
WRK_CONNS = 16
OHA_CONNS = 16
H2_CLIENTS, H2_STREAMS = 4, 10
IDLE_CONNS = 1000


def log(msg):
    """Progress on stderr (never a body or a planted value)."""
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Child processes


class Children:
    """Every long-running child, stopped in reverse start order on exit."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, core=None, **kw):
        if core is not None:
            cmd = ["taskset", "-c", core] + cmd
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in (p.stdin, p.stdout, p.stderr):
            if f:
                f.close()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)


def on_sigterm(_signum, _frame):
    # Turned into an exception so the `finally` in main() stops the children.
    raise SystemExit(143)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


def http_get(url, tls=False, timeout=60):
    """(status, body) of one GET; `url` is `http(s)://127.0.0.1:PORT/PATH`."""
    hostport, path = url.split("://", 1)[1].split("/", 1)
    host, port = hostport.rsplit(":", 1)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # our own self-signed certificate
        ctx.set_alpn_protocols(["http/1.1"])
        conn = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/" + path, headers={"Accept-Encoding": "identity"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_ready(admin_port, proc, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            if http_get(f"http://127.0.0.1:{admin_port}/readyz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready within {timeout} s")


def cpu_seconds(pids):
    """utime + stime of the given processes (all threads), in seconds."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def child_pids(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


# ---------------------------------------------------------------------------
# The system under test


class Bench:
    """Upstream, scrim (plain and TLS), nginx and the bare hyper proxy, with
    their addresses."""

    def __init__(self, children, tmp):
        self.children = children
        self.tmp = tmp
        self.fix = tmp / "fixtures"
        self.manifest = {}

    # -- start-up ----------------------------------------------------------

    def start(self):
        self.start_upstream()
        self.make_cert()
        self.scrim, self.scrim_port, _ = self.start_scrim("scrim", tls=False)
        self.scrim_tls, self.scrim_tls_port, _ = self.start_scrim("scrim-tls", tls=True)
        self.nginx, self.nginx_ports = self.start_nginx("nginx")
        self.nginx_workers = child_pids(self.nginx.pid)
        if not self.nginx_workers:
            raise RuntimeError("nginx has no worker process")
        self.floor, self.floor_addr = self.start_floor()

    def start_upstream(self):
        p = self.children.start(
            [str(UPSTREAM), "serve", "--listen", "127.0.0.1:0", "--fixtures", str(self.fix)],
            core=LOAD_CORE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([p.stdout], [], [], 60)
        line = p.stdout.readline().strip() if ready else ""
        if not line:
            raise RuntimeError("the upstream did not print its address")
        self.upstream = p
        self.upstream_addr = line
        for f in json.loads((self.fix / "manifest.json").read_text())["fixtures"]:
            self.manifest[f["name"]] = f

    def start_floor(self):
        """The bare hyper reverse proxy (setup E) on the proxy core.
        Returns (process, bound address)."""
        err = open(self.tmp / "floor.log", "ab")
        p = self.children.start(
            [str(FLOOR), "--listen", "127.0.0.1:0", "--upstream", self.upstream_addr],
            core=PROXY_CORE, stdout=subprocess.PIPE, stderr=err, text=True,
        )
        err.close()
        ready, _, _ = select.select([p.stdout], [], [], 30)
        line = p.stdout.readline().strip() if ready else ""
        if not line:
            raise RuntimeError("the floor proxy did not print its address")
        return p, line

    def make_cert(self):
        self.cert, self.key = self.tmp / "cert.pem", self.tmp / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True,
        )

    def start_scrim(self, name, tls):
        """One scrim process: `/pass` passes through, everything else is
        redacted. Returns (process, listen port, admin port)."""
        port, admin = free_port(), free_port()
        tls_table = (
            f'[server.tls]\ncert = "{self.cert}"\nkey = "{self.key}"\n' if tls else ""
        )
        conf = self.tmp / f"{name}.toml"
        conf.write_text(
            f"""[server]
listen = "127.0.0.1:{port}"
admin = "127.0.0.1:{admin}"
upstream = "http://{self.upstream_addr}"
{tls_table}
[limits]
drain_timeout = "1s"

[audit]
output = "/dev/null"

[log]
level = "warn"

[[route]]
name = "pass"
path_prefix = "/pass"
mode = "pass"

[[route]]
name = "redact"
path_prefix = "/"
mode = "enforce"
"""
        )
        err = open(self.tmp / f"{name}.log", "ab")
        p = self.children.start(
            [str(SCRIM), "serve", "--config", str(conf)],
            core=PROXY_CORE, stdout=err, stderr=err,
        )
        err.close()
        wait_ready(admin, p, name)
        return p, port, admin

    def start_nginx(self, name):
        """nginx, one worker on the proxy core: plain HTTP/1.1, h2c and TLS
        (h2 + http/1.1) listeners. Returns (master, {h1, h2c, tls} ports)."""
        d = self.tmp / name
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        ports = {"h1": free_port(), "h2c": free_port(), "tls": free_port()}
        # As root the worker would drop to `nobody`, which cannot write the
        # temp directories inside our private temp dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = d / "nginx.conf"
        conf.write_text(
            f"""{user}worker_processes 1;
worker_cpu_affinity 10;
worker_rlimit_nofile 16384;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    # nginx closes a client connection after 1,000 requests by default;
    # scrim has no such limit, so lift it to compare data paths, not
    # reconnects.
    keepalive_requests 100000;
    upstream crm {{
        server {self.upstream_addr};
        keepalive 64;
        keepalive_requests 100000;
    }}
    server {{
        listen 127.0.0.1:{ports["h1"]};
        listen 127.0.0.1:{ports["h2c"]} http2;
        listen 127.0.0.1:{ports["tls"]} ssl http2;
        ssl_certificate {self.cert};
        ssl_certificate_key {self.key};
        location / {{
            proxy_pass http://crm;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""
        )
        err = open(d / "stderr.log", "ab")
        p = self.children.start(
            ["nginx", "-p", str(d), "-c", str(conf), "-e", str(d / "error.log")],
            core=PROXY_CORE, stdout=err, stderr=err,
        )
        err.close()
        for port in ports.values():
            wait_port(port, p, name)
        return p, ports

    # -- addressing ----------------------------------------------------------

    def base(self, setup, proto="h1"):
        """Base URL (no trailing slash) of a setup; `proto` is h1, h2c or tls."""
        if setup == "A":
            return f"http://{self.upstream_addr}"
        if setup in ("B", "C"):
            if proto == "tls":
                root = f"https://127.0.0.1:{self.scrim_tls_port}"
            else:
                root = f"http://127.0.0.1:{self.scrim_port}"
            return root + ("/pass" if setup == "B" else "")
        if setup == "E":
            # One plain listener for HTTP/1.1 and h2c; no TLS.
            if proto == "tls":
                raise ValueError("setup E has no TLS listener")
            return f"http://{self.floor_addr}"
        port = self.nginx_ports[proto]
        return f"{'https' if proto == 'tls' else 'http'}://127.0.0.1:{port}"

    def proxy_pids(self, setup):
        if setup in ("B", "C"):
            return [self.scrim.pid]
        if setup == "D":
            return self.nginx_workers
        if setup == "E":
            return [self.floor.pid]
        return []

    def settle(self):
        """Waits (at most 3 s) until the proxies are idle, so a run does not
        start while the last one's backlog (an overloaded C) is still being
        worked off on the proxy core."""
        pids = [self.scrim.pid, self.scrim_tls.pid, self.floor.pid] + self.nginx_workers
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            before = cpu_seconds(pids)
            time.sleep(0.1)
            if cpu_seconds(pids) - before < 0.005:
                return

    def fixture(self, name):
        return (self.fix / f"{name}.body").read_bytes()

    def secrets(self, name):
        text = (self.fix / f"{name}.secrets").read_text()
        return [s for s in text.split("\n") if s]


# ---------------------------------------------------------------------------
# Statistics


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    if not v:
        return None
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def fmt(x, nd=1):
    if x is None:
        return "–"
    return f"{x:,.{nd}f}"


# ---------------------------------------------------------------------------
# Load generators


def run_tool(cmd, timeout):
    r = subprocess.run(
        ["taskset", "-c", LOAD_CORE] + cmd, capture_output=True, text=True, timeout=timeout
    )
    return r.returncode, r.stdout, r.stderr


def wrk(url, duration):
    code, out, err = run_tool(
        ["wrk", "-t1", f"-c{WRK_CONNS}", f"-d{duration}s", url], duration + 30
    )
    if code != 0:
        raise RuntimeError(f"wrk failed ({code}): {err.strip()[:200]}")
    res = {"requests": 0, "seconds": float(duration), "non2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        line = line.strip()
        if " requests in " in line:
            n, rest = line.split(" requests in ", 1)
            res["requests"] = int(n)
            t = rest.split(",", 1)[0]
            res["seconds"] = float(t.rstrip("ms")) / (1000 if t.endswith("ms") else 1)
        elif line.startswith("Requests/sec:"):
            res["rps"] = float(line.split()[1])
        elif line.startswith("Non-2xx or 3xx responses:"):
            res["non2xx"] = int(line.split()[-1])
        elif line.startswith("Socket errors:"):
            res["socket_errors"] = sum(
                int(part.split()[-1]) for part in line.split(":", 1)[1].split(",")
            )
    return res


def oha(url, rate, duration):
    code, out, err = run_tool(
        ["oha", "-z", f"{duration}s", "-q", f"{rate:.0f}", "--latency-correction",
         "-c", str(OHA_CONNS), "--no-tui", "--worker-threads", "1",
         "--output-format", "json", url],
        duration + 60,
    )
    if code != 0:
        raise RuntimeError(f"oha failed ({code}): {err.strip()[:200]}")
    d = json.loads(out)
    lp = d["latencyPercentiles"]
    codes = d.get("statusCodeDistribution", {})
    ok = sum(n for c, n in codes.items() if c.startswith("2"))
    errors = {k: v for k, v in d.get("errorDistribution", {}).items()}
    return {
        "rate": rate,
        "achieved_rps": d["summary"]["requestsPerSec"],
        "p50_ms": lp["p50"] * 1e3 if lp.get("p50") is not None else None,
        "p99_ms": lp["p99"] * 1e3 if lp.get("p99") is not None else None,
        "p999_ms": lp["p99.9"] * 1e3 if lp.get("p99.9") is not None else None,
        "ok": ok,
        "not_ok": sum(codes.values()) - ok,
        # Requests still running at the deadline are counted as errors by
        # oha ("aborted due to deadline"); other errors are real.
        "errors": sum(v for k, v in errors.items() if "deadline" not in k),
    }


def h2load(url, duration):
    code, out, err = run_tool(
        ["h2load", "-D", str(duration), "-c", str(H2_CLIENTS), "-m", str(H2_STREAMS), url],
        duration + 60,
    )
    if code != 0:
        raise RuntimeError(f"h2load failed ({code}): {err.strip()[:200]}")
    res = {"rps": None, "mbps": None, "proto": None, "succeeded": 0, "failed": 0}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("finished in"):
            parts = [x.strip() for x in line.split(",")]
            res["rps"] = float(parts[1].split()[0])
            rate = parts[2]
            unit = rate.rstrip("/s")[-2:]
            scale = {"GB": 1e3, "MB": 1.0, "KB": 1e-3}.get(unit, 1e-6)
            res["mbps"] = float(rate[: -len(unit) - 2]) * scale
        elif line.startswith("requests:"):
            for part in line.split(":", 1)[1].split(","):
                n, what = part.split()[:2]
                if what in ("succeeded", "failed", "errored"):
                    res["failed" if what == "errored" else what] += int(n)
        elif line.startswith("Application protocol:"):
            res["proto"] = line.split(":", 1)[1].strip()
    return res


def sse_probe(url, events, secrets_file):
    code, out, err = run_tool(
        [str(UPSTREAM), "sse-probe", url, "--events", str(events), "--secrets", str(secrets_file)],
        120,
    )
    if code != 0:
        raise RuntimeError(f"sse-probe failed ({code}): {err.strip()[:200]}")
    d = json.loads(out)
    delays = d.pop("delays_us")
    d["delay_p50_us"] = pct(delays, 50)
    d["delay_p99_us"] = pct(delays, 99)
    d["delay_max_us"] = max(delays) if delays else None
    return d


# ---------------------------------------------------------------------------
# Correctness


def count_sub(hay, needle):
    n, i = 0, hay.find(needle)
    while i >= 0:
        n += 1
        i = hay.find(needle, i + 1)
    return n


def count_standalone(hay, needle):
    """Occurrences not glued to a letter, digit, `*` or `/` (as in the
    crate's tests: a masked card's kept last group is not a leak)."""

    def glued(b):
        return chr(b).isalnum() or b in b"*/"

    n, i = 0, hay.find(needle)
    while i >= 0:
        before = hay[i - 1] if i > 0 else None
        j = i + len(needle)
        after = hay[j] if j < len(hay) else None
        if not (before is not None and glued(before)) and not (
            after is not None and glued(after)
        ):
            n += 1
        i = hay.find(needle, i + 1)
    return n


def leaks(fixture, secrets, out):
    """(distinct values checked, distinct values still present) — the
    crate's `assert_secrets_gone` rule: a value may stay only as often as it
    occurs in the input beyond its recorded occurrences."""
    recorded = collections.Counter(secrets)
    leaked = 0
    for value, rec in recorded.items():
        v = value.encode()
        count = count_standalone if len(v) <= 5 else count_sub
        allowed = max(count(fixture, v) - rec, 0)
        if count(out, v) > allowed:
            leaked += 1
    return len(recorded), leaked


def check_bodies(bench):
    """Fetches every fixture through every setup and listener; returns a
    list of {check, result, detail} rows (detail never holds a value)."""
    rows = []

    def row(check, ok, detail=""):
        rows.append({"check": check, "result": "PASS" if ok else "FAIL", "detail": detail})

    for name in BODIES:
        fixture = bench.fixture(name)
        fmt_ = bench.manifest[name]["format"]
        offline = subprocess.run(
            [str(SCRIM), "redact", "--format", fmt_, str(bench.fix / f"{name}.body")],
            capture_output=True, check=True,
        ).stdout
        got = {}
        for setup, proto in [("A", "h1"), ("B", "h1"), ("C", "h1"), ("D", "h1"),
                             ("E", "h1"), ("B", "tls"), ("C", "tls"), ("D", "tls")]:
            status, body = http_get(f"{bench.base(setup, proto)}/{name}", tls=proto == "tls")
            got[(setup, proto)] = (status, body)
        a_status, a = got[("A", "h1")]
        row(f"{name}: A serves the fixture", a_status == 200 and a == fixture,
            f"{len(a)} of {len(fixture)} bytes")
        for key in [("B", "h1"), ("D", "h1"), ("E", "h1"), ("B", "tls"), ("D", "tls")]:
            status, body = got[key]
            row(f"{name}: {key[0]} ({key[1]}) == A byte for byte",
                status == 200 and body == a, f"{len(body)} bytes, status {status}")
        for key in [("C", "h1"), ("C", "tls")]:
            status, body = got[key]
            row(f"{name}: C ({key[1]}) == `scrim redact --format {fmt_}`",
                status == 200 and body == offline,
                f"{len(body)} vs {len(offline)} bytes, status {status}")
            checked, leaked = leaks(fixture, bench.secrets(name), body)
            row(f"{name}: C ({key[1]}) carries no planted value",
                status == 200 and leaked == 0 and body != fixture,
                f"{leaked} of {checked} distinct values found")
    return rows


# ---------------------------------------------------------------------------
# Phases


def phase_saturation(bench, rounds, duration, raw):
    for r in range(rounds):
        for body in BODIES:
            for setup in SETUPS:
                bench.settle()
                pids = bench.proxy_pids(setup)
                before = cpu_seconds(pids) if pids else None
                res = wrk(f"{bench.base(setup)}/{body}", duration)
                if pids:
                    cpu = cpu_seconds(pids) - before
                    gb = res["requests"] * bench.manifest[body]["bytes"] / 1e9
                    res["cpu_s"] = cpu
                    res["cpu_s_per_gb"] = cpu / gb if gb else None
                res["mb_per_s"] = res["rps"] * bench.manifest[body]["bytes"] / 1e6
                res.update(round=r + 1, body=body, setup=setup)
                raw["saturation"].append(res)
                log(f"[saturation {r + 1}/{rounds}] {body} {setup}: "
                    f"{res['rps']:.0f} req/s, {res['mb_per_s']:.0f} MB/s"
                    + (f", {res['cpu_s_per_gb']:.2f} CPU s/GB" if res.get("cpu_s_per_gb") else ""))


def phase_latency(bench, rounds, duration, raw):
    """Open loop at half of B's median saturation rate (and C at half of its
    own, as C_own)."""
    rates = {}
    for body in LATENCY_BODIES:
        for setup in ("B", "C"):
            sat = median([x["rps"] for x in raw["saturation"]
                          if x["body"] == body and x["setup"] == setup])
            rates[(body, setup)] = max(1.0, sat / 2)
    for r in range(rounds):
        for body in LATENCY_BODIES:
            for setup in LATENCY_SETUPS:
                rate = rates[(body, "C" if setup == "C_own" else "B")]
                bench.settle()
                res = oha(f"{bench.base(setup[0])}/{body}", rate, duration)
                res.update(round=r + 1, body=body, setup=setup)
                raw["latency"].append(res)
                log(f"[latency {r + 1}/{rounds}] {body} {setup} @ {rate:.0f}/s: "
                    f"p50 {fmt(res['p50_ms'], 3)} p99 {fmt(res['p99_ms'], 3)} "
                    f"p99.9 {fmt(res['p999_ms'], 3)} ms")


H2_CASES = [("A", "h2c"), ("B", "h2c"), ("C", "h2c"), ("D", "h2c"), ("E", "h2c"),
            ("B", "tls"), ("C", "tls"), ("D", "tls")]


def phase_h2(bench, rounds, duration, raw):
    for r in range(rounds):
        for setup, proto in H2_CASES:
            bench.settle()
            res = h2load(f"{bench.base(setup, proto)}/r64k", duration)
            res.update(round=r + 1, setup=setup, listener=proto, body="r64k")
            raw["h2"].append(res)
            log(f"[h2 {r + 1}/{rounds}] r64k {setup} {proto}: {fmt(res['rps'], 0)} req/s, "
                f"{fmt(res['mbps'], 0)} MB/s, protocol {res['proto']}")


def phase_sse(bench, rounds, events, interval_ms, raw):
    for r in range(rounds):
        for setup in SSE_SETUPS:
            url = f"{bench.base(setup)}/sse?n={events}&ms={interval_ms}"
            bench.settle()
            res = sse_probe(url, events, bench.fix / "sse.secrets")
            res.update(round=r + 1, setup=setup, want=events)
            raw["sse"].append(res)
            log(f"[sse {r + 1}/{rounds}] {setup}: ttfb {fmt(res['ttfb_us'])} us, delay p50 "
                f"{fmt(res['delay_p50_us'])} p99 {fmt(res['delay_p99_us'])} max "
                f"{fmt(res['delay_max_us'])} us, {res['events']} events")


def hold_idle(url, conns, children):
    """Starts the idle client; returns (process, connections held)."""
    p = children.start(
        [str(UPSTREAM), "idle", url, "--conns", str(conns)],
        core=LOAD_CORE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    ready, _, _ = select.select([p.stdout], [], [], 120)
    line = p.stdout.readline().strip() if ready else ""
    if not line.startswith("ready"):
        children.stop(p)
        raise RuntimeError("the idle client did not get ready")
    return p, int(line.split()[1])


def measure_idle(children, pids_of, proc, url, warm_urls, conns):
    """RSS of `pids_of()` before and while `conns` idle streams are held."""
    for u in warm_urls:
        http_get(u)
    # One streaming request first, so one-time set-up is not counted per
    # connection.
    idle, _ = hold_idle(url, 1, children)
    children.stop(idle)
    time.sleep(0.5)
    before = rss_kib(pids_of())
    idle, held = hold_idle(url, conns, children)
    time.sleep(1.0)
    during = rss_kib(pids_of())
    alive = proc.poll() is None
    children.stop(idle)
    return {
        "rss_before_kib": before,
        "rss_idle_kib": during,
        "want": conns,
        "held": held,
        "alive": alive,
        "per_conn_kib": (during - before) / held if held else None,
    }


def phase_memory(bench, children, rounds, conns, raw):
    """Fresh processes for each measurement, so memory freed by an earlier
    phase and reused here cannot hide the per-connection cost."""
    for r in range(rounds):
        for setup, path in (("C", "/sse-idle"), ("B", "/pass/sse-idle")):
            p, port, _ = bench.start_scrim(f"scrim-mem-{r}-{setup}", tls=False)
            try:
                base = f"http://127.0.0.1:{port}"
                res = measure_idle(children, lambda: [p.pid], p, base + path,
                                   [base + "/r4k", base + "/pass/r4k"], conns)
            finally:
                children.stop(p)
            res.update(round=r + 1, setup=setup, proxy="scrim")
            raw["memory"].append(res)
            log(f"[memory {r + 1}/{rounds}] scrim {setup}: {res['rss_before_kib']} KiB -> "
                f"{res['rss_idle_kib']} KiB with {res['held']} idle streams, "
                f"{fmt(res['per_conn_kib'])} KiB each")
        p, ports = bench.start_nginx(f"nginx-mem-{r}")
        try:
            base = f"http://127.0.0.1:{ports['h1']}"
            res = measure_idle(children, lambda: [p.pid] + child_pids(p.pid), p,
                               base + "/sse-idle", [base + "/r4k"], conns)
        finally:
            children.stop(p)
        res.update(round=r + 1, setup="D", proxy="nginx (master + worker)")
        raw["memory"].append(res)
        log(f"[memory {r + 1}/{rounds}] nginx D: {res['rss_before_kib']} KiB -> "
            f"{res['rss_idle_kib']} KiB, {fmt(res['per_conn_kib'])} KiB each")


# ---------------------------------------------------------------------------
# Summary


def summarize(raw):
    """Medians over rounds of every figure, keyed for the report."""
    s = {"saturation": {}, "latency": {}, "h2": {}, "sse": {}, "memory": {}}
    for body in BODIES:
        for setup in SETUPS:
            rows = [x for x in raw["saturation"] if x["body"] == body and x["setup"] == setup]
            s["saturation"][(body, setup)] = {
                "rps": median([x["rps"] for x in rows]),
                "mb_per_s": median([x["mb_per_s"] for x in rows]),
                "cpu_s_per_gb": median([x.get("cpu_s_per_gb") for x in rows]),
                "non2xx": sum(x["non2xx"] for x in rows),
                "socket_errors": sum(x["socket_errors"] for x in rows),
            }
    for body in LATENCY_BODIES:
        for setup in LATENCY_SETUPS:
            rows = [x for x in raw["latency"] if x["body"] == body and x["setup"] == setup]
            s["latency"][(body, setup)] = {
                k: median([x[k] for x in rows])
                for k in ("rate", "achieved_rps", "p50_ms", "p99_ms", "p999_ms")
            } | {"errors": sum(x["errors"] + x["not_ok"] for x in rows)}
    for setup, proto in H2_CASES:
        rows = [x for x in raw["h2"] if x["setup"] == setup and x["listener"] == proto]
        s["h2"][(setup, proto)] = {
            "rps": median([x["rps"] for x in rows]),
            "mbps": median([x["mbps"] for x in rows]),
            "proto": ", ".join(sorted({str(x["proto"]) for x in rows})),
            "failed": sum(x["failed"] for x in rows),
        }
    for setup in SSE_SETUPS:
        rows = [x for x in raw["sse"] if x["setup"] == setup]
        s["sse"][setup] = {
            k: median([x[k] for x in rows])
            for k in ("ttfb_us", "delay_p50_us", "delay_p99_us", "delay_max_us")
        }
    for setup in ("B", "C", "D"):
        rows = [x for x in raw["memory"] if x["setup"] == setup]
        s["memory"][setup] = {
            k: median([x[k] for x in rows])
            for k in ("rss_before_kib", "rss_idle_kib", "held", "per_conn_kib")
        } | {"proxy": rows[0]["proxy"] if rows else ""}
    return s


def ratio(a, b):
    return a / b if a is not None and b else None


def targets(s):
    """The issue's targets: (target, measured, limit, PASS/MISS)."""
    out = []

    def add(name, value, limit, ok, unit=""):
        out.append({
            "target": name,
            "measured": None if value is None else round(value, 3),
            "limit": limit,
            "unit": unit,
            # ok=None: a reference figure beside a target, not a target.
            "result": "–" if value is None else (
                "ref" if ok is None else ("PASS" if ok else "MISS")),
        })

    sat = s["saturation"]
    for body, lim in (("r4k", 0.95), ("r64k", 0.85), ("t1m", 0.85)):
        v = ratio(sat[(body, "C")]["rps"], sat[(body, "B")]["rps"])
        add(f"C/B throughput, {body}", v, f"≥ {lim}", v is not None and v >= lim)
    for body in BODIES:
        v = ratio(sat[(body, "C")]["cpu_s_per_gb"], sat[(body, "B")]["cpu_s_per_gb"])
        add(f"C/B CPU per GB, {body}", v, "≤ 1.2", v is not None and v <= 1.2)
    lat = s["latency"]
    for body in ("r4k", "r64k"):
        c, b = lat[(body, "C")]["p99_ms"], lat[(body, "B")]["p99_ms"]
        v = c - b if c is not None and b is not None else None
        add(f"p99 C − B, {body}", v, "≤ 0.3 ms", v is not None and v <= 0.3, "ms")
    for body in ("r4k", "r64k"):
        b, a = lat[(body, "B")]["p99_ms"], lat[(body, "A")]["p99_ms"]
        v = b - a if b is not None and a is not None else None
        add(f"p99 B − A, {body}", v, "≤ 0.5 ms", v is not None and v <= 0.5, "ms")
        # The same difference for nginx: what crossing to the proxy's core
        # and back costs on this machine with any proxy.
        d = lat[(body, "D")]["p99_ms"]
        v = d - a if d is not None and a is not None else None
        add(f"p99 D − A (nginx), {body}", v, "reference", None, "ms")
    v = ratio(sat[("r4k", "B")]["rps"], sat[("r4k", "D")]["rps"])
    add("B/D req/s, r4k HTTP/1.1", v, "≥ 1.0", v is not None and v >= 1.0)
    v = ratio(sat[("r4k", "B")]["cpu_s_per_gb"], sat[("r4k", "D")]["cpu_s_per_gb"])
    add("B/D proxy CPU per GB, r4k HTTP/1.1", v, "reference", None)
    # The bare hyper proxy (E) splits the B/D gap: E/D is what hyper and
    # tokio cost against nginx, B/E what scrim's own per-request work costs.
    for body in ("r4k", "r64k"):
        v = ratio(sat[(body, "E")]["rps"], sat[(body, "D")]["rps"])
        add(f"E/D req/s, {body} HTTP/1.1", v, "reference", None)
        v = ratio(sat[(body, "B")]["rps"], sat[(body, "E")]["rps"])
        add(f"B/E req/s, {body} HTTP/1.1", v, "reference", None)
    sse = s["sse"]
    for base in ("A", "B"):
        c, o = sse["C"]["delay_p99_us"], sse[base]["delay_p99_us"]
        v = (c - o) / 1e3 if c is not None and o is not None else None
        add(f"SSE p99 delay C − {base}", v, "≤ 1 ms", v is not None and v <= 1.0, "ms")
    for setup in ("C", "B"):
        v = s["memory"][setup]["per_conn_kib"]
        add(f"memory per idle stream, scrim {setup}", v, "≤ 64 KiB",
            v is not None and v <= 64, "KiB")
    return out


def tool_versions():
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except OSError:
            return "missing"
        text = (r.stdout + r.stderr).strip().splitlines()
        return text[0].strip() if text else "?"

    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "scrim": f"{git}{' + uncommitted src/ changes' if dirty else ''}",
        "nginx": first(["nginx", "-v"]),
        "wrk": first(["wrk", "-v"]).split(" Copyright")[0],
        "oha": first(["oha", "--version"]),
        "h2load": first(["h2load", "--version"]),
        "openssl": first(["openssl", "version"]),
        "rustc": first(["rustc", "--version"]),
    }


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def markdown(meta, s, tg, checks, raw, manifest):
    L = []
    a = L.append
    a("## End-to-end proxy benchmark (issue 6)")
    a("")
    a(f"Written by `{meta['command']}` on {meta['date']} "
      f"(took {meta['elapsed_s'] / 60:.1f} min). Do not edit by hand: the next run "
      f"replaces everything between the e2e markers.")
    a("")
    a("Run: `benches/e2e/run.sh` from any directory (installs nginx-light, wrk, "
      "nghttp2-client, openssl and oha when missing, builds scrim and the upstream, "
      "runs `benches/e2e/run.py`; about 10 minutes). Options: `--rounds N`, "
      "`--duration S`, `--quick` (1 round of 2 s), `--no-write` (leave this file "
      "alone). Everything also goes to `target/e2e/results.json`. The run exits "
      "non-zero when a correctness check fails; a missed target is reported, not "
      "fatal.")
    a("")
    a(f"- Machine: `nproc` {meta['nproc']}, CPU `{meta['cpu']}`, shared with other jobs "
      f"while measuring (figures are noisy; compare ratios within one run).")
    v = meta["versions"]
    a(f"- Versions: scrim {v['scrim']}; {v['nginx']}; {v['wrk']}; {v['oha']}; "
      f"{v['h2load']}; {v['openssl']}; {v['rustc']}.")
    a(f"- Pinning: scrim, nginx (one worker) and the bare hyper proxy on core "
      f"{PROXY_CORE}; the upstream and "
      f"every load generator on core {LOAD_CORE}. With 2 cores the upstream shares "
      f"core {LOAD_CORE} with the load generator in every setup, so A is not an "
      f"unloaded direct path: A's figures are the upstream and the generator "
      f"competing for one core.")
    a("- Setups: **A** direct to the upstream (`benches/e2e/upstream.rs`, hyper, "
      "HTTP/1.1 + h2c); **B** scrim, route mode `pass`; **C** scrim, route mode "
      "`enforce` with the built-in packs (audit to /dev/null); **D** nginx as a plain "
      "reverse proxy (HTTP/1.1 keepalive pool of 64, `keepalive_requests 100000`, "
      "otherwise defaults); **E** a bare hyper reverse proxy (`benches/e2e/floor.rs`: "
      "hyper-util's auto server and legacy client, as in scrim, relaying request and "
      "response unchanged with nothing else), the floor for any hyper-based proxy "
      "here: E/D is what hyper costs against nginx, B/E what scrim's own per-request "
      "work costs (reference, no target). B and C are one scrim process; scrim and E "
      "talk HTTP/1.1 to the upstream, as nginx does.")
    bodies = ", ".join(
        f"`{n}` {manifest[n]['bytes']:,} B {manifest[n]['content_type'].split(';')[0]} "
        f"(seed {manifest[n]['seed']}, planted values: {manifest[n]['secrets']})"
        for n in BODIES)
    a(f"- Bodies: {bodies}; SSE: {meta['sse_events']} events, one every "
      f"{meta['sse_ms']} ms, every fifth carrying a planted card number or email.")
    a(f"- Rounds: {meta['rounds']}, each phase interleaved per round (saturation "
      f"A B C D E; E also in h2c, nowhere else); "
      f"{meta['duration']} s per load run; tables show medians over rounds.")
    a("")
    a(f"### Saturation, HTTP/1.1 (`wrk -t1 -c{WRK_CONNS} -d{meta['duration']}s`)")
    a("")
    a("CPU s/GB: the proxy's utime + stime (`/proc/PID/stat`, scrim's process, nginx's "
      "worker, E's process) per GB of upstream body proxied.")
    a("")
    a("| body | setup | req/s | MB/s | proxy CPU s/GB | vs B (req/s) | errors |")
    a("|---|---|---:|---:|---:|---:|---:|")
    for body in BODIES:
        for setup in SETUPS:
            x = s["saturation"][(body, setup)]
            vb = ratio(x["rps"], s["saturation"][(body, "B")]["rps"])
            a(f"| {body} | {setup} | {fmt(x['rps'], 0)} | {fmt(x['mb_per_s'], 0)} | "
              f"{fmt(x['cpu_s_per_gb'], 2)} | {fmt(vb, 2)} | "
              f"{x['non2xx'] + x['socket_errors']} |")
    a("")
    a(f"### Latency, open loop at half of B's saturation rate "
      f"(`oha -z {meta['duration']}s -q RATE --latency-correction -c {OHA_CONNS}`)")
    a("")
    a("`C (½ C)`: C at half of C's own saturation rate, for reference (no target).")
    a("")
    a("| body | setup | rate req/s | p50 ms | p99 ms | p99.9 ms | achieved req/s | errors |")
    a("|---|---|---:|---:|---:|---:|---:|---:|")
    for body in LATENCY_BODIES:
        for setup in LATENCY_SETUPS:
            x = s["latency"][(body, setup)]
            label = "C (½ C)" if setup == "C_own" else setup
            a(f"| {body} | {label} | {fmt(x['rate'], 0)} | {fmt(x['p50_ms'], 3)} | "
              f"{fmt(x['p99_ms'], 3)} | {fmt(x['p999_ms'], 3)} | "
              f"{fmt(x['achieved_rps'], 0)} | {x['errors']} |")
    a("")
    a(f"### HTTP/2 and TLS, r64k (`h2load -D {meta['duration']} -c {H2_CLIENTS} "
      f"-m {H2_STREAMS}`)")
    a("")
    a("h2c: prior knowledge on the plain listener (A: the upstream; B, C: scrim; D: "
      "nginx's `http2` port; E: the bare hyper proxy). TLS: a second scrim process with `[server.tls]` and "
      "nginx's `ssl http2` port, same self-signed P-256 certificate, h2 by ALPN.")
    a("")
    a("| listener | setup | req/s | MB/s | protocol | vs B | failed |")
    a("|---|---|---:|---:|---|---:|---:|")
    for setup, proto in H2_CASES:
        x = s["h2"][(setup, proto)]
        vb = ratio(x["rps"], s["h2"][("B", proto)]["rps"])
        a(f"| {proto} | {setup} | {fmt(x['rps'], 0)} | {fmt(x['mbps'], 0)} | "
          f"{x['proto']} | {fmt(vb, 2)} | {x['failed']} |")
    a("")
    a("### Server-sent events (`e2e_upstream sse-probe`, HTTP/1.1)")
    a("")
    a("Delay: the probe's arrival wall-clock time minus the upstream's send time "
      "carried in the event (encoded as letters so no rule touches it).")
    a("")
    a("| setup | TTFB µs | delay p50 µs | delay p99 µs | delay max µs |")
    a("|---|---:|---:|---:|---:|")
    for setup in SSE_SETUPS:
        x = s["sse"][setup]
        a(f"| {setup} | {fmt(x['ttfb_us'])} | {fmt(x['delay_p50_us'])} | "
          f"{fmt(x['delay_p99_us'])} | {fmt(x['delay_max_us'])} |")
    a("")
    a(f"### Memory, {meta['idle_conns']:,} idle streaming connections (`/sse-idle`)")
    a("")
    a("VmRSS of a freshly started proxy (after one warm-up request per route and one "
      "streaming request) and while the idle client holds every stream open after its "
      "first event. scrim's figure includes the upstream connection it keeps per stream.")
    a("")
    a("| proxy | setup | RSS before KiB | RSS with streams KiB | held | KiB per stream |")
    a("|---|---|---:|---:|---:|---:|")
    for setup in ("C", "B", "D"):
        x = s["memory"][setup]
        a(f"| {x['proxy']} | {setup} | {fmt(x['rss_before_kib'], 0)} | "
          f"{fmt(x['rss_idle_kib'], 0)} | {fmt(x['held'], 0)} | {fmt(x['per_conn_kib'])} |")
    a("")
    a("### Targets (issue 6)")
    a("")
    a("| target | measured | limit | result |")
    a("|---|---:|---|---|")
    for t in tg:
        a(f"| {t['target']} | {fmt(t['measured'], 3)}{' ' + t['unit'] if t['unit'] else ''} | {t['limit']} | "
          f"{t['result']} |")
    a("")
    a("### Correctness (same run)")
    a("")
    a("| check | result | detail |")
    a("|---|---|---|")
    for c in checks:
        a(f"| {c['check']} | {c['result']} | {c['detail']} |")
    a("")
    a("### Raw per-round figures")
    a("")
    a("```")
    for x in raw["saturation"]:
        a(f"sat   r{x['round']} {x['body']:<4} {x['setup']} rps={x['rps']:.0f} "
          f"MB/s={x['mb_per_s']:.1f} cpu_s_per_gb={fmt(x.get('cpu_s_per_gb'), 3)} "
          f"non2xx={x['non2xx']} sockerr={x['socket_errors']}")
    for x in raw["latency"]:
        a(f"lat   r{x['round']} {x['body']:<4} {x['setup']:<5} rate={x['rate']:.0f} "
          f"p50={fmt(x['p50_ms'], 3)} p99={fmt(x['p99_ms'], 3)} "
          f"p99.9={fmt(x['p999_ms'], 3)} ms achieved={x['achieved_rps']:.0f} "
          f"errors={x['errors'] + x['not_ok']}")
    for x in raw["h2"]:
        a(f"h2    r{x['round']} r64k {x['setup']} {x['listener']:<3} rps={fmt(x['rps'], 0)} "
          f"MB/s={fmt(x['mbps'], 1)} proto={x['proto']} failed={x['failed']}")
    for x in raw["sse"]:
        a(f"sse   r{x['round']} {x['setup']} ttfb={fmt(x['ttfb_us'])}us "
          f"p50={fmt(x['delay_p50_us'])} p99={fmt(x['delay_p99_us'])} "
          f"max={fmt(x['delay_max_us'])}us events={x['events']} "
          f"secrets_found={x['secrets_found']}")
    for x in raw["memory"]:
        a(f"mem   r{x['round']} {x['setup']} before={x['rss_before_kib']}KiB "
          f"idle={x['rss_idle_kib']}KiB held={x['held']} "
          f"per_conn={fmt(x['per_conn_kib'])}KiB")
    a("```")
    return "\n".join(wrap_prose(L)) + "\n"


def wrap_prose(lines, width=78):
    """Wraps paragraphs and list items like the rest of BENCHMARKS.md;
    headings, tables and code blocks stay as they are."""
    out, in_code = [], False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        if in_code or line.startswith(("```", "|", "#")) or len(line) <= width:
            out.append(line)
            continue
        indent = "  " if line.startswith("- ") else ""
        out.extend(textwrap.wrap(line, width, subsequent_indent=indent,
                                 break_long_words=False, break_on_hyphens=False))
    return out


def write_benchmarks(section):
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else ""
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = text.rstrip("\n") + "\n\n", "\n"
    BENCHMARKS.write_text(f"{head}{BEGIN}\n{section}{END}{tail}")


def sse_checks(raw):
    rows = []
    for setup in SSE_SETUPS:
        runs = [x for x in raw["sse"] if x["setup"] == setup]
        found = sum(x["secrets_found"] for x in runs)
        complete = all(x["events"] == x["want"] and x["undecoded"] == 0
                       and x["status"] == 200 for x in runs)
        if setup == "C":
            ok, what = found == 0, "no planted value in C's SSE stream"
        else:
            # The values must come through unredacted here, or C's check
            # above would prove nothing.
            ok, what = found > 0, f"planted values reach the client through {setup}"
        rows.append({"check": f"SSE: {what}", "result": "PASS" if ok and complete else "FAIL",
                     "detail": f"{found} occurrences in {len(runs)} streams; "
                               f"{'all' if complete else 'NOT all'} events complete"})
    return rows


def load_checks(raw, s):
    rows = []
    bad = sum(x["non2xx"] for x in raw["saturation"]) + sum(x["not_ok"] for x in raw["latency"])
    rows.append({"check": "no non-2xx response under load (wrk, oha)",
                 "result": "PASS" if bad == 0 else "FAIL", "detail": f"{bad} non-2xx"})
    failed = sum(x["failed"] for x in raw["h2"])
    rows.append({"check": "no failed h2load request",
                 "result": "PASS" if failed == 0 else "FAIL", "detail": f"{failed} failed"})
    h2c = {s["h2"][(x, p)]["proto"] for x, p in H2_CASES if p == "h2c"}
    rows.append({"check": "scrim's plain listener speaks h2c (prior knowledge)",
                 "result": "PASS" if s["h2"][("B", "h2c")]["proto"] == "h2c" else "FAIL",
                 "detail": f"negotiated: {', '.join(sorted(h2c))}"})
    for setup in ("C", "B"):
        runs = [x for x in raw["memory"] if x["setup"] == setup]
        ok = bool(runs) and all(x["held"] == x["want"] and x["alive"] for x in runs)
        rows.append({"check": f"scrim ({setup}) holds every idle stream",
                     "result": "PASS" if ok else "FAIL",
                     "detail": ", ".join(str(x["held"]) for x in runs) + " held"})
    return rows


def main():
    global SCRIM, UPSTREAM, FLOOR
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds per phase (default 3)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per load run (default 5)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, 2 s")
    ap.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    ap.add_argument("--sse-events", type=int, default=300)
    ap.add_argument("--sse-ms", type=int, default=5)
    ap.add_argument("--idle-conns", type=int, default=IDLE_CONNS)
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 2

    for exe in (SCRIM, UPSTREAM):
        if not exe.exists():
            sys.exit(f"{exe} missing: build with benches/e2e/run.sh")
    if not FLOOR.exists():
        sys.exit(f"{FLOOR} missing: build with "
                 "`cargo build --release --locked --example e2e_floor`")
    for tool in ("nginx", "wrk", "oha", "h2load", "openssl", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} missing: run benches/e2e/run.sh, which installs it")
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs at least 2 cores (proxy and load generator are pinned apart)")
    # Children inherit this: 1,000 idle streams take ~2,000 descriptors in
    # the proxy (client + upstream side) and the upstream.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    signal.signal(signal.SIGTERM, on_sigterm)
    # Started in the background of a non-interactive shell, Python inherits
    # SIGINT as ignored; Ctrl-C and `kill -INT` must still clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    started = time.monotonic()
    command = os.environ.get("E2E_COMMAND") or " ".join(["python3 benches/e2e/run.py"] + sys.argv[1:])
    # Versions and commit now, next to the build, not after ten minutes in
    # which src/ may have moved on.
    versions = tool_versions()
    tmp = Path(tempfile.mkdtemp(prefix="scrim-e2e-"))
    # Private copies: a `cargo build` elsewhere during the run must not swap
    # the binaries that later phases start.
    for name, exe in (("scrim", SCRIM), ("e2e_upstream", UPSTREAM), ("e2e_floor", FLOOR)):
        shutil.copy2(exe, tmp / name)
    SCRIM, UPSTREAM, FLOOR = tmp / "scrim", tmp / "e2e_upstream", tmp / "e2e_floor"
    children = Children()
    raw = {"saturation": [], "latency": [], "h2": [], "sse": [], "memory": []}
    try:
        bench = Bench(children, tmp)
        bench.start()
        log(f"upstream {bench.upstream_addr}, scrim :{bench.scrim_port} (TLS "
            f":{bench.scrim_tls_port}), nginx {bench.nginx_ports}, floor "
            f"{bench.floor_addr}; temp dir {tmp}")
        checks = check_bodies(bench)
        log(f"correctness: {sum(c['result'] == 'PASS' for c in checks)} of {len(checks)} pass")

        phase_saturation(bench, args.rounds, args.duration, raw)
        phase_latency(bench, args.rounds, args.duration, raw)
        phase_h2(bench, args.rounds, args.duration, raw)
        phase_sse(bench, args.rounds, args.sse_events, args.sse_ms, raw)
        phase_memory(bench, children, args.rounds, args.idle_conns, raw)

        s = summarize(raw)
        checks += sse_checks(raw) + load_checks(raw, s)
        tg = targets(s)
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command,
            "nproc": os.cpu_count(),
            "cpu": cpu_model(),
            "versions": versions,
            "rounds": args.rounds,
            "duration": args.duration,
            "sse_events": args.sse_events,
            "sse_ms": args.sse_ms,
            "idle_conns": args.idle_conns,
            "elapsed_s": time.monotonic() - started,
        }
        section = markdown(meta, s, tg, checks, raw, bench.manifest)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({
            "meta": meta,
            "fixtures": bench.manifest,
            "medians": {k: {"/".join(key) if isinstance(key, tuple) else key: v
                            for key, v in d.items()} for k, d in s.items()},
            "targets": tg,
            "checks": checks,
            "raw": raw,
        }, indent=1))
        if not args.no_write:
            write_benchmarks(section)
        print(section)
        failed = [c for c in checks if c["result"] != "PASS"]
        log(f"done in {meta['elapsed_s'] / 60:.1f} min; results in {RESULTS}"
            + ("" if args.no_write else f" and {BENCHMARKS}"))
        if failed:
            log(f"{len(failed)} correctness check(s) FAILED")
            return 1
        return 0
    finally:
        children.stop_all()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; every child process was stopped")
        sys.exit(130)
