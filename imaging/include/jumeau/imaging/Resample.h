#pragma once
// Resampling a Volume or a LabelMap onto another grid (size, spacing, origin, direction in LPS mm; either grid may be
// oblique, anisotropic, larger or smaller), optionally through a transform from target points to source points.
//
// A direct loop, not itk::ResampleImageFilter: the target-index -> source-index map is one affine (precomputed, so
// each voxel costs a multiply-add per axis), the work is split over slices on std::threads with progress and cancel
// between slices, every pixel type of Volume is handled without an ITK image type per case, and two properties a
// label import relies on hold by construction: identical grids return the source (shared buffer, not even a copy)
// and grids differing by whole voxels (integer shift, axis flip or permutation) copy voxels exactly, because
// coefficients within 1e-5 voxel of an integer are snapped before sampling. ITK's filter computes each point through
// physical space and leaves exactness on such grids to floating-point luck; tests compare our linear result with it.

#include <cstdint>
#include <optional>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"
#include "jumeau/imaging/ImageGeometry.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging {

enum class Interpolation {
    Nearest, // the source voxel whose cell holds the point
    Linear   // trilinear between the 8 surrounding voxel centres (RGB per channel)
};

// How a label map is sampled where the target voxel is larger than the source voxels (partial volume).
enum class LabelResampling {
    // The label at the target voxel's centre: the standard (ITK, Slicer), exact when upsampling, unbiased in volume
    // on average, but on a coarser grid it aliases: which fine voxel the centre hits decides, so a structure's
    // volume and shape depend on the grid phase and thin structures break up irregularly.
    Nearest,
    // The most frequent label among n x n x n sub-samples spread over the target voxel (n per axis = how many
    // source voxels the target voxel spans, up to 7; ties go to the centre's label). Each target voxel gets the
    // label covering most of it, which minimises the misassigned volume voxel by voxel; identical to Nearest when
    // the target grid is as fine as the source or finer.
    Majority
};

struct ResampleOptions {
    // Maps a point of the target grid (LPS mm) to the source image's LPS frame (ITK's fixed-to-moving convention).
    // Empty: both grids are in the same frame.
    std::optional<geometry::Transform> targetToSource;
    Interpolation interpolation = Interpolation::Linear;        // volumes only
    LabelResampling labelResampling = LabelResampling::Nearest; // label maps only
    // Value of target voxels whose point falls outside the source grid (more than half a voxel beyond its outer
    // voxel centres). Clamped to the pixel type's range; for RGB it is the grey level of all three channels.
    double outsideValue = 0;
};

// The affine from target continuous index to source continuous index (voxel centres at integers): source index =
// linear * target index + translation. Coefficients within 1e-5 of an integer are snapped to it. Error when a grid
// is invalid (non-orthonormal direction, non-positive spacing) or the transform is singular.
Result<geometry::Transform> indexMapping(const ImageGeometry& source, const ImageGeometry& target,
                                         const std::optional<geometry::Transform>& targetToSource = std::nullopt);

// The source volume sampled on `target`; same pixel type (integers rounded to nearest and clamped to the type).
// Identical grids without a transform return the source itself (shared buffer). Errors: empty source, invalid
// grids, an empty target grid, Cancelled.
Result<Volume> resampleVolume(const Volume& source, const ImageGeometry& target, const ResampleOptions& options = {},
                              const ProgressFn& progress = {});

// The label map on `target`: label values and the structure table are kept (a structure may become empty; the
// caller checks voxel counts). options.interpolation is ignored: labels are never blended.
Result<LabelMap> resampleLabelMap(const LabelMap& source, const ImageGeometry& target,
                                  const ResampleOptions& options = {}, const ProgressFn& progress = {});

} // namespace jumeau::imaging
