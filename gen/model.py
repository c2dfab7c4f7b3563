"""Vocabulary of the API table (spec/api.py).

Each public call is one `Call`.  Arguments and return values are small
objects that know their C type; the generator asks them how to check,
trace and declare themselves, so the table itself stays pure data.
"""

import re

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
    """A return kind.  `value` says in a few words what a successful call
    returns, as libnbd's man pages do for the same kind; the man page's
    RETURN VALUE section and docs/compat.md both print it, so the kind
    chosen in spec/api.py must be the one libnbd documents for the call."""
    ctype = "int"
    err = "-1"           # value returned on error (None: the call cannot fail)
    fmt = "%d"
    alloc = False        # caller frees the result
    value = "an integer"

    def trace(self):
        return (self.fmt, ["ret"])


class RErr(Ret):
    value = "0"


class RBool(Ret):
    value = "a boolean (1 for true, 0 for false)"


class RInt(Ret):
    value = "an integer \u2265 0"


class RFd(Ret):
    value = "a file descriptor"


class RInt64(Ret):
    value = "a 64-bit signed integer \u2265 0"
    ctype = "int64_t"
    fmt = "%\" PRIi64 \""


class RCookie(RInt64):
    value = "the command's 64-bit cookie, \u2265 1 and unique on the handle"


class RSSizeT(Ret):
    value = "a size or count \u2265 0"
    ctype = "ssize_t"
    fmt = "%zd"


class RStaticString(Ret):
    value = "a string owned by the library, which the caller must not free"
    ctype = "const char *"
    err = "NULL"
    fmt = "%s"

    def trace(self):
        return ("%s", ["nbdi_trace_str (ret)"])


class RString(RStaticString):
    value = "a newly allocated string, which the caller must free(3)"
    ctype = "char *"
    alloc = True


class RNoErr(Ret):
    """Results of calls that cannot fail."""
    err = None


class RBoolNoErr(RNoErr):
    value = "a boolean (1 for true, 0 for false)"


class REnumNoErr(RNoErr):
    value = "one of the named constants of the setting"


class RUInt32NoErr(RNoErr):
    value = "a bit mask"
    ctype = "uint32_t"
    fmt = "0x%\" PRIx32 \""


class RUInt64NoErr(RNoErr):
    value = "an unsigned 64-bit count"
    ctype = "uint64_t"
    fmt = "%\" PRIu64 \""


class RUIntPtrNoErr(RNoErr):
    value = "a uintptr_t"
    ctype = "uintptr_t"
    fmt = "0x%\" PRIxPTR \""


class RUnsignedNoErr(RNoErr):
    value = "a bit mask"
    ctype = "unsigned"
    fmt = "%u"


class RStaticStringNoErr(RNoErr):
    value = ("a statically allocated string, valid until the library is "
             "unloaded, which the caller must not free")
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
    returns:  what a successful result means for this call, beyond its
              return kind ("the number of exports listed").  It belongs
              to this call alone: an aio twin shares the description of
              the work, never the sync call's result.
    """

    def __init__(self, name, args, ret, since, doc, states=None,
                 locked=True, reentrant=True, field=None, see_also=(),
                 sync_of=None, returns=""):
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
        self.returns = returns
        if states is not None:
            for s in states:
                assert s in STATES, "%s: unknown state %s" % (name, s)

    @property
    def node(self):
        return "LIBNBD_" + self.since

    @property
    def releases_gil(self):
        """Whether a binding with a global interpreter lock (Python's GIL)
        lets other threads run during the call.  Every call that takes the
        handle lock does: it may wait for the server (every call that
        is not reentrant does), for a subprocess, or for the lock itself,
        which a callback running in another thread may hold while it
        waits for the interpreter.  Only the lock-free calls (locked=False:
        constant answers and counters) keep the interpreter."""
        return self.locked

    @property
    def may_fail(self):
        return self.ret.err is not None

    def errors(self):
        """(errno, when) for each way the call fails, in the order the
        entry point checks them; errnos the description names come last,
        and are explained there.  Empty for calls that cannot fail."""
        if not self.may_fail:
            return []
        out = []
        if self.states is not None:
            if "created" not in self.states:
                out.append(("ENOTCONN", "the handle is still newly created "
                             "(not connected yet)"))
            out.append(("EINVAL", "the handle is in a state not listed "
                        "under HANDLE STATE"))
        if self.locked and not self.reentrant:
            out.append(("EDEADLK", "called from a callback running on the "
                        "same handle (the call would wait for the server)"))
        nulls = [a.name + (".callback" if isinstance(a, Closure) else "")
                 for a in self.args
                 if a.nonnull or (isinstance(a, Closure) and not a.optional)]
        if nulls:
            out.append(("EFAULT", "%s is NULL" % " or ".join(nulls)))
        for a in self.args:
            if isinstance(a, Enum):
                out.append(("EINVAL", "%s is not one of its constants" % a.name))
            elif isinstance(a, Flags):
                out.append(("EINVAL", "%s has a bit the call does not accept%s"
                            % (a.name, " (checked with LIBNBD_STRICT_FLAGS, "
                               "or when above 0xffff)" if a.cmd else "")))
        listed = {e for e, _ in out}
        for e in sorted(set(re.findall(r"\bE[A-Z0-9]{3,}\b", self.doc))):
            if e not in listed and e != "EOF":
                out.append((e, "see DESCRIPTION"))
        return out


# ---- callbacks ---------------------------------------------------------------
#
# A callback type (spec/constants.py CALLBACKS) is a list of parameter
# records, the ones the C function gets after user_data.  The header's
# typedefs and the Python binding's marshalling are both made from them,
# so a new callback type needs only a new record.


class CallbackParam:
    """One parameter of a callback, with its C type."""
    ctype = None

    def __init__(self, name):
        self.name = name

    def c_params(self):
        """The C declarations the record stands for, in order."""
        return [c_decl(self.ctype, self.name)]


class CbString(CallbackParam):
    """A string owned by the library, valid during the call."""
    ctype = "const char *"


class CbUInt64(CallbackParam):
    ctype = "uint64_t"


class CbUnsigned(CallbackParam):
    ctype = "unsigned"


class CbMutableInt(CallbackParam):
    """An int passed by address: the callback may change it (int *error)."""
    ctype = "int *"


class CbSized(CallbackParam):
    """A pointer and its length: two C parameters, one record."""

    def __init__(self, name, count):
        super().__init__(name)
        self.count = count

    def c_params(self):
        return [c_decl(self.ctype, self.name), "size_t " + self.count]


class CbBuffer(CbSized):
    """Bytes of the library's, readable during the call only."""
    ctype = "const void *"


class CbUInt32Array(CbSized):
    """An array of 32-bit entries."""
    ctype = "uint32_t *"


class CbExtentArray(CbSized):
    """An array of nbd_extent (a 64-bit length and 64-bit flags each)."""
    ctype = "nbd_extent *"


class Callback:
    """A callback type: nbd_<name>_callback, a struct of the function, its
    user_data and a .free.  `once` says the library calls it at most once
    per closure (a completion), so a binding may let go of what the
    closure holds as soon as that call returns."""

    def __init__(self, name, params, once=False):
        self.name = name
        self.params = params
        self.once = once

    @property
    def ctype(self):
        return "nbd_%s_callback" % self.name

    def c_params(self):
        """The function's parameters after user_data, as C text."""
        return ", ".join(d for p in self.params for d in p.c_params())


def c_decl(ctype, name):
    return "%s%s%s" % (ctype, "" if ctype.endswith("*") else " ", name)


# ---- calls written by hand ---------------------------------------------------


class Handle(Arg):
    """The handle itself, for the calls that do not take it implicitly."""
    ctype = "struct nbd_handle *"


class RHandle(Ret):
    value = "a new handle"
    ctype = "struct nbd_handle *"
    err = "NULL"


class RVoid(RNoErr):
    value = "nothing"
    ctype = "void"


class CoreCall:
    """A call written by hand in lib/api: no implicit handle argument, or a
    lifetime the generated boilerplate cannot follow.  `attribute` is the
    declaration's trailing GCC attribute, `frees` names the Handle argument
    the call frees, and `blocking` says it may wait (for a server
    subprocess), so bindings let other threads run meanwhile."""

    def __init__(self, name, args, ret, attribute="", frees=None,
                 blocking=False):
        self.name = name
        self.args = args
        self.ret = ret
        self.attribute = attribute
        self.frees = frees
        self.blocking = blocking

    def prototype(self):
        params = ", ".join(a.decl() for a in self.args) or "void"
        return "%s (%s)" % (c_decl(self.ret.ctype, self.name), params)
