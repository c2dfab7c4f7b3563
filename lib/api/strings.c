#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

char *
nbdi_strdup (const char *s)
{
  char *copy = strdup (s);
  if (copy == NULL)
    nbdi_set_error (ENOMEM, "out of memory");
  return copy;
}

int
nbdi_replace_string (char **field, const char *s)
{
  char *copy = nbdi_strdup (s);
  if (copy == NULL)
    return -1;
  free (*field);
  *field = copy;
  return 0;
}

int
nbdi_strlist_append (struct nbdi_strlist *list, const char *s)
{
  if (list->len == list->cap) {
    size_t cap = list->cap ? list->cap * 2 : 4;
    char **items = realloc (list->items, cap * sizeof *items);
    if (items == NULL) {
      nbdi_set_error (ENOMEM, "out of memory");
      return -1;
    }
    list->items = items;
    list->cap = cap;
  }
  list->items[list->len] = nbdi_strdup (s);
  if (list->items[list->len] == NULL)
    return -1;
  list->len++;
  return 0;
}

void
nbdi_strlist_clear (struct nbdi_strlist *list)
{
  for (size_t i = 0; i < list->len; i++)
    free (list->items[i]);
  list->len = 0;
}
