/* The closures a driver hands to the client for each command and
 * option: each counts its calls (and calls after its .free), checks
 * that chunks lie inside their request, hole chunks are zero, extents
 * name a context, and, on an undamaged transcript, that the bytes and
 * extents match the export.  They have libnbd's callback signatures. */
#ifndef FZ_CALLBACKS_H
#define FZ_CALLBACKS_H

#include "fz-iter.h"

void fz_cb_free (void *ud);
int fz_cmd_completion (void *ud, int *error);
int fz_chunk_cb (void *ud, const void *subbuf, size_t count, uint64_t offset,
                 unsigned status, int *error);
int fz_extent_cb (void *ud, const char *ctx, uint64_t offset, uint32_t *entries,
                  size_t n, int *error);
int fz_extent64_cb (void *ud, const char *ctx, uint64_t offset,
                    nbd_extent *entries, size_t n, int *error);
int fz_opt_completion (void *ud, int *error);
int fz_list_cb (void *ud, const char *name, const char *desc);
int fz_context_cb (void *ud, const char *name);
/* For calls refused on a dead handle. */
int fz_extra_completion (void *ud, int *error);

nbd_completion_callback fz_completion_for (struct fz_cb *cb,
                                           int (*fn) (void *, int *));

#endif
