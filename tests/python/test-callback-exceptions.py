# An exception raised inside a callback reaches the program through the
# method whose call ran the callback, for every callback kind, sync and
# aio.  When the callback made the command fail, the method raises
# nbd.Error (with the errno the callback left in its error cell, as
# libnbd's binding does) whose __cause__ is the callback's exception;
# when the call itself succeeded (nbd_poll running a completion, a debug
# or listing callback), the callback's exception is raised as it is.
import errno
import sys

import nbd
from nbdtest import Nbdkit


class Boom(Exception):
    pass


def raiser(what):
    def callback(*args):
        raise Boom(what)
    return callback


def expect_boom(what, fn, *args, **kwargs):
    '''fn must raise the Boom a callback raised, unchanged.'''
    try:
        fn(*args, **kwargs)
    except Boom as ex:
        assert ex.args == (what,), ex.args
        # The traceback leads into the callback that raised.
        tb = ex.__traceback__
        while tb.tb_next:
            tb = tb.tb_next
        assert tb.tb_frame.f_code.co_name == "callback", tb.tb_frame.f_code
        return
    raise AssertionError("%s: the callback's exception did not propagate" % what)


def expect_caused(what, errname, fn, *args, **kwargs):
    '''fn must raise nbd.Error with errno errname caused by Boom(what).'''
    try:
        fn(*args, **kwargs)
    except nbd.Error as ex:
        assert ex.errno == errname, (what, ex.errno, ex)
        assert isinstance(ex.__cause__, Boom), (what, repr(ex.__cause__))
        assert ex.__cause__.args == (what,), ex.__cause__.args
        return
    raise AssertionError("%s: the command did not fail" % what)


def drain(h):
    while h.aio_in_flight() > 0:
        h.poll(-1)


unraisable = []
sys.unraisablehook = lambda u: unraisable.append(u.exc_value)

with Nbdkit(["memory", "1M"]) as srv:
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(srv.uri)

    # chunk, sync: the read fails (EPROTO unless the callback chose an
    # errno) and the callback's exception is its cause.
    expect_caused("chunk", "EPROTO", h.pread_structured, 512, 0, raiser("chunk"))

    def chunk_with_errno(buf, offset, status, err):
        err.value = errno.ENOSPC
        raise Boom("chunk errno")

    expect_caused("chunk errno", "ENOSPC", h.pread_structured, 512, 0,
                  chunk_with_errno)

    # chunk, aio: nbd_poll runs it; poll raises, the command completes
    # with the error.
    cookie = h.aio_pread_structured(nbd.Buffer(512), 0, raiser("aio chunk"))
    expect_boom("aio chunk", drain, h)
    try:
        h.aio_command_completed(cookie)
        raise AssertionError("the failed aio read completed without error")
    except nbd.Error as ex:
        assert ex.errno == "EPROTO" and ex.__cause__ is None, (ex, ex.__cause__)

    # completion, driven by poll and by aio_command_completed's caller.
    cookie = h.aio_pread(nbd.Buffer(512), 0, raiser("completion"))
    expect_boom("completion", drain, h)
    h.aio_command_completed(cookie)
    h.aio_flush(raiser("flush completion"))
    expect_boom("flush completion", drain, h)

    # A sync call that waits runs completions of earlier aio commands.
    h.aio_pread(nbd.Buffer(512), 0, raiser("completion in pread"))
    expect_boom("completion in pread", lambda: [h.pread(512, 0) for _ in range(3)])
    drain(h)

    # extent and extent64, sync and aio.
    expect_caused("extent", "EPROTO", h.block_status, 4096, 0, raiser("extent"))
    expect_caused("extent64", "EPROTO", h.block_status_64, 4096, 0,
                  raiser("extent64"))
    h.aio_block_status(4096, 0, raiser("aio extent"))
    expect_boom("aio extent", drain, h)
    h.aio_block_status_64(4096, 0, raiser("aio extent64"))
    expect_boom("aio extent64", drain, h)

    # debug: its return value means nothing to the library, so the call
    # that logged succeeds in C and the exception is raised instead of
    # its result.  The first exception wins; later ones before the method
    # returns are reported as unraisable, not lost.
    count, armed = [0], []

    def debug(context, msg):
        if armed:
            count[0] += 1
            raise Boom("debug %d" % count[0])

    h.set_debug(True)
    h.set_debug_callback(debug)
    del unraisable[:]
    armed.append(1)
    try:
        h.pread(512, 0)
        raise AssertionError("the debug callback's exception did not propagate")
    except Boom as ex:
        assert ex.args == ("debug 1",), ex.args
    assert count[0] >= 2, count
    assert len(unraisable) == count[0] - 1, (count, unraisable)
    assert all(isinstance(u, Boom) for u in unraisable), unraisable
    armed.pop()
    h.clear_debug_callback()
    h.set_debug(False)

    # The handle is still usable and nothing is left pending.
    assert h.pread(512, 0) == bytearray(512)
    h.shutdown()
    h.close()

ARGS = ["--filter=exportname", "memory", "1M", "exportname-list=explicit",
        "exportname=a", "exportname=b"]
with Nbdkit(ARGS) as srv:
    # list and context, sync and aio (with completions) in option mode.
    for what, run in [
            ("list", lambda h: h.opt_list(raiser("list"))),
            ("context", lambda h: h.opt_list_meta_context(raiser("context"))),
            ("context query",
             lambda h: h.opt_list_meta_context_queries(["base:"], raiser("context query")))]:
        h = nbd.NBD()
        h.set_opt_mode(True)
        h.connect_unix(srv.sock)
        expect_boom(what, run, h)
        h.opt_abort()

    for what, start in [
            ("aio list", lambda h: h.aio_opt_list(raiser("aio list"))),
            ("aio list completion",
             lambda h: h.aio_opt_list(lambda n, d: 0, raiser("aio list completion"))),
            ("aio context",
             lambda h: h.aio_opt_list_meta_context(raiser("aio context")))]:
        h = nbd.NBD()
        h.set_opt_mode(True)
        h.connect_unix(srv.sock)
        start(h)

        def negotiate():
            while h.aio_is_connecting():
                h.poll(-1)

        expect_boom(what, negotiate)
        negotiate()
        h.opt_abort()

    # An exception is kept for the thread that ran the callback: a method
    # on another thread does not take it.
    import threading
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_unix(srv.sock)
    h.aio_opt_list(raiser("other thread"))
    seen = []

    def other():
        try:
            while h.aio_is_connecting():
                h.poll(-1)
        except Boom as ex:
            seen.append(ex.args)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [("other thread",)], seen
    assert h.get_opt_mode() is True
    h.opt_abort()
print("ok")
