# Blocking calls release the GIL: while one thread waits in a call for a
# slow server (nbdkit's delay filter), other Python threads run, and two
# handles wait in parallel rather than one after the other.  Callbacks
# from a thread that waits take the GIL back.  Which calls release it is
# the spec's Call.releases_gil; the generated methods, their docstrings
# and libnbd-python(3) must all agree with it.
import os
import re
import sys
import threading
import time

import libnbdmod
import nbd
from nbdtest import Nbdkit

sys.path.insert(0, os.environ["FASTNBD_GEN"])
sys.path.insert(0, os.environ["FASTNBD_SPEC"])
import api  # noqa: E402

DELAY = 1.0

# The spec, the generated code and the documentation agree.
with open(os.path.join(os.path.dirname(libnbdmod.__file__), "methods.c")) as f:
    methods = f.read()
with open(os.path.join(os.environ["FASTNBD_GEN"], "..", "python", "libnbd-python.3")) as f:
    manual = f.read()
threads_section = manual.split(".SH THREADS", 1)[1].split(".SH ", 1)[0]
kept_in_manual = set(re.findall(r"\\fB(\w+)\\fR", threads_section.split("keep the GIL", 1)[1]))
keeps = {c.name for c in api.CALLS if not c.releases_gil}
assert kept_in_manual == keeps, (kept_in_manual ^ keeps)
assert all(c.releases_gil for c in api.CALLS if c.name in
           ("pread", "pwrite", "connect_uri", "connect_command", "poll", "poll2",
            "opt_go", "shutdown", "block_status", "aio_pread"))
for c in api.CALLS:
    body = methods.split("\nnbdpy_%s (PyObject *self" % c.name, 1)[1].split("\n}\n", 1)[0]
    assert ("Py_BEGIN_ALLOW_THREADS" in body) == c.releases_gil, c.name
    assert ("releases the GIL" in getattr(nbd.NBD, c.name).__doc__) == c.releases_gil, c.name
assert "Py_BEGIN_ALLOW_THREADS\n  nbd_close (h);" in methods



def runs_alongside(call):
    """Whether a spinning thread keeps running while this one is in call
    (for about DELAY seconds), compared with while this one sleeps."""
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    # How far the spinner gets in DELAY seconds while this thread sleeps
    # (which releases the GIL) ...
    before = ticks[0]
    time.sleep(DELAY)
    free_run = ticks[0] - before
    # ... and while it waits in the call.  Holding the GIL would leave the
    # spinner a few switch intervals (milliseconds) at most.
    before = ticks[0]
    start = time.monotonic()
    call()
    elapsed = time.monotonic() - start
    during = ticks[0] - before
    stop.set()
    spinner.join()
    assert elapsed >= DELAY * 0.9, "the call did not wait (%.2fs)" % elapsed
    return during > free_run / 4


# Connecting waits for the server's open.
with Nbdkit(["--filter=delay", "memory", "1M", "delay-open=%g" % DELAY]) as srv:
    h = nbd.NBD()
    assert runs_alongside(lambda: h.connect_uri(srv.uri)), "connect_uri held the GIL"
    h.close()

# Block status, and poll waiting for an aio read.
with Nbdkit(["--filter=delay", "memory", "1M", "rdelay=%g" % DELAY,
             "delay-extents=%g" % DELAY]) as srv:
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(srv.uri)
    assert runs_alongside(lambda: h.block_status(512, 0, lambda *a: 0)), \
        "block_status held the GIL"

    def aio_read_and_poll():
        h.aio_pread(nbd.Buffer(512), 0)
        while h.aio_in_flight() > 0:
            h.poll(-1)

    assert runs_alongside(aio_read_and_poll), "poll held the GIL"
    h.close()

with Nbdkit(["--filter=delay", "memory", "1M", "rdelay=%g" % DELAY]) as srv:
    handles = [nbd.NBD() for _ in range(2)]
    for h in handles:
        h.connect_uri(srv.uri)
    assert runs_alongside(lambda: handles[0].pread(512, 0)), "pread held the GIL"

    results = []

    def read(h):
        # A chunk callback runs in this thread while the other thread
        # also waits in the library.
        results.append(h.pread_structured(512, 0, lambda *a: 0))

    start = time.monotonic()
    threads = [threading.Thread(target=read, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert len(results) == 2 and results[0] == bytearray(512)
    assert elapsed < 2 * DELAY * 0.9, "reads were serialized: %.2fs" % elapsed
    for h in handles:
        h.close()
print("ok")
