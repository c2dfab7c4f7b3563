/* What every file of the API layer includes. */
#ifndef NBDI_API_INTERNAL_H
#define NBDI_API_INTERNAL_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The entry points must keep their NULL checks: no nonnull attributes. */
#define LIBNBD_ATTRIBUTE_NONNULL(...)
#include "libnbd.h"

#include "api/handle.h"
#include "api/error.h"
#include "api/lock.h"
#include "api/debug.h"
#include "api/strings.h"
#include "api/io.h"
#include "api-impl.h"

#endif
