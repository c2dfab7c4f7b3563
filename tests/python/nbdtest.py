'''Shared helpers of the Python binding's tests: real nbdkit servers on
Unix sockets in private temporary directories, and skip/fail reporting.'''

import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77


def skip(why):
    print("SKIP: %s" % why)
    sys.exit(SKIP)


class Nbdkit(object):
    '''An nbdkit server listening on a Unix socket, for `with`.

    args are nbdkit's arguments after its own options, for example
    ["memory", "1M"] or ["--filter=delay", "memory", "1M", "rdelay=1"].'''

    def __init__(self, args):
        if shutil.which("nbdkit") is None:
            skip("nbdkit is not installed")
        self.dir = tempfile.mkdtemp(prefix="nbdpy-")
        self.sock = os.path.join(self.dir, "sock")
        pidfile = os.path.join(self.dir, "pid")
        self.proc = subprocess.Popen(
            ["nbdkit", "-f", "--exit-with-parent", "-U", self.sock,
             "-P", pidfile] + list(args))
        # nbdkit writes its pid file once the socket is listening.
        deadline = time.monotonic() + 30
        while not os.path.exists(pidfile):
            if self.proc.poll() is not None:
                raise RuntimeError("nbdkit %s exited with %d" % (args, self.proc.returncode))
            if time.monotonic() > deadline:
                raise RuntimeError("nbdkit %s did not start" % args)
            time.sleep(0.01)
        self.uri = "nbd+unix:///?socket=" + self.sock

    def export_uri(self, name):
        return "nbd+unix:///%s?socket=%s" % (name, self.sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # nbdkit waits for its clients to hang up before exiting on
        # SIGTERM; a test that failed may still hold a connection.
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def expect_error(errname, fn, *args, **kwargs):
    '''Call fn, which must raise nbd.Error with errno errname; return the
    exception.'''
    import nbd
    try:
        fn(*args, **kwargs)
    except nbd.Error as ex:
        assert ex.errno == errname, "expected %s, got %r (%s)" % (errname, ex.errno, ex)
        assert isinstance(ex.string, str) and ex.string, ex.string
        return ex
    raise AssertionError("%s did not fail (expected %s)" % (fn, errname))
