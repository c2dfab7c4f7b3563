# Run a script (oracle.py) with fastnbd's nbd module (PYTHONPATH, this
# Python) and with the system's python3-nbd under the system Python and
# libnbd, and require the same standard output.  Skips when the system
# module is not installed.
import os
import subprocess
import sys

SYSTEM_PYTHON = "/usr/bin/python3"
script = sys.argv[1]


def run(python, env):
    p = subprocess.run([python, script], env=env, capture_output=True, text=True,
                       timeout=100)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("%s %s failed with %d" % (python, script, p.returncode))
    return p.stdout


system_env = {k: v for k, v in os.environ.items()
              if k not in ("PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD")}
probe = subprocess.run([SYSTEM_PYTHON, "-c", "import nbd; print(nbd.__file__)"],
                       env=system_env, capture_output=True, text=True)
if probe.returncode != 0 or not probe.stdout.startswith("/usr/"):
    print("SKIP: the system's python3-nbd is not installed")
    sys.exit(77)

ours = run(sys.executable, dict(os.environ))
theirs = run(SYSTEM_PYTHON, system_env)
if ours != theirs:
    import difflib
    sys.stdout.writelines(difflib.unified_diff(
        theirs.splitlines(True), ours.splitlines(True), "python3-nbd", "fastnbd"))
    raise SystemExit("outputs differ")
print(ours, end="")
print("same output from both modules (%d lines)" % len(ours.splitlines()))
