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
# both tools print the same map, then times ROUNDS (default 5) runs of
# each and prints every time and the medians.
set -eu
build=${1:-build}
extents=${2:-100000}
rounds=${3:-5}
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

now() { date +%s.%N; }
: > "$tmp/t-ours"; : > "$tmp/t-theirs"
for i in $(seq "$rounds"); do
  t0=$(now); env -u LD_LIBRARY_PATH "$theirs" --map "$uri" >/dev/null; t1=$(now)
  "$ours" --map "$uri" >/dev/null; t2=$(now)
  echo "$t1 - $t0" | bc >> "$tmp/t-theirs"
  echo "$t2 - $t1" | bc >> "$tmp/t-ours"
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "libnbd 1.14 nbdinfo --map (s):" $(cat "$tmp/t-theirs")
echo "fastnbd nbdinfo --map (s):    " $(cat "$tmp/t-ours")
echo "median: libnbd 1.14 $(median "$tmp/t-theirs") s, fastnbd $(median "$tmp/t-ours") s"
