#pragma once
// A known registration problem made from a real CT (the test and the benchmark share it): the CT moved by a known
// rigid transform (6, -4, 5 degrees about its centre and 12, -9, 15 mm) onto a 1.5 x 1.5 x 2 mm grid (MR-like
// resolution), its intensities remapped non-monotonically (fat bright, soft tissue middle, contrast-filled vessels and
// bone dark, air black) with Gaussian noise.

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::test {

struct MovedMrLikeCopy {
    geometry::Transform truth; // a CT point x shows in the copy at truth.apply(x)
    imaging::Volume moving;
};

inline Result<MovedMrLikeCopy> movedMrLikeCopy(const imaging::Volume& ct) {
    constexpr double pi = 3.14159265358979323846;
    const geometry::Mat3 rot = geometry::Mat3::rotationXYZ(6 * pi / 180, -4 * pi / 180, 5 * pi / 180);
    const imaging::ImageGeometry& cg = ct.geometry();
    const geometry::Vec3 c = cg.centreLps();
    MovedMrLikeCopy out;
    out.truth = geometry::Transform::rigid(rot, c - rot * c + geometry::Vec3{12, -9, 15});
    imaging::ImageGeometry g;
    g.spacing = {1.5, 1.5, 2.0};
    for (int d = 0; d < 3; ++d) g.size[d] = static_cast<int>((cg.size[d] - 1) * cg.spacing[d] / g.spacing[d]) + 1;
    g.direction = rot;
    g.origin = out.truth.apply(cg.origin);
    auto moved = imaging::resampleOnto(ct, g, imaging::SpatialTransform{*out.truth.inverse(), std::nullopt}, -1024, false);
    if (!moved) return moved.error();
    std::vector<float> mr(g.voxelCount());
    std::mt19937 rng(3);
    std::normal_distribution<float> noise(0, 15);
    const float* hu = moved->data<float>();
    for (std::size_t n = 0; n < mr.size(); ++n) {
        const double h = hu[n];
        const double v = h < -400 ? 0
                                  : 900 * std::exp(-std::pow((h + 100) / 70, 2)) +
                                        450 * std::exp(-std::pow((h - 50) / 45, 2)) +
                                        150 * std::exp(-std::pow((h - 180) / 80, 2)) + (h > 300 ? 60 : 0);
        mr[n] = static_cast<float>(std::max(0.0, v + noise(rng)));
    }
    out.moving = imaging::Volume::create(g, std::move(mr));
    return out;
}

} // namespace jumeau::test
