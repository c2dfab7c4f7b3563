#!/bin/bash
# Self-test for fakesrv.py, driven by the real libnbd tools (nbdinfo and the
# python "nbd" module) plus extclient.py for extended headers.
# Prints one PASS/FAIL line per check, then "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
SRV=$here/fakesrv.py
PY=${PYTHON:-/usr/bin/python3}        # needs the python3-libnbd module
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

result() {   # result NAME STATUS OUTPUT
    if [ "$2" -eq 0 ]; then
        pass=$((pass + 1)); echo "PASS: $1"
    else
        fail=$((fail + 1)); echo "FAIL: $1"; printf '%s\n' "$3" | sed 's/^/    /'
    fi
}

# sh NAME 'shell code'       -- passes if the code exits 0
sh_check() {
    local out st
    out=$(cd "$tmp" && S=$SRV timeout 60 bash -c "set -e; $2" 2>&1); st=$?
    result "$1" $st "$out"
}

# py NAME <<'EOF' ... EOF    -- python snippet; S, T, srv(), fails() predefined
read -r -d '' PRELUDE <<'EOF'
import nbd, sys, os, json, struct
S, T = sys.argv[1], sys.argv[2]
LOG = os.path.join(T, 'srv.log')
def srv(*args):
    return [S, '--log', LOG] + list(args)
def log_lines():
    with open(LOG) as f:
        return f.read().splitlines()
def fails(fn, *texts):
    """fn() must raise nbd.Error whose message contains every text."""
    try:
        fn()
    except nbd.Error as e:
        for t in texts:
            assert t in str(e), 'expected %r in %r' % (t, str(e))
        return str(e)
    raise AssertionError('no error raised')
def debug_handle():
    h = nbd.NBD()
    h.msgs = []
    h.set_debug_callback(lambda ctx, m: h.msgs.append(m))
    h.set_debug(True)
    return h
EOF
py_check() {
    local out st
    rm -f "$tmp/srv.log"
    out=$({ printf '%s\n' "$PRELUDE"; cat; } | timeout 60 "$PY" - "$SRV" "$tmp" 2>&1); st=$?
    result "$1" $st "$out"
}

# ------------------------------------------------------------ handshake

sh_check "nbdinfo --list shows exports and descriptions" '
out=$(nbdinfo --list -- [ $S --export "a:Alpha disk:2M" --export b --export "c::4096" ])
echo "$out" | grep -q "^export=\"a\":"
echo "$out" | grep -q "description: Alpha disk"
echo "$out" | grep -q "export-size: 2097152"
echo "$out" | grep -q "^export=\"b\":"
echo "$out" | grep -q "export-size: 4096"
[ $(echo "$out" | grep -c description) = 1 ]'

sh_check "nbdinfo --json: flags, size, contexts" '
nbdinfo --json -- [ $S --read-only --rotational --meta-context base:allocation --meta-context x-test:one ] > j
'"$PY"' -c "
import json; j = json.load(open(\"j\")); e = j[\"exports\"][0]
assert j[\"protocol\"] == \"newstyle-fixed\" and j[\"structured\"], j
assert e[\"export-size\"] == 1048576 and e[\"is_read_only\"] and e[\"is_rotational\"], e
assert e[\"can_df\"] and e[\"can_multi_conn\"] and e[\"can_fast_zero\"] and e[\"can_cache\"], e
assert e[\"contexts\"] == [\"base:allocation\", \"x-test:one\"], e
assert (e[\"block_size_minimum\"], e[\"block_size_preferred\"], e[\"block_size_maximum\"]) == (1, 4096, 32 << 20)
"'

sh_check "--block-size is advertised" '
nbdinfo --json -- [ $S --block-size 512:65536:1048576 ] | grep -q "\"block_size_preferred\": 65536"'

sh_check "oldstyle handshake" '
nbdinfo --json -- [ $S --oldstyle --export "::8192" ] > j
grep -q "\"protocol\": \"oldstyle\"" j && grep -q "\"export-size\": 8192" j'

sh_check "non-fixed newstyle handshake" '
nbdinfo --json -- [ $S --no-fixed ] | grep -q "\"protocol\": \"newstyle\""'

py_check "EXPORT_NAME fallback when GO and INFO are refused (with zeroes)" <<'EOF'
h = nbd.NBD()
h.set_export_name('disk')
h.connect_command(srv('--pattern', '--no-no-zeroes', '--export', 'disk::65536',
                      '--refuse', 'GO=UNSUP', '--refuse', 'INFO=UNSUP'))
assert h.get_size() == 65536
assert h.pread(8, 4096) == struct.pack('>Q', 4096)
h.shutdown()
assert 'OPT EXPORT_NAME name="disk"' in log_lines()
EOF

py_check "EXPORT_NAME fallback logs the option" <<'EOF'
h = nbd.NBD()
h.set_export_name('disk')
h.connect_command(srv('--export', 'disk', '--refuse', 'GO=UNSUP'))
h.pread(512, 0)
h.shutdown()
lines = log_lines()
assert lines[1] == 'OPT GO name="disk" infos=BLOCK_SIZE', lines
assert lines[2] == 'OPT EXPORT_NAME name="disk"', lines
EOF

py_check "structured replies on and off" <<'EOF'
for want in (True, False):
    h = nbd.NBD()
    h.set_request_structured_replies(want)
    h.connect_command(srv('--pattern'))
    assert h.get_structured_replies_negotiated() == want
    assert h.can_df() == want
    assert h.pread(16, 65536 + 8) == struct.pack('>QQ', 65536 + 8, 65536 + 16)
    h.shutdown()
EOF

py_check "meta contexts: list, set, block_status, REQ_ONE" <<'EOF'
args = srv('--meta-context', 'base:allocation', '--meta-context', 'x-test:one',
           '--meta-context', 'x-test:two')
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_command(args)
seen = []
assert h.opt_list_meta_context(lambda n: seen.append(n)) == 3
assert seen == ['base:allocation', 'x-test:one', 'x-test:two'], seen
h.add_meta_context('x-test:')
seen = []
h.opt_list_meta_context(lambda n: seen.append(n))
assert seen == ['x-test:one', 'x-test:two'], seen
h.opt_abort()
assert 'OPT LIST_META_CONTEXT name="" queries=x-test:' in log_lines()

h = nbd.NBD()
h.add_meta_context('base:allocation')
h.add_meta_context('x-test:two')
h.connect_command(args)
assert h.can_meta_context('base:allocation') and h.can_meta_context('x-test:two')
assert not h.can_meta_context('x-test:one')
got = {}
def cb(meta, off, ents, err):
    got[meta] = ents
h.block_status(200000, 1000, cb)
K = 65536
assert got['base:allocation'] == [K - 1000, 0, K, 3, K, 0, 200000 - 3 * K + 1000, 3], got
assert got['x-test:two'] == [200000, 0], got
got.clear()
h.block_status(200000, 1000, cb, nbd.CMD_FLAG_REQ_ONE)
assert got['base:allocation'] == [K - 1000, 0], got
h.shutdown()
assert 'OPT SET_META_CONTEXT name="" queries=base:allocation,x-test:two' in log_lines()
EOF

# ------------------------------------------------------------ transmission

py_check "pwrite/pread roundtrip, trim, zero, flush, cache" <<'EOF'
for sr in (True, False):
    h = nbd.NBD()
    h.set_request_structured_replies(sr)
    h.connect_command(srv('--export', '::4M', '--pattern'))
    model = bytearray(h.pread(4 << 20, 0))
    assert model[800000:800008] == struct.pack('>Q', 800000)
    data = os.urandom(300000)
    h.pwrite(data, 100000)
    model[100000:400000] = data
    h.trim(1000, 100001)
    model[100001:101001] = bytes(1000)
    h.zero(5000, 200000, nbd.CMD_FLAG_FAST_ZERO)
    model[200000:205000] = bytes(5000)
    assert h.pread(4 << 20, 0) == model
    h.flush()
    h.cache(4096, 0)
    h.pwrite(b'x', 4 * 1024 * 1024 - 1, nbd.CMD_FLAG_FUA)
    h.shutdown()
assert 'CMD WRITE flags=0x01 offset=4194303 length=1' in log_lines()
EOF

py_check "log lines for a session" <<'EOF'
h = nbd.NBD()
h.connect_command(srv())
h.pread(512, 1024)
h.shutdown()
del h
assert log_lines() == [
    'OPT STRUCTURED_REPLY',
    'OPT GO name="" infos=BLOCK_SIZE',
    'CMD READ flags=0x00 offset=1024 length=512',
    'CMD DISC flags=0x00 offset=0 length=0',
    'CLOSE'], log_lines()
EOF

py_check "read-only and out-of-range errors come from the server" <<'EOF'
for sr in (True, False):
    h = nbd.NBD()
    h.set_request_structured_replies(sr)
    h.set_strict_mode(0)
    h.connect_command(srv('--read-only'))
    fails(lambda: h.pwrite(b'abc', 0), 'EPERM')
    fails(lambda: h.trim(512, 0), 'EPERM')
    fails(lambda: h.pread(512, 1048576 - 511), 'EINVAL')
    assert h.pread(4, 0) == bytes(4)      # connection still fine
    h.shutdown()
EOF

py_check "many requests in flight (pipelining)" <<'EOF'
h = nbd.NBD()
h.connect_command(srv('--export', '::64M'))
chunk = 1 << 20
bufs = [nbd.Buffer.from_bytearray(bytearray([i]) * chunk) for i in range(64)]
cookies = [h.aio_pwrite(bufs[i], i * chunk) for i in range(64)]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    assert h.aio_command_completed(c)
rbufs = [nbd.Buffer(chunk) for i in range(64)]
cookies = [h.aio_pread(rbufs[i], i * chunk) for i in range(64)]
while h.aio_in_flight() > 0:
    h.poll(-1)
for i in range(64):
    assert rbufs[i].to_bytearray() == bytearray([i]) * chunk, i
h.shutdown()
EOF

py_check "systemd socket activation" <<'EOF'
h = nbd.NBD()
h.connect_systemd_socket_activation(srv('--pattern'))
assert h.pread(8, 64) == struct.pack('>Q', 64)
h.shutdown()
EOF

sh_check "--unix with --max-connections" '
$S --unix $PWD/sock --max-connections 2 --export "x:via unix" &
pid=$!
for i in $(seq 50); do [ -S sock ] && break; sleep 0.1; done
nbdinfo --list "nbd+unix:///?socket=$PWD/sock" | grep -q "description: via unix"
nbdinfo --size "nbd+unix:///x?socket=$PWD/sock" | grep -qx 1048576
wait $pid'

# ------------------------------------------------------------ refusals

py_check "--refuse GO=ERROR surfaces in libnbd errors" <<'EOF'
expect = {
    'POLICY': 'server policy prevents NBD_OPT_GO',
    'INVALID': 'server rejected NBD_OPT_GO as invalid',
    'PLATFORM': 'server policy prevents NBD_OPT_GO',
    'TLS_REQD': 'server requires TLS encryption first',
    'UNKNOWN': "server has no export named ''",
    'SHUTDOWN': 'server is shutting down',
    'BLOCK_SIZE_REQD': 'server requires specific block sizes',
    'TOO_BIG': 'server rejected NBD_OPT_GO as invalid',
    'EXT_HEADER_REQD': 'unknown reply from NBD_OPT_GO: 0x8000000a',
}
for err, text in expect.items():
    h = debug_handle()
    msg = 'refused-%s' % err
    fails(lambda: h.connect_command(srv('--refuse', 'GO=%s:%s' % (err, msg))), text)
    assert any('server error message: ' + msg in m for m in h.msgs), (err, h.msgs)
EOF

py_check "--refuse INFO/LIST/LIST_META_CONTEXT in opt mode" <<'EOF'
for opt, call, text in [
        ('INFO', lambda h: h.opt_info(), 'error to opt_info request'),
        ('LIST', lambda h: h.opt_list(lambda n, d: 0), 'error to list request'),
        ('LIST_META_CONTEXT', lambda h: h.opt_list_meta_context(lambda n: 0),
         'error to list meta context request')]:
    for err in ('POLICY', 'UNSUP', 'INVALID'):
        h = debug_handle()
        h.set_opt_mode(True)
        h.connect_command(srv('--refuse', '%s=%s:no-%s' % (opt, err, opt)))
        fails(lambda: call(h), text)
        assert any('server error message: no-' + opt in m for m in h.msgs), opt
        h.opt_go()          # the handshake can still complete
        h.shutdown()
EOF

py_check "--refuse STRUCTURED_REPLY / SET_META_CONTEXT / STARTTLS" <<'EOF'
h = nbd.NBD()
h.connect_command(srv('--refuse', 'STRUCTURED_REPLY=POLICY:nope'))
assert not h.get_structured_replies_negotiated()
h.shutdown()
h = debug_handle()
h.add_meta_context('base:allocation')
h.connect_command(srv('--refuse', 'SET_META_CONTEXT=TOO_BIG:too-many'))
assert h.get_structured_replies_negotiated()
assert not h.can_meta_context('base:allocation')
assert any('server error message: too-many' in m for m in h.msgs)
h.shutdown()
h = debug_handle()
h.set_tls(nbd.TLS_REQUIRE)
fails(lambda: h.connect_command(srv('--refuse', 'STARTTLS=PLATFORM:no-tls')),
      'server refused TLS')
assert any('server error message: no-tls' in m for m in h.msgs)
h = nbd.NBD()
h.set_tls(nbd.TLS_ALLOW)            # default policy refusal: carry on in clear
h.connect_command(srv())
assert not h.get_tls_negotiated()
h.shutdown()
EOF

py_check "--refuse EXPORT_NAME closes the connection" <<'EOF'
h = nbd.NBD()
fails(lambda: h.connect_command(srv('--refuse', 'GO=UNSUP', '--refuse', 'EXPORT_NAME')))
h = nbd.NBD()
fails(lambda: h.connect_command(srv('--no-fixed', '--refuse', 'EXPORT_NAME')))
EOF

# ------------------------------------------------------------ faults

py_check "transmission faults kill real libnbd cleanly" <<'EOF'
cases = {
    'bad-magic': 'invalid reply magic',
    'unknown-cookie': 'no matching cookie',
    'unsolicited-reply': 'no matching cookie',
    'chunk-too-long': 'out of bounds',
    'data-outside-request': 'out of bounds',
    'truncated-header': 'server disconnected unexpectedly',
    'bad-error-length': 'error message length too large',
    'close-mid-payload': 'server disconnected unexpectedly',
    'die-before-reply': 'ENOTCONN',
    'simple-read-when-structured': 'unexpected simple reply',
}
for fault, text in cases.items():
    h = nbd.NBD()
    h.connect_command(srv('--fault', fault, '--fault-at', '2'))
    h.pread(512, 0)                         # command 1 is fine
    fails(lambda: h.pread(512, 0), text)
    fails(lambda: h.pread(512, 0))          # the handle is dead now
    assert 'FAULT ' + fault in log_lines(), fault
EOF

py_check "error-reply is a clean EIO, connection continues" <<'EOF'
for sr in (True, False):
    h = debug_handle()
    h.set_request_structured_replies(sr)
    h.connect_command(srv('--fault', 'error-reply', '--fault-at', '3'))
    h.pwrite(b'hello', 0)
    h.flush()
    fails(lambda: h.pread(5, 0), 'EIO')
    assert h.pread(5, 0) == b'hello'
    h.shutdown()
    if sr:
        assert any('injected error' in m for m in h.msgs)
EOF

py_check "hang: no reply until the client closes" <<'EOF'
h = nbd.NBD()
h.connect_command(srv('--fault', 'hang'))
buf = nbd.Buffer(512)
cookie = h.aio_pread(buf, 0)
for i in range(3):
    h.poll(100)
assert not h.aio_command_completed(cookie)
del h
assert log_lines()[-2:] == ['FAULT hang', 'CLOSE'], log_lines()
EOF

py_check "handshake faults make connect fail" <<'EOF'
for fault in ('hs-bad-magic', 'hs-close-after-greeting',
              'rep-bad-magic', 'rep-huge-length'):
    h = nbd.NBD()
    fails(lambda: h.connect_command(srv('--fault', fault)))
    assert 'FAULT ' + fault in log_lines(), fault
h = nbd.NBD()         # rep-bad-magic on the 2nd option: GO's first reply
h.set_opt_mode(True)
h.connect_command(srv('--fault', 'rep-bad-magic', '--fault-at', '2'))
fails(lambda: h.opt_go(), 'magic')
EOF

# ------------------------------------------------------------ extended headers

out=$(timeout 120 "$PY" "$here/extclient.py" "$SRV" "$tmp" 2>&1)
while IFS= read -r line; do
    case $line in
        PASS:*) pass=$((pass + 1)); echo "$line" ;;
        FAIL:*) fail=$((fail + 1)); echo "$line" ;;
        *) echo "    $line" ;;
    esac
done <<< "$out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
