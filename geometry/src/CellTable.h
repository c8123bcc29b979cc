#pragma once
// Internal: the per-cell triangle table of the label mesher's surface extraction (docs/meshing.md, "Pipeline and why", step 2).
//
// For each of the 256 inside/outside patterns of a lattice cell's eight corners (voxel centres), the triangles of
// the surface in that cell, every vertex at the midpoint of one of the cell's twelve axis-aligned edges (where
// marching cubes puts them). The table is derived from the marching-tetrahedra surface of the Freudenthal (Kuhn)
// split of the cell, the level set of a piecewise-linear function, which is a closed embedded 2-manifold for every
// mask: each of its pieces in the cell keeps its topology (a disc or, where the cell diagonal joins two opposite
// inside corners, a tube) and its boundary loops, straightened on the cell faces (the kink at a face-diagonal
// vertex becomes a chord); the pieces are re-triangulated on the loops' vertices alone. checkCellTable() verifies
// every case exactly; with that, the whole surface is again closed, 2-manifold, consistently oriented and free of
// self-intersections for every mask (see the proof in docs/meshing.md).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace jumeau::geometry::detail {

// Corner c of a cell: bits x = 1, y = 2, z = 4. A lattice edge of a cell: its low corner << 3 | its direction (the
// corner bits it adds); the table uses only axis-aligned ones (directions 1, 2, 4).
using EdgeCode = std::uint8_t;

struct CaseTable {
    std::array<std::uint16_t, 257> first{}; // case m: tris[first[m], first[m + 1])
    std::vector<std::array<EdgeCode, 3>> tris;
};

// Built once, on first use; oriented from inside to outside.
const CaseTable& caseTable();

// The marching-tetrahedra surface of the six Freudenthal tetrahedra of a cell with corner pattern `mask` (the
// table's starting point, with face- and cell-diagonal vertices), oriented from inside to outside.
std::vector<std::array<EdgeCode, 3>> tetrahedraSurface(int mask);

// Case `mask` of caseTable().
std::vector<std::array<EdgeCode, 3>> caseTriangles(int mask);

// Checks case `mask` of caseTable() exactly: the straightened contour on each face is the one that face's four
// corners give on their own (so the cell sharing the face has the same); every triangle edge lying in a cell face is
// a contour segment of that face (so neighbouring cells' surfaces meet only along those shared segments); the
// boundary of the case's surface is exactly the straightened contour, each segment once, oriented as
// tetrahedraSurface(mask) has it; every inner edge is used once in each direction; each vertex's triangles in the
// cell form one fan; no two triangles intersect (CGAL's self-intersection test). Returns an empty string, or what
// failed.
std::string checkCellCase(int mask);
// The same checks on other triangles for that pattern (for the tests of the checks themselves).
std::string checkCellCase(int mask, const std::vector<std::array<EdgeCode, 3>>& triangles);

} // namespace jumeau::geometry::detail
