#!/usr/bin/env bash
# Installs the C library as C users expect it (the layout cargo-c's `cargo cinstall` produces):
#
#   $DESTDIR$PREFIX/include/model_mapping.h
#   $DESTDIR$LIBDIR/libmodel_mapping.so.X.Y.Z     the shared library, SONAME libmodel_mapping.so.N
#   $DESTDIR$LIBDIR/libmodel_mapping.so.N         -> libmodel_mapping.so.X.Y.Z (what programs load)
#   $DESTDIR$LIBDIR/libmodel_mapping.so           -> libmodel_mapping.so.N (what -lmodel_mapping finds)
#   $DESTDIR$LIBDIR/libmodel_mapping.a            the static library
#   $DESTDIR$LIBDIR/pkgconfig/model_mapping.pc    Cflags, Libs, and Libs.private for static links
#
# N is the major version, or `0.MINOR` while the major version is 0 (a 0.x minor release may
# break the ABI, as in Cargo's semver; cargo-c names it the same way).
#
# Usage: scripts/install-c.sh [--prefix DIR] [--libdir DIR] [--destdir DIR]
#   --prefix   where the files will live (default /usr/local); written into the .pc file
#   --libdir   default PREFIX/lib
#   --destdir  a staging root prepended to every path written (packaging); default none
#
# Build: `cargo rustc --release` in its own target dir (target/c-install), so the SONAME link
# argument (-C link-arg=-Wl,-soname,...) applies to this build only: target/release, which the
# Python package and the tests use, is built without it. The libraries are stripped (the release
# profile). Libs.private is what rustc reports the static library needs (--print
# native-static-libs): the system SQLite (behaviour B15: the library never bundles its own) and
# the C runtime libraries. Needs cargo and the system libsqlite3-dev.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/usr/local
LIBDIR=
DESTDIR="${DESTDIR:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="$2"; shift 2 ;;
        --libdir) LIBDIR="$2"; shift 2 ;;
        --destdir) DESTDIR="$2"; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-c.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$PREFIX" in /*) ;; *) echo "install-c.sh: --prefix must be absolute" >&2; exit 2 ;; esac
LIBDIR="${LIBDIR:-$PREFIX/lib}"
INCLUDEDIR="$PREFIX/include"

cd "$ROOT"
VERSION="$(cargo pkgid | sed 's/.*[#@]//')"
MAJOR="${VERSION%%.*}"
rest="${VERSION#*.}"
MINOR="${rest%%.*}"
if [ "$MAJOR" = 0 ]; then ABI="0.$MINOR"; else ABI="$MAJOR"; fi
SONAME="libmodel_mapping.so.$ABI"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/c-install"

echo "install-c.sh: building model_mapping $VERSION (SONAME $SONAME) in $TARGET_DIR"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
# --print native-static-libs makes rustc name the libraries the static library needs; a
# fresh build prints it, and cargo replays it when the build is already up to date.
if ! cargo rustc --release --quiet --lib --target-dir "$TARGET_DIR" \
    --crate-type cdylib,staticlib -- \
    -C "link-arg=-Wl,-soname,$SONAME" --print native-static-libs 2>"$LOG"; then
    cat "$LOG" >&2
    exit 1
fi
NATIVE_LIBS="$(sed -n 's/.*native-static-libs: //p' "$LOG" | tail -n 1)"
if [ -z "$NATIVE_LIBS" ]; then
    cat "$LOG" >&2
    echo "install-c.sh: rustc did not report the static library's native libraries" >&2
    exit 1
fi
OUT="$TARGET_DIR/release"

# The .pc file names its directories relative to ${prefix} where it can (relocatable).
pc_dir() {
    case "$1" in
        "$PREFIX") echo '${prefix}' ;;
        "$PREFIX"/*) echo "\${prefix}${1#"$PREFIX"}" ;;
        *) echo "$1" ;;
    esac
}
DESCRIPTION="$(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

install -d "$DESTDIR$INCLUDEDIR" "$DESTDIR$LIBDIR/pkgconfig"
install -m 644 include/model_mapping.h "$DESTDIR$INCLUDEDIR/model_mapping.h"
install -m 755 "$OUT/libmodel_mapping.so" "$DESTDIR$LIBDIR/libmodel_mapping.so.$VERSION"
ln -sfn "libmodel_mapping.so.$VERSION" "$DESTDIR$LIBDIR/$SONAME"
ln -sfn "$SONAME" "$DESTDIR$LIBDIR/libmodel_mapping.so"
install -m 644 "$OUT/libmodel_mapping.a" "$DESTDIR$LIBDIR/libmodel_mapping.a"
cat >"$DESTDIR$LIBDIR/pkgconfig/model_mapping.pc" <<PC
prefix=$PREFIX
exec_prefix=\${prefix}
libdir=$(pc_dir "$LIBDIR")
includedir=$(pc_dir "$INCLUDEDIR")

Name: model_mapping
Description: $DESCRIPTION (C ABI)
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -lmodel_mapping
Libs.private: $NATIVE_LIBS
PC
echo "install-c.sh: installed into ${DESTDIR}$PREFIX:"
for f in "$INCLUDEDIR/model_mapping.h" "$LIBDIR/libmodel_mapping.so.$VERSION" "$LIBDIR/$SONAME" \
    "$LIBDIR/libmodel_mapping.so" "$LIBDIR/libmodel_mapping.a" "$LIBDIR/pkgconfig/model_mapping.pc"; do
    if [ -L "$DESTDIR$f" ]; then echo "  $f -> $(readlink "$DESTDIR$f")"; else echo "  $f"; fi
done
