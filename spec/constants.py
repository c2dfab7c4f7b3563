"""Public LIBNBD_* constants and callback types (values fixed by libnbd's ABI)."""

from model import (Callback, CbBuffer, CbExtentArray, CbMutableInt, CbString,
                   CbUInt32Array, CbUInt64, CbUnsigned, CoreCall, Handle,
                   RHandle, RNoErr, RStaticStringNoErr, RVoid)

# Enum groups: accepted values of Enum(...) arguments.
ENUMS = {
    "TLS": [("DISABLE", 0), ("ALLOW", 1), ("REQUIRE", 2)],
    "SIZE": [("MINIMUM", 0), ("PREFERRED", 1), ("MAXIMUM", 2), ("PAYLOAD", 3)],
}

# Flag groups: each gets LIBNBD_<group>_<name> and LIBNBD_<group>_MASK.
# (prefix, [(name, value)])
FLAGS = {
    "CMD_FLAG": ("CMD_FLAG", [("FUA", 0x01), ("NO_HOLE", 0x02), ("DF", 0x04),
                              ("REQ_ONE", 0x08), ("FAST_ZERO", 0x10),
                              ("PAYLOAD_LEN", 0x20)]),
    "HANDSHAKE_FLAG": ("HANDSHAKE_FLAG", [("FIXED_NEWSTYLE", 0x01),
                                          ("NO_ZEROES", 0x02)]),
    "STRICT": ("STRICT", [("COMMANDS", 0x01), ("FLAGS", 0x02), ("BOUNDS", 0x04),
                          ("ZERO_SIZE", 0x08), ("ALIGN", 0x10),
                          ("PAYLOAD", 0x20), ("AUTO_FLAG", 0x40)]),
    "ALLOW_TRANSPORT": ("ALLOW_TRANSPORT", [("TCP", 0x01), ("UNIX", 0x02),
                                            ("VSOCK", 0x04), ("SSH", 0x08)]),
    "SHUTDOWN": ("SHUTDOWN", [("ABANDON_PENDING", 0x10000)]),
}

PLAIN = [
    ("AIO_DIRECTION_READ", 1),
    ("AIO_DIRECTION_WRITE", 2),
    ("AIO_DIRECTION_BOTH", 3),
    ("READ_DATA", 1),
    ("READ_HOLE", 2),
    ("READ_ERROR", 3),
]

STRINGS_AND_STATES = [
    ("NAMESPACE_BASE", '"base:"'),
    ("CONTEXT_BASE_ALLOCATION", '"base:allocation"'),
    ("STATE_HOLE", "1"),
    ("STATE_ZERO", "2"),
    ("NAMESPACE_QEMU", '"qemu:"'),
    ("CONTEXT_QEMU_DIRTY_BITMAP", '"qemu:dirty-bitmap:"'),
    ("CONTEXT_QEMU_ALLOCATION_DEPTH", '"qemu:allocation-depth"'),
    ("STATE_DIRTY", "1"),
]

# Callback types in header order: the parameters after user_data.
CALLBACKS = [
    Callback("chunk", [CbBuffer("subbuf", "count"), CbUInt64("offset"),
                       CbUnsigned("status"), CbMutableInt("error")]),
    Callback("completion", [CbMutableInt("error")], once=True),
    Callback("debug", [CbString("context"), CbString("msg")]),
    Callback("extent", [CbString("metacontext"), CbUInt64("offset"),
                        CbUInt32Array("entries", "nr_entries"),
                        CbMutableInt("error")]),
    Callback("extent64", [CbString("metacontext"), CbUInt64("offset"),
                          CbExtentArray("entries", "nr_entries"),
                          CbMutableInt("error")]),
    Callback("list", [CbString("name"), CbString("description")]),
    Callback("context", [CbString("name")]),
]

# Version nodes in order; each names the previous one as its parent.
VERSION_NODES = ["1.0", "1.2", "1.4", "1.6", "1.8", "1.12", "1.16", "1.18",
                 "1.22", "1.24"]

# Calls written by hand in lib/api (no handle argument or special
# lifetime), exported in LIBNBD_1.0 like libnbd does.
CORE_CALLS = [
    CoreCall("nbd_create", [], RHandle(),
             attribute="LIBNBD_ATTRIBUTE_ALLOC_DEALLOC (nbd_close)"),
    # Closing reaps a server subprocess, which may take a while.
    CoreCall("nbd_close", [Handle("h")], RVoid(), frees="h", blocking=True),
    CoreCall("nbd_get_error", [], RStaticStringNoErr()),
    CoreCall("nbd_get_errno", [], RNoErr()),
]
