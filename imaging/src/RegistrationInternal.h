#pragma once
// Private to imaging/src: helpers shared by the registration sources (no ITK here).

#include "jumeau/imaging/Registration.h"

namespace jumeau::imaging::detail {

// True when the LPS point falls within the grid's voxels (centres ± half a spacing).
bool insideGrid(const ImageGeometry& g, const Vec3& lps);
// Nearest-voxel value of a mask volume at an LPS point is non-zero (false outside its grid).
bool maskAt(const Volume& mask, const Vec3& lps);

} // namespace jumeau::imaging::detail
