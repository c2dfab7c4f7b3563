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
  struct fz_iter *it = calloc (1, sizeof *it);

  fz_from_fuzzer_input (it, data, size);
  fz_engine_run (it);
  if (it->failures) {
    fprintf (stderr, "fuzz-engine-libfuzzer: %d failed checks\n", it->failures);
    abort ();
  }
  free (it);
  return 0;
}
