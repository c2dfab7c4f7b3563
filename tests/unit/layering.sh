#!/bin/sh
# The layers' include arrows run one way: api -> engine -> wire,
# api -> transport, engine and api -> util.  Fails naming every include
# that points the wrong way.  Usage: layering.sh SOURCE_ROOT
set -u
root=${1:?usage: layering.sh SOURCE_ROOT}
bad=0

# check DIR ALLOWED_PATTERN: every quoted include in DIR's files must
# match the pattern (system headers in <...> are always allowed).
check () {
  dir=$1 allowed=$2
  for f in "$root/$dir"/*.[ch]; do
    [ -e "$f" ] || continue
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
    while IFS= read -r line; do
      name=$(printf '%s\n' "$line" | sed 's/.*include[[:space:]]*"\([^"]*\)".*/\1/')
      if ! printf '%s\n' "$name" | grep -Eq "^($allowed)$"; then
        echo "$dir/${f##*/}: wrong-way include \"$name\" (${line%%:*})"
      fi
    done
  done
}

out=$( {
  check lib/wire 'wire/[a-z0-9_-]+\.h'
  check lib/util 'util/[a-z0-9_-]+\.h'
  check lib/engine '(engine|wire|util)/[a-z0-9_-]+\.h|libnbd\.h'
  # The engine's own state is private to it: the API layer sees the
  # engine through engine/engine.h only.
  for f in "$root"/lib/api/*.[ch] "$root"/lib/transport/*.[ch]; do
    grep -Hn '#[[:space:]]*include[[:space:]]*"engine/internal\.h"' "$f" /dev/null
  done
} )
if [ -n "$out" ]; then
  printf '%s\n' "$out" >&2
  exit 1
fi
echo "layering: every include points down"
