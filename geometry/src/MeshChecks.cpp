// CGAL's kernel only (exact predicates for the point-in-surface test); no Surface_mesh.
#define CGAL_NDEBUG 1

#include "MeshChecks.h"
#include "SelfIntersection.h"

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

namespace jumeau::geometry::detail {

VertexLinks::VertexLinks(const Mesh& mesh) : start(mesh.points.size() + 1, 0) {
    const std::size_t nv = mesh.points.size();
    for (const auto& t : mesh.triangles)
        for (int v : t) ++start[static_cast<std::size_t>(v) + 1];
    for (std::size_t v = 0; v < nv; ++v) start[v + 1] += start[v];
    from.resize(static_cast<std::size_t>(start[nv]));
    to.resize(from.size());
    std::vector<int> fill(start.begin(), start.end() - 1);
    for (const auto& t : mesh.triangles)
        for (int e = 0; e < 3; ++e) {
            const auto k = static_cast<std::size_t>(fill[t[e]]++);
            from[k] = t[(e + 1) % 3];
            to[k] = t[(e + 2) % 3];
        }
}

bool VertexLinks::singleCycle(std::size_t v) const {
    if (ordered()) return ringIsCycle[v] != 0;
    return cycle(v, nullptr);
}

void VertexLinks::orderRings() {
    const std::size_t nv = start.empty() ? 0 : start.size() - 1;
    rings.reset(new int[from.size()]);
    std::vector<char> result(nv, 0);
    parallelChunks(nv, [&](std::size_t b, std::size_t e) {
        for (std::size_t v = b; v < e; ++v) result[v] = cycle(v, rings.get() + start[v]) ? 1 : 0;
    });
    ringIsCycle.swap(result);
}

bool VertexLinks::cycle(std::size_t v, int* ring) const {
    const int b = start[v], n = start[v + 1] - b;
    if (n < 3) return false;
    auto next = [&](int a) {
        for (int k = b; k < b + n; ++k)
            if (from[static_cast<std::size_t>(k)] == a) return to[static_cast<std::size_t>(k)];
        return -1;
    };
    // With out-degree <= 1, coming back to the first link vertex for the first time after exactly n steps
    // visits n distinct sources: all n link edges, one cycle.
    const int first = from[static_cast<std::size_t>(b)];
    int a = first;
    for (int step = 1; step <= n; ++step) {
        if (ring) ring[step - 1] = a;
        a = next(a);
        if (a < 0 || (a == first) != (step == n)) return false;
    }
    return true;
}

namespace {

// Every vertex's link is one closed cycle: then every directed edge is used once and has its reverse, and the
// triangles around each vertex form one disc: a closed, consistently oriented 2-manifold. Unreferenced vertices are
// ignored. The caller has checked that every triangle has three distinct vertices.
bool linksAreSingleCycles(const Mesh& mesh, const VertexLinks& links) {
    std::atomic<bool> ok{true};
    parallelChunks(mesh.points.size(), [&](std::size_t b, std::size_t e) {
        for (std::size_t v = b; v < e && ok.load(std::memory_order_relaxed); ++v)
            if (links.count(v) != 0 && !links.singleCycle(v)) ok = false;
    });
    return ok;
}

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_3;

Point point(const std::array<float, 3>& p) {
    return {p[0], p[1], p[2]};
}

// Parity of the crossings of segment p-q with the triangles of component `part` (exact predicates, on the meshing
// threads); nullopt when the segment touches an edge or vertex or p lies in a triangle's plane (the caller retries
// from another point).
std::optional<bool> oddCrossings(const Mesh& mesh, const std::vector<int>& component, int part, const Point& p,
                                 const Point& q) {
    const double ylo = std::min(p.y(), q.y()), yhi = std::max(p.y(), q.y());
    const double zlo = std::min(p.z(), q.z()), zhi = std::max(p.z(), q.z());
    std::atomic<bool> degenerate{false};
    std::atomic<unsigned> parity{0};
    parallelChunks(mesh.triangles.size(), [&](std::size_t tb, std::size_t te) {
        bool chunkOdd = false;
        for (std::size_t t = tb; t < te && !degenerate.load(std::memory_order_relaxed); ++t) {
            const auto& tri = mesh.triangles[t];
            if (component[static_cast<std::size_t>(tri[0])] != part) continue;
            const auto& a = mesh.points[tri[0]];
            const auto& b = mesh.points[tri[1]];
            const auto& c = mesh.points[tri[2]];
            if (std::max({a[0], b[0], c[0]}) < p.x()) continue;
            if (std::max({a[1], b[1], c[1]}) < ylo || std::min({a[1], b[1], c[1]}) > yhi) continue;
            if (std::max({a[2], b[2], c[2]}) < zlo || std::min({a[2], b[2], c[2]}) > zhi) continue;
            const Point pa = point(a), pb = point(b), pc = point(c);
            const auto o1 = CGAL::orientation(p, q, pa, pb), o2 = CGAL::orientation(p, q, pb, pc),
                       o3 = CGAL::orientation(p, q, pc, pa);
            // Two opposite strict signs: the line through p and q misses the triangle.
            const bool pos = o1 == CGAL::POSITIVE || o2 == CGAL::POSITIVE || o3 == CGAL::POSITIVE;
            const bool neg = o1 == CGAL::NEGATIVE || o2 == CGAL::NEGATIVE || o3 == CGAL::NEGATIVE;
            if (pos && neg) continue;
            const auto sp = CGAL::orientation(pa, pb, pc, p), sq = CGAL::orientation(pa, pb, pc, q);
            if (o1 == CGAL::COPLANAR || o2 == CGAL::COPLANAR || o3 == CGAL::COPLANAR) {
                // The line meets an edge or vertex, or lies in the plane: ambiguous when the segment reaches the
                // plane.
                if (sp != sq || sp == CGAL::COPLANAR) degenerate = true;
                continue;
            }
            if (sp == CGAL::COPLANAR || sq == CGAL::COPLANAR)
                degenerate = true;
            else if (sp != sq)
                chunkOdd = !chunkOdd;
        }
        if (chunkOdd) parity.fetch_xor(1u);
    });
    if (degenerate) return std::nullopt;
    return parity.load() != 0;
}

} // namespace

std::optional<MeshReport> fastReport(const Mesh& mesh, bool selfIntersecting, const VertexLinks* links) {
    MeshReport r;
    r.triangles = mesh.triangleCount();
    r.selfIntersecting = selfIntersecting;
    // Indices in range, three distinct vertices per triangle (one pass on the meshing threads).
    std::atomic<bool> wellFormed{!mesh.empty()};
    const auto np = static_cast<long long>(mesh.points.size());
    parallelChunks(mesh.triangles.size(), [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e && wellFormed.load(std::memory_order_relaxed); ++i) {
            const auto& t = mesh.triangles[i];
            if (t[0] < 0 || t[1] < 0 || t[2] < 0 || t[0] >= np || t[1] >= np || t[2] >= np || t[0] == t[1] ||
                t[1] == t[2] || t[0] == t[2])
                wellFormed = false;
        }
    });
    if (!wellFormed) return std::nullopt;
    std::optional<VertexLinks> own;
    if (!links) own.emplace(mesh);
    const VertexLinks& link = links ? *links : *own;
    if (!linksAreSingleCycles(mesh, link)) return std::nullopt;
    r.closed = r.manifold = true;

    // Components (on a manifold, vertex- and edge-connectivity agree; a link's first vertices are v's neighbours).
    std::optional<ComponentLabels> ownLabels;
    const ComponentLabels& labels =
        link.components ? *link.components : ownLabels.emplace(labelComponents(link.start, [&](int k) {
            return link.from[static_cast<std::size_t>(k)];
        }));
    const std::vector<int>& component = labels.of;
    const auto nParts = static_cast<std::size_t>(labels.count);
    // Per component (in parallel chunks of triangles, added in chunk order so the sums do not depend on thread
    // timing) the enclosed volume and the box; and the area.
    struct Part {
        double volume6 = 0;
        std::array<double, 3> lo{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                                 std::numeric_limits<double>::max()};
        std::array<double, 3> hi{std::numeric_limits<double>::lowest(), std::numeric_limits<double>::lowest(),
                                 std::numeric_limits<double>::lowest()};
    };
    struct Chunk {
        std::size_t begin = 0;
        double area = 0;
        std::vector<Part> parts;
    };
    std::mutex mutex;
    std::vector<Chunk> chunks;
    parallelChunks(mesh.triangles.size(), [&](std::size_t tb, std::size_t te) {
        Chunk c;
        c.begin = tb;
        c.parts.resize(nParts);
        for (std::size_t i = tb; i < te; ++i) {
            const auto& t = mesh.triangles[i];
            Part& p = c.parts[static_cast<std::size_t>(component[static_cast<std::size_t>(t[0])])];
            const auto& a = mesh.points[t[0]];
            const auto& b = mesh.points[t[1]];
            const auto& cc = mesh.points[t[2]];
            p.volume6 += double(a[0]) * (double(b[1]) * cc[2] - double(b[2]) * cc[1]) +
                         double(a[1]) * (double(b[2]) * cc[0] - double(b[0]) * cc[2]) +
                         double(a[2]) * (double(b[0]) * cc[1] - double(b[1]) * cc[0]);
            const std::array<double, 3> u{double(b[0]) - a[0], double(b[1]) - a[1], double(b[2]) - a[2]};
            const std::array<double, 3> w{double(cc[0]) - a[0], double(cc[1]) - a[1], double(cc[2]) - a[2]};
            const double nx = u[1] * w[2] - u[2] * w[1], ny = u[2] * w[0] - u[0] * w[2], nz = u[0] * w[1] - u[1] * w[0];
            c.area += 0.5 * std::sqrt(nx * nx + ny * ny + nz * nz);
            for (int k = 0; k < 3; ++k) {
                p.lo[k] = std::min({p.lo[k], double(a[k]), double(b[k]), double(cc[k])});
                p.hi[k] = std::max({p.hi[k], double(a[k]), double(b[k]), double(cc[k])});
            }
        }
        const std::lock_guard<std::mutex> lock(mutex);
        chunks.push_back(std::move(c));
    });
    std::sort(chunks.begin(), chunks.end(), [](const Chunk& a, const Chunk& b) { return a.begin < b.begin; });
    // Components are numbered by their lowest vertex; vertices in no triangle are in none. A chunk's part without
    // triangles adds nothing (zero volume, an empty box).
    std::vector<Part> parts(nParts);
    double area = 0;
    for (const Chunk& c : chunks) {
        area += c.area;
        for (std::size_t i = 0; i < nParts; ++i) {
            const Part& p = c.parts[i];
            Part& q = parts[i];
            q.volume6 += p.volume6;
            for (int k = 0; k < 3; ++k) {
                q.lo[k] = std::min(q.lo[k], p.lo[k]);
                q.hi[k] = std::max(q.hi[k], p.hi[k]);
            }
        }
    }
    double volume6 = 0;
    for (const Part& p : parts) volume6 += p.volume6;
    r.volumeMl = volume6 / 6.0 / 1000.0;
    r.areaCm2 = area / 100.0;
    r.components = parts.size();
    if (selfIntersecting) return r; // outward orientation is not defined for a self-intersecting surface
    // A component whose box is not inside another's has a point outside that one, so (the surfaces do not meet) it
    // lies wholly outside it.
    // Otherwise a vertex of it is tested against the other: parity of the crossings of a ray (exact predicates).
    // Outward orientation then means positive volume at even nesting depth, negative at odd (cavities).
    std::vector<std::vector<int>> verticesOf; // up to 16 of each component, for the rays' start points
    std::vector<int> depth(parts.size(), 0);
    for (std::size_t i = 0; i < parts.size(); ++i)
        for (std::size_t j = 0; j < parts.size(); ++j) {
            if (i == j) continue;
            bool boxInside = true;
            for (int k = 0; k < 3 && boxInside; ++k)
                boxInside = parts[i].lo[k] >= parts[j].lo[k] && parts[i].hi[k] <= parts[j].hi[k];
            if (!boxInside) continue;
            if (verticesOf.empty()) {
                verticesOf.resize(parts.size());
                for (std::size_t v = 0; v < component.size(); ++v)
                    if (const int c = component[v]; c >= 0 && verticesOf[static_cast<std::size_t>(c)].size() < 16)
                        verticesOf[static_cast<std::size_t>(c)].push_back(static_cast<int>(v));
            }
            std::optional<bool> inside;
            for (std::size_t attempt = 0; attempt < verticesOf[i].size() && !inside; ++attempt) {
                const Point p = point(mesh.points[static_cast<std::size_t>(verticesOf[i][attempt])]);
                // Beyond j's box along an oblique direction, so q is outside j.
                const double dx = parts[j].hi[0] - p.x() + 1.0;
                const Point q(p.x() + dx, p.y() + dx * (0.0013 + 0.0007 * double(attempt)),
                              p.z() + dx * (0.0029 - 0.0003 * double(attempt)));
                inside = oddCrossings(mesh, component, static_cast<int>(j), p, q);
            }
            if (!inside) return std::nullopt; // every ray degenerate: let CGAL decide
            depth[i] += *inside ? 1 : 0;
        }
    r.outwardOriented = true;
    for (std::size_t i = 0; i < parts.size(); ++i)
        if ((depth[i] % 2 == 0) != (parts[i].volume6 > 0)) r.outwardOriented = false;
    return r;
}

} // namespace jumeau::geometry::detail
