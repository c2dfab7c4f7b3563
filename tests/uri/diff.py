#!/usr/bin/env python3
"""Run diff.c built against the system libnbd and against fastnbd on the
same loopback servers, and compare what they print.

usage: diff.py SYSTEM-BINARY FASTNBD-BINARY
       diff.py --missing=REASON FASTNBD-BINARY   (no system libnbd: skip)

Lines that differ fail the test, except the ones listed in EXPECTED below:
behaviour newer libnbd documents (the system one is 1.14), or where
fastnbd is stricter on purpose.  An expected difference that does not
show any more is reported, not failed.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

EXPECTED = {
    "export-nul": "a %00 in the export name: 1.14 cuts the name there, "
                  "fastnbd refuses the URI (EINVAL)",
    "user-empty": "\"nbd://@host\": 1.14 takes the rest of the URI as the "
                  "user name, fastnbd sees no user name",
    "port-too-big": "port 99999: 1.14 hands it to getaddrinfo, fastnbd "
                    "refuses it (EINVAL)",
    "verify-peer-false": "tls-verify-peer is a later libnbd addition (man "
                         "page of 1.21+); 1.14 ignores it",
    "verify-peer-bad": "tls-verify-peer=maybe: 1.14 ignores the parameter, "
                       "fastnbd refuses a value that is not a boolean",
    "tls-priority": "tls-priority needs nbd_set_uri_allow_tls_priority "
                    "(libnbd 1.24): EPERM; 1.14 ignores the parameter",
    "unix-empty-socket": "empty socket=: 1.14 tries to connect to it, "
                         "fastnbd refuses the URI (EINVAL)",
    "unix-socket-no-value": "socket without a value: as for an empty one",
    "vsock-hex-cid": "vsock CID \"0x10\": 1.14 reads 0 (strtoul), fastnbd "
                     "wants a decimal number (EINVAL)",
    "vsock-cid-overflow": "vsock CID 2^32: 1.14 wraps to 0, fastnbd refuses "
                          "(EINVAL)",
    "ssh": "nbd+ssh is a libnbd 1.22 addition: 1.14 does not know the "
           "scheme (EINVAL); here the ssh transport is not allowed (EPERM)",
    "ipfuture": "an IPvFuture literal (\"[v1.x]\"): 1.14 passes it on, "
                "fastnbd refuses it since no address family has it (EINVAL)",
    "get-tls-certificates": "libnbd 1.14 puts query values into the URI "
                            "unescaped (here a space, so the URI does not "
                            "parse again); fastnbd percent-encodes them",
    "get-unix-odd-path": "the same for a socket path with characters that "
                         "a query value must escape",
    "get-socket-tcp": "nbd_connect_socket: libnbd keeps no address, fastnbd "
                      "rebuilds the URI from the socket's peer address",
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
