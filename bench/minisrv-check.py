#!/usr/bin/env python3
"""Protocol check for bench/minisrv, speaking raw NBD over a Unix socket.

Covers the paths a libnbd client does not take by default: the old
NBD_OPT_EXPORT_NAME ending (with and without NO_ZEROES), simple replies
when structured replies were not negotiated, unknown options, ABORT,
a write whose payload arrives in pieces, and error replies.

Usage: minisrv-check.py PATH-TO-MINISRV-BINARY
Exit status 0 when every check passes.
"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
OPT_REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCTURED_MAGIC = 0x668E33EF

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO, OPT_SR = 1, 2, 3, 6, 7, 8
REP_ACK, REP_INFO = 1, 3
REP_ERR_UNSUP, REP_ERR_INVALID = (1 << 31) | 1, (1 << 31) | 3
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM = 0, 1, 2, 3, 4
EXPORT_SIZE = 1 << 20
EXPECTED_TFLAGS = 0x0001 | 0x0004 | 0x0008 | 0x0100


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("server closed the connection")
        data += chunk
    return data


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


class Client:
    def __init__(self, path, client_flags):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        magic, opt_magic, hflags = struct.unpack(">QQH", recv_exact(self.sock, 18))
        check(magic == NBDMAGIC and opt_magic == IHAVEOPT, "greeting magics")
        check(hflags == 0x3, "handshake flags FIXED_NEWSTYLE|NO_ZEROES")
        self.sock.sendall(struct.pack(">I", client_flags))

    def option(self, opt, data=b""):
        self.sock.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

    def option_reply(self):
        magic, opt, rtype, length = struct.unpack(">QIII", recv_exact(self.sock, 20))
        check(magic == OPT_REPLY_MAGIC, "option reply magic")
        return opt, rtype, recv_exact(self.sock, length)

    def request(self, cmd, cookie, offset, length, flags=0, payload=b""):
        self.sock.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd,
                                      cookie, offset, length) + payload)

    def simple_reply(self, data_len=0):
        magic, error, cookie = struct.unpack(">IIQ", recv_exact(self.sock, 16))
        check(magic == SIMPLE_MAGIC, "simple reply magic")
        return error, cookie, recv_exact(self.sock, data_len)

    def chunk(self):
        magic, flags, ctype, cookie, length = struct.unpack(
            ">IHHQI", recv_exact(self.sock, 20))
        check(magic == STRUCTURED_MAGIC, "structured reply magic")
        return flags, ctype, cookie, recv_exact(self.sock, length)


def go_payload(name=b"", info=()):
    return (struct.pack(">I", len(name)) + name + struct.pack(">H", len(info))
            + b"".join(struct.pack(">H", i) for i in info))


def test_export_name(path, no_zeroes):
    c = Client(path, 1 | (2 if no_zeroes else 0))
    c.option(OPT_LIST)
    opt, rtype, _ = c.option_reply()
    check(opt == OPT_LIST and rtype == REP_ERR_UNSUP, "unknown option -> ERR_UNSUP")
    c.option(OPT_EXPORT_NAME, b"anything")
    size, tflags = struct.unpack(">QH", recv_exact(c.sock, 10))
    check(size == EXPORT_SIZE and tflags == EXPECTED_TFLAGS, "EXPORT_NAME size/flags")
    if not no_zeroes:
        check(recv_exact(c.sock, 124) == bytes(124), "124 zero bytes without NO_ZEROES")
    # No structured replies negotiated: reads get simple replies + data.
    c.request(CMD_READ, 7, 4096, 8192)
    error, cookie, data = c.simple_reply(8192)
    check(error == 0 and cookie == 7 and data == bytes(8192), "simple read reply")
    # Write whose payload trickles in: no reply until all of it is in.
    c.request(CMD_WRITE, 8, 0, 3000, payload=b"x" * 1000)
    c.sock.settimeout(0.2)
    try:
        early = c.sock.recv(1)
    except socket.timeout:
        early = b""
    c.sock.settimeout(None)
    check(early == b"", "no write reply before the payload is complete")
    c.sock.sendall(b"y" * 2000)
    error, cookie, _ = c.simple_reply()
    check(error == 0 and cookie == 8, "write acknowledged after payload")
    c.request(CMD_READ, 9, EXPORT_SIZE - 512, 1024)
    error, cookie, _ = c.simple_reply()
    check(error == 22 and cookie == 9, "out-of-bounds read -> EINVAL (simple)")
    c.request(CMD_FLUSH, 10, 0, 0)
    check(c.simple_reply()[:2] == (0, 10), "flush acknowledged")
    c.request(CMD_DISC, 11, 0, 0)
    check(c.sock.recv(1) == b"", "DISC closes the connection")


def test_go_structured(path):
    c = Client(path, 3)
    c.option(OPT_SR, b"junk")
    check(c.option_reply()[1] == REP_ERR_INVALID, "STRUCTURED_REPLY with data -> ERR_INVALID")
    c.option(OPT_SR)
    check(c.option_reply()[1] == REP_ACK, "STRUCTURED_REPLY acked")
    c.option(OPT_INFO, b"\0\0")
    check(c.option_reply()[1] == REP_ERR_INVALID, "malformed INFO -> ERR_INVALID")
    c.option(OPT_INFO, go_payload(b"x", (3,)))
    opt, rtype, data = c.option_reply()
    check(opt == OPT_INFO and rtype == REP_INFO, "INFO gives REP_INFO")
    check(struct.unpack(">HQH", data) == (0, EXPORT_SIZE, EXPECTED_TFLAGS),
          "NBD_INFO_EXPORT payload")
    check(c.option_reply()[1] == REP_ACK, "INFO ends with ACK")
    c.option(OPT_GO, go_payload())
    check(c.option_reply()[1] == REP_INFO, "GO gives REP_INFO")
    check(c.option_reply()[1] == REP_ACK, "GO ends with ACK")
    # Pipelined requests in one send: replies must come back for all.
    reqs = b"".join(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_READ, 100 + i,
                                i * 4096, 4096) for i in range(50))
    c.sock.sendall(reqs)
    for i in range(50):
        flags, ctype, cookie, data = c.chunk()
        check(flags == 1 and ctype == 1 and cookie == 100 + i, "OFFSET_DATA chunk %d" % i)
        off, = struct.unpack(">Q", data[:8])
        check(off == i * 4096 and data[8:] == bytes(4096), "chunk offset and zero data")
    c.request(CMD_READ, 200, EXPORT_SIZE, 4096)
    flags, ctype, cookie, data = c.chunk()
    check(flags == 1 and ctype == (1 << 15 | 1) and cookie == 200, "bad read -> ERROR chunk")
    check(struct.unpack(">IH", data) == (22, 0), "ERROR chunk carries EINVAL")
    c.request(CMD_READ, 201, 0, 0)
    check(c.chunk()[:3] == (1, 0, 201), "zero-length read -> NONE chunk")
    c.request(CMD_TRIM, 202, 0, 4096)
    flags, ctype, cookie, data = c.chunk()
    check(ctype == (1 << 15 | 1) and cookie == 202, "unadvertised command -> error")
    c.request(CMD_WRITE, 203, 0, 4096, flags=1, payload=bytes(4096))
    check(c.simple_reply()[:2] == (0, 203), "FUA write acknowledged")
    c.request(CMD_DISC, 204, 0, 0)
    check(c.sock.recv(1) == b"", "DISC closes the connection")


def test_holes(path):
    """minisrv --holes: structured reads get one OFFSET_HOLE chunk."""
    c = Client(path, 3)
    c.option(OPT_SR)
    check(c.option_reply()[1] == REP_ACK, "holes: STRUCTURED_REPLY acked")
    c.option(OPT_GO, go_payload())
    check(c.option_reply()[1] == REP_INFO, "holes: GO gives REP_INFO")
    check(c.option_reply()[1] == REP_ACK, "holes: GO ends with ACK")
    reqs = b"".join(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_READ, 300 + i,
                                i * 4096, 4096) for i in range(20))
    c.sock.sendall(reqs)
    for i in range(20):
        flags, ctype, cookie, data = c.chunk()
        check(flags == 1 and ctype == 2 and cookie == 300 + i, "OFFSET_HOLE chunk %d" % i)
        check(struct.unpack(">QI", data) == (i * 4096, 4096), "hole offset and length")
    c.request(CMD_READ, 320, EXPORT_SIZE, 4096)
    flags, ctype, cookie, data = c.chunk()
    check(ctype == (1 << 15 | 1) and cookie == 320, "holes: bad read -> ERROR chunk")
    c.request(CMD_DISC, 321, 0, 0)
    check(c.sock.recv(1) == b"", "holes: DISC closes the connection")


def test_abort(path):
    c = Client(path, 1)
    c.option(OPT_ABORT)
    check(c.option_reply()[1] == REP_ACK, "ABORT acked")
    check(c.sock.recv(1) == b"", "ABORT closes the connection")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "minisrv.sock")
        server = subprocess.Popen([binary, "--size", str(EXPORT_SIZE), path])
        try:
            for _ in range(100):
                if os.path.exists(path):
                    break
                time.sleep(0.02)
            test_export_name(path, no_zeroes=True)
            test_export_name(path, no_zeroes=False)
            test_go_structured(path)
            test_abort(path)
        finally:
            server.terminate()
            server.wait()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "minisrv.sock")
        server = subprocess.Popen([binary, "--size", str(EXPORT_SIZE), "--holes", path])
        try:
            for _ in range(100):
                if os.path.exists(path):
                    break
                time.sleep(0.02)
            test_holes(path)
        finally:
            server.terminate()
            server.wait()
    print("minisrv-check: all checks passed")


if __name__ == "__main__":
    main()
