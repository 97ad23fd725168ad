#!/usr/bin/env bash
# Times `shards create` of a real Node project (a Vite + React app, its
# package-lock.json resolved from the npm registry) with `setup = "npm ci"`:
# until create returns with node_modules ready, from a spare against cold
# (`--no-spare`), interleaved (issue 19's second target: from a spare <=
# 0.02x cold). The fill's own cost is timed beside them.
#
#   sudo bash bench/spare_node.sh              # 5 interleaved rounds
#   RUNS=3 sudo bash bench/spare_node.sh
#   SKIP_BUILD=1 ...                           # use target/release/shards as it is
#   BIN=/path/to/shards sudo bash bench/spare_node.sh   # another build (implies SKIP_BUILD)
#
# The app is written here, shaped as `npm create vite -- --template react`
# makes it: package.json (react, react-dom; vite, its React plugin, eslint
# and its plugins, React's types), index.html, src/, vite.config.js, a
# .gitignore of node_modules; its lock file is made once by `npm install
# --package-lock-only` from the registry, all committed, then `.shards.toml`:
#   [hooks]  setup = "npm ci"
#   [spares] count = 1, key = ["package-lock.json"]
# and `shards trust`. npm's cache is a folder of the run (npm_config_cache,
# on the ext4 image), warmed by one `npm ci` before the timed rounds, and
# `prefer-offline` is on: both sides install from the same warm cache and
# neither waits on the network, so cold is npm ci's own work on this disk
# (a cold cache would make cold slower still). Each round, in rotated order
# after one warm-up round, with `sync` before each timed command:
#   cold   shards create --no-spare cN            (runs npm ci)
#   spare  shards spares fill, untimed as the create (timed as "the fill"
#          when it made a spare); then shards create sN, which must say
#          "from_spare": true
# after each, node_modules/.bin/vite must run (outside the time). A build
# whose create starts a background filler refills the spare right after
# the take: the bench waits for that filler before the next command
# (bench/spare_wait.py) and times it, from create's return to its exit, as
# "the refill"; the next round's fill then finds the spare made. Needs
# root, git, python3, node and npm, mkfs.ext4, the npm registry once.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/spare_node.sh mounts an ext4 image: run it as root" >&2; exit 1; }
command -v npm >/dev/null || { echo "bench/spare_node.sh needs node and npm" >&2; exit 1; }

if [ -z "${SKIP_BUILD:-}" ] && [ -z "${BIN:-}" ]; then
  echo "building (release)..." >&2
  cargo build --release --quiet
fi
BIN=${BIN:-$ROOT/target/release/shards}

WORK=$(mktemp -d /tmp/shards-bench-node.XXXXXX)
IMG=$WORK.img
MNT=$WORK/mnt
cleanup() { cd /; umount "$MNT" 2>/dev/null || true; rm -rf "$WORK" "$IMG"; }
trap cleanup EXIT
source bench/isolate.sh
isolate "$WORK"
mkdir -p "$MNT"
truncate -s 6G "$IMG"
mkfs.ext4 -q -F "$IMG"
mount -o loop "$IMG" "$MNT"
export SHARDS_HOME=$MNT/shards SHARDS_REGISTER=$MNT/register
export npm_config_cache=$MNT/npm-cache npm_config_prefer_offline=true
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false npm_config_loglevel=error

APP=$MNT/app
mkdir -p "$APP/src"
cat > "$APP/package.json" <<'EOF'
{
  "name": "spare-bench-app",
  "private": true,
  "version": "0.0.0",
  "type": "module",
  "scripts": { "dev": "vite", "build": "vite build", "preview": "vite preview" },
  "dependencies": { "react": "^19.0.0", "react-dom": "^19.0.0" },
  "devDependencies": {
    "vite": "^8.0.0", "@vitejs/plugin-react": "^6.0.0",
    "@types/react": "^19.0.0", "@types/react-dom": "^19.0.0",
    "eslint": "^9.0.0", "@eslint/js": "^9.0.0", "globals": "^16.0.0",
    "eslint-plugin-react-hooks": "^5.0.0", "eslint-plugin-react-refresh": "^0.4.0"
  }
}
EOF
cat > "$APP/vite.config.js" <<'EOF'
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
export default defineConfig({ plugins: [react()], server: { port: Number(process.env.PORT) || 5173 } })
EOF
cat > "$APP/index.html" <<'EOF'
<!doctype html>
<html><head><meta charset="UTF-8" /><title>spare bench</title></head>
<body><div id="root"></div><script type="module" src="/src/main.jsx"></script></body></html>
EOF
cat > "$APP/src/main.jsx" <<'EOF'
import { createRoot } from 'react-dom/client'
createRoot(document.getElementById('root')).render(<h1>Hello from a shard</h1>)
EOF
printf 'node_modules/\ndist/\n.env\n' > "$APP/.gitignore"
echo "resolving the lock file from the npm registry, warming npm's cache..." >&2
(cd "$APP" && npm install --package-lock-only >/dev/null && npm ci >/dev/null && rm -rf node_modules)
cat > "$APP/.shards.toml" <<'EOF'
[hooks]
setup = "npm ci"

[spares]
count = 1
key = ["package-lock.json"]
EOF
git -C "$APP" init -q -b main
git -C "$APP" add -A
git -C "$APP" -c gc.auto=0 commit -q -m "a Vite app"
(cd "$APP" && "$BIN" -q trust >/dev/null)
PACKAGES=$(cd "$APP" && node -e 'console.log(Object.keys(require("./package-lock.json").packages).length - 1)')
echo "$PACKAGES packages in the lock file; $RUNS rounds" >&2

BIN=$BIN APP=$APP RUNS=$RUNS PACKAGES=$PACKAGES python3 - <<'PY'
import json, os, statistics, subprocess, sys, time
sys.path.insert(0, "bench")
from spare_wait import fill_argv, wait_fillers

BIN, APP, RUNS = os.environ["BIN"], os.environ["APP"], int(os.environ["RUNS"])

def p90(t):
    s = sorted(t)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]

def create(args):
    res = subprocess.run([BIN, "--json", "create", *args], cwd=APP, check=True, capture_output=True, text=True)
    return json.loads(res.stdout)

def ready(doc):
    path = doc["shard"]["path"]
    subprocess.run([os.path.join(path, "node_modules/.bin/vite"), "--version"], cwd=path, check=True, stdout=subprocess.DEVNULL)

def timed(f):
    os.sync()
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out

names = ["cold (--no-spare, runs npm ci)", "from a spare", "the fill (`shards spares fill`, foreground)",
         "the refill (background filler, from create's return to its exit)"]
times = [[], [], [], []]
FILL = fill_argv(BIN)

def fill():
    res = subprocess.run([FILL[0], "--json"] + FILL[2:], cwd=APP, check=True, capture_output=True, text=True)
    return json.loads(res.stdout)["made"]

for i in range(RUNS + 1):  # round 0 warms up
    order = [0, 1] if i % 2 == 0 else [1, 0]
    this = {}
    for c in order:
        filled = refilled = None
        if c == 0:
            took, doc = timed(lambda: create(["--no-spare", f"c{i}"]))
            if doc["from_spare"]:
                sys.exit("a --no-spare create took a spare")
        else:
            filled, made = timed(fill)
            if not made:
                filled = None  # the last take's refill made it
            took, doc = timed(lambda: create([f"s{i}"]))
            if doc.get("from_spare") is not True:
                sys.exit(f"the create did not take the spare: {doc}")
            start = time.perf_counter()
            wait_fillers(BIN)
            refilled = time.perf_counter() - start
            if refilled < 0.05:
                refilled = None  # no background filler: an older build
        ready(doc)
        if i > 0:
            times[c].append(took)
            for k, v in ((2, filled), (3, refilled)):
                if v is not None:
                    times[k].append(v)
                    this[k] = v
    if i > 0:
        extra = "".join(f", {w} {this[k] * 1000:.0f} ms" for w, k in (("fill", 2), ("refill", 3)) if k in this)
        print(f"  round {i}/{RUNS}: cold {times[0][-1] * 1000:.0f} ms, from a spare {times[1][-1] * 1000:.0f} ms{extra}", file=sys.stderr)

cold = statistics.median(times[0])
print(f"\nVite app ({os.environ['PACKAGES']} packages), setup = \"npm ci\" (warm npm cache, prefer-offline), fresh ext4, {RUNS} interleaved rounds")
print("| until `create` returns, node_modules ready | median | p90 | vs cold |\n|---|---|---|---|")
for n, t in zip(names, times):
    if not t:
        continue
    m = statistics.median(t)
    print(f"| {n} | {m * 1000:.1f} ms | {p90(t) * 1000:.1f} ms | {'-' if t is times[0] else f'{m / cold:.3f}x'} |")
print(f"\ntarget: from a spare <= 0.02x cold: {statistics.median(times[1]) / cold:.3f}x")
PY
