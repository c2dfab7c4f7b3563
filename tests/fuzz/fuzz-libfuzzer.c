/* Coverage-guided twin of fuzz-server: libFuzzer's input bytes replace
 * the seeded PRNG, so they choose the client settings, the server's
 * personality and the mutations (then the PRNG takes over, seeded from
 * the input, when the bytes run out).  A failed check aborts, so that
 * libFuzzer keeps the input.
 *
 * Optional, never run by `meson test`.  With clang:
 *   CC=clang meson setup build-fuzz-clang
 *   ninja -C build-fuzz-clang tests/fuzz/fuzz-server-libfuzzer
 *   mkdir -p corpus-dir
 *   build-fuzz-clang/tests/fuzz/fuzz-server-libfuzzer corpus-dir -max_total_time=600
 * A crashing input replays with the same program and the file as its
 * argument; FUZZ_DUMP=1 prints what the server sent.
 */
#include "fz-client.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fz_iter *it = calloc (1, sizeof *it);

  fz_from_fuzzer_input (it, data, size);
  fz_run (it);
  if (it->failures) {
    fprintf (stderr, "fuzz-server-libfuzzer: %d failed checks\n", it->failures);
    abort ();
  }
  free (it);
  return 0;
}
