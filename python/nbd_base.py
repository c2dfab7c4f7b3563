'''Python binding of fastnbd, a libnbd-compatible NBD client library.

    import nbd
    h = nbd.NBD()
    h.connect_uri("nbd+unix:///?socket=/tmp/sock")
    data = h.pread(512, 0)

Every call of the C API (see libnbd(3)) is a method of nbd.NBD without
the nbd_ prefix; help(nbd.NBD) lists them.  Failures raise nbd.Error.
'''

import errno as _errno_module

import libnbdmod

Error = libnbdmod.Error
ClosedHandle = libnbdmod.ClosedHandle

Error.__doc__ = '''Raised when a call fails.

.string is the error message (the one nbd_get_error(3) returns), .errnum
the errno value (0 when the failure had none) and .errno its name, such
as "EINVAL", or None when it has no name.'''

# The exception's args are (message, errno value); these properties give
# them the names libnbd's Python binding uses.
Error.string = property(lambda self: self.args[0])
Error.errnum = property(lambda self: self.args[1])
Error.errno = property(lambda self: _errno_module.errorcode.get(self.args[1]))


def _error_str(self):
    name = self.errno
    return "%s (%s)" % (self.string, name) if name else self.string


Error.__str__ = _error_str

ClosedHandle.__doc__ = '''Raised when a method is called on a closed handle.'''


class Buffer(object):
    '''A buffer that outlives the call, for the aio_* calls.

    An aio command reads into or writes from its buffer after the call
    returns, so it takes an nbd.Buffer (or any writable buffer object)
    and keeps it exported until the command completes.'''

    def __init__(self, len):
        '''Allocate a buffer of len zero bytes.'''
        self._o = bytearray(len)

    @classmethod
    def from_buffer(cls, buf):
        '''Wrap an existing buffer object without copying it: aio_pread
        fills the original, and aio_pwrite sends its current bytes.'''
        memoryview(buf).release()
        self = cls.__new__(cls)
        self._o = buf
        return self

    @classmethod
    def from_bytearray(cls, ba):
        '''Make a buffer holding a copy of ba (a bytes-like object, or
        anything bytearray() accepts).'''
        return cls.from_buffer(bytearray(ba))

    def to_buffer(self):
        '''Return the underlying buffer object, shared, not copied.'''
        return self._o

    def to_bytearray(self):
        '''Return a copy of the contents as a new bytearray.'''
        return bytearray(self._o)

    def size(self):
        '''Return the size of the buffer in bytes.'''
        return len(self)

    def __len__(self):
        with memoryview(self._o) as view:
            return view.nbytes

    def __getitem__(self, index):
        return self._o[index]

    def __setitem__(self, index, value):
        self._o[index] = value

    def is_zero(self, offset=0, size=-1):
        '''Return whether every byte of the buffer is zero; offset and
        size (-1: up to the end) limit the test to a part of it.'''
        return libnbdmod.is_zero(self._o, offset, size)


class NBD(libnbdmod.Handle):
    '''An NBD handle: one connection to an NBD server.

    NBD() creates a handle (nbd_create(3)), not yet connected.  Every
    call of the C API is a method named without the nbd_ prefix.  The
    handle is closed by h.close() (nbd_close(3)), at the end of a with
    block, or when it is garbage collected; any method called on a closed
    handle raises nbd.ClosedHandle.'''

    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.close()
        except ClosedHandle:
            pass


def nbd():
    '''Return a new handle for a with block, closed at its end (also
    when the block raises):

        with nbd.nbd() as h:
            ...

    The same as "with nbd.NBD() as h", which works too.'''
    return NBD()


# The library's name and version, as module attributes (each made with a
# handle of its own, as libnbd's binding does).
package_name = NBD().get_package_name()
__version__ = NBD().get_version()
