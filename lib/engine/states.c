/* Tables derived from the NBDI_STATES list. */
#include "engine/states.h"

static const unsigned groups[] = {
#define X(name, group, text) [NBDI_STATE_##name] = NBDI_GROUP_##group,
  NBDI_STATES (X)
#undef X
};

static const char *const names[] = {
#define X(name, group, text) [NBDI_STATE_##name] = text,
  NBDI_STATES (X)
#undef X
};

unsigned
nbdi_state_group (enum nbdi_state state)
{
  return groups[state];
}

const char *
nbdi_state_name (enum nbdi_state state)
{
  return names[state];
}
