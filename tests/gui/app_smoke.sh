#!/usr/bin/env bash
# Starts `jumeau` as a user would, under the X server the caller provides:
#  1. with no path: the demo case is generated into --demo-dir and opened; every view is saved as PNG;
#  2. the same case with --fusion checkerboard: the MR drawn over the CT, so the axial view must differ; a wrong
#     mode is refused (status 64);
#  3. with a missing path, an empty folder and a folder without DICOM: a clear message on stderr and a clean
#     exit (status 2, no crash).
set -u
jumeau=$1
out=$2
rm -rf "$out"; mkdir -p "$out"
fail=0

if ! "$jumeau" --demo-dir "$out/demo-case" --screenshot "$out/demo" >"$out/demo.log" 2>&1; then
  echo "FAIL: jumeau on the demo case"; cat "$out/demo.log"; fail=1
fi
for f in axial coronal sagittal 3d window; do
  if [ ! -s "$out/demo/$f.png" ]; then echo "FAIL: no $f.png"; fail=1; fi
done
[ -f "$out/demo-case/truth.json" ] || { echo "FAIL: demo case not generated"; fail=1; }

if ! "$jumeau" "$out/demo-case" --fusion checkerboard --screenshot "$out/fusion" >"$out/fusion.log" 2>&1; then
  echo "FAIL: jumeau --fusion checkerboard"; cat "$out/fusion.log"; fail=1
elif cmp -s "$out/demo/axial.png" "$out/fusion/axial.png"; then
  echo "FAIL: --fusion checkerboard left the axial view unchanged"; fail=1
fi
"$jumeau" "$out/demo-case" --fusion sideways >"$out/fusion-bad.log" 2>&1
status=$?
if [ $status -ne 64 ] || ! grep -q "fusion" "$out/fusion-bad.log"; then
  echo "FAIL: --fusion sideways exited $status (want 64 and a message)"; cat "$out/fusion-bad.log"; fail=1
fi

mkdir -p "$out/empty" "$out/notdicom"
echo "hello" > "$out/notdicom/readme.txt"
for case in "$out/does-not-exist" "$out/empty" "$out/notdicom"; do
  "$jumeau" "$case" --screenshot "$out/bad" >"$out/bad.log" 2>&1
  status=$?
  if [ $status -ne 2 ]; then echo "FAIL: jumeau $case exited $status (want 2)"; cat "$out/bad.log"; fail=1; fi
  if ! grep -q "jumeau: .*$(basename "$case")" "$out/bad.log"; then
    echo "FAIL: no message naming $case on stderr"; cat "$out/bad.log"; fail=1
  fi
done
[ $fail -eq 0 ] && echo "app smoke test passed"
exit $fail
