/* The cookie -> command map: open addressing on the cookie, so that a
 * reply finds its command in O(1).  Static inline: it runs for every
 * command and every reply. */
#ifndef NBDI_ENGINE_COOKIE_MAP_H
#define NBDI_ENGINE_COOKIE_MAP_H

#include <stdlib.h>

#include "engine/internal.h"

static inline size_t
slot_of (const struct nbdi_cookie_map *m, uint64_t cookie)
{
  return (size_t) (cookie * UINT64_C (0x9E3779B97F4A7C15) >> 20) & m->mask;
}

static inline int
map_grow (struct nbdi_cookie_map *m)
{
  size_t size = m->slots ? (m->mask + 1) * 2 : 256;
  struct nbdi_cmd **slots = calloc (size, sizeof *slots);
  struct nbdi_cookie_map old = *m;

  if (slots == NULL)
    return -1;
  m->slots = slots;
  m->mask = size - 1;
  m->used = 0;
  if (old.slots) {
    for (size_t i = 0; i <= old.mask; i++) {
      if (old.slots[i]) {
        size_t j = slot_of (m, old.slots[i]->cookie);
        while (m->slots[j])
          j = (j + 1) & m->mask;
        m->slots[j] = old.slots[i];
        m->used++;
      }
    }
    free (old.slots);
  }
  return 0;
}

static inline int
map_insert (struct nbdi_cookie_map *m, struct nbdi_cmd *cmd)
{
  size_t i;

  if (m->slots == NULL || (m->used + 1) * 2 > m->mask + 1)
    if (map_grow (m) == -1)
      return -1;
  i = slot_of (m, cmd->cookie);
  while (m->slots[i])
    i = (i + 1) & m->mask;
  m->slots[i] = cmd;
  m->used++;
  return 0;
}

static inline struct nbdi_cmd *
map_find (const struct nbdi_cookie_map *m, uint64_t cookie, size_t *where)
{
  if (m->slots == NULL)
    return NULL;
  for (size_t i = slot_of (m, cookie); m->slots[i]; i = (i + 1) & m->mask) {
    if (m->slots[i]->cookie == cookie) {
      if (where)
        *where = i;
      return m->slots[i];
    }
  }
  return NULL;
}

/* Remove slot i, shifting later entries of the probe run back. */
static inline void
map_remove_at (struct nbdi_cookie_map *m, size_t i)
{
  size_t j = i;

  m->slots[i] = NULL;
  m->used--;
  for (;;) {
    size_t k;
    j = (j + 1) & m->mask;
    if (m->slots[j] == NULL)
      return;
    k = slot_of (m, m->slots[j]->cookie);
    /* Move slots[j] into the hole at i if its home k is not in (i, j]. */
    if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
      m->slots[i] = m->slots[j];
      m->slots[j] = NULL;
      i = j;
    }
  }
}

#endif
