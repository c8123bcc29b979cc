#!/usr/bin/env bash
# Builds the DICOM fuzzer with clang (ASan + UBSan + libFuzzer) in its own build folder and runs it for a bounded
# time over a seed corpus generated on the spot. Exit status non-zero on any crash, leak, sanitizer report, timeout
# or out-of-memory; the input that caused it is left in the build folder (crash-*, leak-*, timeout-*, oom-*).
#
# usage: tests/fuzz/run_fuzz.sh [BUILD_DIR] [SECONDS]     (defaults: build-fuzz beside the sources, 60 s)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$here/build-fuzz}
seconds=${2:-${JUMEAU_FUZZ_SECONDS:-60}}
cc=${JUMEAU_FUZZ_CC:-clang-14}
cxx=${JUMEAU_FUZZ_CXX:-clang++-14}

# Same ccache as cmake/bootstrap.sh, so rebuilds after a small change take seconds.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/jumeau-ccache}
export CCACHE_BASEDIR=$here
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_NOHASHDIR=1

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=$cc CXX=$cxx cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJUMEAU_FUZZ=ON >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
fi
# Only the fuzzer and its seed generator: the reader's sources, DCMTK headers, nothing of ITK, VTK or Qt.
cmake --build "$build" --target dicom_fuzz dicom_fuzz_seeds

seeds=$build/fuzz-seeds
corpus=$build/fuzz-corpus
rm -rf "$seeds"
"$build/tests/fuzz/dicom_fuzz_seeds" "$seeds"
mkdir -p "$corpus"

cd "$build"
# detect_leaks: LeakSanitizer on; allocator_may_return_null: an absurd allocation throws bad_alloc (which the reader
# turns into an error) instead of aborting. -rss_limit_mb also caps single allocations (libFuzzer's malloc limit).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# New inputs go to the corpus folder (first), which persists between runs in this build folder. The inputs of
# tests/fuzz/regressions (what earlier runs found, fixed since) are run every time.
exec "$build/tests/fuzz/dicom_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=8192 \
  -print_final_stats=1 "$corpus" "$seeds" "$here/tests/fuzz/regressions"
