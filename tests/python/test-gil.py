# Blocking calls release the GIL: while one thread waits in h.pread for a
# slow server (nbdkit's delay filter), other Python threads run, and two
# handles wait in parallel rather than one after the other.  Callbacks
# from a thread that waits take the GIL back.
import threading
import time

import nbd
from nbdtest import Nbdkit

DELAY = 1.0

with Nbdkit(["--filter=delay", "memory", "1M", "rdelay=%g" % DELAY]) as srv:
    handles = [nbd.NBD() for _ in range(2)]
    for h in handles:
        h.connect_uri(srv.uri)

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
    # ... and while it waits in pread.  Holding the GIL would leave the
    # spinner a few switch intervals (milliseconds) at most.
    before = ticks[0]
    handles[0].pread(512, 0)
    during = ticks[0] - before
    stop.set()
    spinner.join()
    assert during > free_run / 4, \
        "other threads did not run during pread (%d of %d)" % (during, free_run)

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
