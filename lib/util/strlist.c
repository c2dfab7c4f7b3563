#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/strlist.h"

int
nbdi_strlist_append (struct nbdi_strlist *list, const char *s)
{
  char *copy;

  if (list->len == list->cap) {
    size_t cap = list->cap ? list->cap * 2 : 4;
    char **items = realloc (list->items, cap * sizeof *items);
    if (items == NULL) {
      errno = ENOMEM;
      return -1;
    }
    list->items = items;
    list->cap = cap;
  }
  copy = strdup (s);
  if (copy == NULL) {
    errno = ENOMEM;
    return -1;
  }
  list->items[list->len++] = copy;
  return 0;
}

void
nbdi_strlist_clear (struct nbdi_strlist *list)
{
  for (size_t i = 0; i < list->len; i++)
    free (list->items[i]);
  list->len = 0;
}

void
nbdi_strlist_free (struct nbdi_strlist *list)
{
  nbdi_strlist_clear (list);
  free (list->items);
  list->items = NULL;
  list->cap = 0;
}
