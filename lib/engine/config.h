/* What the engine needs from its user: the settings that shape the
 * handshake, and the hook that receives its debug text.
 *
 * The engine keeps a pointer to the configuration and reads it when it
 * needs a value, never writing it: the API layer embeds this structure
 * in the handle's settings, so a setting the program changes while
 * negotiating (the export name, the meta contexts to request) applies to
 * the next option, as libnbd's do.  A standalone user (a test, a fuzzer)
 * fills one in and keeps it alive until nbdi_engine_free. */
#ifndef NBDI_ENGINE_CONFIG_H
#define NBDI_ENGINE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "util/strlist.h"

/* Receives one finished line of debug text (no newline).  context names
 * the part of the engine speaking ("engine", "state"). */
typedef void (*nbdi_log_hook) (void *opaque, const char *context, const char *msg);

struct nbdi_engine_config {
  /* Debug text is produced only while this is true, so that tracing
   * costs one test when off.  The hook may be NULL (nothing logged). */
  bool debug;
  nbdi_log_hook log;
  void *log_opaque;

  /* The export to ask for (NBD_OPT_GO / INFO / EXPORT_NAME); never NULL
   * while the engine negotiates ("" is the default export). */
  char *export_name;
  /* LIBNBD_TLS_DISABLE, LIBNBD_TLS_ALLOW or LIBNBD_TLS_REQUIRE.  The
   * engine only negotiates STARTTLS; the driver runs TLS itself. */
  int tls;
  bool request_structured_replies;
  bool request_extended_headers;
  bool request_meta_context;    /* SET_META_CONTEXT before GO / INFO */
  bool request_block_size;      /* ask for NBD_INFO_BLOCK_SIZE */
  bool full_info;               /* ask for NBD_INFO_NAME and DESCRIPTION */
  /* The handshake flags the client may agree to (LIBNBD_HANDSHAKE_FLAG_*);
   * what was agreed is nbdi_engine_handshake_flags. */
  uint32_t handshake_flags;
  uint32_t strict;              /* LIBNBD_STRICT_*: checked by the API layer */
  bool opt_mode;                /* pause in the negotiating state */
  bool pread_initialize;        /* clear read buffers the server left unwritten */
  struct nbdi_strlist meta_requests;  /* meta contexts to negotiate */
};

#endif
