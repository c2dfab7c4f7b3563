"""Support code for fakesrv.py: NBD wire constants and parsers, the
sparse memory disk, and buffered non-blocking connection I/O."""

import array
import os
import re
import select
import socket
import struct
import sys


# ---------------------------------------------------------------- protocol

NBDMAGIC = 0x4e42444d41474943          # "NBDMAGIC"
IHAVEOPT = 0x49484156454f5054          # "IHAVEOPT"
OLDSTYLE_MAGIC = 0x00420281861253
OPT_REPLY_MAGIC = 0x0003e889045565a9
REQUEST_MAGIC = 0x25609513
EXT_REQUEST_MAGIC = 0x21e41c71
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668e33ef
EXT_REPLY_MAGIC = 0x6e8a278c
BOGUS_MAGIC32 = 0xbadbad00             # used by the bad-magic faults
BOGUS_MAGIC64 = 0x4241444d41474943     # "BADMAGIC"

# handshake flags / client flags
FLAG_FIXED_NEWSTYLE = 1 << 0
FLAG_NO_ZEROES = 1 << 1

# transmission flags
TF = dict(HAS_FLAGS=1 << 0, READ_ONLY=1 << 1, SEND_FLUSH=1 << 2,
          SEND_FUA=1 << 3, ROTATIONAL=1 << 4, SEND_TRIM=1 << 5,
          SEND_WRITE_ZEROES=1 << 6, SEND_DF=1 << 7, CAN_MULTI_CONN=1 << 8,
          SEND_CACHE=1 << 10, SEND_FAST_ZERO=1 << 11,
          BLOCK_STAT_PAYLOAD=1 << 12)

OPTS = dict(EXPORT_NAME=1, ABORT=2, LIST=3, STARTTLS=5, INFO=6, GO=7,
            STRUCTURED_REPLY=8, LIST_META_CONTEXT=9, SET_META_CONTEXT=10,
            EXTENDED_HEADERS=11)
OPT_NAMES = {v: k for k, v in OPTS.items()}

REP_ACK, REP_SERVER, REP_INFO, REP_META_CONTEXT = 1, 2, 3, 4
REP_ERRS = dict(UNSUP=1, POLICY=2, INVALID=3, PLATFORM=4, TLS_REQD=5,
                UNKNOWN=6, SHUTDOWN=7, BLOCK_SIZE_REQD=8, TOO_BIG=9,
                EXT_HEADER_REQD=10)
REP_ERRS = {k: (1 << 31) + v for k, v in REP_ERRS.items()}

INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 0, 1, 2, 3
INFO_NAMES = {0: 'EXPORT', 1: 'NAME', 2: 'DESCRIPTION', 3: 'BLOCK_SIZE'}

CMDS = dict(READ=0, WRITE=1, DISC=2, FLUSH=3, TRIM=4, CACHE=5,
            WRITE_ZEROES=6, BLOCK_STATUS=7)
CMD_NAMES = {v: k for k, v in CMDS.items()}
CMD_FLAG_PAYLOAD_LEN = 1 << 5
CMD_FLAG_REQ_ONE = 1 << 3

REPLY_FLAG_DONE = 1
RT_NONE, RT_OFFSET_DATA, RT_OFFSET_HOLE = 0, 1, 2
RT_BLOCK_STATUS, RT_BLOCK_STATUS_EXT, RT_ERROR = 5, 6, (1 << 15) + 1
RT_FUTURE_ERROR = (1 << 15) + 100   # an error type no client knows yet

EPERM, EIO, EINVAL = 1, 5, 22

EXTENT = 64 * 1024          # granularity of the fake base:allocation map
MAX_EXTENTS = 65536         # descriptors per block status chunk

HS_FAULTS = ('hs-bad-magic', 'hs-close-after-greeting',
             'rep-bad-magic', 'rep-huge-length', 'rep-hang',
             'rep-ack-payload', 'go-no-export-info')
TX_FAULTS = ('bad-magic', 'unknown-cookie', 'unsolicited-reply',
             'chunk-too-long', 'data-outside-request', 'truncated-header',
             'bad-error-length', 'close-mid-payload', 'die-before-reply',
             'hang', 'error-reply', 'unknown-error-type', 'block-status-bad-count',
             'block-status-unknown-context', 'simple-read-when-structured')
READ_FAULTS = ('chunk-too-long', 'data-outside-request', 'close-mid-payload',
               'simple-read-when-structured')


class Closed(Exception):
    """The client ended the session (EOF, NBD_OPT_ABORT or NBD_CMD_DISC)."""


class Hangup(Exception):
    """The server decided to drop the connection."""


# ---------------------------------------------------------------- storage

class Disk:
    """Sparse memory disk.  A page absent from self.pages still holds its
    initial content (zeroes or --pattern); a page set to ZEROED was wiped
    whole; otherwise the page is a bytearray materialised on first write."""
    PAGE = 64 * 1024
    ZEROED = None

    def __init__(self, size, pattern):
        self.size, self.pattern, self.pages = size, pattern, {}

    def _initial(self, off, n):
        """Content of [off, off+n) before any write."""
        if not self.pattern:
            return bytearray(n)
        start = off & ~7
        words = array.array('Q', range(start, off + n, 8))
        if sys.byteorder == 'little':
            words.byteswap()
        return bytearray(words.tobytes()[off - start:off - start + n])

    def _spans(self, off, n):
        while n > 0:
            idx, po = divmod(off, self.PAGE)
            k = min(n, self.PAGE - po)
            yield idx, po, k
            off, n = off + k, n - k

    def _page(self, idx):
        """The page as a writable bytearray."""
        page = self.pages.get(idx, False)
        if page is False or page is self.ZEROED:
            base = idx * self.PAGE
            n = min(self.PAGE, self.size - base)
            page = self.pages[idx] = \
                self._initial(base, n) if page is False else bytearray(n)
        return page

    def read(self, off, n):
        out = bytearray()
        for idx, po, k in self._spans(off, n):
            page = self.pages.get(idx, False)
            if page is False:
                out += self._initial(idx * self.PAGE + po, k)
            elif page is self.ZEROED:
                out += bytes(k)
            else:
                out += page[po:po + k]
        return bytes(out)

    def write(self, off, data):
        pos = 0
        for idx, po, k in self._spans(off, len(data)):
            self._page(idx)[po:po + k] = data[pos:pos + k]
            pos += k

    def zero(self, off, n):
        for idx, po, k in self._spans(off, n):
            if k == self.PAGE:
                self.pages[idx] = self.ZEROED
            else:
                self._page(idx)[po:po + k] = bytes(k)


class Export:
    def __init__(self, name, desc, size, pattern):
        self.name, self.desc, self.size = name, desc, size
        self.disk = Disk(size, pattern)


# ---------------------------------------------------------------- I/O

class Log:
    def __init__(self, path, verbose):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) \
            if path else None
        self.verbose = verbose

    def __call__(self, line):
        data = (line + '\n').encode('utf-8', 'backslashreplace')
        if self.fd is not None:
            os.write(self.fd, data)
        if self.verbose:
            sys.stderr.buffer.write(b'fakesrv: ' + data)
            sys.stderr.flush()


class Conn:
    """Buffered non-blocking connection.  Reading and writing are both
    serviced in pump(), so a client that pipelines requests while we are
    blocked sending replies can never deadlock us."""

    def __init__(self, rfd, wfd, sock=None):
        self.rfd, self.wfd, self.sock = rfd, wfd, sock
        for fd in {rfd, wfd}:
            os.set_blocking(fd, False)
        self.inbuf, self.outbuf = bytearray(), bytearray()
        self.max_write = 1 << 20  # bytes per write (--write-size)
        self.eof = False          # client will send nothing more
        self.broken = False       # client can receive nothing more

    def pump(self):
        r = [] if self.eof else [self.rfd]
        w = [self.wfd] if self.outbuf and not self.broken else []
        if not r and not w:
            return
        rr, ww, _ = select.select(r, w, [])
        if ww:
            try:
                n = os.write(self.wfd, self.outbuf[:self.max_write])
                del self.outbuf[:n]
            except BlockingIOError:
                pass
            except OSError:
                self.broken = True
                self.outbuf.clear()
        if rr:
            try:
                data = os.read(self.rfd, 1 << 20)
            except BlockingIOError:
                return
            except OSError:
                data = b''
            if data:
                self.inbuf += data
            else:
                self.eof = True

    def recv(self, n):
        while len(self.inbuf) < n:
            if self.eof:
                raise Closed()
            self.pump()
        data = bytes(self.inbuf[:n])
        del self.inbuf[:n]
        return data

    def send(self, data):
        if not self.broken:
            self.outbuf += data

    def flush(self):
        while self.outbuf and not self.broken:
            self.pump()

    def close(self):
        self.flush()
        sock = self.sock
        try:
            if sock is None:      # fd 0/1 mode: shut down if it is a socket
                sock = socket.socket(fileno=os.dup(self.rfd))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if sock is not None:
            sock.close()


# ---------------------------------------------------------------- helpers

def quote(s):
    return '"' + s.encode('unicode_escape').decode('ascii').replace('"', '\\"') + '"'


def enc(s):
    return s.encode('utf-8', 'surrogateescape')


def dec(b):
    return b.decode('utf-8', 'surrogateescape')


def parse_info_request(data):
    """NBD_OPT_INFO/GO payload -> (name, [info types]) or None."""
    try:
        nlen, = struct.unpack_from('>I', data, 0)
        n, = struct.unpack_from('>H', data, 4 + nlen)
        infos = struct.unpack_from('>%dH' % n, data, 6 + nlen)
    except struct.error:
        return None
    if 6 + nlen + 2 * n != len(data):
        return None
    return dec(data[4:4 + nlen]), list(infos)


def parse_meta_request(data):
    """NBD_OPT_{LIST,SET}_META_CONTEXT payload -> (name, [queries]) or None."""
    try:
        nlen, = struct.unpack_from('>I', data, 0)
        name = dec(data[4:4 + nlen])
        pos = 4 + nlen
        count, = struct.unpack_from('>I', data, pos)
        pos += 4
        queries = []
        for _ in range(count):
            qlen, = struct.unpack_from('>I', data, pos)
            if pos + 4 + qlen > len(data):
                return None
            queries.append(dec(data[pos + 4:pos + 4 + qlen]))
            pos += 4 + qlen
    except struct.error:
        return None
    return (name, queries) if pos == len(data) else None


class Req:
    def __init__(self, flags, typ, cookie, offset, length, payload=b''):
        self.flags, self.typ, self.cookie = flags, typ, cookie
        self.offset, self.length, self.payload = offset, length, payload


class Result:
    def __init__(self, err=0, msg='', data=b'', hole=False, extents=()):
        self.err, self.msg, self.data = err, msg, data
        self.hole, self.extents = hole, extents


def parse_size(text):
    m = re.fullmatch(r'(\d+)([KMGTPE]?)', text.strip(), re.I)
    if not m:
        raise ValueError('bad size %r' % text)
    return int(m.group(1)) << (10 * ' KMGTPE'.index(m.group(2).upper() or ' '))
