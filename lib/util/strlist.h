/* A growable list of strings (meta context requests and queries).
 *
 * Shared by the engine and the API layer, so it reports failure the
 * plain C way (errno) and knows nothing of the public error. */
#ifndef NBDI_UTIL_STRLIST_H
#define NBDI_UTIL_STRLIST_H

#include <stddef.h>

struct nbdi_strlist {
  char **items;
  size_t len, cap;
};

/* Append a copy of s: 0, or -1 with errno set to ENOMEM. */
int nbdi_strlist_append (struct nbdi_strlist *list, const char *s);

/* Free every string, keeping the array for reuse. */
void nbdi_strlist_clear (struct nbdi_strlist *list);

/* Free the strings and the array. */
void nbdi_strlist_free (struct nbdi_strlist *list);

#endif
