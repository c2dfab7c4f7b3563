/* Name the item that was running when the process crashes. */
#include "fz-iter.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#if defined (__has_feature)
# if __has_feature (address_sanitizer)
#  define FZ_ASAN 1
# endif
#endif
#if defined (__SANITIZE_ADDRESS__)
# define FZ_ASAN 1
#endif

#ifdef FZ_ASAN
# include <sanitizer/common_interface_defs.h>
/* Defaults for a run without ASAN_OPTIONS / UBSAN_OPTIONS: a report must
 * end the process with a signal, never with an exit status the test
 * could take for its own.  (This file is always linked: every driver
 * installs the crash handler.) */
const char *__asan_default_options (void);
const char *__asan_default_options (void)
{ return "abort_on_error=1:detect_leaks=1"; }
const char *__ubsan_default_options (void);
const char *__ubsan_default_options (void)
{ return "halt_on_error=1:print_stacktrace=1:abort_on_error=1"; }
#endif

/* When ASan/UBSan abort (or anything crashes), say which iteration it
 * was, so that it can be run again alone with --dump. */
static char fz_current[160];

void
fz_set_current (const char *label)
{
  size_t n = strnlen (label, sizeof fz_current - 1);   /* every iteration: no printf */
  memcpy (fz_current, label, n);
  fz_current[n] = '\0';
}

static void
fz_say_current (const char *pre)
{
  ssize_t r;
  r = write (2, pre, strlen (pre));
  r = write (2, fz_current, strlen (fz_current));
  r = write (2, "\n", 1);
  (void) r;
}

static void
fz_crash_handler (int sig)
{
  fz_say_current ("\n*** crashed while running: ");
  signal (sig, SIG_DFL);
  raise (sig);
}

#ifdef FZ_ASAN
static void
fz_sanitizer_death (void)
{
  fz_say_current ("\n*** sanitizer report while running: ");
}
#endif

void
fz_install_crash_handler (void)
{
#ifdef FZ_ASAN
  __sanitizer_set_death_callback (fz_sanitizer_death);
#endif
  signal (SIGABRT, fz_crash_handler);
  signal (SIGSEGV, fz_crash_handler);
  signal (SIGBUS, fz_crash_handler);
  signal (SIGPIPE, fz_crash_handler);
}
