#!/usr/bin/env bash
# Installs every Debian 12 package Jumeau needs to build, run and test.
# Idempotent: packages already installed are skipped; uses sudo when not root.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # GUI: Qt 6 widgets (VTK is embedded by hand, never through VTK's Qt 5 module)
  qt6-base-dev libgl-dev libglx-dev
  # rendering, imaging, geometry
  libvtk9-dev libopenmpi-dev libinsighttoolkit5-dev libdcmtk-dev dcmtk
  libcgal-dev libeigen3-dev libgmp-dev libmpfr-dev
  # small libraries instead of hand-written code
  nlohmann-json3-dev libcli11-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev dicom3tools admesh
  # the DICOM fuzzer: clang's libFuzzer with ASan/UBSan
  clang-14 libclang-rt-14-dev
  # headless rendering for GUI tests and screenshots
  xvfb xauth x11-apps libgl1-mesa-dri mesa-utils imagemagick poppler-utils fonts-dejavu-core
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-deps: installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup-deps: done"
