#!/usr/bin/env bash
# Benchmarks `shards proxy` (issue 20): requests/s and latency against
# nginx and caddy in front of the same backend, the proxy's memory with
# 300 shards in the ledger, and how soon a created or destroyed shard is
# routed.
#
#   bash bench/proxy.sh                    # 3 rounds of 10 s, unpinned
#   PIN=1 bash bench/proxy.sh              # wrk on CPU 0, the rest on CPU 1
#   ROUNDS=5 DURATION=20s SHARDS=100 bash bench/proxy.sh
#
# The backend is nginx answering `return 200 "ok\n"` on the first port of
# shard `a`. Four sides, each hit by `wrk -t2 -c64 -d10s --latency` with
# the same `Host: a.REPO.localhost:PORT` header, take turns each round (the
# order rotated), after a 2 s warm-up each:
#
#   direct  wrk -> backend
#   shards  wrk -> shards proxy run --port P -> backend
#   caddy   wrk -> caddy reverse_proxy (no TLS, admin off, 64 idle
#           upstream connections kept like nginx's) -> backend
#   nginx   wrk -> nginx proxy_pass, HTTP/1.1 upstream keepalive 64,
#           X-Forwarded-* set like the other two -> backend
#
# After each loaded run the same side gets `wrk -t1 -c1 -d3s --latency`
# (one request at a time: the latency a proxy adds when nothing queues),
# and each loaded run is charged the CPU time (utime + stime from
# /proc/PID/stat) of the proxy under test (for `direct`, the backend) per
# request. Prints medians of requests/s, p50/p99 and CPU per request,
# shards/nginx requests/s (target >= 0.9x) and shards p99 minus direct
# p99 (target <= 1 ms), loaded and with one connection; the proxy's
# VmRSS after start and after the load (target <= 20 MiB); and, over
# create/destroy cycles while the proxy runs, whether the very next
# request sees the change. Each proxy gets as many workers as the CPUs it
# may use (nginx worker_processes, caddy's GOMAXPROCS and tokio follow the
# affinity). Everything runs in a temporary HOME, XDG folders and
# SHARDS_HOME; everything started is stopped on exit. Needs nginx, caddy,
# wrk, curl, git and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${SHARDS:-300}
export ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} CYCLES=${CYCLES:-20}
PIN=${PIN:-0}

for tool in nginx caddy wrk curl git python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
echo "building (release)..." >&2
cargo build --release --quiet
export BIN=$ROOT/target/release/shards

WORK=$(mktemp -d /tmp/shards-proxy-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    cd /
    rm -rf "$WORK"
}
trap cleanup EXIT
source bench/isolate.sh
isolate "$WORK"
export XDG_CACHE_HOME=$HOME/.cache XDG_STATE_HOME=$HOME/.local/state XDG_RUNTIME_DIR=$WORK/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export SHARDS_HOME=$WORK/shards
# 300 blocks do not fit the default pool (297 blocks of 100): blocks of 40
# from 20000, as bench/run.sh does.
export SHARDS_PORTS_BASE=${SHARDS_PORTS_BASE:-20000} SHARDS_PORTS_MAX=${SHARDS_PORTS_MAX:-32767} SHARDS_PORTS_BLOCK_SIZE=${SHARDS_PORTS_BLOCK_SIZE:-40}

# CPU sets: unpinned, everything shares both cores; pinned, wrk has CPU 0
# and the backend and the proxy under test share CPU 1.
if [ "$PIN" = 1 ]; then
    export WRK_CPUS=0
    RUN=(taskset -c 1)
    WORKERS=1
    CPUS="pinned: wrk on CPU 0 (taskset -c 0), the backend and the proxy under test on CPU 1 (taskset -c 1), one worker each"
else
    export WRK_CPUS=
    RUN=()
    WORKERS=$(nproc)
    CPUS="unpinned: wrk, the backend and the proxy under test share all $(nproc) cores, $WORKERS workers each"
fi

export REPO=$WORK/bench
git init -q -b main "$REPO"
echo hi >"$REPO/README"
git -C "$REPO" add -A
git -C "$REPO" -c gc.auto=0 commit -q -m init

echo "creating $N shards..." >&2
"$BIN" -C "$REPO" create -q a >/dev/null
for i in $(seq 2 "$N"); do "$BIN" -C "$REPO" create -q "s$i" >/dev/null; done
export SHARD_COUNT=$N
BACKEND_PORT=$("$BIN" -C "$REPO" --json list | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d["shards"] if isinstance(d, dict) else d
print(next(r for r in rows if r["name"] == "a")["ports"]["start"])')
export BACKEND_PORT

# Free ports for the proxies, outside the shards' pool.
read -r PROXY_PORT CADDY_PORT NGINX_PORT < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()')
export PROXY_PORT CADDY_PORT NGINX_PORT

wait_port() { # PORT: until something answers HTTP there
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.05
    done
    echo "nothing answers on port $1; logs:" >&2
    tail -n 5 "$WORK"/*.log "$WORK"/*/error.log >&2 || true
    exit 1
}

# The backend.
mkdir -p "$WORK/backend" "$WORK/nginx"
cat >"$WORK/backend/nginx.conf" <<EOF
daemon off;
worker_processes $WORKERS;
pid $WORK/backend/nginx.pid;
error_log $WORK/backend/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/backend/tmp;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
EOF
"${RUN[@]}" nginx -p "$WORK/backend" -e "$WORK/backend/error.log" -c "$WORK/backend/nginx.conf" &
export BACKEND_PID=$!
PIDS+=($!)
wait_port "$BACKEND_PORT"

# nginx as a proxy: the fair baseline (HTTP/1.1 to the backend, kept
# alive, the same X-Forwarded-* headers shards and caddy add).
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes $WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp;
    proxy_temp_path $WORK/nginx/ptmp;
    keepalive_requests 1000000;
    upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host \$http_host;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
"${RUN[@]}" nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" &
export NGINX_PID=$!
PIDS+=($!)

cat >"$WORK/Caddyfile" <<EOF
{
    admin off
    auto_https off
}
http://:$CADDY_PORT {
    bind 127.0.0.1
    reverse_proxy 127.0.0.1:$BACKEND_PORT {
        transport http {
            keepalive_idle_conns_per_host 64
        }
    }
}
EOF
"${RUN[@]}" caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
export CADDY_PID=$!
PIDS+=($!)

"${RUN[@]}" "$BIN" proxy run --port "$PROXY_PORT" >"$WORK/proxy.log" 2>&1 &
export PROXY_PID=$!
PIDS+=($!)
wait_port "$NGINX_PORT"
wait_port "$CADDY_PORT"
# Not curl here: its request would load the route table before the
# "after start" memory figure is read.
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null && break
    sleep 0.05
done
sleep 0.5

export REPO_LABEL
REPO_LABEL=$("$BIN" -C "$REPO" --json proxy status 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
url = next(r["url"] for r in d["routes"] if r["shard"] == "a")
print(url.split("//")[1].split(".")[1])')
export ROUTE_HOST=a.$REPO_LABEL.localhost

echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r)"
echo "$(nginx -v 2>&1 | sed 's/.*: //'), caddy $(caddy version | cut -d' ' -f1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), shards $(git -C "$ROOT" rev-parse --short HEAD)"
echo "CPUs $CPUS"
python3 "$ROOT/bench/proxy_run.py"
