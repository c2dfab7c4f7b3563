/* The in-process driver: one iteration with the protocol engine itself
 * (lib/engine) against the fake server, no handle and no socket. */
#ifndef FZ_ENGINE_H
#define FZ_ENGINE_H

#include "fz-callbacks.h"
#include "fz-iter.h"

/* Run one iteration whose configuration is filled in, free the engine,
 * and make every check. */
void fz_engine_run (struct fz_iter *it);

#endif
