#!/bin/bash
# nbdcopy against real servers: every kind of source and destination,
# compared byte for byte with cmp, in both copy engines (the default
# multi-request one and --synchronous).
# Usage: copy.sh NBDCOPY LIBDIR
set -u
NBDCOPY=$1
export LD_LIBRARY_PATH=$2
HERE=$(cd "$(dirname "$0")" && pwd)
FAKESRV=$HERE/../fakesrv/fakesrv.py
for prog in nbdkit qemu-nbd python3 cmp; do
  command -v $prog >/dev/null || { echo "SKIP: no $prog"; exit 77; }
done

T=$(mktemp -d /tmp/nbdcopy-test.XXXXXX)
PIDS=()
cleanup () {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
failures=0
fail () { echo "FAIL: $*"; failures=$((failures + 1)); }
pass () { echo "ok: $*"; }

REF=$T/ref.img
python3 "$HERE/make-image.py" "$REF"
SIZE=$(stat -c %s "$REF")

# A destination file full of 0xff, so that a hole the copy fails to
# zero shows up in cmp.
garbage () {
  python3 -c "import sys; open(sys.argv[1],'wb').write(b'\xff'*int(sys.argv[2]))" "$1" "$2"
}

# Background nbdkit on a Unix socket, for URIs and multi-conn.
serve () {   # serve NAME ARGS...: sets URI
  local name=$1; shift
  nbdkit -U "$T/$name.sock" -P "$T/$name.pid" -f "$@" 2>>"$T/nbdkit.log" &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$T/$name.pid" ] && break; sleep 0.05; done
  URI="nbd+unix:///?socket=$T/$name.sock"
}

copy_ok () {   # copy_ok DESCRIPTION EXPECTED RESULT NBDCOPY-ARGS...
  local what=$1 expected=$2 result=$3 st; shift 3
  "$NBDCOPY" "$@" 2>"$T/err"; st=$?
  if [ $st -ne 0 ]; then
    fail "$what: exit status $st ($(head -c 300 "$T/err"))"
  elif ! cmp -s "$expected" "$result"; then
    fail "$what: content differs ($(cmp "$expected" "$result" 2>&1 | head -1))"
  else
    pass "$what"
  fi
}

for mode in "" "--synchronous"; do
  m=${mode:-async}
  rm -f "$T/out.img"
  copy_ok "$m file -> file" "$REF" "$T/out.img" $mode -- "$REF" "$T/out.img"
  blocks=$(stat -c %b "$T/out.img")
  [ "$blocks" -lt $((SIZE / 512 * 3 / 4)) ] \
    && pass "$m file -> file stays sparse" \
    || fail "$m file -> file not sparse ($blocks blocks)"

  # An existing longer file full of old bytes: holes of the source must
  # read as zeroes afterwards, and the length must be the source's.
  garbage "$T/out.img" $((SIZE + 12345))
  copy_ok "$m file -> file of old data" "$REF" "$T/out.img" \
    $mode -- "$REF" "$T/out.img"

  copy_ok "$m subprocess -> file" "$REF" "$T/out.img" \
    $mode -- [ nbdkit file "$REF" ] "$T/out.img"

  serve src file "$REF"
  copy_ok "$m URI -C 4 -> file" "$REF" "$T/out.img" \
    $mode -C 4 -T 4 -- "$URI" "$T/out.img"
  copy_ok "$m URI --no-extents -> file" "$REF" "$T/out.img" \
    $mode --no-extents -- "$URI" "$T/out.img"

  garbage "$T/dst.img" "$SIZE"
  copy_ok "$m file -> subprocess (holes zeroed)" "$REF" "$T/dst.img" \
    $mode -- "$REF" [ nbdkit file "$T/dst.img" ]

  garbage "$T/dst.img" "$SIZE"
  serve dst file "$T/dst.img"
  copy_ok "$m URI -> URI -C 4 (holes zeroed)" "$REF" "$T/dst.img" \
    $mode -C 4 -T 4 -- "nbd+unix:///?socket=$T/src.sock" "$URI"

  garbage "$T/dst.img" "$SIZE"
  copy_ok "$m qemu-nbd -> qemu-nbd" "$REF" "$T/dst.img" \
    $mode -- [ qemu-nbd -f raw -r "$REF" ] [ qemu-nbd -f raw "$T/dst.img" ]

  garbage "$T/dst.img" "$SIZE"
  copy_ok "$m --request-size=65536 -R 3 -S 0 odd size" "$REF" "$T/dst.img" \
    $mode --request-size=65536 -R 3 -S 0 -- "$REF" [ nbdkit file "$T/dst.img" ]

  copy_ok "$m --allocated --flush -> file" "$REF" "$T/out.img" \
    $mode --allocated --flush -- [ nbdkit file "$REF" ] "$T/out.img"
  blocks=$(stat -c %b "$T/out.img")
  [ "$blocks" -ge $((SIZE / 512)) ] && pass "$m --allocated allocates" \
    || fail "$m --allocated left holes ($blocks blocks)"

  "$NBDCOPY" $mode -- "$REF" - > "$T/stdout.img" 2>"$T/err" \
    && cmp -s "$REF" "$T/stdout.img" && pass "$m file -> stdout" \
    || fail "$m file -> stdout: $(cat "$T/err")"
  "$NBDCOPY" $mode -- [ nbdkit file "$REF" ] - 2>"$T/err" | cat > "$T/pipe.img"
  cmp -s "$REF" "$T/pipe.img" && pass "$m subprocess -> pipe" \
    || fail "$m subprocess -> pipe: $(cat "$T/err")"
  rm -f "$T/out.img"
  cat "$REF" | "$NBDCOPY" $mode -- - "$T/out.img" 2>"$T/err" \
    && cmp -s "$REF" "$T/out.img" && pass "$m stdin -> file" \
    || fail "$m stdin -> file: $(cat "$T/err")"
  garbage "$T/dst.img" "$SIZE"
  cat "$REF" | "$NBDCOPY" $mode -- - [ nbdkit file "$T/dst.img" ] 2>"$T/err" \
    && cmp -s "$REF" "$T/dst.img" && pass "$m stdin -> subprocess" \
    || fail "$m stdin -> subprocess: $(cat "$T/err")"
  "$NBDCOPY" $mode -- [ nbdkit file "$REF" ] null: 2>"$T/err" \
    && pass "$m -> null:" || fail "$m -> null: $(cat "$T/err")"

  # Zeroes a server reports as holes, and random data with holes.
  env -u LD_LIBRARY_PATH /usr/bin/nbdcopy -- [ nbdkit sparse-random 64M seed=7 ] "$T/sr-ref.img"
  copy_ok "$m sparse-random -> file" "$T/sr-ref.img" "$T/out.img" \
    $mode -- [ nbdkit sparse-random 64M seed=7 ] "$T/out.img"
  garbage "$T/dst.img" $((64 * 1024 * 1024))
  copy_ok "$m sparse-random -> file via nbdkit" "$T/sr-ref.img" "$T/dst.img" \
    $mode -- [ nbdkit sparse-random 64M seed=7 ] [ nbdkit file "$T/dst.img" ]
  "$NBDCOPY" $mode -- [ nbdkit pattern 3M ] "$T/out.img"
  env -u LD_LIBRARY_PATH /usr/bin/nbdcopy -- [ nbdkit pattern 3M ] "$T/pat-ref.img"
  cmp -s "$T/pat-ref.img" "$T/out.img" && pass "$m pattern same as Debian" \
    || fail "$m pattern differs from Debian's copy"

  # --destination-is-zero skips the holes: a garbage destination keeps
  # its garbage there, which shows the holes were really not written.
  garbage "$T/dst.img" "$SIZE"
  "$NBDCOPY" $mode --destination-is-zero -- "$REF" [ nbdkit file "$T/dst.img" ]
  python3 - "$REF" "$T/dst.img" <<'PY' && pass "$m --destination-is-zero" || fail "$m --destination-is-zero"
import sys
ref = open(sys.argv[1], 'rb').read(); dst = open(sys.argv[2], 'rb').read()
M = 1024 * 1024
assert ref[:M] == dst[:M], "data"
assert dst[M + 10] == 0xff, "a hole was written"
PY

  # nbdkit memory as destination and then as source, with the long
  # forms of the tuning options.
  serve mem memory "$SIZE"
  "$NBDCOPY" $mode --connections=2 --threads=2 --requests=5 \
    --queue-size=1M --target-is-zero -- "$REF" "$URI" 2>"$T/err" \
    || fail "$m file -> memory: $(cat "$T/err")"
  copy_ok "$m file -> memory -> file" "$REF" "$T/out.img" \
    $mode -- "$URI" "$T/out.img"

  # A block device (a loop device, where the test may make one) as
  # destination and as source; it is larger than the source (whole
  # sectors), so only the source's length is compared.
  rounded=$(( (SIZE + 4095) / 4096 * 4096 ))
  truncate -s "$rounded" "$T/loop.img"
  if LOOP=$(losetup -f --show "$T/loop.img" 2>/dev/null); then
    garbage "$T/dst.img" "$rounded"
    if "$NBDCOPY" $mode -- "$REF" "$LOOP" 2>"$T/err" &&
       "$NBDCOPY" $mode -- "$LOOP" [ nbdkit file "$T/dst.img" ] 2>>"$T/err" &&
       cmp -s -n "$SIZE" "$REF" "$T/dst.img"; then
      pass "$m file -> block device -> nbdkit"
    else
      fail "$m block device: $(cat "$T/err")"
    fi
    losetup -d "$LOOP"
  else
    echo "skip: $m block device (no loop device)"
  fi

  # More than 4 GiB, mostly holes, with data across the 4 GiB line.
  big_spec='@4294967290 1 2 3 4 5 6 7 8 9 10 11 12 @6000 "head" '
  rm -f "$T/big.img"
  copy_ok "$m 5 GiB with data at 4 GiB" /dev/null /dev/null \
    $mode -- [ nbdkit data "$big_spec" size=5G ] "$T/big.img"
  python3 - "$T/big.img" <<'PY' && pass "$m > 4 GiB content" || fail "$m > 4 GiB content"
import sys, os
f = open(sys.argv[1], 'rb')
assert os.fstat(f.fileno()).st_size == 5 << 30
f.seek(4294967290); assert f.read(14) == bytes(range(1, 13)) + b'\0\0'
f.seek(5998); assert f.read(8) == b'\0\0head\0\0'
PY
  kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; PIDS=()
  rm -f "$T"/*.sock "$T"/*.pid
done

# A read failing in the middle stops the copy: non-zero exit and a
# one-line error naming the offset.
FAILAT=3145728
readfail="if [ \$4 -ge $FAILAT ]; then echo 'EIO injected' >&2; exit 1; fi; tail -c +\$((\$4 + 1)) $REF | head -c \$3"
for mode in "" "--synchronous"; do
  m=${mode:-async}
  rm -f "$T/out.img"
  "$NBDCOPY" $mode -- [ nbdkit eval get_size="echo $SIZE" pread="$readfail" ] \
    "$T/out.img" 2>"$T/err"
  st=$?
  if [ $st -ne 0 ] && grep -qE '^nbdcopy: read at offset [0-9]+ failed' "$T/err"; then
    off=$(grep -oE 'read at offset [0-9]+' "$T/err" | head -1 | grep -oE '[0-9]+$')
    [ "$off" -ge $FAILAT ] && pass "$m read error at $off" \
      || fail "$m read error names offset $off below $FAILAT"
  else
    fail "$m read error: status $st, $(cat "$T/err")"
  fi
  # The server dying in the middle: the same, never a short copy.
  dies="if [ \$4 -ge $FAILAT ]; then kill -9 \$PPID; sleep 1; exit 1; fi; head -c \$3 /dev/zero"
  "$NBDCOPY" $mode -- [ nbdkit eval get_size="echo $SIZE" pread="$dies" ] \
    "$T/out.img" 2>"$T/err"
  st=$?
  [ $st -ne 0 ] && grep -qE '^nbdcopy: read at offset [0-9]+ failed' "$T/err" \
    && pass "$m server dies" || fail "$m server dies: status $st, $(cat "$T/err")"
  writefail="if [ \$4 -ge 2097152 ]; then echo 'EIO injected' >&2; exit 1; fi; cat >/dev/null"
  "$NBDCOPY" $mode -- [ nbdkit pattern 8M ] \
    [ nbdkit eval get_size='echo 8388608' pwrite="$writefail" can_write='exit 0' ] \
    2>"$T/err"
  st=$?
  [ $st -ne 0 ] && grep -qE '^nbdcopy: (write|zero) at offset [0-9]+ failed' "$T/err" \
    && pass "$m write error" || fail "$m write error: status $st, $(cat "$T/err")"
  "$NBDCOPY" $mode -- [ nbdkit --filter=error pattern 8M error-pread-rate=1 ] null: 2>"$T/err"
  st=$?
  [ $st -ne 0 ] && grep -q 'read at offset' "$T/err" && pass "$m error filter read" \
    || fail "$m error filter read: $st $(cat "$T/err")"
  "$NBDCOPY" $mode -- [ nbdkit pattern 8M ] [ nbdkit --filter=error memory 8M error-pwrite-rate=1 ] 2>"$T/err"
  st=$?
  [ $st -ne 0 ] && grep -q 'write at offset' "$T/err" && pass "$m error filter write" \
    || fail "$m error filter write: $st $(cat "$T/err")"

  # The scripted server fails one command (or dies inside its reply):
  # the message names exactly the offset of the command its log shows
  # failing.
  for fault in "src error-reply" "src close-mid-payload" "dst error-reply"; do
    set -- $fault
    rm -f "$T/fake.log"
    fake="python3 $FAKESRV --export ::16M --fault $2 --fault-at 5 --log $T/fake.log"
    if [ "$1" = src ]; then
      "$NBDCOPY" $mode --no-extents -- [ $fake --pattern ] null: 2>"$T/err"
      st=$? what=read
    else
      "$NBDCOPY" $mode -- [ nbdkit pattern 16M ] [ $fake ] 2>"$T/err"
      st=$? what=write
    fi
    want=$(grep -B1 '^FAULT' "$T/fake.log" | grep -oE 'offset=[0-9]+' | cut -d= -f2)
    [ $st -ne 0 ] && [ -n "$want" ] &&
      grep -qE "^nbdcopy: $what at offset $want failed" "$T/err" \
      && pass "$m scripted server $fault names offset $want" \
      || fail "$m scripted server $fault: status $st, want offset '$want', $(cat "$T/err")"
  done
done

# A destination smaller than the source: an error before any write, in
# both engines.
garbage "$T/small.img" 1048576
cp "$T/small.img" "$T/small.orig"
for mode in "" "--synchronous"; do
  m=${mode:-async}
  "$NBDCOPY" $mode -- "$REF" [ nbdkit file "$T/small.img" ] 2>"$T/err"
  st=$?
  [ $st -eq 1 ] && grep -q 'destination size is smaller than source size' "$T/err" \
    && cmp -s "$T/small.img" "$T/small.orig" && pass "$m smaller destination" \
    || fail "$m smaller destination: $st $(cat "$T/err")"
done

# --progress=FD: only "N/100" lines, never decreasing, ending at 100/100,
# as Debian's nbdcopy writes them.
for prog in "$NBDCOPY" "env -u LD_LIBRARY_PATH /usr/bin/nbdcopy"; do
  $prog --progress=3 -- [ nbdkit pattern 32M ] null: 3>"$T/progress" \
    || fail "progress copy with $prog"
  python3 - "$T/progress" <<'PY' && pass "--progress=FD ($prog)" || fail "--progress=FD ($prog): $(tr '\n' ' ' < "$T/progress")"
import re, sys
lines = open(sys.argv[1]).read().split('\n')
assert lines[-1] == '' and len(lines) >= 2
values = []
for l in lines[:-1]:
    assert re.fullmatch(r'[0-9]+/100', l), l
    values.append(int(l.split('/')[0]))
assert values == sorted(values) and values[-1] == 100
PY
done
# -p without a terminal: no escape sequences, and the copy still works.
"$NBDCOPY" -p -- [ nbdkit pattern 8M ] null: 2>"$T/err"
st=$?
[ $st -eq 0 ] && ! grep -q $'\033' "$T/err" && grep -q '100%' "$T/err" \
  && pass "-p without a terminal" || fail "-p: $st $(od -c "$T/err" | head -3)"

# -p on a terminal: one line redrawn in place (carriage return, erase to
# the end of the line), with the percent, bytes copied of the total,
# the rate and the time left.  One connection with one 1M request at a
# time makes the copy take 64 x 20 ms whatever the build's speed, well
# past the 0.2 s between redraws.
if command -v script >/dev/null; then
  script -qec "$NBDCOPY -p -C 1 -R 1 --request-size=1M -- [ nbdkit --filter=delay pattern 64M rdelay=20ms ] null:" \
    /dev/null > "$T/tty" 2>&1
  python3 - "$T/tty" <<'PY' && pass "-p on a terminal" || fail "-p on a terminal: $(od -c "$T/tty" | head -4)"
import re, sys
out = open(sys.argv[1], 'rb').read().decode()
assert '\n' not in out.rstrip('\r\n'), "more than one line"
frames = [f for f in out.split('\r') if f.strip()]
assert len(frames) >= 2, frames
assert all(f.rstrip('\r\n').endswith('\033[K') for f in frames), frames
assert re.search(r'\d+% copied \S+ of 64\.0M, skipped \S+, \S+/s, \d+:\d\d left', out), out
assert frames[-1].startswith('100% copied 64.0M of 64.0M'), frames[-1]
PY
fi

# Options and exit codes as Debian's nbdcopy 1.14 has them.
DEB="env -u LD_LIBRARY_PATH /usr/bin/nbdcopy"
for args in "" "onlyone" "--no-such-option a b" "-C 0 a b" "a b c" \
            "--help" "--request-size=100 a b"; do
  "$NBDCOPY" $args >/dev/null 2>&1; ours=$?
  $DEB $args >/dev/null 2>&1; theirs=$?
  [ $ours -eq $theirs ] && pass "exit $ours for '$args'" \
    || fail "exit $ours for '$args', Debian's $theirs"
done
$DEB --long-options | while read -r opt; do
  "$NBDCOPY" --long-options | grep -qx -- "$opt" || echo "missing $opt"
done > "$T/missing"
[ -s "$T/missing" ] && fail "long options: $(cat "$T/missing")" || pass "--long-options"
[ "$("$NBDCOPY" --short-options)" = "$($DEB --short-options)" ] \
  && pass "--short-options" || fail "--short-options"
"$NBDCOPY" --version | head -1 | grep -qE '^nbdcopy [0-9]' \
  && "$NBDCOPY" --version | sed -n 2p | grep -qE '^libnbd [0-9]' \
  && pass "--version" || fail "--version"
"$NBDCOPY" -v -- [ nbdkit pattern 1M ] null: 2>&1 | grep -q 'src: size=1048576' \
  && pass "-v sizes" || fail "-v sizes"

# A source file that shrinks during the copy (it is read through a
# mapping, where that is a SIGBUS) ends the copy with an error, not a
# crash.  The delay filter keeps the copy running for seconds.
python3 -c "import os; open('$T/shrink.img','wb').write(os.urandom(16 << 20))"
"$NBDCOPY" -C 1 --request-size=64k -- "$T/shrink.img" \
  [ nbdkit --filter=delay memory 16M wdelay=100ms ] 2>"$T/err" &
copier=$!
sleep 1
truncate -s 1M "$T/shrink.img"
wait $copier; st=$?
if [ $st -eq 1 ] && grep -q "source file shrank" "$T/err"; then
  pass "a source file shrinking during the copy is an error"
else
  fail "shrinking source: exit $st, $(head -c 300 "$T/err")"
fi

echo "$failures failures"
[ $failures -eq 0 ]
