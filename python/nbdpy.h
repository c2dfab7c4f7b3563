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

/* module.c */
extern struct nbd_handle *nbdpy_get_handle (PyObject *capsule);
extern void nbdpy_raise_error (void);

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
 * exception.  Once passed to the library the closure is the library's
 * to free; before that, nbdpy_drop_closure frees it. */
#define NBDPY_CLOSURE(type) \
  extern int nbdpy_make_##type##_closure (nbd_##type##_callback *cb, \
                                          PyObject *fn, bool optional);
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

#endif /* NBDPY_H */
