# Handle life cycle: close(), the context manager, nbd.ClosedHandle,
# settings round trips, and connecting by every Python-level address kind.
import gc
import os
import socket

import nbd
from nbdtest import Nbdkit, expect_error

# close() runs nbd_close once: the debug callback sees it close.
messages = []
h = nbd.NBD()
h.set_debug(True)
h.set_debug_callback(lambda ctx, msg: messages.append(msg))
h.close()
assert sum(1 for m in messages if m.startswith("closing")) == 1, messages
for call in [lambda: h.set_export_name("x"), h.close, h.get_size]:
    try:
        call()
        raise AssertionError("closed handle used")
    except nbd.ClosedHandle:
        pass
del h
gc.collect()
assert sum(1 for m in messages if m.startswith("closing")) == 1

# Both context managers, a handle used in a with block and the module's
# nbd.nbd() (libnbd's binding has it), close the handle at the end of the
# block, also when the block raises.
for make in (nbd.NBD, nbd.nbd):
    with make() as h:
        assert isinstance(h, nbd.NBD)
        assert h.get_handle_name().startswith("nbd")
        h.set_handle_name("ctx")
        assert h.get_handle_name() == "ctx"
    try:
        h.get_handle_name()
        raise AssertionError("handle open after with %s()" % make.__name__)
    except nbd.ClosedHandle:
        pass
    try:
        with make() as h2:
            raise KeyError("inside with")
    except KeyError:
        pass
    try:
        h2.get_debug()
        raise AssertionError("handle open after with %s() that raised" % make.__name__)
    except nbd.ClosedHandle:
        pass

# A closed handle's error is a ValueError, as in libnbd's binding, so
# code that catches ValueError for a use after close keeps working.
assert issubclass(nbd.ClosedHandle, ValueError)
assert not issubclass(nbd.ClosedHandle, nbd.Error)
try:
    h2.get_size()
    raise AssertionError("closed handle used")
except ValueError:
    pass

# nbd.NBD can be subclassed, also with an __init__ taking arguments, as
# with libnbd's binding (where NBD is a Python class); NBD itself takes
# none.
class Named(nbd.NBD):
    def __init__(self, name):
        super().__init__()
        self.set_handle_name(name)


assert Named("sub").get_handle_name() == "sub"
try:
    nbd.NBD(1)
    raise AssertionError("NBD(1) accepted")
except TypeError:
    pass

# Settings round trips through Python types.
h = nbd.NBD()
assert h.get_tls() == nbd.TLS_DISABLE
h.set_tls(nbd.TLS_ALLOW)
assert h.get_tls() == nbd.TLS_ALLOW
expect_error("EINVAL", h.set_tls, 99)
h.set_export_name("disk")
assert h.get_export_name() == "disk"
assert h.set_private_data(42) == 0 and h.get_private_data() == 42
h.set_strict_mode(nbd.STRICT_COMMANDS)
assert h.get_strict_mode() == nbd.STRICT_COMMANDS
expect_error("EINVAL", h.set_strict_mode, 0x8000)
h.set_tls_certificates(os.path.dirname(__file__))   # a Path argument
assert h.get_package_name() == "libnbd"
assert h.get_version().startswith("1.")
assert nbd.__version__ == h.get_version() and nbd.package_name == "libnbd"
assert h.supports_uri() is True and isinstance(h.supports_tls(), bool)
assert h.is_uri("nbd://x") is True and h.is_uri("/dev/sda") is False
assert h.connection_state()
assert h.get_handle_size() > 0
assert isinstance(h.stats_bytes_sent(), int)
for bad in [lambda: h.set_export_name(3), lambda: h.set_tls("x"),
            lambda: h.connect_command("nbdkit"), lambda: h.connect_command([1])]:
    try:
        bad()
        raise AssertionError("bad argument accepted")
    except (TypeError, ValueError):
        pass
h.close()

with Nbdkit(["memory", "1M"]) as srv:
    # aio_connect with a Unix socket path as the Python address.
    h = nbd.NBD()
    h.aio_connect(srv.sock)
    while h.aio_is_connecting():
        h.poll(-1)
    assert h.aio_is_ready() and h.get_size() == 1 << 20
    uri = h.get_uri()
    assert uri.startswith("nbd+unix://") and srv.sock in uri, uri
    h.close()

    # connect_socket takes a file descriptor the handle then owns.
    s = socket.socket(socket.AF_UNIX)
    s.connect(srv.sock)
    h = nbd.NBD()
    h.connect_socket(s.detach())
    assert h.get_size() == 1 << 20
    h.close()

    # A command server and socket activation, with argv as a list.
    h = nbd.NBD()
    h.connect_command(["nbdkit", "-s", "--exit-with-parent", "memory", "2M"])
    assert h.get_size() == 2 << 20
    assert h.get_subprocess_pid() > 0
    h.close()
    h = nbd.NBD()
    h.set_socket_activation_name("sock")
    assert h.get_socket_activation_name() == "sock"
    h.connect_systemd_socket_activation(["nbdkit", "--exit-with-parent", "memory", "3M"])
    assert h.get_size() == 3 << 20
    h.close()
print("ok")
