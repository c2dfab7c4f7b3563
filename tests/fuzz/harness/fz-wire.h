/* Wire constants of the NBD protocol, as numbered in the protocol
 * document, for the fake server (which must not borrow the library's own
 * definitions: it checks them), and the harness's limits. */
#ifndef FZ_WIRE_H
#define FZ_WIRE_H

#include <stdint.h>


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

#endif
