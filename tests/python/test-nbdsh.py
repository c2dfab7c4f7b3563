# nbdsh as nbdsh(1) describes it: -c (repeatable, and "-" for standard
# input), -u/--uri/--connect in order with -c, -b/--base-allocation,
# --opt-mode, -n, -v, -V, and how failures end it.
import os
import subprocess
import sys

from nbdtest import Nbdkit

NBDSH = os.environ["NBDSH"]


def nbdsh(*args, stdin=None, env=None):
    p = subprocess.run([NBDSH] + list(args), input=stdin, capture_output=True,
                       text=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


rc, out, err = nbdsh("-V")
assert rc == 0 and out.startswith("nbdsh 1.") and "\nlibnbd 1." in out, (out, err)

rc, out, err = nbdsh("--help")
assert rc == 0 and "--base-allocation" in out and "--opt-mode" in out, out

# The option lists for shell completion, like libnbd's nbdsh (which has
# no --connect and -b in 1.14).
rc, out, _ = nbdsh("--short-options")
assert rc == 0 and out.split() == ["-V", "-b", "-c", "-n", "-u", "-v"], out
rc, out, _ = nbdsh("--long-options")
assert rc == 0 and out.split() == ["--base-allocation", "--command", "--connect",
                                   "--opt-mode", "--uri", "--verbose", "--version"], out

rc, out, _ = nbdsh("-c", "print(type(h).__name__, nbd.CMD_FLAG_FUA)", "-c", "print(2)")
assert rc == 0 and out == "NBD 1\n2\n", out

rc, out, _ = nbdsh("-c", "-", stdin="x = 6\nprint(x * 7)\n")
assert rc == 0 and out == "42\n", out

rc, out, _ = nbdsh("-n", "-c", "print('h' in globals())")
assert rc == 0 and out == "False\n", out

rc, out, err = nbdsh("-n", "-u", "nbd://localhost")
assert rc == 1 and "-n option cannot be used" in err, err

# An nbd.Error ends nbdsh with the message and status 1.
rc, out, err = nbdsh("-c", "h.pread(1, 0)")
assert rc == 1 and err.startswith("nbdsh: command line script failed: nbd_pread: "), err

rc, out, err = nbdsh("-c", "import sys; sys.exit(4)")
assert rc == 4, rc

# With debugging on, the nbd.Error's traceback is shown instead.
debug_env = dict(os.environ, LIBNBD_DEBUG="1")
rc, out, err = nbdsh("-c", "h.pread(1, 0)", env=debug_env)
assert rc == 1 and "Traceback (most recent call last)" in err, err
assert "command line script failed" not in err, err

# Commands see os and sys without importing them, as in libnbd's nbdsh.
rc, out, err = nbdsh("-c", "print(sys.version_info[0], os.name)")
assert rc == 0 and out == "3 posix\n", (out, err)

with Nbdkit(["memory", "1M"]) as srv:
    rc, out, err = nbdsh("-u", srv.uri, "-c", "print(h.get_size())")
    assert rc == 0 and out == "1048576\n", (out, err)

    rc, out, err = nbdsh("--connect", srv.uri, "-c", "h.pwrite(b'hi', 0)",
                         "-c", "print(bytes(h.pread(2, 0)))")
    assert rc == 0 and out == "b'hi'\n", (out, err)

    # -c before -u runs before connecting, so it can still set things up.
    rc, out, err = nbdsh("-c", "h.add_meta_context('base:allocation')", "--uri", srv.uri,
                         "-c", "print(h.can_meta_context('base:allocation'))")
    assert rc == 0 and out == "True\n", (out, err)

    rc, out, err = nbdsh("--base-allocation", "-u", srv.uri,
                         "-c", "print(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))")
    assert rc == 0 and out == "True\n", (out, err)
    rc, out, err = nbdsh("-b", "-u", srv.uri,
                         "-c", "print(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))")
    assert rc == 0 and out == "True\n", (out, err)

    rc, out, err = nbdsh("--opt-mode", "-u", srv.uri,
                         "-c", "print(h.aio_is_negotiating())", "-c", "h.opt_go()",
                         "-c", "print(h.aio_is_ready())")
    assert rc == 0 and out == "True\nTrue\n", (out, err)

    # Like -u and -c, they act in command-line order: after -u, they
    # come too late (the handle is connected), and end nbdsh with status 1.
    for late in ["--opt-mode", "--base-allocation"]:
        rc, out, err = nbdsh("-u", srv.uri, late, "-c", "print('ran')")
        assert rc == 1 and out == "" and "command line script failed: nbd_" in err, \
            (late, out, err)
    rc, out, err = nbdsh("-n", "--opt-mode")
    assert rc == 1 and "-n option cannot be used" in err, err

    rc, out, err = nbdsh("-v", "-u", srv.uri, "-c", "pass")
    assert rc == 0 and "nbd_connect_uri" in err, err

    # Interactive: statements from standard input, with the nbd> prompt.
    rc, out, err = nbdsh("-u", srv.uri, stdin="print(h.get_size() // 1024)\n")
    assert rc == 0 and "1024\n" in out and "nbd> " in out + err, (out, err)

rc, out, err = nbdsh("-u", "nbd+unix:///?socket=/nonexistent/sock")
assert rc == 1 and "nbdsh: command line script failed: nbd_connect_uri: " in err, err

# python3 -m nbd is nbdsh too.
p = subprocess.run([sys.executable, "-m", "nbd", "-c", "print(1)"], capture_output=True,
                   text=True, timeout=60)
assert p.returncode == 0 and p.stdout == "1\n", (p.stdout, p.stderr)
print("ok")
