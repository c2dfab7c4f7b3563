"""The Python binding, generated from the same table as the C API.

Two outputs: methods.c, the generated part of the `libnbdmod` extension
module: one method of its Handle type per call (argument conversion, the
call, with the GIL released where the table says so, result conversion),
one trampoline per callback type (spec/constants.py CALLBACKS), and the
hand-written calls of CORE_CALLS (creating and closing the handle); and
nbd.py, the `nbd` module: the hand-written part (python/nbd_base.py:
errors, nbd.Buffer, class NBD on libnbdmod.Handle) and the constants.
The helpers methods.c relies on (the Handle type, argument parsing,
converters, what all trampolines share) are hand-written in python/*.c
and declared in python/nbdpy.h.
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

def c_arg(c, i, a, obj):
    """(declarations, conversion statements, call expressions, cleanups)
    for C argument i, whose Python object is the C expression obj (None
    when the argument has no Python parameter of its own)."""
    n = a.name
    if isinstance(a, Bool):
        return (["int %s;" % n],
                ["  %s = PyObject_IsTrue (%s);\n  if (%s == -1)\n    goto out;" % (n, obj, n)],
                ["%s != 0" % n], [])
    if isinstance(a, (Int, Fd, Enum)):
        return (["int %s;" % n],
                ["  if (!nbdpy_to_int (%s, &%s))\n    goto out;" % (obj, n)], [n], [])
    conv = {UInt32: ("uint32_t", "nbdpy_to_u32"), Flags: ("uint32_t", "nbdpy_to_u32"),
            UInt64: ("uint64_t", "nbdpy_to_u64"), SizeT: ("size_t", "nbdpy_to_size"),
            UIntPtr: ("uintptr_t", "nbdpy_to_uintptr")}
    for kind, (ctype, fn) in conv.items():
        if type(a) is kind:
            return (["%s %s;" % (ctype, n)],
                    ["  if (!%s (%s, &%s))\n    goto out;" % (fn, obj, n)], [n], [])
    if isinstance(a, Path):
        return (["PyObject *%s_bytes = NULL;" % n],
                ["  if (!PyUnicode_FSConverter (%s, &%s_bytes))\n    goto out;" % (obj, n)],
                ["PyBytes_AS_STRING (%s_bytes)" % n], ["Py_XDECREF (%s_bytes);" % n])
    if isinstance(a, String):
        return (["const char *%s;" % n],
                ["  if (!nbdpy_to_string (%s, &%s))\n    goto out;" % (obj, n)], [n], [])
    if isinstance(a, StringList):
        return (["char **%s = NULL;" % n],
                ["  %s = nbdpy_to_string_list (%s);\n"
                 "  if (%s == NULL)\n    goto out;" % (n, obj, n)],
                [n], ["nbdpy_free_string_list (%s);" % n])
    if isinstance(a, SockAddr):
        return (["struct sockaddr_storage %s;" % n, "socklen_t %s_len;" % n],
                ["  if (nbdpy_to_sockaddr (%s, &%s, &%s_len) == -1)\n"
                 "    goto out;" % (obj, n, n)],
                ["(const struct sockaddr *) &%s" % n], [])
    if isinstance(a, SockLen):
        return ([], [], ["%s_len" % c.args[i - 1].name], [])
    if isinstance(a, (BufIn, BufOut)):
        count = c.args[i + 1].name
        if isinstance(a, BufOut) and not is_aio(c):
            # The sync read returns a new bytearray of the requested size,
            # which the library fills: the payload is written once, into
            # the object returned.
            return (["size_t %s;" % count, "PyObject *%s_result = NULL;" % n],
                    ["  if (!nbdpy_to_size (%s, &%s))\n    goto out;" % (obj, count),
                     "  %s_result = PyByteArray_FromStringAndSize (NULL, %s);\n"
                     "  if (%s_result == NULL)\n    goto out;" % (n, count, n)],
                    ["PyByteArray_AS_STRING (%s_result)" % n, count],
                    ["Py_XDECREF (%s_result);" % n])
        if not is_aio(c):
            return (["Py_buffer %s_view = { .obj = NULL };" % n],
                    ["  if (PyObject_GetBuffer (%s, &%s_view, PyBUF_SIMPLE) == -1) {\n"
                     "    %s_view.obj = NULL;\n    goto out;\n  }" % (obj, n, n)],
                    ["%s_view.buf" % n, "%s_view.len" % n],
                    ["if (%s_view.obj)\n    PyBuffer_Release (&%s_view);" % (n, n)])
        # An aio buffer stays exported until the command's completion
        # closure is freed, so Python cannot move or shrink it meanwhile.
        writable = "1" if isinstance(a, BufOut) else "0"
        return (["Py_buffer %s_view = { .obj = NULL };" % n],
                ["  if (nbdpy_get_aio_buffer (%s, &%s_view, %s) == -1)\n"
                 "    goto out;" % (obj, n, writable)],
                ["%s_view.buf" % n, "%s_view.len" % n],
                ["if (%s_view.obj)\n    PyBuffer_Release (&%s_view);" % (n, n)])
    if isinstance(a, Closure):
        return (["nbd_%s_callback %s = { .callback = NULL };" % (a.cbtype, n)],
                [], [n], [])
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


def py_objects(c):
    """C argument name -> index of its Python parameter (py_params
    order), for the arguments that have one.  A buffer's count belongs to
    the buffer, a socket length to its address."""
    index = {}
    skip = set()
    k = 0
    for i, a in enumerate(c.args):
        if a.name in skip:
            continue
        if isinstance(a, (BufIn, BufOut, SockAddr)):
            skip.add(c.args[i + 1].name)
        index[a.name] = k
        k += 1
    assert k == len(py_params(c)), c.name
    return index


def c_string(text):
    """text as a C string literal, one source line per line of text."""
    esc = text.replace("\\", "\\\\").replace('"', '\\"')
    lines = esc.split("\n")
    return "\n".join('  "%s%s"' % (l, "\\n" if j < len(lines) - 1 else "")
                     for j, l in enumerate(lines))


def method_doc(c):
    """The method's docstring, led by the text signature inspect reads."""
    sig = ", ".join(["$self"] + [n if d is None else "%s=%s" % (n, d)
                                 for n, d in py_params(c)])
    note = ""
    if c.releases_gil:
        note = "\n\nOther Python threads run while the call waits (it releases the GIL)."
    return "%s(%s)\n--\n\n%s%s\n\nSee nbd_%s(3).  (libnbd %s)" % (
        c.name, sig, c.doc, note, c.name, c.since)


def gen_method(c):
    params = py_params(c)
    index = py_objects(c)
    required = sum(1 for _, d in params if d is None)
    decls, convs, call_args, cleanups = [], [], [], []
    closures = []
    sync_read_buf = None
    skip = set()
    for i, a in enumerate(c.args):
        if a.name in skip:
            continue
        obj = "py_args[%d]" % index[a.name] if a.name in index else None
        if isinstance(a, (BufIn, BufOut)):
            skip.add(c.args[i + 1].name)
        if isinstance(a, BufOut) and not is_aio(c):
            sync_read_buf = a.name
        if isinstance(a, Closure):
            closures.append((a, obj))
        elif obj is not None and params[index[a.name]][1] is not None:
            # An optional flags argument left out is 0.
            assert isinstance(a, Flags), c.name
            decls.append("uint32_t %s = 0;" % a.name)
            convs.append("  if (%s && !nbdpy_to_u32 (%s, &%s))\n    goto out;"
                         % (obj, obj, a.name))
            call_args.append(a.name)
            continue
        d, cv, ca, cl = c_arg(c, i, a, obj)
        decls += d
        convs += cv
        call_args += ca
        cleanups += cl
    buffers = [a for a in c.args if isinstance(a, (BufIn, BufOut)) and is_aio(c)]
    o = ["static const char nbdpy_%s_doc[] =\n%s;\n" % (c.name, c_string(method_doc(c))),
         "static PyObject *",
         "nbdpy_%s (PyObject *self, PyObject *const *args, Py_ssize_t nargs,"
         % c.name,
         "%s PyObject *kwnames)" % (" " * (len(c.name) + 7)),
         "{"]
    if params:
        o.append("  static const char *const names[] = { %s };" % ", ".join(
            ['"%s"' % n for n, _ in params] + ["NULL"]))
        o.append("  PyObject *py_args[%d];" % len(params))
    o += ["  struct nbdpy_handle *hs = (struct nbdpy_handle *) self;",
          "  struct nbd_handle *h;",
          "  PyObject *py_ret = NULL;",
          "  %s ret;" % c.ret.ctype]
    o += ["  " + d for d in decls]
    o.append("")
    if params:
        o.append("  if (!nbdpy_parse_args (\"%s\", args, nargs, kwnames, names, %d, %d, py_args))\n"
                 "    return NULL;" % (c.name, required, len(params)))
    else:
        o.append("  if (!nbdpy_parse_args (\"%s\", args, nargs, kwnames, NULL, 0, 0, NULL))\n"
                 "    return NULL;" % c.name)
    o.append("  h = nbdpy_open_handle (hs);\n  if (h == NULL)\n    return NULL;")
    o += convs
    # Closures come last: once built, they belong to the library, which
    # frees them even when the call fails.
    for a, obj in closures:
        fn = obj if not a.optional else "(%s ? %s : Py_None)" % (obj, obj)
        o.append("  if (make_%s_closure (&%s, %s, %s, hs) == -1)\n    goto out_closures;"
                 % (a.cbtype, a.name, fn, "true" if a.optional else "false"))
    for b in buffers:
        comp = [a for a, _ in closures if a.cbtype == "completion"][0]
        o.append("  nbdpy_closure_hold_buffer (%s.user_data, &%s_view);" % (comp.name, b.name))
    o.append("")
    if c.releases_gil:
        o.append("  Py_BEGIN_ALLOW_THREADS")
    o.append("  ret = nbd_%s (%s);" % (c.name, ", ".join(["h"] + call_args)))
    if c.releases_gil:
        o.append("  Py_END_ALLOW_THREADS")
    if c.may_fail:
        o.append("  if (ret == %s) {\n    nbdpy_raise_call_error (hs);\n    goto out;\n  }" % c.ret.err)
    # A callback run by this call may have raised: the exception is
    # re-raised here instead of the result.
    o.append("  py_ret = nbdpy_call_result (hs, %s);" % result_expr(c, sync_read_buf))
    if closures:
        o.append("  goto out;")
        o.append(" out_closures:")
        for a, _ in closures:
            o.append("  nbdpy_drop_closure (%s.user_data);" % a.name)
    if any("goto out;" in line for line in o):
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
    if cb.once:
        # There is no later call: the callable and the command's buffer
        # go now, while the GIL is held, and the .free needs no GIL.
        o.append("  nbdpy_closure_release (data);")
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


def core_role(core):
    """How a CORE_CALLS record appears in Python: "new" fills a new
    libnbdmod.Handle (its constructor), "method" is a method of the handle
    taking no arguments besides it, "function" a libnbdmod function."""
    if isinstance(core.ret, RHandle):
        assert not core.args, core.name
        return "new"
    if core.args:
        assert [type(a) for a in core.args] == [Handle], core.name
        return "method"
    return "function"


def gen_core(core):
    role = core_role(core)
    py_name = core_py_name(core)
    if role == "new":
        return ("/* Fill a new libnbdmod.Handle: 0, or -1 with an exception. */\n"
                "int\nnbdpy_core_%s (struct nbdpy_handle *hs)\n{\n"
                "  hs->h = %s ();\n"
                "  if (hs->h == NULL) {\n    nbdpy_raise_error ();\n    return -1;\n  }\n"
                "  return 0;\n}\n" % (py_name, core.name))
    o = ["static PyObject *"]
    if role == "method":
        o += ["nbdpy_core_%s (PyObject *self, PyObject *unused)" % py_name, "{",
              "  struct nbdpy_handle *hs = (struct nbdpy_handle *) self;",
              "  struct nbd_handle *h = nbdpy_open_handle (hs);"]
        args = "h"
    else:
        o += ["nbdpy_core_%s (PyObject *self, PyObject *unused)" % py_name, "{"]
        args = ""
    if not isinstance(core.ret, RVoid):
        o.append("  %s ret;" % core.ret.ctype)
    o += ["", "  (void) self;" if role == "function" else "", "  (void) unused;"]
    if role == "method":
        o.append("  if (h == NULL)\n    return NULL;")
    call = "%s (%s)" % (core.name, args)
    if not isinstance(core.ret, RVoid):
        call = "ret = " + call
    if core.blocking:
        o.append("  Py_BEGIN_ALLOW_THREADS\n  %s;\n  Py_END_ALLOW_THREADS" % call)
    else:
        o.append("  %s;" % call)
    if core.frees:
        o.append("  nbdpy_forget_handle (hs);")
    r = core.ret
    if isinstance(r, RVoid):
        o.append("  Py_RETURN_NONE;")
    elif isinstance(r, RStaticStringNoErr):
        o.append("  return nbdpy_cb_string (ret);")
    elif isinstance(r, RNoErr) and r.ctype == "int":
        o.append("  return PyLong_FromLong (ret);")
    else:
        raise AssertionError("%s: no Python conversion for %s" % (
            core.name, type(r).__name__))
    o.append("}\n")
    return "\n".join(line for line in o if line != "")


def core_doc(core, core_docs):
    return "%s($self)\n--\n\n%s\n\nSee %s(3)." % (
        core_py_name(core), core_docs[core.name]["doc"].strip(), core.name)


def gen_methods_c(calls, const, core_docs):
    o = ["/* Generated by gen/generate.py (gen/python.py) from spec/api.py and",
         " * spec/constants.py: do not edit.  One trampoline per callback type,",
         " * one libnbdmod.Handle method per public call. */\n",
         "#include \"nbdpy.h\"\n"]
    for cb in const.CALLBACKS:
        o.append(gen_trampoline(cb))
    for core in const.CORE_CALLS:
        o.append(gen_core(core))
    for c in calls:
        o.append(gen_method(c))
    o.append("PyMethodDef nbdpy_handle_methods[] = {")
    for core in const.CORE_CALLS:
        if core_role(core) == "method":
            o.append("  { \"%s\", nbdpy_core_%s, METH_NOARGS,\n%s },"
                     % (core_py_name(core), core_py_name(core),
                        c_string(core_doc(core, core_docs))))
    for c in calls:
        o.append("  { \"%s\", (PyCFunction) (void (*) (void)) nbdpy_%s,\n"
                 "    METH_FASTCALL | METH_KEYWORDS, nbdpy_%s_doc }," % (c.name, c.name, c.name))
    o.append("  { NULL, NULL, 0, NULL }\n};\n")
    o.append("PyMethodDef nbdpy_core_functions[] = {")
    for core in const.CORE_CALLS:
        if core_role(core) == "function":
            o.append("  { \"%s\", nbdpy_core_%s, METH_NOARGS, NULL },"
                     % (core_py_name(core), core_py_name(core)))
    o.append("  { NULL, NULL, 0, NULL }\n};")
    return "\n".join(o) + "\n"


# ---------------------------------------------------------------- nbd.py

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


def gen_nbd_py(const):
    with open(BASE_PY) as f:
        base = f.read()
    return ("# Generated by gen/generate.py (gen/python.py) from spec/api.py and\n"
            "# python/nbd_base.py: do not edit.\n" + base +
            "\n\n# ---- constants (spec/constants.py)\n\n" + py_constants(const) +
            "\n\nif __name__ == '__main__':\n"
            "    import nbdsh\n    nbdsh.shell()\n")


def outputs(calls, const, core_docs):
    check(calls, const)
    return {"methods.c": gen_methods_c(calls, const, core_docs),
            "nbd.py": gen_nbd_py(const)}
