/* Python callables as libnbd callbacks: what every callback type shares.
 *
 * The trampolines themselves are generated (methods.c, from the callback
 * records of spec/constants.py): each takes the GIL (the library calls it
 * with the GIL released, possibly from another thread's call), turns its
 * C parameters into Python objects with the converters below, calls the
 * callable through nbdpy_closure_call and hands back what it returned.
 *
 * The closure's user_data owns a reference to the callable and, for aio
 * commands, the export of the command's buffer.  A callable that raises
 * counts as having returned -1, and its exception is kept on the handle
 * for the method whose call ran the callback to re-raise; one that
 * returns something other than an int (None) counts as 0. */
#include "nbdpy.h"

#include <stdlib.h>

void
nbdpy_closure_release (struct nbdpy_closure *data)
{
  Py_CLEAR (data->fn);
  if (data->has_view) {
    data->has_view = false;
    PyBuffer_Release (&data->view);
  }
}

void
nbdpy_closure_free (void *user_data)
{
  struct nbdpy_closure *data = user_data;

  /* A completion that ran has released everything already: most aio
   * commands end here without taking the GIL a second time. */
  if (data->fn || data->has_view) {
    PyGILState_STATE gil = PyGILState_Ensure ();
    nbdpy_closure_release (data);
    PyGILState_Release (gil);
  }
  free (data);
}

void
nbdpy_drop_closure (void *user_data)
{
  if (user_data)
    nbdpy_closure_free (user_data);
}

void
nbdpy_closure_hold_buffer (void *user_data, Py_buffer *view)
{
  struct nbdpy_closure *data = user_data;

  data->view = *view;
  data->has_view = true;
  view->obj = NULL;             /* the caller no longer releases it */
}

struct nbdpy_closure *
nbdpy_closure_new (PyObject *fn, bool optional, const char *what,
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

int
nbdpy_closure_call (struct nbdpy_closure *data, PyObject *const *argv,
                    size_t argc)
{
  PyObject *result = PyObject_Vectorcall (data->fn, argv, argc, NULL);
  int ret;

  if (result == NULL)
    return -1;
  /* Like libnbd's binding, anything but an integer counts as 0. */
  ret = 0;
  if (PyLong_Check (result)) {
    ret = PyLong_AsLong (result);
    if (ret == -1 && PyErr_Occurred ())
      PyErr_Clear ();
  }
  Py_DECREF (result);
  return ret;
}

int
nbdpy_closure_settle (struct nbdpy_closure *data, int ret)
{
  if (PyErr_Occurred ()) {
    nbdpy_keep_callback_exception (data->hs);
    ret = -1;
  }
  return ret;
}

void
nbdpy_cb_clear (PyObject **argv, size_t argc)
{
  for (size_t i = 0; i < argc; i++)
    Py_CLEAR (argv[i]);
}

/* Run `after` (which may fail) without losing an exception already
 * pending: the callable's own exception matters more. */
#define KEEPING_PENDING_EXCEPTION(after)                        \
  do {                                                          \
    PyObject *type_ = NULL, *exc_ = NULL, *tb_ = NULL;          \
    bool raised_ = PyErr_Occurred () != NULL;                   \
    if (raised_)                                                \
      PyErr_Fetch (&type_, &exc_, &tb_);                        \
    after;                                                      \
    if (raised_) {                                              \
      PyErr_Clear ();                                           \
      PyErr_Restore (type_, exc_, tb_);                         \
    }                                                           \
  } while (0)

PyObject *
nbdpy_cb_string (const char *s)
{
  if (s == NULL)
    Py_RETURN_NONE;
  return PyUnicode_FromString (s);
}

PyObject *
nbdpy_cb_cell_new (int value)
{
  PyObject *v, *cell;

  /* Most commands succeed: c_int() starts at 0 and needs no argument
   * tuple built for it. */
  if (value == 0)
    return PyObject_CallNoArgs (nbdpy_c_int);
  v = PyLong_FromLong (value);
  if (v == NULL)
    return NULL;
  cell = PyObject_CallOneArg (nbdpy_c_int, v);
  Py_DECREF (v);
  return cell;
}

/* The errno a callable stored before raising still counts, as it does
 * with libnbd's binding. */
void
nbdpy_cb_cell_read (PyObject *cell, int *value)
{
  KEEPING_PENDING_EXCEPTION ({
      PyObject *v = PyObject_GetAttr (cell, nbdpy_str_value);
      if (v) {
        long n = PyLong_AsLong (v);
        if (n != -1 || !PyErr_Occurred ())
          *value = n;
        Py_DECREF (v);
      }
      PyErr_Clear ();
    });
}

/* The memory is the library's and valid only during the call: the view
 * is released afterwards, so a callable that keeps it gets an error
 * instead of stale bytes. */
PyObject *
nbdpy_cb_view (const void *buf, size_t count)
{
  return PyMemoryView_FromMemory ((char *) buf, count, PyBUF_READ);
}

void
nbdpy_cb_view_release (struct nbdpy_closure *data, PyObject *view)
{
  PyObject *released = PyObject_CallMethod (view, "release", NULL);

  /* A view the callable still exports (say to a numpy array) cannot be
   * released: that is the callable's error, kept like one it raised. */
  if (released == NULL)
    nbdpy_keep_callback_exception (data->hs);
  Py_XDECREF (released);
}

/* 32-bit block status: a flat list of lengths and flags. */
PyObject *
nbdpy_cb_uint32_list (const uint32_t *entries, size_t n)
{
  PyObject *list = PyList_New (n);

  for (size_t i = 0; list && i < n; i++) {
    PyObject *v = PyLong_FromUnsignedLong (entries[i]);
    if (v == NULL)
      Py_CLEAR (list);
    else
      PyList_SET_ITEM (list, i, v);
  }
  return list;
}

/* 64-bit block status: a list of (length, flags) tuples. */
PyObject *
nbdpy_cb_extent_list (const nbd_extent *entries, size_t n)
{
  PyObject *list = PyList_New (n);

  for (size_t i = 0; list && i < n; i++) {
    PyObject *v = Py_BuildValue ("(KK)", (unsigned long long) entries[i].length,
                                 (unsigned long long) entries[i].flags);
    if (v == NULL)
      Py_CLEAR (list);
    else
      PyList_SET_ITEM (list, i, v);
  }
  return list;
}
