// libnbd.h must be usable from C++ (extern "C", no C-only syntax in
// declarations): compiled with g++ -Wall -Wextra -Werror -pedantic.
#include <libnbd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

struct Counter {
  int messages = 0;
  int frees = 0;
};

extern "C" int
on_debug (void *user_data, const char *, const char *)
{
  static_cast<Counter *> (user_data)->messages++;
  return 0;
}

extern "C" void
on_free (void *user_data)
{
  static_cast<Counter *> (user_data)->frees++;
}

} // namespace

int
main ()
{
  Counter counter;
  struct nbd_handle *h = nbd_create ();
  if (h == nullptr) {
    std::fprintf (stderr, "%s\n", nbd_get_error ());
    return 1;
  }

  nbd_debug_callback debug = { on_debug, &counter, on_free };
  nbd_context_callback context = { nullptr, nullptr, nullptr };
  nbd_extent extent = { 1, 2 };
  (void) context;
  (void) extent;

  if (nbd_set_debug_callback (h, debug) == -1 ||
      nbd_set_debug (h, true) == -1 ||
      nbd_set_export_name (h, "c++") == -1) {
    std::fprintf (stderr, "%s\n", nbd_get_error ());
    return 1;
  }
  char *name = nbd_get_export_name (h);
  std::string export_name = name ? name : "";
  std::free (name);
  nbd_close (h);

  if (export_name != "c++" || counter.messages == 0 || counter.frees != 1) {
    std::fprintf (stderr, "unexpected: export %s, %d messages, %d frees\n",
                  export_name.c_str (), counter.messages, counter.frees);
    return 1;
  }
  std::printf ("ok\n");
  return 0;
}
