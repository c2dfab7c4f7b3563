#!/bin/sh
# Debian's own libnbd tools, built against the real libnbd, run unchanged
# over fastnbd's libnbd.so.0 (LD_LIBRARY_PATH from meson points at it):
# nbdinfo output must equal the real library's, and nbdcopy must copy an
# image exactly, several times over (it keeps many requests in flight on
# several connections from its own event loop).
set -u
libdir=$1
for tool in nbdinfo nbdcopy nbdkit qemu-nbd qemu-img; do
  command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool missing"; exit 77; }
done
tmp=$(mktemp -d /tmp/fastnbd-tools.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

# Which library each run loads is checked, not assumed.
LD_LIBRARY_PATH=$libdir ldd "$(command -v nbdinfo)" | grep -q "$libdir/libnbd.so.0" \
  || { echo "FAIL: nbdinfo does not load $libdir/libnbd.so.0"; exit 1; }

server="nbdkit --filter=exportname memory 1M exportname=a exportname=b exportdesc=fixed:hello exportname-list=explicit"
env -u LD_LIBRARY_PATH nbdinfo --list -- [ $server ] >"$tmp/real.txt" 2>&1
LD_LIBRARY_PATH=$libdir nbdinfo --list -- [ $server ] >"$tmp/ours.txt" 2>&1
if cmp -s "$tmp/real.txt" "$tmp/ours.txt"; then
  echo "ok: nbdinfo --list output identical"
else
  echo "FAIL: nbdinfo --list differs:"; diff "$tmp/real.txt" "$tmp/ours.txt"; fail=1
fi

# A 16 MiB image with data and holes, copied from qemu-nbd to nbdkit.
qemu-img create -q -f raw "$tmp/src.img" 16M
dd if=/dev/urandom of="$tmp/src.img" bs=1M count=3 seek=2 conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$tmp/src.img" bs=64K count=5 seek=200 conv=notrunc 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do
  rm -f "$tmp/dst.img"; truncate -s 16M "$tmp/dst.img"
  if ! LD_LIBRARY_PATH=$libdir timeout 60 nbdcopy -- \
       [ qemu-nbd -f raw "$tmp/src.img" ] [ nbdkit file "$tmp/dst.img" ]; then
    echo "FAIL: nbdcopy run $i failed or hung"; fail=1; break
  fi
  cmp -s "$tmp/src.img" "$tmp/dst.img" || { echo "FAIL: copy $i differs"; fail=1; break; }
done
[ $fail = 0 ] && echo "ok: 10 nbdcopy runs, every copy identical"
exit $fail
