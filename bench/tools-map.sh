#!/bin/sh
# nbdinfo --map on a big, fragmented image: fastnbd's nbdinfo (tools/,
# over fastnbd) against Debian's nbdinfo (over the system libnbd 1.14),
# turn about on the same qemu-nbd server.
#
#   bench/tools-map.sh [BUILD-DIR [EXTENTS [ROUNDS]]]
#
# Builds a sparse 1 TiB qcow2 with EXTENTS (default 100000) allocated
# 64 KiB clusters spread evenly over it (so the map has 2 * EXTENTS
# lines), serves it read-only with qemu-nbd on a Unix socket, checks that
# both tools print the same map, then times ROUNDS (default 9) runs of
# each, in alternating order, and prints every round's wall and CPU
# seconds, their minimum, median and maximum, and the ratios round by
# round.
set -eu
build=${1:-build}
extents=${2:-100000}
rounds=${3:-9}
ours="$build/tools/nbdinfo"
theirs=/usr/bin/nbdinfo
tmp=$(mktemp -d /tmp/fastnbd-tools-map.XXXXXX)
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT

img="$tmp/big.qcow2"
raw="$tmp/big.raw"
step=$(( (1 << 40) / extents / 65536 * 65536 ))
echo "writing $extents clusters, one every $step bytes ..."
# A sparse raw file is written in a moment; qemu-img convert keeps its
# holes.  (qemu-io writing 100,000 clusters one by one takes minutes.)
python3 -c '
import sys
n, step = int(sys.argv[2]), int(sys.argv[3])
with open(sys.argv[1], "wb") as f:
    f.truncate(1 << 40)
    for i in range(n):
        f.seek(i * step)
        f.write(b"\1" * 65536)
' "$raw" "$extents" "$step"
qemu-img convert -f raw -O qcow2 "$raw" "$img"
rm -f "$raw"

sock="$tmp/sock"
qemu-nbd -r -t -f qcow2 -k "$sock" -e 4 "$img" &
server=$!
while [ ! -S "$sock" ]; do sleep 0.1; done
uri="nbd+unix:///?socket=$sock"

env -u LD_LIBRARY_PATH "$theirs" --map "$uri" > "$tmp/theirs.txt"
"$ours" --map "$uri" > "$tmp/ours.txt"
cmp "$tmp/theirs.txt" "$tmp/ours.txt"
echo "same map from both: $(wc -l < "$tmp/ours.txt") lines"

# Rounds alternate which tool goes first, so that neither always runs on
# a cache the other warmed.  Wall time is the whole process; CPU is the
# tool's own user + system time (the server's is not counted: it is the
# same qemu-nbd for both).
python3 - "$rounds" "$theirs" "$ours" "$uri" <<'PY'
import os, resource, statistics, subprocess, sys, time

rounds, theirs, ours, uri = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
env_theirs = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
tools = {"libnbd 1.14": ([theirs, "--map", uri], env_theirs),
         "fastnbd": ([ours, "--map", uri], dict(os.environ))}
times = {name: [] for name in tools}

def run(argv, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu

for r in range(rounds):
    order = list(tools) if r % 2 == 0 else list(reversed(tools))
    for name in order:
        times[name].append(run(*tools[name]))
    print("round %d: " % (r + 1) + ", ".join(
        "%s %.2f s wall %.2f s cpu" % (n, *times[n][-1]) for n in tools))

def spread(values):
    return "%.2f / %.2f / %.2f" % (min(values), statistics.median(values), max(values))

print("min / median / max over %d rounds:" % rounds)
for name in tools:
    print("  %-12s wall %s s, cpu %s s" % (name, spread([t[0] for t in times[name]]),
                                           spread([t[1] for t in times[name]])))
for i, what in enumerate(["wall", "cpu"]):
    ratios = [o[i] / t[i] for o, t in zip(times["fastnbd"], times["libnbd 1.14"])]
    print("  fastnbd / libnbd 1.14, %s, round by round: %s (median %.2f)" %
          (what, " ".join("%.2f" % x for x in ratios), statistics.median(ratios)))
PY
