/* Conversions between Python objects and the C API's argument types. */
#include "nbdpy.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* An unsigned integer no larger than max; negative values are refused
 * rather than wrapped around. */
static int
to_unsigned (PyObject *obj, unsigned long long max, unsigned long long *out)
{
  unsigned long long v;

  if (!PyLong_Check (obj)) {
    PyErr_Format (PyExc_TypeError, "expected an integer, not %s",
                  Py_TYPE (obj)->tp_name);
    return 0;
  }
  v = PyLong_AsUnsignedLongLong (obj);
  if (v == (unsigned long long) -1 && PyErr_Occurred ())
    return 0;
  if (v > max) {
    PyErr_SetString (PyExc_OverflowError, "integer is too large");
    return 0;
  }
  *out = v;
  return 1;
}

/* One converter per C integer type; sizes are capped at
 * PY_SSIZE_T_MAX since they also size Python objects (bytearrays). */
#define UNSIGNED_CONVERTER(name, ctype, max)            \
  int                                                   \
  name (PyObject *obj, void *out)                       \
  {                                                     \
    unsigned long long v;                               \
    if (!to_unsigned (obj, max, &v))                    \
      return 0;                                         \
    *(ctype *) out = v;                                 \
    return 1;                                           \
  }
UNSIGNED_CONVERTER (nbdpy_to_u32, uint32_t, UINT32_MAX)
UNSIGNED_CONVERTER (nbdpy_to_u64, uint64_t, UINT64_MAX)
UNSIGNED_CONVERTER (nbdpy_to_size, size_t, PY_SSIZE_T_MAX)
UNSIGNED_CONVERTER (nbdpy_to_uintptr, uintptr_t, UINTPTR_MAX)

void
nbdpy_free_string_list (char **list)
{
  if (list == NULL)
    return;
  for (char **p = list; *p; p++)
    free (*p);
  free (list);
}

/* A NULL-terminated copy of a list (or tuple) of str. */
char **
nbdpy_to_string_list (PyObject *obj)
{
  PyObject *seq;
  Py_ssize_t n;
  char **list;

  if (!PyList_Check (obj) && !PyTuple_Check (obj)) {
    PyErr_Format (PyExc_TypeError, "expected a list of strings, not %s",
                  Py_TYPE (obj)->tp_name);
    return NULL;
  }
  seq = PySequence_Fast (obj, "expected a list of strings");
  if (seq == NULL)
    return NULL;
  n = PySequence_Fast_GET_SIZE (seq);
  list = calloc (n + 1, sizeof *list);
  if (list == NULL) {
    Py_DECREF (seq);
    PyErr_NoMemory ();
    return NULL;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PySequence_Fast_GET_ITEM (seq, i);
    const char *s;

    if (!PyUnicode_Check (item)) {
      PyErr_Format (PyExc_TypeError, "list item %zd is %s, not str", i,
                    Py_TYPE (item)->tp_name);
      goto fail;
    }
    s = PyUnicode_AsUTF8 (item);
    if (s == NULL)
      goto fail;
    list[i] = strdup (s);
    if (list[i] == NULL) {
      PyErr_NoMemory ();
      goto fail;
    }
  }
  Py_DECREF (seq);
  return list;

 fail:
  Py_DECREF (seq);
  nbdpy_free_string_list (list);
  return NULL;
}

/* A socket address in the socket module's style: a str is a Unix socket
 * path, (host, port) an IPv4 address and (host, port[, flowinfo,
 * scope_id]) an IPv6 one, host being a numeric address. */
int
nbdpy_to_sockaddr (PyObject *addr, struct sockaddr_storage *ss, socklen_t *len)
{
  memset (ss, 0, sizeof *ss);
  if (PyUnicode_Check (addr) || PyBytes_Check (addr)) {
    struct sockaddr_un *sun = (struct sockaddr_un *) ss;
    PyObject *bytes;
    Py_ssize_t n;

    if (!PyUnicode_FSConverter (addr, &bytes))
      return -1;
    n = PyBytes_GET_SIZE (bytes);
    if ((size_t) n >= sizeof sun->sun_path) {
      Py_DECREF (bytes);
      PyErr_SetString (PyExc_ValueError, "Unix socket path is too long");
      return -1;
    }
    sun->sun_family = AF_UNIX;
    memcpy (sun->sun_path, PyBytes_AS_STRING (bytes), n);
    Py_DECREF (bytes);
    *len = sizeof *sun;
    return 0;
  }
  if (PyTuple_Check (addr)) {
    const char *host;
    int port;
    unsigned int flowinfo = 0, scope_id = 0;
    struct sockaddr_in *sin = (struct sockaddr_in *) ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;

    if (!PyArg_ParseTuple (addr, "si|II", &host, &port, &flowinfo, &scope_id))
      return -1;
    if (port < 0 || port > 65535) {
      PyErr_SetString (PyExc_OverflowError, "port must be 0-65535");
      return -1;
    }
    if (PyTuple_GET_SIZE (addr) == 2 && inet_pton (AF_INET, host, &sin->sin_addr) == 1) {
      sin->sin_family = AF_INET;
      sin->sin_port = htons (port);
      *len = sizeof *sin;
      return 0;
    }
    if (inet_pton (AF_INET6, host, &sin6->sin6_addr) == 1) {
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons (port);
      sin6->sin6_flowinfo = htonl (flowinfo);
      sin6->sin6_scope_id = scope_id;
      *len = sizeof *sin6;
      return 0;
    }
    PyErr_Format (PyExc_ValueError, "not a numeric IP address: %s", host);
    return -1;
  }
  PyErr_Format (PyExc_TypeError,
                "expected a Unix socket path or a (host, port) tuple, not %s",
                Py_TYPE (addr)->tp_name);
  return -1;
}

/* The memory of an aio buffer: an nbd.Buffer (its ._o) or any object
 * with the buffer protocol.  Writable when the server's data lands in
 * it. */
int
nbdpy_get_aio_buffer (PyObject *obj, Py_buffer *view, int writable)
{
  PyObject *inner = NULL;
  int r;

  if (!PyObject_CheckBuffer (obj)) {
    inner = PyObject_GetAttr (obj, nbdpy_str_o);
    if (inner == NULL) {
      PyErr_Clear ();
      PyErr_Format (PyExc_TypeError, "expected nbd.Buffer, not %s",
                    Py_TYPE (obj)->tp_name);
      return -1;
    }
    obj = inner;
  }
  r = PyObject_GetBuffer (obj, view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE);
  Py_XDECREF (inner);
  if (r == -1)
    view->obj = NULL;
  return r;
}

/* A str made from a string the library allocated, which it frees. */
PyObject *
nbdpy_take_string (char *s)
{
  PyObject *r = PyUnicode_FromString (s);

  free (s);
  return r;
}

bool
nbdpy_parse_args (const char *fname, PyObject *const *args, Py_ssize_t nargs,
                  PyObject *kwnames, const char *const *names,
                  Py_ssize_t required, Py_ssize_t total, PyObject **argv)
{
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE (kwnames) : 0;

  if (nargs > total) {
    PyErr_Format (PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)",
                  fname, total, nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < total; i++)
    argv[i] = i < nargs ? args[i] : NULL;
  /* The common case, positional arguments only, ends here. */
  if (nkw == 0 && nargs >= required)
    return true;
  for (Py_ssize_t k = 0; k < nkw; k++) {
    PyObject *key = PyTuple_GET_ITEM (kwnames, k);
    Py_ssize_t i;

    for (i = 0; i < total; i++)
      if (PyUnicode_CompareWithASCIIString (key, names[i]) == 0)
        break;
    if (i == total) {
      PyErr_Format (PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                    fname, key);
      return false;
    }
    if (argv[i]) {
      PyErr_Format (PyExc_TypeError, "%s() got multiple values for argument '%s'",
                    fname, names[i]);
      return false;
    }
    argv[i] = args[nargs + k];
  }
  for (Py_ssize_t i = 0; i < required; i++)
    if (argv[i] == NULL) {
      PyErr_Format (PyExc_TypeError, "%s() missing required argument '%s'",
                    fname, names[i]);
      return false;
    }
  return true;
}

/* An int like PyArg_ParseTuple's "i": any integer (or object with
 * __index__) in the range of a C int. */
int
nbdpy_to_int (PyObject *obj, int *out)
{
  long v = PyLong_AsLong (obj);

  if (v == -1 && PyErr_Occurred ())
    return 0;
  if (v < INT_MIN || v > INT_MAX) {
    PyErr_SetString (PyExc_OverflowError, "integer is out of the range of a C int");
    return 0;
  }
  *out = v;
  return 1;
}

/* A str as UTF-8 owned by the object, like "s": no embedded NUL. */
int
nbdpy_to_string (PyObject *obj, const char **out)
{
  Py_ssize_t len;
  const char *s;

  if (!PyUnicode_Check (obj)) {
    PyErr_Format (PyExc_TypeError, "expected str, not %s", Py_TYPE (obj)->tp_name);
    return 0;
  }
  s = PyUnicode_AsUTF8AndSize (obj, &len);
  if (s == NULL)
    return 0;
  if (strlen (s) != (size_t) len) {
    PyErr_SetString (PyExc_ValueError, "embedded null character");
    return 0;
  }
  *out = s;
  return 1;
}
