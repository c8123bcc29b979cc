#!/bin/sh
# Generates the phantom with jumeau-cli and validates its DICOM with dciodvfy (dicom3tools): no line may
# report an Error (warnings are expected for the US file: its 3D geometry sits in functional groups that the
# US Multi-frame IOD does not define). Exit 77 (skipped) only when dciodvfy is not installed.
# Usage: dciodvfy_phantom.sh <jumeau-cli> <work dir>
set -u
cli="$1"
work="$2"

if ! command -v dciodvfy > /dev/null 2>&1; then
    echo "dciodvfy not installed (Debian package dicom3tools): skipping"
    exit 77
fi

rm -rf "$work"
mkdir -p "$work"
if ! "$cli" phantom --out "$work/case" --seed 3 > "$work/phantom.log" 2>&1; then
    echo "jumeau-cli phantom failed:"
    cat "$work/phantom.log"
    exit 1
fi

first_ct=$(ls "$work"/case/ct/*.dcm | head -n 1)
last_ct=$(ls "$work"/case/ct/*.dcm | tail -n 1)
one_mr=$(ls "$work"/case/mr/*.dcm | head -n 1)
us_count=$(ls "$work"/case/us/*.dcm | wc -l)
us_file=$(ls "$work"/case/us/*.dcm | head -n 1)
if [ "$us_count" -ne 1 ]; then
    echo "expected one multi-frame US file, found $us_count"
    exit 1
fi

status=0
for f in "$first_ct" "$last_ct" "$one_mr" "$us_file"; do
    [ -n "$f" ] || { echo "missing DICOM file in $work/case"; exit 1; }
    out=$(dciodvfy "$f" 2>&1)
    if printf '%s\n' "$out" | grep -q "Error"; then
        echo "dciodvfy reports errors for $f:"
        printf '%s\n' "$out"
        status=1
    else
        warnings=$(printf '%s\n' "$out" | grep -c "Warning")
        echo "OK $f ($warnings warnings)"
    fi
done
[ "$status" -eq 0 ] && rm -rf "$work"
exit "$status"
