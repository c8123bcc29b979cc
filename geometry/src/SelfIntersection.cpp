// Self-intersection test of the meshing chain (see SelfIntersection.h). Only CGAL's kernel here (predicates), so
// this translation unit compiles in seconds, unlike CgalMeshOps.cpp.
#define CGAL_NDEBUG 1

#include "SelfIntersection.h"

#include "MeshChecks.h"

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <mutex>

namespace jumeau::geometry::detail {

namespace {

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_3;

struct Box {
    std::array<double, 3> lo, hi;
};

bool overlap(const Box& a, const Box& b) {
    for (int k = 0; k < 3; ++k)
        if (a.hi[k] < b.lo[k] || b.hi[k] < a.lo[k]) return false;
    return true;
}

// The pair test of CGAL's PMP::self_intersections (do_faces_intersect), on vertex indices instead of halfedges.
class PairTest {
public:
    PairTest(const Mesh& mesh) : m_mesh(mesh) {
        m_points.reserve(mesh.points.size());
        for (const auto& p : mesh.points) m_points.emplace_back(p[0], p[1], p[2]);
    }

    bool degenerate(std::size_t t) const {
        const auto& v = m_mesh.triangles[t];
        return CGAL::collinear(m_points[v[0]], m_points[v[1]], m_points[v[2]]);
    }

    bool intersect(std::size_t ta, std::size_t tb) const {
        const auto& a = m_mesh.triangles[ta];
        const auto& b = m_mesh.triangles[tb];
        int shared = 0, ia = -1, ib = -1;
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j)
                if (a[i] == b[j]) {
                    if (shared == 0) {
                        ia = i;
                        ib = j;
                    } else {
                        // Second shared vertex: the pair shares an edge; keep the vertex of a not on it.
                        ia = 3 - ia - i;
                        ib = 3 - ib - j;
                    }
                    ++shared;
                }
        const Point* pa[3] = {&m_points[a[0]], &m_points[a[1]], &m_points[a[2]]};
        const Point* pb[3] = {&m_points[b[0]], &m_points[b[1]], &m_points[b[2]]};
        if (shared >= 3) return true; // the same triangle twice
        if (shared == 2) {
            // Shared edge p-q, r and s the other vertices: intersecting only if coplanar and on the same side.
            const Point& r = *pa[ia];
            const Point& s = *pb[ib];
            const Point& p = *pa[(ia + 1) % 3];
            const Point& q = *pa[(ia + 2) % 3];
            return CGAL::coplanar(p, q, r, s) && CGAL::coplanar_orientation(p, q, r, s) == CGAL::POSITIVE;
        }
        if (shared == 1) {
            // Shared vertex: the opposite edge of either crossing the other triangle.
            const Kernel::Triangle_3 t1(*pa[0], *pa[1], *pa[2]), t2(*pb[0], *pb[1], *pb[2]);
            const Kernel::Segment_3 s1(*pa[(ia + 1) % 3], *pa[(ia + 2) % 3]);
            const Kernel::Segment_3 s2(*pb[(ib + 1) % 3], *pb[(ib + 2) % 3]);
            return segmentCrosses(t1, s2) || segmentCrosses(t2, s1);
        }
        // Cheap exact rejection first: all of b strictly on one side of a's plane (or the reverse).
        if (strictlyOneSide(*pa[0], *pa[1], *pa[2], *pb[0], *pb[1], *pb[2]) ||
            strictlyOneSide(*pb[0], *pb[1], *pb[2], *pa[0], *pa[1], *pa[2]))
            return false;
        return CGAL::do_intersect(Kernel::Triangle_3(*pa[0], *pa[1], *pa[2]),
                                  Kernel::Triangle_3(*pb[0], *pb[1], *pb[2]));
    }

private:
    static bool strictlyOneSide(const Point& a, const Point& b, const Point& c, const Point& p, const Point& q,
                                const Point& r) {
        const auto o = CGAL::orientation(a, b, c, p);
        return o != CGAL::COPLANAR && CGAL::orientation(a, b, c, q) == o && CGAL::orientation(a, b, c, r) == o;
    }
    static bool segmentCrosses(const Kernel::Triangle_3& t, const Kernel::Segment_3& s) {
        // Both ends strictly on one side of the plane: no contact (the common case for smooth neighbours).
        const auto o = CGAL::orientation(t[0], t[1], t[2], s[0]);
        if (o != CGAL::COPLANAR && CGAL::orientation(t[0], t[1], t[2], s[1]) == o) return false;
        return CGAL::do_intersect(t, s);
    }

    const Mesh& m_mesh;
    std::vector<Point> m_points;
};

// Vertices whose fan of triangles projects one-to-one onto a plane (all triangles positively oriented about the
// fan's mean normal, angles at the vertex summing to one turn, the link one closed cycle): two triangles of such a
// fan meet only in their shared vertex or edge, since points of both would project to the same point. Pairs
// sharing a certified vertex need no test. The orientation test carries a floating-point error bound 10^4 times
// the rounding error, so a certificate is never wrong; a vertex not certified just has its pairs tested exactly.
// Only the vertices flagged in `needed` are examined when it is given (the others stay uncertified).
std::vector<char> certifiedFans(const Mesh& mesh, const std::vector<char>* needed) {
    const std::size_t nv = mesh.points.size();
    const VertexLinks links(mesh);
    const auto& start = links.start;
    const auto& link = links.edges;
    std::vector<char> ok(nv, 0);
    parallelChunks(nv, [&](std::size_t vb, std::size_t ve) {
        for (std::size_t v = vb; v < ve; ++v) {
            const int b = start[v], n = start[v + 1] - b;
            if (n < 3 || (needed && !(*needed)[v])) continue;
            const auto& pv = mesh.points[v];
            auto rel = [&](int a) {
                const auto& p = mesh.points[static_cast<std::size_t>(a)];
                return std::array<double, 3>{double(p[0]) - pv[0], double(p[1]) - pv[1], double(p[2]) - pv[2]};
            };
            auto crossp = [](const std::array<double, 3>& u, const std::array<double, 3>& w) {
                return std::array<double, 3>{u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2],
                                             u[0] * w[1] - u[1] * w[0]};
            };
            if (!links.singleCycle(v)) continue;
            std::array<double, 3> normal{0, 0, 0};
            for (int k = b; k < b + n; ++k) {
                const auto c = crossp(rel(link[static_cast<std::size_t>(k)][0]), rel(link[static_cast<std::size_t>(k)][1]));
                for (int i = 0; i < 3; ++i) normal[i] += c[i];
            }
            const double nl = std::sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2]);
            if (!(nl > 0)) continue;
            for (double& x : normal) x /= nl;
            // A basis of the projection plane, for pseudo-angles ("diamond angle", monotone in the angle, 4 a turn).
            std::array<double, 3> e1 = std::abs(normal[0]) < 0.6 ? std::array<double, 3>{1, 0, 0}
                                                                  : std::array<double, 3>{0, 1, 0};
            const double en = e1[0] * normal[0] + e1[1] * normal[1] + e1[2] * normal[2];
            for (int i = 0; i < 3; ++i) e1[i] -= en * normal[i];
            const auto e2 = crossp(normal, e1);
            auto diamond = [&](const std::array<double, 3>& u) {
                const double x = u[0] * e1[0] + u[1] * e1[1] + u[2] * e1[2];
                const double y = u[0] * e2[0] + u[1] * e2[1] + u[2] * e2[2];
                if (y >= 0) return x >= 0 ? y / (x + y) : 1 - x / (-x + y);
                return x < 0 ? 2 - y / (-x - y) : 3 + x / (x - y);
            };
            double turn = 0;
            bool positive = true;
            for (int k = b; k < b + n && positive; ++k) {
                const auto u = rel(link[static_cast<std::size_t>(k)][0]);
                const auto w = rel(link[static_cast<std::size_t>(k)][1]);
                const auto c = crossp(u, w);
                const double det = normal[0] * c[0] + normal[1] * c[1] + normal[2] * c[2];
                const double scale = (std::abs(u[0]) + std::abs(u[1]) + std::abs(u[2])) *
                                     (std::abs(w[0]) + std::abs(w[1]) + std::abs(w[2])) *
                                     (std::abs(normal[0]) + std::abs(normal[1]) + std::abs(normal[2]));
                if (!(det > 1e-12 * scale)) {
                    positive = false;
                    break;
                }
                // Wedge from u to w, counter-clockwise (det > 0), as a pseudo-angle step in (0, 4).
                double step = diamond(w) - diamond(u);
                if (step <= 0) step += 4;
                turn += step;
            }
            // One turn is 4; two turns (8) or more would mean the fan folds over itself.
            ok[v] = positive && std::abs(turn - 4.0) < 1.0;
        }
    });
    return ok;
}

} // namespace

unsigned meshingThreads() {
    if (const char* env = std::getenv("JUMEAU_MESH_THREADS")) {
        const int n = std::atoi(env);
        if (n >= 1) return static_cast<unsigned>(std::min(n, 64));
    }
    const unsigned hw = std::thread::hardware_concurrency();
    return std::clamp(hw, 1u, 2u);
}

std::vector<std::size_t> findSelfIntersections(const Mesh& mesh, const std::vector<char>* movedVertices) {
    const std::size_t nt = mesh.triangles.size();
    std::vector<std::size_t> out;
    if (nt == 0) return out;
    const PairTest test(mesh);
    // Which triangles take part (all, or those around moved vertices), and boxes.
    std::vector<char> active(nt, 1);
    std::vector<char> activeVertex;
    if (movedVertices) {
        activeVertex.assign(mesh.points.size(), 0);
        for (std::size_t t = 0; t < nt; ++t) {
            const auto& v = mesh.triangles[t];
            active[t] = (*movedVertices)[v[0]] || (*movedVertices)[v[1]] || (*movedVertices)[v[2]];
            if (active[t])
                for (int i : v) activeVertex[static_cast<std::size_t>(i)] = 1;
        }
    }
    // A skipped pair shares a certified vertex, which is a vertex of its active triangle.
    const std::vector<char> certified = certifiedFans(mesh, movedVertices ? &activeVertex : nullptr);
    std::vector<Box> boxes(nt);
    Box all{{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
             std::numeric_limits<double>::max()},
            {std::numeric_limits<double>::lowest(), std::numeric_limits<double>::lowest(),
             std::numeric_limits<double>::lowest()}};
    double extentSum = 0;
    for (std::size_t t = 0; t < nt; ++t) {
        Box& b = boxes[t];
        for (int k = 0; k < 3; ++k) {
            const auto& v = mesh.triangles[t];
            const double x0 = mesh.points[v[0]][k], x1 = mesh.points[v[1]][k], x2 = mesh.points[v[2]][k];
            b.lo[k] = std::min({x0, x1, x2});
            b.hi[k] = std::max({x0, x1, x2});
            all.lo[k] = std::min(all.lo[k], b.lo[k]);
            all.hi[k] = std::max(all.hi[k], b.hi[k]);
            extentSum += b.hi[k] - b.lo[k];
        }
    }
    // Grid cells of about the mean triangle extent; only occupied cells exist: (cell, triangle) entries sorted by
    // cell with a radix sort, so cells can be small without a dense array over the bounding box.
    double h = std::max(1.25 * extentSum / (3.0 * static_cast<double>(nt)), 1e-9);
    std::array<std::int64_t, 3> dims{};
    for (;;) {
        double cells = 1;
        for (int k = 0; k < 3; ++k) {
            dims[k] = static_cast<std::int64_t>(std::floor((all.hi[k] - all.lo[k]) / h)) + 1;
            cells *= static_cast<double>(dims[k]);
        }
        if (cells < 1e15) break;
        h *= 2;
    }
    auto cellOf = [&](double x, int k) {
        return std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor((x - all.lo[k]) / h)), 0, dims[k] - 1);
    };
    auto linear = [&](std::int64_t x, std::int64_t y, std::int64_t z) {
        return static_cast<std::uint64_t>(x + dims[0] * (y + dims[1] * z));
    };
    // Degenerate triangles are reported and left out of the pairs, as CGAL does.
    std::vector<char> bad(nt, 0), inGrid(nt, 1);
    std::vector<std::array<std::int64_t, 6>> range(nt);
    parallelChunks(nt, [&](std::size_t tb, std::size_t te) {
        for (std::size_t t = tb; t < te; ++t) {
            if (active[t] && test.degenerate(t)) {
                bad[t] = 1;
                continue;
            }
            auto& r = range[t];
            for (int k = 0; k < 3; ++k) {
                r[k] = cellOf(boxes[t].lo[k], k);
                r[3 + k] = cellOf(boxes[t].hi[k], k);
            }
        }
    });
    // A re-test around moved vertices: triangles in no cell of an active triangle cannot be in a tested pair, so
    // they stay out of the grid (a bitmap of the active triangles' cells).
    if (movedVertices) {
        const double cells = static_cast<double>(dims[0]) * static_cast<double>(dims[1]) * static_cast<double>(dims[2]);
        if (cells < 2.5e8) { // at most 32 MB of bits
            std::vector<std::uint64_t> occupied((static_cast<std::size_t>(cells) + 63) / 64, 0);
            auto forCells = [&](std::size_t t, auto&& f) {
                const auto& r = range[t];
                for (auto z = r[2]; z <= r[5]; ++z)
                    for (auto y = r[1]; y <= r[4]; ++y)
                        for (auto x = r[0]; x <= r[3]; ++x)
                            if (f(linear(x, y, z))) return true;
                return false;
            };
            for (std::size_t t = 0; t < nt; ++t)
                if (active[t] && !bad[t])
                    forCells(t, [&](std::uint64_t c) {
                        occupied[c / 64] |= std::uint64_t{1} << (c % 64);
                        return false;
                    });
            parallelChunks(nt, [&](std::size_t tb, std::size_t te) {
                for (std::size_t t = tb; t < te; ++t)
                    if (!active[t] && !bad[t] &&
                        !forCells(t, [&](std::uint64_t c) { return (occupied[c / 64] >> (c % 64) & 1) != 0; }))
                        inGrid[t] = 0;
            });
        }
    }
    std::size_t nEntries = 0;
    for (std::size_t t = 0; t < nt; ++t)
        if (!bad[t] && inGrid[t]) {
            const auto& r = range[t];
            nEntries += static_cast<std::size_t>((r[3] - r[0] + 1) * (r[4] - r[1] + 1) * (r[5] - r[2] + 1));
        }
    std::vector<std::uint64_t> keys(nEntries), keys2(nEntries);
    std::vector<std::uint32_t> members(nEntries), members2(nEntries);
    {
        std::size_t i = 0;
        for (std::size_t t = 0; t < nt; ++t) {
            if (bad[t] || !inGrid[t]) continue;
            const auto& r = range[t];
            for (auto z = r[2]; z <= r[5]; ++z)
                for (auto y = r[1]; y <= r[4]; ++y)
                    for (auto x = r[0]; x <= r[3]; ++x, ++i) {
                        keys[i] = linear(x, y, z);
                        members[i] = static_cast<std::uint32_t>(t);
                    }
        }
    }
    const std::uint64_t maxKey = linear(dims[0] - 1, dims[1] - 1, dims[2] - 1);
    for (int shift = 0; shift < 64 && (maxKey >> shift) != 0; shift += 16) {
        std::vector<std::size_t> count(65537, 0);
        for (std::uint64_t k : keys) ++count[((k >> shift) & 0xFFFF) + 1];
        for (std::size_t d = 0; d < 65536; ++d) count[d + 1] += count[d];
        for (std::size_t i = 0; i < nEntries; ++i) {
            const std::size_t pos = count[(keys[i] >> shift) & 0xFFFF]++;
            keys2[pos] = keys[i];
            members2[pos] = members[i];
        }
        keys.swap(keys2);
        members.swap(members2);
    }

    // Each overlapping pair is tested once: in the cell holding the lowest corner of the boxes' overlap.
    std::mutex mutex;
    parallelChunks(nEntries, [&](std::size_t cb, std::size_t ce) {
        std::vector<std::size_t> found;
        struct Local {
            Box box;
            std::uint32_t t;
            char active;
            std::array<bool, 3> lowHere, certified;
            std::array<int, 3> v;
        };
        std::vector<Local> local;
        // The runs (cells) that start in [cb, ce).
        std::size_t b = cb;
        while (b > 0 && b < nEntries && keys[b] == keys[b - 1]) ++b;
        while (b < ce) {
            std::size_t e = b + 1;
            while (e < nEntries && keys[e] == keys[b]) ++e;
            if (e - b >= 2) {
                const std::uint64_t c = keys[b];
                const std::array<std::int64_t, 3> cell{
                    static_cast<std::int64_t>(c % static_cast<std::uint64_t>(dims[0])),
                    static_cast<std::int64_t>((c / static_cast<std::uint64_t>(dims[0])) %
                                              static_cast<std::uint64_t>(dims[1])),
                    static_cast<std::int64_t>(c / static_cast<std::uint64_t>(dims[0] * dims[1]))};
                // The cell's triangles copied side by side (boxes, whether their low corner is in this cell per
                // axis, vertices, certified corners), so the quadratic loop reads contiguous memory.
                local.clear();
                for (std::size_t i = b; i < e; ++i) {
                    const std::uint32_t t = members[i];
                    Local l;
                    l.box = boxes[t];
                    l.t = t;
                    l.active = active[t];
                    for (int k = 0; k < 3; ++k) {
                        l.lowHere[k] = range[t][k] == cell[k];
                        l.v[k] = mesh.triangles[t][k];
                        l.certified[k] = certified[static_cast<std::size_t>(l.v[k])];
                    }
                    local.push_back(l);
                }
                for (std::size_t i = 0; i < local.size(); ++i) {
                    const Local& la = local[i];
                    for (std::size_t j = i + 1; j < local.size(); ++j) {
                        const Local& lb = local[j];
                        if (!la.active && !lb.active) continue;
                        if (!overlap(la.box, lb.box)) continue;
                        // Tested in the cell of the lowest corner of the overlap: per axis, one of the two boxes
                        // starts in this cell (the other starts in it or before).
                        if (!(la.lowHere[0] || lb.lowHere[0]) || !(la.lowHere[1] || lb.lowHere[1]) ||
                            !(la.lowHere[2] || lb.lowHere[2]))
                            continue;
                        // Pairs sharing a vertex whose fan is certified cannot intersect (see certifiedFans).
                        bool skip = false;
                        for (int k = 0; k < 3 && !skip; ++k)
                            skip = la.certified[k] && (la.v[k] == lb.v[0] || la.v[k] == lb.v[1] || la.v[k] == lb.v[2]);
                        if (skip) continue;
                        if (test.intersect(la.t, lb.t)) {
                            found.push_back(la.t);
                            found.push_back(lb.t);
                        }
                    }
                }
            }
            b = e;
        }
        if (!found.empty()) {
            const std::lock_guard<std::mutex> lock(mutex);
            for (std::size_t t : found) bad[t] = 1;
        }
    });
    for (std::size_t t = 0; t < nt; ++t)
        if (bad[t]) out.push_back(t);
    return out;
}

} // namespace jumeau::geometry::detail
