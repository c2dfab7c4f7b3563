/* The libnbdmod extension module: handle creation and closing, errors,
 * and the generated per-call functions (methods.c).  The `nbd` module
 * (nbd.py) wraps it in class NBD.  Creating and closing handles are
 * generated from spec/constants.py's CORE_CALLS; the helpers they use are
 * here. */
#include "nbdpy.h"

#include <string.h>

PyObject *nbdpy_Error;
PyObject *nbdpy_ClosedHandle;
PyObject *nbdpy_c_int;

static const char handle_capsule_name[] = "nbd_handle";
/* A capsule whose handle was closed is renamed, so that it can no longer
 * reach the freed handle. */
static const char closed_capsule_name[] = "nbd_handle (closed)";

struct nbdpy_handle *
nbdpy_get_handle (PyObject *capsule)
{
  struct nbdpy_handle *hs;

  /* nbd.NBD.close sets the handle's capsule to None. */
  if (capsule != Py_None) {
    hs = PyCapsule_GetPointer (capsule, handle_capsule_name);
    if (hs || !PyCapsule_IsValid (capsule, closed_capsule_name))
      return hs;
    PyErr_Clear ();
  }
  PyErr_SetString (nbdpy_ClosedHandle, "the NBD handle is closed");
  return NULL;
}

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

bool
nbdpy_check_nargs (const char *name, Py_ssize_t nargs, Py_ssize_t expected)
{
  if (nargs == expected)
    return true;
  PyErr_Format (PyExc_TypeError, "%s() takes %zd arguments (%zd given)",
                name, expected, nargs);
  return false;
}

PyObject *
nbdpy_new_handle (struct nbd_handle *h)
{
  struct nbdpy_handle *hs = PyMem_Calloc (1, sizeof *hs);
  PyObject *capsule;

  if (hs == NULL) {
    nbd_close (h);
    return PyErr_NoMemory ();
  }
  hs->h = h;
  capsule = PyCapsule_New (hs, handle_capsule_name, NULL);
  if (capsule == NULL) {
    nbd_close (h);
    PyMem_Free (hs);
  }
  return capsule;
}

void
nbdpy_forget_handle (struct nbdpy_handle *hs, PyObject *capsule)
{
  PyObject *exc = hs->callback_exception;

  /* An exception no method took (one raised on another thread) has no
   * caller left to reach. */
  if (exc) {
    restore_exception (exc);
    PyErr_WriteUnraisable (capsule);
  }
  PyMem_Free (hs);
  if (PyCapsule_SetName (capsule, closed_capsule_name) == -1)
    PyErr_WriteUnraisable (capsule);
}

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

static PyMethodDef core_methods[] = {
  { "is_zero", nbdpy_is_zero, METH_VARARGS, NULL },
  { NULL, NULL, 0, NULL }
};

static struct PyModuleDef module_def = {
  PyModuleDef_HEAD_INIT,
  .m_name = "libnbdmod",
  .m_doc = "Low-level functions behind the nbd module (use nbd instead).",
  .m_size = -1,
  .m_methods = core_methods,
};

PyMODINIT_FUNC
PyInit_libnbdmod (void)
{
  PyObject *m = NULL, *ctypes = NULL;

  m = PyModule_Create (&module_def);
  if (m == NULL)
    return NULL;
  if (PyModule_AddFunctions (m, nbdpy_generated_methods) == -1)
    goto fail;
  nbdpy_Error = PyErr_NewException ("nbd.Error", NULL, NULL);
  nbdpy_ClosedHandle = PyErr_NewException ("nbd.ClosedHandle", NULL, NULL);
  if (nbdpy_Error == NULL || nbdpy_ClosedHandle == NULL ||
      PyModule_AddObjectRef (m, "Error", nbdpy_Error) == -1 ||
      PyModule_AddObjectRef (m, "ClosedHandle", nbdpy_ClosedHandle) == -1)
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
