#include "jumeau/geometry/LabelMesher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <numbers>
#include <optional>
#include <random>

#include "MaskWidths.h"
#include "MeshTestShapes.h"
// White-box: the mesher's own self-intersection test, checked against CGAL's.
#include "../../geometry/src/CellTable.h"
#include "../../geometry/src/MeshChecks.h"
#include "../../geometry/src/SelfIntersection.h"

using namespace jumeau;
using namespace jumeau::geometry;
using namespace jumeau::geometry::testing;

namespace {

constexpr double kPi = std::numbers::pi;

// An anisotropic grid with every voxel outside, for tests that draw their own masks.
BinaryGrid outsideGrid(std::array<int, 3> size, const Vec3& spacing) {
    BinaryGrid g;
    g.size = size;
    g.spacing = spacing;
    g.voxels.assign(g.voxelCount(), Outside);
    return g;
}

struct Accuracy {
    double volumeErrorPercent = 0;
    double hausdorffMm = 0;
};

// Two-sided Hausdorff distance between the mesh and an analytic surface: mesh samples against the analytic
// distance, analytic samples against the mesh (CGAL AABB tree).
Accuracy measure(const MeshingResult& r, double analyticVolumeMm3, const std::function<double(const Vec3&)>& distance,
                 const std::vector<Vec3>& surfaceSamples) {
    Accuracy a;
    a.volumeErrorPercent = 100.0 * (r.mesh.signedVolumeMm3() - analyticVolumeMm3) / analyticVolumeMm3;
    for (const Vec3& p : meshSamples(r.mesh)) a.hausdorffMm = std::max(a.hausdorffMm, distance(p));
    for (const PointQuery& q : queryPoints(r.mesh, surfaceSamples))
        a.hausdorffMm = std::max(a.hausdorffMm, q.distanceMm);
    return a;
}

void expectValid(const MeshingResult& r) {
    EXPECT_TRUE(r.report.closed);
    EXPECT_TRUE(r.report.manifold);
    EXPECT_TRUE(r.report.outwardOriented);
    EXPECT_FALSE(r.report.selfIntersecting);
    EXPECT_TRUE(r.mesh.isClosedAndOriented());
    EXPECT_GT(r.mesh.signedVolumeMm3(), 0);
}

Accuracy meshSphere(Vec3 spacing, const Mat3& direction, double radius, MeshingResult& out) {
    const Vec3 c{10, -20, 30};
    std::array<int, 3> size{};
    for (int a = 0; a < 3; ++a) size[a] = static_cast<int>(std::ceil(2 * radius / spacing[a])) + 5;
    const BinaryGrid g = sampleGrid(size, spacing, c, direction, [&](const Vec3& p) { return norm(p - c) <= radius; });
    auto r = meshBinaryGrid(g);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    if (!r.ok()) return {};
    out = std::move(r).value();
    std::vector<Vec3> samples;
    for (const Vec3& u : unitSpherePoints(4000)) samples.push_back(c + u * radius);
    return measure(
        out, 4.0 / 3.0 * kPi * radius * radius * radius, [&](const Vec3& p) { return std::abs(norm(p - c) - radius); },
        samples);
}

} // namespace

TEST(LabelMesher, SphereIsotropicIsValidAccurate) {
    MeshingResult r;
    const Accuracy a = meshSphere({1, 1, 1}, Mat3::identity(), 20, r);
    expectValid(r);
    RecordProperty("volumeErrorPercent", std::to_string(a.volumeErrorPercent));
    RecordProperty("hausdorffMm", std::to_string(a.hausdorffMm));
    std::printf("sphere r=20 1mm: volume error %.3f %%, Hausdorff %.3f mm, %zu triangles\n", a.volumeErrorPercent,
                a.hausdorffMm, r.mesh.triangleCount());
    EXPECT_LT(std::abs(a.volumeErrorPercent), 1.0);
    EXPECT_LE(a.hausdorffMm, 0.5);
}

TEST(LabelMesher, SphereAnisotropicIsValidAccurate) {
    MeshingResult r;
    const Accuracy a = meshSphere({0.8, 0.8, 1.5}, Mat3::identity(), 20, r);
    expectValid(r);
    std::printf("sphere r=20 0.8x0.8x1.5mm: volume error %.3f %%, Hausdorff %.3f mm, %zu triangles\n",
                a.volumeErrorPercent, a.hausdorffMm, r.mesh.triangleCount());
    EXPECT_LT(std::abs(a.volumeErrorPercent), 1.0);
    // Half the slice thickness: with 1.5 mm slices the top of the sphere may lie anywhere in a 1.5 mm slab without
    // changing a voxel, so 0.5 mm is below what the data carries (docs/meshing.md).
    EXPECT_LE(a.hausdorffMm, 0.75);
}

TEST(LabelMesher, SmallSpheresKeepTheirShape) {
    // Spheres of 700 to 1900 surface vertices at 1 mm, each at 8 random sub-voxel positions. Components under 500
    // vertices get 20 constrained Taubin iterations (the low-pass filter would shrink them); these get the windowed
    // sinc, which fits them better: mean Hausdorff 0.25 / 0.24 / 0.20 mm, against 0.30 / 0.33 / 0.35 mm when they got
    // Taubin too (docs/meshing.md, step 3).
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> offset(-0.5, 0.5);
    for (const double radius : {6.0, 8.0, 10.0}) {
        double sum = 0, worst = 0;
        constexpr int kTrials = 8;
        for (int t = 0; t < kTrials; ++t) {
            const Vec3 c{offset(rng), offset(rng), offset(rng)};
            const int n = static_cast<int>(std::ceil(2 * radius)) + 5;
            const BinaryGrid g = sampleGrid({n, n, n}, {1, 1, 1}, Vec3{0, 0, 0}, Mat3::identity(),
                                            [&](const Vec3& p) { return norm(p - c) <= radius; });
            auto r = meshBinaryGrid(g);
            ASSERT_TRUE(r.ok()) << r.error().describe();
            expectValid(*r);
            std::vector<Vec3> samples;
            for (const Vec3& u : unitSpherePoints(4000)) samples.push_back(c + u * radius);
            const Accuracy a = measure(
                *r, 4.0 / 3.0 * kPi * radius * radius * radius,
                [&](const Vec3& p) { return std::abs(norm(p - c) - radius); }, samples);
            EXPECT_LT(std::abs(a.volumeErrorPercent), 2.0) << radius;
            sum += a.hausdorffMm;
            worst = std::max(worst, a.hausdorffMm);
        }
        std::printf("sphere r=%g 1mm, %d positions: Hausdorff mean %.3f, max %.3f mm\n", radius, kTrials, sum / kTrials,
                    worst);
        EXPECT_LE(sum / kTrials, 0.28) << radius;
        EXPECT_LE(worst, 0.35) << radius;
    }
}

TEST(LabelMesher, MirroredObliqueGridStaysOutward) {
    // A left-handed direction matrix (det -1) mirrors index space: the mesher must flip its triangles back.
    Mat3 mirror = Mat3::rotationXYZ(0.3, -0.2, 0.5);
    for (int r = 0; r < 3; ++r) mirror.m[r][0] = -mirror.m[r][0];
    ASSERT_LT(mirror.determinant(), 0);
    MeshingResult r;
    const Accuracy a = meshSphere({0.8, 0.8, 0.8}, mirror, 15, r);
    expectValid(r);
    std::printf("mirrored oblique sphere r=15 0.8mm: volume error %.3f %%, Hausdorff %.3f mm\n", a.volumeErrorPercent,
                a.hausdorffMm);
    EXPECT_LT(std::abs(a.volumeErrorPercent), 1.0);
    EXPECT_LE(a.hausdorffMm, 0.5);
}

TEST(LabelMesher, ObliqueEllipsoidIsValidAccurate) {
    const Vec3 c{-5, 7, 12};
    const Vec3 axes{25, 15, 10};
    const Mat3 rot = Mat3::rotationXYZ(0.4, 0.2, -0.3); // ellipsoid axes in LPS
    const Mat3 rotT = rot.transposed();
    auto local = [&](const Vec3& p) { return rotT * (p - c); };
    auto F = [&](const Vec3& q) {
        return q.x * q.x / (axes.x * axes.x) + q.y * q.y / (axes.y * axes.y) + q.z * q.z / (axes.z * axes.z);
    };
    const BinaryGrid g = sampleGrid({72, 72, 72}, {0.8, 0.8, 0.8}, c, Mat3::rotationXYZ(0.1, 0, 0.2),
                                    [&](const Vec3& p) { return F(local(p)) <= 1; });
    auto r = meshBinaryGrid(g);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    expectValid(*r);
    // First-order distance to the ellipsoid |F-1|/|grad F| (the points are within a millimetre of it, where the
    // second-order term is far below the tolerance).
    auto distance = [&](const Vec3& p) {
        const Vec3 q = local(p);
        const Vec3 grad{2 * q.x / (axes.x * axes.x), 2 * q.y / (axes.y * axes.y), 2 * q.z / (axes.z * axes.z)};
        return std::abs(F(q) - 1) / norm(grad);
    };
    std::vector<Vec3> samples;
    for (const Vec3& u : unitSpherePoints(4000))
        samples.push_back(c + rot * Vec3{u.x * axes.x, u.y * axes.y, u.z * axes.z});
    const Accuracy a = measure(*r, 4.0 / 3.0 * kPi * axes.x * axes.y * axes.z, distance, samples);
    std::printf("ellipsoid 25x15x10 oblique 0.8mm: volume error %.3f %%, Hausdorff %.3f mm\n", a.volumeErrorPercent,
                a.hausdorffMm);
    EXPECT_LT(std::abs(a.volumeErrorPercent), 1.0);
    EXPECT_LE(a.hausdorffMm, 0.5);
}

TEST(LabelMesher, ThinObliqueTubeStaysConnectedAndAccurate) {
    // A capsule (tube with round ends) of radius 2 mm, 30 degrees off the z axis, at 0.5 mm voxels.
    const double radius = 2, halfLength = 15;
    const double tilt = 30 * kPi / 180;
    const Vec3 axis{std::sin(tilt) * std::cos(0.5), std::sin(tilt) * std::sin(0.5), std::cos(tilt)};
    const Vec3 c{1, 2, 3};
    auto segmentDistance = [&](const Vec3& p) {
        const double t = std::clamp(dot(p - c, axis), -halfLength, halfLength);
        return norm(p - (c + axis * t));
    };
    const BinaryGrid g = sampleGrid({50, 50, 70}, {0.5, 0.5, 0.5}, c, Mat3::identity(),
                                    [&](const Vec3& p) { return segmentDistance(p) <= radius; });
    auto r = meshBinaryGrid(g);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    expectValid(*r);
    EXPECT_EQ(r->report.components, 1u);
    const Vec3 ortho = normalized(cross(axis, Vec3{1, 0, 0}));
    const Vec3 ortho2 = cross(axis, ortho);
    std::vector<Vec3> samples;
    for (int i = 0; i <= 60; ++i)
        for (int k = 0; k < 24; ++k) {
            const double a = 2 * kPi * k / 24;
            samples.push_back(c + axis * (-halfLength + 2 * halfLength * i / 60.0) +
                              (ortho * std::cos(a) + ortho2 * std::sin(a)) * radius);
        }
    for (const Vec3& u : unitSpherePoints(400)) {
        const double side = dot(u, axis) >= 0 ? 1 : -1;
        samples.push_back(c + axis * (side * halfLength) + u * radius);
    }
    const double volume = kPi * radius * radius * 2 * halfLength + 4.0 / 3.0 * kPi * radius * radius * radius;
    const Accuracy a = measure(
        *r, volume, [&](const Vec3& p) { return std::abs(segmentDistance(p) - radius); }, samples);
    std::printf("tube r=2 30deg 0.5mm: volume error %.3f %%, Hausdorff %.3f mm\n", a.volumeErrorPercent, a.hausdorffMm);
    EXPECT_LT(std::abs(a.volumeErrorPercent), 1.0);
    EXPECT_LE(a.hausdorffMm, 0.5);
}

TEST(LabelMesher, StructureFillingTheGridIsClosed) {
    BinaryGrid g;
    g.size = {6, 5, 4};
    g.spacing = {1, 2, 3};
    g.voxels.assign(g.voxelCount(), Inside);
    auto r = meshBinaryGrid(g);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    expectValid(*r);
    EXPECT_NEAR(r->voxelVolumeMl, 6 * 10 * 12 / 1000.0, 1e-12);
    EXPECT_NEAR(r->mesh.signedVolumeMm3(), 720, 720 * 0.01);
}

TEST(LabelMesher, SingleVoxelGivesTinyClosedMesh) {
    BinaryGrid g;
    g.size = {3, 3, 3};
    g.voxels.assign(27, Outside);
    g.voxels[13] = Inside;
    auto r = meshBinaryGrid(g);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    expectValid(*r);
    EXPECT_GT(r->mesh.triangleCount(), 4u);
    EXPECT_NEAR(r->mesh.signedVolumeMm3(), 1.0, 0.05);
}

TEST(LabelMesher, EdgeAndCornerTouchingVoxelsStayManifold) {
    // The configurations that make cuberille and plain marching cubes non-manifold: voxels sharing only an edge or
    // only a corner, in every diagonal direction.
    BinaryGrid g;
    g.size = {9, 9, 9};
    g.voxels.assign(g.voxelCount(), Outside);
    auto set = [&](int i, int j, int k) { g.voxels[i + 9 * (j + 9 * k)] = Inside; };
    set(4, 4, 4);
    for (int d : {-1, 1}) {
        set(4 + d, 4 + d, 4 + 2 * d);
        set(4 + d, 4 - d, 4 - 2 * d);
    }
    set(1, 1, 1), set(2, 2, 2), set(2, 1, 3), set(7, 7, 1), set(6, 6, 1), set(7, 6, 2), set(1, 7, 7), set(2, 6, 6);
    auto r = meshBinaryGrid(g);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    expectValid(*r);
}

TEST(LabelMesher, RandomNoiseMaskIsValid) {
    // Worst case for smoothing: a speckled mask full of one-voxel features and thin bridges.
    std::mt19937 rng(7);
    for (double fill : {0.2, 0.5}) {
        BinaryGrid g;
        g.size = {18, 16, 14};
        g.spacing = {0.7, 0.9, 1.6};
        g.voxels.resize(g.voxelCount());
        std::bernoulli_distribution inside(fill);
        for (auto& v : g.voxels) v = inside(rng) ? Inside : Outside;
        auto r = meshBinaryGrid(g);
        ASSERT_TRUE(r.ok()) << r.error().describe();
        SCOPED_TRACE("fill " + std::to_string(fill));
        expectValid(*r);
    }
}

TEST(LabelMesher, StatesBeyondNeighbourAreOutside) {
    // A label map can hand the mesher any byte; values past Neighbour mean outside. The crop copies rows 16 voxels at a
    // time (rows here are 45 voxels long: a 16-wide part and a tail) and counts the inside voxels on the way.
    std::mt19937 rng(11);
    const Vec3 c{0, 0, 0};
    BinaryGrid plain = sampleGrid({45, 21, 17}, {0.8, 0.9, 1.1}, c, Mat3::identity(),
                                  [&](const Vec3& p) { return norm(p - c) <= 7.5; });
    BinaryGrid odd = plain;
    std::uniform_int_distribution<int> value(3, 255);
    std::bernoulli_distribution mark(0.3);
    std::size_t marked = 0;
    for (auto& v : odd.voxels)
        if (v == Outside && mark(rng)) {
            v = static_cast<std::uint8_t>(value(rng));
            ++marked;
        }
    ASSERT_GT(marked, 1000u);
    const auto a = meshBinaryGrid(plain), b = meshBinaryGrid(odd);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->voxelVolumeMl, b->voxelVolumeMl);
    EXPECT_NEAR(a->voxelVolumeMl, static_cast<double>(plain.insideCount()) * 0.8 * 0.9 * 1.1 / 1000, 1e-12);
    EXPECT_TRUE(a->mesh.points == b->mesh.points);
    EXPECT_TRUE(a->mesh.triangles == b->mesh.triangles);
}

namespace {

// Corner pattern of the cell whose low corner is voxel (i, j, k): bit c set when corner c (x = 1, y = 2, z = 4) is
// Inside; voxels beyond the grid are outside.
int cellMask(const BinaryGrid& g, int i, int j, int k) {
    int mask = 0;
    for (int c = 0; c < 8; ++c) {
        const int x = i + (c & 1), y = j + (c >> 1 & 1), z = k + (c >> 2 & 1);
        if (x >= 0 && y >= 0 && z >= 0 && x < g.size[0] && y < g.size[1] && z < g.size[2] &&
            g.voxels[static_cast<std::size_t>(x + g.size[0] * (y + g.size[1] * z))] == Inside)
            mask |= 1 << c;
    }
    return mask;
}

// Triangle count of the marching-tetrahedra surface of the Freudenthal split (the surface the cell table is derived
// from): per tetrahedron with 1, 2, 3 inside corners, 1, 2, 1 triangles.
std::size_t freudenthalTriangles(const BinaryGrid& g) {
    constexpr int kTets[6][4] = {{0, 1, 3, 7}, {0, 1, 5, 7}, {0, 2, 3, 7}, {0, 2, 6, 7}, {0, 4, 5, 7}, {0, 4, 6, 7}};
    std::size_t triangles = 0;
    for (int k = -1; k < g.size[2]; ++k)
        for (int j = -1; j < g.size[1]; ++j)
            for (int i = -1; i < g.size[0]; ++i) {
                const int mask = cellMask(g, i, j, k);
                for (const auto& tet : kTets) {
                    int n = 0;
                    for (int c : tet) n += mask >> c & 1;
                    triangles += n == 2 ? 2 : (n == 1 || n == 3 ? 1 : 0);
                }
            }
    return triangles;
}

// The extraction's surface computed the plain way, cell by cell (no slabs, slots or threads): enclosed volume (mm3,
// divergence theorem over each cell's table triangles at the edge midpoints; the grid has no origin or rotation)
// and triangle count. Voxels beyond the grid are outside.
std::pair<double, std::size_t> cellTableSurface(const BinaryGrid& g) {
    const auto& table = detail::caseTable();
    double volume = 0;
    std::size_t triangles = 0;
    for (int k = -1; k < g.size[2]; ++k)
        for (int j = -1; j < g.size[1]; ++j)
            for (int i = -1; i < g.size[0]; ++i) {
                const int mask = cellMask(g, i, j, k);
                auto point = [&](detail::EdgeCode e) {
                    const int low = e >> 3, dir = e & 7;
                    return Vec3{(i + (low & 1) + 0.5 * (dir & 1)) * g.spacing.x,
                                (j + (low >> 1 & 1) + 0.5 * (dir >> 1 & 1)) * g.spacing.y,
                                (k + (low >> 2 & 1) + 0.5 * (dir >> 2 & 1)) * g.spacing.z};
                };
                for (std::size_t t = table.first[static_cast<std::size_t>(mask)];
                     t < table.first[static_cast<std::size_t>(mask) + 1]; ++t) {
                    const auto& tri = table.tris[t];
                    volume += dot(point(tri[0]), cross(point(tri[1]), point(tri[2]))) / 6;
                    ++triangles;
                }
            }
    return {volume, triangles};
}

} // namespace

TEST(LabelMesher, UnsmoothedSurfaceIsTheCellTableSurfaceAndValid) {
    // On the masks that break other extractions, the unsmoothed surface must be valid (ours and all-CGAL), be the
    // cell table's surface (same enclosed volume and triangle count as a plain cell-by-cell evaluation), and have
    // fewer triangles than the Freudenthal surface it is derived from (a quarter on flat faces).
    std::mt19937 rng(11);
    std::vector<std::pair<std::string, BinaryGrid>> masks;
    auto grid = [](std::array<int, 3> size) { return outsideGrid(size, {0.7, 0.9, 1.6}); };
    {
        BinaryGrid g = grid({7, 6, 5});
        for (int k = 0; k < 5; ++k)
            for (int j = 0; j < 6; ++j)
                for (int i = 0; i < 7; ++i)
                    if ((i + j + k) % 2 == 0) g.voxels[static_cast<std::size_t>(i + 7 * (j + 6 * k))] = Inside;
        masks.emplace_back("checkerboard", g);
    }
    for (double fill : {0.3, 0.6}) {
        BinaryGrid g = grid({14, 12, 10});
        std::bernoulli_distribution in(fill);
        for (auto& v : g.voxels) v = in(rng) ? Inside : Outside;
        masks.emplace_back("noise " + std::to_string(fill), g);
    }
    {
        // Voxel pairs touching by an edge or a corner only, along every diagonal direction.
        BinaryGrid g = grid({9, 9, 9});
        auto set = [&](int i, int j, int k) { g.voxels[static_cast<std::size_t>(i + 9 * (j + 9 * k))] = Inside; };
        set(4, 4, 4);
        for (int a : {-1, 1})
            for (int b : {-1, 1}) {
                set(4 + a, 4 + b, 4);
                set(4 + a, 4, 4 + b);
                set(4, 4 + a, 4 + b);
                set(4 + 3 * a, 4 + 3 * b, 4 + 3);
                set(4 + 2 * a, 4 + 2 * b, 4 + 2);
            }
        masks.emplace_back("diagonal contacts", g);
    }
    {
        BinaryGrid g = grid({14, 14, 14});
        for (int k = 2; k < 12; ++k)
            for (int j = 2; j < 12; ++j)
                for (int i = 2; i < 12; ++i) g.voxels[static_cast<std::size_t>(i + 14 * (j + 14 * k))] = Inside;
        masks.emplace_back("box", g);
    }
    MeshingOptions raw;
    raw.smoothingIterations = 0;
    raw.preserveVolume = false;
    for (const auto& [name, g] : masks) {
        SCOPED_TRACE(name);
        auto r = meshBinaryGrid(g, raw);
        ASSERT_TRUE(r.ok()) << r.error().describe();
        EXPECT_TRUE(r->warnings.empty());
        expectValid(*r);
        const MeshReport cgal = analyseMesh(r->mesh); // all-CGAL, independent of the mesher's own checks
        EXPECT_TRUE(cgal.valid()) << cgal.describe();
        const auto [expectedMm3, expectedTriangles] = cellTableSurface(g);
        EXPECT_NEAR(r->mesh.signedVolumeMm3(), expectedMm3, 1e-5 * expectedMm3);
        EXPECT_EQ(r->mesh.triangleCount(), expectedTriangles);
        const std::size_t freudenthal = freudenthalTriangles(g);
        EXPECT_LT(r->mesh.triangleCount(), freudenthal);
        if (name == "box") {
            EXPECT_LT(r->mesh.triangleCount(), freudenthal * 3 / 10);
        }
    }
}

namespace {

// Sets JUMEAU_MESH_THREADS for a scope (the meshing chain reads it on every call).
class MeshThreads {
public:
    explicit MeshThreads(int n) {
        if (const char* old = std::getenv("JUMEAU_MESH_THREADS")) m_old = old;
        setenv("JUMEAU_MESH_THREADS", std::to_string(n).c_str(), 1);
    }
    ~MeshThreads() {
        if (m_old)
            setenv("JUMEAU_MESH_THREADS", m_old->c_str(), 1);
        else
            unsetenv("JUMEAU_MESH_THREADS");
    }
    MeshThreads(const MeshThreads&) = delete;
    MeshThreads& operator=(const MeshThreads&) = delete;

private:
    std::optional<std::string> m_old;
};

} // namespace

// The component labelling shared by the smoother and the report: each thread joins the edges inside its range of
// vertices, then the edges between ranges are joined. Against a breadth-first search on a graph whose components
// straddle the ranges (long chains, edges from the last vertex to the first), with isolated vertices, for 1 to 3
// threads.
TEST(LabelMesher, ComponentLabelsMatchABreadthFirstSearchWhateverTheThreads) {
    const int nv = 60000;
    std::mt19937 rng(7);
    std::vector<std::vector<int>> nbr(nv);
    auto link = [&](int a, int b) {
        nbr[static_cast<std::size_t>(a)].push_back(b);
        nbr[static_cast<std::size_t>(b)].push_back(a);
    };
    std::uniform_int_distribution<int> any(0, nv - 1), near(1, 40);
    for (int e = 0; e < 45000; ++e) {
        const int a = any(rng), b = std::min(nv - 1, a + near(rng));
        if (a % 97 != 0 && b % 97 != 0) link(a, b); // every 97th vertex stays isolated
    }
    link(nv - 2, 1); // a component spanning every range
    link(nv / 2 + 1, 5);
    std::vector<int> start(nv + 1, 0), flat;
    for (int v = 0; v < nv; ++v) {
        start[static_cast<std::size_t>(v) + 1] = start[static_cast<std::size_t>(v)] +
                                                 static_cast<int>(nbr[static_cast<std::size_t>(v)].size());
        flat.insert(flat.end(), nbr[static_cast<std::size_t>(v)].begin(), nbr[static_cast<std::size_t>(v)].end());
    }
    // Breadth-first search from each unlabelled vertex in order: components numbered by their lowest vertex.
    std::vector<int> expected(nv, -1);
    int count = 0;
    for (int s = 0; s < nv; ++s) {
        if (expected[static_cast<std::size_t>(s)] >= 0 || nbr[static_cast<std::size_t>(s)].empty()) continue;
        std::vector<int> queue{s};
        expected[static_cast<std::size_t>(s)] = count;
        for (std::size_t q = 0; q < queue.size(); ++q)
            for (int u : nbr[static_cast<std::size_t>(queue[q])])
                if (expected[static_cast<std::size_t>(u)] < 0) {
                    expected[static_cast<std::size_t>(u)] = count;
                    queue.push_back(u);
                }
        ++count;
    }
    ASSERT_GT(count, 1000);
    for (int threads = 1; threads <= 3; ++threads) {
        const MeshThreads scope(threads);
        const detail::ComponentLabels labels =
            detail::labelComponents(start, [&](int k) { return flat[static_cast<std::size_t>(k)]; });
        EXPECT_EQ(labels.count, count) << threads << " threads";
        EXPECT_EQ(labels.of, expected) << threads << " threads";
    }
}

TEST(LabelMesher, SlabbedExtractionIsTheCellTableSurfaceWhateverTheThreads) {
    // Masks big enough for the extraction to cut the z range into several slabs (extracted apart, then joined
    // through the shared layers): on adversarial content at every cut, the unsmoothed surface must stay the cell
    // table's surface (valid, same enclosed volume and triangle count as a plain cell-by-cell evaluation), and be the
    // very same mesh on 1 and 2 threads (the slab cut depends on the mask only).
    std::mt19937 rng(23);
    std::vector<std::pair<std::string, BinaryGrid>> masks;
    auto grid = [](std::array<int, 3> size) { return outsideGrid(size, {0.6, 0.8, 1.5}); };
    auto index = [](const BinaryGrid& g, int i, int j, int k) {
        return static_cast<std::size_t>(i) +
               static_cast<std::size_t>(g.size[0]) *
                   (static_cast<std::size_t>(j) + static_cast<std::size_t>(g.size[1]) * k);
    };
    {
        BinaryGrid g = grid({34, 30, 40});
        std::bernoulli_distribution in(0.5);
        for (auto& v : g.voxels) v = in(rng) ? Inside : Outside;
        masks.emplace_back("noise", g);
    }
    {
        BinaryGrid g = grid({30, 28, 44});
        for (int k = 0; k < 44; ++k)
            for (int j = 0; j < 28; ++j)
                for (int i = 0; i < 30; ++i)
                    if ((i + j + k) % 2 == 0) g.voxels[index(g, i, j, k)] = Inside;
        masks.emplace_back("checkerboard", g);
    }
    {
        // Flat faces and edge-only contacts on every layer: a box with a diagonal staircase of voxels
        // touching it and each other by edges and corners.
        BinaryGrid g = grid({48, 44, 60});
        for (int k = 4; k < 56; ++k)
            for (int j = 4; j < 30; ++j)
                for (int i = 4; i < 30; ++i) g.voxels[index(g, i, j, k)] = Inside;
        for (int k = 1; k < 59; ++k) {
            g.voxels[index(g, 31 + k % 2, 31 + (k / 2) % 2, k)] = Inside;
            g.voxels[index(g, 36 + k % 3, 38 - k % 2, k)] = Inside;
        }
        masks.emplace_back("box and staircases", g);
    }
    MeshingOptions raw;
    raw.smoothingIterations = 0;
    raw.preserveVolume = false;
    for (const auto& [name, g] : masks) {
        SCOPED_TRACE(name);
        Result<MeshingResult> one = [&] {
            MeshThreads threads(1);
            return meshBinaryGrid(g, raw);
        }();
        Result<MeshingResult> two = [&] {
            MeshThreads threads(2);
            return meshBinaryGrid(g, raw);
        }();
        ASSERT_TRUE(one.ok()) << one.error().describe();
        ASSERT_TRUE(two.ok()) << two.error().describe();
        EXPECT_TRUE(one->mesh.points == two->mesh.points);
        EXPECT_TRUE(one->mesh.triangles == two->mesh.triangles);
        EXPECT_TRUE(one->warnings.empty());
        expectValid(*one);
        const MeshReport cgal = analyseMesh(one->mesh);
        EXPECT_TRUE(cgal.valid()) << cgal.describe();
        const auto [expectedMm3, expectedTriangles] = cellTableSurface(g);
        EXPECT_NEAR(one->mesh.signedVolumeMm3(), expectedMm3, 1e-5 * expectedMm3);
        EXPECT_EQ(one->mesh.triangleCount(), expectedTriangles);
        std::cout << name << ": " << one->mesh.triangleCount() << " triangles, Freudenthal " << freudenthalTriangles(g)
                  << "\n";
    }
}

TEST(LabelMesher, EmptyAndMalformedGridsAreErrors) {
    BinaryGrid g;
    g.size = {4, 4, 4};
    g.voxels.assign(64, Outside);
    g.name = "liver";
    auto r = meshBinaryGrid(g);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find("liver"), std::string::npos);
    EXPECT_NE(r.error().message.find("empty"), std::string::npos);

    g.voxels.resize(10, Inside);
    EXPECT_FALSE(meshBinaryGrid(g).ok());
    g.voxels.assign(64, Inside);
    g.spacing = {1, 0, 1};
    EXPECT_FALSE(meshBinaryGrid(g).ok());
}

TEST(LabelMesher, TouchingStructuresDoNotOverlap) {
    // A ball split by an oblique plane into two labels: each side meshed alone with the other marked Neighbour.
    const Vec3 c{0, 0, 0};
    const Vec3 n = normalized(Vec3{1, 0.7, 0.4});
    auto ballA = [&](const Vec3& p) { return norm(p - c) <= 14 && dot(p, n) < 0.3; };
    auto ballB = [&](const Vec3& p) { return norm(p - c) <= 14 && dot(p, n) >= 0.3; };
    BinaryGrid a = sampleGrid({34, 34, 34}, {1, 1, 1}, c, Mat3::identity(), ballA);
    BinaryGrid b = sampleGrid({34, 34, 34}, {1, 1, 1}, c, Mat3::identity(), ballB);
    for (std::size_t i = 0; i < a.voxels.size(); ++i) {
        if (a.voxels[i] == Outside && b.voxels[i] == Inside) a.voxels[i] = Neighbour;
        if (b.voxels[i] == Outside && a.voxels[i] == Inside) b.voxels[i] = Neighbour;
    }
    auto ma = meshBinaryGrid(a), mb = meshBinaryGrid(b);
    ASSERT_TRUE(ma.ok() && mb.ok());
    expectValid(*ma);
    expectValid(*mb);
    auto deepestInside = [](const Mesh& container, const Mesh& other) {
        std::vector<Vec3> pts = meshSamples(other);
        double worst = 0;
        for (const PointQuery& q : queryPoints(container, pts))
            if (q.inside) worst = std::max(worst, q.distanceMm);
        return worst;
    };
    const double ab = deepestInside(ma->mesh, mb->mesh), ba = deepestInside(mb->mesh, ma->mesh);
    std::printf("touching structures: deepest penetration %.4f / %.4f mm\n", ab, ba);
    // The unsmoothed surfaces coincide where the two meet; smoothing holds each vertex there on its own side of the
    // plane normal to that shared surface, so triangles between such vertices may cut into the other structure by
    // a small fraction of a voxel (0.04 mm measured; holding the vertices on their side of the plane normal to
    // their lattice edge instead let them slide 0.3 mm deep).
    EXPECT_LE(ab, 0.06);
    EXPECT_LE(ba, 0.06);
}

TEST(LabelMesher, DecimationMeetsBudgetAndStaysValid) {
    const Vec3 c{0, 0, 0};
    const BinaryGrid g =
        sampleGrid({46, 46, 46}, {1, 1, 1}, c, Mat3::identity(), [&](const Vec3& p) { return norm(p - c) <= 20; });
    MeshingOptions o;
    o.targetTriangles = 3000;
    auto r = meshBinaryGrid(g, o);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    expectValid(*r);
    EXPECT_TRUE(r->warnings.empty()) << r->warnings.front();
    EXPECT_GT(r->inputTriangles, 3000u);
    EXPECT_LE(r->mesh.triangleCount(), 3000u);
    EXPECT_GE(r->mesh.triangleCount(), 2500u);
    const double analytic = 4.0 / 3.0 * kPi * 8000;
    EXPECT_LT(std::abs(r->mesh.signedVolumeMm3() - analytic) / analytic, 0.01);

    // An error bound alone: collapse while new vertices stay within 0.2 mm (a smaller sphere: bounded collapses
    // query a distance tree each).
    const BinaryGrid small =
        sampleGrid({28, 28, 28}, {1, 1, 1}, c, Mat3::identity(), [&](const Vec3& p) { return norm(p - c) <= 11; });
    MeshingOptions bounded;
    bounded.maxErrorMm = 0.2;
    auto rb = meshBinaryGrid(small, bounded);
    ASSERT_TRUE(rb.ok());
    expectValid(*rb);
    EXPECT_LT(rb->mesh.triangleCount(), rb->inputTriangles / 2);
    std::vector<Vec3> samples;
    for (const Vec3& u : unitSpherePoints(2000)) samples.push_back(c + u * 11.0);
    for (const PointQuery& q : queryPoints(rb->mesh, samples)) EXPECT_LT(q.distanceMm, 0.8);
}

TEST(LabelMesher, IsotropicRemeshingStaysValid) {
    const Vec3 c{0, 0, 0};
    const BinaryGrid g =
        sampleGrid({30, 30, 30}, {1, 1, 1}, c, Mat3::identity(), [&](const Vec3& p) { return norm(p - c) <= 12; });
    MeshingOptions o;
    o.remeshEdgeMm = 1.5;
    auto r = meshBinaryGrid(g, o);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    expectValid(*r);
    EXPECT_TRUE(r->warnings.empty());
    const double analytic = 4.0 / 3.0 * kPi * 12 * 12 * 12;
    EXPECT_LT(std::abs(r->mesh.signedVolumeMm3() - analytic) / analytic, 0.02);
}

TEST(LabelMesher, CancelStops) {
    const Vec3 c{0, 0, 0};
    const BinaryGrid g =
        sampleGrid({20, 20, 20}, {1, 1, 1}, c, Mat3::identity(), [&](const Vec3& p) { return norm(p - c) <= 8; });
    auto r = meshBinaryGrid(g, {}, [](double, const std::string&) { return false; });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::Cancelled);
}

namespace {

// The mesher's sphere of radius 7 mm at 1 mm voxels: the clean mesh the self-intersection tests break.
Result<MeshingResult> sphereOf7() {
    const Vec3 c{0, 0, 0};
    return meshBinaryGrid(
        sampleGrid({20, 20, 20}, {1, 1, 1}, c, Mat3::identity(), [&](const Vec3& p) { return norm(p - c) <= 7; }));
}

} // namespace

TEST(LabelMesher, FastSelfIntersectionTestAgreesWithCgal) {
    // The mesher decides validity with its own broad phase (a grid) and CGAL's exact predicates; it must find the
    // same triangles as CGAL's PMP::self_intersections, on clean meshes and on meshes broken in every way it
    // distinguishes: crossing triangles, neighbours sharing a vertex, folded neighbours sharing an edge, degenerate.
    auto r = sphereOf7();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    const Mesh& clean = r->mesh;
    EXPECT_TRUE(detail::findSelfIntersections(clean).empty());
    EXPECT_TRUE(selfIntersectingTriangles(clean).empty());

    std::mt19937 rng(3);
    std::uniform_real_distribution<float> jitter(-1.2f, 1.2f);
    for (std::size_t trial = 0; trial < 4; ++trial) {
        Mesh bent = clean;
        std::vector<char> jittered(bent.points.size(), 0);
        for (std::size_t v = trial; v < bent.points.size(); v += 5 + trial) {
            for (int k = 0; k < 3; ++k) bent.points[v][k] += jitter(rng);
            jittered[v] = 1;
        }
        const auto expected = selfIntersectingTriangles(bent);
        EXPECT_FALSE(expected.empty());
        withBothMaskWidths(
            [&] { EXPECT_EQ(detail::findSelfIntersections(bent), expected) << "jitter trial " << trial; });
        // Every intersecting pair has a triangle at a jittered vertex (the rest is the clean mesh), so the re-test
        // around them (fewer certified fans, a grid of only the triangles near them) finds the same set.
        EXPECT_EQ(detail::findSelfIntersections(bent, &jittered), expected) << "jitter trial " << trial;
    }

    // Fold: the neighbour across edge (a, b) of triangle 0 gets its third vertex onto triangle 0's third vertex
    // (coplanar, same side of the shared edge).
    const auto t0 = clean.triangles[0];
    std::size_t across = clean.triangles.size();
    for (std::size_t t = 1; t < clean.triangles.size() && across == clean.triangles.size(); ++t)
        for (int e = 0; e < 3; ++e)
            if (clean.triangles[t][e] == t0[1] && clean.triangles[t][(e + 1) % 3] == t0[0]) across = t;
    ASSERT_LT(across, clean.triangles.size());
    Mesh folded = clean;
    for (int v : folded.triangles[across])
        if (v != t0[0] && v != t0[1]) folded.points[v] = folded.points[t0[2]];
    const auto foldExpected = selfIntersectingTriangles(folded);
    EXPECT_NE(std::find(foldExpected.begin(), foldExpected.end(), across), foldExpected.end());
    EXPECT_EQ(detail::findSelfIntersections(folded), foldExpected);

    // Degenerate: a vertex moved onto another vertex of one of its triangles.
    Mesh flat = clean;
    const auto t1 = flat.triangles[10];
    flat.points[t1[0]] = flat.points[t1[1]];
    const auto flatExpected = selfIntersectingTriangles(flat);
    EXPECT_NE(std::find(flatExpected.begin(), flatExpected.end(), std::size_t{10}), flatExpected.end());
    EXPECT_EQ(detail::findSelfIntersections(flat), flatExpected);

    // Only around moved vertices: finds the same as the full test when the moved vertices cover the damage.
    std::vector<char> moved(folded.points.size(), 0);
    for (int v : folded.triangles[across]) moved[v] = 1;
    EXPECT_EQ(detail::findSelfIntersections(folded, &moved), foldExpected);
}

TEST(LabelMesher, FastSelfIntersectionTestAgreesWithCgalAtFloatPrecision) {
    // The same sphere 300 mm from the origin, where a float step is 3e-5 mm: every vertex moved by up to 3 float steps
    // (neighbours meet at the limit of the floating-point filters' bounds) and every 6th by up to 0.8 mm (folded,
    // uncertified fans, whose pairs go to CGAL's predicates; crossings). Both mask widths must give CGAL's answer.
    auto r = sphereOf7();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    std::mt19937 rng(9);
    std::uniform_int_distribution<int> steps(-3, 3);
    std::uniform_real_distribution<float> jitter(-0.8f, 0.8f);
    for (int trial = 0; trial < 3; ++trial) {
        Mesh far = r->mesh;
        for (std::size_t v = 0; v < far.points.size(); ++v)
            for (float& x : far.points[v]) {
                x += 300.0f;
                for (int k = steps(rng); k != 0; k += k > 0 ? -1 : 1) x = std::nextafter(x, k > 0 ? 1e9f : -1e9f);
                if (v % 6 == static_cast<std::size_t>(trial)) x += jitter(rng);
            }
        const auto expected = selfIntersectingTriangles(far);
        EXPECT_FALSE(expected.empty());
        withBothMaskWidths([&] { EXPECT_EQ(detail::findSelfIntersections(far), expected) << "trial " << trial; });
    }
}

TEST(LabelMesher, NestedShellsAreOrientedLikeCgalSays) {
    // A hollow ball with a separate ball inside its cavity: three nested shells (outer outward, cavity inward,
    // inner ball outward). The report's own nesting test must agree with CGAL's orientation check, also when one
    // shell is turned the wrong way.
    const Vec3 c{0, 0, 0};
    const BinaryGrid g = sampleGrid({34, 34, 34}, {1, 1, 1}, c, Mat3::identity(), [&](const Vec3& p) {
        const double r = norm(p - c);
        return (r <= 14 && r >= 9) || r <= 5;
    });
    auto r = meshBinaryGrid(g);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    expectValid(*r);
    EXPECT_EQ(r->report.components, 3u);
    const MeshReport cgal = analyseMesh(r->mesh);
    EXPECT_TRUE(cgal.valid()) << cgal.describe();
    const auto fast = detail::fastReport(r->mesh, false);
    ASSERT_TRUE(fast.has_value());
    EXPECT_TRUE(fast->outwardOriented);
    EXPECT_EQ(fast->components, 3u);

    // Flip the shell nearest the centre (the inner ball): both must say "not outward".
    Mesh flipped = r->mesh;
    std::vector<char> inner(flipped.points.size(), 0);
    for (std::size_t v = 0; v < flipped.points.size(); ++v)
        inner[v] = norm(Vec3{flipped.points[v][0], flipped.points[v][1], flipped.points[v][2]} - c) < 7;
    for (auto& t : flipped.triangles)
        if (inner[t[0]]) std::swap(t[1], t[2]);
    EXPECT_FALSE(analyseMesh(flipped).outwardOriented);
    const auto fastFlipped = detail::fastReport(flipped, false);
    ASSERT_TRUE(fastFlipped.has_value());
    EXPECT_FALSE(fastFlipped->outwardOriented);
}
