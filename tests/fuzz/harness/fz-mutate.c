/* The mutator: damage one message the fake server is about to send. */
#include "fz-server.h"

const char *const fz_mut_name[MUT_N] = {
  "flip", "field16", "field32", "field64", "length", "truncate", "dup", "drop",
  "insert", "cookie", "type", "flags", "payload32",
};

static uint32_t
fz_boundary32 (struct fz_rng *r, uint32_t near)
{
  static const uint32_t v[] = {
    0, 1, 2, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff,
    0x10000, 0x100000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
  };
  switch (fz_below (r, 4)) {
  case 0: return near + 1;
  case 1: return near - 1;
  case 2: return fz_u32 (r);
  default: return v[fz_below (r, sizeof v / sizeof v[0])];
  }
}

static uint64_t
fz_boundary64 (struct fz_rng *r, uint64_t near)
{
  static const uint64_t v[] = {
    0, 1, 0xffffffff, UINT64_C(0x100000000), UINT64_C(0x7fffffffffffffff),
    UINT64_C(0x8000000000000000), UINT64_C(0xffffffffffffffff),
    UINT64_C(0xfffffffffffff000), UINT64_C(1) << 40,
  };
  switch (fz_below (r, 4)) {
  case 0: return near + 1;
  case 1: return near - 1;
  case 2: return (uint64_t) fz_u32 (r) << 32 | fz_u32 (r);
  default: return v[fz_below (r, sizeof v / sizeof v[0])];
  }
}

/* Offset of the message's own length field, its width, or 0. */
size_t
fz_msg_length_field (const struct fz_msg *m, int *width)
{
  switch (m->kind) {
  case FM_OPT_REPLY: *width = 4; return 16;
  case FM_CHUNK:
    if (m->ext) { *width = 8; return 24; }
    *width = 4; return 16;
  default: *width = 0; return 0;
  }
}

void
fz_apply_mutation (struct fz_srv *s, struct fz_msg *m, enum fz_mut_kind k)
{
  struct fz_rng *r = s->rng;
  struct fz_buf *b = &m->b;
  size_t len = b->len, pos = 0;
  int width;

  switch (k) {
  case MUT_FLIP: {
    unsigned n = 1 + fz_below (r, 4);
    for (unsigned i = 0; i < n && len; i++) {
      pos = fz_below (r, len);
      b->p[pos] ^= 1u << fz_below (r, 8);
    }
    break;
  }
  case MUT_FIELD16:
    if (len >= 2) {
      pos = fz_below (r, len - 1) & ~(size_t) (fz_chance (r, 70));
      uint16_t v = (uint16_t) fz_boundary32 (r, fz_get16 (b->p + pos));
      if (fz_chance (r, 50))
        v = (uint16_t[]) { 0, 1, 0x7fff, 0x8000, 0xffff }[fz_below (r, 5)];
      fz_put16 (b->p + pos, v);
    }
    break;
  case MUT_FIELD32:
    if (len >= 4) {
      pos = fz_below (r, len - 3);
      if (fz_chance (r, 70))
        pos &= ~(size_t) 3;
      fz_put32 (b->p + pos, fz_boundary32 (r, fz_get32 (b->p + pos)));
    }
    break;
  case MUT_FIELD64:
    if (len >= 8) {
      pos = fz_below (r, len - 7);
      if (fz_chance (r, 70))
        pos &= ~(size_t) 3;
      fz_put64 (b->p + pos, fz_boundary64 (r, fz_get64 (b->p + pos)));
    }
    break;
  case MUT_LENGTH:
    pos = fz_msg_length_field (m, &width);
    if (width == 4 && len >= pos + 4)
      fz_put32 (b->p + pos, fz_boundary32 (r, fz_get32 (b->p + pos)));
    else if (width == 8 && len >= pos + 8)
      fz_put64 (b->p + pos, fz_chance (r, 50)
                ? fz_boundary32 (r, (uint32_t) fz_get64 (b->p + pos))
                : fz_boundary64 (r, fz_get64 (b->p + pos)));
    else
      fz_apply_mutation (s, m, MUT_FIELD32);
    break;
  case MUT_TRUNCATE:
    b->len = fz_below (r, len ? len : 1);
    m->close_after = true;
    break;
  case MUT_DUP:
    m->copies = 2;
    break;
  case MUT_DROP:
    m->copies = 0;
    break;
  case MUT_INSERT: {
    uint8_t junk[16];
    size_t n = 1 + fz_below (r, sizeof junk);
    for (size_t i = 0; i < n; i++)
      junk[i] = fz_below (r, 256);
    fz_buf_insert (b, fz_below (r, len + 1), junk, n);
    break;
  }
  case MUT_COOKIE:
    if ((m->kind == FM_SIMPLE_REPLY || m->kind == FM_CHUNK) && len >= 16) {
      pos = 8;                  /* same place in every reply header */
      uint64_t c = fz_get64 (b->p + pos);
      static const uint64_t alt[] = { 0, 1, UINT64_C(0xffffffffffffffff), 0xdeadbeef };
      fz_put64 (b->p + pos, fz_chance (r, 50) ? c + 1 + fz_below (r, 3)
                : alt[fz_below (r, 4)]);
    }
    else
      fz_apply_mutation (s, m, MUT_FIELD32);
    break;
  case MUT_TYPE:
    if (m->kind == FM_CHUNK && len >= 8) {
      static const uint16_t t[] = { 0, 1, 2, 3, 5, 6, 7, 32768, 32769, 32770, 32771, 65535 };
      fz_put16 (b->p + 6, t[fz_below (r, sizeof t / sizeof t[0])]);
    }
    else if (m->kind == FM_OPT_REPLY && len >= 20) {
      unsigned what = fz_below (r, 3);
      if (what == 2 && m->rep == W_REP_INFO && len >= 22)
        fz_put16 (b->p + 20, fz_below (r, 6));   /* another info type */
      else if (what == 1)
        fz_put32 (b->p + 8, fz_below (r, 13));   /* reply to another option */
      else {
        static const uint32_t t[] = {
          W_REP_ACK, W_REP_SERVER, W_REP_INFO, W_REP_META_CONTEXT, 5,
          W_REP_ERR_UNSUP, W_REP_ERR_INVALID, W_REP_ERR_SHUTDOWN, 0x80000000u,
          0xffffffffu,
        };
        fz_put32 (b->p + 12, t[fz_below (r, sizeof t / sizeof t[0])]);
      }
    }
    else
      fz_apply_mutation (s, m, MUT_FIELD16);
    break;
  case MUT_FLAGS:
    if (m->kind == FM_CHUNK && len >= 6)
      fz_put16 (b->p + 4, fz_get16 (b->p + 4) ^ (fz_chance (r, 70) ? 1 : 1u << fz_below (r, 16)));
    else if (m->kind == FM_GREETING && len >= 18)
      fz_put16 (b->p + 16, fz_below (r, 65536));
    else if (m->kind == FM_EXPORT_NAME_REPLY && len >= 10)
      fz_put16 (b->p + 8, fz_below (r, 65536));
    else
      fz_apply_mutation (s, m, MUT_FLIP);
    break;
  case MUT_PAYLOAD32:
    /* A boundary value in the first bytes of the payload: name lengths,
     * info types, error codes, message lengths, context ids, offsets. */
    if (len > m->hdr_len + 3) {
      size_t room = len - m->hdr_len - 3;
      pos = m->hdr_len + (fz_below (r, room < 16 ? room : 16) & ~(size_t) 1);
      if (fz_chance (r, 50) && pos + 1 < len)
        fz_put16 (b->p + pos, (uint16_t) fz_boundary32 (r, fz_get16 (b->p + pos)));
      else if (pos + 4 <= len)
        fz_put32 (b->p + pos, fz_boundary32 (r, fz_get32 (b->p + pos)));
    }
    else
      fz_apply_mutation (s, m, MUT_LENGTH);
    break;
  case MUT_N:
    break;
  }
}

