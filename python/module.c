/* The libnbdmod extension module: the Handle type (nbd.NBD derives from
 * it), errors, and the generated methods (methods.c): one per call of
 * spec/api.py, plus creating and closing the handle, generated from
 * spec/constants.py's CORE_CALLS.  The helpers they use are here. */
#include "nbdpy.h"

#include <string.h>

PyObject *nbdpy_Error;
PyObject *nbdpy_ClosedHandle;
PyObject *nbdpy_c_int;
PyObject *nbdpy_str_o;
PyObject *nbdpy_str_value;

/* Raise exc (a reference taken over) with the traceback it already has,
 * which leads into the callback. */
static void
restore_exception (PyObject *exc)
{
  PyErr_Restore (Py_NewRef ((PyObject *) Py_TYPE (exc)), exc,
                 PyException_GetTraceback (exc));
}

/* Take the exception a callback raised on this thread, or NULL. */
static PyObject *
take_callback_exception (struct nbdpy_handle *hs)
{
  PyObject *exc = hs->callback_exception;

  if (exc == NULL || hs->callback_thread != PyThread_get_thread_ident ())
    return NULL;
  hs->callback_exception = NULL;
  return exc;
}

/* Build nbd.Error(message, errno) from the error the last call on this
 * thread left behind. */
static PyObject *
new_error (void)
{
  const char *msg = nbd_get_error ();

  return PyObject_CallFunction (nbdpy_Error, "(si)", msg ? msg : "",
                                nbd_get_errno ());
}

void
nbdpy_raise_error (void)
{
  PyObject *err = new_error ();

  if (err) {
    PyErr_SetObject (nbdpy_Error, err);
    Py_DECREF (err);
  }
}

/* A call failed.  Programs written for libnbd catch nbd.Error (with the
 * errno the callback left in its error cell) when a callback made the
 * command fail, so that is what is raised; the callback's own exception
 * rides along as its __cause__ and shows in the traceback. */
void
nbdpy_raise_call_error (struct nbdpy_handle *hs)
{
  PyObject *cause = take_callback_exception (hs);
  PyObject *err = new_error ();

  if (err == NULL) {
    Py_XDECREF (cause);
    return;
  }
  if (cause)
    PyException_SetCause (err, cause);
  PyErr_SetObject (nbdpy_Error, err);
  Py_DECREF (err);
}

PyObject *
nbdpy_reraise_callback_exception (struct nbdpy_handle *hs, PyObject *result)
{
  PyObject *exc = take_callback_exception (hs);

  if (exc == NULL)
    return result;
  Py_XDECREF (result);
  restore_exception (exc);
  return NULL;
}

void
nbdpy_forget_handle (struct nbdpy_handle *hs)
{
  PyObject *exc = hs->callback_exception;

  hs->h = NULL;
  hs->callback_exception = NULL;
  /* An exception no method took (one raised on another thread) has no
   * caller left to reach. */
  if (exc) {
    restore_exception (exc);
    /* Not naming the handle: it may be the one being deallocated. */
    PyErr_WriteUnraisable (NULL);
  }
}

struct nbd_handle *
nbdpy_closed_handle (void)
{
  PyErr_SetString (nbdpy_ClosedHandle, "the NBD handle is closed");
  return NULL;
}

/* The arguments are __init__'s to check: a subclass may define an
 * __init__ of its own, taking arguments. */
static PyObject *
handle_new (PyTypeObject *type, PyObject *args, PyObject *kwds)
{
  struct nbdpy_handle *hs;

  (void) args;
  (void) kwds;
  hs = (struct nbdpy_handle *) type->tp_alloc (type, 0);
  if (hs && nbdpy_core_create (hs) == -1)
    Py_CLEAR (hs);
  return (PyObject *) hs;
}

static int
handle_init (PyObject *self, PyObject *args, PyObject *kwds)
{
  (void) self;
  if (PyTuple_GET_SIZE (args) != 0 || (kwds && PyDict_GET_SIZE (kwds) != 0)) {
    PyErr_SetString (PyExc_TypeError, "NBD() takes no arguments");
    return -1;
  }
  return 0;
}

/* A handle the program dropped without closing is closed here. */
static void
handle_dealloc (PyObject *self)
{
  struct nbdpy_handle *hs = (struct nbdpy_handle *) self;

  if (hs->h) {
    Py_BEGIN_ALLOW_THREADS
    nbd_close (hs->h);
    Py_END_ALLOW_THREADS
    nbdpy_forget_handle (hs);
  }
  Py_TYPE (self)->tp_free (self);
}

static PyTypeObject handle_type = {
  PyVarObject_HEAD_INIT (NULL, 0)
  .tp_name = "libnbdmod.Handle",
  .tp_doc = "A library handle; nbd.NBD adds the Python conveniences.",
  .tp_basicsize = sizeof (struct nbdpy_handle),
  .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
  .tp_new = handle_new,
  .tp_init = handle_init,
  .tp_dealloc = handle_dealloc,
  .tp_methods = nbdpy_handle_methods,
};

/* is_zero (buffer, offset, size): size -1 means up to the end. */
static PyObject *
nbdpy_is_zero (PyObject *self, PyObject *args)
{
  PyObject *obj;
  Py_ssize_t offset, size;
  Py_buffer view;
  bool zero = true;

  (void) self;
  if (!PyArg_ParseTuple (args, "Onn:is_zero", &obj, &offset, &size))
    return NULL;
  if (PyObject_GetBuffer (obj, &view, PyBUF_SIMPLE) == -1)
    return NULL;
  if (size == -1 && offset >= 0 && offset <= view.len)
    size = view.len - offset;
  if (offset < 0 || size < 0 || offset > view.len || size > view.len - offset) {
    PyBuffer_Release (&view);
    PyErr_SetString (PyExc_IndexError, "offset and size are outside the buffer");
    return NULL;
  }
  {
    const unsigned char *p = (const unsigned char *) view.buf + offset;
    /* Compare the range with itself shifted by one byte once the first
     * byte is known to be zero: memcmp is much faster than a loop. */
    if (size > 0)
      zero = p[0] == 0 && memcmp (p, p + 1, size - 1) == 0;
  }
  PyBuffer_Release (&view);
  return PyBool_FromLong (zero);
}

static PyMethodDef module_functions[] = {
  { "is_zero", nbdpy_is_zero, METH_VARARGS, NULL },
  { NULL, NULL, 0, NULL }
};

static struct PyModuleDef module_def = {
  PyModuleDef_HEAD_INIT,
  .m_name = "libnbdmod",
  .m_doc = "Low-level functions behind the nbd module (use nbd instead).",
  .m_size = -1,
  .m_methods = module_functions,
};

PyMODINIT_FUNC
PyInit_libnbdmod (void)
{
  PyObject *m = NULL, *ctypes = NULL;

  m = PyModule_Create (&module_def);
  if (m == NULL)
    return NULL;
  if (PyModule_AddFunctions (m, nbdpy_core_functions) == -1 ||
      PyType_Ready (&handle_type) == -1 ||
      PyModule_AddObjectRef (m, "Handle", (PyObject *) &handle_type) == -1)
    goto fail;
  nbdpy_Error = PyErr_NewException ("nbd.Error", NULL, NULL);
  /* A ValueError, as in libnbd's binding: using a closed handle is
   * passing a bad value, not a failure of the library. */
  nbdpy_ClosedHandle = PyErr_NewException ("nbd.ClosedHandle", PyExc_ValueError,
                                           NULL);
  if (nbdpy_Error == NULL || nbdpy_ClosedHandle == NULL ||
      PyModule_AddObjectRef (m, "Error", nbdpy_Error) == -1 ||
      PyModule_AddObjectRef (m, "ClosedHandle", nbdpy_ClosedHandle) == -1)
    goto fail;
  nbdpy_str_o = PyUnicode_InternFromString ("_o");
  nbdpy_str_value = PyUnicode_InternFromString ("value");
  if (nbdpy_str_o == NULL || nbdpy_str_value == NULL)
    goto fail;
  ctypes = PyImport_ImportModule ("ctypes");
  if (ctypes == NULL)
    goto fail;
  nbdpy_c_int = PyObject_GetAttrString (ctypes, "c_int");
  Py_DECREF (ctypes);
  if (nbdpy_c_int == NULL)
    goto fail;
  return m;

 fail:
  Py_DECREF (m);
  return NULL;
}
