/* Unit tests for the NBD wire codec (lib/wire).
 *
 * Encoders are compared byte for byte against messages written out by
 * hand from the protocol document; decoders are fed hand-written valid
 * messages and one example of every kind of malformation we guard
 * against.  A seeded random smoke test then throws a few hundred
 * thousand arbitrary (and some nearly valid) byte strings at every
 * decoder, each in a heap block of exactly the claimed size, so that a
 * build with -fsanitize=address,undefined catches any read past the end.
 *
 * Prints every failed check (tests/lib) and exits 1 if there was any. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "wire/wire.h"

/* Compares n bytes and, on a mismatch, shows both byte strings. */
static void
check_bytes (const uint8_t *got, const void *want, size_t n,
             const char *what, int line)
{
  if (!test_check_at (memcmp (got, want, n) == 0, __FILE__, line, "%s", what)) {
    fprintf (stderr, "  got: ");
    for (size_t i = 0; i < n; i++)
      fprintf (stderr, "%02x", got[i]);
    fprintf (stderr, "\n want:");
    for (size_t i = 0; i < n; i++)
      fprintf (stderr, "%02x", ((const uint8_t *) want)[i]);
    fprintf (stderr, "\n");
  }
}

#define CHECK_BYTES(got, want, n) \
  check_bytes ((got), (want), (n), #got " == " #want, __LINE__)

/* True when (ptr, len) is exactly the given bytes. */
static bool
str_is (const char *ptr, uint32_t len, const char *want)
{
  return len == strlen (want) && memcmp (ptr, want, len) == 0;
}

/* ---- byte order helpers ---- */

static void
test_endian (void)
{
  uint8_t buf[8];
  static const uint8_t be64[8] = { 0x01, 0x23, 0x45, 0x67,
                                   0x89, 0xab, 0xcd, 0xef };

  wire_put64 (buf, UINT64_C (0x0123456789abcdef));
  CHECK_BYTES (buf, be64, 8);
  CHECK (wire_get64 (be64) == UINT64_C (0x0123456789abcdef));
  CHECK (wire_get32 (be64 + 4) == UINT32_C (0x89abcdef));
  CHECK (wire_get16 (be64 + 6) == 0xcdef);
  wire_put32 (buf, UINT32_C (0xfedcba98));
  CHECK_BYTES (buf, "\xfe\xdc\xba\x98", 4);
  wire_put16 (buf, 0x8001);
  CHECK_BYTES (buf, "\x80\x01", 2);
}

/* ---- handshake ---- */

static void
test_greeting (void)
{
  struct wire_greeting g = { .oldstyle = true };
  static const uint8_t newstyle[16] = "NBDMAGIC" "IHAVEOPT";
  static const uint8_t oldstyle[16] = "NBDMAGIC"
    "\x00\x00\x42\x02\x81\x86\x12\x53";
  uint8_t bad[16];

  CHECK (wire_decode_greeting (newstyle, &g) == 0);
  CHECK (!g.oldstyle);
  CHECK (wire_decode_greeting (oldstyle, &g) == 0);
  CHECK (g.oldstyle);

  /* A corrupted byte anywhere in either magic is rejected. */
  for (size_t i = 0; i < 16; i++) {
    memcpy (bad, newstyle, 16);
    bad[i] ^= 0x20;
    CHECK (wire_decode_greeting (bad, &g) == WIRE_EMAGIC);
  }
  /* The option reply magic is not a valid second magic. */
  memcpy (bad, "NBDMAGIC" "\x00\x03\xe8\x89\x04\x55\x65\xa9", 16);
  CHECK (wire_decode_greeting (bad, &g) == WIRE_EMAGIC);
  /* Nor is IHAVEOPT in first position. */
  memcpy (bad, "IHAVEOPT" "IHAVEOPT", 16);
  CHECK (wire_decode_greeting (bad, &g) == WIRE_EMAGIC);
}

static void
test_export (void)
{
  struct wire_export e;
  /* The reply to NBD_OPT_EXPORT_NAME without NO_ZEROES: size 1 TiB + 5,
   * flags HAS_FLAGS|SEND_FLUSH|SEND_TRIM, then 124 zero bytes. */
  uint8_t reply[WIRE_EXPORT_NAME_REPLY_SIZE] = {
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x25,
  };

  wire_decode_export (reply, &e);
  CHECK (e.size == UINT64_C (0x10000000005));
  CHECK (e.eflags == (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
                      NBD_FLAG_SEND_TRIM));

  /* Bytes as nbdkit 1.32 sends them for `nbdkit -o -r memory 1M`:
   * size 1 MiB, 32-bit flags 0x00000507. */
  uint8_t old[WIRE_OLDSTYLE_REST_SIZE] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
    0x00, 0x00, 0x05, 0x07,
  };
  wire_decode_oldstyle (old, &e);
  CHECK (e.size == 1048576);
  CHECK (e.eflags == (NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY |
                      NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN |
                      NBD_FLAG_SEND_CACHE));
  /* The high half of the oldstyle flags never leaks into eflags. */
  old[8] = 0xff; old[9] = 0xff;
  wire_decode_oldstyle (old, &e);
  CHECK (e.eflags == 0x0507);
}

static void
test_option (void)
{
  uint8_t buf[WIRE_OPTION_SIZE + 4];
  static const uint8_t go[16] = "IHAVEOPT" "\x00\x00\x00\x07"
    "\x00\x01\x02\x03";
  static const uint8_t huge[16] = "IHAVEOPT" "\x80\x00\x00\x0b"
    "\xff\xff\xff\xff";

  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_option (buf, NBD_OPT_GO, 0x010203) == 16);
  CHECK_BYTES (buf, go, 16);
  CHECK_BYTES (buf + 16, "\xaa\xaa\xaa\xaa", 4);
  CHECK (wire_encode_option (buf, UINT32_C (0x8000000b), UINT32_MAX) == 16);
  CHECK_BYTES (buf, huge, 16);
}

static void
test_option_reply (void)
{
  struct wire_option_reply r = { 0, 0, 0 }, before;
  static const uint8_t err[20] =
    "\x00\x03\xe8\x89\x04\x55\x65\xa9"      /* NBD_REP_MAGIC */
    "\x00\x00\x00\x07"                      /* NBD_OPT_GO */
    "\x80\x00\x00\x02"                      /* NBD_REP_ERR_POLICY */
    "\x00\x00\x01\x02";                     /* length 258 */
  uint8_t bad[20];

  CHECK (wire_decode_option_reply (err, &r) == 0);
  CHECK (r.option == NBD_OPT_GO);
  CHECK (r.type == NBD_REP_ERR_POLICY);
  CHECK (r.length == 258);

  for (size_t i = 0; i < 8; i++) {
    memcpy (bad, err, 20);
    bad[i] ^= 0x01;
    before = r;
    CHECK (wire_decode_option_reply (bad, &r) == WIRE_EMAGIC);
    CHECK (memcmp (&r, &before, sizeof r) == 0);
  }
  /* The greeting magic is not an option reply magic. */
  memcpy (bad, "IHAVEOPT", 8);
  CHECK (wire_decode_option_reply (bad, &r) == WIRE_EMAGIC);
}

static void
test_encode_go (void)
{
  uint8_t buf[32];
  static const uint16_t infos[] = { NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE };
  static const uint8_t want[12] = "\x00\x00\x00\x02" "ab"
    "\x00\x02" "\x00\x01" "\x00\x03";

  CHECK (wire_encode_go (NULL, 0, "ab", infos, 2) == 12);

  /* One byte short: the size is reported and nothing is written. */
  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_go (buf, 11, "ab", infos, 2) == 12);
  CHECK (buf[0] == 0xaa && buf[11] == 0xaa);

  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_go (buf, 12, "ab", infos, 2) == 12);
  CHECK_BYTES (buf, want, 12);
  CHECK (buf[12] == 0xaa);

  /* Empty name, no info requests. */
  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_go (buf, sizeof buf, "", NULL, 0) == 6);
  CHECK_BYTES (buf, "\x00\x00\x00\x00\x00\x00\xaa", 7);

  /* A NULL buffer is never written even with a large out_size. */
  CHECK (wire_encode_go (NULL, 1000, "ab", infos, 2) == 12);
}

static void
test_encode_meta_context (void)
{
  uint8_t buf[64];
  static const char *const queries[] = {
    "base:allocation", "qemu:dirty-bitmap:b",
  };
  static const uint8_t want[52] =
    "\x00\x00\x00\x02" "ex"
    "\x00\x00\x00\x02"
    "\x00\x00\x00\x0f" "base:allocation"
    "\x00\x00\x00\x13" "qemu:dirty-bitmap:b";

  CHECK (wire_encode_meta_context (NULL, 0, "ex", queries, 2) == 52);

  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_meta_context (buf, 51, "ex", queries, 2) == 52);
  CHECK (buf[0] == 0xaa && buf[51] == 0xaa);

  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_meta_context (buf, sizeof buf, "ex", queries, 2) == 52);
  CHECK_BYTES (buf, want, 52);
  CHECK (buf[52] == 0xaa);

  /* No export name, no queries (list everything). */
  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_meta_context (buf, 8, "", NULL, 0) == 8);
  CHECK_BYTES (buf, "\x00\x00\x00\x00\x00\x00\x00\x00\xaa", 9);

  /* An empty query still costs its 4-byte length. */
  static const char *const empty[] = { "" };
  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_meta_context (buf, sizeof buf, "e", empty, 1) == 13);
  CHECK_BYTES (buf, "\x00\x00\x00\x01" "e" "\x00\x00\x00\x01"
               "\x00\x00\x00\x00" "\xaa", 14);
}

static void
test_rep_server (void)
{
  struct wire_rep_server s, before;
  static const uint8_t both[] = "\x00\x00\x00\x04" "disk" "my disk";
  static const uint8_t name_only[] = "\x00\x00\x00\x04" "disk";
  static const uint8_t empty[] = "\x00\x00\x00\x00";
  uint8_t bad[12];

  CHECK (wire_decode_rep_server (both, 15, &s) == 0);
  CHECK (str_is (s.name, s.name_len, "disk"));
  CHECK (str_is (s.desc, s.desc_len, "my disk"));
  CHECK (s.name == (const char *) both + 4);

  CHECK (wire_decode_rep_server (name_only, 8, &s) == 0);
  CHECK (str_is (s.name, s.name_len, "disk"));
  CHECK (s.desc_len == 0);

  CHECK (wire_decode_rep_server (empty, 4, &s) == 0);
  CHECK (s.name_len == 0 && s.desc_len == 0);

  /* Too short for the name length field. */
  before = s;
  for (uint32_t len = 0; len < 4; len++)
    CHECK (wire_decode_rep_server (empty, len, &s) == WIRE_ELENGTH);
  CHECK (memcmp (&s, &before, sizeof s) == 0);

  /* The name runs one byte past the payload. */
  CHECK (wire_decode_rep_server (name_only, 7, &s) == WIRE_ELENGTH);

  /* Name lengths chosen so that 4 + name_len wraps around 32 bits. */
  memcpy (bad, "\xff\xff\xff\xff" "abcdefgh", 12);
  CHECK (wire_decode_rep_server (bad, 12, &s) == WIRE_ELENGTH);
  memcpy (bad, "\xff\xff\xff\xfc" "abcdefgh", 12);
  CHECK (wire_decode_rep_server (bad, 12, &s) == WIRE_ELENGTH);
  memcpy (bad, "\x80\x00\x00\x00" "abcdefgh", 12);
  CHECK (wire_decode_rep_server (bad, 12, &s) == WIRE_ELENGTH);
}

static void
test_rep_info (void)
{
  struct wire_rep_info info, before;
  static const uint8_t export_info[12] = "\x00\x00"
    "\x00\x00\x00\x00\x40\x00\x00\x00"      /* size 1 GiB */
    "\x00\x03";                             /* HAS_FLAGS|READ_ONLY */
  static const uint8_t block_size[14] = "\x00\x03"
    "\x00\x00\x02\x00"                      /* minimum 512 */
    "\x00\x00\x10\x00"                      /* preferred 4096 */
    "\x02\x00\x00\x00";                     /* maximum 32 MiB */
  static uint8_t name[2 + NBD_MAX_STRING + 1];
  static const uint8_t unknown[8] = "\x00\x63" "abcdef";

  CHECK (wire_decode_rep_info (export_info, 12, &info) == 0);
  CHECK (info.type == NBD_INFO_EXPORT);
  CHECK (info.export.size == UINT64_C (1) << 30);
  CHECK (info.export.eflags == (NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY));
  CHECK (wire_decode_rep_info (export_info, 11, &info) == WIRE_ELENGTH);
  CHECK (wire_decode_rep_info (export_info, 10, &info) == WIRE_ELENGTH);
  CHECK (wire_decode_rep_info (export_info, 2, &info) == WIRE_ELENGTH);
  {
    uint8_t longer[13];
    memcpy (longer, export_info, 12);
    longer[12] = 0;
    CHECK (wire_decode_rep_info (longer, 13, &info) == WIRE_ELENGTH);
  }

  CHECK (wire_decode_rep_info (block_size, 14, &info) == 0);
  CHECK (info.type == NBD_INFO_BLOCK_SIZE);
  CHECK (info.min_block == 512);
  CHECK (info.pref_block == 4096);
  CHECK (info.max_block == 32 * 1024 * 1024);
  CHECK (wire_decode_rep_info (block_size, 13, &info) == WIRE_ELENGTH);
  {
    uint8_t longer[15];
    memcpy (longer, block_size, 14);
    longer[14] = 0;
    CHECK (wire_decode_rep_info (longer, 15, &info) == WIRE_ELENGTH);
  }

  /* NAME and DESCRIPTION: the string is the rest, from empty up to
   * NBD_MAX_STRING bytes. */
  for (uint16_t type = NBD_INFO_NAME; type <= NBD_INFO_DESCRIPTION; type++) {
    memset (name, 'x', sizeof name);
    wire_put16 (name, type);
    memcpy (name + 2, "export", 6);
    CHECK (wire_decode_rep_info (name, 8, &info) == 0);
    CHECK (info.type == type);
    CHECK (str_is (info.str, info.str_len, "export"));
    CHECK (info.str == (const char *) name + 2);
    CHECK (wire_decode_rep_info (name, 2, &info) == 0);
    CHECK (info.str_len == 0);
    CHECK (wire_decode_rep_info (name, 2 + NBD_MAX_STRING, &info) == 0);
    CHECK (info.str_len == NBD_MAX_STRING);
    CHECK (wire_decode_rep_info (name, 2 + NBD_MAX_STRING + 1, &info)
           == WIRE_ELENGTH);
    CHECK (wire_decode_rep_info (name, UINT32_MAX, &info) == WIRE_ELENGTH);
  }

  /* Unknown types are accepted with only the type filled in. */
  memset (&info, 0x55, sizeof info);
  CHECK (wire_decode_rep_info (unknown, 8, &info) == 0);
  CHECK (info.type == 0x63);
  CHECK (info.export.size == 0 && info.export.eflags == 0);
  CHECK (info.str == NULL && info.str_len == 0);
  CHECK (info.min_block == 0 && info.pref_block == 0 && info.max_block == 0);
  CHECK (wire_decode_rep_info (unknown, 2, &info) == 0);
  CHECK (info.type == 0x63);

  /* Too short for the type, whatever the type. */
  before = info;
  CHECK (wire_decode_rep_info (unknown, 1, &info) == WIRE_ELENGTH);
  CHECK (wire_decode_rep_info (unknown, 0, &info) == WIRE_ELENGTH);
  CHECK (memcmp (&info, &before, sizeof info) == 0);
}

static void
test_rep_meta_context (void)
{
  struct wire_rep_meta_context m, before;
  static const uint8_t ctx[] = "\x00\x00\x00\x2a" "base:allocation";
  static uint8_t big[4 + NBD_MAX_STRING + 1];

  CHECK (wire_decode_rep_meta_context (ctx, 19, &m) == 0);
  CHECK (m.id == 42);
  CHECK (str_is (m.name, m.name_len, "base:allocation"));

  CHECK (wire_decode_rep_meta_context (ctx, 4, &m) == 0);
  CHECK (m.id == 42 && m.name_len == 0);

  before = m;
  for (uint32_t len = 0; len < 4; len++)
    CHECK (wire_decode_rep_meta_context (ctx, len, &m) == WIRE_ELENGTH);
  CHECK (memcmp (&m, &before, sizeof m) == 0);

  memset (big, 'a', sizeof big);
  CHECK (wire_decode_rep_meta_context (big, 4 + NBD_MAX_STRING, &m) == 0);
  CHECK (m.id == 0x61616161 && m.name_len == NBD_MAX_STRING);
  CHECK (wire_decode_rep_meta_context (big, 4 + NBD_MAX_STRING + 1, &m)
         == WIRE_ELENGTH);
  CHECK (wire_decode_rep_meta_context (big, UINT32_MAX, &m) == WIRE_ELENGTH);
}

/* ---- transmission ---- */

static void
test_request (void)
{
  uint8_t buf[40];
  static const uint8_t read_fua[28] =
    "\x25\x60\x95\x13"                      /* NBD_REQUEST_MAGIC */
    "\x00\x01"                              /* NBD_CMD_FLAG_FUA */
    "\x00\x00"                              /* NBD_CMD_READ */
    "\x01\x02\x03\x04\x05\x06\x07\x08"      /* cookie */
    "\x11\x22\x33\x44\x55\x66\x77\x88"      /* offset */
    "\x00\x00\x10\x00";                     /* length 4096 */
  static const uint8_t bs_ext[32] =
    "\x21\xe4\x1c\x71"                      /* extended magic */
    "\x00\x28"                              /* REQ_ONE|PAYLOAD_LEN */
    "\x00\x07"                              /* NBD_CMD_BLOCK_STATUS */
    "\xff\xee\xdd\xcc\xbb\xaa\x99\x88"
    "\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x01\x00\x00\x00\x00";     /* length 4 GiB */

  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_request (buf, false, NBD_CMD_FLAG_FUA, NBD_CMD_READ,
                              UINT64_C (0x0102030405060708),
                              UINT64_C (0x1122334455667788), 4096) == 28);
  CHECK_BYTES (buf, read_fua, 28);
  CHECK_BYTES (buf + 28, "\xaa\xaa\xaa\xaa", 4);

  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_request (buf, true,
                              NBD_CMD_FLAG_REQ_ONE | NBD_CMD_FLAG_PAYLOAD_LEN,
                              NBD_CMD_BLOCK_STATUS,
                              UINT64_C (0xffeeddccbbaa9988), 0,
                              UINT64_C (1) << 32) == 32);
  CHECK_BYTES (buf, bs_ext, 32);
  CHECK_BYTES (buf + 32, "\xaa\xaa\xaa\xaa", 4);

  /* A disconnect: everything but the magic and type is zero. */
  memset (buf, 0xaa, sizeof buf);
  CHECK (wire_encode_request (buf, false, 0, NBD_CMD_DISC, 0, 0, 0) == 28);
  CHECK_BYTES (buf, "\x25\x60\x95\x13\x00\x00\x00\x02"
               "\x00\x00\x00\x00\x00\x00\x00\x00"
               "\x00\x00\x00\x00\x00\x00\x00\x00"
               "\x00\x00\x00\x00", 28);
}

static void
test_reply (void)
{
  struct wire_reply r, before;
  static const uint8_t simple[16] =
    "\x67\x44\x66\x98" "\x00\x00\x00\x05"   /* EIO */
    "\x00\x00\x00\x00\x00\x00\x00\x09";
  static const uint8_t structured[20] =
    "\x66\x8e\x33\xef" "\x00\x01" "\x00\x01" /* DONE, OFFSET_DATA */
    "\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11"
    "\x00\x01\x00\x08";
  static const uint8_t extended[32] =
    "\x6e\x8a\x27\x8c" "\x00\x00" "\x00\x06" /* BLOCK_STATUS_EXT */
    "\x00\x00\x00\x00\x00\x00\x00\x01"
    "\x00\x00\x00\x00\x00\x10\x00\x00"
    "\x00\x00\x00\x01\x00\x00\x00\x18";
  /* The request magic must not be taken for a reply. */
  static const uint8_t request[4] = "\x25\x60\x95\x13";

  CHECK (wire_reply_size (simple) == WIRE_SIMPLE_REPLY_SIZE);
  CHECK (wire_reply_size (structured) == WIRE_STRUCTURED_REPLY_SIZE);
  CHECK (wire_reply_size (extended) == WIRE_EXTENDED_REPLY_SIZE);
  CHECK (wire_reply_size (request) == WIRE_EMAGIC);
  CHECK (wire_reply_size ((const uint8_t *) "\0\0\0\0") == WIRE_EMAGIC);

  memset (&r, 0x55, sizeof r);
  CHECK (wire_decode_reply (simple, &r) == 0);
  CHECK (r.magic == NBD_SIMPLE_REPLY_MAGIC);
  CHECK (r.error == NBD_EIO);
  CHECK (r.cookie == 9);
  CHECK (r.flags == 0 && r.type == NBD_REPLY_TYPE_NONE);
  CHECK (r.offset == 0 && r.length == 0);

  memset (&r, 0x55, sizeof r);
  CHECK (wire_decode_reply (structured, &r) == 0);
  CHECK (r.magic == NBD_STRUCTURED_REPLY_MAGIC);
  CHECK (r.flags == NBD_REPLY_FLAG_DONE);
  CHECK (r.type == NBD_REPLY_TYPE_OFFSET_DATA);
  CHECK (r.cookie == UINT64_C (0x0a0b0c0d0e0f1011));
  CHECK (r.length == 0x10008);
  CHECK (r.error == 0 && r.offset == 0);

  memset (&r, 0x55, sizeof r);
  CHECK (wire_decode_reply (extended, &r) == 0);
  CHECK (r.magic == NBD_EXTENDED_REPLY_MAGIC);
  CHECK (r.flags == 0);
  CHECK (r.type == NBD_REPLY_TYPE_BLOCK_STATUS_EXT);
  CHECK (r.cookie == 1);
  CHECK (r.offset == 0x100000);
  CHECK (r.length == UINT64_C (0x100000018));
  CHECK (r.error == 0);

  before = r;
  CHECK (wire_decode_reply (request, &r) == WIRE_EMAGIC);
  CHECK (memcmp (&r, &before, sizeof r) == 0);
}

static void
test_chunk_error (void)
{
  struct wire_chunk_error e, before;
  static const uint8_t error[] = "\x00\x00\x00\x1c" "\x00\x04" "full";
  static const uint8_t error_offset[] = "\x00\x00\x00\x05" "\x00\x02" "io"
    "\x00\x00\x00\x00\x00\x00\x02\x00";
  static const uint8_t no_msg[] = "\x00\x00\x00\x16" "\x00\x00";
  static const uint8_t zero_error[] = "\x00\x00\x00\x00" "\x00\x00";
  static const uint8_t huge_msg[] = "\x00\x00\x00\x05" "\xff\xff" "abcdefgh";
  static const uint8_t future[] = "\x00\x00\x00\x05" "\x00\x01" "x" "extra";

  CHECK (wire_decode_chunk_error (error, 10, NBD_REPLY_TYPE_ERROR, &e) == 0);
  CHECK (e.error == NBD_ENOSPC);
  CHECK (str_is (e.msg, e.msg_len, "full"));
  CHECK (e.offset == 0);

  CHECK (wire_decode_chunk_error (no_msg, 6, NBD_REPLY_TYPE_ERROR, &e) == 0);
  CHECK (e.error == NBD_EINVAL && e.msg_len == 0);

  CHECK (wire_decode_chunk_error (error_offset, 16,
                                  NBD_REPLY_TYPE_ERROR_OFFSET, &e) == 0);
  CHECK (e.error == NBD_EIO);
  CHECK (str_is (e.msg, e.msg_len, "io"));
  CHECK (e.offset == 512);

  /* Error number zero is decoded as sent: the client judges it. */
  CHECK (wire_decode_chunk_error (zero_error, 6, NBD_REPLY_TYPE_ERROR, &e) == 0);
  CHECK (e.error == 0 && e.msg_len == 0);

  CHECK (wire_decode_chunk_error (error_offset, 16,
                                  NBD_REPLY_TYPE_ERROR_OFFSET, &e) == 0);
  before = e;
  /* Shorter than error + message length. */
  for (uint64_t len = 0; len < 6; len++)
    CHECK (wire_decode_chunk_error (error, len, NBD_REPLY_TYPE_ERROR, &e)
           == WIRE_ELENGTH);
  /* The message runs past the payload. */
  CHECK (wire_decode_chunk_error (error, 9, NBD_REPLY_TYPE_ERROR, &e)
         == WIRE_ELENGTH);
  CHECK (wire_decode_chunk_error (huge_msg, 14, NBD_REPLY_TYPE_ERROR, &e)
         == WIRE_ELENGTH);
  CHECK (wire_decode_chunk_error (huge_msg, 14, NBD_REPLY_TYPE_ERROR_OFFSET,
                                  &e) == WIRE_ELENGTH);
  CHECK (wire_decode_chunk_error (huge_msg, 14, 0x8007, &e) == WIRE_ELENGTH);
  /* Trailing bytes after an ERROR message. */
  CHECK (wire_decode_chunk_error (error, 11, NBD_REPLY_TYPE_ERROR, &e)
         == WIRE_ELENGTH);
  /* ERROR_OFFSET without (or with a short, or too long) offset. */
  CHECK (wire_decode_chunk_error (error_offset, 8,
                                  NBD_REPLY_TYPE_ERROR_OFFSET, &e)
         == WIRE_ELENGTH);
  CHECK (wire_decode_chunk_error (error_offset, 15,
                                  NBD_REPLY_TYPE_ERROR_OFFSET, &e)
         == WIRE_ELENGTH);
  CHECK (wire_decode_chunk_error (error_offset, 17,
                                  NBD_REPLY_TYPE_ERROR_OFFSET, &e)
         == WIRE_ELENGTH);
  /* Not an error chunk type at all. */
  CHECK (wire_decode_chunk_error (error, 10, NBD_REPLY_TYPE_OFFSET_DATA, &e)
         == WIRE_EVALUE);
  CHECK (memcmp (&e, &before, sizeof e) == 0);

  /* An error type from the future: its own fields after the message
   * are skipped, but the message must still fit. */
  CHECK (wire_decode_chunk_error (future, 12, 0x8007, &e) == 0);
  CHECK (e.error == NBD_EIO && str_is (e.msg, e.msg_len, "x"));
  CHECK (wire_decode_chunk_error (future, 7, 0x8007, &e) == 0);
  CHECK (wire_decode_chunk_error (future, 6, 0x8007, &e) == WIRE_ELENGTH);
}

static void
test_chunk_hole (void)
{
  uint64_t offset = 7, len = 7;
  static const uint8_t compact[12] =
    "\x00\x00\x00\x00\x00\x01\x00\x00" "\x00\x00\x80\x00";
  static const uint8_t wide[16] =
    "\x00\x00\x00\x00\x00\x01\x00\x00"
    "\x00\x00\x00\x02\x00\x00\x00\x00";
  static const uint8_t zero[16] = "\x00\x00\x00\x00\x00\x01\x00\x00";

  CHECK (wire_decode_chunk_hole (compact, 12, false, &offset, &len) == 0);
  CHECK (offset == 0x10000 && len == 0x8000);

  /* The spec keeps the 12-byte layout under extended headers. */
  offset = len = 7;
  CHECK (wire_decode_chunk_hole (compact, 12, true, &offset, &len) == 0);
  CHECK (offset == 0x10000 && len == 0x8000);

  offset = len = 7;
  CHECK (wire_decode_chunk_hole (wide, 16, true, &offset, &len) == 0);
  CHECK (offset == 0x10000 && len == UINT64_C (0x200000000));

  offset = len = 7;
  CHECK (wire_decode_chunk_hole (wide, 16, false, &offset, &len)
         == WIRE_ELENGTH);
  for (uint64_t l = 0; l < 12; l++) {
    CHECK (wire_decode_chunk_hole (wide, l, false, &offset, &len)
           == WIRE_ELENGTH);
    CHECK (wire_decode_chunk_hole (wide, l, true, &offset, &len)
           == WIRE_ELENGTH);
  }
  CHECK (wire_decode_chunk_hole (wide, 13, true, &offset, &len)
         == WIRE_ELENGTH);
  CHECK (wire_decode_chunk_hole (wide, 15, true, &offset, &len)
         == WIRE_ELENGTH);
  CHECK (wire_decode_chunk_hole (wide, UINT64_MAX, true, &offset, &len)
         == WIRE_ELENGTH);
  CHECK (wire_decode_chunk_hole (zero, 12, false, &offset, &len)
         == WIRE_EVALUE);
  CHECK (wire_decode_chunk_hole (zero, 16, true, &offset, &len)
         == WIRE_EVALUE);
  CHECK (offset == 7 && len == 7);
}

static void
test_block_status (void)
{
  uint32_t id = 0;
  uint64_t len, flags;
  static const uint8_t compact[20] =
    "\x00\x00\x00\x03"                      /* context id */
    "\x00\x00\x10\x00" "\x00\x00\x00\x01"   /* 4096, HOLE */
    "\xff\xff\xf0\x00" "\x80\x00\x00\x03";
  static const uint8_t ext[40] =
    "\x00\x00\x00\x04" "\x00\x00\x00\x02"   /* context id, count */
    "\x00\x00\x00\x01\x00\x00\x00\x00" "\x00\x00\x00\x00\x00\x00\x00\x03"
    "\x00\x00\x00\x00\x00\x00\x02\x00" "\x80\x00\x00\x00\x00\x00\x00\x01";
  uint8_t bad[40];

  CHECK (wire_decode_block_status (compact, 20, false, &id) == 2);
  CHECK (id == 3);
  wire_block_descriptor (compact, false, 0, &len, &flags);
  CHECK (len == 4096 && flags == 1);
  wire_block_descriptor (compact, false, 1, &len, &flags);
  CHECK (len == UINT32_C (0xfffff000) && flags == UINT32_C (0x80000003));
  CHECK (wire_decode_block_status (compact, 12, false, &id) == 1);

  CHECK (wire_decode_block_status (ext, 40, true, &id) == 2);
  CHECK (id == 4);
  wire_block_descriptor (ext, true, 0, &len, &flags);
  CHECK (len == UINT64_C (0x100000000) && flags == 3);
  wire_block_descriptor (ext, true, 1, &len, &flags);
  CHECK (len == 512 && flags == UINT64_C (0x8000000000000001));

  id = 99;
  /* Compact: no descriptor at all, partial descriptors, header only. */
  for (uint64_t l = 0; l < 12; l++)
    CHECK (wire_decode_block_status (compact, l, false, &id) == WIRE_ELENGTH);
  for (uint64_t l = 13; l < 20; l++)
    CHECK (wire_decode_block_status (compact, l, false, &id) == WIRE_ELENGTH);
  CHECK (wire_decode_block_status (compact, UINT64_MAX, false, &id)
         == WIRE_ELENGTH);

  /* Extended: partial descriptors, header only. */
  for (uint64_t l = 0; l < 24; l++)
    CHECK (wire_decode_block_status (ext, l, true, &id) == WIRE_ELENGTH);
  for (uint64_t l = 25; l < 40; l++)
    CHECK (wire_decode_block_status (ext, l, true, &id) == WIRE_ELENGTH);
  /* The count disagrees with the length. */
  CHECK (wire_decode_block_status (ext, 24, true, &id) == WIRE_ELENGTH);
  memcpy (bad, ext, 40);
  wire_put32 (bad + 4, 3);
  CHECK (wire_decode_block_status (bad, 40, true, &id) == WIRE_ELENGTH);
  wire_put32 (bad + 4, 0);
  CHECK (wire_decode_block_status (bad, 8, true, &id) == WIRE_ELENGTH);
  CHECK (wire_decode_block_status (bad, 40, true, &id) == WIRE_ELENGTH);
  /* A count that matches the length modulo 2^32 is still wrong. */
  wire_put32 (bad + 4, UINT32_MAX);
  CHECK (wire_decode_block_status (bad, 40, true, &id) == WIRE_ELENGTH);
  CHECK (id == 99);
}

static void
test_errno (void)
{
  CHECK (wire_nbd_errno (NBD_SUCCESS) == 0);
  CHECK (wire_nbd_errno (NBD_EPERM) == EPERM);
  CHECK (wire_nbd_errno (NBD_EIO) == EIO);
  CHECK (wire_nbd_errno (NBD_ENOMEM) == ENOMEM);
  CHECK (wire_nbd_errno (NBD_EINVAL) == EINVAL);
  CHECK (wire_nbd_errno (NBD_ENOSPC) == ENOSPC);
  CHECK (wire_nbd_errno (NBD_EOVERFLOW) == EOVERFLOW);
  CHECK (wire_nbd_errno (NBD_ENOTSUP) == ENOTSUP);
  CHECK (wire_nbd_errno (NBD_ESHUTDOWN) == ESHUTDOWN);
  /* Host errno values that are not NBD errors are not passed through. */
  CHECK (wire_nbd_errno (2) == EINVAL);     /* ENOENT on Linux */
  CHECK (wire_nbd_errno (13) == EINVAL);    /* EACCES on Linux */
  CHECK (wire_nbd_errno (UINT32_MAX) == EINVAL);
}

static void
test_names (void)
{
#define CHECK_NAME(fn, value, want) CHECK (strcmp (fn (value), want) == 0)
  CHECK_NAME (wire_option_name, 1, "NBD_OPT_EXPORT_NAME");
  CHECK_NAME (wire_option_name, 2, "NBD_OPT_ABORT");
  CHECK_NAME (wire_option_name, 3, "NBD_OPT_LIST");
  CHECK_NAME (wire_option_name, 5, "NBD_OPT_STARTTLS");
  CHECK_NAME (wire_option_name, 6, "NBD_OPT_INFO");
  CHECK_NAME (wire_option_name, 7, "NBD_OPT_GO");
  CHECK_NAME (wire_option_name, 8, "NBD_OPT_STRUCTURED_REPLY");
  CHECK_NAME (wire_option_name, 9, "NBD_OPT_LIST_META_CONTEXT");
  CHECK_NAME (wire_option_name, 10, "NBD_OPT_SET_META_CONTEXT");
  CHECK_NAME (wire_option_name, 11, "NBD_OPT_EXTENDED_HEADERS");
  CHECK_NAME (wire_option_name, 0, "unknown");
  CHECK_NAME (wire_option_name, 4, "unknown");
  CHECK_NAME (wire_option_name, 12, "unknown");

  CHECK_NAME (wire_reply_name, 1, "NBD_REP_ACK");
  CHECK_NAME (wire_reply_name, 2, "NBD_REP_SERVER");
  CHECK_NAME (wire_reply_name, 3, "NBD_REP_INFO");
  CHECK_NAME (wire_reply_name, 4, "NBD_REP_META_CONTEXT");
  CHECK_NAME (wire_reply_name, 0x80000001, "NBD_REP_ERR_UNSUP");
  CHECK_NAME (wire_reply_name, 0x80000002, "NBD_REP_ERR_POLICY");
  CHECK_NAME (wire_reply_name, 0x80000003, "NBD_REP_ERR_INVALID");
  CHECK_NAME (wire_reply_name, 0x80000004, "NBD_REP_ERR_PLATFORM");
  CHECK_NAME (wire_reply_name, 0x80000005, "NBD_REP_ERR_TLS_REQD");
  CHECK_NAME (wire_reply_name, 0x80000006, "NBD_REP_ERR_UNKNOWN");
  CHECK_NAME (wire_reply_name, 0x80000007, "NBD_REP_ERR_SHUTDOWN");
  CHECK_NAME (wire_reply_name, 0x80000008, "NBD_REP_ERR_BLOCK_SIZE_REQD");
  CHECK_NAME (wire_reply_name, 0x80000009, "NBD_REP_ERR_TOO_BIG");
  CHECK_NAME (wire_reply_name, 0x8000000a, "NBD_REP_ERR_EXT_HEADER_REQD");
  CHECK_NAME (wire_reply_name, 0, "unknown");
  CHECK_NAME (wire_reply_name, 5, "unknown");
  CHECK_NAME (wire_reply_name, 0x80000000, "unknown");
  CHECK_NAME (wire_reply_name, 0x8000000b, "unknown");

  CHECK_NAME (wire_command_name, 0, "NBD_CMD_READ");
  CHECK_NAME (wire_command_name, 1, "NBD_CMD_WRITE");
  CHECK_NAME (wire_command_name, 2, "NBD_CMD_DISC");
  CHECK_NAME (wire_command_name, 3, "NBD_CMD_FLUSH");
  CHECK_NAME (wire_command_name, 4, "NBD_CMD_TRIM");
  CHECK_NAME (wire_command_name, 5, "NBD_CMD_CACHE");
  CHECK_NAME (wire_command_name, 6, "NBD_CMD_WRITE_ZEROES");
  CHECK_NAME (wire_command_name, 7, "NBD_CMD_BLOCK_STATUS");
  CHECK_NAME (wire_command_name, 8, "unknown");
  CHECK_NAME (wire_command_name, 0xffff, "unknown");

  CHECK_NAME (wire_chunk_name, 0, "NBD_REPLY_TYPE_NONE");
  CHECK_NAME (wire_chunk_name, 1, "NBD_REPLY_TYPE_OFFSET_DATA");
  CHECK_NAME (wire_chunk_name, 2, "NBD_REPLY_TYPE_OFFSET_HOLE");
  CHECK_NAME (wire_chunk_name, 5, "NBD_REPLY_TYPE_BLOCK_STATUS");
  CHECK_NAME (wire_chunk_name, 6, "NBD_REPLY_TYPE_BLOCK_STATUS_EXT");
  CHECK_NAME (wire_chunk_name, 0x8001, "NBD_REPLY_TYPE_ERROR");
  CHECK_NAME (wire_chunk_name, 0x8002, "NBD_REPLY_TYPE_ERROR_OFFSET");
  CHECK_NAME (wire_chunk_name, 3, "unknown");
  CHECK_NAME (wire_chunk_name, 0x8000, "unknown");
#undef CHECK_NAME
}

/* ---- random smoke test ---- */

#define FUZZ_ITERATIONS 300000

static uint64_t rng_state = UINT64_C (0x9e3779b97f4a7c15);

/* xorshift64*: fixed seed, so a failure reproduces exactly. */
static uint64_t
rnd (void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * UINT64_C (0x2545f4914f6cdd1d);
}

/* Mostly short lengths, where the boundaries are, with some long
 * enough to cross NBD_MAX_STRING. */
static size_t
fuzz_length (void)
{
  uint64_t r = rnd () % 100;

  if (r < 70)
    return rnd () % 40;
  if (r < 90)
    return rnd () % 600;
  return rnd () % (NBD_MAX_STRING + 200);
}

/* A heap block of exactly len random bytes, so that the sanitizer sees
 * a read of even one byte past the end. */
static uint8_t *
fuzz_bytes (size_t len)
{
  uint8_t *p = malloc (len ? len : 1);

  if (p == NULL) {
    perror ("malloc");
    exit (2);
  }
  for (size_t i = 0; i < len; i++)
    p[i] = (uint8_t) rnd ();
  /* For len 0, hand out a pointer to the end of the 1-byte block so any
   * read through it is out of bounds. */
  return len ? p : p + 1;
}

static void
fuzz_free (uint8_t *p, size_t len)
{
  free (len ? p : p - 1);
}

/* Reading every byte of a decoded string makes the sanitizer check that
 * the range really lies inside the input. */
static volatile unsigned sink;

static bool
range_inside (const void *ptr, uint64_t len, const uint8_t *in,
              uint64_t in_len)
{
  const uint8_t *p = ptr;

  if (p < in || p > in + in_len || len > (uint64_t) (in + in_len - p))
    return false;
  for (uint64_t i = 0; i < len; i++)
    sink += p[i];
  return true;
}

/* Accepted and rejected counts per decoder: a smoke test that never
 * reached the accepting path would prove little. */
enum {
  D_GREETING, D_OPTION_REPLY, D_REP_SERVER, D_REP_INFO, D_META_CONTEXT,
  D_REPLY, D_CHUNK_ERROR, D_HOLE, D_BLOCK_STATUS, D_BLOCK_STATUS_EXT,
  D_COUNT
};
static const char *const decoder_names[D_COUNT] = {
  "greeting", "option_reply", "rep_server", "rep_info", "meta_context",
  "reply", "chunk_error", "chunk_hole", "block_status",
  "block_status_ext",
};
static unsigned long accepted[D_COUNT], rejected[D_COUNT];

static void
tally (int which, bool ok)
{
  if (ok)
    accepted[which]++;
  else
    rejected[which]++;
}

/* Nudges a random buffer towards validity for one decoder, so that the
 * length checks are tried right at their boundaries. */
static void
make_plausible (uint8_t *in, size_t len, int target)
{
  static const uint16_t error_types[] = {
    NBD_REPLY_TYPE_ERROR, NBD_REPLY_TYPE_ERROR_OFFSET, 0x8007,
  };
  int delta = (int) (rnd () % 5) - 2;

  switch (target) {
  case D_REP_SERVER:
    if (len >= 4)
      wire_put32 (in, (uint32_t) (len - 4 + delta));
    break;
  case D_REP_INFO:
    if (len >= 2)
      wire_put16 (in, (uint16_t) (rnd () % 6));
    break;
  case D_CHUNK_ERROR:
    if (len >= 6) {
      uint16_t type = error_types[rnd () % 3];
      size_t tail = type == NBD_REPLY_TYPE_ERROR_OFFSET ? 14 : 6;
      wire_put16 (in + 4, (uint16_t) (len - tail + delta));
      if (rnd () % 8 == 0)
        wire_put32 (in, 0);
    }
    break;
  case D_HOLE:
    if (len >= 12 && rnd () % 4 == 0)
      memset (in + 8, 0, len - 8);
    break;
  case D_BLOCK_STATUS_EXT:
    /* Usually the right count, sometimes off by up to two. */
    if (len >= 8) {
      uint64_t count = (len - 8) / 16;
      if (rnd () % 4 == 0)
        count += delta;
      wire_put32 (in + 4, (uint32_t) count);
    }
    break;
  }
}

/* A length at or next to one the target decoder accepts. */
static size_t
plausible_length (int target)
{
  size_t near_miss = rnd () % 4 == 0 ? 1 + rnd () % 7 : 0;

  switch (target) {
  case D_HOLE:
    return rnd () % 2 ? 12 : 16;
  case D_BLOCK_STATUS:
    return 4 + 8 * (rnd () % 40) + near_miss;
  case D_BLOCK_STATUS_EXT:
    return 8 + 16 * (rnd () % 20) + 2 * near_miss;
  case D_REP_INFO:
    /* EXPORT and BLOCK_SIZE sizes, and one byte either side. */
    return (rnd () % 2 ? 12 : 14) + rnd () % 3 - 1;
  default:
    return fuzz_length ();
  }
}

static void
fuzz_payload_decoders (void)
{
  int target = (int) (rnd () % D_COUNT);
  bool plausible = rnd () % 2;
  size_t len = plausible ? plausible_length (target) : fuzz_length ();
  uint8_t *in = fuzz_bytes (len);
  struct wire_rep_server srv;
  struct wire_rep_info info;
  struct wire_rep_meta_context meta;
  struct wire_chunk_error err;
  uint64_t off, hole;
  uint32_t id;
  int64_t n;
  int r;

  if (plausible)
    make_plausible (in, len, target);

  r = wire_decode_rep_server (in, (uint32_t) len, &srv);
  CHECK (r == 0 || r == WIRE_ELENGTH);
  tally (D_REP_SERVER, r == 0);
  if (r == 0) {
    CHECK (range_inside (srv.name, srv.name_len, in, len));
    CHECK (range_inside (srv.desc, srv.desc_len, in, len));
    CHECK (4 + (uint64_t) srv.name_len + srv.desc_len == len);
  }

  r = wire_decode_rep_info (in, (uint32_t) len, &info);
  CHECK (r == 0 || r == WIRE_ELENGTH);
  tally (D_REP_INFO, r == 0);
  if (r == 0) {
    CHECK (info.type == wire_get16 (in));
    if (info.type == NBD_INFO_NAME || info.type == NBD_INFO_DESCRIPTION) {
      CHECK (range_inside (info.str, info.str_len, in, len));
      CHECK (info.str_len <= NBD_MAX_STRING);
    }
    else
      CHECK (info.str == NULL && info.str_len == 0);
    if (info.type == NBD_INFO_EXPORT)
      CHECK (len == 12);
    if (info.type == NBD_INFO_BLOCK_SIZE)
      CHECK (len == 14);
  }

  r = wire_decode_rep_meta_context (in, (uint32_t) len, &meta);
  CHECK (r == 0 || r == WIRE_ELENGTH);
  tally (D_META_CONTEXT, r == 0);
  if (r == 0) {
    CHECK (range_inside (meta.name, meta.name_len, in, len));
    CHECK (meta.name_len + 4 == len && meta.name_len <= NBD_MAX_STRING);
  }

  static const uint16_t chunk_types[] = {
    NBD_REPLY_TYPE_ERROR, NBD_REPLY_TYPE_ERROR_OFFSET, 0x8007,
    NBD_REPLY_TYPE_OFFSET_HOLE,
  };
  for (size_t t = 0; t < 4; t++) {
    r = wire_decode_chunk_error (in, len, chunk_types[t], &err);
    CHECK (r == 0 || r == WIRE_ELENGTH || r == WIRE_EVALUE);
    tally (D_CHUNK_ERROR, r == 0);
    if (r == 0) {
      CHECK (err.error == wire_get32 (in));
      CHECK (range_inside (err.msg, err.msg_len, in, len));
      if (chunk_types[t] == NBD_REPLY_TYPE_ERROR)
        CHECK (6 + (uint64_t) err.msg_len == len);
      else if (chunk_types[t] == NBD_REPLY_TYPE_ERROR_OFFSET)
        CHECK (14 + (uint64_t) err.msg_len == len);
      else
        CHECK (chunk_types[t] & NBD_REPLY_TYPE_ERROR_BIT);
    }
  }

  for (int extended = 0; extended <= 1; extended++) {
    r = wire_decode_chunk_hole (in, len, extended, &off, &hole);
    CHECK (r == 0 || r == WIRE_ELENGTH || r == WIRE_EVALUE);
    tally (D_HOLE, r == 0);
    if (r == 0)
      CHECK (hole != 0 && (len == 12 || (extended && len == 16)));

    n = wire_decode_block_status (in, len, extended, &id);
    CHECK (n > 0 || n == WIRE_ELENGTH);
    tally (extended ? D_BLOCK_STATUS_EXT : D_BLOCK_STATUS, n > 0);
    if (n > 0) {
      CHECK ((uint64_t) n * (extended ? 16 : 8) + (extended ? 8 : 4) == len);
      CHECK (id == wire_get32 (in));
      for (int64_t i = 0; i < n; i++) {
        uint64_t dlen, dflags;
        wire_block_descriptor (in, extended, (size_t) i, &dlen, &dflags);
        sink += (unsigned) (dlen ^ dflags);
      }
    }
  }

  fuzz_free (in, len);
}

static void
fuzz_fixed_decoders (void)
{
  static const uint32_t reply_magics[] = {
    NBD_SIMPLE_REPLY_MAGIC, NBD_STRUCTURED_REPLY_MAGIC,
    NBD_EXTENDED_REPLY_MAGIC,
  };
  uint8_t *in;
  int r, size;

  /* Greeting: each magic right about half the time. */
  in = fuzz_bytes (WIRE_GREETING_SIZE);
  if (rnd () % 2)
    wire_put64 (in, NBD_MAGIC);
  if (rnd () % 2)
    wire_put64 (in + 8, rnd () % 2 ? NBD_OPT_MAGIC : NBD_OLDSTYLE_MAGIC);
  {
    struct wire_greeting g;
    bool valid = wire_get64 (in) == NBD_MAGIC &&
      (wire_get64 (in + 8) == NBD_OPT_MAGIC ||
       wire_get64 (in + 8) == NBD_OLDSTYLE_MAGIC);
    r = wire_decode_greeting (in, &g);
    CHECK (r == (valid ? 0 : WIRE_EMAGIC));
    if (r == 0)
      CHECK (g.oldstyle == (wire_get64 (in + 8) == NBD_OLDSTYLE_MAGIC));
    tally (D_GREETING, r == 0);
  }
  fuzz_free (in, WIRE_GREETING_SIZE);

  in = fuzz_bytes (WIRE_OPTION_REPLY_SIZE);
  if (rnd () % 2)
    wire_put64 (in, NBD_REP_MAGIC);
  {
    struct wire_option_reply o;
    r = wire_decode_option_reply (in, &o);
    CHECK (r == (wire_get64 (in) == NBD_REP_MAGIC ? 0 : WIRE_EMAGIC));
    if (r == 0)
      CHECK (o.option == wire_get32 (in + 8) && o.type == wire_get32 (in + 12)
             && o.length == wire_get32 (in + 16));
    tally (D_OPTION_REPLY, r == 0);
  }
  fuzz_free (in, WIRE_OPTION_REPLY_SIZE);

  in = fuzz_bytes (10);
  {
    struct wire_export e;
    wire_decode_export (in, &e);
    CHECK (e.size == wire_get64 (in) && e.eflags == wire_get16 (in + 8));
  }
  fuzz_free (in, 10);

  in = fuzz_bytes (WIRE_OLDSTYLE_REST_SIZE);
  {
    struct wire_export e;
    wire_decode_oldstyle (in, &e);
    CHECK (e.size == wire_get64 (in) && e.eflags == wire_get16 (in + 10));
  }
  fuzz_free (in, WIRE_OLDSTYLE_REST_SIZE);

  /* Reply header: learn the size from 4 bytes, then decode exactly that
   * many.  A bad magic must be rejected having read only those 4. */
  in = fuzz_bytes (4);
  if (rnd () % 4)
    wire_put32 (in, reply_magics[rnd () % 3]);
  size = wire_reply_size (in);
  {
    struct wire_reply rep;
    if (size < 0) {
      CHECK (size == WIRE_EMAGIC);
      CHECK (wire_decode_reply (in, &rep) == WIRE_EMAGIC);
      tally (D_REPLY, false);
    }
    else {
      uint8_t *full = fuzz_bytes ((size_t) size);
      memcpy (full, in, 4);
      r = wire_decode_reply (full, &rep);
      CHECK (r == 0);
      CHECK (rep.magic == wire_get32 (full));
      CHECK (rep.cookie == wire_get64 (full + 8));
      if (rep.magic == NBD_SIMPLE_REPLY_MAGIC)
        CHECK (size == 16 && rep.length == 0 && rep.flags == 0 &&
               rep.type == NBD_REPLY_TYPE_NONE);
      else if (rep.magic == NBD_STRUCTURED_REPLY_MAGIC)
        CHECK (size == 20 && rep.length == wire_get32 (full + 16));
      else
        CHECK (size == 32 && rep.length == wire_get64 (full + 24));
      tally (D_REPLY, r == 0);
      fuzz_free (full, (size_t) size);
    }
  }
  fuzz_free (in, 4);
}

/* Random strings of printable bytes (never NUL) of length 0..max-1. */
static char *
fuzz_string (size_t max)
{
  size_t len = rnd () % max;
  char *s = malloc (len + 1);

  if (s == NULL) {
    perror ("malloc");
    exit (2);
  }
  for (size_t i = 0; i < len; i++)
    s[i] = (char) (' ' + rnd () % 95);
  s[len] = '\0';
  return s;
}

/* Encoders into blocks of random size: they must report the same size
 * every time and never write unless the whole message fits. */
static void
fuzz_encoders (void)
{
  char *name = fuzz_string (64);
  uint16_t infos[8];
  uint16_t ninfos = (uint16_t) (rnd () % 8);
  const char *queries[4];
  char *owned[4];
  size_t nqueries = rnd () % 4;
  size_t need, out_size;
  uint8_t *out;

  for (uint16_t i = 0; i < ninfos; i++)
    infos[i] = (uint16_t) rnd ();
  for (size_t i = 0; i < nqueries; i++)
    queries[i] = owned[i] = fuzz_string (40);

  need = wire_encode_go (NULL, 0, name, infos, ninfos);
  CHECK (need == 4 + strlen (name) + 2 + 2 * (size_t) ninfos);
  out_size = rnd () % (need + 3);
  out = fuzz_bytes (out_size);
  memset (out, 0xaa, out_size);
  CHECK (wire_encode_go (out, out_size, name, infos, ninfos) == need);
  if (out_size >= need) {
    CHECK (wire_get32 (out) == strlen (name));
    CHECK (memcmp (out + 4, name, strlen (name)) == 0);
    CHECK (wire_get16 (out + 4 + strlen (name)) == ninfos);
    for (uint16_t i = 0; i < ninfos; i++)
      CHECK (wire_get16 (out + 6 + strlen (name) + 2 * i) == infos[i]);
  }
  else {
    for (size_t i = 0; i < out_size; i++)
      CHECK (out[i] == 0xaa);
  }
  fuzz_free (out, out_size);

  need = wire_encode_meta_context (NULL, 0, name, queries, nqueries);
  {
    size_t want = 8 + strlen (name);
    for (size_t i = 0; i < nqueries; i++)
      want += 4 + strlen (queries[i]);
    CHECK (need == want);
  }
  out_size = rnd () % (need + 3);
  out = fuzz_bytes (out_size);
  memset (out, 0xaa, out_size);
  CHECK (wire_encode_meta_context (out, out_size, name, queries, nqueries)
         == need);
  if (out_size >= need) {
    /* Walk the encoded message back with the same rules a server
     * would use. */
    size_t pos = 4 + wire_get32 (out);
    CHECK (pos + 4 <= need);
    CHECK (wire_get32 (out + pos) == nqueries);
    pos += 4;
    for (size_t i = 0; i < nqueries && pos + 4 <= need; i++) {
      uint32_t qlen = wire_get32 (out + pos);
      CHECK (qlen == strlen (queries[i]) && pos + 4 + qlen <= need &&
             memcmp (out + pos + 4, queries[i], qlen) == 0);
      pos += 4 + qlen;
    }
    CHECK (pos == need);
  }
  else {
    for (size_t i = 0; i < out_size; i++)
      CHECK (out[i] == 0xaa);
  }
  fuzz_free (out, out_size);

  for (size_t i = 0; i < nqueries; i++)
    free (owned[i]);
  free (name);
}

static void
test_fuzz (void)
{
  unsigned before = test_failed;

  for (unsigned i = 0; i < FUZZ_ITERATIONS && test_failed - before < 20; i++) {
    fuzz_payload_decoders ();
    fuzz_fixed_decoders ();
    if (i % 4 == 0)
      fuzz_encoders ();
  }

  for (int d = 0; d < D_COUNT; d++) {
    printf ("fuzz %-17s accepted %7lu  rejected %7lu\n",
            decoder_names[d], accepted[d], rejected[d]);
    CHECK_MSG (accepted[d] > 0 && rejected[d] > 0, "%s: every input accepted or every one rejected", decoder_names[d]);
  }
}

int
main (void)
{
  test_endian ();
  test_greeting ();
  test_export ();
  test_option ();
  test_option_reply ();
  test_encode_go ();
  test_encode_meta_context ();
  test_rep_server ();
  test_rep_info ();
  test_rep_meta_context ();
  test_request ();
  test_reply ();
  test_chunk_error ();
  test_chunk_hole ();
  test_block_status ();
  test_errno ();
  test_names ();
  test_fuzz ();

  return test_exit ();
}
