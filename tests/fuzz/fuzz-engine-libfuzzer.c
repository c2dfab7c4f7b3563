/* Coverage-guided twin of fuzz-engine: libFuzzer's input bytes replace
 * the seeded PRNG (then the PRNG takes over, seeded from the input, when
 * the bytes run out), choosing the client settings, the server's
 * personality and the mutations; the engine runs in this process.  A
 * failed check aborts, so that libFuzzer keeps the input.
 *
 * Built only with -Dfuzz=true and clang:
 *   CC=clang meson setup build-fuzz -Dfuzz=true
 *   ninja -C build-fuzz tests/fuzz/fuzz-engine-libfuzzer
 *   build-fuzz/tests/fuzz/fuzz-engine-libfuzzer CORPUS-DIR -max_total_time=600
 * A crashing input replays with the file as argument; FUZZ_DUMP=1 prints
 * what the server sent. */
#include "fz-engine.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static bool dump, dump_known;
  struct fz_iter *it = calloc (1, sizeof *it);
  uint64_t h = UINT64_C(1469598103934665603);

  if (!dump_known) {
    dump = getenv ("FUZZ_DUMP") != NULL;
    dump_known = true;
  }
  for (size_t i = 0; i < size; i++)
    h = (h ^ data[i]) * UINT64_C(1099511628211);
  it->rng = (struct fz_rng) { .s = h, .data = data, .len = size };
  snprintf (it->label, sizeof it->label, "libFuzzer input of %zu bytes", size);
  fz_random_setup (it);
  fz_random_mutations (it);
  it->time_limit_ms = 5000;
  it->srv.dump = dump;
  it->verbose = dump;
  fz_engine_run (it);
  if (it->failures) {
    fprintf (stderr, "fuzz-engine-libfuzzer: %d failed checks\n", it->failures);
    abort ();
  }
  free (it);
  return 0;
}
