#!/usr/bin/env bash
# The installed C library works as C users use it: scripts/install-c.sh into a temporary prefix,
# then, with nothing but pkg-config pointing there,
#   1. the shared library carries its SONAME, and the symlinks lead to it;
#   2. the header's MM_VERSION_* macros match the library's mm_version() and pkg-config's
#      --modversion;
#   3. examples/c/quickstart.c builds against the shared library (`pkg-config --cflags --libs`),
#      records the SONAME as its dependency, loads it from the prefix, and runs;
#   4. it builds against the static library (`pkg-config --static --libs`, Libs.private
#      supplying -lsqlite3 -lm ...), depends on no libmodel_mapping at run time, and runs;
#   5. a staged install (--destdir) puts the files under DESTDIR and the final prefix in the .pc.
# Installs gcc, pkg-config and libsqlite3-dev when missing. Exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v pkg-config >/dev/null 2>&1 || need+=(pkgconf)
command -v readelf >/dev/null 2>&1 || need+=(binutils)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "test-c-install.sh: installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "test-c-install.sh: $*" >&2; exit 1; }

PREFIX="$WORK/prefix"
bash scripts/install-c.sh --prefix "$PREFIX"
LIBDIR="$PREFIX/lib"
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
# Only the temporary prefix and the system: no stray copy in the checkout may be found.
unset LD_LIBRARY_PATH PKG_CONFIG_LIBDIR

VERSION="$(pkg-config --modversion model_mapping)"
[ "$VERSION" = "$(cargo pkgid | sed 's/.*[#@]//')" ] || fail "pkg-config version $VERSION is not Cargo.toml's"

# 1. SONAME and links.
SONAME="$(readelf -d "$LIBDIR/libmodel_mapping.so.$VERSION" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[ -n "$SONAME" ] || fail "libmodel_mapping.so.$VERSION has no SONAME"
[ "$(readlink -f "$LIBDIR/$SONAME")" = "$(readlink -f "$LIBDIR/libmodel_mapping.so.$VERSION")" ] ||
    fail "$SONAME does not lead to libmodel_mapping.so.$VERSION"
[ "$(readlink -f "$LIBDIR/libmodel_mapping.so")" = "$(readlink -f "$LIBDIR/$SONAME")" ] ||
    fail "libmodel_mapping.so does not lead to $SONAME"
echo "test-c-install.sh: SONAME $SONAME"

CFLAGS=(-std=c11 -Wall -Wextra -Werror -O1)
read -r -a PC_CFLAGS <<<"$(pkg-config --cflags model_mapping)"
read -r -a PC_LIBS <<<"$(pkg-config --libs model_mapping)"
read -r -a PC_STATIC <<<"$(pkg-config --static --libs model_mapping)"
# The static link: the archive itself for -lmodel_mapping (the linker prefers the .so beside
# it), everything else exactly as pkg-config gives it.
STATIC_LIBS=()
for flag in "${PC_STATIC[@]}"; do
    if [ "$flag" = -lmodel_mapping ]; then STATIC_LIBS+=(-l:libmodel_mapping.a); else STATIC_LIBS+=("$flag"); fi
done
[[ " ${PC_STATIC[*]} " == *" -lsqlite3 "* ]] || fail "pkg-config --static --libs lacks -lsqlite3"

# 2. Version macros against the library.
cat >"$WORK/version.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <model_mapping.h>
#define STR2(x) #x
#define STR(x) STR2(x)
int main(void) {
    const char *want = STR(MM_VERSION_MAJOR) "." STR(MM_VERSION_MINOR) "." STR(MM_VERSION_PATCH);
    if (strcmp(MM_VERSION, want) != 0 || strcmp(mm_version(), MM_VERSION) != 0) {
        fprintf(stderr, "header %s (%s), library %s\n", MM_VERSION, want, mm_version());
        return 1;
    }
    puts(MM_VERSION);
    return 0;
}
C
gcc "${CFLAGS[@]}" "${PC_CFLAGS[@]}" "$WORK/version.c" "${PC_LIBS[@]}" -Wl,-rpath,"$LIBDIR" -o "$WORK/version"
[ "$("$WORK/version")" = "$VERSION" ] || fail "MM_VERSION is not $VERSION"
echo "test-c-install.sh: MM_VERSION_{MAJOR,MINOR,PATCH} and MM_VERSION match mm_version() ($VERSION)"

run_quickstart() {
    local bin="$1"
    # From the repository root: the default storage dir is examples/data/ai_runtime.
    "$bin" "$WORK/app.db" "$ROOT/examples/data/ai_runtime" >"$WORK/out.txt"
    grep -q '"resolved_model":"grok-3"' "$WORK/out.txt" || fail "$bin: xai did not resolve to grok-3"
    grep -q '"resolved_model":"llama3:8b","hit":false' "$WORK/out.txt" || fail "$bin: no pass-through"
}

# 3. Shared.
gcc "${CFLAGS[@]}" "${PC_CFLAGS[@]}" examples/c/quickstart.c "${PC_LIBS[@]}" -Wl,-rpath,"$LIBDIR" \
    -o "$WORK/quickstart-shared"
# (Outputs captured first: `cmd | grep -q` can fail under pipefail when grep exits early.)
dyn="$(readelf -d "$WORK/quickstart-shared")"
grep -qF "Shared library: [$SONAME]" <<<"$dyn" || fail "quickstart-shared does not depend on $SONAME"
loaded="$(ldd "$WORK/quickstart-shared")"
grep -qF "$SONAME => $LIBDIR/$SONAME " <<<"$loaded" ||
    fail "quickstart-shared does not load $SONAME from $LIBDIR: $loaded"
run_quickstart "$WORK/quickstart-shared"
echo "test-c-install.sh: quickstart.c built with pkg-config against the shared library ran"

# 4. Static.
gcc "${CFLAGS[@]}" "${PC_CFLAGS[@]}" examples/c/quickstart.c "${STATIC_LIBS[@]}" -o "$WORK/quickstart-static"
dyn="$(readelf -d "$WORK/quickstart-static")"
if grep -qF 'Shared library: [libmodel_mapping' <<<"$dyn"; then
    fail "quickstart-static depends on a shared libmodel_mapping"
fi
grep -qF 'Shared library: [libsqlite3.so.0]' <<<"$dyn" || fail "quickstart-static does not use the system libsqlite3"
run_quickstart "$WORK/quickstart-static"
echo "test-c-install.sh: quickstart.c built with pkg-config --static against the static library ran"

# 5. Staged install.
bash scripts/install-c.sh --prefix /opt/model_mapping --destdir "$WORK/stage" >/dev/null
STAGED="$WORK/stage/opt/model_mapping"
for f in include/model_mapping.h lib/libmodel_mapping.so "lib/$SONAME" lib/libmodel_mapping.a; do
    [ -e "$STAGED/$f" ] || fail "--destdir: $STAGED/$f missing"
done
grep -qx 'prefix=/opt/model_mapping' "$STAGED/lib/pkgconfig/model_mapping.pc" ||
    fail "--destdir: the .pc file does not name the final prefix"
echo "test-c-install.sh: a --destdir install stages the same files for /opt/model_mapping"
echo "test-c-install.sh: all C install checks passed"
