/* Connection states, listed once.
 *
 * Each state belongs to one public group; the group decides which API
 * calls are permitted (the table in spec/api.py names groups) and what
 * the nbd_aio_is_* predicates report.  The engine adds its states here. */
#ifndef NBDI_ENGINE_STATES_H
#define NBDI_ENGINE_STATES_H

/* Public groups, as bits so a call's permitted states form one mask. */
#define NBDI_GROUP_CREATED     0x01u
#define NBDI_GROUP_CONNECTING  0x02u
#define NBDI_GROUP_NEGOTIATING 0x04u
#define NBDI_GROUP_CONNECTED   0x08u   /* ready or processing */
#define NBDI_GROUP_CLOSED      0x10u
#define NBDI_GROUP_DEAD        0x20u

/* X (name, group, description) */
#define NBDI_STATES(X)                                                   \
  X (CREATED, CREATED, "created")                                       \
  X (CONNECTING, CONNECTING, "connecting")                              \
  X (HANDSHAKING, CONNECTING, "handshaking")                            \
  X (NEGOTIATING, NEGOTIATING, "negotiating")                           \
  X (OPT_PENDING, CONNECTING, "sending an option request")              \
  X (READY, CONNECTED, "ready")                                         \
  X (PROCESSING, CONNECTED, "processing commands")                      \
  X (CLOSED, CLOSED, "closed")                                          \
  X (DEAD, DEAD, "dead")

enum nbdi_state {
#define X(name, group, text) NBDI_STATE_##name,
  NBDI_STATES (X)
#undef X
};

/* The group bit of a state. */
unsigned nbdi_state_group (enum nbdi_state state);

/* A human-readable name of a state, for nbd_connection_state and debug. */
const char *nbdi_state_name (enum nbdi_state state);

#endif
