/* What the parts of run-transcript share: one run of a transcript in
 * one delivery mode, the closures it hands the engine, and the steps. */
#ifndef ENGINE_TR_RUN_H
#define ENGINE_TR_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"
#include "transcript.h"

/* How the server's bytes are handed over (run-transcript.c). */
enum mode { M_LINES, M_BYTES, M_WHOLE, M_COUNT };
extern const char *const mode_name[M_COUNT];
extern bool verbose;

#define MAX_CMDS 64

/* One closure's bookkeeping. */
struct closure {
  struct run *run;
  int owner;                 /* command number, or 0 for the option */
  int calls, frees;
};

struct cmd {
  bool used;
  int64_t cookie;
  uint64_t count, offset;
  uint8_t *buf;              /* read buffer or write data */
  struct closure comp, data;
  bool has_data;
  int done_calls;
  int err;
  int chunk_calls;
};

/* A growable text log. */
struct text {
  char *p;
  size_t len, cap;
};

struct run {
  const struct transcript *t;
  enum mode mode;
  struct nbdi_engine_config cfg;
  struct nbdi_engine *e;
  int failures;
  /* Server bytes delivered and not yet taken by the engine. */
  uint8_t *avail;
  size_t avail_len, avail_cap;
  /* Everything the client sent, and how much the tx lines checked. */
  uint8_t *sent;
  size_t sent_len, sent_cap, sent_checked;
  struct text log;
  struct cmd cmds[MAX_CMDS + 1];
  int ncmds;
  /* The option in progress (the last started). */
  struct closure opt_comp, opt_list, opt_ctx;
  bool opt_started;
  int opt_calls, opt_err, items;
  int final_state;
  bool mutated;              /* expectations off, calls gated by state */
};


/* ---- helpers (tr-util.c) ---- */
void text_add (struct text *t, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* A failed step of run r, at the transcript's line lineno (0: the end). */
void fail (struct run *r, int lineno, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
void append (uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n);
void hex (FILE *f, const uint8_t *p, size_t n);
bool parse_errno (const char *s, int *out);
const char *errno_name (int v);
extern const char *const state_names[];
bool parse_u64 (const char *s, uint64_t *v);
/* The value with its double quotes removed (a static buffer). */
const char *unquote (const char *s);

/* ---- the closures (tr-closures.c) ---- */
void closure_free (void *ud);
int cmd_completion (void *ud, int *error);
int chunk_cb (void *ud, const void *subbuf, size_t count, uint64_t offset,
              unsigned status, int *error);
int extent_cb (void *ud, const char *ctx, uint64_t offset, uint32_t *entries,
               size_t n, int *error);
int extent64_cb (void *ud, const char *ctx, uint64_t offset, nbd_extent *entries,
                 size_t n, int *error);
int opt_completion (void *ud, int *error);
int list_cb (void *ud, const char *name, const char *desc);
int context_cb (void *ud, const char *name);

/* ---- steps (tr-steps.c, tr-expect.c) ---- */
void default_config (struct nbdi_engine_config *cfg);
void config_line (struct run *r, const struct tr_line *l);
/* Create and start the engine at the first step that needs it. */
bool ensure_started (struct run *r, int lineno);
void call_line (struct run *r, const struct tr_line *l);
/* After the engine is freed: every closure handed over was freed once. */
void check_closures_freed (struct run *r);
void expect_line (struct run *r, const struct tr_line *l);

/* Hand over the delivered server bytes the engine asks for, and take
 * what it sends (run-transcript.c). */
void pump (struct run *r);

#endif
