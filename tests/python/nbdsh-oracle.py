# nbdsh under both modules: compare.py runs this script with fastnbd's nbd
# module and with the system's python3-nbd, and each run starts
# "python3 -m nbd" (nbdsh) under its own module.  It prints each
# invocation's exit status, standard output, and of standard error only
# what does not depend on the library's wording: the nbdsh prefix, the
# failing call's name, and whether there is a traceback.  The options
# and outputs that differ on purpose (-V's versions, --help and
# --short-options listing -b and --connect) are left out.
import os
import re
import subprocess
import sys

# Found next to this script, whichever nbd module runs it.
from nbdtest import Nbdkit


def stderr_summary(err):
    lines = [line for line in err.splitlines() if "libnbd: debug:" not in line]
    failed = [re.sub(r"(failed: nbd_\w+).*", r"\1", line) for line in lines
              if line.startswith(("nbdsh:", "error:"))]
    return {"traceback": any(line.startswith("Traceback") for line in lines),
            "messages": failed,
            "last": lines[-1].split(":")[0] if lines else ""}


def nbdsh(*args, stdin=None, env=None):
    p = subprocess.run([sys.executable, "-m", "nbd"] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **(env or {})))
    # (The server's temporary directory differs from run to run.)
    shown = " ".join(args).replace(srv.dir, "TMP")
    print("nbdsh %s: status %d, stdout %r, stderr %r"
          % (shown, p.returncode, p.stdout, stderr_summary(p.stderr)))


with Nbdkit(["memory", "1M"]) as srv:
    uri = srv.uri
    nbdsh("-c", "print(type(h).__name__, nbd.CMD_FLAG_FUA)", "-c", "print(2)")
    nbdsh("-c", "-", stdin="x = 6\nprint(x * 7)\n")
    nbdsh("-c", "print(sys.version_info[0], os.name)")
    nbdsh("-n", "-c", "print('h' in globals())")
    nbdsh("-n", "-u", uri)
    nbdsh("-n", "--opt-mode")
    nbdsh("-n", "--base-allocation")
    nbdsh("-c", "h.pread(1, 0)")
    nbdsh("-c", "h.pread(1, 0)", env={"LIBNBD_DEBUG": "1"})
    nbdsh("-c", "raise KeyError('k')")
    nbdsh("-c", "sys.exit(4)")
    nbdsh("-u", uri, "-c", "print(h.get_size())")
    nbdsh("--connect", uri, "-c", "h.pwrite(b'hi', 0)", "-c", "print(h.pread(2, 0))")
    nbdsh("-c", "h.add_meta_context('base:allocation')", "--uri", uri,
          "-c", "print(h.can_meta_context('base:allocation'))")
    nbdsh("--base-allocation", "-u", uri,
          "-c", "print(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))")
    nbdsh("-u", uri, "--base-allocation", "-c", "print('ran')")
    nbdsh("--opt-mode", "-u", uri, "-c", "print(h.aio_is_negotiating())",
          "-c", "h.opt_go()", "-c", "print(h.aio_is_ready())")
    nbdsh("-u", uri, "--opt-mode", "-c", "print('ran')")
    nbdsh("-u", "nbd+unix:///?socket=" + os.path.join(srv.dir, "nonexistent"))

print("done")
