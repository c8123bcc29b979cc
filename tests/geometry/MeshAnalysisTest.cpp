#include "jumeau/geometry/MeshAnalysis.h"

#include <gtest/gtest.h>

using namespace jumeau::geometry;

namespace {

// Outward tetrahedron with corner o and edge length s.
void addTetra(Mesh& m, std::array<float, 3> o, float s) {
    const int b = static_cast<int>(m.points.size());
    m.points.push_back(o);
    m.points.push_back({o[0] + s, o[1], o[2]});
    m.points.push_back({o[0], o[1] + s, o[2]});
    m.points.push_back({o[0], o[1], o[2] + s});
    for (const auto& t : {std::array<int, 3>{0, 2, 1}, {0, 1, 3}, {0, 3, 2}, {1, 2, 3}})
        m.triangles.push_back({b + t[0], b + t[1], b + t[2]});
}

} // namespace

TEST(MeshAnalysis, ClosedOutwardTetrahedronIsValid) {
    Mesh m;
    addTetra(m, {0, 0, 0}, 3);
    const MeshReport r = analyseMesh(m);
    EXPECT_TRUE(r.valid()) << r.describe();
    EXPECT_NEAR(r.volumeMl, 27.0 / 6 / 1000, 1e-9);
    EXPECT_EQ(r.components, 1u);
}

TEST(MeshAnalysis, EachDefectIsReported) {
    Mesh open;
    addTetra(open, {0, 0, 0}, 3);
    open.triangles.pop_back();
    EXPECT_FALSE(analyseMesh(open).closed);

    Mesh inverted;
    addTetra(inverted, {0, 0, 0}, 3);
    for (auto& t : inverted.triangles) std::swap(t[1], t[2]);
    const MeshReport ri = analyseMesh(inverted);
    EXPECT_TRUE(ri.closed && ri.manifold);
    EXPECT_FALSE(ri.outwardOriented);

    Mesh flippedFace;
    addTetra(flippedFace, {0, 0, 0}, 3);
    std::swap(flippedFace.triangles[0][1], flippedFace.triangles[0][2]);
    EXPECT_FALSE(analyseMesh(flippedFace).manifold);

    // Two tetrahedra sharing only a vertex: every edge has two triangles but the vertex has two fans.
    Mesh bowtie;
    addTetra(bowtie, {0, 0, 0}, 3);
    addTetra(bowtie, {3, 0, 0}, 3);
    for (auto& t : bowtie.triangles)
        for (int& v : t)
            if (v == 4) v = 1; // corner (3,0,0) of the second is corner 1 of the first
    const MeshReport rb = analyseMesh(bowtie);
    EXPECT_TRUE(rb.closed);
    EXPECT_FALSE(rb.manifold) << rb.describe();

    Mesh crossing;
    addTetra(crossing, {0, 0, 0}, 3);
    addTetra(crossing, {1, 1, 1}, 3);
    const MeshReport rc = analyseMesh(crossing);
    EXPECT_TRUE(rc.selfIntersecting);
    EXPECT_FALSE(rc.valid());
    EXPECT_FALSE(selfIntersectingTriangles(crossing).empty());

    Mesh apart;
    addTetra(apart, {0, 0, 0}, 3);
    addTetra(apart, {10, 0, 0}, 3);
    EXPECT_TRUE(analyseMesh(apart).valid());
    EXPECT_EQ(analyseMesh(apart).components, 2u);
}

TEST(MeshAnalysis, QueryPointsDistanceAndInside) {
    Mesh m;
    addTetra(m, {0, 0, 0}, 3);
    const auto q = queryPoints(m, {{0.5, 0.5, 0.5}, {0, 0, -2}});
    EXPECT_TRUE(q[0].inside);
    EXPECT_NEAR(q[0].distanceMm, 0.5, 1e-6);
    EXPECT_FALSE(q[1].inside);
    EXPECT_NEAR(q[1].distanceMm, 2, 1e-6);
}
