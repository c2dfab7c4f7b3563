"""Vocabulary of the API table (spec/api.py).

Each public call is one `Call`.  Arguments and return values are small
objects that know their C type; the generator asks them how to check,
trace and declare themselves, so the table itself stays pure data.
"""

# Handle states a call may be permitted in.  "connected" covers both the
# ready and the processing states of the engine.
STATES = ("created", "connecting", "negotiating", "connected", "closed", "dead")


class Arg:
    ctype = None
    nonnull = False      # pointer the wrapper rejects when NULL (EFAULT)

    def __init__(self, name):
        self.name = name

    def decl(self):
        return "%s %s" % (self.ctype, self.name) if not self.ctype.endswith("*") \
            else "%s%s" % (self.ctype, self.name)

    def trace(self):
        """(printf format, C expressions) used in the debug trace."""
        return ("%s=%%d" % self.name, [self.name])


class Bool(Arg):
    ctype = "bool"

    def trace(self):
        return ("%s=%%s" % self.name, ['%s ? "true" : "false"' % self.name])


class Int(Arg):
    ctype = "int"


class UInt32(Arg):
    ctype = "uint32_t"

    def trace(self):
        return ("%s=0x%%\" PRIx32 \"" % self.name, [self.name])


class UInt64(Arg):
    ctype = "uint64_t"

    def trace(self):
        return ("%s=%%\" PRIu64 \"" % self.name, [self.name])


class SizeT(Arg):
    ctype = "size_t"

    def trace(self):
        return ("%s=%%zu" % self.name, [self.name])


class UIntPtr(Arg):
    ctype = "uintptr_t"

    def trace(self):
        return ("%s=0x%%\" PRIxPTR \"" % self.name, [self.name])


class Fd(Arg):
    ctype = "int"


class String(Arg):
    ctype = "const char *"
    nonnull = True

    def trace(self):
        return ("%s=%%s" % self.name, ["nbdi_trace_str (%s)" % self.name])


class Path(String):
    pass


class StringList(Arg):
    ctype = "char **"
    nonnull = True

    def trace(self):
        return ("%s=%%s" % self.name, ["nbdi_trace_strlist (%s)" % self.name])


class BufIn(Arg):
    ctype = "const void *"
    nonnull = True

    def trace(self):
        return ("%s=<buf>" % self.name, [])


class BufOut(BufIn):
    ctype = "void *"


class SockAddr(Arg):
    ctype = "const struct sockaddr *"
    nonnull = True

    def trace(self):
        return ("%s=<sockaddr>" % self.name, [])


class SockLen(Arg):
    ctype = "socklen_t"

    def trace(self):
        return ("%s=%%u" % self.name, ["(unsigned) " + self.name])


class Enum(Arg):
    """An int that must be one of the named constants of `group`."""
    ctype = "int"

    def __init__(self, name, group):
        super().__init__(name)
        self.group = group


class Flags(Arg):
    """A uint32_t bit set.  `allowed` names the accepted bits of `group`
    (None means every bit of the group's mask).  Command flags (cmd=True)
    are only checked under LIBNBD_STRICT_FLAGS or above 0xffff, as libnbd
    documents."""
    ctype = "uint32_t"

    def __init__(self, name, group, allowed=None, cmd=False):
        super().__init__(name)
        self.group = group
        self.allowed = allowed
        self.cmd = cmd

    def trace(self):
        return ("%s=0x%%\" PRIx32 \"" % self.name, [self.name])


class Closure(Arg):
    """A callback struct passed by value.  A required closure with
    neither .callback nor .free is refused with EFAULT; one with only a
    .free is accepted (the callback is then never called)."""

    def __init__(self, name, cbtype, optional=False):
        super().__init__(name)
        self.cbtype = cbtype
        self.optional = optional
        self.ctype = "nbd_%s_callback" % cbtype

    def decl(self):
        return "nbd_%s_callback %s" % (self.cbtype, self.name)

    def trace(self):
        return ("%s=<fn>" % self.name, [])


class Ret:
    ctype = "int"
    err = "-1"           # value returned on error (None: the call cannot fail)
    fmt = "%d"
    alloc = False        # caller frees the result

    def trace(self):
        return (self.fmt, ["ret"])


class RErr(Ret):
    pass


class RBool(Ret):
    pass


class RInt(Ret):
    pass


class RFd(Ret):
    pass


class RInt64(Ret):
    ctype = "int64_t"
    fmt = "%\" PRIi64 \""


class RCookie(RInt64):
    pass


class RSSizeT(Ret):
    ctype = "ssize_t"
    fmt = "%zd"


class RStaticString(Ret):
    ctype = "const char *"
    err = "NULL"
    fmt = "%s"

    def trace(self):
        return ("%s", ["nbdi_trace_str (ret)"])


class RString(RStaticString):
    ctype = "char *"
    alloc = True


class RNoErr(Ret):
    """Results of calls that cannot fail."""
    err = None


class RBoolNoErr(RNoErr):
    pass


class REnumNoErr(RNoErr):
    pass


class RUInt32NoErr(RNoErr):
    ctype = "uint32_t"
    fmt = "0x%\" PRIx32 \""


class RUInt64NoErr(RNoErr):
    ctype = "uint64_t"
    fmt = "%\" PRIu64 \""


class RUIntPtrNoErr(RNoErr):
    ctype = "uintptr_t"
    fmt = "0x%\" PRIxPTR \""


class RUnsignedNoErr(RNoErr):
    ctype = "unsigned"
    fmt = "%u"


class RStaticStringNoErr(RNoErr):
    ctype = "const char *"
    fmt = "%s"

    def trace(self):
        return ("%s", ["nbdi_trace_str (ret)"])


class Call:
    """One public entry point.

    states:   names from STATES, or None for "any state".
    since:    first libnbd version with the call; fixes the symbol's
              version node (LIBNBD_<since>).
    locked:   False for calls libnbd documents as taking no handle lock.
    reentrant: may be called from inside a callback running on the same
              handle (the lock is then already held by this thread).
              Calls that wait for the server must not: they are refused.
    field:    the call is a plain accessor of handle field `field`; the
              generator writes its body, no nbdi_<name> function exists.
    sync_of:  (aio call, waiter): the call is its aio twin (same arguments,
              no completion callback) followed by waiter (h, result), so
              every sync call shares the async code path.  The generator
              writes its body.
    """

    def __init__(self, name, args, ret, since, doc, states=None,
                 locked=True, reentrant=True, field=None, see_also=(),
                 sync_of=None):
        self.name = name
        self.args = args
        self.ret = ret
        self.since = since
        self.doc = doc.strip()
        self.states = states
        self.locked = locked
        self.reentrant = reentrant
        self.field = field
        self.sync_of = sync_of
        self.see_also = see_also
        if states is not None:
            for s in states:
                assert s in STATES, "%s: unknown state %s" % (name, s)

    @property
    def node(self):
        return "LIBNBD_" + self.since

    @property
    def may_fail(self):
        return self.ret.err is not None
