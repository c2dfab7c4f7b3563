/* What negotiation taught: export size, flags, names, meta contexts. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "engine/engine.h"
#include "wire/wire.h"

/* Export facts exist after NBD_OPT_INFO / GO (or oldstyle / EXPORT_NAME). */
static const struct nbdi_export_info *
export_info (struct nbd_handle *h)
{
  const struct nbdi_export_info *info = nbdi_engine_export (h->engine);

  if (!info->known) {
    nbdi_set_error (EINVAL, "no export information yet: use nbd_opt_info "
                    "or nbd_opt_go first");
    return NULL;
  }
  return info;
}

static int
eflag (struct nbd_handle *h, uint16_t flag)
{
  const struct nbdi_export_info *i = export_info (h);
  return i ? (i->eflags & flag) != 0 : -1;
}

int64_t
nbdi_get_size (struct nbd_handle *h)
{
  const struct nbdi_export_info *i = export_info (h);

  if (i == NULL)
    return -1;
  if (i->size > INT64_MAX) {
    nbdi_set_error (EOVERFLOW, "export size does not fit in int64_t");
    return -1;
  }
  return i->size;
}

int nbdi_is_read_only (struct nbd_handle *h) { return eflag (h, NBD_FLAG_READ_ONLY); }
int nbdi_can_flush (struct nbd_handle *h) { return eflag (h, NBD_FLAG_SEND_FLUSH); }
int nbdi_can_fua (struct nbd_handle *h) { return eflag (h, NBD_FLAG_SEND_FUA); }
int nbdi_is_rotational (struct nbd_handle *h) { return eflag (h, NBD_FLAG_ROTATIONAL); }
int nbdi_can_trim (struct nbd_handle *h) { return eflag (h, NBD_FLAG_SEND_TRIM); }
int nbdi_can_zero (struct nbd_handle *h) { return eflag (h, NBD_FLAG_SEND_WRITE_ZEROES); }
int nbdi_can_df (struct nbd_handle *h) { return eflag (h, NBD_FLAG_SEND_DF); }
int nbdi_can_multi_conn (struct nbd_handle *h) { return eflag (h, NBD_FLAG_CAN_MULTI_CONN); }
int nbdi_can_cache (struct nbd_handle *h) { return eflag (h, NBD_FLAG_SEND_CACHE); }
int nbdi_can_fast_zero (struct nbd_handle *h) { return eflag (h, NBD_FLAG_SEND_FAST_ZERO); }
int nbdi_can_block_status_payload (struct nbd_handle *h)
{ return eflag (h, NBD_FLAG_BLOCK_STAT_PAYLOAD); }

int
nbdi_can_meta_context (struct nbd_handle *h, const char *name)
{
  const struct nbdi_engine *e = h->engine;

  /* With nothing requested the answer is always no; with requests it
   * needs a meta context negotiation for the current export that went
   * through (nbd_opt_set_meta_context, or the one nbd_opt_info,
   * nbd_opt_go and connecting make), export information or not. */
  if (h->cfg.proto.meta_requests.len > 0 && !nbdi_engine_meta_valid (e)) {
    nbdi_set_error (EINVAL, "need a successful server meta context request "
                    "first (nbd_opt_set_meta_context, nbd_opt_info or nbd_opt_go)");
    return -1;
  }
  for (size_t i = 0; i < nbdi_engine_nr_metas (e); i++)
    if (strcmp (nbdi_engine_meta_name (e, i, NULL), name) == 0)
      return 1;
  return 0;
}

int64_t
nbdi_get_block_size (struct nbd_handle *h, int type)
{
  const struct nbdi_export_info *i = export_info (h);

  if (i == NULL)
    return -1;
  switch (type) {
  case LIBNBD_SIZE_MINIMUM: return i->block_min;
  case LIBNBD_SIZE_PREFERRED: return i->block_pref;
  case LIBNBD_SIZE_MAXIMUM: return i->block_max;
  default:                    /* LIBNBD_SIZE_PAYLOAD */
    return nbdi_payload_size (i);
  }
}

uint32_t
nbdi_payload_size (const struct nbdi_export_info *i)
{
  /* The server's maximum brought into 1 MiB .. 64 MiB, as libnbd
   * documents; without one, the protocol's safe default of 32 MiB. */
  if (i->block_max == 0)
    return 32 * 1024 * 1024;
  if (i->block_max < 1024 * 1024)
    return 1024 * 1024;
  if (i->block_max > 64 * 1024 * 1024)
    return 64 * 1024 * 1024;
  return i->block_max;
}

const char *
nbdi_get_protocol (struct nbd_handle *h)
{
  return nbdi_engine_protocol (h->engine);
}

int
nbdi_get_structured_replies_negotiated (struct nbd_handle *h)
{
  return nbdi_engine_structured (h->engine);
}

int
nbdi_get_extended_headers_negotiated (struct nbd_handle *h)
{
  return nbdi_engine_extended (h->engine);
}

int
nbdi_get_tls_negotiated (struct nbd_handle *h)
{
  return nbdi_engine_tls_negotiated (h->engine);
}

char *
nbdi_get_canonical_export_name (struct nbd_handle *h)
{
  const struct nbdi_export_info *i = export_info (h);

  if (i == NULL)
    return NULL;
  return nbdi_strdup (i->canonical_name ? i->canonical_name : h->cfg.proto.export_name);
}

char *
nbdi_get_export_description (struct nbd_handle *h)
{
  const struct nbdi_export_info *i = export_info (h);

  if (i == NULL)
    return NULL;
  if (i->description == NULL) {
    nbdi_set_error (ENOTSUP, "the server did not send a description "
                    "(did you call nbd_set_full_info?)");
    return NULL;
  }
  return nbdi_strdup (i->description);
}

int
nbdi_kill_subprocess (struct nbd_handle *h, int signum)
{
  if (h->pid <= 0) {
    nbdi_set_error (ESRCH, "no subprocess was started by this handle");
    return -1;
  }
  if (signum == 0)
    signum = SIGTERM;
  if (signum < 0 || signum >= NSIG) {
    nbdi_set_error (EINVAL, "invalid signal number: %d", signum);
    return -1;
  }
  if (nbdi_child_kill (h->pid, signum) == -1) {
    nbdi_set_error_errno (errno, "kill");
    return -1;
  }
  return 0;
}

int64_t
nbdi_get_subprocess_pid (struct nbd_handle *h)
{
  if (h->pid <= 0) {
    nbdi_set_error (ESRCH, "no subprocess was started by this handle");
    return -1;
  }
  return h->pid;
}

uint32_t
nbdi_get_handshake_flags (struct nbd_handle *h)
{
  return nbdi_engine_handshake_flags (h->engine);
}

static struct nbdi_engine_stats
stats (struct nbd_handle *h)
{
  struct nbdi_engine_stats s;

  nbdi_engine_stats (h->engine, &s);
  return s;
}

uint64_t nbdi_stats_bytes_sent (struct nbd_handle *h) { return stats (h).bytes_sent; }
uint64_t nbdi_stats_bytes_received (struct nbd_handle *h) { return stats (h).bytes_received; }
uint64_t nbdi_stats_chunks_sent (struct nbd_handle *h) { return stats (h).chunks_sent; }
uint64_t nbdi_stats_chunks_received (struct nbd_handle *h) { return stats (h).chunks_received; }
