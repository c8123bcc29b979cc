#pragma once
// Internal: the topology checks of the report done on flat arrays (no CGAL Surface_mesh build), for meshes whose
// self-intersection status is already known. See detail::analyseMesh.

#include <array>
#include <cstddef>
#include <optional>
#include <vector>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/MeshAnalysis.h"

namespace jumeau::geometry::detail {

// Each vertex's link: for every triangle (v, a, b) around v, the link edge a -> b; stored by vertex (CSR).
struct VertexLinks {
    VertexLinks() = default;
    explicit VertexLinks(const Mesh& mesh);
    std::vector<int> start;                // the edges of vertex v: edges[start[v] .. start[v + 1])
    std::vector<std::array<int, 2>> edges;
    int count(std::size_t v) const { return start[v + 1] - start[v]; }
    // The link of v is one closed cycle of at least 3 edges: the triangles around v form one disc.
    bool singleCycle(std::size_t v) const;
    // The same test, writing the link's vertices in cycle order to ring[0 .. count(v)) when it passes.
    bool cycle(std::size_t v, int* ring) const;
    // Runs the test for every vertex once (on the meshing threads) and keeps the answers: ringIsCycle[v], and the
    // link's vertices in cycle order in rings[start[v] .. start[v + 1]) where it passed.
    void orderRings();
    bool ordered() const { return !ringIsCycle.empty(); }
    std::vector<int> rings;
    std::vector<char> ringIsCycle;
};

// Closed, manifold, components, volume and area from flat arrays. Outward orientation for a closed manifold free of
// self-intersections: each component's nesting depth (how many others enclose it: a box test, then the parity of a
// ray's crossings with exact predicates), and outward means positive enclosed volume at even depth, negative at odd
// (cavities), as CGAL's orient_to_bound_a_volume would orient it. nullopt when the caller must decide with CGAL (not
// a closed oriented manifold: the full analysis then says what is wrong; or every ray tried was degenerate).
// `links`, when given, are the mesh's vertex links (saves building them again).
std::optional<MeshReport> fastReport(const Mesh& mesh, bool selfIntersecting, const VertexLinks* links = nullptr);

} // namespace jumeau::geometry::detail
