#!/usr/bin/python3
"""fakesrv with read errors tied to an offset.

Runs tests/fakesrv/fakesrv.py (found through $FAKESRV) with one change:
when a READ fails in structured or extended mode (for instance through
--fault error-reply), the reply is two chunks instead of one ERROR chunk:

  1. NBD_REPLY_TYPE_ERROR_OFFSET for the second half of the request
     (error EIO, message "bad sector"), without the DONE flag;
  2. NBD_REPLY_TYPE_OFFSET_DATA carrying the first half, with DONE.

Every other option and behaviour is fakesrv's own.
"""
import os
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(
    os.environ.get('FAKESRV', os.path.join(os.path.dirname(__file__), '..',
                                           'fakesrv', 'fakesrv.py')))))
import fakesrv  # noqa: E402

RT_ERROR_OFFSET = (1 << 15) + 2


class ErrorOffsetSession(fakesrv.Session):
    def encode(self, req, res, cookie):
        if not (res.err and req.typ == fakesrv.CMDS['READ'] and (self.sr or self.eh)
                and req.length >= 2):
            return super().encode(req, res, cookie)
        half = req.length // 2
        data = self.exp.disk.read(req.offset, half)
        msg = b'bad sector'
        return [
            self.chunk(req, cookie, 0, RT_ERROR_OFFSET,
                       struct.pack('>IH', res.err, len(msg)) + msg +
                       struct.pack('>Q', req.offset + half)),
            self.chunk(req, cookie, fakesrv.REPLY_FLAG_DONE, fakesrv.RT_OFFSET_DATA,
                       struct.pack('>Q', req.offset) + data),
        ]


fakesrv.Session = ErrorOffsetSession

if __name__ == '__main__':
    fakesrv.main()
