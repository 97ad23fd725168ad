# Sourced by the bench scripts: `make_repo DIR FILES` makes a repository of
# FILES small files (20 top folders, 10 sub-folders each), one commit on
# `main`, packed, with no background auto-gc.
make_repo() {
  python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root)
for i in range(n):
    # 20 top folders, 10 sub-folders each, files spread evenly.
    d = os.path.join(root, f"pkg{i % 20:02d}", f"mod{(i // 20) % 10}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file{i:05d}.txt"), "w") as f:
        f.write(f"line {i}\n" * 8)
PY
  git -C "$1" init -q -b main
  git -C "$1" add -A
  # No background auto-gc (it would delete loose objects while a case
  # copies the repository): pack once, now.
  git -C "$1" -c gc.auto=0 commit -q -m init
  git -C "$1" repack -adq
}
