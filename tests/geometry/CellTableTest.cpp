// The extraction's per-cell triangle table (geometry/src/CellTable.h): every one of the 256 cases is checked exactly,
// which with the argument in docs/meshing.md ("Pipeline and why", step 2) makes the unsmoothed surface a closed,
// consistently oriented 2-manifold without self-intersections for every mask.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "../../geometry/src/CellTable.h"

using namespace jumeau::geometry::detail;

TEST(CellTable, EveryCaseIsAnEmbeddedPatchOnTheStraightenedContour) {
    std::size_t triangles = 0, withCentre = 0;
    for (int mask = 0; mask < 256; ++mask) {
        EXPECT_EQ(checkCellCase(mask), "");
        const auto tris = caseTriangles(mask);
        triangles += tris.size();
        withCentre += std::any_of(tris.begin(), tris.end(),
                                  [](const auto& t) { return std::find(t.begin(), t.end(), EdgeCode{7}) != t.end(); });
        // A pattern and its complement: the same triangles, reversed (touching structures share their surface).
        const auto complement = caseTriangles(255 - mask);
        ASSERT_EQ(tris.size(), complement.size()) << mask;
        for (std::size_t i = 0; i < tris.size(); ++i)
            EXPECT_EQ(tris[i], (std::array<EdgeCode, 3>{complement[i][0], complement[i][2], complement[i][1]})) << mask;
    }
    // Marching cubes' vertex set (axis edges) and about its triangle count, against 1920 for the tetrahedra; the
    // cell centre only where no triangulation of a loop avoids running an edge across a cell face.
    EXPECT_LT(triangles, 1000u);
    EXPECT_GT(withCentre, 0u);
    EXPECT_LT(withCentre, 40u);
    std::size_t tetrahedra = 0;
    for (int mask = 0; mask < 256; ++mask) tetrahedra += tetrahedraSurface(mask).size();
    EXPECT_EQ(tetrahedra, 1920u);
}

TEST(CellTable, TheChecksRejectBrokenPatches) {
    // Two corners inside along x: a quad, two triangles.
    const int mask = 0b11;
    auto good = caseTriangles(mask);
    ASSERT_EQ(good.size(), 2u);
    ASSERT_EQ(checkCellCase(mask, good), "");

    auto reversed = good;
    std::swap(reversed[0][1], reversed[0][2]);
    EXPECT_NE(checkCellCase(mask, reversed), "");

    auto missing = good;
    missing.pop_back();
    EXPECT_NE(checkCellCase(mask, missing), "");

    auto doubled = good;
    doubled.push_back(good[0]);
    EXPECT_NE(checkCellCase(mask, doubled), "");

    // The tetrahedra surface itself has vertices on face and cell diagonals.
    EXPECT_NE(checkCellCase(mask, tetrahedraSurface(mask)), "");

    // A piece of another pattern's contour: not this case's boundary.
    EXPECT_NE(checkCellCase(mask, caseTriangles(0b101)), "");

    // Opposite corners 0 and 7 inside: the cell diagonal joins them, so the surface is a tube. Two corner triangles
    // (marching cubes' choice) have the same boundary and pass every other check, but not the topology.
    const int tube = 1 | 128;
    auto corners = caseTriangles(1);
    for (const auto& t : caseTriangles(128)) corners.push_back(t);
    EXPECT_EQ(checkCellCase(tube), "");
    EXPECT_NE(checkCellCase(tube, corners).find("topology"), std::string::npos) << checkCellCase(tube, corners);
}
