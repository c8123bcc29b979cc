// The mesher's own self-intersection test (geometry/src/SelfIntersection) against CGAL's PMP::self_intersections on
// inputs built to defeat its shortcuts: the floating-point separation filter (a plane found in double arithmetic
// must only ever prove what the exact predicates would) and the grid's cell rule (each pair tested once, in one
// cell). The meshing tests (LabelMesherTest) cover the fan certificates on real surfaces.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/MeshAnalysis.h"

#include "../../geometry/src/SelfIntersection.h"
#include "MaskWidths.h"

using namespace jumeau::geometry;
using jumeau::geometry::testing::withBothMaskWidths;

namespace {

// `count` independent triangles (no shared vertex indices) of about `size` mm in a cube of `extent` mm, vertices on
// a lattice of `step` mm (exact touching, coplanar and collinear cases are common) plus, when `jitter` > 0, an offset
// of up to a few float ulps (near-touching cases at the limit of double precision).
Mesh triangleSoup(std::size_t count, float extent, float size, float step, float jitter, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> where(0, extent), offset(-size, size), tiny(-jitter, jitter);
    auto snap = [&](float x) { return step > 0 ? std::round(x / step) * step : x; };
    Mesh m;
    for (std::size_t t = 0; t < count; ++t) {
        const std::array<float, 3> c{where(rng), where(rng), where(rng)};
        std::array<int, 3> tri{};
        for (int k = 0; k < 3; ++k) {
            std::array<float, 3> p{};
            for (int a = 0; a < 3; ++a) p[a] = snap(c[a] + offset(rng)) + (jitter > 0 ? tiny(rng) : 0.0f);
            tri[k] = static_cast<int>(m.points.size());
            m.points.push_back(p);
        }
        m.triangles.push_back(tri);
    }
    return m;
}

} // namespace

TEST(SelfIntersection, AgreesWithCgalOnLatticeSoups) {
    // Dense soups on a coarse lattice: many pairs touch exactly at a point or along an edge, lie in one plane, or
    // are degenerate; the separation filter must prove none of them apart.
    for (unsigned seed : {1u, 2u, 3u}) {
        const Mesh soup = triangleSoup(3000, 12, 1.0f, 0.25f, 0, seed);
        const auto expected = selfIntersectingTriangles(soup);
        EXPECT_FALSE(expected.empty());
        EXPECT_LT(expected.size(), soup.triangles.size()) << "the soup should also hold separated triangles";
        withBothMaskWidths([&] { EXPECT_EQ(detail::findSelfIntersections(soup), expected) << "seed " << seed; });
    }
}

TEST(SelfIntersection, AgreesWithCgalAtFloatPrecision) {
    // The same at coordinates of a few hundred mm (like a CT far from its origin): exactly on a finer lattice
    // (exact contacts), and with offsets of a few float ulps (gaps and overlaps down to about 1e-5 mm, decided by the
    // exact test where the filter's rounding bound cannot prove a separation).
    for (const auto& [seed, jitter] : {std::pair{4u, 0.0f}, std::pair{5u, 0.0f}, std::pair{6u, 2e-5f}}) {
        Mesh soup = triangleSoup(4000, 10, 1.0f, 0.125f, jitter, seed);
        for (auto& p : soup.points)
            for (float& x : p) x += 300.0f;
        const auto expected = selfIntersectingTriangles(soup);
        EXPECT_FALSE(expected.empty());
        withBothMaskWidths([&] { EXPECT_EQ(detail::findSelfIntersections(soup), expected) << "seed " << seed; });
    }
}

TEST(SelfIntersection, AgreesWithCgalOnTwoThreads) {
    // Large (the grid's layers are shared out over threads from 2,000 triangles on) and dense; the result must not
    // depend on which thread took which layer.
    const Mesh soup = triangleSoup(24000, 60, 0.8f, 0.1f, 0, 7);
    const auto expected = selfIntersectingTriangles(soup);
    EXPECT_FALSE(expected.empty());
    withBothMaskWidths([&] { EXPECT_EQ(detail::findSelfIntersections(soup), expected); });
    // And the re-test around a subset of vertices finds the pairs that involve them.
    std::vector<char> moved(soup.points.size(), 0);
    for (std::size_t v = 0; v < moved.size(); v += 7) moved[v] = 1;
    std::vector<std::size_t> partial = detail::findSelfIntersections(soup, &moved);
    for (std::size_t t : partial) EXPECT_TRUE(std::binary_search(expected.begin(), expected.end(), t)) << t;
    std::size_t touched = 0;
    for (std::size_t t : expected) {
        const auto& v = soup.triangles[t];
        if (!(moved[v[0]] || moved[v[1]] || moved[v[2]])) continue;
        ++touched;
        EXPECT_TRUE(std::binary_search(partial.begin(), partial.end(), t)) << "moved triangle " << t;
    }
    EXPECT_GT(touched, 0u);
}

TEST(SelfIntersection, NonFiniteCoordinatesAreReportedNotACrash) {
    // A NaN or an infinite coordinate (a broken import, never the mesher's output) marks its triangles as intersecting;
    // the others get CGAL's answer as before.
    Mesh soup = triangleSoup(3000, 12, 1.0f, 0.25f, 0, 8);
    const auto clean = selfIntersectingTriangles(soup);
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    for (const std::array<float, 3>& odd :
         {std::array<float, 3>{100, nan, 100}, std::array<float, 3>{-inf, 100, 100}}) {
        const int base = static_cast<int>(soup.points.size());
        soup.points.push_back(odd);
        soup.points.push_back({100, 101, 100});
        soup.points.push_back({101, 100, 100});
        soup.triangles.push_back({base, base + 1, base + 2});
    }
    std::vector<std::size_t> expected = clean;
    expected.push_back(3000);
    expected.push_back(3001);
    EXPECT_EQ(detail::findSelfIntersections(soup), expected);
    // Nothing finite at all: every triangle is reported.
    Mesh broken;
    broken.points = {{nan, 0, 0}, {1, 0, 0}, {0, 1, 0}};
    broken.triangles = {{0, 1, 2}};
    EXPECT_EQ(detail::findSelfIntersections(broken), std::vector<std::size_t>{0});
}
