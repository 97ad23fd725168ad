"""The measuring half of bench/proxy.sh: wrk against four sides in turn,
the proxy's memory, and how soon a created or destroyed shard is routed.

Everything it talks to is started (and stopped) by proxy.sh, which passes
ports, pids and paths in the environment. Prints the figures; writes
nothing but a JSON summary to $OUT when that is set.
"""

import http.client
import json
import os
import re
import statistics
import subprocess
import time

E = os.environ
ROUNDS = int(E.get("ROUNDS", "3"))
DURATION = E.get("DURATION", "10s")
ONE_DURATION = E.get("ONE_DURATION", "3s")
WRK_CPUS = E.get("WRK_CPUS", "")
HOST = E["ROUTE_HOST"]  # a.REPO.localhost, without a port
SIDES = [
    ("direct", int(E["BACKEND_PORT"])),
    ("shards", int(E["PROXY_PORT"])),
    ("caddy", int(E["CADDY_PORT"])),
    ("nginx", int(E["NGINX_PORT"])),
]
PROXY_PID = int(E["PROXY_PID"])
# Whose CPU time each side is charged: the proxy under test (nginx: its
# master and workers), or for `direct` the backend.
SIDE_PID = {
    "direct": int(E["BACKEND_PID"]),
    "shards": PROXY_PID,
    "caddy": int(E["CADDY_PID"]),
    "nginx": int(E["NGINX_PID"]),
}
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User and system time of `pid` and its children now running."""
    pids = [pid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(d))
            except OSError:
                pass
    total = 0
    for p in pids:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def get(port, host, conn=None):
    """One GET / with Host `host`; returns the status (a new connection
    unless one is passed)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/", headers={"Host": host})
    r = c.getresponse()
    r.read()
    if conn is None:
        c.close()
    return r.status


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNIT[m.group(2)]


def wrk(port, pid, conns=64, threads=2, duration=DURATION):
    host = f"{HOST}:{port}"
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", "-d" + duration, "--latency", "-H", f"Host: {host}",
           f"http://127.0.0.1:{port}/"]
    if WRK_CPUS:
        cmd = ["taskset", "-c", WRK_CPUS] + cmd
    before = cpu_seconds(pid)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(pid) - before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    count = int(re.search(r"(\d+) requests in", out).group(1))
    pct = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)$", out, re.M)
    if bad or errs:
        raise SystemExit(f"wrk on {port} saw failures:\n{out}")
    return {"rps": rps, "p50": pct["50"], "p99": pct["99"], "cpu_us": cpu / count * 1e6}


def load():
    """ROUNDS rounds, the four sides in turn (the order rotated each round,
    so a slow phase of the machine does not always hit the same side),
    after a short warm-up of each."""
    for name, port in SIDES:
        if get(port, f"{HOST}:{port}") != 200:
            raise SystemExit(f"{name} on {port} does not answer 200")
        subprocess.run(["wrk", "-t2", "-c64", "-d2s", "-H", f"Host: {HOST}:{port}",
                        f"http://127.0.0.1:{port}/"], check=True, capture_output=True)
    runs = {name: [] for name, _ in SIDES}
    for r in range(ROUNDS):
        order = SIDES[r % len(SIDES):] + SIDES[: r % len(SIDES)]
        for name, port in order:
            res = wrk(port, SIDE_PID[name])
            # One connection, one request at a time: the latency a proxy
            # adds when nothing queues (the loaded p99 above is mostly
            # 64 connections waiting their turn).
            one = wrk(port, SIDE_PID[name], conns=1, threads=1, duration=ONE_DURATION)
            res["c1_p50"], res["c1_p99"] = one["p50"], one["p99"]
            runs[name].append(res)
            print(f"  round {r + 1} {name:7s} {res['rps']:10.0f} req/s  "
                  f"p50 {res['p50']:6.2f} ms  p99 {res['p99']:6.2f} ms  "
                  f"CPU {res['cpu_us']:5.1f} us/req  "
                  f"-c1: p50 {one['p50']:5.3f} ms p99 {one['p99']:5.3f} ms", flush=True)
    return runs


def route_change(repo, cycles):
    """Creates and destroys shard `r{i}` while the proxy runs; after each
    command exits, asks at once for its host on a kept-alive connection
    and counts the requests until the answer changes (502: routed, nothing
    listens on its port; 404: unknown)."""
    bin_ = E["BIN"]
    port = int(E["PROXY_PORT"])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    seen = {"create": [], "destroy": []}
    for i in range(cycles):
        name = f"r{i}"
        host = f"{name}.{E['REPO_LABEL']}.localhost:{port}"
        assert get(port, host, conn) == 404
        for act, want in (("create", 502), ("destroy", 404)):
            args = [bin_, "-C", repo, act, "-q", name]
            if act == "destroy":
                args.insert(-1, "--force")
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
            done = time.perf_counter()
            tries = 0
            while True:
                tries += 1
                status = get(port, host, conn)
                if status == want:
                    break
                if tries > 1000:
                    raise SystemExit(f"{act} {name}: still {status} after 1000 requests")
            took = (time.perf_counter() - done) * 1000
            # The same request again, the table now read: what the first
            # one's time spent re-reading the ledger shows as the gap.
            again = time.perf_counter()
            get(port, host, conn)
            seen[act].append((tries, took, (time.perf_counter() - again) * 1000))
    conn.close()
    return seen


def main():
    out = {}
    # Idle memory: right after start (no request yet: the route table is
    # read at the first one), after one request, after the load.
    out["rss_start_kib"] = rss_kib(PROXY_PID)
    get(int(E["PROXY_PORT"]), f"{HOST}:{E['PROXY_PORT']}")
    out["rss_first_kib"] = rss_kib(PROXY_PID)
    out["threads"] = threads(PROXY_PID)
    print(f"shards proxy (pid {PROXY_PID}, {out['threads']} threads), "
          f"{E['SHARD_COUNT']} shards in the ledger:")
    print(f"  RSS after start {out['rss_start_kib'] / 1024:.1f} MiB, "
          f"after the first request {out['rss_first_kib'] / 1024:.1f} MiB")

    print(f"load: wrk -t2 -c64 -d{DURATION} --latency, {ROUNDS} rounds"
          + (f", wrk pinned to CPU {WRK_CPUS}" if WRK_CPUS else ""), flush=True)
    runs = load()
    time.sleep(2)
    out["rss_after_kib"] = rss_kib(PROXY_PID)
    out["hwm_kib"] = rss_kib(PROXY_PID, "VmHWM")

    keys = ("rps", "p50", "p99", "cpu_us", "c1_p50", "c1_p99")
    med = {n: {k: statistics.median(r[k] for r in rs) for k in keys} for n, rs in runs.items()}
    out["runs"], out["medians"] = runs, med
    print(f"medians of {ROUNDS}:")
    for name, _ in SIDES:
        m = med[name]
        print(f"  {name:7s} {m['rps']:10.0f} req/s  p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms  "
              f"CPU {m['cpu_us']:5.1f} us/req  -c1: p50 {m['c1_p50']:5.3f} ms p99 {m['c1_p99']:5.3f} ms")
    ratio = med["shards"]["rps"] / med["nginx"]["rps"]
    added = med["shards"]["p99"] - med["direct"]["p99"]
    out["ratio_nginx"], out["ratio_caddy"] = ratio, med["shards"]["rps"] / med["caddy"]["rps"]
    out["p99_added_ms"] = added
    print(f"  shards/nginx req/s {ratio:.2f}x (target >= 0.9x: {'met' if ratio >= 0.9 else 'NOT met'})")
    print(f"  shards/caddy req/s {out['ratio_caddy']:.2f}x")
    print(f"  shards p99 - direct p99 {added:+.2f} ms (target <= 1 ms: {'met' if added <= 1 else 'NOT met'})")
    c1 = med["shards"]["c1_p99"] - med["direct"]["c1_p99"]
    out["c1_p99_added_ms"] = c1
    print(f"  one connection (-c1): shards p99 - direct p99 {c1:+.3f} ms "
          f"(nginx {med['nginx']['c1_p99'] - med['direct']['c1_p99']:+.3f} ms, "
          f"caddy {med['caddy']['c1_p99'] - med['direct']['c1_p99']:+.3f} ms)")
    print(f"  CPU per request: shards {med['shards']['cpu_us']:.1f} us, nginx {med['nginx']['cpu_us']:.1f} us "
          f"({med['shards']['cpu_us'] / med['nginx']['cpu_us']:.2f}x), caddy {med['caddy']['cpu_us']:.1f} us")
    print(f"  nginx p99 - direct p99 {med['nginx']['p99'] - med['direct']['p99']:+.2f} ms, "
          f"caddy {med['caddy']['p99'] - med['direct']['p99']:+.2f} ms")
    print(f"  proxy RSS after the load (2 s idle) {out['rss_after_kib'] / 1024:.1f} MiB, "
          f"peak (VmHWM) {out['hwm_kib'] / 1024:.1f} MiB "
          f"(target idle <= 20 MiB: {'met' if max(out['rss_start_kib'], out['rss_after_kib']) <= 20 * 1024 else 'NOT met'})")

    cycles = int(E.get("CYCLES", "20"))
    seen = route_change(E["REPO"], cycles)
    out["route_change"] = seen
    print(f"route change, {cycles} create/destroy cycles while the proxy runs:")
    for act, rows in seen.items():
        nexts = sum(1 for t, _, _ in rows if t == 1)
        print(f"  after {act}: the next request saw it in {nexts}/{len(rows)}; "
              f"time from exit to that answer median {statistics.median(t for _, t, _ in rows):.2f} ms, "
              f"max {max(t for _, t, _ in rows):.2f} ms; the request after it "
              f"{statistics.median(t for _, _, t in rows):.2f} ms")
    if E.get("OUT"):
        with open(E["OUT"], "w") as f:
            json.dump(out, f, indent=1)


main()
