/* NBD wire codec.  See wire.h for the contract.
 *
 * Every decoder that takes a `length` treats the bytes as hostile: it
 * proves that each field it is about to read lies inside the first
 * `length` bytes before reading it, and it writes its outputs only once
 * the whole message has been accepted, so a rejected message leaves the
 * caller's structures untouched.  Length arithmetic is done so that it
 * cannot wrap (subtracting from the known length rather than adding to
 * a server-supplied field). */
#include <errno.h>
#include <string.h>

#include "wire/wire.h"

/* ---- handshake ---- */

int
wire_decode_greeting (const uint8_t in[WIRE_GREETING_SIZE],
                      struct wire_greeting *out)
{
  uint64_t second;

  if (wire_get64 (in) != NBD_MAGIC)
    return WIRE_EMAGIC;
  second = wire_get64 (in + 8);
  if (second == NBD_OPT_MAGIC)
    out->oldstyle = false;
  else if (second == NBD_OLDSTYLE_MAGIC)
    out->oldstyle = true;
  else
    return WIRE_EMAGIC;
  return 0;
}

void
wire_decode_export (const uint8_t in[10], struct wire_export *out)
{
  out->size = wire_get64 (in);
  out->eflags = wire_get16 (in + 8);
}

void
wire_decode_oldstyle (const uint8_t in[WIRE_OLDSTYLE_REST_SIZE],
                      struct wire_export *out)
{
  /* The oldstyle flags field is 32 bits wide: the upper half carries
   * handshake flags and the transmission flags are the lower half, so
   * they sit at bytes 10-11, not straight after the size. */
  out->size = wire_get64 (in);
  out->eflags = wire_get16 (in + 10);
}

size_t
wire_encode_option (uint8_t out[WIRE_OPTION_SIZE], uint32_t option,
                    uint32_t length)
{
  wire_put64 (out, NBD_OPT_MAGIC);
  wire_put32 (out + 8, option);
  wire_put32 (out + 12, length);
  return WIRE_OPTION_SIZE;
}

int
wire_decode_option_reply (const uint8_t in[WIRE_OPTION_REPLY_SIZE],
                          struct wire_option_reply *out)
{
  if (wire_get64 (in) != NBD_REP_MAGIC)
    return WIRE_EMAGIC;
  out->option = wire_get32 (in + 8);
  out->type = wire_get32 (in + 12);
  out->length = wire_get32 (in + 16);
  return 0;
}

size_t
wire_encode_go (uint8_t *out, size_t out_size, const char *name,
                const uint16_t *infos, uint16_t ninfos)
{
  size_t name_len = strlen (name);
  size_t size = 4 + name_len + 2 + 2 * (size_t) ninfos;

  if (out == NULL || out_size < size)
    return size;

  wire_put32 (out, (uint32_t) name_len);
  memcpy (out + 4, name, name_len);
  out += 4 + name_len;
  wire_put16 (out, ninfos);
  out += 2;
  for (uint16_t i = 0; i < ninfos; i++, out += 2)
    wire_put16 (out, infos[i]);
  return size;
}

size_t
wire_encode_meta_context (uint8_t *out, size_t out_size,
                          const char *export_name,
                          const char *const *queries, size_t nqueries)
{
  size_t name_len = strlen (export_name);
  size_t size = 4 + name_len + 4;

  for (size_t i = 0; i < nqueries; i++)
    size += 4 + strlen (queries[i]);

  if (out == NULL || out_size < size)
    return size;

  wire_put32 (out, (uint32_t) name_len);
  memcpy (out + 4, export_name, name_len);
  out += 4 + name_len;
  wire_put32 (out, (uint32_t) nqueries);
  out += 4;
  for (size_t i = 0; i < nqueries; i++) {
    size_t query_len = strlen (queries[i]);

    wire_put32 (out, (uint32_t) query_len);
    memcpy (out + 4, queries[i], query_len);
    out += 4 + query_len;
  }
  return size;
}

int
wire_decode_rep_server (const uint8_t *in, uint32_t length,
                        struct wire_rep_server *out)
{
  uint32_t name_len;

  if (length < 4)
    return WIRE_ELENGTH;
  name_len = wire_get32 (in);
  if (name_len > length - 4)
    return WIRE_ELENGTH;

  out->name = (const char *) in + 4;
  out->name_len = name_len;
  out->desc = out->name + name_len;
  out->desc_len = length - 4 - name_len;
  return 0;
}

int
wire_decode_rep_info (const uint8_t *in, uint32_t length,
                      struct wire_rep_info *out)
{
  struct wire_rep_info info = { .type = 0 };

  if (length < 2)
    return WIRE_ELENGTH;
  info.type = wire_get16 (in);

  switch (info.type) {
  case NBD_INFO_EXPORT:
    if (length != 2 + 10)
      return WIRE_ELENGTH;
    wire_decode_export (in + 2, &info.export);
    break;

  case NBD_INFO_NAME:
  case NBD_INFO_DESCRIPTION:
    if (length - 2 > NBD_MAX_STRING)
      return WIRE_ELENGTH;
    info.str = (const char *) in + 2;
    info.str_len = length - 2;
    break;

  case NBD_INFO_BLOCK_SIZE:
    /* Only the layout is checked here; whether the three sizes make
     * sense together is the handshake's business. */
    if (length != 2 + 12)
      return WIRE_ELENGTH;
    info.min_block = wire_get32 (in + 2);
    info.pref_block = wire_get32 (in + 6);
    info.max_block = wire_get32 (in + 10);
    break;

  default:
    /* The spec lets servers send info the client did not ask for;
     * the type alone is enough for the caller to skip it. */
    break;
  }

  *out = info;
  return 0;
}

int
wire_decode_rep_meta_context (const uint8_t *in, uint32_t length,
                              struct wire_rep_meta_context *out)
{
  if (length < 4)
    return WIRE_ELENGTH;
  if (length - 4 > NBD_MAX_STRING)
    return WIRE_ELENGTH;

  out->id = wire_get32 (in);
  out->name = (const char *) in + 4;
  out->name_len = length - 4;
  return 0;
}

/* ---- transmission ---- */

size_t
wire_encode_request (uint8_t *out, bool extended, uint16_t flags,
                     uint16_t type, uint64_t cookie, uint64_t offset,
                     uint64_t length)
{
  wire_put32 (out, extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC);
  wire_put16 (out + 4, flags);
  wire_put16 (out + 6, type);
  wire_put64 (out + 8, cookie);
  wire_put64 (out + 16, offset);
  if (extended) {
    wire_put64 (out + 24, length);
    return WIRE_EXTENDED_REQUEST_SIZE;
  }
  wire_put32 (out + 24, (uint32_t) length);
  return WIRE_REQUEST_SIZE;
}

int
wire_reply_size (const uint8_t in[4])
{
  switch (wire_get32 (in)) {
  case NBD_SIMPLE_REPLY_MAGIC:     return WIRE_SIMPLE_REPLY_SIZE;
  case NBD_STRUCTURED_REPLY_MAGIC: return WIRE_STRUCTURED_REPLY_SIZE;
  case NBD_EXTENDED_REPLY_MAGIC:   return WIRE_EXTENDED_REPLY_SIZE;
  default:                         return WIRE_EMAGIC;
  }
}

int
wire_decode_reply (const uint8_t *in, struct wire_reply *out)
{
  struct wire_reply reply = { .magic = wire_get32 (in) };

  switch (reply.magic) {
  case NBD_SIMPLE_REPLY_MAGIC:
    reply.type = NBD_REPLY_TYPE_NONE;
    reply.error = wire_get32 (in + 4);
    reply.cookie = wire_get64 (in + 8);
    break;

  case NBD_STRUCTURED_REPLY_MAGIC:
    reply.flags = wire_get16 (in + 4);
    reply.type = wire_get16 (in + 6);
    reply.cookie = wire_get64 (in + 8);
    reply.length = wire_get32 (in + 16);
    break;

  case NBD_EXTENDED_REPLY_MAGIC:
    reply.flags = wire_get16 (in + 4);
    reply.type = wire_get16 (in + 6);
    reply.cookie = wire_get64 (in + 8);
    reply.offset = wire_get64 (in + 16);
    reply.length = wire_get64 (in + 24);
    break;

  default:
    return WIRE_EMAGIC;
  }

  *out = reply;
  return 0;
}

size_t
wire_encode_read_reply (uint8_t *out, bool structured, bool extended,
                        uint64_t cookie, uint64_t offset, uint64_t count)
{
  if (!structured && !extended) {
    wire_put32 (out, NBD_SIMPLE_REPLY_MAGIC);
    wire_put32 (out + 4, 0);
    wire_put64 (out + 8, cookie);
    return WIRE_SIMPLE_REPLY_SIZE;
  }
  wire_put32 (out, extended ? NBD_EXTENDED_REPLY_MAGIC : NBD_STRUCTURED_REPLY_MAGIC);
  wire_put16 (out + 4, NBD_REPLY_FLAG_DONE);
  wire_put16 (out + 6, NBD_REPLY_TYPE_OFFSET_DATA);
  wire_put64 (out + 8, cookie);
  if (extended) {
    wire_put64 (out + 16, offset);
    wire_put64 (out + 24, count + 8);
    wire_put64 (out + 32, offset);
    return WIRE_EXTENDED_REPLY_SIZE + 8;
  }
  wire_put32 (out + 16, (uint32_t) (count + 8));
  wire_put64 (out + 20, offset);
  return WIRE_STRUCTURED_REPLY_SIZE + 8;
}

int
wire_decode_chunk_error (const uint8_t *in, uint64_t length, uint16_t type,
                         struct wire_chunk_error *out)
{
  struct wire_chunk_error chunk = { .error = 0 };
  uint64_t after_msg;

  if (!(type & NBD_REPLY_TYPE_ERROR_BIT))
    return WIRE_EVALUE;
  if (length < 6)
    return WIRE_ELENGTH;
  chunk.msg_len = wire_get16 (in + 4);
  if (chunk.msg_len > length - 6)
    return WIRE_ELENGTH;
  after_msg = length - 6 - chunk.msg_len;

  switch (type) {
  case NBD_REPLY_TYPE_ERROR:
    if (after_msg != 0)
      return WIRE_ELENGTH;
    break;
  case NBD_REPLY_TYPE_ERROR_OFFSET:
    if (after_msg != 8)
      return WIRE_ELENGTH;
    chunk.offset = wire_get64 (in + 6 + chunk.msg_len);
    break;
  default:
    /* Error types we do not know share the error and message prefix
     * and may carry fields of their own after it, which we skip. */
    break;
  }

  chunk.error = wire_get32 (in);
  chunk.msg = (const char *) in + 6;

  *out = chunk;
  return 0;
}

int
wire_decode_chunk_hole (const uint8_t *in, uint64_t length, bool extended,
                        uint64_t *offset, uint64_t *hole_length)
{
  uint64_t hole;

  /* The published extended-headers spec keeps the 32-bit hole size
   * (12 bytes) even when extended headers are in use; the 16-byte form
   * with a 64-bit size is accepted there too, as wire.h documents it. */
  if (length == 12)
    hole = wire_get32 (in + 8);
  else if (extended && length == 16)
    hole = wire_get64 (in + 8);
  else
    return WIRE_ELENGTH;
  if (hole == 0)
    return WIRE_EVALUE;

  *offset = wire_get64 (in);
  *hole_length = hole;
  return 0;
}

int64_t
wire_decode_block_status (const uint8_t *in, uint64_t length,
                          bool extended, uint32_t *context_id)
{
  uint64_t ndescs;

  if (!extended) {
    if (length < 4 + 8 || (length - 4) % 8 != 0)
      return WIRE_ELENGTH;
    ndescs = (length - 4) / 8;
  }
  else {
    if (length < 8 + 16 || (length - 8) % 16 != 0)
      return WIRE_ELENGTH;
    ndescs = (length - 8) / 16;
    if (wire_get32 (in + 4) != ndescs)
      return WIRE_ELENGTH;
  }

  *context_id = wire_get32 (in);
  return (int64_t) ndescs;
}

void
wire_block_descriptor (const uint8_t *in, bool extended, size_t i,
                       uint64_t *length, uint64_t *flags)
{
  if (!extended) {
    const uint8_t *desc = in + 4 + 8 * i;

    *length = wire_get32 (desc);
    *flags = wire_get32 (desc + 4);
  }
  else {
    const uint8_t *desc = in + 8 + 16 * i;

    *length = wire_get64 (desc);
    *flags = wire_get64 (desc + 8);
  }
}

/* ---- errors and names ---- */

int
wire_nbd_errno (uint32_t nbd_error)
{
  switch (nbd_error) {
  case NBD_SUCCESS:   return 0;
  case NBD_EPERM:     return EPERM;
  case NBD_EIO:       return EIO;
  case NBD_ENOMEM:    return ENOMEM;
  case NBD_EINVAL:    return EINVAL;
  case NBD_ENOSPC:    return ENOSPC;
  case NBD_EOVERFLOW: return EOVERFLOW;
  case NBD_ENOTSUP:   return ENOTSUP;
  case NBD_ESHUTDOWN: return ESHUTDOWN;
  default:            return EINVAL;
  }
}

/* Expands to a switch case returning the constant's own name. */
#define NAME_CASE(constant) case constant: return #constant

const char *
wire_option_name (uint32_t option)
{
  switch (option) {
  NAME_CASE (NBD_OPT_EXPORT_NAME);
  NAME_CASE (NBD_OPT_ABORT);
  NAME_CASE (NBD_OPT_LIST);
  NAME_CASE (NBD_OPT_STARTTLS);
  NAME_CASE (NBD_OPT_INFO);
  NAME_CASE (NBD_OPT_GO);
  NAME_CASE (NBD_OPT_STRUCTURED_REPLY);
  NAME_CASE (NBD_OPT_LIST_META_CONTEXT);
  NAME_CASE (NBD_OPT_SET_META_CONTEXT);
  NAME_CASE (NBD_OPT_EXTENDED_HEADERS);
  default: return "unknown";
  }
}

const char *
wire_reply_name (uint32_t type)
{
  switch (type) {
  NAME_CASE (NBD_REP_ACK);
  NAME_CASE (NBD_REP_SERVER);
  NAME_CASE (NBD_REP_INFO);
  NAME_CASE (NBD_REP_META_CONTEXT);
  NAME_CASE (NBD_REP_ERR_UNSUP);
  NAME_CASE (NBD_REP_ERR_POLICY);
  NAME_CASE (NBD_REP_ERR_INVALID);
  NAME_CASE (NBD_REP_ERR_PLATFORM);
  NAME_CASE (NBD_REP_ERR_TLS_REQD);
  NAME_CASE (NBD_REP_ERR_UNKNOWN);
  NAME_CASE (NBD_REP_ERR_SHUTDOWN);
  NAME_CASE (NBD_REP_ERR_BLOCK_SIZE_REQD);
  NAME_CASE (NBD_REP_ERR_TOO_BIG);
  NAME_CASE (NBD_REP_ERR_EXT_HEADER_REQD);
  default: return "unknown";
  }
}

const char *
wire_command_name (uint16_t type)
{
  switch (type) {
  NAME_CASE (NBD_CMD_READ);
  NAME_CASE (NBD_CMD_WRITE);
  NAME_CASE (NBD_CMD_DISC);
  NAME_CASE (NBD_CMD_FLUSH);
  NAME_CASE (NBD_CMD_TRIM);
  NAME_CASE (NBD_CMD_CACHE);
  NAME_CASE (NBD_CMD_WRITE_ZEROES);
  NAME_CASE (NBD_CMD_BLOCK_STATUS);
  default: return "unknown";
  }
}

const char *
wire_chunk_name (uint16_t type)
{
  switch (type) {
  NAME_CASE (NBD_REPLY_TYPE_NONE);
  NAME_CASE (NBD_REPLY_TYPE_OFFSET_DATA);
  NAME_CASE (NBD_REPLY_TYPE_OFFSET_HOLE);
  NAME_CASE (NBD_REPLY_TYPE_BLOCK_STATUS);
  NAME_CASE (NBD_REPLY_TYPE_BLOCK_STATUS_EXT);
  NAME_CASE (NBD_REPLY_TYPE_ERROR);
  NAME_CASE (NBD_REPLY_TYPE_ERROR_OFFSET);
  default: return "unknown";
  }
}
