# Callbacks: the arguments each kind receives, what a raising or odd
# callable does, and that the library releases every callable it was
# given (reference counts return to where they were).
import sys

import nbd
from nbdtest import Nbdkit, expect_error

with Nbdkit(["memory", "1M"]) as srv:
    h = nbd.NBD()

    # Debug messages go to the callable as (context, message).
    messages = []

    def debug(context, msg):
        messages.append((context, msg))

    base = sys.getrefcount(debug)
    h.set_debug(True)
    h.set_debug_callback(debug)
    assert sys.getrefcount(debug) == base + 1
    h.connect_uri(srv.uri)
    assert any(ctx == "nbd_connect_uri" for ctx, _ in messages), messages[:5]
    h.clear_debug_callback()
    assert sys.getrefcount(debug) == base
    h.set_debug(False)

    # Replacing the debug callback releases the old one.
    h.set_debug_callback(debug)
    h.set_debug_callback(lambda c, m: None)
    assert sys.getrefcount(debug) == base

    h.pwrite(b"\x05" * 8192, 0)

    # Chunk callbacks of a structured read get (memoryview, offset, status,
    # error cell); the view is released once the callback returns.
    chunks, kept = [], []

    def chunk(buf, offset, status, err):
        assert isinstance(buf, memoryview) and err.value == 0
        chunks.append((bytes(buf), offset, status))
        kept.append(buf)
        return 0

    base = sys.getrefcount(chunk)
    data = h.pread_structured(8192, 0, chunk)
    assert data == b"\x05" * 8192
    assert sum(len(c[0]) for c in chunks) == 8192
    assert all(status == nbd.READ_DATA for _, _, status in chunks)
    try:
        kept[0].tobytes()
        raise AssertionError("a chunk's view outlived its callback")
    except ValueError:
        pass
    assert sys.getrefcount(chunk) == base

    # The aio form: the chunk callable and the completion are both
    # released once the command is retired.
    def completion(err):
        return 1

    cbase = sys.getrefcount(completion)
    buf = nbd.Buffer(4096)
    h.aio_pread_structured(buf, 0, chunk, completion, nbd.CMD_FLAG_DF)
    assert sys.getrefcount(chunk) == base + 1
    while h.aio_in_flight() > 0:
        h.poll(-1)
    assert buf.to_bytearray() == b"\x05" * 4096
    assert sys.getrefcount(chunk) == base
    assert sys.getrefcount(completion) == cbase

    # A raising callable: the command fails with EPROTO and the
    # callable's exception is the nbd.Error's cause (test-callback-
    # exceptions.py covers every kind).  SystemExit is carried the same
    # way: it must not end the process from inside the library.
    def raises(*args):
        raise RuntimeError("chunk callback failed on purpose")

    ex = expect_error("EPROTO", h.pread_structured, 512, 0, raises)
    assert isinstance(ex.__cause__, RuntimeError), ex.__cause__

    def exits(*args):
        sys.exit(3)

    ex = expect_error("EPROTO", h.pread_structured, 512, 0, exits)
    assert isinstance(ex.__cause__, SystemExit), ex.__cause__

    # A completion that raises counts as -1 (the command stays
    # unretired): poll raises its exception, and the program can still
    # retire the command.
    def completion_raises(err):
        raise KeyError("completion failed on purpose")

    cookie = h.aio_pread(nbd.Buffer(512), 0, completion_raises)
    try:
        while h.aio_in_flight() > 0:
            h.poll(-1)
        raise AssertionError("the completion's KeyError did not propagate")
    except KeyError:
        pass
    h.aio_command_completed(cookie)

    # Return values that are not integers count as 0 (success).
    assert h.pread_structured(512, 0, lambda *a: "ignored") == b"\x05" * 512

    # A callable with the wrong number of parameters raises TypeError
    # inside the trampoline: EPROTO.
    expect_error("EPROTO", h.pread_structured, 512, 0, lambda buf: 0)

    # Callables are checked before the call reaches the library.
    for bad in [lambda: h.pread_structured(512, 0, None),
                lambda: h.set_debug_callback(42),
                lambda: h.aio_pread(nbd.Buffer(1), 0, "no")]:
        try:
            bad()
            raise AssertionError("non-callable accepted")
        except TypeError:
            pass
    assert h.aio_in_flight() == 0
    h.shutdown()
print("ok")
