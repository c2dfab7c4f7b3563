"""The Python binding, generated from the same table as the C API.

Two outputs: methods.c, one C function per call in the `libnbdmod`
extension module (argument conversion, the call with the GIL released,
result conversion), and nbd.py, the `nbd` module: the hand-written part
(python/nbd_base.py: errors, nbd.Buffer), the constants, and class NBD
with one method per call.  The helpers methods.c relies on (handle
capsules, callback trampolines, converters) are hand-written in
python/*.c and declared in python/nbdpy.h.
"""

import os

from model import (Bool, BufIn, BufOut, CbBuffer, CbExtentArray, CbMutableInt,
                   CbString, CbUInt32Array, CbUInt64, CbUnsigned, Closure, Enum,
                   Fd, Flags, Handle, Int, Path, RBool, RBoolNoErr, RErr, RHandle,
                   RNoErr, RStaticString, RStaticStringNoErr, RString, RVoid,
                   SizeT, SockAddr, SockLen, String, StringList, UInt32, UInt64,
                   UIntPtr)

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_PY = os.path.join(HERE, "..", "python", "nbd_base.py")

# Flag groups whose argument Python callers may leave out (default 0).
OPTIONAL_FLAG_GROUPS = {"CMD_FLAG", "SHUTDOWN"}


def is_aio(c):
    return c.name.startswith("aio_")


def py_params(c):
    """(name, default) of the Python method's parameters after self.

    A read buffer of a sync call is replaced by the result, so the caller
    passes only its size; a write buffer carries its own size; an aio
    call takes an nbd.Buffer (or any buffer object) for both.  The socket
    address and its length are one Python address.
    """
    out = []
    skip = set()
    for i, a in enumerate(c.args):
        if a.name in skip:
            continue
        if isinstance(a, (BufIn, BufOut)):
            count = c.args[i + 1]
            assert isinstance(count, SizeT), c.name
            if isinstance(a, BufOut) and not is_aio(c):
                out.append((count.name, None))
            else:
                out.append((a.name, None))
            skip.add(count.name)
        elif isinstance(a, SockAddr):
            out.append((a.name, None))
            skip.add(c.args[i + 1].name)
        elif isinstance(a, Closure):
            out.append((a.cbtype, "None" if a.optional else None))
        elif isinstance(a, Flags) and a.group in OPTIONAL_FLAG_GROUPS:
            out.append((a.name, "0"))
        else:
            out.append((a.name, None))
    seen_default = False
    for name, default in out:
        assert default is not None or not seen_default, \
            "%s: %s without default follows a default" % (c.name, name)
        seen_default = seen_default or default is not None
    return out


def check(calls, const):
    kinds = {cb.name for cb in const.CALLBACKS}
    for c in calls:
        for a in c.args:
            if isinstance(a, Closure):
                assert a.cbtype in kinds, "%s: no callback type %s" % (c.name, a.cbtype)
            if isinstance(a, (BufIn, BufOut)) and is_aio(c):
                assert any(isinstance(b, Closure) and b.cbtype == "completion"
                           for b in c.args), \
                    "%s: an aio buffer is held by the completion closure" % c.name
        py_params(c)


# ------------------------------------------------------------ methods.c

def c_arg(c, i, a):
    """(declarations, PyArg format, parse targets, conversions, call
    expressions, cleanups) for C argument i."""
    n = a.name
    if isinstance(a, Bool):
        return (["int %s;" % n], "p", ["&" + n], [], ["%s != 0" % n], [])
    if isinstance(a, (Int, Fd, Enum)):
        return (["int %s;" % n], "i", ["&" + n], [], [n], [])
    conv = {UInt32: ("uint32_t", "nbdpy_to_u32"), Flags: ("uint32_t", "nbdpy_to_u32"),
            UInt64: ("uint64_t", "nbdpy_to_u64"), SizeT: ("size_t", "nbdpy_to_size"),
            UIntPtr: ("uintptr_t", "nbdpy_to_uintptr")}
    for kind, (ctype, fn) in conv.items():
        if type(a) is kind:
            return (["%s %s;" % (ctype, n)], "O&", [fn, "&" + n], [], [n], [])
    if isinstance(a, Path):
        return (["PyObject *%s_bytes = NULL;" % n], "O&",
                ["PyUnicode_FSConverter", "&%s_bytes" % n], [],
                ["PyBytes_AS_STRING (%s_bytes)" % n], ["Py_XDECREF (%s_bytes);" % n])
    if isinstance(a, String):
        return (["const char *%s;" % n], "s", ["&" + n], [], [n], [])
    if isinstance(a, StringList):
        return (["PyObject *%s_py;" % n, "char **%s = NULL;" % n], "O", ["&%s_py" % n],
                ["  %s = nbdpy_to_string_list (%s_py);\n"
                 "  if (%s == NULL)\n    goto out;" % (n, n, n)],
                [n], ["nbdpy_free_string_list (%s);" % n])
    if isinstance(a, SockAddr):
        return (["PyObject *%s_py;" % n, "struct sockaddr_storage %s;" % n,
                 "socklen_t %s_len;" % n], "O", ["&%s_py" % n],
                ["  if (nbdpy_to_sockaddr (%s_py, &%s, &%s_len) == -1)\n"
                 "    goto out;" % (n, n, n)],
                ["(const struct sockaddr *) &%s" % n], [])
    if isinstance(a, SockLen):
        return ([], "", [], [], ["%s_len" % c.args[i - 1].name], [])
    if isinstance(a, (BufIn, BufOut)):
        count = c.args[i + 1].name
        if isinstance(a, BufOut) and not is_aio(c):
            # The sync read returns a new bytearray of the requested size.
            return (["PyObject *%s_result = NULL;" % n], "", [],
                    ["  %s_result = PyByteArray_FromStringAndSize (NULL, %s);\n"
                     "  if (%s_result == NULL)\n    goto out;" % (n, count, n)],
                    ["PyByteArray_AS_STRING (%s_result)" % n],
                    ["Py_XDECREF (%s_result);" % n])
        if not is_aio(c):
            return (["Py_buffer %s_view = { .obj = NULL };" % n], "y*", ["&%s_view" % n],
                    [], ["%s_view.buf" % n],
                    ["if (%s_view.obj)\n    PyBuffer_Release (&%s_view);" % (n, n)])
        # An aio buffer stays exported until the command's completion
        # closure is freed, so Python cannot move or shrink it meanwhile.
        writable = "1" if isinstance(a, BufOut) else "0"
        return (["PyObject *%s_py;" % n, "Py_buffer %s_view = { .obj = NULL };" % n],
                "O", ["&%s_py" % n],
                ["  if (nbdpy_get_aio_buffer (%s_py, &%s_view, %s) == -1)\n"
                 "    goto out;" % (n, n, writable)],
                ["%s_view.buf" % n],
                ["if (%s_view.obj)\n    PyBuffer_Release (&%s_view);" % (n, n)])
    if isinstance(a, Closure):
        return (["PyObject *%s_fn;" % n,
                 "nbd_%s_callback %s = { .callback = NULL };" % (a.cbtype, n)],
                "O", ["&%s_fn" % n], [], [n], [])
    raise AssertionError("%s: no Python conversion for %s" % (c.name, type(a).__name__))


def result_expr(c, sync_read_buf):
    r = c.ret
    if sync_read_buf is not None:
        assert isinstance(r, RErr), c.name
        return "Py_NewRef (%s_result)" % sync_read_buf
    if isinstance(r, RErr):
        return "Py_NewRef (Py_None)"
    if isinstance(r, (RBool, RBoolNoErr)):
        return "PyBool_FromLong (ret)"
    if isinstance(r, RString):
        return "nbdpy_take_string (ret)"
    if isinstance(r, (RStaticString, RStaticStringNoErr)):
        return "PyUnicode_FromString (ret)"
    if r.ctype in ("int", "int64_t", "ssize_t"):
        return "PyLong_FromLongLong (ret)"
    return "PyLong_FromUnsignedLongLong (ret)"


def gen_method(c):
    decls, fmt, targets, convs, call_args, cleanups = [], "O", ["&py_h"], [], [], []
    closures = []
    sync_read_buf = None
    skip = set()
    for i, a in enumerate(c.args):
        if a.name in skip:
            continue
        d, f, t, cv, ca, cl = c_arg(c, i, a)
        decls += d
        fmt += f
        targets += t
        convs += cv
        call_args += ca
        cleanups += cl
        if isinstance(a, (BufIn, BufOut)):
            count = c.args[i + 1]
            skip.add(count.name)
            if isinstance(a, BufOut) and not is_aio(c):
                sync_read_buf = a.name
                decls.append("size_t %s;" % count.name)
                fmt += "O&"
                targets += ["nbdpy_to_size", "&" + count.name]
                call_args.append(count.name)
            else:
                call_args.append("%s_view.len" % a.name)
        if isinstance(a, Closure):
            closures.append(a)
    buffers = [a for a in c.args if isinstance(a, (BufIn, BufOut)) and is_aio(c)]
    o = ["static PyObject *",
         "nbdpy_%s (PyObject *self, PyObject *args)" % c.name,
         "{",
         "  PyObject *py_h;",
         "  struct nbdpy_handle *hs;",
         "  struct nbd_handle *h;",
         "  PyObject *py_ret = NULL;",
         "  %s ret;" % c.ret.ctype]
    o += ["  " + d for d in decls]
    o.append("")
    o.append("  (void) self;")
    o.append("  if (!PyArg_ParseTuple (args, \"%s:%s\", %s))\n    return NULL;" % (
        fmt, c.name, ", ".join(targets)))
    o.append("  hs = nbdpy_get_handle (py_h);\n  if (hs == NULL)\n    goto out;\n  h = hs->h;")
    o += convs
    # Closures come last: once built, they belong to the library, which
    # frees them even when the call fails.
    for a in closures:
        o.append("  if (make_%s_closure (&%s, %s_fn, %s, hs) == -1)\n    goto out_closures;"
                 % (a.cbtype, a.name, a.name, "true" if a.optional else "false"))
    for b in buffers:
        comp = [a for a in closures if a.cbtype == "completion"][0]
        o.append("  nbdpy_closure_hold_buffer (%s.user_data, &%s_view);" % (comp.name, b.name))
    o.append("")
    if c.locked:
        # Every locked call releases the GIL: a callback running in another
        # thread holds the handle lock while it waits for the GIL.
        o.append("  Py_BEGIN_ALLOW_THREADS")
    o.append("  ret = nbd_%s (%s);" % (c.name, ", ".join(["h"] + call_args)))
    if c.locked:
        o.append("  Py_END_ALLOW_THREADS")
    if c.may_fail:
        o.append("  if (ret == %s) {\n    nbdpy_raise_call_error (hs);\n    goto out;\n  }" % c.ret.err)
    # A callback run by this call may have raised: the exception is
    # re-raised here instead of the result.
    o.append("  py_ret = nbdpy_call_result (hs, %s);" % result_expr(c, sync_read_buf))
    if closures:
        o.append("  goto out;")
        o.append(" out_closures:")
        for a in closures:
            o.append("  nbdpy_drop_closure (%s.user_data);" % a.name)
    o.append(" out:")
    o += ["  " + cl for cl in cleanups]
    o.append("  return py_ret;\n}\n")
    return "\n".join(o)


# ---------------------------------------------------- callback trampolines

def cb_param_to_py(p):
    """(C expression making the Python object of callback parameter p,
    statement run on it after the call, statement run once the call's
    exception is settled).  The object is argv[i], written %(arg)s."""
    n = p.name
    if isinstance(p, CbString):
        return "nbdpy_cb_string (%s)" % n, None, None
    if isinstance(p, CbUInt64):
        return "PyLong_FromUnsignedLongLong (%s)" % n, None, None
    if isinstance(p, CbUnsigned):
        return "PyLong_FromUnsignedLong (%s)" % n, None, None
    if isinstance(p, CbMutableInt):
        # The callable changes the cell's .value; it is read back even
        # when the callable raised.
        return ("nbdpy_cb_cell_new (*%s)" % n,
                "nbdpy_cb_cell_read (%%(arg)s, %s);" % n, None)
    if isinstance(p, CbBuffer):
        return ("nbdpy_cb_view (%s, %s)" % (n, p.count), None,
                "nbdpy_cb_view_release (data, %(arg)s);")
    if isinstance(p, CbUInt32Array):
        return "nbdpy_cb_uint32_list (%s, %s)" % (n, p.count), None, None
    if isinstance(p, CbExtentArray):
        return "nbdpy_cb_extent_list (%s, %s)" % (n, p.count), None, None
    raise AssertionError("no Python conversion for %s" % type(p).__name__)


def gen_trampoline(cb):
    """The C function of a closure for a Python callable: the callable
    gets one Python argument per parameter record, in order."""
    n = len(cb.params)
    conv = [cb_param_to_py(p) for p in cb.params]
    o = ["/* %s: the callable gets (%s). */" % (
            cb.ctype, ", ".join(p.name for p in cb.params)),
         "static int",
         "%s_trampoline (void *user_data, %s)" % (cb.name, cb.c_params()),
         "{",
         "  struct nbdpy_closure *data = user_data;",
         "  PyGILState_STATE gil;",
         "  PyObject *argv[%d] = { NULL };" % max(n, 1),
         "  int ret = -1;",
         "",
         "  /* An optional callback left out (a completion closure that only",
         "   * holds the buffer): the command is for nbd_aio_command_completed,",
         "   * and the GIL is not needed. */",
         "  if (data->fn == NULL)\n    return 0;",
         "  gil = PyGILState_Ensure ();"]
    built = " &&\n      ".join("(argv[%d] = %s) != NULL" % (i, make)
                                for i, (make, _, _) in enumerate(conv)) or "1"
    o.append("  if (%s)\n    ret = nbdpy_closure_call (data, argv, %d);" % (built, n))
    for i, (_, after, _) in enumerate(conv):
        if after:
            o.append("  if (argv[%d])\n    %s" % (i, after % {"arg": "argv[%d]" % i}))
    o.append("  ret = nbdpy_closure_settle (data, ret);")
    for i, (_, _, settled) in enumerate(conv):
        if settled:
            o.append("  if (argv[%d])\n    %s" % (i, settled % {"arg": "argv[%d]" % i}))
    o.append("  nbdpy_cb_clear (argv, %d);" % n)
    o.append("  PyGILState_Release (gil);\n  return ret;\n}\n")
    o += ["static int",
          "make_%s_closure (%s *cb, PyObject *fn, bool optional," % (cb.name, cb.ctype),
          "%s struct nbdpy_handle *hs)" % (" " * (len(cb.name) + 14)),
          "{",
          "  struct nbdpy_closure *data = nbdpy_closure_new (fn, optional, \"%s\", hs);"
          % cb.name,
          "",
          "  if (data == NULL)\n    return -1;",
          "  cb->callback = %s_trampoline;" % cb.name,
          "  cb->user_data = data;",
          "  cb->free = nbdpy_closure_free;",
          "  return 0;\n}\n"]
    return "\n".join(o)


# ------------------------------------------------- calls written by hand

def core_py_name(core):
    return core.name[len("nbd_"):]


def gen_core_method(core):
    """libnbdmod.<name> for a CORE_CALLS record: a Handle argument is the
    handle's capsule, a new handle is returned as one."""
    handles = [a for a in core.args if isinstance(a, Handle)]
    assert len(handles) == len(core.args), "%s: only Handle arguments" % core.name
    o = ["static PyObject *",
         "nbdpy_core_%s (PyObject *self, PyObject *const *args, Py_ssize_t nargs)"
         % core_py_name(core),
         "{"]
    o += ["  struct nbdpy_handle *%s_hs;" % a.name for a in handles]
    if not isinstance(core.ret, RVoid):
        o.append("  %s ret;" % core.ret.ctype)
    o += ["", "  (void) self;"] + ([] if handles else ["  (void) args;"]) + [
          "  if (!nbdpy_check_nargs (\"%s\", nargs, %d))\n    return NULL;"
          % (core_py_name(core), len(handles))]
    for i, a in enumerate(handles):
        o.append("  %s_hs = nbdpy_get_handle (args[%d]);\n  if (%s_hs == NULL)\n"
                 "    return NULL;" % (a.name, i, a.name))
    call = "%s (%s)" % (core.name, ", ".join("%s_hs->h" % a.name for a in handles))
    if not isinstance(core.ret, RVoid):
        call = "ret = " + call
    if core.blocking:
        o.append("  Py_BEGIN_ALLOW_THREADS\n  %s;\n  Py_END_ALLOW_THREADS" % call)
    else:
        o.append("  %s;" % call)
    if core.frees:
        o.append("  nbdpy_forget_handle (%s_hs, args[%d]);"
                 % (core.frees, [a.name for a in handles].index(core.frees)))
    r = core.ret
    if isinstance(r, RHandle):
        o.append("  if (ret == NULL) {\n    nbdpy_raise_error ();\n    return NULL;\n  }")
        o.append("  return nbdpy_new_handle (ret);")
    elif isinstance(r, RVoid):
        o.append("  Py_RETURN_NONE;")
    elif isinstance(r, RStaticStringNoErr):
        o.append("  return nbdpy_cb_string (ret);")
    elif isinstance(r, RNoErr) and r.ctype == "int":
        o.append("  return PyLong_FromLong (ret);")
    else:
        raise AssertionError("%s: no Python conversion for %s" % (
            core.name, type(r).__name__))
    o.append("}\n")
    return "\n".join(o)


def gen_methods_c(calls, const):
    o = ["/* Generated by gen/generate.py (gen/python.py) from spec/api.py:",
         " * do not edit.  One trampoline per callback type, one libnbdmod",
         " * function per public call. */\n",
         "#include \"nbdpy.h\"\n"]
    for cb in const.CALLBACKS:
        o.append(gen_trampoline(cb))
    for core in const.CORE_CALLS:
        o.append(gen_core_method(core))
    for c in calls:
        o.append(gen_method(c))
    o.append("PyMethodDef nbdpy_generated_methods[] = {")
    for core in const.CORE_CALLS:
        o.append("  { \"%s\", (PyCFunction) (void (*) (void)) nbdpy_core_%s, METH_FASTCALL, NULL },"
                 % (core_py_name(core), core_py_name(core)))
    for c in calls:
        o.append("  { \"%s\", nbdpy_%s, METH_VARARGS, NULL }," % (c.name, c.name))
    o.append("  { NULL, NULL, 0, NULL }\n};")
    return "\n".join(o) + "\n"


# ---------------------------------------------------------------- nbd.py

def docstring(text, indent):
    text = text.replace("\\", "\\\\").replace("'''", "\\'\\'\\'")
    lines = text.split("\n")
    pad = " " * indent
    return "'''" + lines[0] + "".join("\n" + (pad + l if l else "") for l in lines[1:]) + \
        "\n" + pad + "'''"


def py_constants(const):
    o = []
    for group, values in const.ENUMS.items():
        o += ["%s_%s = %d" % (group, n, v) for n, v in values]
        o.append("")
    for group, (prefix, values) in const.FLAGS.items():
        o += ["%s_%s = 0x%02x" % (prefix, n, v) for n, v in values]
        o.append("%s_MASK = 0x%02x\n" % (prefix, sum(v for _, v in values)))
    o += ["%s = %d" % (n, v) for n, v in const.PLAIN]
    o += ["%s = %s" % (n, v) for n, v in const.STRINGS_AND_STATES]
    return "\n".join(o) + "\n"


def gen_class(calls):
    o = ["\n\nclass NBD(_HandleBase):",
         "    '''An NBD handle: one connection to an NBD server.'''\n"]
    for c in calls:
        ps = py_params(c)
        sig = ", ".join(["self"] + [n if d is None else "%s=%s" % (n, d) for n, d in ps])
        o.append("    def %s(%s):" % (c.name, sig))
        o.append("        " + docstring("%s\n\nSee nbd_%s(3).  (libnbd %s)" % (
            c.doc, c.name, c.since), 8))
        o.append("        return libnbdmod.%s(%s)\n" % (
            c.name, ", ".join(["self._o"] + [n for n, _ in ps])))
    return "\n".join(o)


def gen_nbd_py(calls, const):
    with open(BASE_PY) as f:
        base = f.read()
    return ("# Generated by gen/generate.py (gen/python.py) from spec/api.py and\n"
            "# python/nbd_base.py: do not edit.\n" + base +
            "\n\n# ---- constants (spec/constants.py)\n\n" + py_constants(const) +
            gen_class(calls) + "\n\nif __name__ == '__main__':\n"
            "    import nbdsh\n    nbdsh.shell()\n")


def outputs(calls, const):
    check(calls, const)
    return {"methods.c": gen_methods_c(calls, const), "nbd.py": gen_nbd_py(calls, const)}
