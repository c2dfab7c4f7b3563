#!/usr/bin/python3
"""fakesrv: a small, scriptable NBD server for exercising NBD clients.

It serves memory-backed exports and can be told to refuse options, speak
extended headers, or send malformed / dying replies.  See README.md for the
command line.  Python 3 standard library only; the wire constants, storage
and connection I/O live in fakesrvlib.py next to this file.
"""

import argparse
import os
import socket
import struct
import sys

sys.dont_write_bytecode = True     # keep the source tree clean
from fakesrvlib import *           # noqa: E402,F403 (protocol names, Disk, Conn)


# ---------------------------------------------------------------- session

class Session:
    """One client connection: handshake, then transmission."""

    def __init__(self, cfg, conn, log):
        self.cfg, self.c, self.log = cfg, conn, log
        self.sr = self.eh = self.no_zeroes = False
        self.meta, self.meta_export = [], None     # [(id, name)], export
        self.nopts = self.ncmds = 0
        self.fired = self.hanging = False
        self.seen = set()
        self.exp = None
        self.held = []                 # --reorder: replies not yet sent
        if cfg.write_size:
            conn.max_write = cfg.write_size

    def run(self):
        try:
            exp = self.handshake()
            self.transmission(exp)
        except Closed:
            self.log('CLOSE')
        except Hangup:
            self.release()            # what was answered before still goes out
        self.c.close()

    def fire(self, kind):
        self.fired = True
        self.log('FAULT %s' % kind)

    def armed(self, kinds, count):
        f = self.cfg.fault
        return f if f in kinds and not self.fired and count >= self.cfg.fault_at \
            else None

    def proto_error(self, why):
        self.log('PROTO-ERROR %s' % why)
        raise Hangup()

    def wait_for_close(self):
        while not self.c.eof:
            self.c.inbuf.clear()
            self.c.pump()
        raise Closed()

    def tflags(self, exp):
        cfg = self.cfg
        f = TF['HAS_FLAGS'] | TF['SEND_FLUSH'] | TF['SEND_FUA'] | \
            TF['SEND_TRIM'] | TF['SEND_WRITE_ZEROES'] | TF['SEND_CACHE'] | \
            TF['SEND_FAST_ZERO'] | TF['CAN_MULTI_CONN']
        if self.sr or self.eh:
            f |= TF['SEND_DF']        # DF needs structured/extended replies
        if self.eh:
            f |= TF['BLOCK_STAT_PAYLOAD']
        if cfg.read_only:
            f |= TF['READ_ONLY']
        if cfg.rotational:
            f |= TF['ROTATIONAL']
        return f

    # ------------------------------------------------------------ handshake

    def handshake(self):
        cfg, c = self.cfg, self.c
        magic = BOGUS_MAGIC64 if cfg.fault == 'hs-bad-magic' else NBDMAGIC
        if cfg.oldstyle:
            exp = cfg.exports[0]
            c.send(struct.pack('>QQQI', magic, OLDSTYLE_MAGIC, exp.size,
                               self.tflags(exp)) + bytes(124))
        else:
            hflags = (0 if cfg.no_fixed else FLAG_FIXED_NEWSTYLE) | \
                     (0 if cfg.no_no_zeroes else FLAG_NO_ZEROES)
            c.send(struct.pack('>QQH', magic, IHAVEOPT, hflags))
        if cfg.fault == 'hs-bad-magic':
            self.fire(cfg.fault)
            self.wait_for_close()
        if cfg.fault == 'hs-close-after-greeting':
            self.fire(cfg.fault)
            raise Hangup()
        if cfg.oldstyle:
            return exp

        cflags, = struct.unpack('>I', c.recv(4))
        if cflags & ~hflags:
            self.proto_error('client flags 0x%x not offered (0x%x)' % (cflags, hflags))
        self.no_zeroes = bool(cflags & FLAG_NO_ZEROES)
        while True:
            magic, opt, length = struct.unpack('>QII', c.recv(16))
            if magic != IHAVEOPT:
                self.proto_error('bad option magic 0x%x' % magic)
            if length > 1 << 20:
                self.proto_error('option length %d too large' % length)
            data = c.recv(length)
            self.nopts += 1
            exp = self.option(opt, data, hflags & FLAG_FIXED_NEWSTYLE)
            if exp is not None:
                return exp

    def reply(self, opt, rtype, payload=b''):
        if isinstance(payload, str):
            payload = payload.encode('utf-8')
        magic = OPT_REPLY_MAGIC
        kind = self.armed(('rep-bad-magic', 'rep-huge-length', 'rep-hang'),
                          self.nopts)
        if kind == 'rep-hang':
            self.fire(kind)
            self.wait_for_close()
        if kind == 'rep-huge-length':
            self.fire(kind)
            self.c.send(struct.pack('>QIII', magic, opt, rtype, 1 << 30))
            raise Hangup()
        if kind == 'rep-bad-magic':
            self.fire(kind)
            magic = BOGUS_MAGIC64
        if rtype == REP_ACK and self.armed(('rep-ack-payload',), self.nopts):
            self.fire(self.cfg.fault)
            payload = bytes(4)
        self.c.send(struct.pack('>QIII', magic, opt, rtype, len(payload)) + payload)

    def describe(self, opt, data):
        """Details for the OPT log line."""
        if opt == OPTS['EXPORT_NAME']:
            return ' name=' + quote(dec(data))
        if opt in (OPTS['INFO'], OPTS['GO']):
            req = parse_info_request(data)
            if req:
                return ' name=%s infos=%s' % (quote(req[0]), ','.join(
                    INFO_NAMES.get(i, str(i)) for i in req[1]))
        elif opt in (OPTS['LIST_META_CONTEXT'], OPTS['SET_META_CONTEXT']):
            req = parse_meta_request(data)
            if req:
                return ' name=%s queries=%s' % (quote(req[0]), ','.join(req[1]))
        elif not data:
            return ''
        return ' length=%d' % len(data) + \
            (' malformed' if opt in OPT_NAMES else '')

    def option(self, opt, data, fixed):
        """Handle one option; return an Export to enter transmission."""
        cfg = self.cfg
        self.log('OPT %s%s' % (OPT_NAMES.get(opt, 'UNKNOWN(%d)' % opt),
                               self.describe(opt, data)))
        if not fixed and opt != OPTS['EXPORT_NAME']:
            self.proto_error('option %d without fixed newstyle' % opt)
        refusal = cfg.refuse.get(opt)

        if opt == OPTS['EXPORT_NAME']:
            if self.eh:
                self.proto_error('NBD_OPT_EXPORT_NAME after extended headers')
            exp = cfg.find(dec(data))
            if refusal or exp is None:
                raise Hangup()
            out = struct.pack('>QH', exp.size, self.tflags(exp))
            self.c.send(out if self.no_zeroes else out + bytes(124))
            return exp

        if refusal:
            if opt == OPTS['SET_META_CONTEXT']:
                self.meta = []
            self.reply(opt, *refusal)
            return None

        if opt == OPTS['ABORT']:
            self.reply(opt, REP_ACK)
            raise Closed()
        if opt == OPTS['LIST']:
            if data:
                return self.reply(opt, REP_ERRS['INVALID'], 'unexpected data')
            for exp in cfg.exports:
                name = enc(exp.name)
                self.reply(opt, REP_SERVER, struct.pack('>I', len(name)) + name +
                           (enc(exp.desc) if exp.desc else b''))
            return self.reply(opt, REP_ACK)
        if opt == OPTS['STARTTLS']:
            return self.reply(opt, REP_ERRS['POLICY'], 'TLS is not supported')
        if opt == OPTS['STRUCTURED_REPLY']:
            if data:
                return self.reply(opt, REP_ERRS['INVALID'], 'unexpected data')
            if self.eh:
                return self.reply(opt, REP_ERRS['EXT_HEADER_REQD'],
                                  'extended headers already negotiated')
            self.sr = True
            return self.reply(opt, REP_ACK)
        if opt == OPTS['EXTENDED_HEADERS']:
            if not cfg.extended:
                return self.reply(opt, REP_ERRS['UNSUP'], 'extended headers not enabled')
            if data:
                return self.reply(opt, REP_ERRS['INVALID'], 'unexpected data')
            self.eh = True
            return self.reply(opt, REP_ACK)
        if opt in (OPTS['LIST_META_CONTEXT'], OPTS['SET_META_CONTEXT']):
            return self.meta_context(opt, data)
        if opt in (OPTS['INFO'], OPTS['GO']):
            return self.info(opt, data)
        return self.reply(opt, REP_ERRS['UNSUP'], 'unknown option %d' % opt)

    def meta_context(self, opt, data):
        is_set = opt == OPTS['SET_META_CONTEXT']
        if is_set:
            self.meta = []
        req = parse_meta_request(data)
        if req is None:
            return self.reply(opt, REP_ERRS['INVALID'], 'malformed request')
        name, queries = req
        if is_set and not (self.sr or self.eh):
            return self.reply(opt, REP_ERRS['INVALID'],
                              'structured replies not negotiated')
        if self.cfg.find(name) is None:
            return self.reply(opt, REP_ERRS['UNKNOWN'], 'unknown export')
        if queries or is_set:
            chosen = [ctx for ctx in self.cfg.contexts
                      if any(q == ctx or (q.endswith(':') and ctx.startswith(q))
                             for q in queries)]
        else:
            chosen = list(self.cfg.contexts)
        for i, ctx in enumerate(chosen, 1):
            cid = i if is_set else 0
            if is_set:
                self.meta.append((cid, ctx))
            self.reply(opt, REP_META_CONTEXT, struct.pack('>I', cid) + enc(ctx))
        if is_set:
            self.meta_export = name
        return self.reply(opt, REP_ACK)

    def info(self, opt, data):
        req = parse_info_request(data)
        if req is None:
            return self.reply(opt, REP_ERRS['INVALID'], 'malformed request')
        name, infos = req
        exp = self.cfg.find(name)
        if exp is None:
            return self.reply(opt, REP_ERRS['UNKNOWN'], 'unknown export %s' % quote(name))
        if self.armed(('go-no-export-info',), self.nopts):
            self.fire(self.cfg.fault)
        else:
            self.reply(opt, REP_INFO, struct.pack('>HQH', INFO_EXPORT, exp.size,
                                                  self.tflags(exp)))
        if INFO_NAME in infos:
            self.reply(opt, REP_INFO, struct.pack('>H', INFO_NAME) + enc(exp.name))
        if INFO_DESCRIPTION in infos and exp.desc:
            self.reply(opt, REP_INFO, struct.pack('>H', INFO_DESCRIPTION) + enc(exp.desc))
        self.reply(opt, REP_INFO, struct.pack('>HIII', INFO_BLOCK_SIZE,
                                              *self.cfg.block_size))
        self.reply(opt, REP_ACK)
        if opt != OPTS['GO']:
            return None
        if self.meta_export != name:
            self.meta = []
        return exp

    # ------------------------------------------------------------ transmission

    def transmission(self, exp):
        self.exp, c = exp, self.c
        while True:
            if self.hanging:
                self.release()
                self.wait_for_close()
            req = self.next_request()
            if req is not None:
                self.command(req)
            elif c.eof:
                raise Closed()
            else:
                self.release()        # never wait for input with replies held
                c.pump()

    def next_request(self):
        buf, hlen = self.c.inbuf, (32 if self.eh else 28)
        if len(buf) < 4:
            return None
        magic, = struct.unpack_from('>I', buf)
        if magic != (EXT_REQUEST_MAGIC if self.eh else REQUEST_MAGIC):
            self.proto_error('bad request magic 0x%08x' % magic)
        if len(buf) < hlen:
            return None
        if self.eh:
            _, flags, typ, cookie, offset, length = struct.unpack_from('>IHHQQQ', buf)
            plen = length if flags & CMD_FLAG_PAYLOAD_LEN else 0
        else:
            _, flags, typ, cookie, offset, length = struct.unpack_from('>IHHQQI', buf)
            plen = length if typ == CMDS['WRITE'] else 0
        if plen > self.cfg.block_size[2]:
            self.proto_error('payload of %d bytes exceeds maximum' % plen)
        if len(buf) < hlen + plen:
            return None
        payload = bytes(buf[hlen:hlen + plen])
        del buf[:hlen + plen]
        return Req(flags, typ, cookie, offset, length, payload)

    def execute(self, req):
        """Perform a command on the export; returns a Result."""
        exp, cfg, typ = self.exp, self.cfg, req.typ
        length, payload = req.length, req.payload
        if typ not in CMD_NAMES:
            return Result(EINVAL, 'unknown command %d' % typ)
        if self.eh and typ == CMDS['WRITE'] and not req.flags & CMD_FLAG_PAYLOAD_LEN:
            return Result(EINVAL, 'write without payload flag')
        ids = None
        if payload and typ == CMDS['BLOCK_STATUS']:
            if len(payload) < 8 or len(payload) % 4:
                return Result(EINVAL, 'malformed block status payload')
            length, = struct.unpack_from('>Q', payload)
            ids = struct.unpack_from('>%dI' % ((len(payload) - 8) // 4), payload, 8)
            known = [cid for cid, _ in self.meta]
            if len(set(ids)) != len(ids) or any(i not in known for i in ids):
                return Result(EINVAL, 'bad context id in payload')
        elif payload and typ != CMDS['WRITE']:
            return Result(EINVAL, 'unexpected payload')
        if typ == CMDS['WRITE']:
            length = len(payload)
        if typ in (CMDS['WRITE'], CMDS['TRIM'], CMDS['WRITE_ZEROES']) and cfg.read_only:
            return Result(EPERM, 'export is read-only')
        if req.offset + length > exp.size:
            return Result(EINVAL, 'request out of range')
        minb, _, maxb = cfg.block_size
        if typ in (CMDS['READ'], CMDS['WRITE']):
            if length > maxb:
                return Result(EINVAL, 'request too large')
            if req.offset % minb or length % minb:
                return Result(EINVAL, 'request not aligned to %d' % minb)

        if typ == CMDS['READ']:
            data = exp.disk.read(req.offset, length)
            hole = cfg.holes and length > 0 and \
                req.offset // EXTENT == (req.offset + length - 1) // EXTENT and \
                (req.offset // EXTENT) % 2 == 1 and not any(data)
            return Result(data=data, hole=hole)
        if typ == CMDS['WRITE']:
            exp.disk.write(req.offset, payload)
        elif typ in (CMDS['TRIM'], CMDS['WRITE_ZEROES']):
            exp.disk.zero(req.offset, length)
        elif typ == CMDS['BLOCK_STATUS']:
            if not self.meta:
                return Result(EINVAL, 'no metadata context negotiated')
            if length == 0:
                return Result(EINVAL, 'zero length block status')
            one = bool(req.flags & CMD_FLAG_REQ_ONE)
            return Result(extents=[(cid, self.extents(ctx, req.offset, length, one))
                                   for cid, ctx in self.meta
                                   if ids is None or cid in ids])
        return Result()

    @staticmethod
    def extents(ctx, offset, length, req_one):
        if ctx != 'base:allocation':
            return [(length, 0)]
        out, pos, end = [], offset, offset + length
        while pos < end and len(out) < MAX_EXTENTS:
            blk = pos // EXTENT
            nxt = min((blk + 1) * EXTENT, end)
            out.append((nxt - pos, 3 if blk % 2 else 0))
            pos = nxt
            if req_one:
                break
        return out

    def chunk(self, req, cookie, flags, rtype, body):
        if self.eh:
            hdr = struct.pack('>IHHQQQ', EXT_REPLY_MAGIC, flags, rtype, cookie,
                              req.offset, len(body))
        else:
            hdr = struct.pack('>IHHQI', STRUCTURED_REPLY_MAGIC, flags, rtype,
                              cookie, len(body))
        return [hdr, body]

    def simple(self, err, cookie, data=b''):
        return [struct.pack('>IIQ', SIMPLE_REPLY_MAGIC, err, cookie), data]

    def encode(self, req, res, cookie):
        """The normal reply to req as a list of [header, payload] pieces."""
        is_read = req.typ == CMDS['READ']
        if not (self.sr or self.eh):
            return [self.simple(res.err, cookie,
                                res.data if is_read and not res.err else b'')]
        if res.err:
            msg = res.msg.encode('utf-8')
            return [self.chunk(req, cookie, REPLY_FLAG_DONE, RT_ERROR,
                               struct.pack('>IH', res.err, len(msg)) + msg)]
        if is_read and res.hole:
            return [self.chunk(req, cookie, REPLY_FLAG_DONE, RT_OFFSET_HOLE,
                               struct.pack('>QI', req.offset, len(res.data)))]
        if is_read and res.data and self.cfg.split_reads and len(res.data) >= 2:
            half = len(res.data) // 2
            return [self.chunk(req, cookie, 0, RT_OFFSET_DATA,
                               struct.pack('>Q', req.offset) + res.data[:half]),
                    self.chunk(req, cookie, REPLY_FLAG_DONE, RT_OFFSET_DATA,
                               struct.pack('>Q', req.offset + half) + res.data[half:])]
        if is_read and res.data:
            return [self.chunk(req, cookie, REPLY_FLAG_DONE, RT_OFFSET_DATA,
                               struct.pack('>Q', req.offset) + res.data)]
        if res.extents:
            out = []
            for i, (cid, exts) in enumerate(res.extents):
                flags = REPLY_FLAG_DONE if i == len(res.extents) - 1 else 0
                if self.eh:
                    body = struct.pack('>II', cid, len(exts)) + \
                        b''.join(struct.pack('>QQ', n, s) for n, s in exts)
                    out.append(self.chunk(req, cookie, flags, RT_BLOCK_STATUS_EXT, body))
                else:
                    body = struct.pack('>I', cid) + \
                        b''.join(struct.pack('>II', n, s) for n, s in exts)
                    out.append(self.chunk(req, cookie, flags, RT_BLOCK_STATUS, body))
            return out
        if self.eh or is_read:
            return [self.chunk(req, cookie, REPLY_FLAG_DONE, RT_NONE, b'')]
        return [self.simple(0, cookie)]

    def bogus_cookie(self):
        cookie = 0xfa5e5e7fc00c1e00
        while cookie in self.seen:
            cookie += 1
        return cookie

    def send(self, pieces):
        data = b''.join(b''.join(p) for p in pieces)
        if not self.cfg.reorder:
            return self.c.send(data)
        self.held.append(data)
        if len(self.held) >= self.cfg.reorder:
            self.release()

    def release(self):
        """--reorder: send the replies held back, newest first."""
        for data in reversed(self.held):
            self.c.send(data)
        self.held = []

    def command(self, req):
        name = CMD_NAMES.get(req.typ, 'CMD_%d' % req.typ)
        self.log('CMD %s flags=0x%02x offset=%d length=%d' %
                 (name, req.flags, req.offset, req.length))
        if req.typ == CMDS['DISC']:
            self.release()
            raise Closed()
        self.seen.add(req.cookie)
        self.ncmds += 1
        structured = self.sr or self.eh
        kind = self.armed(TX_FAULTS, self.ncmds)

        # Faults decided before the command runs.
        if kind == 'bad-error-length' and structured:
            self.fire(kind)
            msg = b'injected error'
            return self.send([self.chunk(req, req.cookie, REPLY_FLAG_DONE, RT_ERROR,
                                         struct.pack('>IH', EIO, len(msg) + 100) + msg)])
        if kind == 'die-before-reply':
            self.fire(kind)
            raise Hangup()
        if kind == 'hang':
            self.fire(kind)
            self.hanging = True
            return None
        if kind == 'error-reply':
            self.fire(kind)
            return self.send(self.encode(req, Result(EIO, 'injected error'), req.cookie))
        if kind == 'unknown-error-type' and structured:
            self.fire(kind)
            msg = b'injected error'
            return self.send([self.chunk(req, req.cookie, REPLY_FLAG_DONE, RT_FUTURE_ERROR,
                                         struct.pack('>IH', EIO, len(msg)) + msg)])

        res = self.execute(req)
        if kind in READ_FAULTS and (req.typ != CMDS['READ'] or res.err or not res.data
                                    or (kind != 'close-mid-payload' and not structured)):
            kind = None
        if kind == 'block-status-bad-count' and not (res.extents and self.eh):
            kind = None
        if kind == 'block-status-unknown-context' and not res.extents:
            kind = None
        if kind in (None, 'bad-error-length'):
            return self.send(self.encode(req, res, req.cookie))

        self.fire(kind)
        pieces = self.encode(req, res, req.cookie)
        data, n = res.data, len(res.data)
        if kind == 'bad-magic':
            pieces[0][0] = struct.pack('>I', BOGUS_MAGIC32) + pieces[0][0][4:]
        elif kind == 'unknown-cookie':
            pieces = self.encode(req, res, self.bogus_cookie())
        elif kind == 'unsolicited-reply':
            extra = self.chunk(req, self.bogus_cookie(), REPLY_FLAG_DONE, RT_NONE, b'') \
                if structured else self.simple(0, self.bogus_cookie())
            pieces.insert(0, extra)
        elif kind == 'truncated-header':
            self.release()
            hdr = pieces[0][0]
            self.c.send(hdr[:len(hdr) // 2])
            raise Hangup()
        elif kind == 'close-mid-payload':
            self.release()
            if structured:
                hdr, body = self.chunk(req, req.cookie, REPLY_FLAG_DONE, RT_OFFSET_DATA,
                                       struct.pack('>Q', req.offset) + data)
                self.c.send(hdr + body[:8 + n // 2])
            else:
                self.c.send(self.simple(0, req.cookie)[0] + data[:n // 2])
            raise Hangup()
        elif kind == 'chunk-too-long':
            pieces = [self.chunk(req, req.cookie, REPLY_FLAG_DONE, RT_OFFSET_DATA,
                                 struct.pack('>Q', req.offset) + data + b'\0')]
        elif kind == 'data-outside-request':
            pieces = [self.chunk(req, req.cookie, REPLY_FLAG_DONE, RT_OFFSET_DATA,
                                 struct.pack('>Q', req.offset + n) + bytes(n))]
        elif kind == 'simple-read-when-structured':
            pieces = [self.simple(0, req.cookie, data)]
        elif kind == 'block-status-unknown-context':
            # A chunk for a context id the client was never given, before
            # the real ones: one extent covering the request.
            if self.eh:
                body = struct.pack('>IIQQ', UNKNOWN_CONTEXT_ID, 1, req.length, 3)
                rt = RT_BLOCK_STATUS_EXT
            else:
                body = struct.pack('>III', UNKNOWN_CONTEXT_ID, req.length, 3)
                rt = RT_BLOCK_STATUS
            pieces.insert(0, self.chunk(req, req.cookie, 0, rt, body))
        elif kind == 'block-status-bad-count':
            body = pieces[0][1]
            count, = struct.unpack_from('>I', body, 4)
            pieces[0][1] = body[:4] + struct.pack('>I', count + 1) + body[8:]
        return self.send(pieces)


# A meta context id no SET_META_CONTEXT reply ever names.
UNKNOWN_CONTEXT_ID = 0x7ead


# ---------------------------------------------------------------- main

class Config:
    def __init__(self, args):
        self.__dict__.update(vars(args))
        self.exports = []
        for spec in args.export or [':']:
            name, _, rest = spec.partition(':')
            desc, size = rest, 1 << 20
            head, sep, tail = rest.rpartition(':')
            if sep:
                try:
                    desc, size = head, parse_size(tail)
                except ValueError:
                    pass
            self.exports.append(Export(name, desc or None, size, args.pattern))
        self.contexts = args.meta_context or ['base:allocation']
        self.block_size = tuple(int(x) for x in args.block_size.split(':'))
        if len(self.block_size) != 3 or min(self.block_size) < 1:
            raise ValueError('--block-size needs MIN:PREF:MAX')
        self.refuse = {}
        for spec in args.refuse or []:
            opt, _, rest = spec.partition('=')
            err, _, msg = rest.partition(':')
            opt = opt.upper().replace('NBD_OPT_', '')
            err = err.upper().replace('NBD_REP_ERR_', '') or 'UNSUP'
            if opt not in OPTS or err not in REP_ERRS:
                raise ValueError('bad --refuse %r' % spec)
            self.refuse[OPTS[opt]] = (REP_ERRS[err], msg.encode('utf-8'))
        if self.reorder < 0:
            raise ValueError('--reorder needs N >= 0')
        if self.write_size < 0:
            raise ValueError('--write-size needs N >= 0')
        if self.fault and self.fault not in HS_FAULTS + TX_FAULTS:
            raise ValueError('unknown fault %r' % self.fault)

    def find(self, name):
        for exp in self.exports:
            if exp.name == name:
                return exp
        return None


def serve_listener(cfg, log, lsock):
    lsock.setblocking(True)
    served = 0
    while cfg.max_connections is None or served < cfg.max_connections:
        try:
            sock, _ = lsock.accept()
        except OSError:
            break
        served += 1
        Session(cfg, Conn(sock.fileno(), sock.fileno(), sock), log).run()


def main():
    p = argparse.ArgumentParser(description='Scriptable fake NBD server.')
    a = p.add_argument
    a('--export', action='append', metavar='NAME[:DESCRIPTION[:SIZE]]')
    a('--oldstyle', action='store_true')
    a('--no-fixed', action='store_true')
    a('--no-no-zeroes', action='store_true')
    a('--extended', action='store_true')
    a('--read-only', action='store_true')
    a('--rotational', action='store_true')
    a('--pattern', action='store_true')
    a('--holes', action='store_true')
    a('--reorder', type=int, default=0, metavar='N',
      help='hold command replies back and send them newest first, N at a '
           'time (fewer when the server would otherwise wait for input)')
    a('--split-reads', action='store_true',
      help='structured/extended: answer a READ of 2 bytes or more with two '
           'OFFSET_DATA chunks, the first half without DONE, then the rest')
    a('--write-size', type=int, default=0, metavar='N',
      help='send at most N bytes per write, so that the client receives '
           'messages in pieces')
    a('--block-size', default='1:4096:%d' % (32 << 20), metavar='MIN:PREF:MAX')
    a('--meta-context', action='append', metavar='NAME')
    a('--refuse', action='append', metavar='OPTION=ERROR[:MESSAGE]')
    a('--fault', metavar='KIND')
    a('--fault-at', type=int, default=1, metavar='N')
    a('--log', metavar='FILE')
    a('--verbose', action='store_true')
    a('--unix', metavar='PATH')
    a('--max-connections', type=int, metavar='N')
    args = p.parse_args()
    try:
        cfg = Config(args)
    except ValueError as e:
        p.error(str(e))
    log = Log(args.log, args.verbose)

    if os.environ.get('LISTEN_PID') == str(os.getpid()) and \
            os.environ.get('LISTEN_FDS') == '1':
        serve_listener(cfg, log, socket.socket(fileno=3))
    elif args.unix:
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = '%s.%d.tmp' % (args.unix, os.getpid())
        lsock.bind(tmp)
        lsock.listen(16)
        os.rename(tmp, args.unix)     # appears only once it accepts
        try:
            serve_listener(cfg, log, lsock)
        finally:
            try:
                os.unlink(args.unix)
            except OSError:
                pass
    else:
        Session(cfg, Conn(0, 1), log).run()


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
