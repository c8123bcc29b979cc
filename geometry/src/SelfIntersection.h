#pragma once
// Internal: a fast self-intersection test for the meshing chain, with the answer of CGAL's
// PMP::self_intersections on an oriented 2-manifold (same exact predicates, same treatment of neighbours: triangles
// sharing an edge intersect only when coplanar and overlapping, triangles sharing a vertex when the edge opposite
// that vertex in one crosses the other; a degenerate triangle counts as self-intersecting). The broad phase is a
// uniform grid of about one triangle size (counting sort, no tree), the narrow phase CGAL's filtered exact
// predicates, split over threads; a second call can test only the triangles around moved vertices.

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

#include "jumeau/geometry/Mesh.h"

namespace jumeau::geometry::detail {

struct VertexLinks;

// Indices (ascending) of the triangles that intersect another triangle of the mesh (see above). When
// `movedVertices` is given (one flag per point), only pairs with at least one triangle incident to a flagged vertex
// are tested: the caller knows the other triangles did not move since a test found them clean.
// `links`, when given, are the mesh's vertex links (saves building them again).
std::vector<std::size_t> findSelfIntersections(const Mesh& mesh, const std::vector<char>* movedVertices = nullptr,
                                               const VertexLinks* links = nullptr);

// Whether the broad phase may compare boxes 16 at a time with AVX-512 where the processor has it (the default);
// otherwise, and on processors without it, 4 at a time (SSE2). Both give the same pairs; the tests run both.
void allowWidePairMasks(bool allowed);

// Worker threads for the meshing chain's parallel loops: min(hardware threads, 2) unless JUMEAU_MESH_THREADS says
// otherwise (1 = serial).
unsigned meshingThreads();

// Runs f(0) .. f(n - 1) on n threads, f(0) on the calling one.
template <typename F> void runTasks(unsigned n, F&& f);

// Runs f(begin, end) over [0, n) split into meshingThreads() contiguous chunks (serially when n is small).
template <typename F> void parallelChunks(std::size_t n, F&& f);

} // namespace jumeau::geometry::detail

template <typename F> void jumeau::geometry::detail::runTasks(unsigned n, F&& f) {
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < n; ++t) pool.emplace_back([&f, t] { f(t); });
    f(0u);
    for (auto& th : pool) th.join();
}

template <typename F> void jumeau::geometry::detail::parallelChunks(std::size_t n, F&& f) {
    const unsigned threads = n < 20000 ? 1u : meshingThreads();
    const std::size_t chunk = (n + threads - 1) / threads;
    runTasks(threads, [&](unsigned t) { f(std::min(n, t * chunk), std::min(n, (t + 1) * chunk)); });
}
