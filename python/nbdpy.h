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
extern PyMethodDef nbdpy_generated_methods[];

/* What a handle capsule points to: the library handle, and the first
 * exception a callback raised that the method running it has not yet
 * re-raised.  The library runs a callback on the thread whose call
 * drives the handle, so only a method on that thread takes the
 * exception; the GIL guards both fields. */
struct nbdpy_handle {
  struct nbd_handle *h;
  PyObject *callback_exception;
  unsigned long callback_thread;
};

/* module.c */
extern struct nbdpy_handle *nbdpy_get_handle (PyObject *capsule);
extern void nbdpy_raise_error (void);
extern void nbdpy_raise_call_error (struct nbdpy_handle *hs);
extern PyObject *nbdpy_reraise_callback_exception (struct nbdpy_handle *hs,
                                                  PyObject *result);

/* The result of a call that succeeded, unless a callback it ran raised:
 * then that exception, re-raised (result is released). */
static inline PyObject *
nbdpy_call_result (struct nbdpy_handle *hs, PyObject *result)
{
  if (hs->callback_exception == NULL)
    return result;
  return nbdpy_reraise_callback_exception (hs, result);
}

/* convert.c: "O&" converters return 1 on success, 0 with an exception. */
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

/* callbacks.c: each builds a closure whose user_data owns a reference to
 * fn (None is allowed when optional) and returns 0, or -1 with an
 * exception.  An exception the callable raises is kept in hs for the
 * method that ran the callback.  Once passed to the library the closure is the library's
 * to free; before that, nbdpy_drop_closure frees it. */
#define NBDPY_CLOSURE(type) \
  extern int nbdpy_make_##type##_closure (nbd_##type##_callback *cb, \
                                          PyObject *fn, bool optional, \
                                          struct nbdpy_handle *hs);
NBDPY_CLOSURE (chunk)
NBDPY_CLOSURE (completion)
NBDPY_CLOSURE (debug)
NBDPY_CLOSURE (extent)
NBDPY_CLOSURE (extent64)
NBDPY_CLOSURE (list)
NBDPY_CLOSURE (context)
#undef NBDPY_CLOSURE
extern void nbdpy_closure_hold_buffer (void *user_data, Py_buffer *view);
extern void nbdpy_drop_closure (void *user_data);
extern void nbdpy_keep_callback_exception (struct nbdpy_handle *hs);

#endif /* NBDPY_H */
