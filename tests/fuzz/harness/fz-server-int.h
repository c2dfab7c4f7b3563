/* What the fake server's own files share (fz-server.c, fz-srv-options.c,
 * fz-srv-replies.c, fz-mutate.c). */
#ifndef FZ_SERVER_INT_H
#define FZ_SERVER_INT_H

#include "fz-server.h"

/* Queue one message, after the hook and any mutations aimed at it; its
 * bytes move out of m->b (left empty, for the caller to free). */
void fz_srv_emit (struct fz_srv *s, struct fz_msg *m);

/* Make room in m->b for the len bytes of a message about to be built.
 * When no hook, mutation, capture or dump is to see it, m->b becomes
 * the server's output itself and the message is written straight at
 * its end (fz_srv_emit puts it back): a read's data is made where it is
 * sent from. */
void fz_srv_begin (struct fz_srv *s, struct fz_msg *m, size_t len);

/* Stop answering; why is printed with --dump. */
void fz_srv_give_up (struct fz_srv *s, const char *why);

/* Record that cookie was answered with errno err (0: success). */
void fz_srv_expect (struct fz_srv *s, uint64_t cookie, int err);

/* One option request (code, payload). */
void fz_srv_option (struct fz_srv *s, uint32_t opt, const uint8_t *d, uint32_t len);

/* One transmission request; and the replies held back for reordering. */
void fz_srv_answer (struct fz_srv *s, const struct fz_req *r);
void fz_srv_flush_pending (struct fz_srv *s);

#endif
