#include "jumeau/imaging/ImageGeometry.h"

#include <cmath>
#include <sstream>

namespace jumeau::imaging {

Vec3 ImageGeometry::indexToLps(const Vec3& index) const {
    const Vec3 scaled{index.x * spacing.x, index.y * spacing.y, index.z * spacing.z};
    return origin + direction * scaled;
}

Vec3 ImageGeometry::lpsToIndex(const Vec3& lps) const {
    // direction may be slightly non-orthogonal after DICOM rounding: invert it properly, not by transpose.
    const auto inv = direction.inverse();
    const Vec3 d = (inv ? *inv : direction.transposed()) * (lps - origin);
    return {d.x / spacing.x, d.y / spacing.y, d.z / spacing.z};
}

bool ImageGeometry::isValid(double tol) const {
    if (!(spacing.x > 0 && spacing.y > 0 && spacing.z > 0)) return false;
    for (int a = 0; a < 3; ++a) {
        if (std::abs(geometry::norm(axis(a)) - 1.0) > tol) return false;
        for (int b = a + 1; b < 3; ++b)
            if (std::abs(geometry::dot(axis(a), axis(b))) > tol) return false;
    }
    return true;
}

bool ImageGeometry::sameGrid(const ImageGeometry& o, double tolMm) const {
    if (size != o.size) return false;
    if (geometry::distance(spacing, o.spacing) > tolMm || geometry::distance(origin, o.origin) > tolMm) return false;
    for (int a = 0; a < 3; ++a)
        if (geometry::distance(axis(a), o.axis(a)) > 1e-4) return false;
    return true;
}

std::array<int, 3> ImageGeometry::closestIndexAxes() const {
    // Greedy assignment by largest absolute cosine; ties resolved so each index axis is used once.
    std::array<int, 3> result{-1, -1, -1};
    std::array<bool, 3> used{false, false, false};
    for (int round = 0; round < 3; ++round) {
        double best = -1;
        int bestPatient = -1, bestIndex = -1;
        for (int p = 0; p < 3; ++p) {
            if (result[p] >= 0) continue;
            for (int c = 0; c < 3; ++c) {
                if (used[c]) continue;
                const double v = std::abs(direction.m[p][c]);
                if (v > best) { best = v; bestPatient = p; bestIndex = c; }
            }
        }
        result[bestPatient] = bestIndex;
        used[bestIndex] = true;
    }
    return result;
}

Vec3 ImageGeometry::centreLps() const {
    return indexToLps({(size[0] - 1) / 2.0, (size[1] - 1) / 2.0, (size[2] - 1) / 2.0});
}

std::string ImageGeometry::describe() const {
    std::ostringstream s;
    s << size[0] << "x" << size[1] << "x" << size[2] << " voxels, spacing " << spacing.x << "x" << spacing.y << "x"
      << spacing.z << " mm, origin (" << origin.x << ", " << origin.y << ", " << origin.z << ") LPS";
    return s.str();
}

} // namespace jumeau::imaging
