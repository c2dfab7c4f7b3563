# Async calls: nbd.Buffer in aio_pread/aio_pwrite, completion callbacks
# with the error cell, retiring by returning 1 or by
# aio_command_completed, and nbd.Buffer's own methods.
import select
import weakref

import nbd
from nbdtest import Nbdkit


def run_until_done(h):
    while h.aio_in_flight() > 0:
        h.poll(-1)


# nbd.Buffer without a connection.
b = nbd.Buffer(16)
assert len(b) == 16 and b.size() == 16 and b.is_zero()
b[3] = 7
assert b[3] == 7 and not b.is_zero() and b.is_zero(4) and b.is_zero(0, 3)
assert b.is_zero(3, 0) and not b.is_zero(3, 1)
assert b[2:5] == bytearray([0, 7, 0])
copy = b.to_bytearray()
copy[3] = 0
assert b[3] == 7
shared = bytearray(8)
sb = nbd.Buffer.from_buffer(shared)
assert sb.to_buffer() is shared
fb = nbd.Buffer.from_bytearray(b"abc")
assert fb.to_bytearray() == b"abc"
try:
    b.is_zero(10, 10)
    raise AssertionError("is_zero accepted a range outside the buffer")
except IndexError:
    pass

with Nbdkit(["memory", "1M"]) as srv:
    h = nbd.NBD()
    h.connect_uri(srv.uri)

    # A write from a Buffer, retired with aio_command_completed.
    wbuf = nbd.Buffer.from_bytearray(b"\xab" * 65536)
    cookie = h.aio_pwrite(wbuf, 0)
    assert isinstance(cookie, int) and cookie > 0
    while not h.aio_command_completed(cookie):
        h.poll(-1)

    # A read into a shared bytearray, retired by the completion callback.
    seen = []

    def done(err):
        seen.append(err.value)
        return 1

    target = bytearray(4096)
    rbuf = nbd.Buffer.from_buffer(target)
    cookie = h.aio_pread(rbuf, 4096, done)
    run_until_done(h)
    assert seen == [0]
    assert target == b"\xab" * 4096
    # Returning 1 retired the command: its cookie is gone, and asking
    # about it answers False, as libnbd does.
    assert h.aio_command_completed(cookie) is False

    # A command the server fails reaches the completion with its errno
    # in the cell (client-side checks off, so the read reaches nbdkit).
    errors = []

    def record(err):
        errors.append(err.value)

    h.set_strict_mode(0)
    cookie = h.aio_pread(nbd.Buffer(512), 1 << 20, completion=record)
    run_until_done(h)
    assert len(errors) == 1 and errors[0] != 0, errors
    try:
        h.aio_command_completed(cookie)
        raise AssertionError("server's error was lost")
    except nbd.Error as ex:
        assert ex.errnum == errors[0], ex
    h.set_strict_mode(nbd.STRICT_MASK)

    # Many commands in flight at once, driven through the program's own
    # event loop (aio_get_fd, aio_get_direction, aio_notify_*).
    bufs = [nbd.Buffer(4096) for _ in range(32)]
    cookies = [h.aio_pread(bufs[i], i * 4096) for i in range(32)]
    # The zero and trim are in flight with the reads, in any order at the
    # server, so they stay clear of the range the reads check.
    cookies.append(h.aio_zero(4096, 1 << 17, flags=nbd.CMD_FLAG_FUA))
    cookies.append(h.aio_trim(4096, (1 << 17) + 8192))
    cookies.append(h.aio_flush())
    cookies.append(h.aio_cache(4096, 0))
    fd = h.aio_get_fd()
    while h.aio_in_flight() > 0:
        d = h.aio_get_direction()
        r, w, _ = select.select([fd] if d & nbd.AIO_DIRECTION_READ else [],
                                [fd] if d & nbd.AIO_DIRECTION_WRITE else [], [])
        if r:
            h.aio_notify_read()
        elif w:
            h.aio_notify_write()
    for c in cookies:
        assert h.aio_command_completed(c) is True
    assert all(bb.to_bytearray() == b"\xab" * 4096 for bb in bufs[:16])
    try:
        h.aio_peek_command_completed()
        raise AssertionError("peek with nothing in flight succeeded")
    except nbd.Error as ex:
        assert ex.errno == "EINVAL"

    # aio calls refuse what is not a buffer, and a read-only buffer for
    # reading.
    for bad in [lambda: h.aio_pread(42, 0), lambda: h.aio_pread(b"read-only", 0),
                lambda: h.aio_pread(nbd.Buffer(1), 0, completion=3)]:
        try:
            bad()
            raise AssertionError("bad aio argument accepted")
        except (TypeError, BufferError):
            pass
    assert h.aio_in_flight() == 0

    # While a command holds its buffer, the bytearray cannot be resized
    # (it would move under the library).
    grow = bytearray(512)
    cookie = h.aio_pread(nbd.Buffer.from_buffer(grow), 0)
    try:
        grow.extend(b"x")
        resized = True
    except BufferError:
        resized = False
    run_until_done(h)
    assert h.aio_command_completed(cookie)
    assert not resized
    grow.extend(b"x")       # released once the command is done

    # A completion callback runs once: as it returns, the closure lets go
    # of the callable and of the buffer, even when the command waits for
    # aio_command_completed (the library's .free comes only then).
    class Completion:
        calls = 0

        def __call__(self, err):
            Completion.calls += 1
            return 0

    kept = bytearray(512)
    completion = Completion()
    gone = weakref.ref(completion)
    cookie = h.aio_pread(kept, 0, completion=completion)
    del completion
    assert gone() is not None       # the closure holds it while in flight
    while Completion.calls == 0:
        h.poll(-1)
    assert gone() is None, "the completion callable outlived its only call"
    kept.extend(b"x")               # and the bytearray is no longer exported
    assert h.aio_command_completed(cookie) is True

    h.aio_disconnect()
    run_until_done(h)
    assert h.aio_is_closed()
print("ok")
