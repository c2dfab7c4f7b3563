#!/usr/bin/env python3
"""Tests of fastnbd's nbdinfo and nbddump against real servers.

Each sub-test is one meson test: toolstest.py NAME.  Where Debian's
nbdinfo or nbddump (libnbd 1.14, run on the system libnbd) has a mode, the
same command runs through both and the outputs must be equal, except for
what libnbd 1.24 documents differently from 1.14:

  * block sizes carry a human-readable size in text ("4096 (4K)");
  * the JSON description has "extended" (extended headers) after
    "structured";
  * every export shows can_block_status_payload (libnbd 1.18 added it),
    after is_read_only.

Environment: TOOLS_NBDINFO, TOOLS_NBDDUMP (ours), TOOLS_FAKESRV (the
scripted server), TOOLS_LIBDIR (our libnbd.so.0).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NBDINFO = os.environ.get("TOOLS_NBDINFO", "build/tools/nbdinfo")
NBDDUMP = os.environ.get("TOOLS_NBDDUMP", "build/tools/nbddump/nbddump")
FAKESRV = os.environ.get("TOOLS_FAKESRV", "tests/fakesrv/fakesrv.py")
LIBDIR = os.environ.get("TOOLS_LIBDIR", "build/lib")
ORACLE_NBDINFO = "/usr/bin/nbdinfo"
ORACLE_NBDDUMP = "/usr/bin/nbddump"
TIMEOUT = 120

failures = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)
    return ok


def need(*programs):
    for p in programs:
        if shutil.which(p) is None and not os.path.exists(p):
            print("SKIP: %s is not installed" % p)
            sys.exit(77)


def oracle_env():
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    env.pop("LIBNBD_DEBUG", None)
    return env


def run(argv, env=None, timeout=TIMEOUT):
    """Runs argv; returns (exit status, stdout bytes, stderr bytes)."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env if env is not None else oracle_env(),
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, b"", b"timed out"
    return p.returncode, p.stdout, p.stderr


def ours(argv, **kw):
    return run([NBDINFO] + argv, **kw)


def theirs(argv, **kw):
    return run([ORACLE_NBDINFO] + argv, **kw)


def normalise_ours(text):
    """Turns our output into what 1.14 prints (see the module doc)."""
    text = re.sub(rb"(\tblock_size_\w+: \d+) \(\d+[KMGTPE]\)", rb"\1", text)
    text = text.replace(b'"extended": false,\n', b"")
    text = text.replace(b"\tcan_block_status_payload: false\n", b"")
    text = text.replace(b"\x1b[22;31m\x1b[0m", b"")   # its colours, in colour
    text = text.replace(b'\t"can_block_status_payload": false,\n', b"")
    return text


def same_as_oracle(argv, what, oracle=theirs, mine=ours, normalise=True):
    r1, o1, e1 = oracle(argv)
    r2, o2, e2 = mine(argv)
    if normalise:
        o2 = normalise_ours(o2)
    ok = r1 == r2 and o1 == o2
    if not ok:
        sys.stdout.write("  oracle rc=%s ours rc=%s\n" % (r1, r2))
        sys.stdout.write("  --- oracle\n%s\n  --- ours\n%s\n  --- our stderr\n%s\n" %
                         (o1.decode(errors="replace")[:3000],
                          o2.decode(errors="replace")[:3000],
                          e2.decode(errors="replace")[:2000]))
    return check(ok, what)


def sub(server):
    return ["--", "["] + server + ["]"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A server started in the background, stopped on exit."""

    def __init__(self, argv, wait_for=None, port=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            if wait_for and os.path.exists(wait_for):
                return
            if port:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("server %s did not start" % argv)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def tmpdir():
    return tempfile.mkdtemp(prefix="fastnbd-tools.")


# ---- the servers the oracle tests run on -----------------------------------

def nbdkit_servers():
    return {
        "memory": ["nbdkit", "memory", "1M"],
        "pattern": ["nbdkit", "pattern", "3M"],
        "data-holes": ["nbdkit", "data", "1 @65536 2 @1048576 \"hello\"",
                       "size=3M"],
        "sparse-random": ["nbdkit", "sparse-random", "64M", "seed=7"],
        "exportnames": ["nbdkit", "--filter=exportname", "memory", "1M",
                        "exportname=a", "exportname=b", "exportname=c d",
                        "exportdesc=fixed:a disk", "exportname-list=explicit"],
        "blocksizes": ["nbdkit", "--filter=blocksize-policy", "memory", "1M",
                       "blocksize-minimum=512", "blocksize-preferred=65536",
                       "blocksize-maximum=1M"],
        "readonly": ["nbdkit", "-r", "pattern", "1000"],
        "empty": ["nbdkit", "null", "0"],
    }


def fakesrv_servers():
    py = sys.executable
    return {
        # Meta context options are refused too: libnbd 1.24 (and so
        # fastnbd) sends them without structured replies and lets the
        # server decide, where the 1.14 oracle does not send them at all.
        "fakesrv-simple": [py, FAKESRV, "--refuse", "STRUCTURED_REPLY",
                           "--refuse", "LIST_META_CONTEXT=INVALID",
                           "--refuse", "SET_META_CONTEXT=INVALID",
                           "--pattern"],
        "fakesrv-oldstyle": [py, FAKESRV, "--oldstyle", "--rotational",
                             "--read-only"],
        "fakesrv-exports": [py, FAKESRV, "--export", "one:first disk:300K",
                            "--export", "two", "--export", "three:third:0"],
    }


INFO_MODES = [[], ["--json"], ["--no-content"], ["--list"], ["--list", "--json"],
              ["--list", "--content"], ["--size"], ["--size", "--json"]]
MAP_MODES = [["--map"], ["--map", "--json"], ["--map", "--totals"],
             ["--map", "--totals", "--json"]]


def test_nbdinfo_oracle():
    need("nbdkit", ORACLE_NBDINFO)
    servers = dict(nbdkit_servers())
    servers.update(fakesrv_servers())
    for name, server in servers.items():
        for mode in INFO_MODES + MAP_MODES:
            if name == "fakesrv-oldstyle" and "--list" in mode:
                continue        # no listing on oldstyle: an error in both
            if name in ("fakesrv-simple", "fakesrv-oldstyle") and "--map" in mode:
                continue        # 1.14 hangs there; ours is an error case
            if name == "fakesrv-exports" and "--list" not in mode:
                continue        # no default export: 1.14 hangs there too
            same_as_oracle(mode + sub(server), "%s %s" % (name, " ".join(mode)))
            if "--json" in mode:
                r, out, _ = ours(mode + sub(server))
                try:
                    check(r == 0, "%s %s exits 0" % (name, " ".join(mode)))
                    json.loads(out)
                    check(True, "%s %s parses as JSON" % (name, " ".join(mode)))
                except ValueError as e:
                    check(False, "%s %s parses as JSON: %s" % (name, " ".join(mode), e))


def test_nbdinfo_uri_forms():
    """The URI forms: Unix socket, TCP on 127.0.0.1, and TLS with PSK."""
    need("nbdkit", ORACLE_NBDINFO)
    d = tmpdir()
    sock = os.path.join(d, "sock")
    with Server(["nbdkit", "-f", "-U", sock, "memory", "1M"], wait_for=sock):
        uri = "nbd+unix:///?socket=" + sock
        for mode in INFO_MODES + MAP_MODES:
            same_as_oracle(mode + [uri], "unix URI %s" % " ".join(mode))
        r, out, _ = ours(["--uri", uri])
        check(r == 0 and out == (uri + "\n").encode(), "--uri prints the URI")
        r, out, _ = ours(["--uri", "--json", uri])
        check(r == 0 and json.loads(out) == uri, "--uri --json is a JSON string")
    # An export name in the URI, percent-encoded where it must be.
    sock = os.path.join(d, "names")
    with Server(["nbdkit", "-f", "-U", sock, "--filter=exportname", "memory",
                 "1M", "exportname=a", "exportname=b c", "exportname-strict=true",
                 "exportdesc=fixed:the disk"], wait_for=sock):
        for name in ["a", "b%20c"]:
            uri = "nbd+unix:///%s?socket=%s" % (name, sock)
            for mode in [[], ["--json"], ["--size"], ["--map"]]:
                same_as_oracle(mode + [uri], "URI with export %s %s" %
                               (name, " ".join(mode)))
            r, out, _ = ours(["--uri", uri])
            check(r == 0 and out == (uri + "\n").encode(),
                  "--uri keeps the export name %s" % name)
    # nbdkit's info plugin serves the export name it was asked for, so
    # the dump shows the name the tool decoded from the URI.
    sock = os.path.join(d, "info")
    with Server(["nbdkit", "-f", "-U", sock, "info", "mode=exportname"],
                wait_for=sock):
        uri = "nbd+unix:///hello%%20w%%C3%%B6rld?socket=%s" % sock
        same_as_oracle([uri], "nbddump of the info plugin's export name",
                       oracle=lambda a: run([ORACLE_NBDDUMP] + a),
                       mine=lambda a: run([NBDDUMP] + a), normalise=False)
        r, out, _ = run([NBDDUMP, uri])
        check(r == 0 and b"|hello w..rld    |" in out, "the dump shows the name")
        for mode in [[], ["--json"]]:
            same_as_oracle(mode + [uri], "info plugin %s" % " ".join(mode))
    port = free_port()
    with Server(["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(port), "pattern",
                 "1M"], port=port):
        uri = "nbd://127.0.0.1:%d" % port
        for mode in INFO_MODES + MAP_MODES:
            same_as_oracle(mode + [uri], "TCP URI %s" % " ".join(mode))
    if shutil.which("psktool"):
        psk = os.path.join(d, "keys.psk")
        subprocess.run(["psktool", "-u", "alice", "-p", psk],
                       stdout=subprocess.DEVNULL, check=True)
        sock = os.path.join(d, "tls")
        with Server(["nbdkit", "-f", "-U", sock, "--tls=require",
                     "--tls-psk=" + psk, "memory", "1M"], wait_for=sock):
            uri = ("nbds+unix://alice@/?socket=%s&tls-psk-file=%s" % (sock, psk))
            for mode in [[], ["--json"], ["--map"], ["--size"]]:
                same_as_oracle(mode + [uri], "TLS URI %s" % " ".join(mode))
            for mode, want in [(["--is", "tls"], 0), (["--isnt", "tls"], 2)]:
                r, _, _ = ours(mode + [uri])
                check(r == want, "TLS URI %s exits %d" % (" ".join(mode), want))
        port = free_port()
        with Server(["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(port),
                     "--tls=require", "--tls-psk=" + psk, "pattern", "1M"],
                    port=port):
            uri = "nbds://alice@127.0.0.1:%d/?tls-psk-file=%s" % (port, psk)
            for mode in [[], ["--json"], ["--map"], ["--size"]]:
                same_as_oracle(mode + [uri], "TLS over TCP %s" % " ".join(mode))
    shutil.rmtree(d)


PROPERTIES_114 = {
    "can": ["cache", "connect", "df", "fast-zero", "flush", "fua", "multi-conn",
            "read", "structured-reply", "trim", "write", "zero"],
    "is": ["read-only", "rotational", "tls"],
}
NEGATION = {"can": "cannot", "is": "isnt", "has": "hasnt"}


def test_nbdinfo_properties():
    need("nbdkit", ORACLE_NBDINFO)
    servers = {
        "memory": ["nbdkit", "memory", "1M"],
        "readonly": ["nbdkit", "-r", "--filter=nozero", "--filter=nocache",
                     "pattern", "1M"],
    }
    servers.update(fakesrv_servers())
    del servers["fakesrv-exports"]     # it has no default export
    for name, server in servers.items():
        for verb, props in PROPERTIES_114.items():
            for prop in props:
                r1, o1, _ = theirs(["--" + verb, prop] + sub(server))
                r2, o2, _ = ours(["--" + verb, prop] + sub(server))
                check(r1 == r2 and r2 in (0, 2) and o2 == b"",
                      "%s --%s %s: oracle %s, ours %s" % (name, verb, prop, r1, r2))
                r3, _, _ = ours(["--" + NEGATION[verb], prop] + sub(server))
                check(r3 == 2 - r2, "%s --%s %s exits %s" %
                      (name, NEGATION[verb], prop, 2 - r2))
        # The properties 1.14 does not have, and --has.
        for prop in ["structured-reply", "extended-headers", "block-status-payload"]:
            r, _, _ = ours(["--has", prop] + sub(server))
            r2, _, _ = ours(["--hasnt", prop] + sub(server))
            check(r in (0, 2) and r2 == 2 - r, "%s --has/--hasnt %s" % (name, prop))
    ext = [sys.executable, FAKESRV, "--extended"]
    for prop in ["extended-headers", "block-status-payload", "structured-reply"]:
        r, _, _ = ours(["--can", prop] + sub(ext))
        check(r == 0, "extended server --can %s exits 0" % prop)
    # The other spellings libnbd's nbdinfo takes (case does not matter,
    # '_' for '-', ' ' too in some), and ones it refuses.
    mem = nbdkit_servers()["memory"]
    for prop in ["fast_zero", "FAST-ZERO", "fastzero", "fast zero", "sr",
                 "structured", "structured replies", "Structured_Reply",
                 "readonly", "read_only", "read only", "multiconn",
                 "multi_conn", "Multi-Conn", "TLS", "Cache", "readOnly"]:
        r1, _, _ = theirs(["--is", prop] + sub(mem))
        r2, _, _ = ours(["--is", prop] + sub(mem))
        check(r1 == r2, "--is %r: oracle %s, ours %s" % (prop, r1, r2))
    for prop in ["eh", "extended header", "Extended_Headers",
                 "block status payload", "BLOCK_STATUS_PAYLOAD"]:
        r, _, _ = ours(["--has", prop] + sub(ext))
        check(r == 0, "extended server --has %r exits 0" % prop)
    r, _, _ = ours(["--has", "block status-payloads"] + sub(ext))
    check(r == 1, "misspelt property is an error")
    r, _, _ = ours(["--has", "extended-headers"] + sub(nbdkit_servers()["memory"]))
    check(r == 2, "nbdkit --has extended-headers exits 2")
    r, _, e = ours(["--can", "bogus"] + sub(nbdkit_servers()["memory"]))
    check(r == 1 and b"bogus" in e, "unknown property is an error (exit 1)")
    r, _, _ = ours(["--can", "connect", "nbd://127.0.0.1:%d" % free_port()])
    check(r == 1, "--can connect to nothing is an error (exit 1) as in 1.14")


def hostile_servers():
    names = ['quote"back\\slash', "tab\there", "esc\x1b[31mred", "bell\x07",
             "del\x7f", "c1\u009b31m", "utf8 é ☆", "nl\nx"]
    desc = "desc \x1b]0;title\x07 \"q\" \\ \x01"
    srv = ["nbdkit", "--filter=exportname", "memory", "1M",
           "exportname-list=explicit", "exportdesc=fixed:" + desc]
    srv += ["exportname=" + n for n in names]
    return names, desc, srv


def control_free(text):
    """No control character but tab and newline, none in C1 either."""
    s = text.decode("utf-8", errors="replace")
    return not any((ord(c) < 0x20 and c not in "\t\n") or 0x7f <= ord(c) <= 0x9f
                   for c in s)


def test_nbdinfo_hostile():
    need("nbdkit")
    names, desc, srv = hostile_servers()
    r, out, err = ours(["--list", "--json"] + sub(srv))
    check(r == 0, "--list --json on hostile names exits 0 (%s)" % err[:200])
    try:
        doc = json.loads(out)
        got = [e["export-name"] for e in doc["exports"]]
        check(got == names, "JSON export names round-trip: %r" % got)
        check(all(e["description"] == desc for e in doc["exports"]),
              "JSON descriptions round-trip")
    except ValueError as e:
        check(False, "hostile --list --json parses: %s" % e)
    check(control_free(out), "JSON output has no raw control characters")
    r, out, _ = ours(["--list"] + sub(srv))
    check(r == 0 and control_free(out), "text --list has no raw control characters")
    check(b'export="quote\\"back\\\\slash":' in out, "quotes escaped in export=")
    # Invalid UTF-8 cannot come through nbdkit's command line; fakesrv's
    # exports are given as arguments too, so the bytes go through an
    # environment-free route: a name made of surrogate escapes.
    bad = "bad\udcff\udcfeend"
    srv = [sys.executable, FAKESRV, "--export", bad + ":x\udc80y"]
    r, out, err = ours(["--list", "--json"] + sub(srv))
    try:
        doc = json.loads(out.decode("utf-8"))
        check(doc["exports"][0]["export-name"] == "bad\ufffd\ufffdend",
              "invalid UTF-8 in a name becomes U+FFFD in JSON")
        check(doc["exports"][0].get("description") == "x\ufffdy",
              "invalid UTF-8 in a description becomes U+FFFD in JSON")
    except (ValueError, UnicodeDecodeError, IndexError, KeyError) as e:
        check(False, "invalid UTF-8 --list --json is valid JSON: %s %r %r" % (e, out[:300], err[:300]))
    r, out, _ = ours(["--list"] + sub(srv))
    check(b'export="bad\\xff\\xfeend":' in out, "invalid UTF-8 shown as \\xNN in text")
    check(b"\tdescription: x\\x80y\n" in out, "invalid UTF-8 description shown as \\xNN")


def one_line_error(rc, out, err, what, tool="nbdinfo"):
    """A failure: exit status 1, nothing on stdout, and one line on
    stderr naming the tool (the server's own lines aside)."""
    lines = [l for l in err.decode(errors="replace").splitlines()
             if not l.startswith(("nbdkit:", "qemu-nbd:"))]
    ok = (rc == 1 and out == b"" and len(lines) == 1
          and lines[0].startswith(tool + ": ") and len(lines[0]) > len(tool) + 10)
    if not ok:
        print("  rc=%s stdout=%r stderr=%r" % (rc, out[:200], err[:500]))
    return check(ok, what)


def test_nbdinfo_errors():
    need("nbdkit")
    mem = ["nbdkit", "memory", "1M"]
    py = sys.executable
    cases = {
        "unreachable server": ["nbd://127.0.0.1:%d" % free_port()],
        "bad URI scheme": ["foo://bar"],
        "malformed URI": ["nbd://[::1"],
        "two URIs": ["nbd://a", "nbd://b"],
        "no target": [],
        "unclosed subprocess": ["--", "[", "nbdkit", "memory", "1M"],
        "export that does not exist": sub(["nbdkit", "--filter=exportname",
                                           "memory", "1M", "exportname-strict=true",
                                           "exportname=a"]),
        "map of a missing context": ["--map=qemu:dirty-bitmap:x"] + sub(mem),
        "map of the context named \"\"": ["--map="] + sub(mem),
        "map without structured replies": ["--map"] + sub(
            [py, FAKESRV, "--refuse", "STRUCTURED_REPLY"]),
        "server dies in mid-map": ["--map"] + sub(
            [py, FAKESRV, "--fault", "die-before-reply"]),
        "server dies in mid-map after replies": ["--map"] + sub(
            [py, FAKESRV, "--export", "::16G", "--fault", "die-before-reply",
             "--fault-at", "3"]),
        "error reply in mid-map": ["--map", "--totals"] + sub(
            [py, FAKESRV, "--export", "::16G", "--fault", "error-reply",
             "--fault-at", "2"]),
        "server dies in mid-content": sub(
            [py, FAKESRV, "--fault", "close-mid-payload"]),
        "unknown option": ["--no-such-option"] + sub(mem),
        "--totals without --map": ["--totals"] + sub(mem),
        "--size with --map": ["--size", "--map"] + sub(mem),
        "subprocess that fails": sub(["false"]),
        "subprocess that does not exist": sub(["/nonexistent/server"]),
        "qemu-nbd that cannot open its image": sub(
            ["qemu-nbd", "-f", "qcow2", "/nonexistent/disk.qcow2"]),
        "--list on oldstyle": ["--list"] + sub([py, FAKESRV, "--oldstyle"]),
    }
    for what, argv in cases.items():
        rc, out, err = ours(argv, timeout=60)
        one_line_error(rc, out, err, what)
    rc, out, err = run([NBDDUMP, "--no-such"])
    one_line_error(rc, out, err, "nbddump: unknown option", "nbddump")
    rc, out, err = run([NBDDUMP, "-n", "12Q", "nbd://x"])
    one_line_error(rc, out, err, "nbddump: bad --length", "nbddump")
    rc, out, err = run([NBDDUMP] + sub(["false"]), timeout=60)
    one_line_error(rc, out, err, "nbddump: subprocess that fails", "nbddump")
    for what, argv in [("unreachable server", ["nbd://127.0.0.1:%d" % free_port()]),
                       ("bad URI scheme", ["foo://bar"]),
                       ("export that does not exist", sub(
                           ["nbdkit", "--filter=exportname", "memory", "1M",
                            "exportname-strict=true", "exportname=a"])),
                       ("two URIs", ["nbd://a", "nbd://b"]), ("no target", [])]:
        rc, out, err = run([NBDDUMP] + argv, timeout=60)
        one_line_error(rc, out, err, "nbddump: " + what, "nbddump")
    # Dumping streams, so lines already printed stay; the failure is
    # still one line and exit status 1.
    for fault in ["close-mid-payload", "die-before-reply", "error-reply"]:
        rc, out, err = run([NBDDUMP] + sub([py, FAKESRV, "--pattern", "--export",
                                           "::16M", "--fault", fault,
                                           "--fault-at", "3"]), timeout=60)
        one_line_error(rc, b"", err, "nbddump: server fault %s mid-dump" % fault,
                       "nbddump")
    # A server that exits before the handshake is the cause of the
    # failure, and the message says how it exited.
    for server, says in [(["false"], b"exited with status 1"),
                         (["/nonexistent/server"], b"(it could not be run)"),
                         (["sh", "-c", "kill -9 $$"], b"killed by signal 9"),
                         (["qemu-nbd", "-f", "qcow2", "/nonexistent/disk.qcow2"],
                          b"exited with status 1")]:
        for tool, argv in [("nbdinfo", [NBDINFO]), ("nbdinfo", [NBDINFO, "--map"]),
                           ("nbddump", [NBDDUMP])]:
            rc, out, err = run(argv + sub(server), timeout=60)
            check(rc == 1 and b"%s: the server subprocess %s " % (
                tool.encode(), server[0].encode()) in err and says in err,
                  "%s %s: the message says the server exited: %r" %
                  (" ".join(argv[1:]) or tool, server[0], err[-200:]))
    # The server exits at once, but its background job keeps the listening
    # socket open for 30 s: the tool must not wait for it.
    held = sub(["sh", "-c", "sleep 30 >/dev/null 2>&1 & exit 0"])
    for tool, argv in [("nbdinfo", [NBDINFO] + held),
                       ("nbdinfo", [NBDINFO, "--map"] + held),
                       ("nbddump", [NBDDUMP] + held)]:
        t0 = time.time()
        rc, out, err = run(argv, timeout=20)
        one_line_error(rc, out, err, "%s: subprocess that exits, its socket held "
                       "by another (%.1f s)" % (tool, time.time() - t0), tool)


def test_nbdinfo_debug():
    need("nbdkit")
    env = dict(os.environ, LIBNBD_DEBUG="1")
    for mode in [[], ["--json"], ["--map"], ["--size"], ["--list"]]:
        argv = mode + sub(["nbdkit", "pattern", "1M"])
        r1, o1, _ = ours(argv)
        r2, o2, e2 = ours(argv, env=env)
        check(r1 == r2 == 0 and o1 == o2 and b"libnbd" in e2,
              "LIBNBD_DEBUG=1 %s: debug on stderr only" % " ".join(mode))
    argv = [NBDDUMP] + sub(["nbdkit", "pattern", "64K"])
    r1, o1, _ = run(argv)
    r2, o2, e2 = run(argv, env=env)
    check(r1 == r2 == 0 and o1 == o2 and b"libnbd" in e2,
          "LIBNBD_DEBUG=1 nbddump: debug on stderr only")


def test_nbdinfo_map():
    """Maps the oracle cannot check alone: qemu-nbd's contexts, extended
    headers, servers that answer with one extent at a time, and big
    fragmented exports."""
    need("nbdkit", "qemu-nbd", "qemu-img", "qemu-io", ORACLE_NBDINFO)
    d = tmpdir()
    base, top = os.path.join(d, "base.qcow2"), os.path.join(d, "top.qcow2")
    q = lambda *a: subprocess.run(list(a), check=True, stdout=subprocess.DEVNULL)
    q("qemu-img", "create", "-q", "-f", "qcow2", base, "8M")
    q("qemu-io", "-c", "write -P 1 0 64k", "-c", "write -P 5 4M 128k", base)
    q("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
    q("qemu-io", "-c", "write -P 2 1M 64k", "-c", "write -z 2M 64k", top)
    q("qemu-img", "bitmap", "--add", top, "b0")
    q("qemu-io", "-c", "write -P 3 3M 64k", "-c", "write -P 3 6M 4k", top)
    q("qemu-img", "bitmap", "--add", "--disable", top, "b1")
    qemu = ["qemu-nbd", "-r", "-f", "qcow2", "-A", "-B", "b0", "-B", "b1", top]
    for ctx in ["", "=base:allocation", "=qemu:allocation-depth",
                "=qemu:dirty-bitmap:b0", "=qemu:dirty-bitmap:b1"]:
        for extra in [[], ["--json"], ["--totals"], ["--totals", "--json"]]:
            same_as_oracle(["--map" + ctx] + extra + sub(qemu),
                           "qemu-nbd --map%s %s" % (ctx, " ".join(extra)))
    same_as_oracle(sub(qemu), "qemu-nbd description with its contexts")
    same_as_oracle(["--json"] + sub(qemu), "qemu-nbd --json description")

    # Extended headers (64-bit block status) must give the same map as
    # 32-bit block status from the same server.
    py = sys.executable
    for size in ["1M", "5G"]:
        plain = [py, FAKESRV, "--export", "::" + size]
        ext = [py, FAKESRV, "--export", "::" + size, "--extended"]
        for mode in MAP_MODES:
            r1, o1, _ = ours(mode + sub(plain))
            r2, o2, _ = ours(mode + sub(ext))
            check(r1 == r2 == 0 and o1 == o2 and o1,
                  "%s map with extended headers equals 32-bit (%s)" %
                  (size, " ".join(mode)))
        same_as_oracle(MAP_MODES[0] + sub(plain), "fakesrv %s map vs oracle" % size)
    r, out, _ = ours(["--json"] + sub([py, FAKESRV, "--extended"]))
    check(r == 0 and json.loads(out)["extended"] is True,
          "--json says extended: true")
    r, out, _ = ours(sub([py, FAKESRV, "--extended"]))
    check(b"using extended packets" in out and b"can_block_status_payload: true" in out,
          "text shows extended packets and can_block_status_payload")

    # A server that answers every block status with a single extent
    # (short lists), so the walk needs many requests per window.
    short = ["nbdkit", "eval", "get_size=echo 1048576", "pread=exit 0",
             "can_extents=exit 0",
             "extents=echo $4 4096 $(( ($4 / 4096) % 3 == 0 ? 3 : 0 ))"]
    for mode in MAP_MODES:
        same_as_oracle(mode + sub(short), "one extent per reply %s" % " ".join(mode))
    r, out, _ = ours(["--map"] + sub(short))
    lines = out.splitlines()
    check(r == 0 and len(lines) == 171 and lines[0].split() == [b"0", b"4096", b"3", b"hole,zero"]
          and lines[1].split() == [b"4096", b"8192", b"0", b"data"],
          "short replies are merged: %d lines" % len(lines))

    # Big and fragmented: many extents in each reply.
    frag = ["nbdkit", "sparse-random", "4G", "seed=1", "runlength=4096",
            "percent=50"]
    for mode in MAP_MODES:
        same_as_oracle(mode + sub(frag), "fragmented 4G %s" % " ".join(mode))
    shutil.rmtree(d)


def test_tool_options():
    need(ORACLE_NBDINFO, ORACLE_NBDDUMP)
    for mine, oracle, tool in [(NBDINFO, ORACLE_NBDINFO, "nbdinfo"),
                               (NBDDUMP, ORACLE_NBDDUMP, "nbddump")]:
        r, out, _ = run([mine, "-V"])
        lines = out.decode().splitlines()
        check(r == 0 and len(lines) == 2 and lines[0].startswith(tool + " ") and
              lines[1] == "libnbd 1.24.0", "%s -V: %r" % (tool, lines))
        r2, out2, _ = run([mine, "--version"])
        check(out2 == out, "%s --version equals -V" % tool)
        for flag in ["--long-options", "--short-options"]:
            r, o_mine, _ = run([mine, flag])
            r2, o_theirs, _ = run([oracle, flag])
            a, b = set(o_mine.split()), set(o_theirs.split())
            check(r == 0 and b <= a and all(x.startswith(b"-") for x in a),
                  "%s %s lists every option 1.14 lists (missing: %s)" %
                  (tool, flag, b - a))
        # Every option listed is accepted by getopt.
        r, o_mine, _ = run([mine, "--long-options"])
        for opt in o_mine.decode().split():
            rr, _, ee = run([mine, opt + ("=x" if opt in ("--length", "--limit") else "")])
            check(b"unrecognized option" not in ee,
                  "%s accepts %s" % (tool, opt))
        r, out, _ = run([mine, "--help"])
        r2, out2, _ = run([oracle, "--help"])
        check(r == 0 and out.splitlines()[-4:] == out2.splitlines()[-4:],
              "%s --help ends as 1.14's: %r" % (tool, out.splitlines()[-4:]))
    r, out, _ = run([NBDINFO, "--long-options"])
    for o in ["--uri", "--isnt", "--cannot", "--has", "--hasnt", "--map", "--totals"]:
        check(o.encode() in out.split(), "nbdinfo lists %s" % o)


DUMP_SERVERS = [
    ["nbdkit", "data", '"hello" 1 2 127 255 @4096 1 @8192 "zz"'],
    ["nbdkit", "pattern", "300"],
    ["nbdkit", "memory", "1G"],
    ["nbdkit", "data", "1", "size=4100"],
    ["nbdkit", "pattern", "1M"],
    ["nbdkit", "sparse-random", "16M", "seed=3"],
    ["nbdkit", "data", '"  a(b)!~" @31 1', "size=33"],
    ["nbdkit", "data", "@4095 1 @8200 1", "size=9000"],
    ["nbdkit", "data", "1 @16 1 @32 1", "size=1M"],
    ["nbdkit", "data", "1 @16 1 @32 1 @35 1", "size=1M"],
    ["nbdkit", "data", "1 @16 1 @32 1 @48 1", "size=52"],
    ["nbdkit", "random", "100K", "seed=2"],
    ["nbdkit", "null", "0"],
]


def test_nbddump_oracle():
    need("nbdkit", ORACLE_NBDDUMP)
    mine = lambda argv: run([NBDDUMP] + argv)
    oracle = lambda argv: run([ORACLE_NBDDUMP] + argv)
    for server in DUMP_SERVERS:
        for opts in [[], ["-n", "20"], ["--length=4100"], ["--color"],
                     ["-n", "0"], ["-n", "17", "--color"], ["--limit", "32"],
                     ["--no-color"]]:
            same_as_oracle(opts + sub(server), "nbddump %s %s" %
                           (" ".join(opts), " ".join(server)),
                           oracle=oracle, mine=mine, normalise=False)
    d = tmpdir()
    sock = os.path.join(d, "sock")
    with Server(["nbdkit", "-f", "-U", sock, "pattern", "64K"], wait_for=sock):
        same_as_oracle(["nbd+unix:///?socket=" + sock], "nbddump unix URI",
                       oracle=oracle, mine=mine, normalise=False)
    shutil.rmtree(d)


def test_nbddump_sparse():
    """A mostly empty 1 TiB export dumps at once: its zero regions are
    never read."""
    need("nbdkit")
    d = tmpdir()
    log = os.path.join(d, "log")
    server = ["nbdkit", "--filter=log", "data", "\"start\" @1099511627000 \"end\"",
              "size=1T", "logfile=" + log]
    t0 = time.time()
    r, out, err = run([NBDDUMP] + sub(server), timeout=60)
    took = time.time() - t0
    lines = out.splitlines()
    zeroes = b"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|"
    want = [b"0000000000: 73 74 61 72 74 00 00 00  00 00 00 00 00 00 00 00 |start...........|",
            b"0000000010: " + zeroes, b"*",
            b"fffffffcf0: 00 00 00 00 00 00 00 00  65 6e 64 00 00 00 00 00 |........end.....|",
            b"fffffffd00: " + zeroes, b"*", b"fffffffff0: " + zeroes]
    check(r == 0 and lines == want, "1 TiB dump layout: %r %s" % (lines, err[:200]))
    check(took < 20, "1 TiB dump took %.1f s" % took)
    reads = [l for l in open(log) if " Read " in l]
    total = sum(int(re.search(r"count=(0x[0-9a-f]+)", l).group(1), 16) for l in reads)
    check(total <= 1 << 20, "1 TiB dump read %d bytes" % total)
    shutil.rmtree(d)


def test_nbd_server():
    """nbd-server (simple replies only, no meta contexts), on 127.0.0.1:
    the modes 1.14 answers alike, the map refused, nbddump; and the
    description shows the export's real size.  nbd-server answers
    NBD_OPT_INFO with size 0, and 1.14's nbdinfo prints that (and probes
    no content); ours prints the size of the export it goes to."""
    need("nbd-server", ORACLE_NBDINFO, ORACLE_NBDDUMP)
    d = tmpdir()
    disk, ro = os.path.join(d, "disk.img"), os.path.join(d, "ro.img")
    with open(disk, "wb") as f:
        f.write(b"hello")
        f.truncate(1 << 20)
    with open(ro, "wb") as f:
        f.truncate(65536)
    port = free_port()
    conf, pidfile = os.path.join(d, "conf"), os.path.join(d, "pid")
    with open(conf, "w") as f:
        f.write("[generic]\nport = %d\nlistenaddr = 127.0.0.1\nallowlist = true\n"
                "[disk]\nexportname = %s\n[ro]\nexportname = %s\nreadonly = true\n"
                % (port, disk, ro))
    subprocess.run(["nbd-server", "-C", conf, "-p", pidfile], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not os.path.exists(pidfile) and time.time() < deadline:
            time.sleep(0.05)
        base = "nbd://127.0.0.1:%d/" % port
        for export in ["disk", "ro"]:
            for mode in [["--size"], ["--size", "--json"], ["--list"],
                         ["--list", "--json"], ["--map"], ["--map", "--json"],
                         ["--is", "read-only"], ["--can", "write"],
                         ["--can", "structured-reply"]]:
                same_as_oracle(mode + [base + export],
                               "nbd-server %s %s" % (export, " ".join(mode)))
            same_as_oracle([base + export], "nbddump of nbd-server %s" % export,
                           oracle=lambda a: run([ORACLE_NBDDUMP] + a),
                           mine=lambda a: run([NBDDUMP] + a), normalise=False)
        r, out, _ = ours([base + "disk"])
        check(r == 0 and b"\texport-size: 1048576 (1M)\n\tcontent: data\n" in out,
              "nbd-server description has the real size: %r" % out[:200])
        r, out, _ = ours(["--json", base + "ro"])
        e = json.loads(out)["exports"][0] if r == 0 else {}
        check(e.get("export-size") == 65536 and e.get("is_read_only") is True,
              "nbd-server --json: %r" % e)
        r, out, err = ours(["--map", base + "disk"])
        one_line_error(r, out, err, "nbd-server --map is refused in one line")
    finally:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, 15)
        deadline = time.time() + 10       # it removes its pid file itself
        while os.path.exists(pidfile) and time.time() < deadline:
            time.sleep(0.05)
    shutil.rmtree(d, ignore_errors=True)


def test_nbdinfo_payload_flag():
    """can_block_status_payload is shown for every export, false without
    extended headers, right after is_read_only (text and JSON)."""
    need("nbdkit")
    py = sys.executable
    for server, value in [(["nbdkit", "memory", "1M"], "false"),
                          ([py, FAKESRV, "--refuse", "STRUCTURED_REPLY"], "false"),
                          ([py, FAKESRV, "--oldstyle"], "false"),
                          ([py, FAKESRV, "--extended"], "true")]:
        what = " ".join(server[-2:])
        r, out, err = ours(sub(server))
        want = b"\tcan_block_status_payload: %s\n\tcan_cache: " % value.encode()
        check(r == 0 and re.search(b"\tis_read_only: \\w+\n" + re.escape(want), out),
              "%s: text shows can_block_status_payload: %s after is_read_only (%s)" %
              (what, value, err[:200]))
        r, out, _ = ours(["--json"] + sub(server))
        keys = list(json.loads(out)["exports"][0]) if r == 0 else []
        check("can_block_status_payload" in keys and
              keys.index("can_block_status_payload") == keys.index("is_read_only") + 1 and
              json.loads(out)["exports"][0]["can_block_status_payload"] == (value == "true"),
              "%s: JSON has can_block_status_payload after is_read_only" % what)


def nbddump_rebased(out, by):
    """Adds by to the offset of every line of a dump."""
    lines = []
    for line in out.splitlines():
        m = re.match(rb"([0-9a-f]+)(: .*)", line)
        lines.append(b"%010x%s" % (int(m.group(1), 16) + by, m.group(2)) if m else line)
    return lines


def test_nbddump_offset():
    """--offset N dumps from byte N on, with the export's own offsets: the
    same as Debian's nbddump of an export that starts at N (nbdkit's
    offset filter), shifted by N.  The minimum block size of 512 is
    enforced, so unaligned offsets must still ask aligned questions."""
    need("nbdkit", ORACLE_NBDDUMP)
    data = ['"hello" 1 2 127 255 @4096 1 @8192 "zz" @100000 "tail"', "size=100352"]
    ours_srv = (["nbdkit", "--filter=blocksize-policy", "data"] + data +
                ["blocksize-minimum=512", "blocksize-error-policy=error"])
    for offset in [0, 1, 5, 16, 511, 512, 4090, 4096, 8193, 99999, 100351, 100352]:
        shifted = ["nbdkit", "--filter=offset", "data"] + data + ["offset=%d" % offset]
        for length in [None, 1, 17, 4000]:
            opts = ["-n", str(length)] if length else []
            r1, o1, e1 = run([ORACLE_NBDDUMP] + opts + sub(shifted))
            r2, o2, e2 = run([NBDDUMP, "--offset", str(offset)] + opts + sub(ours_srv))
            ok = r1 == r2 == 0 and nbddump_rebased(o1, offset) == o2.splitlines()
            if not ok:
                sys.stdout.write("  oracle %r\n  ours %r %r\n" % (o1[:600], o2[:600], e2))
            check(ok, "nbddump -o %d %s" % (offset, " ".join(opts)))
    r, out, err = run([NBDDUMP, "-o", "1K"] + sub(["nbdkit", "pattern", "2K"]))
    check(r == 0 and out.startswith(b"0000000400: 00 00 00 00 00 00 04 00"),
          "-o takes a size with a suffix: %r" % out[:80])
    r1, o1, _ = run([NBDDUMP, "--offset", "100", "-n", "40"] + sub(["nbdkit", "pattern", "4K"]))
    r2, o2, _ = run([NBDDUMP, "--skip", "100", "-n", "40"] + sub(["nbdkit", "pattern", "4K"]))
    check(r1 == r2 == 0 and o1 == o2 and o1.startswith(b"0000000064: "),
          "--skip is --offset: %r" % o2[:80])
    # Sizes are read as libnbd's tools read them: strtoll's syntax, a
    # suffix for 512-byte sectors or powers of 1024, and at most the
    # largest signed 64-bit value.
    for arg, want in [("1s", 512), ("2S", 1024), ("+16", 16), (" 08", 8),
                      ("1k", 1024), ("1b", 1), ("9223372036854775807", 4096)]:
        r, out, err = run([NBDDUMP, "-n", arg] + sub(["nbdkit", "pattern", "4K"]))
        lines = out.splitlines()
        got = 16 * (len(lines) - 1) + len(lines[-1][12:59].split()) if lines else 0
        check(r == 0 and got == want, "-n %r dumps %d bytes (%d)" % (arg, want, got))
    for arg in ["-1", "8E", "9223372036854775808", "1MB", "1.5M", "0x10", "",
                "k", "1 K"]:
        r, out, err = run([NBDDUMP, "-n", arg] + sub(["nbdkit", "pattern", "4K"]))
        one_line_error(r, out, err, "nbddump: -n %r is refused" % arg, "nbddump")
    r, out, err = run([NBDDUMP, "-o", "4097"] + sub(["nbdkit", "pattern", "4K"]))
    one_line_error(r, out, err, "nbddump: --offset beyond the end", "nbddump")
    r, out, err = run([NBDDUMP, "--offset=x1"] + sub(["nbdkit", "pattern", "4K"]))
    one_line_error(r, out, err, "nbddump: bad --offset", "nbddump")
    # Only the asked-for part is read, at any offset of a huge export.
    t0 = time.time()
    r, out, _ = run([NBDDUMP, "-o", "1099511627000"] + sub(
        ["nbdkit", "data", '@1099511627000 "end"', "size=1T"]), timeout=60)
    check(r == 0 and out.splitlines()[0].startswith(b"fffffffcf8: 65 6e 64 00") and
          time.time() - t0 < 20, "-o near the end of 1 TiB: %r" % out[:100])


def test_nbdinfo_all_or_nothing():
    """stdout stays empty when a mode fails partway."""
    need("nbdkit")
    py = sys.executable
    for mode in [["--map"], ["--map", "--json"], ["--map", "--totals"]]:
        rc, out, err = ours(mode + sub([py, FAKESRV, "--export", "::12G",
                                        "--fault", "die-before-reply",
                                        "--fault-at", "2"]))
        check(rc == 1 and out == b"", "%s: failure leaves stdout empty" % " ".join(mode))


def test_tools_install():
    """meson install puts both tools in bindir and their manual pages in
    man1 (what meson would install, as meson introspect lists it)."""
    builddir = os.environ.get("TOOLS_BUILDDIR", "build")
    need("meson")
    p = subprocess.run(["meson", "introspect", "--installed", builddir],
                       stdout=subprocess.PIPE, check=True)
    installed = json.loads(p.stdout)
    for tool in ["nbdinfo", "nbddump"]:
        dests = [v for k, v in installed.items() if os.path.basename(k) == tool]
        check(len(dests) == 1 and dests[0].endswith("/bin/" + tool),
              "%s is installed in bindir: %r" % (tool, dests))
        page = [v for k, v in installed.items()
                if k.endswith("/tools/%s/%s.1" % (tool, tool))]
        check(len(page) == 1 and page[0].endswith("/man1/%s.1" % tool),
              "%s.1 is installed in man1: %r" % (tool, page))


def run_on_pty(argv):
    """Runs argv with stdout on a pseudo-terminal; returns (exit status,
    what it wrote there)."""
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=subprocess.DEVNULL, env=oracle_env())
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:             # EIO once the writer has gone
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=TIMEOUT), out


def test_nbdinfo_color():
    """Text output in ANSI colours, byte for byte as Debian's nbdinfo
    paints it: with --color, and by default on a terminal.  --no-color,
    JSON, and stdout that is not a terminal stay plain.  nbddump's
    default on a terminal too."""
    need("nbdkit", "qemu-nbd", "qemu-img", "qemu-io", ORACLE_NBDINFO,
         ORACLE_NBDDUMP)
    servers = dict(nbdkit_servers())
    servers.update(fakesrv_servers())
    servers["rotational"] = [sys.executable, FAKESRV, "--rotational",
                             "--read-only", "--refuse", "STRUCTURED_REPLY",
                             "--refuse", "LIST_META_CONTEXT=INVALID",
                             "--refuse", "SET_META_CONTEXT=INVALID"]
    servers["described"] = ["nbdkit", "-r", "--filter=exportname",
                            "--filter=blocksize-policy", "memory", "1M",
                            "exportdesc=fixed:a disk", "blocksize-minimum=512",
                            "blocksize-preferred=4096", "blocksize-maximum=1M"]
    servers["all-types"] = ["nbdkit", "eval", "get_size=echo 40960",
                            "pread=exit 0", "can_extents=exit 0",
                            "extents=echo $4 4096 $(( ($4 / 4096) % 4 ))"]
    for name, server in servers.items():
        for mode in [[], ["--list"], ["--map"], ["--map", "--totals"],
                     ["--json"], ["--size"], ["--list", "--json"]]:
            if name in ("fakesrv-oldstyle", "rotational") and (
                    "--list" in mode or "--map" in mode):
                continue
            if name == "fakesrv-exports" and "--list" not in mode:
                continue
            if name == "fakesrv-simple" and "--map" in mode:
                continue
            same_as_oracle(["--color"] + mode + sub(server),
                           "%s --color %s" % (name, " ".join(mode)))
    d = tmpdir()
    base, top = os.path.join(d, "base.qcow2"), os.path.join(d, "top.qcow2")
    q = lambda *a: subprocess.run(list(a), check=True, stdout=subprocess.DEVNULL)
    q("qemu-img", "create", "-q", "-f", "qcow2", base, "8M")
    q("qemu-io", "-c", "write -P 1 0 64k", base)
    q("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
    q("qemu-io", "-c", "write -P 2 1M 64k", top)
    q("qemu-img", "bitmap", "--add", top, "b0")
    q("qemu-io", "-c", "write -P 3 3M 64k", top)
    qemu = ["qemu-nbd", "-r", "-f", "qcow2", "-A", "-B", "b0", top]
    for ctx in ["=base:allocation", "=qemu:allocation-depth",
                "=qemu:dirty-bitmap:b0"]:
        for extra in [[], ["--totals"]]:
            same_as_oracle(["--color", "--map" + ctx] + extra + sub(qemu),
                           "qemu-nbd --color --map%s %s" % (ctx, " ".join(extra)))
    same_as_oracle(["--color"] + sub(qemu), "qemu-nbd --color description")
    shutil.rmtree(d)

    mem = sub(nbdkit_servers()["memory"])
    r, out, _ = ours(["--color"] + mem)
    check(r == 0 and b"\x1b[22;32m\tcan_cache: true\n\x1b[0m" in out,
          "--color paints the capabilities")
    for mode in [["--color", "--no-color"], ["--no-color"], []]:
        r, out, _ = ours(mode + mem)
        check(r == 0 and b"\x1b" not in out, "%s: no colour" % " ".join(mode))
    r, out, _ = ours(["--no-color", "--color"] + mem)
    check(r == 0 and b"\x1b[" in out, "the last of --no-color --color wins")
    data = sub(nbdkit_servers()["data-holes"])
    for mode in [["--no-content"], ["--map"], ["--no-content", "--no-color"],
                 ["--json"]]:
        r1, o1 = run_on_pty([ORACLE_NBDINFO] + mode + data)
        r2, o2 = run_on_pty([NBDINFO] + mode + data)
        o2 = normalise_ours(o2.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
        ok = r1 == r2 == 0 and o1 == o2 and ((b"\x1b[" in o1) == (
            "--no-color" not in mode and "--json" not in mode))
        if not ok:
            print("  oracle %r\n  ours %r" % (o1[:400], o2[:400]))
        check(ok, "on a terminal %s: as the oracle" % " ".join(mode))
    dump = sub(DUMP_SERVERS[0])
    for mode in [[], ["--no-color"]]:
        r1, o1 = run_on_pty([ORACLE_NBDDUMP] + mode + dump)
        r2, o2 = run_on_pty([NBDDUMP] + mode + dump)
        check(r1 == r2 == 0 and o1 == o2 and (b"\x1b[" in o1) == (mode == []),
              "nbddump on a terminal %s: as the oracle" % " ".join(mode))


TESTS = {
    "nbdinfo-oracle": test_nbdinfo_oracle,
    "nbdinfo-uri-forms": test_nbdinfo_uri_forms,
    "nbdinfo-properties": test_nbdinfo_properties,
    "nbdinfo-hostile": test_nbdinfo_hostile,
    "nbdinfo-errors": test_nbdinfo_errors,
    "nbdinfo-debug": test_nbdinfo_debug,
    "nbdinfo-map": test_nbdinfo_map,
    "nbdinfo-all-or-nothing": test_nbdinfo_all_or_nothing,
    "tool-options": test_tool_options,
    "nbddump-oracle": test_nbddump_oracle,
    "nbddump-sparse": test_nbddump_sparse,
    "nbddump-offset": test_nbddump_offset,
    "nbdinfo-payload-flag": test_nbdinfo_payload_flag,
    "nbd-server": test_nbd_server,
    "nbdinfo-color": test_nbdinfo_color,
    "install": test_tools_install,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in TESTS:
        print("usage: toolstest.py " + "|".join(TESTS))
        sys.exit(2)
    TESTS[sys.argv[1]]()
    print("%d failed" % len(failures))
    sys.exit(1 if failures else 0)
