/* Helpers for the corpus's tamper hooks. */
#include "fz-corpus-int.h"

#include <string.h>

/* Replace the payload of a message (keeping the header), and its length
 * field when fix_len. */
void
msg_set_payload (struct fz_msg *m, const void *p, size_t n, bool fix_len)
{
  m->b.len = m->hdr_len;
  fz_buf_add (&m->b, p, n);
  if (fix_len) {
    int w;
    size_t at = fz_msg_length_field (m, &w);
    if (w == 4)
      fz_put32 (m->b.p + at, (uint32_t) n);
    else if (w == 8)
      fz_put64 (m->b.p + at, n);
  }
}

void
msg_set_len (struct fz_msg *m, uint64_t v)
{
  int w;
  size_t at = fz_msg_length_field (m, &w);
  if (w == 4)
    fz_put32 (m->b.p + at, (uint32_t) v);
  else if (w == 8)
    fz_put64 (m->b.p + at, v);
}

uint8_t *
payload (struct fz_msg *m)
{
  return m->b.p + m->hdr_len;
}

size_t
payload_len (const struct fz_msg *m)
{
  return m->b.len - m->hdr_len;
}

/* First message matching; counts the hit. */
bool
first (struct fz_srv *s, bool match)
{
  if (!match || s->tamper_hits)
    return false;
  s->tamper_hits++;
  return true;
}

bool
is_info (const struct fz_msg *m, uint16_t type)
{
  return m->kind == FM_OPT_REPLY && m->rep == W_REP_INFO && m->b.len >= 22
    && fz_get16 (m->b.p + 20) == type;
}

bool
is_chunk (const struct fz_msg *m, uint16_t type)
{
  return m->kind == FM_CHUNK && m->chunk == type;
}

