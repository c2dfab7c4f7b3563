/* Scattered receive: the rest of a payload straight into the caller's
 * buffer, and whatever follows it into rx, in one receive.
 *
 * Small payloads normally come through rx and are copied out.  When a
 * receive has ended inside a payload, though, its reply header has
 * already been parsed, so the next bytes of the stream are known to be
 * payload: they can go straight to where they belong, and the bytes
 * after them (the next replies) into rx.  Servers that send a reply's
 * header and data in separate pieces (nbdkit does) make this the common
 * case.
 *
 * Why nothing further is predicted: a caller's buffer is not the
 * library's.  Several reads, on one handle or on handles in other
 * threads, may share one buffer, and the program may write to it at any
 * time; so a byte that lands there can be gone before it is looked at.
 * Receiving a guessed next reply header and payload in the same receive
 * would put the bytes after a wrong guess (which may be protocol) into
 * such a buffer, with no other copy to parse them from.  So protocol
 * bytes always land in rx, and a caller's buffer only ever receives
 * bytes that a header parsed earlier declared to be its payload. */
#include "engine/internal.h"

void
nbdi_scatter_plan (struct nbdi_engine *e, struct iovec iov[2])
{
  e->rx.start = e->rx.end = 0;          /* rx is empty: reuse it from the start */
  iov[0] = (struct iovec) { .iov_base = e->direct, .iov_len = nbdi_replies_lead (e) };
  iov[1] = (struct iovec) { .iov_base = e->rx.buf, .iov_len = nbdi_rx_read_size (e) };
}

void
nbdi_scatter_landed (struct nbdi_engine *e, size_t got)
{
  uint64_t lead = e->direct_left;

  if (got <= lead) {
    nbdi_payload_landed (e, got);
    return;
  }
  /* The rest sits in rx before the payload's completion callback runs,
   * where parsing expects it. */
  e->rx.end = got - lead;
  nbdi_payload_landed (e, lead);
}
