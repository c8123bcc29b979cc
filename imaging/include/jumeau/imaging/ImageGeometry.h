#pragma once
// Where a voxel grid sits in the patient: size, spacing, origin and direction cosines, in LPS millimetres.
// Column c of `direction` is the LPS unit vector of index axis c (ITK's convention), so
//   lps = origin + direction * diag(spacing) * index.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "jumeau/geometry/Vec.h"

namespace jumeau::imaging {

using geometry::Mat3;
using geometry::Vec3;

struct ImageGeometry {
    std::array<int, 3> size{0, 0, 0};
    Vec3 spacing{1, 1, 1};   // mm along i, j, k
    Vec3 origin{0, 0, 0};    // LPS position (mm) of the centre of voxel (0,0,0)
    Mat3 direction;          // columns: LPS unit vectors of the i, j, k axes

    std::size_t voxelCount() const {
        return static_cast<std::size_t>(size[0]) * static_cast<std::size_t>(size[1]) * static_cast<std::size_t>(size[2]);
    }
    double voxelVolumeMm3() const { return spacing.x * spacing.y * spacing.z; }
    bool empty() const { return voxelCount() == 0; }

    // Continuous index (voxel centres at integers) to LPS mm, and back.
    Vec3 indexToLps(const Vec3& index) const;
    Vec3 lpsToIndex(const Vec3& lps) const;
    Vec3 axis(int c) const { return direction.column(c); }

    std::size_t linearIndex(int i, int j, int k) const {
        return static_cast<std::size_t>(i) + static_cast<std::size_t>(size[0]) *
                                                 (static_cast<std::size_t>(j) + static_cast<std::size_t>(size[1]) * static_cast<std::size_t>(k));
    }
    bool contains(int i, int j, int k) const {
        return i >= 0 && j >= 0 && k >= 0 && i < size[0] && j < size[1] && k < size[2];
    }

    // Direction columns orthonormal within tol and spacing positive: a grid we can trust.
    bool isValid(double tol = 1e-4) const;
    // Same grid (size equal, spacing/origin within tolMm, direction within tol).
    bool sameGrid(const ImageGeometry& o, double tolMm = 1e-3) const;
    // For each display axis (0 = L-R, 1 = A-P, 2 = S-I) the index axis closest to it.
    std::array<int, 3> closestIndexAxes() const;
    // Centre of the grid in LPS mm.
    Vec3 centreLps() const;
    std::string describe() const;
};

} // namespace jumeau::imaging
