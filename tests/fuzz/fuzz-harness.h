/* Hostile-server harness for fastnbd: a small reactive NBD server that
 * lives in the test process, a mutator that damages what it says, and a
 * driver that runs one handle against it over a socketpair with
 * nbd_aio_* calls and poll().
 *
 * Everything is static so that each program including this header is a
 * single translation unit (tests/lib/test.h keeps its counters static).
 *
 * One "iteration":
 *   1. pick a client configuration and a server personality from the RNG;
 *   2. socketpair(); the handle gets one end (nbd_aio_connect_socket), the
 *      fake server the other (non-blocking);
 *   3. the server answers what it parses from the client's bytes: greeting,
 *      option replies, transmission replies;  every message it emits may be
 *      mutated (bit flips, boundary values, truncation, duplication, drop,
 *      insertion, wrong cookie/type/flags);
 *   4. the driver issues options (opt mode) and commands, polls both ends,
 *      and when neither side can move, the server hangs up;
 *   5. the handle is closed and every closure's bookkeeping is checked.
 *
 * The RNG is either a seeded PRNG (fuzz-server.c) or a byte string
 * (fuzz-libfuzzer.c); the rest does not care.
 */
#ifndef FUZZ_HARNESS_H
#define FUZZ_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#if defined (__has_feature)
# if __has_feature (address_sanitizer)
#  define FZ_ASAN 1
# endif
#endif
#if defined (__SANITIZE_ADDRESS__)
# define FZ_ASAN 1
#endif
#ifdef FZ_ASAN
# include <sanitizer/common_interface_defs.h>
/* Defaults for a run without ASAN_OPTIONS / UBSAN_OPTIONS: a report must
 * end the process with a signal, never with an exit status the test
 * could take for its own. */
const char *__asan_default_options (void);
const char *__asan_default_options (void)
{ return "abort_on_error=1:detect_leaks=1"; }
const char *__ubsan_default_options (void);
const char *__ubsan_default_options (void)
{ return "halt_on_error=1:print_stacktrace=1:abort_on_error=1"; }
#endif

/* ------------------------------------------------------------------ */
/* Wire constants, as numbered in the protocol document. */

#define W_NBDMAGIC            UINT64_C(0x4e42444d41474943)
#define W_IHAVEOPT            UINT64_C(0x49484156454f5054)
#define W_OLDSTYLE_MAGIC      UINT64_C(0x0000420281861253)
#define W_REPLY_MAGIC         UINT64_C(0x0003e889045565a9)
#define W_REQUEST_MAGIC       0x25609513u
#define W_EXT_REQUEST_MAGIC   0x21e41c71u
#define W_SIMPLE_MAGIC        0x67446698u
#define W_STRUCTURED_MAGIC    0x668e33efu
#define W_EXT_REPLY_MAGIC     0x6e8a278cu

#define W_FLAG_FIXED_NEWSTYLE 1u
#define W_FLAG_NO_ZEROES      2u

#define W_OPT_EXPORT_NAME     1u
#define W_OPT_ABORT           2u
#define W_OPT_LIST            3u
#define W_OPT_STARTTLS        5u
#define W_OPT_INFO            6u
#define W_OPT_GO              7u
#define W_OPT_STRUCTURED      8u
#define W_OPT_LIST_META       9u
#define W_OPT_SET_META        10u
#define W_OPT_EXTENDED        11u

#define W_REP_ACK             1u
#define W_REP_SERVER          2u
#define W_REP_INFO            3u
#define W_REP_META_CONTEXT    4u
#define W_REP_ERR_UNSUP       0x80000001u
#define W_REP_ERR_POLICY      0x80000002u
#define W_REP_ERR_INVALID     0x80000003u
#define W_REP_ERR_PLATFORM    0x80000004u
#define W_REP_ERR_TLS_REQD    0x80000005u
#define W_REP_ERR_UNKNOWN     0x80000006u
#define W_REP_ERR_SHUTDOWN    0x80000007u
#define W_REP_ERR_TOO_BIG     0x80000009u

#define W_INFO_EXPORT         0
#define W_INFO_NAME           1
#define W_INFO_DESCRIPTION    2
#define W_INFO_BLOCK_SIZE     3

#define W_EF_HAS_FLAGS        0x0001u
#define W_EF_READ_ONLY        0x0002u
#define W_EF_SEND_FLUSH       0x0004u
#define W_EF_SEND_FUA         0x0008u
#define W_EF_ROTATIONAL       0x0010u
#define W_EF_SEND_TRIM        0x0020u
#define W_EF_SEND_ZEROES      0x0040u
#define W_EF_SEND_DF          0x0080u
#define W_EF_MULTI_CONN       0x0100u
#define W_EF_SEND_CACHE       0x0400u
#define W_EF_FAST_ZERO        0x0800u
#define W_EF_BS_PAYLOAD       0x1000u

#define W_CMD_READ            0
#define W_CMD_WRITE           1
#define W_CMD_DISC            2
#define W_CMD_FLUSH           3
#define W_CMD_TRIM            4
#define W_CMD_CACHE           5
#define W_CMD_ZEROES          6
#define W_CMD_BLOCK_STATUS    7

#define W_CF_DF               0x04u
#define W_CF_REQ_ONE          0x08u
#define W_CF_PAYLOAD_LEN      0x20u

#define W_REPLY_FLAG_DONE     1u
#define W_CHUNK_NONE          0
#define W_CHUNK_OFFSET_DATA   1
#define W_CHUNK_OFFSET_HOLE   2
#define W_CHUNK_BLOCK_STATUS  5
#define W_CHUNK_BS_EXT        6
#define W_CHUNK_ERROR         32769
#define W_CHUNK_ERROR_OFFSET  32770

#define W_EPERM   1
#define W_EIO     5
#define W_EINVAL  22

#define FZ_EXPORT_SIZE   (UINT64_C(1) << 20)
#define FZ_MAX_CMDS      10
#define FZ_MAX_OPTS      8
#define FZ_MAX_MUTS      4

/* ------------------------------------------------------------------ */
/* Small utilities. */

static void *
fz_xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n ? n : 1);
  if (q == NULL) {
    perror ("realloc");
    exit (99);
  }
  return q;
}

static int64_t
fz_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fz_put16 (uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void fz_put32 (uint8_t *p, uint32_t v)
{ fz_put16 (p, v >> 16); fz_put16 (p + 2, v); }
static void fz_put64 (uint8_t *p, uint64_t v)
{ fz_put32 (p, v >> 32); fz_put32 (p + 4, v); }
static uint16_t fz_get16 (const uint8_t *p) { return (uint16_t) (p[0] << 8 | p[1]); }
static uint32_t fz_get32 (const uint8_t *p)
{ return (uint32_t) fz_get16 (p) << 16 | fz_get16 (p + 2); }
static uint64_t fz_get64 (const uint8_t *p)
{ return (uint64_t) fz_get32 (p) << 32 | fz_get32 (p + 4); }

/* A growable byte string. */
struct fz_buf {
  uint8_t *p;
  size_t len, cap;
};

static uint8_t *
fz_buf_grow (struct fz_buf *b, size_t n)
{
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n)
      cap *= 2;
    b->p = fz_xrealloc (b->p, cap);
    b->cap = cap;
  }
  b->len += n;
  return b->p + b->len - n;
}

static void fz_buf_add (struct fz_buf *b, const void *d, size_t n)
{ if (n) memcpy (fz_buf_grow (b, n), d, n); }
static void fz_buf_add16 (struct fz_buf *b, uint16_t v) { fz_put16 (fz_buf_grow (b, 2), v); }
static void fz_buf_add32 (struct fz_buf *b, uint32_t v) { fz_put32 (fz_buf_grow (b, 4), v); }
static void fz_buf_add64 (struct fz_buf *b, uint64_t v) { fz_put64 (fz_buf_grow (b, 8), v); }
static void fz_buf_addstr (struct fz_buf *b, const char *s) { fz_buf_add (b, s, strlen (s)); }

static void
fz_buf_insert (struct fz_buf *b, size_t pos, const void *d, size_t n)
{
  size_t tail = b->len - pos;
  fz_buf_grow (b, n);
  memmove (b->p + pos + n, b->p + pos, tail);
  memcpy (b->p + pos, d, n);
}

static void
fz_buf_free (struct fz_buf *b)
{
  free (b->p);
  *b = (struct fz_buf) { 0 };
}

static void
fz_hexdump (FILE *f, const uint8_t *p, size_t n, size_t limit)
{
  for (size_t i = 0; i < n && i < limit; i++)
    fprintf (f, "%02x%s", p[i], (i + 1) % 32 == 0 || i + 1 == n ? "\n" : " ");
  if (n > limit)
    fprintf (f, "... (%zu bytes in all)\n", n);
}

/* ------------------------------------------------------------------ */
/* Randomness: a PRNG, or bytes from a fuzzer input (then the PRNG once
 * they run out). */

struct fz_rng {
  uint64_t s;
  const uint8_t *data;
  size_t len, pos;
};

static uint64_t
fz_splitmix (uint64_t *s)
{
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint32_t
fz_below (struct fz_rng *r, uint32_t n)
{
  if (n <= 1)
    return 0;
  if (r->data && r->pos < r->len) {
    uint32_t v = r->data[r->pos++];
    if (n > 256 && r->pos + 2 < r->len) {
      v = v << 24 | (uint32_t) r->data[r->pos] << 16
        | (uint32_t) r->data[r->pos + 1] << 8 | r->data[r->pos + 2];
      r->pos += 3;
    }
    return v % n;
  }
  return (uint32_t) (fz_splitmix (&r->s) >> 32) % n;
}

static uint32_t fz_u32 (struct fz_rng *r)
{ return fz_below (r, 0xffffffffu) ^ (fz_below (r, 2) << 31); }
static bool fz_chance (struct fz_rng *r, unsigned pct) { return fz_below (r, 100) < pct; }

/* ------------------------------------------------------------------ */
/* The export's contents: a pattern with zero holes every 16 KiB. */

static bool
fz_is_zero_region (uint64_t off)
{
  return (off >> 12) % 4 == 3;
}

static uint8_t
fz_disk_byte (uint64_t off)
{
  if (fz_is_zero_region (off))
    return 0;
  return (uint8_t) (off * 31 + (off >> 9) + 7) | 1;   /* never 0 */
}

/* ------------------------------------------------------------------ */
/* The fake server. */

enum fz_msg_kind {
  FM_GREETING,               /* newstyle: magic, IHAVEOPT, flags */
  FM_OLDSTYLE,               /* oldstyle greeting */
  FM_OPT_REPLY,
  FM_EXPORT_NAME_REPLY,
  FM_SIMPLE_REPLY,
  FM_CHUNK,                  /* structured or extended reply chunk */
};

static const char *const fz_msg_kind_name[] = {
  "greeting", "oldstyle", "opt-reply", "export-name-reply", "simple-reply", "chunk",
};

/* One message the server is about to send; mutators and hand-written
 * corpus hooks may rewrite buf. */
struct fz_msg {
  enum fz_msg_kind kind;
  int index;                 /* order of emission, from 0 */
  uint32_t opt, rep;         /* FM_OPT_REPLY */
  uint16_t cmd, chunk, flags;/* replies: command type, chunk type, flags */
  uint64_t cookie, req_offset, req_count;
  bool ext;                  /* extended reply header */
  size_t hdr_len;            /* bytes of header before the payload */
  struct fz_buf b;
  /* Set by a hook: */
  int copies;                /* 1 normally; 0 drops, 2 duplicates */
  bool close_after;          /* hang up after this message */
};

struct fz_srv;
typedef void (*fz_tamper_fn) (struct fz_srv *s, struct fz_msg *m);

enum fz_mut_kind {
  MUT_FLIP, MUT_FIELD16, MUT_FIELD32, MUT_FIELD64, MUT_LENGTH, MUT_TRUNCATE,
  MUT_DUP, MUT_DROP, MUT_INSERT, MUT_COOKIE, MUT_TYPE, MUT_FLAGS, MUT_PAYLOAD32,
  MUT_N
};
static const char *const fz_mut_name[MUT_N] = {
  "flip", "field16", "field32", "field64", "length", "truncate", "dup", "drop",
  "insert", "cookie", "type", "flags", "payload32",
};

struct fz_mut {
  int target;                /* message index */
  enum fz_mut_kind kind;
};

struct fz_srvcfg {
  int style;                 /* 0 fixed newstyle, 1 plain newstyle, 2 oldstyle */
  bool no_zeroes;            /* offer NBD_FLAG_NO_ZEROES */
  bool accept_sr, accept_ext, meta;
  uint16_t eflags;
  uint64_t size;
  bool block_size_info;      /* send NBD_INFO_BLOCK_SIZE unasked */
  uint32_t bs_min, bs_pref, bs_max;
  bool reorder;              /* answer a batch of requests in random order */
  bool holes;                /* OFFSET_HOLE for zero regions */
  bool split;                /* reads in several chunks */
  bool sr_simple;            /* simple replies to non-reads under SR */
  bool none_done;            /* finish structured replies with a NONE chunk */
  int chunk_order;           /* read chunks: 0 shuffled, 1 in order, 2 reversed */
  bool interleave;           /* mix the chunks of different replies */
  bool meta2;                /* also offer the context "fuzz:second" */
  unsigned err_pct;          /* chance of a (valid) error reply */
  size_t piece_max;          /* write at most this much at a time (0: all) */
  int nexports;
};

struct fz_req {
  uint16_t flags, type;
  uint64_t cookie, offset, count;
  bool bad_payload;          /* block status payload the server rejects */
  bool only_base, only_second;   /* block status payload: ids asked for */
};

/* Messages of one reply, kept apart to be interleaved with others. */
struct fz_msglist {
  struct fz_buf *m;
  size_t n, next;
};

struct fz_srv {
  struct fz_srvcfg cfg;
  struct fz_rng *rng;
  int fd;
  bool closed;               /* our end is closed */
  bool close_when_flushed;
  bool muted;                /* emit nothing more (after a truncation) */
  bool peer_gone;
  enum { S_FLAGS, S_OPT, S_TRANS, S_GAVE_UP } state;
  uint32_t client_flags;
  bool sr, ext;              /* what the server believes was negotiated */
  uint32_t meta_id, meta_id2;
  bool meta_set, meta2_set;
  struct fz_msglist *capture;    /* emit into this list, not out */
  struct fz_buf in;
  size_t in_off;
  struct fz_buf out;
  size_t out_off;
  size_t sent_total;
  int nmsgs;
  struct fz_mut muts[FZ_MAX_MUTS];
  int nmuts;
  int muts_applied;
  fz_tamper_fn tamper;
  int tamper_hits;
  int tamper_state;          /* free for the hook */
  struct fz_req *pend;
  size_t npend, cappend;
  struct { uint64_t cookie; int err; } *expect;
  size_t nexpect;
  size_t nreq_seen;
  bool dump;
};

static void
fz_srv_expect (struct fz_srv *s, uint64_t cookie, int err)
{
  s->expect = fz_xrealloc (s->expect, (s->nexpect + 1) * sizeof *s->expect);
  s->expect[s->nexpect].cookie = cookie;
  s->expect[s->nexpect].err = err;
  s->nexpect++;
}

/* -1: the server never answered that cookie. */
static int
fz_srv_expected (const struct fz_srv *s, uint64_t cookie)
{
  for (size_t i = 0; i < s->nexpect; i++)
    if (s->expect[i].cookie == cookie)
      return s->expect[i].err;
  return -1;
}

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
static size_t
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

static void
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

/* Queue one message, after the hook and any mutations aimed at it. */
static void
fz_srv_emit (struct fz_srv *s, struct fz_msg *m)
{
  m->index = s->nmsgs++;
  m->copies = 1;
  m->close_after = false;
  if (s->muted)
    return;
  if (s->tamper)
    s->tamper (s, m);
  for (int i = 0; i < s->nmuts; i++)
    if (s->muts[i].target == m->index) {
      fz_apply_mutation (s, m, s->muts[i].kind);
      s->muts_applied++;
      if (s->dump)
        fprintf (stderr, "[srv] mutation %s on message %d\n",
                 fz_mut_name[s->muts[i].kind], m->index);
    }
  if (s->dump) {
    fprintf (stderr, "[srv] msg %d %s x%d%s (%zu bytes):\n", m->index,
             fz_msg_kind_name[m->kind], m->copies,
             m->close_after ? " then hang up" : "", m->b.len);
    fz_hexdump (stderr, m->b.p, m->b.len, 256);
  }
  for (int i = 0; i < m->copies; i++) {
    if (s->capture) {
      struct fz_msglist *l = s->capture;
      l->m = fz_xrealloc (l->m, (l->n + 1) * sizeof *l->m);
      l->m[l->n] = (struct fz_buf) { 0 };
      fz_buf_add (&l->m[l->n++], m->b.p, m->b.len);
    }
    else
      fz_buf_add (&s->out, m->b.p, m->b.len);
  }
  if (m->close_after) {
    s->muted = true;
    s->close_when_flushed = true;
  }
}

static void
fz_srv_close (struct fz_srv *s)
{
  if (!s->closed) {
    if (s->dump)
      fprintf (stderr, "[srv] hang up after %zu bytes\n", s->sent_total);
    close (s->fd);
    s->fd = -1;
    s->closed = true;
  }
}

static void
fz_srv_give_up (struct fz_srv *s, const char *why)
{
  if (s->dump && s->state != S_GAVE_UP)
    fprintf (stderr, "[srv] stops answering: %s\n", why);
  s->state = S_GAVE_UP;
}

/* -- option replies -- */

static void
fz_opt_reply (struct fz_srv *s, uint32_t opt, uint32_t rep, const void *payload, size_t len)
{
  struct fz_msg m = { .kind = FM_OPT_REPLY, .opt = opt, .rep = rep, .hdr_len = 20 };
  fz_buf_add64 (&m.b, W_REPLY_MAGIC);
  fz_buf_add32 (&m.b, opt);
  fz_buf_add32 (&m.b, rep);
  fz_buf_add32 (&m.b, (uint32_t) len);
  fz_buf_add (&m.b, payload, len);
  fz_srv_emit (s, &m);
  fz_buf_free (&m.b);
}

static void
fz_opt_error (struct fz_srv *s, uint32_t opt, uint32_t rep)
{
  const char *msg = fz_chance (s->rng, 50) ? "" : "the fake server says no";
  fz_opt_reply (s, opt, rep, msg, strlen (msg));
}

static const char *const fz_export_names[] = { "", "second", "third" };
static const char *const fz_export_descs[] = { "", "the second export", "" };

static void
fz_srv_info (struct fz_srv *s, uint32_t opt, uint16_t type, const char *name)
{
  struct fz_buf p = { 0 };
  fz_buf_add16 (&p, type);
  switch (type) {
  case W_INFO_EXPORT:
    fz_buf_add64 (&p, s->cfg.size);
    fz_buf_add16 (&p, s->cfg.eflags);
    break;
  case W_INFO_NAME:
    fz_buf_addstr (&p, name[0] ? name : "canonical-default");
    break;
  case W_INFO_DESCRIPTION:
    fz_buf_addstr (&p, "a fuzzy export");
    break;
  case W_INFO_BLOCK_SIZE:
    fz_buf_add32 (&p, s->cfg.bs_min);
    fz_buf_add32 (&p, s->cfg.bs_pref);
    fz_buf_add32 (&p, s->cfg.bs_max);
    break;
  }
  fz_opt_reply (s, opt, W_REP_INFO, p.p, p.len);
  fz_buf_free (&p);
}

/* NBD_OPT_INFO / NBD_OPT_GO. */
static void
fz_srv_go (struct fz_srv *s, uint32_t opt, const uint8_t *d, uint32_t len)
{
  uint32_t namelen;
  uint16_t n;
  bool want[4] = { true, false, false, s->cfg.block_size_info };
  char name[256] = "";

  if (len < 6 || (namelen = fz_get32 (d)) > len - 6
      || (n = fz_get16 (d + 4 + namelen), len != 6 + namelen + 2u * n)) {
    fz_opt_error (s, opt, W_REP_ERR_INVALID);
    return;
  }
  memcpy (name, d + 4, namelen < sizeof name - 1 ? namelen : sizeof name - 1);
  for (uint16_t i = 0; i < n; i++) {
    uint16_t t = fz_get16 (d + 6 + namelen + 2 * i);
    if (t < 4)
      want[t] = true;
  }
  if (fz_chance (s->rng, 10))
    want[W_INFO_NAME] = true;        /* unasked information is allowed */
  /* INFO_EXPORT first or last; the rest in between. */
  bool export_last = fz_chance (s->rng, 30);
  if (!export_last)
    fz_srv_info (s, opt, W_INFO_EXPORT, name);
  for (uint16_t t = 1; t < 4; t++)
    if (want[t])
      fz_srv_info (s, opt, t, name);
  if (export_last)
    fz_srv_info (s, opt, W_INFO_EXPORT, name);
  fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
  if (opt == W_OPT_GO)
    s->state = S_TRANS;
}

/* LIST_META_CONTEXT / SET_META_CONTEXT. */
static void
fz_srv_meta (struct fz_srv *s, uint32_t opt, const uint8_t *d, uint32_t len)
{
  uint32_t namelen, nq, pos;
  bool list = opt == W_OPT_LIST_META;
  struct { size_t off; uint32_t len; } q[64];

  if (len < 8 || (namelen = fz_get32 (d)) > len - 8) {
    fz_opt_error (s, opt, W_REP_ERR_INVALID);
    return;
  }
  nq = fz_get32 (d + 4 + namelen);
  pos = 8 + namelen;
  if (nq > 64) {
    fz_opt_error (s, opt, W_REP_ERR_TOO_BIG);
    return;
  }
  for (uint32_t i = 0; i < nq; i++) {
    if (len - pos < 4 || fz_get32 (d + pos) > len - pos - 4) {
      fz_opt_error (s, opt, W_REP_ERR_INVALID);
      return;
    }
    q[i].len = fz_get32 (d + pos);
    q[i].off = pos + 4;
    pos += 4 + q[i].len;
  }
  if (pos != len) {
    fz_opt_error (s, opt, W_REP_ERR_INVALID);
    return;
  }
  if (!s->sr && !s->ext) {
    fz_opt_error (s, opt, W_REP_ERR_INVALID);
    return;
  }
  if (!list) {
    s->meta_set = s->meta2_set = false;
    s->meta_id = 1 + fz_below (s->rng, 1000);
    s->meta_id2 = s->meta_id + 1 + fz_below (s->rng, 1000);
  }
  /* "fuzz:second" first, when offered and asked for (or listed). */
  for (uint32_t i = 0; i < (nq ? nq : 1) && s->cfg.meta && s->cfg.meta2; i++) {
    if (nq ? (q[i].len == 11 && memcmp (d + q[i].off, "fuzz:second", 11) == 0)
           || (list && q[i].len == 5 && memcmp (d + q[i].off, "fuzz:", 5) == 0)
        : list) {
      uint8_t p[4 + 11];
      fz_put32 (p, list ? 0 : s->meta_id2);
      memcpy (p + 4, "fuzz:second", 11);
      fz_opt_reply (s, opt, W_REP_META_CONTEXT, p, sizeof p);
      if (!list)
        s->meta2_set = true;
      break;
    }
  }
  bool sent = false;
  for (uint32_t i = 0; i < (nq ? nq : 1) && s->cfg.meta && !sent; i++) {
    bool match;
    if (nq == 0)
      match = list;
    else
      match = (q[i].len == 15 && memcmp (d + q[i].off, "base:allocation", 15) == 0)
        || (list && q[i].len == 5 && memcmp (d + q[i].off, "base:", 5) == 0);
    if (match) {
      uint8_t p[4 + 15];
      fz_put32 (p, list ? 0 : s->meta_id);
      memcpy (p + 4, "base:allocation", 15);
      fz_opt_reply (s, opt, W_REP_META_CONTEXT, p, sizeof p);
      sent = true;
      if (!list)
        s->meta_set = true;
    }
  }
  fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
}

static void
fz_srv_option (struct fz_srv *s, uint32_t opt, const uint8_t *d, uint32_t len)
{
  if (s->cfg.style == 1 && opt != W_OPT_EXPORT_NAME) {
    /* Not fixed newstyle: an unknown option ends the session. */
    fz_srv_give_up (s, "option without fixed newstyle");
    s->close_when_flushed = true;
    return;
  }
  switch (opt) {
  case W_OPT_EXPORT_NAME: {
    struct fz_msg m = { .kind = FM_EXPORT_NAME_REPLY, .opt = opt };
    fz_buf_add64 (&m.b, s->cfg.size);
    fz_buf_add16 (&m.b, s->cfg.eflags);
    if (!(s->client_flags & W_FLAG_NO_ZEROES))
      memset (fz_buf_grow (&m.b, 124), 0, 124);
    fz_srv_emit (s, &m);
    fz_buf_free (&m.b);
    s->state = S_TRANS;
    break;
  }
  case W_OPT_ABORT:
    fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
    fz_srv_give_up (s, "abort");
    s->close_when_flushed = true;
    break;
  case W_OPT_LIST:
    if (len) {
      fz_opt_error (s, opt, W_REP_ERR_INVALID);
      break;
    }
    for (int i = 0; i < s->cfg.nexports; i++) {
      struct fz_buf p = { 0 };
      fz_buf_add32 (&p, (uint32_t) strlen (fz_export_names[i]));
      fz_buf_addstr (&p, fz_export_names[i]);
      fz_buf_addstr (&p, fz_export_descs[i]);
      fz_opt_reply (s, opt, W_REP_SERVER, p.p, p.len);
      fz_buf_free (&p);
    }
    fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
    break;
  case W_OPT_INFO:
  case W_OPT_GO:
    fz_srv_go (s, opt, d, len);
    break;
  case W_OPT_STRUCTURED:
    if (len)
      fz_opt_error (s, opt, W_REP_ERR_INVALID);
    else if (!s->cfg.accept_sr)
      fz_opt_error (s, opt, W_REP_ERR_UNSUP);
    else {
      fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
      s->sr = true;
    }
    break;
  case W_OPT_EXTENDED:
    if (len)
      fz_opt_error (s, opt, W_REP_ERR_INVALID);
    else if (!s->cfg.accept_ext)
      fz_opt_error (s, opt, W_REP_ERR_UNSUP);
    else {
      fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
      s->ext = true;
    }
    break;
  case W_OPT_LIST_META:
  case W_OPT_SET_META:
    fz_srv_meta (s, opt, d, len);
    break;
  case W_OPT_STARTTLS:
    fz_opt_error (s, opt, W_REP_ERR_POLICY);
    break;
  default:
    fz_opt_error (s, opt, W_REP_ERR_UNSUP);
  }
}

/* -- transmission replies -- */

static void
fz_simple (struct fz_srv *s, const struct fz_req *r, uint32_t err,
           const void *data, size_t len)
{
  struct fz_msg m = {
    .kind = FM_SIMPLE_REPLY, .cmd = r->type, .cookie = r->cookie,
    .req_offset = r->offset, .req_count = r->count, .hdr_len = 16,
  };
  fz_buf_add32 (&m.b, W_SIMPLE_MAGIC);
  fz_buf_add32 (&m.b, err);
  fz_buf_add64 (&m.b, r->cookie);
  fz_buf_add (&m.b, data, len);
  fz_srv_emit (s, &m);
  fz_buf_free (&m.b);
}

static void
fz_chunk (struct fz_srv *s, const struct fz_req *r, uint16_t flags, uint16_t type,
          const void *payload, size_t len)
{
  struct fz_msg m = {
    .kind = FM_CHUNK, .cmd = r->type, .chunk = type, .flags = flags,
    .cookie = r->cookie, .req_offset = r->offset, .req_count = r->count,
    .ext = s->ext, .hdr_len = s->ext ? 32 : 20,
  };
  if (s->ext) {
    fz_buf_add32 (&m.b, W_EXT_REPLY_MAGIC);
    fz_buf_add16 (&m.b, flags);
    fz_buf_add16 (&m.b, type);
    fz_buf_add64 (&m.b, r->cookie);
    fz_buf_add64 (&m.b, r->offset);
    fz_buf_add64 (&m.b, len);
  }
  else {
    fz_buf_add32 (&m.b, W_STRUCTURED_MAGIC);
    fz_buf_add16 (&m.b, flags);
    fz_buf_add16 (&m.b, type);
    fz_buf_add64 (&m.b, r->cookie);
    fz_buf_add32 (&m.b, (uint32_t) len);
  }
  fz_buf_add (&m.b, payload, len);
  fz_srv_emit (s, &m);
  fz_buf_free (&m.b);
}

static bool fz_srv_structured (const struct fz_srv *s) { return s->sr || s->ext; }

/* A final error reply in whichever form fits. */
static void
fz_reply_error (struct fz_srv *s, const struct fz_req *r, uint32_t err)
{
  if (!fz_srv_structured (s))
    fz_simple (s, r, err, NULL, 0);
  else {
    const char *msg = fz_chance (s->rng, 50) ? "" : "injected failure";
    bool with_offset = r->type == W_CMD_READ && r->count && fz_chance (s->rng, 30);
    struct fz_buf p = { 0 };
    fz_buf_add32 (&p, err);
    fz_buf_add16 (&p, (uint16_t) strlen (msg));
    fz_buf_addstr (&p, msg);
    if (with_offset)
      fz_buf_add64 (&p, r->offset + fz_below (s->rng, (uint32_t) r->count));
    fz_chunk (s, r, W_REPLY_FLAG_DONE,
              with_offset ? W_CHUNK_ERROR_OFFSET : W_CHUNK_ERROR, p.p, p.len);
    fz_buf_free (&p);
  }
  fz_srv_expect (s, r->cookie, err == W_EPERM ? EPERM : err == W_EIO ? EIO : EINVAL);
}

/* A successful reply with no data. */
static void
fz_reply_ok (struct fz_srv *s, const struct fz_req *r)
{
  if (!fz_srv_structured (s) || (s->cfg.sr_simple && !s->ext))
    fz_simple (s, r, 0, NULL, 0);
  else
    fz_chunk (s, r, W_REPLY_FLAG_DONE, W_CHUNK_NONE, NULL, 0);
  fz_srv_expect (s, r->cookie, 0);
}

static void
fz_reply_read (struct fz_srv *s, const struct fz_req *r)
{
  uint64_t off = r->offset, cnt = r->count;

  if (!fz_srv_structured (s)) {
    uint8_t *data = fz_xrealloc (NULL, cnt);
    for (uint64_t i = 0; i < cnt; i++)
      data[i] = fz_disk_byte (off + i);
    fz_simple (s, r, 0, data, cnt);
    free (data);
    fz_srv_expect (s, r->cookie, 0);
    return;
  }

  /* Pieces: runs of equal zero-ness, cut at 4 KiB (split) or not at all. */
  struct piece { uint64_t off, len; bool zero; } *pc = NULL;
  size_t np = 0;
  bool df = r->flags & W_CF_DF;
  bool split = (s->cfg.split || s->cfg.holes) && !df;
  for (uint64_t o = off; o < off + cnt;) {
    uint64_t end = split ? ((o >> 12) + 1) << 12 : off + cnt;
    if (end > off + cnt)
      end = off + cnt;
    bool zero = split && fz_is_zero_region (o);
    if (np && split && pc[np - 1].zero == zero && !s->cfg.split)
      pc[np - 1].len += end - o;
    else {
      pc = fz_xrealloc (pc, (np + 1) * sizeof *pc);
      pc[np++] = (struct piece) { o, end - o, zero };
    }
    o = end;
  }
  /* Any order will do (unless DF). */
  if (!df && s->cfg.chunk_order == 2)
    for (size_t i = 0; i < np / 2; i++) {
      struct piece t = pc[i]; pc[i] = pc[np - 1 - i]; pc[np - 1 - i] = t;
    }
  else if (!df && s->cfg.chunk_order == 0)
    for (size_t i = np; i > 1; i--) {
      size_t j = fz_below (s->rng, (uint32_t) i);
      struct piece t = pc[i - 1]; pc[i - 1] = pc[j]; pc[j] = t;
    }
  bool none_done = s->cfg.none_done || np == 0;
  for (size_t i = 0; i < np; i++) {
    uint16_t flags = (i + 1 == np && !none_done) ? W_REPLY_FLAG_DONE : 0;
    struct fz_buf p = { 0 };
    fz_buf_add64 (&p, pc[i].off);
    if (pc[i].zero && s->cfg.holes) {
      fz_buf_add32 (&p, (uint32_t) pc[i].len);
      fz_chunk (s, r, flags, W_CHUNK_OFFSET_HOLE, p.p, p.len);
    }
    else {
      uint8_t *d = fz_buf_grow (&p, pc[i].len);
      for (uint64_t k = 0; k < pc[i].len; k++)
        d[k] = fz_disk_byte (pc[i].off + k);
      fz_chunk (s, r, flags, W_CHUNK_OFFSET_DATA, p.p, p.len);
    }
    fz_buf_free (&p);
  }
  if (none_done)
    fz_chunk (s, r, W_REPLY_FLAG_DONE, W_CHUNK_NONE, NULL, 0);
  free (pc);
  fz_srv_expect (s, r->cookie, 0);
}

/* One status chunk for one context; the chunk's DONE flag as asked. */
static void
fz_block_status_chunk (struct fz_srv *s, const struct fz_req *r, uint32_t id,
                       bool second, uint16_t flags)
{
  struct fz_buf p = { 0 };
  uint32_t n = 0;
  size_t count_at;

  fz_buf_add32 (&p, id);
  count_at = p.len;
  if (s->ext)
    fz_buf_add32 (&p, 0);           /* descriptor count, filled below */
  for (uint64_t o = r->offset; o < s->cfg.size && n < 64;) {
    uint64_t end = ((o >> 12) + 1) << 12;
    bool zero = fz_is_zero_region (o);
    if (second)                     /* one flat extent */
      end = r->offset + (r->count ? r->count : 1);
    else
      while (end < s->cfg.size && fz_is_zero_region (end) == zero)
        end += 4096;
    if (end > s->cfg.size)
      end = s->cfg.size;
    if ((r->flags & W_CF_REQ_ONE) && end - o > r->count && r->count)
      end = o + r->count;
    uint64_t st = second ? 0x5a : zero ? 3 : 0;
    if (s->ext) {
      fz_buf_add64 (&p, end - o);
      fz_buf_add64 (&p, st);
    }
    else {
      fz_buf_add32 (&p, (uint32_t) (end - o));
      fz_buf_add32 (&p, (uint32_t) st);
    }
    n++;
    if ((r->flags & W_CF_REQ_ONE) || end >= r->offset + r->count)
      break;
    o = end;
  }
  if (s->ext)
    fz_put32 (p.p + count_at, n);
  fz_chunk (s, r, flags, s->ext ? W_CHUNK_BS_EXT : W_CHUNK_BLOCK_STATUS, p.p, p.len);
  fz_buf_free (&p);
}

static void
fz_reply_block_status (struct fz_srv *s, const struct fz_req *r)
{
  bool base = s->meta_set && !r->only_second;
  bool second = s->meta2_set && !r->only_base;

  if (!fz_srv_structured (s) || r->bad_payload || (!base && !second)
      || r->offset >= s->cfg.size) {
    fz_reply_error (s, r, W_EINVAL);
    return;
  }
  /* Either order; DONE on the last one or on a NONE chunk after them. */
  bool second_first = fz_chance (s->rng, 50);
  bool none_done = s->cfg.none_done;
  for (int k = 0; k < 2; k++) {
    bool is_second = (k == 0) == second_first;
    if (is_second ? !second : !base)
      continue;
    bool last = k == 1 || (is_second ? !base : !second);
    fz_block_status_chunk (s, r, is_second ? s->meta_id2 : s->meta_id, is_second,
                           last && !none_done ? W_REPLY_FLAG_DONE : 0);
  }
  if (none_done)
    fz_chunk (s, r, W_REPLY_FLAG_DONE, W_CHUNK_NONE, NULL, 0);
  fz_srv_expect (s, r->cookie, 0);
}

static void
fz_srv_answer (struct fz_srv *s, const struct fz_req *r)
{
  bool inject = s->cfg.err_pct && fz_chance (s->rng, s->cfg.err_pct);
  bool writes = r->type == W_CMD_WRITE || r->type == W_CMD_TRIM || r->type == W_CMD_ZEROES;

  if (r->type != W_CMD_FLUSH && (r->offset > s->cfg.size || r->count > s->cfg.size - r->offset)) {
    fz_reply_error (s, r, W_EINVAL);
    return;
  }
  if (writes && (s->cfg.eflags & W_EF_READ_ONLY)) {
    fz_reply_error (s, r, W_EPERM);
    return;
  }
  if (inject && r->type != W_CMD_BLOCK_STATUS) {
    fz_reply_error (s, r, W_EIO);
    return;
  }
  switch (r->type) {
  case W_CMD_READ:
    fz_reply_read (s, r);
    break;
  case W_CMD_BLOCK_STATUS:
    fz_reply_block_status (s, r);
    break;
  case W_CMD_WRITE: case W_CMD_FLUSH: case W_CMD_TRIM: case W_CMD_CACHE:
  case W_CMD_ZEROES:
    fz_reply_ok (s, r);
    break;
  default:
    fz_reply_error (s, r, W_EINVAL);
  }
}

static void
fz_srv_flush_pending (struct fz_srv *s)
{
  for (size_t i = s->npend; i > 1; i--) {
    size_t j = fz_below (s->rng, (uint32_t) i);
    struct fz_req t = s->pend[i - 1]; s->pend[i - 1] = s->pend[j]; s->pend[j] = t;
  }
  if (!s->cfg.interleave || s->npend < 2) {
    for (size_t i = 0; i < s->npend; i++)
      fz_srv_answer (s, &s->pend[i]);
    s->npend = 0;
    return;
  }
  /* Each reply's messages in order, the replies mixed together. */
  struct fz_msglist *l = calloc (s->npend, sizeof *l);
  size_t left = 0;
  for (size_t i = 0; i < s->npend; i++) {
    s->capture = &l[i];
    fz_srv_answer (s, &s->pend[i]);
    left += l[i].n;
  }
  s->capture = NULL;
  while (left) {
    size_t i = fz_below (s->rng, (uint32_t) s->npend);
    while (l[i].next == l[i].n)
      i = (i + 1) % s->npend;
    fz_buf_add (&s->out, l[i].m[l[i].next].p, l[i].m[l[i].next].len);
    fz_buf_free (&l[i].m[l[i].next]);
    l[i].next++;
    left--;
  }
  for (size_t i = 0; i < s->npend; i++)
    free (l[i].m);
  free (l);
  s->npend = 0;
}

/* Parse as much of the client's input as is complete. */
static void
fz_srv_parse (struct fz_srv *s)
{
  for (;;) {
    const uint8_t *p = s->in.p + s->in_off;
    size_t avail = s->in.len - s->in_off;

    if (s->state == S_GAVE_UP) {
      s->in_off = s->in.len;
      break;
    }
    if (s->state == S_FLAGS) {
      if (avail < 4)
        break;
      s->client_flags = fz_get32 (p);
      s->in_off += 4;
      s->state = S_OPT;
      continue;
    }
    if (s->state == S_OPT) {
      if (avail < 16)
        break;
      if (fz_get64 (p) != W_IHAVEOPT) {
        fz_srv_give_up (s, "bad option magic");
        continue;
      }
      uint32_t opt = fz_get32 (p + 8), len = fz_get32 (p + 12);
      if (len > (1u << 20)) {
        fz_srv_give_up (s, "option too long");
        continue;
      }
      if (avail < 16u + len)
        break;
      s->in_off += 16 + len;
      fz_srv_option (s, opt, p + 16, len);
      continue;
    }
    /* S_TRANS */
    if (avail < 4)
      break;
    uint32_t magic = fz_get32 (p);
    size_t hlen = magic == W_REQUEST_MAGIC ? 28 : magic == W_EXT_REQUEST_MAGIC ? 32 : 0;
    if (hlen == 0) {
      fz_srv_give_up (s, "bad request magic");
      continue;
    }
    if (avail < hlen)
      break;
    struct fz_req r = {
      .flags = fz_get16 (p + 4), .type = fz_get16 (p + 6), .cookie = fz_get64 (p + 8),
      .offset = fz_get64 (p + 16),
      .count = hlen == 28 ? fz_get32 (p + 24) : fz_get64 (p + 24),
    };
    uint64_t payload = 0;
    if (r.type == W_CMD_WRITE || (hlen == 32 && (r.flags & W_CF_PAYLOAD_LEN)))
      payload = r.count;
    if (payload > (64u << 20)) {
      fz_srv_give_up (s, "payload too large");
      continue;
    }
    if (avail < hlen + payload)
      break;
    if (r.type == W_CMD_BLOCK_STATUS && payload) {
      /* Filter payload: effect length, then the context ids wanted. */
      const uint8_t *q = p + hlen;
      if (payload < 12 || (payload - 8) % 4)
        r.bad_payload = true;
      else {
        r.count = fz_get64 (q);
        bool b = false, sec = false;
        for (uint64_t k = 8; k < payload; k += 4) {
          uint32_t id = fz_get32 (q + k);
          if (s->meta_set && id == s->meta_id)
            b = true;
          else if (s->meta2_set && id == s->meta_id2)
            sec = true;
          else
            r.bad_payload = true;
        }
        r.only_base = b && !sec;
        r.only_second = sec && !b;
      }
    }
    s->in_off += hlen + payload;
    s->nreq_seen++;
    if (r.type == W_CMD_DISC) {
      fz_srv_flush_pending (s);
      fz_srv_give_up (s, "disconnect");
      s->close_when_flushed = true;
      continue;
    }
    if (s->cfg.reorder) {
      if (s->npend == s->cappend) {
        s->cappend = s->cappend ? 2 * s->cappend : 8;
        s->pend = fz_xrealloc (s->pend, s->cappend * sizeof *s->pend);
      }
      s->pend[s->npend++] = r;
    }
    else
      fz_srv_answer (s, &r);
  }
  fz_srv_flush_pending (s);
  if (s->in_off == s->in.len)
    s->in.len = s->in_off = 0;
}

/* Read what the client sent; returns bytes read. */
static size_t
fz_srv_read (struct fz_srv *s)
{
  size_t total = 0;
  if (s->closed)
    return 0;
  for (;;) {
    uint8_t tmp[65536];
    ssize_t n = recv (s->fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
      total += n;
      if (s->state != S_GAVE_UP)
        fz_buf_add (&s->in, tmp, n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      s->peer_gone = true;
    break;
  }
  if (total)
    fz_srv_parse (s);
  return total;
}

/* Send some of the queued output; returns bytes sent. */
static size_t
fz_srv_write (struct fz_srv *s)
{
  size_t avail, piece;
  ssize_t n;

  if (s->closed)
    return 0;
  avail = s->out.len - s->out_off;
  if (avail == 0) {
    if (s->close_when_flushed)
      fz_srv_close (s);
    return 0;
  }
  piece = avail;
  /* Small pieces now and then make the client see partial messages;
   * not always, or a big read would take thousands of steps. */
  if (s->cfg.piece_max && piece > 1 && fz_chance (s->rng, 50))
    piece = 1 + fz_below (s->rng, (uint32_t) (piece < s->cfg.piece_max ? piece : s->cfg.piece_max));
  n = send (s->fd, s->out.p + s->out_off, piece, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      s->peer_gone = true;
      fz_srv_close (s);
    }
    return 0;
  }
  s->out_off += n;
  s->sent_total += n;
  if (s->out_off == s->out.len) {
    s->out.len = s->out_off = 0;
    if (s->close_when_flushed)
      fz_srv_close (s);
  }
  return n;
}

static void
fz_srv_start (struct fz_srv *s)
{
  if (s->cfg.style == 2) {
    struct fz_msg m = { .kind = FM_OLDSTYLE, .hdr_len = 16 };
    fz_buf_add64 (&m.b, W_NBDMAGIC);
    fz_buf_add64 (&m.b, W_OLDSTYLE_MAGIC);
    fz_buf_add64 (&m.b, s->cfg.size);
    fz_buf_add32 (&m.b, s->cfg.eflags);     /* 16 bits global + 16 export */
    memset (fz_buf_grow (&m.b, 124), 0, 124);
    fz_srv_emit (s, &m);
    fz_buf_free (&m.b);
    s->state = S_TRANS;
    return;
  }
  struct fz_msg m = { .kind = FM_GREETING, .hdr_len = 16 };
  fz_buf_add64 (&m.b, W_NBDMAGIC);
  fz_buf_add64 (&m.b, W_IHAVEOPT);
  fz_buf_add16 (&m.b, (s->cfg.style == 0 ? W_FLAG_FIXED_NEWSTYLE : 0)
                | (s->cfg.no_zeroes ? W_FLAG_NO_ZEROES : 0));
  fz_srv_emit (s, &m);
  fz_buf_free (&m.b);
  s->state = S_FLAGS;
}

static void
fz_srv_free (struct fz_srv *s)
{
  fz_srv_close (s);
  fz_buf_free (&s->in);
  fz_buf_free (&s->out);
  free (s->pend);
  free (s->expect);
}

/* ------------------------------------------------------------------ */
/* The client side: commands, options, their closures. */

enum fz_cmd_type {
  C_PREAD, C_PREAD_SR, C_PWRITE, C_BS, C_BS64, C_FLUSH, C_TRIM, C_ZERO, C_CACHE,
  C_BSF, C_NTYPES
};
static const char *const fz_cmd_name[C_NTYPES] = {
  "pread", "pread_structured", "pwrite", "block_status", "block_status_64",
  "flush", "trim", "zero", "cache", "block_status_filter",
};

enum fz_opt_type {
  O_LIST, O_LIST_META, O_SET_META, O_INFO, O_SR, O_EXT, O_GO, O_ABORT, O_NTYPES
};
static const char *const fz_opt_name[O_NTYPES] = {
  "opt_list", "opt_list_meta_context", "opt_set_meta_context", "opt_info",
  "opt_structured_reply", "opt_extended_headers", "opt_go", "opt_abort",
};

struct fz_iter;

/* One closure passed to the library. */
struct fz_cb {
  int calls, frees, calls_after_free;
  struct fz_iter *it;
  int owner;                 /* index of the command/option; -1 for extras */
  bool is_opt;
};

struct fz_cmd {
  enum fz_cmd_type type;
  uint64_t offset, count;
  uint32_t flags;
  uint8_t *buf;
  bool attempted;            /* the aio call was made */
  int64_t cookie;            /* -1: the call failed */
  struct fz_cb comp, data;
  bool has_data_cb;
  int comp_err;
  int data_after_comp;       /* data callbacks after the completion */
  bool manual_retire;        /* completion returns 0 */
  bool retired;              /* nbd_aio_command_completed said so */
  int wave;                  /* 0: issued when ready; 1: after wave 0 */
  bool spawn;                /* its completion issues a wave-1 command */
  int filter;                /* C_BSF: 1 base, 2 second, 3 both */
  bool user_fail;            /* data callback fails once ... */
  bool user_failed;          /* ... and did */
  int bad_range;             /* chunks outside the request */
  int bad_status;
  int zero_entries;          /* extent callbacks with no entries */
  int odd_entries;
  int hole_not_zero;
  int data_mismatch;         /* unmutated runs: wrong bytes */
  int extent_mismatch;
  int base_calls, second_calls;  /* extent callbacks per context */
};

struct fz_opt {
  enum fz_opt_type type;
  int rc;                    /* what the aio call returned */
  struct fz_cb comp, data;
  bool has_data_cb;
  int comp_err;
  int items;
};

struct fz_client {
  bool req_sr, req_ext, meta, meta2, opt_mode, full_info, req_bs, pread_init;
  bool strict_default;
  uint32_t strict;
  uint32_t hs_flags;
  const char *export_name;
  bool early_disc;           /* disconnect while commands are in flight */
  bool final_disc;           /* clean disconnect at the end */
};

enum fz_expect {
  EXP_ANY,                   /* no crash, bounded, bookkeeping right */
  EXP_NOT_READY,             /* the handle must not reach ready */
  EXP_CMD_FAILS,             /* the first issued command must not succeed */
  EXP_OPT_FAILS,             /* the first option must not succeed */
  EXP_DEAD,                  /* the handle must end dead */
};

struct fz_iter {
  char label[96];
  unsigned long id;
  struct fz_rng rng;
  struct fz_srv srv;
  struct nbd_handle *h;
  struct fz_client cl;
  struct fz_cmd cmds[FZ_MAX_CMDS];
  int ncmds;
  struct fz_opt opts[FZ_MAX_OPTS];
  int nopts, curopt;
  bool unmutated;            /* strong checks: the transcript is valid */
  enum fz_expect expect;
  bool reached_ready, ended_dead, ended_closed, hung;
  char end_state[64];
  int failures;
  int steps;
  int time_limit_ms;
  bool verbose;
  /* Extra closures for calls made on a dead handle. */
  struct fz_cb extra;
};

static void fz_fail (struct fz_iter *it, const char *file, int line, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

static void
fz_fail (struct fz_iter *it, const char *file, int line, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  test_report (file, line, "%s  [%s]", msg, it->label);
  it->failures++;
}

#define ICHECK(it, cond, ...)                                   \
  do {                                                          \
    test_count ();                                              \
    if (!(cond))                                                \
      fz_fail ((it), __FILE__, __LINE__, __VA_ARGS__);          \
  } while (0)

static void
fz_cb_enter (struct fz_cb *cb)
{
  cb->calls++;
  if (cb->frees)
    cb->calls_after_free++;
}

static void
fz_cb_free (void *ud)
{
  struct fz_cb *cb = ud;
  cb->frees++;
}

static struct fz_cmd *
fz_cmd_of (struct fz_cb *cb)
{
  return &cb->it->cmds[cb->owner];
}

static void fz_issue_cmd (struct fz_iter *it, int i);

static int
fz_cmd_completion (void *ud, int *error)
{
  struct fz_cb *cb = ud;
  struct fz_cmd *c = fz_cmd_of (cb);
  fz_cb_enter (cb);
  c->comp_err = error ? *error : -1;
  /* Issue the next command from inside the callback (fastnbd allows aio
   * calls there; on a dying handle they must fail cleanly). */
  if (c->spawn && cb->it->h)
    for (int i = 0; i < cb->it->ncmds; i++)
      if (cb->it->cmds[i].wave == 1 && !cb->it->cmds[i].attempted) {
        fz_issue_cmd (cb->it, i);
        break;
      }
  return c->manual_retire ? 0 : 1;
}

static int
fz_data_failure (struct fz_cmd *c, int *error)
{
  if (c->user_fail && !c->user_failed) {
    c->user_failed = true;
    *error = EUCLEAN;
    return -1;
  }
  return 0;
}

static int
fz_chunk_cb (void *ud, const void *subbuf, size_t count, uint64_t offset,
             unsigned status, int *error)
{
  struct fz_cb *cb = ud;
  struct fz_cmd *c = fz_cmd_of (cb);
  volatile uint8_t sink = 0;
  const uint8_t *p = subbuf;

  fz_cb_enter (cb);
  if (c->comp.calls)
    c->data_after_comp++;
  if (status != LIBNBD_READ_DATA && status != LIBNBD_READ_HOLE
      && status != LIBNBD_READ_ERROR)
    c->bad_status++;
  if (count && (offset < c->offset || offset - c->offset > c->count
                || count > c->count - (offset - c->offset)))
    c->bad_range++;
  else if (count && p) {
    /* Touch every byte: ASan reports any pointer outside the buffer. */
    for (size_t i = 0; i < count; i++)
      sink ^= p[i];
    if (status == LIBNBD_READ_HOLE)
      for (size_t i = 0; i < count; i++)
        if (p[i]) {
          c->hole_not_zero++;
          break;
        }
    if (status == LIBNBD_READ_DATA && cb->it->unmutated)
      for (size_t i = 0; i < count; i++)
        if (p[i] != fz_disk_byte (offset + i)) {
          c->data_mismatch++;
          break;
        }
  }
  (void) sink;
  return fz_data_failure (c, error);
}

static void
fz_extent_common (struct fz_cb *cb, struct fz_cmd *c, const char *ctx,
                  uint64_t offset, size_t n, uint64_t first_flags)
{
  fz_cb_enter (cb);
  if (c->comp.calls)
    c->data_after_comp++;
  if (ctx == NULL)
    c->bad_status++;
  else
    (void) strlen (ctx);
  if (n == 0)
    c->zero_entries++;
  if (ctx && strcmp (ctx, "fuzz:second") == 0)
    c->second_calls++;
  else if (ctx && strcmp (ctx, "base:allocation") == 0)
    c->base_calls++;
  if (cb->it->unmutated) {
    bool second = ctx && strcmp (ctx, "fuzz:second") == 0;
    if (ctx == NULL || offset != c->offset
        || (!second && strcmp (ctx, "base:allocation") != 0)
        || (second && (n != 1 || first_flags != 0x5a))
        || (!second && n && first_flags != (fz_is_zero_region (c->offset) ? 3u : 0u))
        || (c->type == C_BSF && !(c->filter & (second ? 2 : 1))))
      c->extent_mismatch++;
  }
}

static int
fz_extent_cb (void *ud, const char *ctx, uint64_t offset, uint32_t *entries,
              size_t n, int *error)
{
  struct fz_cb *cb = ud;
  struct fz_cmd *c = fz_cmd_of (cb);
  volatile uint32_t sink = 0;
  for (size_t i = 0; i < n; i++)
    sink ^= entries[i];
  (void) sink;
  if (n % 2)
    c->odd_entries++;
  fz_extent_common (cb, c, ctx, offset, n / 2, n >= 2 ? entries[1] : 0);
  return fz_data_failure (c, error);
}

static int
fz_extent64_cb (void *ud, const char *ctx, uint64_t offset, nbd_extent *entries,
                size_t n, int *error)
{
  struct fz_cb *cb = ud;
  struct fz_cmd *c = fz_cmd_of (cb);
  volatile uint64_t sink = 0;
  for (size_t i = 0; i < n; i++)
    sink ^= entries[i].length ^ entries[i].flags;
  (void) sink;
  fz_extent_common (cb, c, ctx, offset, n, n ? entries[0].flags : 0);
  return fz_data_failure (c, error);
}

/* Options. */
static struct fz_opt *
fz_opt_of (struct fz_cb *cb)
{
  return &cb->it->opts[cb->owner];
}

static int
fz_opt_completion (void *ud, int *error)
{
  struct fz_cb *cb = ud;
  fz_cb_enter (cb);
  fz_opt_of (cb)->comp_err = error ? *error : -1;
  return 1;
}

static int
fz_list_cb (void *ud, const char *name, const char *desc)
{
  struct fz_cb *cb = ud;
  fz_cb_enter (cb);
  if (name == NULL || desc == NULL)
    fz_opt_of (cb)->comp_err = -1000;
  else
    (void) (strlen (name) + strlen (desc));
  fz_opt_of (cb)->items++;
  return 0;
}

static int
fz_context_cb (void *ud, const char *name)
{
  struct fz_cb *cb = ud;
  fz_cb_enter (cb);
  if (name == NULL)
    fz_opt_of (cb)->comp_err = -1000;
  else
    (void) strlen (name);
  fz_opt_of (cb)->items++;
  return 0;
}

static int
fz_extra_completion (void *ud, int *error)
{
  (void) error;
  fz_cb_enter (ud);
  return 1;
}

static nbd_completion_callback
fz_completion_for (struct fz_cb *cb, int (*fn) (void *, int *))
{
  return (nbd_completion_callback) { .callback = fn, .user_data = cb, .free = fz_cb_free };
}

/* ------------------------------------------------------------------ */
/* Configuration of an iteration. */

static void
fz_random_setup (struct fz_iter *it)
{
  struct fz_rng *r = &it->rng;
  struct fz_client *c = &it->cl;
  struct fz_srvcfg *sc = &it->srv.cfg;

  c->req_sr = fz_chance (r, 85);
  c->req_ext = fz_chance (r, 55);
  c->meta = fz_chance (r, 70);
  c->meta2 = fz_chance (r, 30);
  c->opt_mode = fz_chance (r, 25);
  c->full_info = fz_chance (r, 30);
  c->req_bs = fz_chance (r, 60);
  c->pread_init = fz_chance (r, 50);
  c->strict_default = fz_chance (r, 80);
  c->strict = fz_below (r, LIBNBD_STRICT_MASK + 1);
  c->hs_flags = fz_chance (r, 85) ? 3 : fz_below (r, 4);
  c->export_name = fz_chance (r, 85) ? "" : "second";
  c->early_disc = fz_chance (r, 5);
  c->final_disc = fz_chance (r, 60);

  unsigned style = fz_below (r, 100);
  sc->style = style < 86 ? 0 : style < 93 ? 1 : 2;
  sc->no_zeroes = fz_chance (r, 85);
  sc->accept_sr = fz_chance (r, 85);
  sc->accept_ext = fz_chance (r, 60);
  sc->meta = fz_chance (r, 85);
  sc->meta2 = fz_chance (r, 50);
  sc->interleave = fz_chance (r, 50);
  sc->eflags = W_EF_HAS_FLAGS;
  static const uint16_t optional[] = {
    W_EF_SEND_FLUSH, W_EF_SEND_FUA, W_EF_ROTATIONAL, W_EF_SEND_TRIM,
    W_EF_SEND_ZEROES, W_EF_SEND_DF, W_EF_MULTI_CONN, W_EF_SEND_CACHE,
    W_EF_FAST_ZERO, W_EF_BS_PAYLOAD,
  };
  for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
    if (fz_chance (r, 75))
      sc->eflags |= optional[i];
  if (fz_chance (r, 8))
    sc->eflags |= W_EF_READ_ONLY;
  sc->size = fz_chance (r, 90) ? FZ_EXPORT_SIZE : 1 + fz_below (r, 200000);
  sc->block_size_info = fz_chance (r, 40);
  sc->bs_min = fz_chance (r, 80) ? 1 : 512;
  sc->bs_pref = 4096;
  sc->bs_max = fz_chance (r, 80) ? 32u << 20 : 65536;
  sc->reorder = fz_chance (r, 40);
  sc->holes = fz_chance (r, 50);
  sc->split = fz_chance (r, 50);
  sc->sr_simple = fz_chance (r, 30);
  sc->none_done = fz_chance (r, 30);
  sc->err_pct = fz_chance (r, 25) ? 25 : 0;
  sc->piece_max = fz_chance (r, 50) ? 0 : 1 + fz_below (r, 64);
  sc->nexports = 1 + fz_below (r, 3);

  /* Commands. */
  it->ncmds = 1 + fz_below (r, 8);
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *cmd = &it->cmds[i];
    static const enum fz_cmd_type weighted[] = {
      C_PREAD, C_PREAD, C_PREAD_SR, C_PREAD_SR, C_PREAD_SR, C_PWRITE, C_PWRITE,
      C_BS, C_BS, C_BS64, C_BS64, C_FLUSH, C_TRIM, C_ZERO, C_CACHE, C_BSF,
    };
    cmd->type = weighted[fz_below (r, sizeof weighted / sizeof weighted[0])];
    cmd->count = fz_chance (r, 70) ? 1 + fz_below (r, 65536) : 1 + fz_below (r, 512);
    if (fz_chance (r, 5))
      cmd->count = 131072 + fz_below (r, 1u << 20);   /* beyond the receive buffer */
    if (fz_chance (r, 40))
      cmd->count = (cmd->count + 4095) & ~(uint64_t) 4095;
    uint64_t lim = sc->size > cmd->count ? sc->size - cmd->count : 0;
    cmd->offset = fz_below (r, (uint32_t) lim + 1);
    if (fz_chance (r, 40))
      cmd->offset &= ~(uint64_t) 4095;
    if (fz_chance (r, 3))
      cmd->offset = sc->size - fz_below (r, 3);      /* past the end */
    if (cmd->type == C_FLUSH)
      cmd->offset = cmd->count = 0;
    cmd->flags = 0;
    if ((cmd->type == C_PWRITE || cmd->type == C_ZERO || cmd->type == C_TRIM)
        && fz_chance (r, 20))
      cmd->flags |= LIBNBD_CMD_FLAG_FUA;
    if (cmd->type == C_PREAD_SR && fz_chance (r, 20))
      cmd->flags |= LIBNBD_CMD_FLAG_DF;
    cmd->filter = 1 + fz_below (r, 3);
    if ((cmd->type == C_BS || cmd->type == C_BS64 || cmd->type == C_BSF)
        && fz_chance (r, 25))
      cmd->flags |= LIBNBD_CMD_FLAG_REQ_ONE;
    cmd->manual_retire = fz_chance (r, 25);
    cmd->wave = fz_chance (r, 25);
    cmd->spawn = fz_chance (r, 30);
    cmd->user_fail = fz_chance (r, 5);
  }

  /* Options, in opt mode. */
  if (c->opt_mode) {
    it->nopts = fz_below (r, 5);
    for (int i = 0; i < it->nopts; i++)
      it->opts[i].type = fz_below (r, O_GO);
    it->opts[it->nopts++].type = fz_chance (r, 88) ? O_GO : O_ABORT;
  }
}

/* Mutations for a fuzzed iteration (none for the unmutated share). */
static void
fz_random_mutations (struct fz_iter *it)
{
  struct fz_rng *r = &it->rng;
  it->unmutated = fz_chance (r, 12);
  if (it->unmutated)
    return;
  it->srv.nmuts = 1 + fz_below (r, 3);
  for (int i = 0; i < it->srv.nmuts; i++) {
    it->srv.muts[i].target = fz_chance (r, 50) ? fz_below (r, 8) : fz_below (r, 32);
    it->srv.muts[i].kind = fz_below (r, MUT_N);
  }
}

/* ------------------------------------------------------------------ */
/* The driver. */

static int
fz_count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  int n = 0;
  if (d == NULL)
    return -1;
  while (readdir (d))
    n++;
  closedir (d);
  return n;
}

static void
fz_setup_handle (struct fz_iter *it)
{
  struct nbd_handle *h = it->h;
  const struct fz_client *c = &it->cl;

  nbd_set_request_structured_replies (h, c->req_sr);
  nbd_set_request_extended_headers (h, c->req_ext);
  if (c->meta)
    nbd_add_meta_context (h, "base:allocation");
  if (c->meta2)
    nbd_add_meta_context (h, "fuzz:second");
  nbd_set_opt_mode (h, c->opt_mode);
  nbd_set_full_info (h, c->full_info);
  nbd_set_request_block_size (h, c->req_bs);
  nbd_set_pread_initialize (h, c->pread_init);
  nbd_set_handshake_flags (h, c->hs_flags);
  nbd_set_export_name (h, c->export_name);
  if (!c->strict_default)
    nbd_set_strict_mode (h, c->strict);
}

static void
fz_issue_cmd (struct fz_iter *it, int i)
{
  struct nbd_handle *h = it->h;
  struct fz_cmd *c = &it->cmds[i];
  nbd_completion_callback comp = fz_completion_for (&c->comp, fz_cmd_completion);
  size_t buflen = c->count ? c->count : 1;

  c->comp = (struct fz_cb) { .it = it, .owner = i };
  c->data = (struct fz_cb) { .it = it, .owner = i };
  c->cookie = -1;
  c->attempted = true;
  if (c->type == C_PREAD || c->type == C_PREAD_SR || c->type == C_PWRITE) {
    c->buf = fz_xrealloc (NULL, buflen);       /* exact size: ASan sees overruns */
    for (size_t k = 0; k < buflen; k++)
      c->buf[k] = c->type == C_PWRITE ? fz_disk_byte (c->offset + k) : 0xa5;
  }
  switch (c->type) {
  case C_PREAD:
    c->cookie = nbd_aio_pread (h, c->buf, c->count, c->offset, comp, c->flags);
    break;
  case C_PREAD_SR:
    c->has_data_cb = true;
    c->cookie = nbd_aio_pread_structured (h, c->buf, c->count, c->offset,
      (nbd_chunk_callback) { .callback = fz_chunk_cb, .user_data = &c->data,
                             .free = fz_cb_free }, comp, c->flags);
    break;
  case C_PWRITE:
    c->cookie = nbd_aio_pwrite (h, c->buf, c->count, c->offset, comp, c->flags);
    break;
  case C_BS:
    c->has_data_cb = true;
    c->cookie = nbd_aio_block_status (h, c->count, c->offset,
      (nbd_extent_callback) { .callback = fz_extent_cb, .user_data = &c->data,
                              .free = fz_cb_free }, comp, c->flags);
    break;
  case C_BS64:
    c->has_data_cb = true;
    c->cookie = nbd_aio_block_status_64 (h, c->count, c->offset,
      (nbd_extent64_callback) { .callback = fz_extent64_cb, .user_data = &c->data,
                                .free = fz_cb_free }, comp, c->flags);
    break;
  case C_BSF: {
    char *both[] = { (char *) "base:allocation", (char *) "fuzz:second", NULL };
    char *base[] = { (char *) "base:allocation", NULL };
    char *second[] = { (char *) "fuzz:second", NULL };
    c->has_data_cb = true;
    c->cookie = nbd_aio_block_status_filter (h, c->count, c->offset,
      c->filter == 3 ? both : c->filter == 2 ? second : base,
      (nbd_extent64_callback) { .callback = fz_extent64_cb, .user_data = &c->data,
                                .free = fz_cb_free }, comp, c->flags);
    break;
  }
  case C_FLUSH:
    c->cookie = nbd_aio_flush (h, comp, c->flags);
    break;
  case C_TRIM:
    c->cookie = nbd_aio_trim (h, c->count, c->offset, comp, c->flags);
    break;
  case C_ZERO:
    c->cookie = nbd_aio_zero (h, c->count, c->offset, comp, c->flags);
    break;
  case C_CACHE:
    c->cookie = nbd_aio_cache (h, c->count, c->offset, comp, c->flags);
    break;
  case C_NTYPES:
    break;
  }
  if (c->cookie == -1)
    ICHECK (it, nbd_get_error () != NULL, "%s failed without an error message",
            fz_cmd_name[c->type]);
  if (it->verbose)
    fprintf (stderr, "[cli] %s off=%" PRIu64 " count=%" PRIu64 " flags=%#x -> %" PRId64 "%s%s\n",
             fz_cmd_name[c->type], c->offset, c->count, c->flags, c->cookie,
             c->cookie == -1 ? ": " : "", c->cookie == -1 ? nbd_get_error () : "");
}

static void
fz_issue_opt (struct fz_iter *it, int i)
{
  struct nbd_handle *h = it->h;
  struct fz_opt *o = &it->opts[i];
  nbd_completion_callback comp = fz_completion_for (&o->comp, fz_opt_completion);
  nbd_context_callback ctx = { .callback = fz_context_cb, .user_data = &o->data,
                               .free = fz_cb_free };

  o->comp = (struct fz_cb) { .it = it, .owner = i, .is_opt = true };
  o->data = (struct fz_cb) { .it = it, .owner = i, .is_opt = true };
  o->comp_err = -2;               /* not called */
  switch (o->type) {
  case O_LIST:
    o->has_data_cb = true;
    o->rc = nbd_aio_opt_list (h, (nbd_list_callback) {
        .callback = fz_list_cb, .user_data = &o->data, .free = fz_cb_free }, comp);
    break;
  case O_LIST_META:
    o->has_data_cb = true;
    o->rc = nbd_aio_opt_list_meta_context (h, ctx, comp);
    break;
  case O_SET_META:
    o->has_data_cb = true;
    o->rc = nbd_aio_opt_set_meta_context (h, ctx, comp);
    break;
  case O_INFO:
    o->rc = nbd_aio_opt_info (h, comp);
    break;
  case O_SR:
    o->rc = nbd_aio_opt_structured_reply (h, comp);
    break;
  case O_EXT:
    o->rc = nbd_aio_opt_extended_headers (h, comp);
    break;
  case O_GO:
    o->rc = nbd_aio_opt_go (h, comp);
    break;
  case O_ABORT:
    o->rc = nbd_aio_opt_abort (h);
    /* No closures: count them as called and freed once. */
    o->comp.frees = 1;
    break;
  case O_NTYPES:
    break;
  }
  if (o->rc == -1)
    ICHECK (it, nbd_get_error () != NULL, "%s failed without an error message",
            fz_opt_name[o->type]);
  if (it->verbose)
    fprintf (stderr, "[cli] %s -> %d%s%s\n", fz_opt_name[o->type], o->rc,
             o->rc == -1 ? ": " : "", o->rc == -1 ? nbd_get_error () : "");
}

/* Every getter that reports what the server said: under ASan this reads
 * whatever the handshake stored. */
static void
fz_poke_getters (struct fz_iter *it)
{
  struct nbd_handle *h = it->h;
  char *str;
  int64_t size = nbd_get_size (h);

  if (it->unmutated && nbd_aio_is_ready (h))
    ICHECK (it, size == (int64_t) it->srv.cfg.size, "nbd_get_size = %" PRId64
            ", the server said %" PRIu64, size, it->srv.cfg.size);
  for (int t = LIBNBD_SIZE_MINIMUM; t <= LIBNBD_SIZE_PAYLOAD; t++)
    (void) nbd_get_block_size (h, t);
  (void) (nbd_is_read_only (h) + nbd_can_flush (h) + nbd_can_fua (h)
          + nbd_is_rotational (h) + nbd_can_trim (h) + nbd_can_zero (h)
          + nbd_can_df (h) + nbd_can_multi_conn (h) + nbd_can_cache (h)
          + nbd_can_fast_zero (h) + nbd_can_block_status_payload (h)
          + nbd_can_meta_context (h, "base:allocation")
          + nbd_get_structured_replies_negotiated (h)
          + nbd_get_extended_headers_negotiated (h) + nbd_aio_in_flight (h));
  (void) (nbd_stats_bytes_sent (h) + nbd_stats_bytes_received (h)
          + nbd_stats_chunks_sent (h) + nbd_stats_chunks_received (h));
  const char *proto = nbd_get_protocol (h);
  if (proto)
    (void) strlen (proto);
  if ((str = nbd_get_canonical_export_name (h)) != NULL) {
    (void) strlen (str);
    free (str);
  }
  if ((str = nbd_get_export_description (h)) != NULL) {
    (void) strlen (str);
    free (str);
  }
  ssize_t n = nbd_get_nr_meta_contexts (h);
  for (ssize_t i = 0; i < n; i++)
    if ((str = nbd_get_meta_context (h, i)) != NULL)
      free (str);
  (void) strlen (nbd_connection_state (h));
}

enum fz_phase { T_CONNECT, T_OPT, T_ISSUE, T_WAIT, T_FINISH, T_DISC, T_END };
static const char *const fz_phase_name[] = {
  "connect", "opt", "issue", "wait", "finish", "disconnect", "end",
};

static bool
fz_all_done (struct fz_iter *it)
{
  for (int i = 0; i < it->ncmds; i++)
    if (it->cmds[i].attempted && it->cmds[i].cookie != -1
        && it->cmds[i].comp.calls == 0)
      return false;
  return true;
}

static bool fz_gone (struct nbd_handle *h)
{ return nbd_aio_is_dead (h) || nbd_aio_is_closed (h); }

/* The test's own moves; returns the next phase. */
static enum fz_phase
fz_actions (struct fz_iter *it, enum fz_phase t, bool *progress)
{
  struct nbd_handle *h = it->h;

  switch (t) {
  case T_CONNECT:
    if (fz_gone (h))
      return T_END;
    if (nbd_aio_is_ready (h)) {
      *progress = true;
      return T_ISSUE;
    }
    if (nbd_aio_is_negotiating (h)) {
      *progress = true;
      return T_OPT;
    }
    return t;
  case T_OPT:
    if (fz_gone (h))
      return T_END;
    if (nbd_aio_is_ready (h)) {
      *progress = true;
      return T_ISSUE;
    }
    if (!nbd_aio_is_negotiating (h))
      return t;                 /* an option is in progress */
    if (it->curopt > 0)
      fz_poke_getters (it);
    if (it->curopt >= it->nopts)
      return T_END;             /* leave it negotiating; nbd_close copes */
    fz_issue_opt (it, it->curopt++);
    *progress = true;
    return t;
  case T_ISSUE:
    it->reached_ready = true;
    fz_poke_getters (it);
    for (int i = 0; i < it->ncmds; i++)
      if (it->cmds[i].wave == 0)
        fz_issue_cmd (it, i);
    *progress = true;
    if (it->cl.early_disc && nbd_aio_disconnect (h, 0) == 0)
      return T_DISC;
    return T_WAIT;
  case T_WAIT:
    if (fz_gone (h))
      return T_END;
    if (!fz_all_done (it))
      return t;
    *progress = true;
    return T_FINISH;
  case T_FINISH:
    for (int i = 0; i < it->ncmds; i++) {
      struct fz_cmd *c = &it->cmds[i];
      if (c->attempted && c->cookie != -1 && c->manual_retire && c->comp.calls == 1
          && !c->retired) {
        int r = nbd_aio_command_completed (h, c->cookie);
        c->retired = true;
        ICHECK (it, r == (c->comp_err ? -1 : 1),
                "nbd_aio_command_completed(%s) = %d, completion said error %d",
                fz_cmd_name[c->type], r, c->comp_err);
        if (r == -1)
          ICHECK (it, nbd_get_error () != NULL && nbd_get_errno () == c->comp_err,
                  "nbd_aio_command_completed: errno %d, completion said %d",
                  nbd_get_errno (), c->comp_err);
      }
    }
    *progress = true;
    /* A second wave, once the first is over. */
    bool more = false;
    for (int i = 0; i < it->ncmds; i++)
      if (it->cmds[i].wave == 1 && !it->cmds[i].attempted) {
        fz_issue_cmd (it, i);
        more = true;
      }
    if (more)
      return T_WAIT;
    if (it->cl.final_disc && !fz_gone (h) && nbd_aio_disconnect (h, 0) == 0)
      return T_DISC;
    return T_END;
  case T_DISC:
    if (fz_gone (h))
      return T_END;
    return t;
  case T_END:
    break;
  }
  return T_END;
}

/* Run the iteration to its end; the handle is still open afterwards. */
static void
fz_drive (struct fz_iter *it)
{
  struct nbd_handle *h = it->h;
  struct fz_srv *s = &it->srv;
  int64_t deadline = fz_now_ms () + it->time_limit_ms;
  enum fz_phase t = T_CONNECT;
  int idle_after_close = 0;

  for (;;) {
    bool progress = false;

    t = fz_actions (it, t, &progress);
    if (t == T_END)
      break;
    it->steps++;
    if ((it->steps & 63) == 0 && fz_now_ms () > deadline) {
      it->hung = true;
      ICHECK (it, false, "no end after %d ms (phase %s, state %s, direction %u, "
              "in flight %d, server %s)", it->time_limit_ms, fz_phase_name[t],
              nbd_connection_state (h), nbd_aio_get_direction (h),
              nbd_aio_in_flight (h), s->closed ? "closed" : "open");
      break;
    }

    if (fz_srv_write (s))
      progress = true;

    struct pollfd pfd[2];
    int fd = fz_gone (h) ? -1 : nbd_aio_get_fd (h);
    unsigned dir = fd >= 0 ? nbd_aio_get_direction (h) : 0;
    int n = 0;
    if (fd >= 0 && dir) {
      pfd[n++] = (struct pollfd) {
        .fd = fd,
        .events = (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0)
                | (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0),
      };
    }
    if (n && poll (pfd, n, 0) > 0) {
      short ev = pfd[0].revents;
      if ((dir & LIBNBD_AIO_DIRECTION_READ) && (ev & (POLLIN | POLLHUP | POLLERR))) {
        progress = true;
        if (nbd_aio_notify_read (h) == -1) {
          ICHECK (it, nbd_get_error () != NULL, "notify_read failed without a message");
          if (it->verbose)
            fprintf (stderr, "[cli] notify_read: %s\n", nbd_get_error ());
        }
      }
      dir = fz_gone (h) ? 0 : nbd_aio_get_direction (h);
      if ((dir & LIBNBD_AIO_DIRECTION_WRITE) && (ev & (POLLOUT | POLLHUP | POLLERR))) {
        progress = true;
        if (nbd_aio_notify_write (h) == -1) {
          ICHECK (it, nbd_get_error () != NULL, "notify_write failed without a message");
          if (it->verbose)
            fprintf (stderr, "[cli] notify_write: %s\n", nbd_get_error ());
        }
      }
    }

    if (fz_srv_read (s))
      progress = true;

    if (progress) {
      idle_after_close = 0;
      continue;
    }
    /* Nobody can move: the transcript is exhausted (or the server sent
     * what it had and the client waits for more).  Hang up. */
    if (!s->closed) {
      /* A request the client began to send must be finished, whatever
       * the server said: if its rest is not coming, the client stalls
       * (a real server would wait for it for ever). */
      if (!fz_gone (h) && s->state != S_GAVE_UP && s->in.len > s->in_off)
        ICHECK (it, false, "stall: the client stopped sending in the middle of a "
                "request (%zu bytes of it received; phase %s, state %s, "
                "direction %u, in flight %d)", s->in.len - s->in_off,
                fz_phase_name[t], nbd_connection_state (h),
                nbd_aio_get_direction (h), nbd_aio_in_flight (h));
      fz_srv_close (s);
      continue;
    }
    if (++idle_after_close > 3) {
      /* The server is gone and the client still waits for nothing. */
      it->hung = true;
      ICHECK (it, false, "client stuck after the server hung up (phase %s, state %s, "
              "direction %u, in flight %d)", fz_phase_name[t],
              nbd_connection_state (h), nbd_aio_get_direction (h),
              nbd_aio_in_flight (h));
      break;
    }
  }
  it->ended_dead = nbd_aio_is_dead (h);
  it->ended_closed = nbd_aio_is_closed (h);
  snprintf (it->end_state, sizeof it->end_state, "%s", nbd_connection_state (h));
}

/* Checks on a finished iteration, before and after nbd_close. */
static void
fz_check_before_close (struct fz_iter *it)
{
  struct nbd_handle *h = it->h;

  if (it->ended_dead) {
    /* A dead handle refuses work, with a message. */
    it->extra = (struct fz_cb) { .it = it, .owner = -1 };
    int64_t r = nbd_aio_flush (h, fz_completion_for (&it->extra, fz_extra_completion), 0);
    ICHECK (it, r == -1, "nbd_aio_flush on a dead handle returned %" PRId64, r);
    ICHECK (it, nbd_get_error () != NULL, "no error message from a dead handle");
    ICHECK (it, it->extra.frees == 1 && it->extra.calls == 0,
            "refused flush: completion called %d, freed %d",
            it->extra.calls, it->extra.frees);
  }
  fz_poke_getters (it);
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *c = &it->cmds[i];
    if (!c->attempted || c->cookie == -1)
      continue;
    /* Retire what the program still owes, dead handle or not. */
    if (c->manual_retire && c->comp.calls == 1 && !c->retired) {
      int r = nbd_aio_command_completed (h, c->cookie);
      c->retired = true;
      ICHECK (it, r == (c->comp_err ? -1 : 1),
              "nbd_aio_command_completed(%s) = %d at the end, completion said error %d",
              fz_cmd_name[c->type], r, c->comp_err);
    }
    if ((it->ended_dead || it->ended_closed) && !it->hung)
      ICHECK (it, c->comp.calls == 1,
              "%s: completion called %d times on a %s handle", fz_cmd_name[c->type],
              c->comp.calls, it->ended_dead ? "dead" : "closed");
  }
  for (int i = 0; i < it->nopts && i < it->curopt; i++) {
    struct fz_opt *o = &it->opts[i];
    if (o->rc == 0 && o->type != O_ABORT && !it->hung)
      ICHECK (it, o->comp.calls == 1, "%s: completion called %d times",
              fz_opt_name[o->type], o->comp.calls);
  }
}

static void
fz_check_cb_after_close (struct fz_iter *it, const struct fz_cb *cb,
                         const char *what, const char *which, bool present)
{
  if (!present)
    return;
  ICHECK (it, cb->frees == 1, "%s: %s closure freed %d times", what, which, cb->frees);
  ICHECK (it, cb->calls_after_free == 0, "%s: %s called %d times after its free",
          what, which, cb->calls_after_free);
}

static void
fz_check_after_close (struct fz_iter *it)
{
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *c = &it->cmds[i];
    const char *w = fz_cmd_name[c->type];
    if (!c->attempted)
      continue;
    fz_check_cb_after_close (it, &c->comp, w, "completion", true);
    fz_check_cb_after_close (it, &c->data, w, "chunk/extent", c->has_data_cb);
    ICHECK (it, c->comp.calls <= 1, "%s: completion called %d times", w, c->comp.calls);
    ICHECK (it, c->cookie != -1 || c->comp.calls == 0,
            "%s: refused, yet its completion ran", w);
    ICHECK (it, c->data_after_comp == 0, "%s: %d data callbacks after completion",
            w, c->data_after_comp);
    ICHECK (it, c->bad_range == 0, "%s off=%" PRIu64 " count=%" PRIu64
            ": %d chunk callbacks outside the request", w, c->offset, c->count,
            c->bad_range);
    ICHECK (it, c->bad_status == 0, "%s: %d callbacks with a bad status/context",
            w, c->bad_status);
    ICHECK (it, c->odd_entries == 0, "%s: odd number of extent entries", w);
    ICHECK (it, c->hole_not_zero == 0, "%s: a hole chunk with non-zero bytes", w);
    ICHECK (it, c->data_mismatch == 0, "%s: %d data chunks with wrong bytes",
            w, c->data_mismatch);
    ICHECK (it, c->zero_entries == 0, "%s: %d extent callbacks with no entries",
            w, c->zero_entries);
  }
  for (int i = 0; i < it->nopts && i < it->curopt; i++) {
    struct fz_opt *o = &it->opts[i];
    const char *w = fz_opt_name[o->type];
    if (o->type == O_ABORT)
      continue;
    fz_check_cb_after_close (it, &o->comp, w, "completion", true);
    fz_check_cb_after_close (it, &o->data, w, "list/context", o->has_data_cb);
    ICHECK (it, o->comp.calls <= 1, "%s: completion called %d times", w, o->comp.calls);
    ICHECK (it, o->comp_err != -1000, "%s: NULL string passed to a callback", w);
  }
}

/* Strong checks for a transcript nobody damaged. */
static void
fz_check_unmutated (struct fz_iter *it)
{
  bool went = !it->cl.opt_mode;
  for (int i = 0; i < it->nopts; i++)
    if (it->opts[i].type == O_GO)
      went = true;
  if (went)
    ICHECK (it, it->reached_ready, "valid transcript, yet the handle never became ready");
  /* NBD_OPT_ABORT cannot be sent unless both sides speak fixed
   * newstyle (the server's greeting and the client's handshake flags):
   * aborting then ends in the dead state, as in libnbd. */
  bool unfixed = it->srv.cfg.style == 1
                 || (it->cl.hs_flags & LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE) == 0;
  bool abort_unfixed = false;
  for (int i = 0; i < it->nopts; i++)
    if (it->opts[i].type == O_ABORT && unfixed)
      abort_unfixed = true;
  ICHECK (it, !it->ended_dead || abort_unfixed, "valid transcript, yet the handle died");
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *c = &it->cmds[i];
    if (!c->attempted || c->cookie == -1)
      continue;
    int want = fz_srv_expected (&it->srv, (uint64_t) c->cookie);
    bool early = it->cl.early_disc;
    ICHECK (it, c->comp.calls == 1 || early, "%s: completion called %d times",
            fz_cmd_name[c->type], c->comp.calls);
    if (c->comp.calls != 1)
      continue;
    if (want == 0 && !c->user_failed)
      ICHECK (it, c->comp_err == 0, "%s off=%" PRIu64 " count=%" PRIu64
              ": failed with %d on a valid reply", fz_cmd_name[c->type],
              c->offset, c->count, c->comp_err);
    else if (want > 0 || c->user_failed)
      ICHECK (it, c->comp_err != 0, "%s: succeeded though the %s failed it",
              fz_cmd_name[c->type], c->user_failed ? "callback" : "server");
    if (c->comp_err == 0 && (c->type == C_PREAD || c->type == C_PREAD_SR)) {
      uint64_t k;
      for (k = 0; k < c->count; k++)
        if (c->buf[k] != fz_disk_byte (c->offset + k))
          break;
      uint64_t bad = 0, last = k;
      for (uint64_t j = k; j < c->count; j++)
        if (c->buf[j] != fz_disk_byte (c->offset + j)) {
          bad++;
          last = j;
        }
      ICHECK (it, k == c->count, "%s off=%" PRIu64 " count=%" PRIu64
              ": %" PRIu64 " wrong bytes in +%" PRIu64 "..+%" PRIu64
              " (first: %#x, want %#x)", fz_cmd_name[c->type], c->offset,
              c->count, bad, k, last, k < c->count ? c->buf[k] : 0,
              k < c->count ? fz_disk_byte (c->offset + k) : 0);
    }
    ICHECK (it, c->extent_mismatch == 0, "%s: extents disagree with the export",
            fz_cmd_name[c->type]);
    if (c->comp_err == 0 && (c->type == C_BS || c->type == C_BS64 || c->type == C_BSF)) {
      bool want_base = it->srv.meta_set && (c->type != C_BSF || (c->filter & 1));
      bool want_second = it->srv.meta2_set && (c->type != C_BSF || (c->filter & 2));
      ICHECK (it, c->base_calls == want_base && c->second_calls == want_second,
              "%s: extents for base:allocation %d times, fuzz:second %d times; "
              "expected %d and %d", fz_cmd_name[c->type], c->base_calls,
              c->second_calls, want_base, want_second);
    }
  }
  for (int i = 0; i < it->curopt; i++) {
    struct fz_opt *o = &it->opts[i];
    if (o->type == O_LIST && o->rc == 0 && o->comp_err == 0 && it->srv.cfg.style == 0)
      ICHECK (it, o->items == it->srv.cfg.nexports, "opt_list: %d exports, expected %d",
              o->items, it->srv.cfg.nexports);
  }
}

static void
fz_check_expectation (struct fz_iter *it)
{
  switch (it->expect) {
  case EXP_ANY:
    break;
  case EXP_NOT_READY:
    ICHECK (it, !it->reached_ready, "the handle became ready on a bad handshake");
    break;
  case EXP_DEAD:
    ICHECK (it, it->ended_dead, "the handle survived (state %s)", it->end_state);
    break;
  case EXP_CMD_FAILS: {
    struct fz_cmd *c = &it->cmds[0];
    ICHECK (it, it->reached_ready, "never became ready");
    ICHECK (it, !it->reached_ready || (c->attempted && c->cookie != -1),
            "the command was refused");
    ICHECK (it, c->comp.calls == 0 || c->comp_err != 0,
            "%s succeeded on a bad reply", fz_cmd_name[c->type]);
    break;
  }
  case EXP_OPT_FAILS: {
    struct fz_opt *o = &it->opts[0];
    ICHECK (it, it->curopt >= 1, "the option was never issued");
    ICHECK (it, o->rc == -1 || o->comp.calls == 0 || o->comp_err != 0,
            "%s succeeded on a bad reply (%d items)", fz_opt_name[o->type], o->items);
    break;
  }
  }
}

/* When ASan/UBSan abort (or anything crashes), say which iteration it
 * was, so that it can be run again alone with --dump. */
static char fz_current[160];

static void
fz_crash_handler (int sig)
{
  static const char pre[] = "\n*** crashed while running: ";
  ssize_t r;
  r = write (2, pre, sizeof pre - 1);
  r = write (2, fz_current, strlen (fz_current));
  r = write (2, "\n", 1);
  (void) r;
  signal (sig, SIG_DFL);
  raise (sig);
}

#ifdef FZ_ASAN
static void
fz_sanitizer_death (void)
{
  static const char pre[] = "\n*** sanitizer report while running: ";
  ssize_t r;
  r = write (2, pre, sizeof pre - 1);
  r = write (2, fz_current, strlen (fz_current));
  r = write (2, "\n", 1);
  (void) r;
}
#endif

static void __attribute__ ((unused))
fz_install_crash_handler (void)
{
#ifdef FZ_ASAN
  __sanitizer_set_death_callback (fz_sanitizer_death);
#endif
  signal (SIGABRT, fz_crash_handler);
  signal (SIGSEGV, fz_crash_handler);
  signal (SIGBUS, fz_crash_handler);
  signal (SIGPIPE, fz_crash_handler);
}

/* Run one iteration whose configuration is already filled in. */
static void
fz_run (struct fz_iter *it)
{
  snprintf (fz_current, sizeof fz_current, "%s", it->label);
  int sv[2];
  int fds_before = fz_count_fds ();

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    perror ("socketpair");
    exit (99);
  }
  if (fcntl (sv[1], F_SETFL, O_NONBLOCK) == -1) {
    perror ("fcntl");
    exit (99);
  }
  it->srv.fd = sv[1];
  it->srv.rng = &it->rng;
  it->h = test_create ();
  fz_setup_handle (it);
  fz_srv_start (&it->srv);
  if (nbd_aio_connect_socket (it->h, sv[0]) == -1) {
    ICHECK (it, false, "nbd_aio_connect_socket: %s", nbd_get_error ());
    close (sv[0]);
  }
  else
    fz_drive (it);

  fz_check_before_close (it);
  nbd_close (it->h);
  it->h = NULL;
  fz_check_after_close (it);
  if (it->unmutated && !it->hung)
    fz_check_unmutated (it);
  fz_check_expectation (it);

  fz_srv_free (&it->srv);
  int fds_after = fz_count_fds ();
  ICHECK (it, fds_before == fds_after, "file descriptors: %d before, %d after",
          fds_before, fds_after);
  for (int i = 0; i < it->ncmds; i++) {
    free (it->cmds[i].buf);
    it->cmds[i].buf = NULL;
  }
}

#endif
