/* What negotiation taught, read by the API layer and by tests. */
#include "engine/internal.h"

const struct nbdi_export_info *
nbdi_engine_export (const struct nbdi_engine *e)
{
  return &e->info;
}

bool
nbdi_engine_structured (const struct nbdi_engine *e)
{
  return e->structured;
}

bool
nbdi_engine_extended (const struct nbdi_engine *e)
{
  return e->extended;
}

bool
nbdi_engine_tls_negotiated (const struct nbdi_engine *e)
{
  return e->tls;
}

const char *
nbdi_engine_protocol (const struct nbdi_engine *e)
{
  if (e->oldstyle)
    return "oldstyle";
  return (e->client_flags & NBD_FLAG_FIXED_NEWSTYLE) ? "newstyle-fixed" : "newstyle";
}

uint32_t
nbdi_engine_handshake_flags (const struct nbdi_engine *e)
{
  /* Oldstyle agrees on nothing: client_flags stays 0. */
  return e->greeted ? e->client_flags : e->cfg->handshake_flags;
}

bool
nbdi_engine_meta_valid (const struct nbdi_engine *e)
{
  return e->meta_valid;
}

size_t
nbdi_engine_nr_metas (const struct nbdi_engine *e)
{
  return e->nr_metas;
}

const char *
nbdi_engine_meta_name (const struct nbdi_engine *e, size_t i, uint32_t *id)
{
  if (id)
    *id = e->metas[i].id;
  return e->metas[i].name;
}

void
nbdi_engine_stats (const struct nbdi_engine *e, struct nbdi_engine_stats *s)
{
  *s = e->stats;
}
