#!/usr/bin/python3
"""Raw-socket NBD client checks for fakesrv features libnbd 1.14 cannot
reach: extended headers, BLOCK_STATUS_EXT, OFFSET_HOLE, malformed replies.

Usage: extclient.py FAKESRV_PATH TMPDIR
Prints one PASS/FAIL line per check; exit status is the number of failures.
"""

import os
import socket
import struct
import subprocess
import sys

SRV, TMP = sys.argv[1], sys.argv[2]
LOG = os.path.join(TMP, 'ext.log')

NBDMAGIC, IHAVEOPT = 0x4e42444d41474943, 0x49484156454f5054
OPT_REPLY_MAGIC = 0x3e889045565a9
EXT_REQUEST_MAGIC, EXT_REPLY_MAGIC = 0x21e41c71, 0x6e8a278c
REQUEST_MAGIC, STRUCTURED_REPLY_MAGIC = 0x25609513, 0x668e33ef
OPT_GO, OPT_SR, OPT_SET_META, OPT_EH = 7, 8, 10, 11
REP_ACK, REP_INFO, REP_META = 1, 3, 4
ERR_UNSUP, ERR_EXT_HEADER_REQD = (1 << 31) + 1, (1 << 31) + 10
CMD_READ, CMD_WRITE, CMD_DISC, CMD_BLOCK_STATUS = 0, 1, 2, 7
FLAG_PAYLOAD_LEN = 1 << 5
RT_NONE, RT_DATA, RT_HOLE, RT_BS, RT_BS_EXT = 0, 1, 2, 5, 6
TF_DF, TF_BLOCK_STAT_PAYLOAD = 1 << 7, 1 << 12


class Client:
    def __init__(self, *args):
        mine, theirs = socket.socketpair()
        self.proc = subprocess.Popen([SRV, '--log', LOG] + list(args),
                                     stdin=theirs, stdout=theirs)
        theirs.close()
        self.s = mine
        self.s.settimeout(10)

    def recv(self, n):
        buf = b''
        while len(buf) < n:
            data = self.s.recv(n - len(buf))
            if not data:
                raise EOFError('server closed after %d of %d bytes' % (len(buf), n))
            buf += data
        return buf

    def greet(self):
        magic, magic2, hflags = struct.unpack('>QQH', self.recv(18))
        assert (magic, magic2) == (NBDMAGIC, IHAVEOPT), 'bad greeting'
        self.s.sendall(struct.pack('>I', 3))      # FIXED_NEWSTYLE|NO_ZEROES

    def option(self, opt, data=b''):
        """Send one option; return list of (reply type, payload) to the end."""
        self.s.sendall(struct.pack('>QII', IHAVEOPT, opt, len(data)) + data)
        replies = []
        while True:
            magic, ropt, rtype, length = struct.unpack('>QIII', self.recv(20))
            assert magic == OPT_REPLY_MAGIC and ropt == opt, 'bad option reply'
            replies.append((rtype, self.recv(length)))
            if rtype not in (REP_INFO, REP_META, 2):
                return replies

    def go(self, name=b''):
        replies = self.option(OPT_GO, struct.pack('>I', len(name)) + name +
                              struct.pack('>H', 0))
        assert replies[-1][0] == REP_ACK, 'GO failed: %r' % (replies,)
        for rtype, data in replies:
            if rtype == REP_INFO and struct.unpack_from('>H', data)[0] == 0:
                self.size, self.tflags = struct.unpack_from('>QH', data, 2)

    def set_meta(self, *queries):
        data = struct.pack('>II', 0, len(queries)) + b''.join(
            struct.pack('>I', len(q)) + q.encode() for q in queries)
        return self.option(OPT_SET_META, data)

    def ext_request(self, typ, offset, length, flags=0, payload=b'', cookie=1):
        self.s.sendall(struct.pack('>IHHQQQ', EXT_REQUEST_MAGIC, flags, typ,
                                   cookie, offset, length) + payload)

    def ext_reply(self):
        magic, flags, rtype, cookie, offset, length = \
            struct.unpack('>IHHQQQ', self.recv(32))
        return dict(magic=magic, flags=flags, type=rtype, cookie=cookie,
                    offset=offset, body=self.recv(length))

    def close(self):
        self.s.close()
        self.proc.wait(10)


def extended_client(*args):
    c = Client('--extended', *args)
    c.greet()
    assert c.option(OPT_EH) == [(REP_ACK, b'')], 'EXTENDED_HEADERS not acked'
    return c


# ------------------------------------------------------------------ checks

def t_list_rep_server_payload():
    c = Client('--export', 'one:First disk', '--export', 'two')
    c.greet()
    replies = c.option(3)                           # NBD_OPT_LIST
    assert replies == [(2, struct.pack('>I', 3) + b'one' + b'First disk'),
                       (2, struct.pack('>I', 3) + b'two'),
                       (REP_ACK, b'')], replies
    c.close()


def t_unsupported_without_flag():
    c = Client()
    c.greet()
    assert c.option(OPT_EH)[0][0] == ERR_UNSUP
    c.close()


def t_extended_read_write():
    c = extended_client('--pattern')
    c.go()
    assert c.tflags & TF_BLOCK_STAT_PAYLOAD and c.tflags & TF_DF, hex(c.tflags)
    data = bytes(range(256)) * 20
    c.ext_request(CMD_WRITE, 70000, len(data), FLAG_PAYLOAD_LEN, data, cookie=7)
    r = c.ext_reply()
    assert (r['magic'], r['type'], r['flags'], r['cookie'], r['offset']) == \
        (EXT_REPLY_MAGIC, RT_NONE, 1, 7, 70000), r
    c.ext_request(CMD_READ, 69992, len(data) + 16, cookie=8)
    r = c.ext_reply()
    assert (r['magic'], r['type'], r['cookie'], r['offset']) == \
        (EXT_REPLY_MAGIC, RT_DATA, 8, 69992), r
    off, = struct.unpack_from('>Q', r['body'])
    expect = struct.pack('>Q', 69992) + data + struct.pack('>Q', 70000 + len(data))
    assert off == 69992 and r['body'][8:] == expect, 'read back mismatch'
    c.ext_request(CMD_DISC, 0, 0)
    assert c.s.recv(1) == b''
    c.close()


def t_block_status_ext():
    c = extended_client('--meta-context', 'base:allocation',
                        '--meta-context', 'x-test:ctx')
    replies = c.set_meta('base:allocation', 'x-test:')
    assert [r[0] for r in replies] == [REP_META, REP_META, REP_ACK], replies
    ids = {r[1][4:].decode(): struct.unpack_from('>I', r[1])[0] for r in replies[:2]}
    assert sorted(ids.values()) == [1, 2], ids
    c.go()
    c.ext_request(CMD_BLOCK_STATUS, 60 * 1024, 200 * 1024, cookie=9)
    got = {}
    while True:
        r = c.ext_reply()
        assert r['type'] == RT_BS_EXT and r['offset'] == 60 * 1024, r
        cid, count = struct.unpack_from('>II', r['body'])
        assert len(r['body']) == 8 + 16 * count
        got[cid] = [struct.unpack_from('>QQ', r['body'], 8 + 16 * i) for i in range(count)]
        if r['flags'] & 1:
            break
    k = 1024
    assert got[ids['base:allocation']] == [(4 * k, 0), (64 * k, 3), (64 * k, 0),
                                           (64 * k, 3), (4 * k, 0)], got
    assert got[ids['x-test:ctx']] == [(200 * k, 0)], got
    # payload form: only the x-test context, effect length in the payload
    c.ext_request(CMD_BLOCK_STATUS, 0, 12, FLAG_PAYLOAD_LEN,
                  struct.pack('>QI', 4096, ids['x-test:ctx']), cookie=10)
    r = c.ext_reply()
    assert r['flags'] & 1 and r['body'] == struct.pack('>IIQQ', ids['x-test:ctx'], 1, 4096, 0), r
    c.close()


def t_block_status_bad_count():
    c = extended_client('--fault', 'block-status-bad-count')
    c.set_meta('base:allocation')
    c.go()
    c.ext_request(CMD_BLOCK_STATUS, 0, 128 * 1024)
    r = c.ext_reply()
    _, count = struct.unpack_from('>II', r['body'])
    assert r['type'] == RT_BS_EXT and len(r['body']) != 8 + 16 * count, r
    c.close()


def t_structured_after_extended():
    c = extended_client()
    assert c.option(OPT_SR)[0][0] == ERR_EXT_HEADER_REQD
    c.close()


def t_compact_request_after_extended_is_rejected():
    c = extended_client()
    c.go()
    c.s.sendall(struct.pack('>IHHQQI', REQUEST_MAGIC, 0, CMD_READ, 1, 0, 512))
    assert c.s.recv(1) == b'', 'server should hang up'
    c.close()


def t_offset_hole():
    c = Client('--holes')
    c.greet()
    c.option(OPT_SR)
    c.go()
    c.s.sendall(struct.pack('>IHHQQI', REQUEST_MAGIC, 0, CMD_READ, 5, 65536 + 100, 4000))
    magic, flags, rtype, cookie, length = struct.unpack('>IHHQI', c.recv(20))
    body = c.recv(length)
    assert (magic, flags, rtype, cookie) == (STRUCTURED_REPLY_MAGIC, 1, RT_HOLE, 5)
    assert body == struct.pack('>QI', 65536 + 100, 4000), body
    c.close()


def t_unsolicited_reply_precedes_real_one():
    c = extended_client('--fault', 'unsolicited-reply')
    c.go()
    c.ext_request(CMD_READ, 0, 16, cookie=42)
    first, second = c.ext_reply(), c.ext_reply()
    assert first['cookie'] != 42 and first['type'] == RT_NONE and first['flags'] == 1
    assert second['cookie'] == 42 and second['type'] == RT_DATA
    c.close()


def main():
    failed = 0
    for name, fn in sorted(globals().items()):
        if not name.startswith('t_'):
            continue
        try:
            fn()
            print('PASS: ext %s' % name[2:])
        except Exception as e:       # report and carry on
            failed += 1
            print('FAIL: ext %s: %s: %s' % (name[2:], type(e).__name__, e))
    sys.exit(failed)


if __name__ == '__main__':
    main()
