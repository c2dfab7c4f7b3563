/* The table derived from the NBDI_PHASES list. */
#include "engine/phases.h"

const struct nbdi_phase_row nbdi_phase_table[] = {
#define X(phase, state, io, purpose)                                     \
  [NBDI_PH_##phase] = { NBDI_STATE_##state, NBDI_IO_##io, #phase, purpose },
  NBDI_PHASES (X)
#undef X
};
