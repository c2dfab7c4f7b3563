/* One iteration of the hostile-server harness: the client's settings,
 * the commands and options it issues and what became of each of their
 * closures, the fake server it talks to, and what the run must show.
 * The drivers (fz-client.h over a socketpair, or one calling the engine
 * in process) fill in the bookkeeping; the checks here judge it.
 */
#ifndef FZ_ITER_H
#define FZ_ITER_H

#include <stdbool.h>
#include <stdint.h>

#include "fz-server.h"
#include "test.h"

enum fz_cmd_type {
  C_PREAD, C_PREAD_SR, C_PWRITE, C_BS, C_BS64, C_FLUSH, C_TRIM, C_ZERO, C_CACHE,
  C_BSF, C_NTYPES
};
extern const char *const fz_cmd_name[C_NTYPES];

enum fz_opt_type {
  O_LIST, O_LIST_META, O_SET_META, O_INFO, O_SR, O_EXT, O_GO, O_ABORT, O_NTYPES
};
extern const char *const fz_opt_name[O_NTYPES];

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
  int srv_fd;                /* socketpair driver: the server's end */
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
  /* The driver's way to issue command i (completions issue the second
   * wave with it); NULL once the client is gone. */
  void (*issue_cmd) (struct fz_iter *it, int i);
  void *driver;              /* the driver's own state */
};

/* A failed check of iteration it: reported with the iteration's label
 * (the one check primitive of test.h underneath). */
void fz_check (struct fz_iter *it, bool ok, const char *file, int line,
               const char *fmt, ...)
  __attribute__ ((format (printf, 5, 6)));
#define ICHECK(it, cond, ...) \
  fz_check ((it), (cond) ? true : false, __FILE__, __LINE__, __VA_ARGS__)

/* Random client settings, server personality and commands (fz-scenario.c). */
void fz_random_setup (struct fz_iter *it);
/* 1-3 mutations, or none for the share of iterations left valid. */
void fz_random_mutations (struct fz_iter *it);
/* Iteration i of a seeded run: its PRNG seed. */
uint64_t fz_seed_for (uint64_t base, uint64_t i);
/* All of an iteration's choices from a libFuzzer input (then the PRNG,
 * seeded from the input, once its bytes run out); FUZZ_DUMP=1 in the
 * environment prints what the server sends. */
void fz_from_fuzzer_input (struct fz_iter *it, const uint8_t *data, size_t size);

/* What a run of iterations came to. */
struct fz_stats {
  unsigned long runs, ready, dead, closed, unmutated, mutations, hung, failed;
};
void fz_account (struct fz_stats *st, const struct fz_iter *it);

/* Set command i up to be issued: its closures' bookkeeping, and its
 * buffer (exactly count bytes: the export's bytes for a write, 0xa5 for
 * a read). */
void fz_cmd_prepare (struct fz_iter *it, int i);
/* Every command issued has completed. */
bool fz_all_done (struct fz_iter *it);
/* On a connection that ended: every command and option issued has
 * completed exactly once. */
void fz_check_completions (struct fz_iter *it);

/* The end checks that need no handle (fz-checks.c): closures called at
 * most once and freed exactly once, chunks inside their request, ...;
 * the strong checks for an undamaged transcript; the corpus case's
 * expectation. */
void fz_check_after_close (struct fz_iter *it);
void fz_check_unmutated (struct fz_iter *it);
void fz_check_expectation (struct fz_iter *it);

/* On a crash or a sanitizer report, print the label of the iteration
 * that was running (fz-crash.c). */
void fz_install_crash_handler (void);
void fz_set_current (const char *label);

#endif
