#!/bin/bash
# nbdcopy --blkhash: the published test vectors, holes against written
# zeroes, sizes that are not a multiple of the block size, streams, many
# connections out of order, and the exact form of --blkhash-file, in
# both copy engines.
# Usage: blkhash.sh NBDCOPY LIBDIR
set -u
NBDCOPY=$1
export LD_LIBRARY_PATH=$2
HERE=$(cd "$(dirname "$0")" && pwd)
REFHASH="python3 $HERE/blkhash-ref.py"
for prog in nbdkit python3 cmp; do
  command -v $prog >/dev/null || { echo "SKIP: no $prog"; exit 77; }
done

T=$(mktemp -d /tmp/nbdcopy-blkhash.XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
fail () { echo "FAIL: $*"; failures=$((failures + 1)); }
pass () { echo "ok: $*"; }

# same WHAT EXPECTED ACTUAL
same () {
  [ "$2" = "$3" ] && pass "$1" || fail "$1: got '$3', expected '$2'"
}

# hash_of ARGS...: the digest nbdcopy writes into --blkhash-file.
hash_of () {
  rm -f "$T/hash"
  "$NBDCOPY" --blkhash-file="$T/hash" "$@" 2>"$T/err" ||
    { echo "exit $? ($(head -c 200 "$T/err"))"; return; }
  cat "$T/hash"
}

# Test vectors of libnbd 1.24's nbdcopy test suite (copy-blkhash-known.sh
# and copy-blkhash-pattern.sh), which were cross-checked there against
# the blkhash project's reference implementation: nbdkit data or
# pattern images and their digests.
vectors=(
  ''                              sha256
  af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc
  '"hello"'                       md5      f741ac9ce55f5325906bb14e9c05d467
  '"hello"'                       sha256
  337355feb53a5309d5aba92796223c2c84ffab930e706c01fef573a2722545e6
  '"hello"'                       sha512
  eca04a593cf12ec4132993da709048e25a2f1be3526e132fb521ec9d41f023ec4018b3fd07b014a33e36bb5fa145b36991f431e62f9e1a93bebea6c9565682c1
  '"hello"'                       md5/4    8262896de34125dec173722c920e8bd0
  '"hello" @1048576 "goodbye"'    sha256
  61b8f3a8cea76e16eeff7ce27f1b7711c1f1e437f5038cec17773772a4bded28
  '"12345678"*512*256'            md5      84fc21ac2f49ac283ff399378d834d1a
  '"12345678"*512*256'            sha256
  cbb388edd25e567b85f504c7b345497f9fb4f6bbf4e39768809184b9f9e678f8
  '"12345678"*512*256'            sha512/512k
  379f7eb1628058c7abbc4c96941ac972074815ea9ef4aca95eefb2b4f9c29f64023fff8d966e9fddf08d07bdba548e75298917f10268fdf9ba636c2321a2214e
)
for mode in "" "--synchronous"; do
  m=${mode:-async}
  for ((i = 0; i < ${#vectors[@]}; i += 3)); do
    data=${vectors[i]} digest=${vectors[i + 1]} expected=${vectors[i + 2]}
    got=$(hash_of $mode --blkhash="$digest" -- \
            [ nbdkit data "$data" ] null:)
    same "$m vector data '$data' $digest" "$expected" "$got"
  done
  got=$(hash_of $mode --blkhash -- [ nbdkit pattern 1G ] null:)
  same "$m vector pattern 1G sha256" \
    6750a1c3d78e46eaffb0d094624825dea88f0c7098b2424fce776c0748442649 "$got"
done
got=$(hash_of --blkhash=sha512/512k -- [ nbdkit pattern 1G ] null:)
same "vector pattern 1G sha512/512k" \
  aef2905a223b2b9b565374ce9671bcb434fc944b0a108c8b5b98769d830b6c61b9567de177791a092514675c3a3e0740758c6a5a171ae71d844c60315f07e334 \
  "$got"

# The same bytes once with holes and once with every zero written: a
# size that is not a multiple of the block size, data runs that start
# and end inside blocks, and whole zero blocks inside data.
python3 - "$T/holes.img" "$T/zeroes.img" <<'EOF'
import os, random, sys
size = 5 * 1024 * 1024 + 4097
rng = random.Random(12)
runs = [(0, 1000), (70000, 200000), (65536 * 10, 65536), (3000000, 12345),
        (size - 777, 777)]
with open(sys.argv[1], "wb") as holes, open(sys.argv[2], "wb") as full:
    holes.truncate(size)
    full.write(b"\0" * size)
    for off, n in runs:
        data = bytes(rng.randrange(256) for _ in range(n))
        # A whole zero block inside a data run.
        if n > 140000:
            data = data[:65536] + b"\0" * 65536 + data[131072:]
        for f in (holes, full):
            f.seek(off)
            f.write(data)
EOF
cmp -s "$T/holes.img" "$T/zeroes.img" || fail "test images differ"
[ "$(stat -c %b "$T/holes.img")" -lt "$(stat -c %b "$T/zeroes.img")" ] \
  || fail "holes.img is not sparse"
for spec in sha256 md5/4k sha1/100000 sha512/1M; do
  digest=${spec%/*} bs=65536
  case $spec in
    */4k) bs=4096 ;; */100000) bs=100000 ;; */1M) bs=1048576 ;;
  esac
  expected=$($REFHASH "$digest" "$bs" "$T/zeroes.img")
  for mode in "" "--synchronous"; do
    m=${mode:-async}
    same "$m $spec sparse file" "$expected" \
      "$(hash_of $mode --blkhash="$spec" -- "$T/holes.img" null:)"
    same "$m $spec file of written zeroes" "$expected" \
      "$(hash_of $mode --blkhash="$spec" -- "$T/zeroes.img" null:)"
    same "$m $spec nbdkit file, holes as extents" "$expected" \
      "$(hash_of $mode --blkhash="$spec" -- [ nbdkit file "$T/holes.img" ] \
           null:)"
    same "$m $spec stream" "$expected" \
      "$(hash_of $mode --blkhash="$spec" -- - null: <"$T/holes.img")"
    rm -f "$T/out.img"
    same "$m $spec while copying to a file" "$expected" \
      "$(hash_of $mode --blkhash="$spec" -- "$T/holes.img" "$T/out.img")"
    cmp -s "$T/holes.img" "$T/out.img" || fail "$m $spec: copy differs"
  done
done

# An image much larger than what one connection has in flight, copied
# over 4 connections and with small requests, so that pieces arrive far
# out of order.  sparse-random has data and holes.
nbdkit -U - sparse-random 300M seed=3 --run "$NBDCOPY \"\$uri\" $T/sr.img"
expected=$($REFHASH sha256 65536 "$T/sr.img")
nbdkit -U "$T/sr.sock" -f -P "$T/sr.pid" file "$T/sr.img" &
for _ in $(seq 100); do [ -s "$T/sr.pid" ] && break; sleep 0.05; done
same "4 connections, 64k requests, out of order" "$expected" \
  "$(hash_of --blkhash -C 4 -T 4 --request-size=64k \
       "nbd+unix:///?socket=$T/sr.sock" null:)"
same "4 connections, requests smaller than the block" \
  "$($REFHASH sha256 1048576 "$T/sr.img")" \
  "$(hash_of --blkhash=sha256/1M -C 4 -T 4 --request-size=4k \
       "nbd+unix:///?socket=$T/sr.sock" null:)"
kill "$(cat "$T/sr.pid")"

# --blkhash-file holds exactly the digest and a newline; without it the
# same line goes to stdout.
expected=$($REFHASH sha256 65536 "$T/zeroes.img")
rm -f "$T/hash"
"$NBDCOPY" --blkhash --blkhash-file="$T/hash" "$T/holes.img" null: \
  >"$T/stdout" || fail "--blkhash-file: exit $?"
printf '%s\n' "$expected" >"$T/want"
cmp -s "$T/want" "$T/hash" && pass "--blkhash-file is the digest and \\n" \
  || fail "--blkhash-file: $(od -c "$T/hash" | head -3)"
[ -s "$T/stdout" ] && fail "--blkhash-file also printed on stdout" \
  || pass "--blkhash-file leaves stdout alone"
"$NBDCOPY" --blkhash "$T/holes.img" null: >"$T/stdout" \
  || fail "--blkhash: exit $?"
cmp -s "$T/want" "$T/stdout" && pass "--blkhash prints the digest on stdout" \
  || fail "--blkhash stdout: $(od -c "$T/stdout" | head -3)"

# Bad arguments fail before anything is copied.
for bad in sha3 md5/0 sha256/x ''; do
  rm -f "$T/out.img"
  "$NBDCOPY" --blkhash="$bad" "$T/holes.img" "$T/out.img" 2>"$T/err"
  st=$?
  if [ $st -eq 1 ] && [ ! -e "$T/out.img" ] && [ -s "$T/err" ]; then
    pass "--blkhash='$bad' fails with exit 1 and a message"
  else
    fail "--blkhash='$bad': exit $st, $(head -c 200 "$T/err")"
  fi
done

echo "failures: $failures"
[ $failures -eq 0 ]
