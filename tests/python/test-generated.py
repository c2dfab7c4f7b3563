# The callback types and the hand-written calls are typed records in
# spec/constants.py, and everything made from them agrees: the C
# declarations with libnbd 1.14's header (every type and call it has),
# and the Python binding's trampolines and core functions, which are
# generated (methods.c) rather than written by hand in python/.
import os
import re
import sys

sys.path.insert(0, os.environ["FASTNBD_GEN"])
sys.path.insert(0, os.environ["FASTNBD_SPEC"])
import constants  # noqa: E402
import model  # noqa: E402

import libnbdmod  # noqa: E402

SYSTEM_HEADER = "/usr/include/libnbd.h"
PYTHON_SRC = os.path.join(os.environ["FASTNBD_GEN"], "..", "python")
METHODS_C = os.path.join(os.path.dirname(libnbdmod.__file__), "methods.c")


def squeeze(text):
    return re.sub(r"\s+", " ", text).replace("( ", "(").replace(" )", ")").strip()


with open(SYSTEM_HEADER) as f:
    system = f.read()
with open(METHODS_C) as f:
    methods = f.read()
with open(os.path.join(PYTHON_SRC, "callbacks.c")) as f:
    hand_written = f.read()

# Callback types: records of typed parameters, the typedef libnbd has.
system_typedefs = {
    name: squeeze(params) for params, name in re.findall(
        r"typedef struct \{\s*int \(\*callback\) \(void \*user_data, ([^)]*)\);"
        r"[^}]*\} nbd_(\w+)_callback;", system)}
assert len(system_typedefs) >= 6, system_typedefs
for cb in constants.CALLBACKS:
    assert isinstance(cb, model.Callback), cb
    assert cb.params and all(isinstance(p, model.CallbackParam) for p in cb.params), cb.name
    if cb.name in system_typedefs:
        assert squeeze(cb.c_params()) == system_typedefs[cb.name], \
            (cb.name, cb.c_params(), system_typedefs[cb.name])
    # The Python marshalling is generated from the same record.
    assert "\n%s_trampoline (void *user_data, %s)\n" % (cb.name, cb.c_params()) in methods, cb.name
    assert "%s_trampoline" % cb.name not in hand_written, cb.name
assert not set(system_typedefs) - {cb.name for cb in constants.CALLBACKS}

# Hand-written calls: typed arguments and return, the prototype libnbd has.
for core in constants.CORE_CALLS:
    assert isinstance(core, model.CoreCall), core
    assert isinstance(core.ret, model.Ret), core.name
    m = re.search(r"extern ([^;]*\b%s \([^)]*\))" % core.name, system)
    assert m, core.name
    assert squeeze(m.group(1)) == core.prototype(), (core.name, m.group(1))
    py_name = core.name[len("nbd_"):]
    assert "nbdpy_core_%s (" % py_name in methods, py_name
# nbd_create makes the handle, nbd_close is its close method, and the
# error calls are module functions.
assert "libnbdmod.Handle" in repr(libnbdmod.Handle) and "close" in vars(libnbdmod.Handle)
assert isinstance(libnbdmod.get_errno(), int)
assert libnbdmod.get_error() is None or isinstance(libnbdmod.get_error(), str)
h = libnbdmod.Handle()
h.close()
for use_after_close in (h.get_size, h.close):
    try:
        use_after_close()
        raise AssertionError("a closed handle was used")
    except libnbdmod.ClosedHandle:
        pass
print("ok: %d callback types, %d hand-written calls" % (
    len(constants.CALLBACKS), len(constants.CORE_CALLS)))
