#pragma once
// LabelMap (imaging) → BinaryGrid (geometry) → surface: the thin adapter between the two modules, so geometry
// never sees imaging types and imaging never sees CGAL.

#include <cstdint>
#include <string>
#include <vector>

#include "jumeau/geometry/LabelMesher.h"
#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::simulation {

// Distinct non-zero values of an integer volume, ascending. Error (InvalidInput) when the volume is not a label
// image: RGB, fractional values, negative values or more than maxLabels distinct values (a CT has thousands).
Result<std::vector<std::uint16_t>> labelValues(const imaging::Volume& labels, std::size_t maxLabels = 1000);

// The voxels equal to `label` as Inside, other non-zero values as Neighbour (so separately meshed neighbours do not
// overlap), cropped to the label's bounding box plus one voxel (the mesher closes the surface at the border).
// Error when the label has no voxel or the volume is not integer-valued.
Result<geometry::BinaryGrid> binaryGridForLabel(const imaging::Volume& labels, std::uint16_t label,
                                                const std::string& name = {});

// binaryGridForLabel + meshBinaryGrid; the structure's name comes from the LabelMap's table.
Result<geometry::MeshingResult> meshStructure(const imaging::LabelMap& labels, std::uint16_t label,
                                              const geometry::MeshingOptions& options = {},
                                              const ProgressFn& progress = {});

} // namespace jumeau::simulation
