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


class _HandleBase(object):
    '''Handle life cycle; class NBD below adds one method per call.'''

    def __init__(self):
        '''Create a new handle, not yet connected.'''
        self._o = libnbdmod.create()

    def __del__(self):
        if getattr(self, '_o', None) is not None:
            libnbdmod.close(self._o)
            self._o = None

    def close(self):
        '''Close the handle now (nbd_close(3)) rather than when it is
        garbage collected.  Any later method call raises
        nbd.ClosedHandle.'''
        if self._o is None:
            raise ClosedHandle("the NBD handle is closed")
        o, self._o = self._o, None
        libnbdmod.close(o)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._o is not None:
            self.close()
