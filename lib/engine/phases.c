/* Tables derived from the NBDI_PHASES list. */
#include "engine/phases.h"

static const struct {
  enum nbdi_state state;
  enum nbdi_phase_io io;
  const char *name, *purpose;
} phases[] = {
#define X(phase, state, io, purpose)                                     \
  [NBDI_PH_##phase] = { NBDI_STATE_##state, NBDI_IO_##io, #phase, purpose },
  NBDI_PHASES (X)
#undef X
};

enum nbdi_state
nbdi_phase_state (enum nbdi_phase phase)
{
  return phases[phase].state;
}

enum nbdi_phase_io
nbdi_phase_io (enum nbdi_phase phase)
{
  return phases[phase].io;
}

const char *
nbdi_phase_name (enum nbdi_phase phase)
{
  return phases[phase].name;
}

const char *
nbdi_phase_purpose (enum nbdi_phase phase)
{
  return phases[phase].purpose;
}
