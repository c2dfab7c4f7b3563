/* Shared declarations of the libnbdmod extension module: the hand-written
 * helpers (module.c, convert.c, callbacks.c) that the generated
 * methods.c calls. */
#ifndef NBDPY_H
#define NBDPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <libnbd.h>

extern PyObject *nbdpy_Error;
extern PyObject *nbdpy_ClosedHandle;
extern PyObject *nbdpy_c_int;           /* ctypes.c_int: the err cell type */
/* Attribute names looked up on every aio call or completion, interned
 * once so that no call builds a str for them. */
extern PyObject *nbdpy_str_o;           /* "_o": nbd.Buffer's buffer object */
extern PyObject *nbdpy_str_value;       /* "value": the err cell's int */

/* A libnbdmod.Handle: the library handle (NULL once closed), and the
 * first exception a callback raised that the method running it has not
 * yet re-raised.  The library runs a callback on the thread whose call
 * drives the handle, so only a method on that thread takes the
 * exception; the GIL guards every field. */
struct nbdpy_handle {
  PyObject_HEAD
  struct nbd_handle *h;
  PyObject *callback_exception;
  unsigned long callback_thread;
};

/* module.c */
extern struct nbd_handle *nbdpy_closed_handle (void);
/* After nbd_close: the handle is closed for Python too. */
extern void nbdpy_forget_handle (struct nbdpy_handle *hs);
extern void nbdpy_raise_error (void);
extern void nbdpy_raise_call_error (struct nbdpy_handle *hs);
extern PyObject *nbdpy_reraise_callback_exception (struct nbdpy_handle *hs,
                                                  PyObject *result);

/* The library handle of an open handle, or NULL with nbd.ClosedHandle. */
static inline struct nbd_handle *
nbdpy_open_handle (struct nbdpy_handle *hs)
{
  if (hs->h)
    return hs->h;
  return nbdpy_closed_handle ();
}

/* methods.c (generated) */
extern PyMethodDef nbdpy_handle_methods[];
extern PyMethodDef nbdpy_core_functions[];
extern int nbdpy_core_create (struct nbdpy_handle *hs);

/* The result of a call that succeeded, unless a callback it ran raised:
 * then that exception, re-raised (result is released). */
static inline PyObject *
nbdpy_call_result (struct nbdpy_handle *hs, PyObject *result)
{
  if (hs->callback_exception == NULL)
    return result;
  return nbdpy_reraise_callback_exception (hs, result);
}

/* convert.c.  A method's arguments: argv[i] is the object passed for
 * names[i], by position or keyword, or NULL for an optional one
 * (i >= required) left out.  false with a TypeError when they do not
 * fit the names. */
extern bool nbdpy_parse_args (const char *fname, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames,
                              const char *const *names, Py_ssize_t required,
                              Py_ssize_t total, PyObject **argv);
/* Converters return 1 on success, 0 with an exception. */
extern int nbdpy_to_int (PyObject *obj, int *out);
extern int nbdpy_to_string (PyObject *obj, const char **out);
extern int nbdpy_to_u32 (PyObject *obj, void *out);
extern int nbdpy_to_u64 (PyObject *obj, void *out);
extern int nbdpy_to_size (PyObject *obj, void *out);
extern int nbdpy_to_uintptr (PyObject *obj, void *out);
extern char **nbdpy_to_string_list (PyObject *list);
extern void nbdpy_free_string_list (char **list);
extern int nbdpy_to_sockaddr (PyObject *addr, struct sockaddr_storage *ss,
                              socklen_t *len);
extern int nbdpy_get_aio_buffer (PyObject *obj, Py_buffer *view, int writable);
extern PyObject *nbdpy_take_string (char *s);

/* callbacks.c: what the generated trampolines share.  A closure's
 * user_data owns a reference to fn (NULL: an optional callback left out)
 * and, for an aio command, the export of its buffer.  An exception the
 * callable raises is kept in hs for the method that ran the callback.
 * Once passed to the library the closure is the library's to free;
 * before that, nbdpy_drop_closure frees it. */
struct nbdpy_closure {
  PyObject *fn;
  struct nbdpy_handle *hs;
  bool has_view;
  Py_buffer view;
};

/* A closure for fn, or NULL with an exception (fn is not callable). */
extern struct nbdpy_closure *nbdpy_closure_new (PyObject *fn, bool optional,
                                                const char *what,
                                                struct nbdpy_handle *hs);
extern void nbdpy_closure_free (void *user_data);
/* With the GIL held, after the last call of a callback the library calls
 * only once (a completion): drop the callable and the buffer now, so that
 * the .free that follows needs no GIL. */
extern void nbdpy_closure_release (struct nbdpy_closure *data);
extern void nbdpy_closure_hold_buffer (void *user_data, Py_buffer *view);
extern void nbdpy_drop_closure (void *user_data);
extern void nbdpy_keep_callback_exception (struct nbdpy_handle *hs);

/* With the GIL held: call fn with argv and return the int it returned
 * (0 for a non-int), or -1 leaving its exception pending.  Then settle
 * keeps a pending exception on the handle and makes the result -1. */
extern int nbdpy_closure_call (struct nbdpy_closure *data,
                               PyObject *const *argv, size_t argc);
extern int nbdpy_closure_settle (struct nbdpy_closure *data, int ret);
extern void nbdpy_cb_clear (PyObject **argv, size_t argc);

/* A callback's C parameters as Python objects (NULL with an exception),
 * one converter per kind of callback parameter record. */
extern PyObject *nbdpy_cb_string (const char *s);
extern PyObject *nbdpy_cb_view (const void *buf, size_t count);
extern void nbdpy_cb_view_release (struct nbdpy_closure *data, PyObject *view);
extern PyObject *nbdpy_cb_uint32_list (const uint32_t *entries, size_t n);
extern PyObject *nbdpy_cb_extent_list (const nbd_extent *entries, size_t n);
/* The mutable int (int *error) is a ctypes.c_int cell; reading it back
 * keeps an exception the callable left pending. */
extern PyObject *nbdpy_cb_cell_new (int value);
extern void nbdpy_cb_cell_read (PyObject *cell, int *value);

#endif /* NBDPY_H */
