#!/usr/bin/env bash
# The two README commands:
#   cmake/bootstrap.sh run    install what is missing, build, start the workstation on the demo case
#   cmake/bootstrap.sh test   install what is missing, build, run every test (GUI tests under Xvfb)
set -euo pipefail

mode=${1:-run}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${JUMEAU_BUILD_DIR:-$here/build}
jobs=${JUMEAU_JOBS:-$(nproc)}

bash "$here/cmake/setup-deps.sh"

# ccache keeps rebuilds cheap across clean clones on the same machine.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/jumeau-ccache}
export CCACHE_BASEDIR=$here
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_NOHASHDIR=1

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j "$jobs"

case "$mode" in
  run)
    shift || true
    if [ -n "${DISPLAY:-}" ]; then
      exec "$build/app/jumeau" "$@"
    fi
    # No display (a server or CI shell): run on a virtual one and save what it shows.
    echo "No DISPLAY: starting jumeau under Xvfb and saving screenshots to $build/screenshots"
    exec xvfb-run -a -s "-screen 0 1600x1000x24" "$build/app/jumeau" --screenshot "$build/screenshots" "$@"
    ;;
  test)
    cd "$build"
    ctest --output-on-failure -j "$jobs" --timeout 900
    ;;
  *)
    echo "usage: $0 run|test" >&2
    exit 64
    ;;
esac
