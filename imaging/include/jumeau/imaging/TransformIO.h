#pragma once
// Transform files: Jumeau's TRANSFORM.json, ITK's text .tfm (which 3D Slicer loads as it is), and landmark files.
//
// Every file holds the fixed→moving transform in LPS millimetres (Registration.h's convention). ITK writes that
// same resampling transform into .tfm, and Slicer reads a .tfm as the transform "from parent" in LPS: drop the
// file into Slicer, place the MOVING volume under it, and MOVING lands on FIXED. So the .tfm we write needs no
// inversion and no RAS conversion for Slicer (Slicer converts LPS→RAS itself when it reads ITK files).
//
// TRANSFORM.json (see docs/registration.md):
//   {"format": "jumeau-transform", "version": 1, "convention": "...",
//    "matrix": [[r00, r01, r02, tx], [r10, r11, r12, ty], [r20, r21, r22, tz], [0, 0, 0, 1]],  // row-major, LPS
//    "mode": "rigid|affine|deformable",
//    "bspline": {"gridSize": [nx, ny, nz], "gridOrigin": [..], "gridSpacing": [..], "gridDirection": [[..] x3],
//                "coefficients": [[dx, dy, dz], ...]},   // only when deformable: moving = matrix(x + d(x))
//    "quality": {...}, "fixed": "...", "moving": "..."}   // informative
//
// Landmark file (LPS unless "frame" is "RAS", then x and y are negated on reading):
//   {"frame": "LPS", "landmarks": [{"name": "portal bifurcation", "fixed": [x, y, z], "moving": [x, y, z]}, ...]}

#include <filesystem>
#include <string>
#include <vector>

#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/Registration.h"

namespace jumeau::imaging {

// What a TRANSFORM.json says besides the transform.
struct TransformFileInfo {
    std::string mode;  // "rigid", "affine", "deformable" (written when not empty)
    std::string fixed; // where the images came from (informative)
    std::string moving;
    std::optional<RegistrationQuality> quality;
};

Result<void> writeTransformJson(const SpatialTransform& t, const std::filesystem::path& file,
                                const TransformFileInfo& info = {});
// Reads "matrix" (checked: 4x4, finite, last row 0 0 0 1, invertible) and "bspline" when present.
Result<SpatialTransform> readTransformJson(const std::filesystem::path& file);

// The quality report as one JSON document (what `jumeau-cli register --json` prints, and TRANSFORM.json's
// "quality").
std::string qualityToJson(const RegistrationQuality& q);

// ITK text transform file (.tfm or .txt): an AffineTransform_double_3_3, or for a deformable transform a
// CompositeTransform_double_3_3 of that affine and a BSplineTransform_double_3_3 (applied first). Loads in 3D
// Slicer and in any ITK tool (antsApplyTransforms, BRAINSResample ...).
Result<void> writeItkTransform(const SpatialTransform& t, const std::filesystem::path& file);
Result<SpatialTransform> readItkTransform(const std::filesystem::path& file);

// Picks the format from the extension: .json, .tfm or .txt.
Result<void> exportTransform(const SpatialTransform& t, const std::filesystem::path& file,
                             const TransformFileInfo& info = {});

Result<std::vector<LandmarkPair>> readLandmarks(const std::filesystem::path& file);
Result<void> writeLandmarks(const std::vector<LandmarkPair>& pairs, const std::filesystem::path& file);

} // namespace jumeau::imaging
