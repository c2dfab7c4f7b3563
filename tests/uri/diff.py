#!/usr/bin/env python3
"""Run diff.c built against the system libnbd and against fastnbd on the
same loopback servers, and compare what they print.

usage: diff.py SYSTEM-BINARY FASTNBD-BINARY
       diff.py --missing=REASON FASTNBD-BINARY   (no system libnbd: skip)

Lines that differ fail the test, except the ones listed in EXPECTED below,
each with the reason it stays: behaviour that newer libnbd documents (the
system one is 1.14), or 1.14 behaviour that would make unsafe URIs.  An
expected difference that does not show any more is reported, not failed.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

EXPECTED = {
    # Kept: libnbd 1.24's documentation has these and 1.14 has not.
    "tls-priority": "nbd_set_uri_allow_tls_priority(3) of libnbd 1.24 says a "
                    "?tls-priority= query is disabled by default, so it is "
                    "refused (EPERM) where 1.14, which predates it, ignores it",
    "ssh": "nbd_set_uri_allow_transports(3) of libnbd 1.22+ has "
           "LIBNBD_ALLOW_TRANSPORT_SSH for nbd+ssh:// URIs, so with that bit "
           "cleared it is refused (EPERM) where 1.14 knows no such scheme "
           "(EINVAL)",
    # Kept, to be confirmed: no 1.24 man page text naming tls-verify-peer
    # could be read, only the openings of the pages.
    "verify-peer-false": "tls-verify-peer=false is taken as a libnbd 1.22+ "
                         "URI parameter (not yet checked against the text "
                         "of nbd_connect_uri(3) of 1.24); 1.14 ignores it",
    "verify-peer-bad": "the same parameter with a value that is not a "
                       "boolean is refused (EINVAL); 1.14 ignores it",
    "get-verify-peer-off": "nbd_get_uri writes tls-verify-peer=false when "
                           "verification is off, for that same parameter; "
                           "1.14 leaves it out",
    # Kept on purpose: 1.14 writes query values unescaped, so a path with
    # '&' or '=' adds query parameters of its own to the URI.
    "get-tls-certificates": "1.14 puts query values into the URI unescaped "
                            "(here a space, so the URI does not parse "
                            "again); fastnbd percent-encodes them",
    "get-unix-odd-path": "the same for a socket path with '&', '=' and "
                         "other characters that a query value must escape",
}


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(proc, family, addr):
    for _ in range(500):
        if proc.poll() is not None:
            return False
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.connect(addr)
            return True
        except OSError:
            time.sleep(0.02)
        finally:
            s.close()
    return False


def start(args, family, addr):
    proc = subprocess.Popen(["nbdkit", "-f", "--exit-with-parent"] + args
                            + ["memory", "1M"], stderr=subprocess.DEVNULL)
    if wait_for(proc, family, addr):
        return proc
    proc.kill()
    proc.wait()
    return None


def run(binary, args, env):
    out = subprocess.run([binary] + args, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=120,
                         encoding="utf-8", errors="backslashreplace")
    if out.returncode != 0:
        sys.exit("%s exited with %d:\n%s" % (binary, out.returncode, out.stderr))
    lines = {}
    order = []
    for line in out.stdout.splitlines():
        key, _, value = line.partition("\t")
        lines[key] = value
        order.append(key)
    return order, lines


def main():
    argv = sys.argv[1:]
    if argv and argv[0].startswith("--missing="):
        print("SKIP: %s" % argv[0][len("--missing="):])
        return 77
    if len(argv) != 2:
        sys.exit(__doc__)
    system_bin, ours_bin = argv
    if shutil.which("nbdkit") is None:
        print("SKIP: nbdkit is not installed")
        return 77

    tmp = tempfile.mkdtemp(prefix="fastnbd-uri-diff-")
    procs = []
    try:
        sock = os.path.join(tmp, "nbd.sock")
        oddsock = os.path.join(tmp, "s o&c+k;=%#.sock")
        nosock = os.path.join(tmp, "no-such.sock")
        for path in (sock, oddsock):
            p = start(["-U", path], socket.AF_UNIX, path)
            if p is None:
                print("SKIP: nbdkit did not start on a Unix socket")
                return 77
            procs.append(p)
        p = None
        for _ in range(5):
            port = free_port()
            p = start(["-i", "127.0.0.1", "-p", str(port)], socket.AF_INET,
                      ("127.0.0.1", port))
            if p:
                break
        if p is None:
            print("SKIP: nbdkit did not start on 127.0.0.1")
            return 77
        procs.append(p)
        closed = free_port()

        env = dict(os.environ, LOGNAME="uri-diff")
        args = [str(port), sock, oddsock, str(closed), nosock]
        order, theirs = run(system_bin, args, env)
        _, ours = run(ours_bin, args, env)

        unexpected = 0
        for key in order:
            a = theirs.get(key)
            b = ours.get(key)
            # Paths of our private directory and ports are the same for
            # both programs, so lines compare as they are.
            if a == b:
                mark = "same"
                if key in EXPECTED:
                    mark = "same (an expected difference did not show)"
                print("%-28s %s: %s" % (key, mark, a))
                continue
            if key in EXPECTED:
                print("%-28s expected difference: %s" % (key, EXPECTED[key]))
            else:
                print("%-28s DIFFERENT" % key)
                unexpected += 1
            print("    libnbd:  %s" % a)
            print("    fastnbd: %s" % b)
        for key in ours:
            if key not in theirs:
                print("%-28s only in fastnbd's output: %s" % (key, ours[key]))
                unexpected += 1
        print("%d cases, %d unexpected differences" % (len(order), unexpected))
        return 1 if unexpected else 0
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
