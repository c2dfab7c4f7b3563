/* NBD wire codec: protocol constants and the encoding and decoding of
 * every fixed-layout NBD message over byte arrays.
 *
 * This layer does no I/O, keeps no state, allocates nothing and never
 * touches errno.  Decoders take a buffer the caller knows to hold the
 * message's fixed size (the WIRE_*_SIZE constants) and return 0, or a
 * negative WIRE_E* code when the bytes are not a valid message.
 * Encoders write exactly the documented size and return it.
 * All multi-byte fields are big-endian on the wire. */
#ifndef NBDI_WIRE_H
#define NBDI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <endian.h>

/* ---- magics ---- */
#define NBD_MAGIC                 UINT64_C (0x4e42444d41474943) /* NBDMAGIC */
#define NBD_OPT_MAGIC             UINT64_C (0x49484156454F5054) /* IHAVEOPT */
#define NBD_OLDSTYLE_MAGIC        UINT64_C (0x00420281861253)
#define NBD_REP_MAGIC             UINT64_C (0x0003e889045565a9)
#define NBD_REQUEST_MAGIC         UINT32_C (0x25609513)
#define NBD_EXTENDED_REQUEST_MAGIC UINT32_C (0x21e41c71)
#define NBD_SIMPLE_REPLY_MAGIC    UINT32_C (0x67446698)
#define NBD_STRUCTURED_REPLY_MAGIC UINT32_C (0x668e33ef)
#define NBD_EXTENDED_REPLY_MAGIC  UINT32_C (0x6e8a278c)

/* ---- handshake flags (server) and client flags ---- */
#define NBD_FLAG_FIXED_NEWSTYLE   (1u << 0)
#define NBD_FLAG_NO_ZEROES        (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES      NBD_FLAG_NO_ZEROES

/* ---- transmission flags ---- */
#define NBD_FLAG_HAS_FLAGS        (1u << 0)
#define NBD_FLAG_READ_ONLY        (1u << 1)
#define NBD_FLAG_SEND_FLUSH       (1u << 2)
#define NBD_FLAG_SEND_FUA         (1u << 3)
#define NBD_FLAG_ROTATIONAL       (1u << 4)
#define NBD_FLAG_SEND_TRIM        (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF          (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN   (1u << 8)
#define NBD_FLAG_SEND_RESIZE      (1u << 9)
#define NBD_FLAG_SEND_CACHE       (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO   (1u << 11)
#define NBD_FLAG_BLOCK_STAT_PAYLOAD (1u << 12)

/* ---- options ---- */
#define NBD_OPT_EXPORT_NAME       1
#define NBD_OPT_ABORT             2
#define NBD_OPT_LIST              3
#define NBD_OPT_STARTTLS          5
#define NBD_OPT_INFO              6
#define NBD_OPT_GO                7
#define NBD_OPT_STRUCTURED_REPLY  8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT  10
#define NBD_OPT_EXTENDED_HEADERS  11

/* ---- option replies ---- */
#define NBD_REP_ERR_BIT           UINT32_C (0x80000000)
#define NBD_REP_ACK               1
#define NBD_REP_SERVER            2
#define NBD_REP_INFO              3
#define NBD_REP_META_CONTEXT      4
#define NBD_REP_ERR_UNSUP         (NBD_REP_ERR_BIT | 1)
#define NBD_REP_ERR_POLICY        (NBD_REP_ERR_BIT | 2)
#define NBD_REP_ERR_INVALID       (NBD_REP_ERR_BIT | 3)
#define NBD_REP_ERR_PLATFORM      (NBD_REP_ERR_BIT | 4)
#define NBD_REP_ERR_TLS_REQD      (NBD_REP_ERR_BIT | 5)
#define NBD_REP_ERR_UNKNOWN       (NBD_REP_ERR_BIT | 6)
#define NBD_REP_ERR_SHUTDOWN      (NBD_REP_ERR_BIT | 7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_ERR_BIT | 8)
#define NBD_REP_ERR_TOO_BIG       (NBD_REP_ERR_BIT | 9)
#define NBD_REP_ERR_EXT_HEADER_REQD (NBD_REP_ERR_BIT | 10)

/* ---- NBD_INFO_* ---- */
#define NBD_INFO_EXPORT           0
#define NBD_INFO_NAME             1
#define NBD_INFO_DESCRIPTION      2
#define NBD_INFO_BLOCK_SIZE       3

/* ---- commands, command flags ---- */
#define NBD_CMD_READ              0
#define NBD_CMD_WRITE             1
#define NBD_CMD_DISC              2
#define NBD_CMD_FLUSH             3
#define NBD_CMD_TRIM              4
#define NBD_CMD_CACHE             5
#define NBD_CMD_WRITE_ZEROES      6
#define NBD_CMD_BLOCK_STATUS      7

#define NBD_CMD_FLAG_FUA          (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE      (1u << 1)
#define NBD_CMD_FLAG_DF           (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE      (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO    (1u << 4)
#define NBD_CMD_FLAG_PAYLOAD_LEN  (1u << 5)

/* ---- structured replies ---- */
#define NBD_REPLY_FLAG_DONE       (1u << 0)
#define NBD_REPLY_TYPE_NONE       0
#define NBD_REPLY_TYPE_OFFSET_DATA 1
#define NBD_REPLY_TYPE_OFFSET_HOLE 2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_BLOCK_STATUS_EXT 6
#define NBD_REPLY_TYPE_ERROR_BIT  (1u << 15)
#define NBD_REPLY_TYPE_ERROR      (NBD_REPLY_TYPE_ERROR_BIT | 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET (NBD_REPLY_TYPE_ERROR_BIT | 2)

/* ---- NBD error numbers ---- */
#define NBD_SUCCESS    0
#define NBD_EPERM      1
#define NBD_EIO        5
#define NBD_ENOMEM     12
#define NBD_EINVAL     22
#define NBD_ENOSPC     28
#define NBD_EOVERFLOW  75
#define NBD_ENOTSUP    95
#define NBD_ESHUTDOWN  108

#define NBD_MAX_STRING 4096          /* export names, meta context names */

/* ---- decoder error codes ---- */
#define WIRE_EMAGIC   (-1)            /* unexpected magic number */
#define WIRE_ELENGTH  (-2)            /* a length field is impossible */
#define WIRE_EVALUE   (-3)            /* a field has an invalid value */

/* ---- message sizes ---- */
#define WIRE_GREETING_SIZE        16  /* NBDMAGIC + IHAVEOPT/oldstyle magic */
#define WIRE_OLDSTYLE_REST_SIZE   136 /* size, flags, 124 zero bytes */
#define WIRE_HANDSHAKE_FLAGS_SIZE 2
#define WIRE_CLIENT_FLAGS_SIZE    4
#define WIRE_OPTION_SIZE          16  /* IHAVEOPT, option, length */
#define WIRE_OPTION_REPLY_SIZE    20  /* magic, option, type, length */
#define WIRE_EXPORT_NAME_REPLY_SIZE 134 /* size, flags, 124 zeroes */
#define WIRE_EXPORT_NAME_REPLY_SHORT 10 /* the same with NO_ZEROES */
#define WIRE_REQUEST_SIZE         28
#define WIRE_EXTENDED_REQUEST_SIZE 32
#define WIRE_SIMPLE_REPLY_SIZE    16
#define WIRE_STRUCTURED_REPLY_SIZE 20
#define WIRE_EXTENDED_REPLY_SIZE  32

/* Big-endian loads and stores: one unaligned access and a byte swap
 * each (GCC does not always merge the byte-by-byte form). */
static inline uint16_t wire_get16 (const uint8_t *p)
{ uint16_t v; memcpy (&v, p, 2); return be16toh (v); }
static inline uint32_t wire_get32 (const uint8_t *p)
{ uint32_t v; memcpy (&v, p, 4); return be32toh (v); }
static inline uint64_t wire_get64 (const uint8_t *p)
{ uint64_t v; memcpy (&v, p, 8); return be64toh (v); }
static inline void wire_put16 (uint8_t *p, uint16_t v)
{ v = htobe16 (v); memcpy (p, &v, 2); }
static inline void wire_put32 (uint8_t *p, uint32_t v)
{ v = htobe32 (v); memcpy (p, &v, 4); }
static inline void wire_put64 (uint8_t *p, uint64_t v)
{ v = htobe64 (v); memcpy (p, &v, 8); }

/* ---- handshake ---- */

/* The first 16 bytes from the server. */
struct wire_greeting {
  bool oldstyle;                /* else newstyle (IHAVEOPT) */
};
int wire_decode_greeting (const uint8_t in[WIRE_GREETING_SIZE],
                          struct wire_greeting *out);

/* Export size and flags: the reply to NBD_OPT_EXPORT_NAME (its first
 * 10 bytes), or the payload of NBD_INFO_EXPORT after its 2-byte type
 * (10 bytes).  Not the oldstyle rest: see wire_decode_oldstyle. */
struct wire_export {
  uint64_t size;
  uint16_t eflags;
};
void wire_decode_export (const uint8_t in[10], struct wire_export *out);
/* The oldstyle rest (136 bytes).  Its flags field is 32 bits wide and the
 * transmission flags are its low half (bytes 10-11), so the oldstyle rest
 * must be decoded with this, not wire_decode_export. */
void wire_decode_oldstyle (const uint8_t in[WIRE_OLDSTYLE_REST_SIZE],
                           struct wire_export *out);

/* Option request header: IHAVEOPT, option, payload length. */
size_t wire_encode_option (uint8_t out[WIRE_OPTION_SIZE], uint32_t option,
                           uint32_t length);

/* Option reply header. */
struct wire_option_reply {
  uint32_t option;
  uint32_t type;                /* NBD_REP_* */
  uint32_t length;              /* of the payload that follows */
};
int wire_decode_option_reply (const uint8_t in[WIRE_OPTION_REPLY_SIZE],
                              struct wire_option_reply *out);

/* Payload of NBD_OPT_GO / NBD_OPT_INFO: name and requested info types.
 * Returns the bytes needed; writes only when out_size is large enough
 * (call with out == NULL, out_size == 0 to measure). */
size_t wire_encode_go (uint8_t *out, size_t out_size, const char *name,
                       const uint16_t *infos, uint16_t ninfos);

/* Payload of NBD_OPT_{LIST,SET}_META_CONTEXT: export name and queries.
 * Sizing as for wire_encode_go. */
size_t wire_encode_meta_context (uint8_t *out, size_t out_size,
                                 const char *export_name,
                                 const char *const *queries, size_t nqueries);

/* Decoded payloads of option replies.  Strings point into `in` and are
 * NOT NUL-terminated: (ptr, len). */
struct wire_rep_server {        /* NBD_REP_SERVER */
  const char *name; uint32_t name_len;
  const char *desc; uint32_t desc_len;   /* the rest of the payload */
};
int wire_decode_rep_server (const uint8_t *in, uint32_t length,
                            struct wire_rep_server *out);

struct wire_rep_info {          /* NBD_REP_INFO */
  uint16_t type;                /* NBD_INFO_* */
  struct wire_export export;    /* NBD_INFO_EXPORT */
  const char *str; uint32_t str_len;     /* NBD_INFO_NAME / DESCRIPTION */
  uint32_t min_block, pref_block, max_block; /* NBD_INFO_BLOCK_SIZE */
};
/* Unknown info types decode with only .type set (to be ignored);
 * a known type with the wrong length is WIRE_ELENGTH. */
int wire_decode_rep_info (const uint8_t *in, uint32_t length,
                          struct wire_rep_info *out);

struct wire_rep_meta_context {  /* NBD_REP_META_CONTEXT */
  uint32_t id;
  const char *name; uint32_t name_len;
};
int wire_decode_rep_meta_context (const uint8_t *in, uint32_t length,
                                  struct wire_rep_meta_context *out);

/* ---- transmission ---- */

/* Request header, compact (28 bytes) or extended (32 bytes). */
size_t wire_encode_request (uint8_t *out, bool extended, uint16_t flags,
                            uint16_t type, uint64_t cookie, uint64_t offset,
                            uint64_t length);

/* Any reply header.  Call with the first 4 bytes to learn the size
 * (wire_reply_size), then decode once that many bytes are at hand. */
struct wire_reply {
  uint32_t magic;
  uint16_t flags;               /* structured/extended; 0 for simple */
  uint16_t type;                /* chunk type; NONE for simple */
  uint32_t error;               /* simple replies only */
  uint64_t cookie;
  uint64_t offset;              /* extended only */
  uint64_t length;              /* payload length; 0 for simple */
};
/* Size of the header that starts with these 4 bytes, or WIRE_EMAGIC. */
int wire_reply_size (const uint8_t in[4]);
int wire_decode_reply (const uint8_t *in, struct wire_reply *out);

/* What a server sends before the data of a read it answers in one
 * piece: a simple reply without error, or (structured/extended) one
 * OFFSET_DATA chunk flagged DONE with its offset.  Returns the size
 * (at most WIRE_READ_REPLY_MAX), so a client can compare the bytes it
 * got with the ones it expects. */
#define WIRE_READ_REPLY_MAX (WIRE_EXTENDED_REPLY_SIZE + 8)
size_t wire_encode_read_reply (uint8_t *out, bool structured, bool extended,
                               uint64_t cookie, uint64_t offset, uint64_t count);

/* Fixed parts of chunk payloads. */
struct wire_chunk_error {       /* any error type */
  uint32_t error;               /* as sent: 0 (success) is for the caller to judge */
  const char *msg; uint16_t msg_len;
  uint64_t offset;              /* ERROR_OFFSET only */
};
/* `length` is the whole chunk payload; the message must fit in it, and
 * ERROR_OFFSET needs 8 more bytes after the message.  Error types not
 * defined yet share the error and message prefix; what follows it is
 * skipped. */
int wire_decode_chunk_error (const uint8_t *in, uint64_t length, uint16_t type,
                             struct wire_chunk_error *out);

/* OFFSET_HOLE payload: offset (8) + hole size (4).  The published spec
 * keeps the 4-byte size under extended headers too; when `extended`, an
 * 8-byte size (16-byte payload) is accepted as well.  A zero size is
 * WIRE_EVALUE. */
int wire_decode_chunk_hole (const uint8_t *in, uint64_t length, bool extended,
                            uint64_t *offset, uint64_t *hole_length);

/* BLOCK_STATUS / BLOCK_STATUS_EXT: header is the context id (4 bytes),
 * plus a 4-byte descriptor count for _EXT; then descriptors of 8 / 16
 * bytes.  Returns the number of descriptors, or a WIRE_E* code when the
 * length does not hold whole descriptors (or the count disagrees). */
int64_t wire_decode_block_status (const uint8_t *in, uint64_t length,
                                  bool extended, uint32_t *context_id);
/* Descriptor i of a block status payload (pointer to the payload). */
void wire_block_descriptor (const uint8_t *in, bool extended, size_t i,
                            uint64_t *length, uint64_t *flags);

/* NBD error number to errno (unknown values become EINVAL). */
int wire_nbd_errno (uint32_t nbd_error);

/* Names for debug messages ("NBD_OPT_GO", "NBD_REP_ERR_POLICY", ...). */
const char *wire_option_name (uint32_t option);
const char *wire_reply_name (uint32_t type);
const char *wire_command_name (uint16_t type);
const char *wire_chunk_name (uint16_t type);

#endif
