# Every call of spec/api.py is a method of nbd.NBD and a function of
# libnbdmod, with the Python parameters gen/python.py promises, and every
# constant of spec/constants.py is in the nbd module with its value.
import inspect
import os
import sys

sys.path.insert(0, os.environ["FASTNBD_GEN"])
sys.path.insert(0, os.environ["FASTNBD_SPEC"])
import api  # noqa: E402
import constants  # noqa: E402
import python as binding  # noqa: E402

import libnbdmod  # noqa: E402
import nbd  # noqa: E402

assert len(api.CALLS) >= 161, len(api.CALLS)
for c in api.CALLS:
    method = getattr(nbd.NBD, c.name, None)
    assert method is not None, "nbd.NBD lacks " + c.name
    assert c.name in vars(libnbdmod.Handle), "libnbdmod.Handle lacks " + c.name
    params = list(inspect.signature(method).parameters.values())[1:]
    want = binding.py_params(c)
    assert [p.name for p in params] == [n for n, _ in want], (c.name, params)
    for p, (_, default) in zip(params, want):
        if default is None:
            assert p.default is inspect.Parameter.empty, (c.name, p)
        else:
            assert p.default == eval(default), (c.name, p)
    assert method.__doc__ and "nbd_%s(3)" % c.name in method.__doc__

# A few signatures libnbd's Python binding users rely on, spelled out, of
# the methods bound to a handle (unbound, self is positional-only here).
h = nbd.NBD()
sig = {name: str(inspect.signature(getattr(h, name))) for name in
       ["pread", "pwrite", "aio_pread", "block_status", "block_status_64",
        "opt_list", "shutdown", "set_debug_callback", "aio_connect",
        "opt_list_meta_context_queries"]}
assert sig["pread"] == "(count, offset, flags=0)", sig
assert sig["pwrite"] == "(buf, offset, flags=0)", sig
assert sig["aio_pread"] == "(buf, offset, completion=None, flags=0)", sig
assert sig["block_status"] == "(count, offset, extent, flags=0)", sig
assert sig["block_status_64"] == "(count, offset, extent64, flags=0)", sig
assert sig["opt_list"] == "(list)", sig
assert sig["shutdown"] == "(flags=0)", sig
assert sig["set_debug_callback"] == "(debug)", sig
assert sig["aio_connect"] == "(addr)", sig
assert sig["opt_list_meta_context_queries"] == "(queries, context)", sig

for group, values in constants.ENUMS.items():
    for n, v in values:
        assert getattr(nbd, "%s_%s" % (group, n)) == v
for group, (prefix, values) in constants.FLAGS.items():
    for n, v in values:
        assert getattr(nbd, "%s_%s" % (prefix, n)) == v
    assert getattr(nbd, prefix + "_MASK") == sum(v for _, v in values)
for n, v in constants.PLAIN:
    assert getattr(nbd, n) == v
assert nbd.CONTEXT_BASE_ALLOCATION == "base:allocation"
assert nbd.CONTEXT_QEMU_DIRTY_BITMAP == "qemu:dirty-bitmap:"
assert nbd.STATE_HOLE == 1 and nbd.STATE_ZERO == 2
assert nbd.CMD_FLAG_PAYLOAD_LEN == 0x20 and nbd.STRICT_AUTO_FLAG == 0x40
assert nbd.SIZE_PAYLOAD == 3 and nbd.ALLOW_TRANSPORT_SSH == 8
h.close()
assert issubclass(nbd.Error, Exception) and issubclass(nbd.ClosedHandle, Exception)
print("ok: %d calls" % len(api.CALLS))
