/* The engine's phases, listed once.
 *
 * A phase is where the protocol stands; each maps to the public state
 * (engine/states.h) that nbd_connection_state and the nbd_aio_is_*
 * calls report, and says which way the engine wants bytes to move.
 * The option phases report NBDI_STATE_OPT_PENDING instead while an
 * option the program asked for (nbd_opt_*) is running. */
#ifndef NBDI_ENGINE_PHASES_H
#define NBDI_ENGINE_PHASES_H

#include "engine/states.h"

/* Which way bytes flow in a phase (queued output is sent in any live
 * phase besides). */
enum nbdi_phase_io {
  NBDI_IO_NONE,                 /* nothing to receive */
  NBDI_IO_READ,                 /* bytes from the server are due */
  NBDI_IO_DIAL,                 /* the driver waits for connect() */
  NBDI_IO_TLS,                  /* the driver runs the TLS handshake */
};

/* X (phase, public state, I/O, purpose) */
#define NBDI_PHASES(X)                                                   \
  X (CREATED, CREATED, NONE, "no connection yet")                        \
  X (DIAL, CONNECTING, DIAL, "waiting for the socket to connect")        \
  X (GREETING, HANDSHAKING, READ, "reading NBDMAGIC and the style")      \
  X (OLDSTYLE, HANDSHAKING, READ, "reading the rest of an oldstyle greeting") \
  X (HS_FLAGS, HANDSHAKING, READ, "reading the newstyle handshake flags") \
  X (OPT_REPLY, HANDSHAKING, READ, "waiting for an option reply")        \
  X (EXPORT_NAME_REPLY, HANDSHAKING, READ, "waiting for the reply to NBD_OPT_EXPORT_NAME") \
  X (TLS_HANDSHAKE, HANDSHAKING, TLS, "STARTTLS agreed: the driver runs TLS") \
  X (OPT_WAIT_USER, NEGOTIATING, NONE, "option mode: paused for the program") \
  X (ABORT_WAIT, NEGOTIATING, READ, "NBD_OPT_ABORT sent: waiting for the end") \
  X (READY, READY, READ, "transmission: nothing half sent or half read") \
  X (PROCESSING, PROCESSING, READ, "transmission: a request or reply under way") \
  X (CLOSED, CLOSED, NONE, "the connection ended cleanly")               \
  X (DEAD, DEAD, NONE, "the connection failed")

enum nbdi_phase {
#define X(phase, state, io, purpose) NBDI_PH_##phase,
  NBDI_PHASES (X)
#undef X
};

/* One row of the table (engine/phases.c builds it from the list). */
struct nbdi_phase_row {
  enum nbdi_state state;
  enum nbdi_phase_io io;
  const char *name, *purpose;
};
extern const struct nbdi_phase_row nbdi_phase_table[];

/* Column lookups: inline, as transitions happen for every command. */
static inline enum nbdi_state
nbdi_phase_state (enum nbdi_phase phase)
{
  return nbdi_phase_table[phase].state;
}

static inline enum nbdi_phase_io
nbdi_phase_io (enum nbdi_phase phase)
{
  return nbdi_phase_table[phase].io;
}

static inline const char *
nbdi_phase_name (enum nbdi_phase phase)
{
  return nbdi_phase_table[phase].name;
}

static inline const char *
nbdi_phase_purpose (enum nbdi_phase phase)
{
  return nbdi_phase_table[phase].purpose;
}

#endif
