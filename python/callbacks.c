/* Python callables as libnbd callbacks.
 *
 * The closure's user_data owns a reference to the callable and, for aio
 * commands, the export of the command's buffer.  A trampoline takes the
 * GIL (the library calls it with the GIL released, possibly from another
 * thread's call), passes the arguments as Python objects, and an int
 * *error as a ctypes.c_int whose .value the callable may change.  A
 * callable that raises counts as having returned -1, and its exception
 * is kept on the handle for the method whose call ran the callback to
 * re-raise; one that returns something other than an int (None) counts
 * as 0. */
#include "nbdpy.h"

#include <stdarg.h>
#include <stdlib.h>

struct nbdpy_closure {
  PyObject *fn;                 /* NULL: an optional callback left out */
  struct nbdpy_handle *hs;      /* where an exception of fn goes */
  bool has_view;
  Py_buffer view;
};

static void
closure_free (void *user_data)
{
  struct nbdpy_closure *data = user_data;
  PyGILState_STATE gil = PyGILState_Ensure ();

  Py_XDECREF (data->fn);
  if (data->has_view)
    PyBuffer_Release (&data->view);
  PyGILState_Release (gil);
  free (data);
}

void
nbdpy_drop_closure (void *user_data)
{
  if (user_data)
    closure_free (user_data);
}

void
nbdpy_closure_hold_buffer (void *user_data, Py_buffer *view)
{
  struct nbdpy_closure *data = user_data;

  data->view = *view;
  data->has_view = true;
  view->obj = NULL;             /* the caller no longer releases it */
}

static struct nbdpy_closure *
closure_new (PyObject *fn, bool optional, const char *what,
             struct nbdpy_handle *hs)
{
  struct nbdpy_closure *data;

  if (fn == Py_None && optional)
    fn = NULL;
  else if (!PyCallable_Check (fn)) {
    PyErr_Format (PyExc_TypeError, "%s callback must be callable, not %s",
                  what, Py_TYPE (fn)->tp_name);
    return NULL;
  }
  data = calloc (1, sizeof *data);
  if (data == NULL) {
    PyErr_NoMemory ();
    return NULL;
  }
  Py_XINCREF (fn);
  data->fn = fn;
  data->hs = hs;
  return data;
}

/* Move the pending exception to the handle.  The first one a call's
 * callbacks raise is the one its method re-raises; any later one before
 * that is reported as unraisable rather than lost silently. */
void
nbdpy_keep_callback_exception (struct nbdpy_handle *hs)
{
  PyObject *type, *value, *tb;

  if (hs->callback_exception) {
    PyErr_WriteUnraisable (NULL);
    return;
  }
  PyErr_Fetch (&type, &value, &tb);
  PyErr_NormalizeException (&type, &value, &tb);
  if (tb && value)
    PyException_SetTraceback (value, tb);
  Py_XDECREF (type);
  Py_XDECREF (tb);
  hs->callback_exception = value;
  hs->callback_thread = PyThread_get_thread_ident ();
}

/* Call data->fn with the arguments Py_BuildValue makes of fmt (a tuple
 * format), followed by the error cell when error is not NULL.  The GIL is
 * held. */
static int
invoke (struct nbdpy_closure *data, int *error, const char *fmt, va_list ap)
{
  PyObject *args, *cell = NULL, *result = NULL;
  int ret = -1;

  args = Py_VaBuildValue (fmt, ap);
  if (args && error) {
    Py_ssize_t n = PyTuple_GET_SIZE (args);
    PyObject *with_cell;

    cell = PyObject_CallFunction (nbdpy_c_int, "i", *error);
    with_cell = cell ? PyTuple_New (n + 1) : NULL;
    if (with_cell) {
      for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM (with_cell, i, Py_NewRef (PyTuple_GET_ITEM (args, i)));
      PyTuple_SET_ITEM (with_cell, n, Py_NewRef (cell));
    }
    Py_SETREF (args, with_cell);
  }
  if (args)
    result = PyObject_CallObject (data->fn, args);
  Py_XDECREF (args);
  if (result) {
    /* Like libnbd's binding, anything but an integer counts as 0. */
    ret = 0;
    if (PyLong_Check (result)) {
      ret = PyLong_AsLong (result);
      if (ret == -1 && PyErr_Occurred ())
        PyErr_Clear ();
    }
    Py_DECREF (result);
  }
  /* The errno a callable stored before raising still counts, as it
   * does with libnbd's binding. */
  if (cell) {
    PyObject *type = NULL, *exc = NULL, *tb = NULL, *value;
    bool raised = PyErr_Occurred () != NULL;

    if (raised)
      PyErr_Fetch (&type, &exc, &tb);
    value = PyObject_GetAttrString (cell, "value");
    if (value) {
      long v = PyLong_AsLong (value);
      if (v != -1 || !PyErr_Occurred ())
        *error = v;
      Py_DECREF (value);
    }
    /* The callable's own exception matters more than a broken cell. */
    if (raised) {
      PyErr_Clear ();
      PyErr_Restore (type, exc, tb);
    }
    Py_DECREF (cell);
  }
  if (PyErr_Occurred ()) {
    nbdpy_keep_callback_exception (data->hs);
    ret = -1;
  }
  return ret;
}

static int
call (void *user_data, int *error, const char *fmt, ...)
{
  struct nbdpy_closure *data = user_data;
  PyGILState_STATE gil = PyGILState_Ensure ();
  va_list ap;
  int ret;

  va_start (ap, fmt);
  ret = invoke (data, error, fmt, ap);
  va_end (ap);
  PyGILState_Release (gil);
  return ret;
}

static int
chunk_trampoline (void *user_data, const void *subbuf, size_t count,
                  uint64_t offset, unsigned status, int *error)
{
  struct nbdpy_closure *data = user_data;
  PyGILState_STATE gil = PyGILState_Ensure ();
  PyObject *view, *released;
  int ret = -1;

  /* The memory is the library's and valid only during the call: the
   * view is released afterwards, so a callable that keeps it gets an
   * error instead of stale bytes. */
  view = PyMemoryView_FromMemory ((char *) subbuf, count, PyBUF_READ);
  if (view == NULL)
    nbdpy_keep_callback_exception (data->hs);
  else {
    ret = call (data, error, "(OKI)", view, (unsigned long long) offset, status);
    released = PyObject_CallMethod (view, "release", NULL);
    if (released == NULL)
      nbdpy_keep_callback_exception (data->hs);
    Py_XDECREF (released);
    Py_DECREF (view);
  }
  PyGILState_Release (gil);
  return ret;
}

static int
completion_trampoline (void *user_data, int *error)
{
  struct nbdpy_closure *data = user_data;

  /* Without a callable the closure only holds the buffer: leave the
   * command for nbd_aio_command_completed, and skip taking the GIL. */
  if (data->fn == NULL)
    return 0;
  return call (data, error, "()");
}

static int
debug_trampoline (void *user_data, const char *context, const char *msg)
{
  return call (user_data, NULL, "(zz)", context, msg);
}

/* Both extent callbacks get (metacontext, offset, entries, err); entry
 * makes element i of the entries list. */
static int
call_with_entries (struct nbdpy_closure *data, const char *metacontext,
                   uint64_t offset,
                   PyObject *(*entry) (const void *entries, size_t i),
                   const void *entries, size_t nr_entries, int *error)
{
  PyGILState_STATE gil = PyGILState_Ensure ();
  PyObject *list = PyList_New (nr_entries);
  int ret = -1;

  for (size_t i = 0; list && i < nr_entries; i++) {
    PyObject *v = entry (entries, i);
    if (v == NULL)
      Py_CLEAR (list);
    else
      PyList_SET_ITEM (list, i, v);
  }
  if (list)
    ret = call (data, error, "(sKN)", metacontext,
                (unsigned long long) offset, list);
  else
    nbdpy_keep_callback_exception (data->hs);
  PyGILState_Release (gil);
  return ret;
}

/* 32-bit block status: a flat list of lengths and flags. */
static PyObject *
entry32 (const void *entries, size_t i)
{
  return PyLong_FromUnsignedLong (((const uint32_t *) entries)[i]);
}

/* 64-bit block status: a list of (length, flags) tuples. */
static PyObject *
entry64 (const void *entries, size_t i)
{
  const nbd_extent *e = (const nbd_extent *) entries + i;

  return Py_BuildValue ("(KK)", (unsigned long long) e->length,
                        (unsigned long long) e->flags);
}

static int
extent_trampoline (void *user_data, const char *metacontext, uint64_t offset,
                   uint32_t *entries, size_t nr_entries, int *error)
{
  return call_with_entries (user_data, metacontext, offset, entry32, entries,
                            nr_entries, error);
}

static int
extent64_trampoline (void *user_data, const char *metacontext, uint64_t offset,
                     nbd_extent *entries, size_t nr_entries, int *error)
{
  return call_with_entries (user_data, metacontext, offset, entry64, entries,
                            nr_entries, error);
}

static int
list_trampoline (void *user_data, const char *name, const char *description)
{
  return call (user_data, NULL, "(zz)", name, description);
}

static int
context_trampoline (void *user_data, const char *name)
{
  return call (user_data, NULL, "(z)", name);
}

#define MAKE_CLOSURE(type)                                              \
  int                                                                   \
  nbdpy_make_##type##_closure (nbd_##type##_callback *cb, PyObject *fn, \
                               bool optional, struct nbdpy_handle *hs)  \
  {                                                                     \
    struct nbdpy_closure *data = closure_new (fn, optional, #type, hs); \
    if (data == NULL)                                                   \
      return -1;                                                        \
    cb->callback = type##_trampoline;                                   \
    cb->user_data = data;                                               \
    cb->free = closure_free;                                            \
    return 0;                                                           \
  }
MAKE_CLOSURE (chunk)
MAKE_CLOSURE (completion)
MAKE_CLOSURE (debug)
MAKE_CLOSURE (extent)
MAKE_CLOSURE (extent64)
MAKE_CLOSURE (list)
MAKE_CLOSURE (context)
