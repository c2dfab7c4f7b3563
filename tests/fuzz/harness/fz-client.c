/* The client driver: one handle against the fake server over a
 * socketpair, with nbd_aio_* calls and poll(). */
#include "fz-client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
fz_count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  int n = 0;
  if (d == NULL)
    return -1;
  while (readdir (d))
    n++;
  closedir (d);
  return n;
}

static void
fz_setup_handle (struct fz_iter *it)
{
  struct nbd_handle *h = it->h;
  const struct fz_client *c = &it->cl;

  nbd_set_request_structured_replies (h, c->req_sr);
  nbd_set_request_extended_headers (h, c->req_ext);
  if (c->meta)
    nbd_add_meta_context (h, "base:allocation");
  if (c->meta2)
    nbd_add_meta_context (h, "fuzz:second");
  nbd_set_opt_mode (h, c->opt_mode);
  nbd_set_full_info (h, c->full_info);
  nbd_set_request_block_size (h, c->req_bs);
  nbd_set_pread_initialize (h, c->pread_init);
  nbd_set_handshake_flags (h, c->hs_flags);
  nbd_set_export_name (h, c->export_name);
  if (!c->strict_default)
    nbd_set_strict_mode (h, c->strict);
}

void
fz_issue_cmd (struct fz_iter *it, int i)
{
  struct nbd_handle *h = it->h;
  struct fz_cmd *c = &it->cmds[i];
  nbd_completion_callback comp = fz_completion_for (&c->comp, fz_cmd_completion);

  fz_cmd_prepare (it, i);
  switch (c->type) {
  case C_PREAD:
    c->cookie = nbd_aio_pread (h, c->buf, c->count, c->offset, comp, c->flags);
    break;
  case C_PREAD_SR:
    c->has_data_cb = true;
    c->cookie = nbd_aio_pread_structured (h, c->buf, c->count, c->offset,
      (nbd_chunk_callback) { .callback = fz_chunk_cb, .user_data = &c->data,
                             .free = fz_cb_free }, comp, c->flags);
    break;
  case C_PWRITE:
    c->cookie = nbd_aio_pwrite (h, c->buf, c->count, c->offset, comp, c->flags);
    break;
  case C_BS:
    c->has_data_cb = true;
    c->cookie = nbd_aio_block_status (h, c->count, c->offset,
      (nbd_extent_callback) { .callback = fz_extent_cb, .user_data = &c->data,
                              .free = fz_cb_free }, comp, c->flags);
    break;
  case C_BS64:
    c->has_data_cb = true;
    c->cookie = nbd_aio_block_status_64 (h, c->count, c->offset,
      (nbd_extent64_callback) { .callback = fz_extent64_cb, .user_data = &c->data,
                                .free = fz_cb_free }, comp, c->flags);
    break;
  case C_BSF: {
    char *both[] = { (char *) "base:allocation", (char *) "fuzz:second", NULL };
    char *base[] = { (char *) "base:allocation", NULL };
    char *second[] = { (char *) "fuzz:second", NULL };
    c->has_data_cb = true;
    c->cookie = nbd_aio_block_status_filter (h, c->count, c->offset,
      c->filter == 3 ? both : c->filter == 2 ? second : base,
      (nbd_extent64_callback) { .callback = fz_extent64_cb, .user_data = &c->data,
                                .free = fz_cb_free }, comp, c->flags);
    break;
  }
  case C_FLUSH:
    c->cookie = nbd_aio_flush (h, comp, c->flags);
    break;
  case C_TRIM:
    c->cookie = nbd_aio_trim (h, c->count, c->offset, comp, c->flags);
    break;
  case C_ZERO:
    c->cookie = nbd_aio_zero (h, c->count, c->offset, comp, c->flags);
    break;
  case C_CACHE:
    c->cookie = nbd_aio_cache (h, c->count, c->offset, comp, c->flags);
    break;
  case C_NTYPES:
    break;
  }
  if (c->cookie == -1)
    ICHECK (it, nbd_get_error () != NULL, "%s failed without an error message",
            fz_cmd_name[c->type]);
  if (it->verbose)
    fprintf (stderr, "[cli] %s off=%" PRIu64 " count=%" PRIu64 " flags=%#x -> %" PRId64 "%s%s\n",
             fz_cmd_name[c->type], c->offset, c->count, c->flags, c->cookie,
             c->cookie == -1 ? ": " : "", c->cookie == -1 ? nbd_get_error () : "");
}

static void
fz_issue_opt (struct fz_iter *it, int i)
{
  struct nbd_handle *h = it->h;
  struct fz_opt *o = &it->opts[i];
  nbd_completion_callback comp = fz_completion_for (&o->comp, fz_opt_completion);
  nbd_context_callback ctx = { .callback = fz_context_cb, .user_data = &o->data,
                               .free = fz_cb_free };

  o->comp = (struct fz_cb) { .it = it, .owner = i, .is_opt = true };
  o->data = (struct fz_cb) { .it = it, .owner = i, .is_opt = true };
  o->comp_err = -2;               /* not called */
  switch (o->type) {
  case O_LIST:
    o->has_data_cb = true;
    o->rc = nbd_aio_opt_list (h, (nbd_list_callback) {
        .callback = fz_list_cb, .user_data = &o->data, .free = fz_cb_free }, comp);
    break;
  case O_LIST_META:
    o->has_data_cb = true;
    o->rc = nbd_aio_opt_list_meta_context (h, ctx, comp);
    break;
  case O_SET_META:
    o->has_data_cb = true;
    o->rc = nbd_aio_opt_set_meta_context (h, ctx, comp);
    break;
  case O_INFO:
    o->rc = nbd_aio_opt_info (h, comp);
    break;
  case O_SR:
    o->rc = nbd_aio_opt_structured_reply (h, comp);
    break;
  case O_EXT:
    o->rc = nbd_aio_opt_extended_headers (h, comp);
    break;
  case O_GO:
    o->rc = nbd_aio_opt_go (h, comp);
    break;
  case O_ABORT:
    o->rc = nbd_aio_opt_abort (h);
    /* No closures: count them as called and freed once. */
    o->comp.frees = 1;
    break;
  case O_NTYPES:
    break;
  }
  if (o->rc == -1)
    ICHECK (it, nbd_get_error () != NULL, "%s failed without an error message",
            fz_opt_name[o->type]);
  if (it->verbose)
    fprintf (stderr, "[cli] %s -> %d%s%s\n", fz_opt_name[o->type], o->rc,
             o->rc == -1 ? ": " : "", o->rc == -1 ? nbd_get_error () : "");
}

/* Every getter that reports what the server said: under ASan this reads
 * whatever the handshake stored. */
static void
fz_poke_getters (struct fz_iter *it)
{
  struct nbd_handle *h = it->h;
  char *str;
  int64_t size = nbd_get_size (h);

  if (it->unmutated && nbd_aio_is_ready (h))
    ICHECK (it, size == (int64_t) it->srv.cfg.size, "nbd_get_size = %" PRId64
            ", the server said %" PRIu64, size, it->srv.cfg.size);
  for (int t = LIBNBD_SIZE_MINIMUM; t <= LIBNBD_SIZE_PAYLOAD; t++)
    (void) nbd_get_block_size (h, t);
  (void) (nbd_is_read_only (h) + nbd_can_flush (h) + nbd_can_fua (h)
          + nbd_is_rotational (h) + nbd_can_trim (h) + nbd_can_zero (h)
          + nbd_can_df (h) + nbd_can_multi_conn (h) + nbd_can_cache (h)
          + nbd_can_fast_zero (h) + nbd_can_block_status_payload (h)
          + nbd_can_meta_context (h, "base:allocation")
          + nbd_get_structured_replies_negotiated (h)
          + nbd_get_extended_headers_negotiated (h) + nbd_aio_in_flight (h));
  (void) (nbd_stats_bytes_sent (h) + nbd_stats_bytes_received (h)
          + nbd_stats_chunks_sent (h) + nbd_stats_chunks_received (h));
  const char *proto = nbd_get_protocol (h);
  if (proto)
    (void) strlen (proto);
  if ((str = nbd_get_canonical_export_name (h)) != NULL) {
    (void) strlen (str);
    free (str);
  }
  if ((str = nbd_get_export_description (h)) != NULL) {
    (void) strlen (str);
    free (str);
  }
  ssize_t n = nbd_get_nr_meta_contexts (h);
  for (ssize_t i = 0; i < n; i++)
    if ((str = nbd_get_meta_context (h, i)) != NULL)
      free (str);
  (void) strlen (nbd_connection_state (h));
}

enum fz_phase { T_CONNECT, T_OPT, T_ISSUE, T_WAIT, T_FINISH, T_DISC, T_END };
static const char *const fz_phase_name[] = {
  "connect", "opt", "issue", "wait", "finish", "disconnect", "end",
};

static bool
fz_gone (struct nbd_handle *h)
{
  return nbd_aio_is_dead (h) || nbd_aio_is_closed (h);
}

/* The test's own moves; returns the next phase. */
static enum fz_phase
fz_actions (struct fz_iter *it, enum fz_phase t, bool *progress)
{
  struct nbd_handle *h = it->h;

  switch (t) {
  case T_CONNECT:
    if (fz_gone (h))
      return T_END;
    if (nbd_aio_is_ready (h)) {
      *progress = true;
      return T_ISSUE;
    }
    if (nbd_aio_is_negotiating (h)) {
      *progress = true;
      return T_OPT;
    }
    return t;
  case T_OPT:
    if (fz_gone (h))
      return T_END;
    if (nbd_aio_is_ready (h)) {
      *progress = true;
      return T_ISSUE;
    }
    if (!nbd_aio_is_negotiating (h))
      return t;                 /* an option is in progress */
    if (it->curopt > 0)
      fz_poke_getters (it);
    if (it->curopt >= it->nopts)
      return T_END;             /* leave it negotiating; nbd_close copes */
    fz_issue_opt (it, it->curopt++);
    *progress = true;
    return t;
  case T_ISSUE:
    it->reached_ready = true;
    fz_poke_getters (it);
    for (int i = 0; i < it->ncmds; i++)
      if (it->cmds[i].wave == 0)
        fz_issue_cmd (it, i);
    *progress = true;
    if (it->cl.early_disc && nbd_aio_disconnect (h, 0) == 0)
      return T_DISC;
    return T_WAIT;
  case T_WAIT:
    if (fz_gone (h))
      return T_END;
    if (!fz_all_done (it))
      return t;
    *progress = true;
    return T_FINISH;
  case T_FINISH:
    for (int i = 0; i < it->ncmds; i++) {
      struct fz_cmd *c = &it->cmds[i];
      if (c->attempted && c->cookie != -1 && c->manual_retire && c->comp.calls == 1
          && !c->retired) {
        int r = nbd_aio_command_completed (h, c->cookie);
        c->retired = true;
        ICHECK (it, r == (c->comp_err ? -1 : 1),
                "nbd_aio_command_completed(%s) = %d, completion said error %d",
                fz_cmd_name[c->type], r, c->comp_err);
        if (r == -1)
          ICHECK (it, nbd_get_error () != NULL && nbd_get_errno () == c->comp_err,
                  "nbd_aio_command_completed: errno %d, completion said %d",
                  nbd_get_errno (), c->comp_err);
      }
    }
    *progress = true;
    /* A second wave, once the first is over. */
    bool more = false;
    for (int i = 0; i < it->ncmds; i++)
      if (it->cmds[i].wave == 1 && !it->cmds[i].attempted) {
        fz_issue_cmd (it, i);
        more = true;
      }
    if (more)
      return T_WAIT;
    if (it->cl.final_disc && !fz_gone (h) && nbd_aio_disconnect (h, 0) == 0)
      return T_DISC;
    return T_END;
  case T_DISC:
    if (fz_gone (h))
      return T_END;
    return t;
  case T_END:
    break;
  }
  return T_END;
}

/* The fake server's end of the socketpair: what fz_srv_next_out offers
 * goes out with send, what recv gets goes into fz_srv_feed, and the fd
 * is closed as soon as the server hangs up. */

static void
fz_sock_sync (struct fz_iter *it)
{
  if (it->srv.closed && it->srv_fd >= 0) {
    close (it->srv_fd);
    it->srv_fd = -1;
  }
}

/* Read what the client sent; returns bytes read. */
static size_t
fz_sock_read (struct fz_iter *it)
{
  struct fz_srv *s = &it->srv;
  struct fz_buf got = { 0 };

  if (s->closed)
    return 0;
  for (;;) {
    uint8_t tmp[65536];
    ssize_t n = recv (it->srv_fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
      fz_buf_add (&got, tmp, n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      s->peer_gone = true;
    break;
  }
  fz_srv_feed (s, got.p, got.len);
  fz_sock_sync (it);
  size_t total = got.len;
  fz_buf_free (&got);
  return total;
}

/* Send one piece of the server's output; returns bytes sent. */
static size_t
fz_sock_write (struct fz_iter *it)
{
  struct fz_srv *s = &it->srv;
  const uint8_t *p;
  size_t piece = fz_srv_next_out (s, &p);
  ssize_t n;

  if (piece == 0) {
    fz_sock_sync (it);
    return 0;
  }
  n = send (it->srv_fd, p, piece, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      s->peer_gone = true;
      fz_srv_hang_up (s);
      fz_sock_sync (it);
    }
    return 0;
  }
  fz_srv_sent (s, n);
  fz_sock_sync (it);
  return n;
}

/* Run the iteration to its end; the handle is still open afterwards. */
static void
fz_drive (struct fz_iter *it)
{
  struct nbd_handle *h = it->h;
  struct fz_srv *s = &it->srv;
  int64_t deadline = fz_now_ms () + it->time_limit_ms;
  enum fz_phase t = T_CONNECT;
  int idle_after_close = 0;

  for (;;) {
    bool progress = false;

    t = fz_actions (it, t, &progress);
    if (t == T_END)
      break;
    it->steps++;
    if ((it->steps & 63) == 0 && fz_now_ms () > deadline) {
      it->hung = true;
      ICHECK (it, false, "no end after %d ms (phase %s, state %s, direction %u, "
              "in flight %d, server %s)", it->time_limit_ms, fz_phase_name[t],
              nbd_connection_state (h), nbd_aio_get_direction (h),
              nbd_aio_in_flight (h), s->closed ? "closed" : "open");
      break;
    }

    if (fz_sock_write (it))
      progress = true;

    struct pollfd pfd[2];
    int fd = fz_gone (h) ? -1 : nbd_aio_get_fd (h);
    unsigned dir = fd >= 0 ? nbd_aio_get_direction (h) : 0;
    int n = 0;
    if (fd >= 0 && dir) {
      pfd[n++] = (struct pollfd) {
        .fd = fd,
        .events = (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0)
                | (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0),
      };
    }
    if (n && poll (pfd, n, 0) > 0) {
      short ev = pfd[0].revents;
      if ((dir & LIBNBD_AIO_DIRECTION_READ) && (ev & (POLLIN | POLLHUP | POLLERR))) {
        progress = true;
        if (nbd_aio_notify_read (h) == -1) {
          ICHECK (it, nbd_get_error () != NULL, "notify_read failed without a message");
          if (it->verbose)
            fprintf (stderr, "[cli] notify_read: %s\n", nbd_get_error ());
        }
      }
      dir = fz_gone (h) ? 0 : nbd_aio_get_direction (h);
      if ((dir & LIBNBD_AIO_DIRECTION_WRITE) && (ev & (POLLOUT | POLLHUP | POLLERR))) {
        progress = true;
        if (nbd_aio_notify_write (h) == -1) {
          ICHECK (it, nbd_get_error () != NULL, "notify_write failed without a message");
          if (it->verbose)
            fprintf (stderr, "[cli] notify_write: %s\n", nbd_get_error ());
        }
      }
    }

    if (fz_sock_read (it))
      progress = true;

    if (progress) {
      idle_after_close = 0;
      continue;
    }
    /* Nobody can move: the transcript is exhausted (or the server sent
     * what it had and the client waits for more).  Hang up. */
    if (!s->closed) {
      /* A request the client began to send must be finished, whatever
       * the server said: if its rest is not coming, the client stalls
       * (a real server would wait for it for ever). */
      if (!fz_gone (h) && fz_srv_partial_request (s) > 0)
        ICHECK (it, false, "stall: the client stopped sending in the middle of a "
                "request (%zu bytes of it received; phase %s, state %s, "
                "direction %u, in flight %d)", fz_srv_partial_request (s),
                fz_phase_name[t], nbd_connection_state (h),
                nbd_aio_get_direction (h), nbd_aio_in_flight (h));
      fz_srv_hang_up (s);
      fz_sock_sync (it);
      continue;
    }
    if (++idle_after_close > 3) {
      /* The server is gone and the client still waits for nothing. */
      it->hung = true;
      ICHECK (it, false, "client stuck after the server hung up (phase %s, state %s, "
              "direction %u, in flight %d)", fz_phase_name[t],
              nbd_connection_state (h), nbd_aio_get_direction (h),
              nbd_aio_in_flight (h));
      break;
    }
  }
  it->ended_dead = nbd_aio_is_dead (h);
  it->ended_closed = nbd_aio_is_closed (h);
  snprintf (it->end_state, sizeof it->end_state, "%s", nbd_connection_state (h));
}


/* Checks on a finished iteration, before and after nbd_close. */
static void
fz_check_before_close (struct fz_iter *it)
{
  struct nbd_handle *h = it->h;

  if (it->ended_dead) {
    /* A dead handle refuses work, with a message. */
    it->extra = (struct fz_cb) { .it = it, .owner = -1 };
    int64_t r = nbd_aio_flush (h, fz_completion_for (&it->extra, fz_extra_completion), 0);
    ICHECK (it, r == -1, "nbd_aio_flush on a dead handle returned %" PRId64, r);
    ICHECK (it, nbd_get_error () != NULL, "no error message from a dead handle");
    ICHECK (it, it->extra.frees == 1 && it->extra.calls == 0,
            "refused flush: completion called %d, freed %d",
            it->extra.calls, it->extra.frees);
  }
  fz_poke_getters (it);
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *c = &it->cmds[i];
    if (!c->attempted || c->cookie == -1)
      continue;
    /* Retire what the program still owes, dead handle or not. */
    if (c->manual_retire && c->comp.calls == 1 && !c->retired) {
      int r = nbd_aio_command_completed (h, c->cookie);
      c->retired = true;
      ICHECK (it, r == (c->comp_err ? -1 : 1),
              "nbd_aio_command_completed(%s) = %d at the end, completion said error %d",
              fz_cmd_name[c->type], r, c->comp_err);
    }
  }
  fz_check_completions (it);
}


/* Run one iteration whose configuration is already filled in. */
void
fz_run (struct fz_iter *it)
{
  fz_set_current (it->label);
  int sv[2];
  int fds_before = fz_count_fds ();

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    perror ("socketpair");
    exit (99);
  }
  if (fcntl (sv[1], F_SETFL, O_NONBLOCK) == -1) {
    perror ("fcntl");
    exit (99);
  }
  it->srv_fd = sv[1];
  it->issue_cmd = fz_issue_cmd;
  it->srv.rng = &it->rng;
  it->h = test_create ();
  fz_setup_handle (it);
  fz_srv_start (&it->srv);
  if (nbd_aio_connect_socket (it->h, sv[0]) == -1) {
    ICHECK (it, false, "nbd_aio_connect_socket: %s", nbd_get_error ());
    close (sv[0]);
  }
  else
    fz_drive (it);

  fz_check_before_close (it);
  nbd_close (it->h);
  it->h = NULL;
  it->issue_cmd = NULL;
  fz_check_after_close (it);
  if (it->unmutated && !it->hung)
    fz_check_unmutated (it);
  fz_check_expectation (it);

  fz_srv_free (&it->srv);
  fz_sock_sync (it);
  int fds_after = fz_count_fds ();
  ICHECK (it, fds_before == fds_after, "file descriptors: %d before, %d after",
          fds_before, fds_after);
  for (int i = 0; i < it->ncmds; i++)
    it->cmds[i].buf = NULL;
}
