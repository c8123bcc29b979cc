#pragma once
// Internal: the topology checks of the report done on flat arrays (no CGAL Surface_mesh build), for meshes whose
// self-intersection status is already known. See detail::analyseMesh.

#include <array>
#include <cstddef>
#include <memory>
#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/MeshAnalysis.h"
#include "SelfIntersection.h"

namespace jumeau::geometry::detail {

// The connected components of a graph: of[v] is v's component, numbered in the order of their lowest vertices, or -1
// for a vertex without neighbours; count is how many there are.
struct ComponentLabels {
    std::vector<int> of;
    int count = 0;
};

// Components of the graph whose neighbour lists are neighbour(k) for k in [start[v], start[v + 1]) (symmetric: u in
// v's list when v is in u's). On the meshing threads: each joins the edges inside its own range of vertices
// (union-find whose roots are the lowest vertices, so a range's entries point inside it and no thread writes
// another's), then the few edges between ranges are joined on one thread.
template <typename Neighbour> ComponentLabels labelComponents(const std::vector<int>& start, const Neighbour& neighbour);

// Each vertex's link: for every triangle (v, a, b) around v, the link edge a -> b; stored by vertex (CSR).
struct VertexLinks {
    VertexLinks() = default;
    explicit VertexLinks(const Mesh& mesh);
    std::vector<int> start;    // the edges of vertex v: k in [start[v], start[v + 1])
    std::vector<int> from, to; // link edge k: from[k] -> to[k] (from[] lists v's neighbours on a closed manifold)
    int count(std::size_t v) const { return start[v + 1] - start[v]; }
    // The link of v is one closed cycle of at least 3 edges: the triangles around v form one disc.
    bool singleCycle(std::size_t v) const;
    // The same test, writing the link's vertices in cycle order to ring[0 .. count(v)) when it passes.
    bool cycle(std::size_t v, int* ring) const;
    // Runs the test for every vertex once (on the meshing threads) and keeps the answers: ringIsCycle[v], and the
    // link's vertices in cycle order in rings[start[v] .. start[v + 1]) where it passed.
    void orderRings();
    bool ordered() const { return !ringIsCycle.empty(); }
    std::unique_ptr<int[]> rings; // entries of vertices whose link is not a cycle are left unset
    std::vector<char> ringIsCycle;
    // The mesh's components when the caller knows them (the mesher's smoother labels them on the same triangles).
    std::optional<ComponentLabels> components;
};

// Closed, manifold, components, volume and area from flat arrays. Outward orientation for a closed manifold free of
// self-intersections: each component's nesting depth (how many others enclose it: a box test, then the parity of a
// ray's crossings with exact predicates), and outward means positive enclosed volume at even depth, negative at odd
// (cavities), as CGAL's orient_to_bound_a_volume would orient it. nullopt when the caller must decide with CGAL (not
// a closed oriented manifold: the full analysis then says what is wrong; or every ray tried was degenerate).
// `links`, when given, are the mesh's vertex links (saves building them again).
std::optional<MeshReport> fastReport(const Mesh& mesh, bool selfIntersecting, const VertexLinks* links = nullptr);

} // namespace jumeau::geometry::detail

template <typename Neighbour>
jumeau::geometry::detail::ComponentLabels jumeau::geometry::detail::labelComponents(const std::vector<int>& start,
                                                                                    const Neighbour& neighbour) {
    const int nv = start.empty() ? 0 : static_cast<int>(start.size() - 1);
    const auto at = [](int v) { return static_cast<std::size_t>(v); };
    ComponentLabels labels;
    std::vector<int> parent(at(nv));
    const auto find = [&](int v) {
        while (parent[at(v)] != v) v = parent[at(v)] = parent[at(parent[at(v)])];
        return v;
    };
    const auto join = [&](int u, int v) {
        const int a = find(u), b = find(v);
        if (a != b) parent[at(std::max(a, b))] = std::min(a, b);
    };
    const unsigned parts = nv < 20000 ? 1u : meshingThreads();
    const int chunk = (nv + static_cast<int>(parts) - 1) / static_cast<int>(parts);
    const auto range = [&](unsigned p) {
        return std::pair<int, int>{std::min(nv, static_cast<int>(p) * chunk),
                                   std::min(nv, static_cast<int>(p + 1) * chunk)};
    };
    // Each edge once, from its higher end; an edge reaching below the range is kept for later.
    std::vector<std::vector<std::array<int, 2>>> crossing(parts);
    runTasks(parts, [&](unsigned p) {
        const auto [lo, hi] = range(p);
        for (int v = lo; v < hi; ++v) parent[at(v)] = v;
        for (int v = lo; v < hi; ++v)
            for (int k = start[at(v)]; k < start[at(v) + 1]; ++k) {
                const int u = neighbour(k);
                if (u >= v) continue;
                if (u < lo)
                    crossing[p].push_back({u, v});
                else
                    join(u, v);
            }
    });
    for (const auto& edges : crossing)
        for (const auto& [u, v] : edges) join(u, v);
    // Roots (read-only finds), then each range numbers its roots after those of the ranges before it, then every
    // vertex takes its root's number (parent[] holds the numbers of roots by then).
    labels.of.resize(at(nv));
    std::vector<int> roots(parts + 1, 0);
    const auto isolated = [&](int v) { return start[at(v)] == start[at(v) + 1]; };
    runTasks(parts, [&](unsigned p) {
        const auto [lo, hi] = range(p);
        for (int v = lo; v < hi; ++v) {
            int r = v;
            while (parent[at(r)] != r) r = parent[at(r)];
            labels.of[at(v)] = r;
            if (r == v && !isolated(v)) ++roots[p + 1];
        }
    });
    for (unsigned p = 0; p < parts; ++p) roots[p + 1] += roots[p];
    runTasks(parts, [&](unsigned p) {
        const auto [lo, hi] = range(p);
        int next = roots[p];
        for (int v = lo; v < hi; ++v)
            if (labels.of[at(v)] == v && !isolated(v)) parent[at(v)] = next++;
    });
    runTasks(parts, [&](unsigned p) {
        const auto [lo, hi] = range(p);
        for (int v = lo; v < hi; ++v) labels.of[at(v)] = isolated(v) ? -1 : parent[at(labels.of[at(v)])];
    });
    labels.count = roots[parts];
    return labels;
}
