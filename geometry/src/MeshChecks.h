#pragma once
// Internal: the topology checks of the report done on flat arrays (no CGAL Surface_mesh build), for meshes whose
// self-intersection status is already known. See detail::analyseMesh.

#include <optional>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/MeshAnalysis.h"

namespace jumeau::geometry::detail {

// Closed, manifold, components, volume and area from flat arrays. Outward orientation for a closed manifold free of
// self-intersections: each component's nesting depth (how many others enclose it: a box test, then the parity of a
// ray's crossings with exact predicates), and outward means positive enclosed volume at even depth, negative at odd
// (cavities), as CGAL's orient_to_bound_a_volume would orient it. nullopt when the caller must decide with CGAL (not
// a closed oriented manifold: the full analysis then says what is wrong; or every ray tried was degenerate).
std::optional<MeshReport> fastReport(const Mesh& mesh, bool selfIntersecting);

} // namespace jumeau::geometry::detail
