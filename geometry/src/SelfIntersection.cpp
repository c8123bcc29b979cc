// Self-intersection test of the meshing chain (see SelfIntersection.h). Only CGAL's kernel here (predicates), so
// this translation unit compiles in seconds, unlike CgalMeshOps.cpp.
#define CGAL_NDEBUG 1

#include "SelfIntersection.h"

#include "MeshChecks.h"

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace jumeau::geometry::detail {

namespace {

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_3;

constexpr float kFloatMax = std::numeric_limits<float>::max();

// A triangle's bounding box in the mesh's float coordinates (exact).
struct FBox {
    float lo[3], hi[3];
};

// One grid cell's entries as a structure of arrays, padded to a multiple of 4 with boxes that overlap nothing:
// rows lo x, lo y, lo z, hi x, hi y, hi z (float), then rule bits, vertex 0, 1, 2 (int32). Rule bits: the box starts
// in this cell along x (1), y (2), z (4). A pair is tested in the cell holding the lowest corner of the two boxes'
// overlap (per axis one of the two starts here, the other here or before): both rule words or'ed give 7.
struct CellArrays {
    std::size_t stride = 0;
    std::vector<float> box;         // 6 rows
    std::vector<std::int32_t> ints; // 4 rows
    // k entries, padded to a multiple of `lanes` (4 or 16, a power of two).
    void resize(std::size_t k, std::size_t lanes = 4) {
        stride = (k + lanes - 1) & ~(lanes - 1);
        box.resize(6 * stride);
        ints.resize(4 * stride);
        for (std::size_t q = k; q < stride; ++q) {
            for (int a = 0; a < 3; ++a) {
                box[a * stride + q] = kFloatMax;
                box[(3 + a) * stride + q] = -kFloatMax;
            }
            for (int r = 0; r < 4; ++r) ints[r * stride + q] = r == 0 ? 0 : -1;
        }
    }
    float* row(int a) { return box.data() + a * stride; }
    std::int32_t* irow(int r) { return ints.data() + r * stride; }
    const float* row(int a) const { return box.data() + a * stride; }
    const std::int32_t* irow(int r) const { return ints.data() + r * stride; }
};

// Bits 0..3: which of entries j0 .. j0+3 form a pair with entry i that must be looked at: closed boxes overlap, the
// cell rule holds, and the two do not share a vertex of i whose fan is certified (bit c of `certifiedI` for vertex c).
unsigned pairMask4(const CellArrays& c, std::size_t i, std::size_t j0, unsigned certifiedI) {
#if defined(__SSE2__)
    __m128 overlap = _mm_castsi128_ps(_mm_set1_epi32(-1));
    for (int a = 0; a < 3; ++a) {
        const __m128 loJ = _mm_loadu_ps(c.row(a) + j0), hiJ = _mm_loadu_ps(c.row(3 + a) + j0);
        const __m128 loI = _mm_set1_ps(c.row(a)[i]), hiI = _mm_set1_ps(c.row(3 + a)[i]);
        // !(hi_j < lo_i) and !(hi_i < lo_j)
        overlap = _mm_and_ps(overlap, _mm_and_ps(_mm_cmpnlt_ps(hiJ, loI), _mm_cmpnlt_ps(hiI, loJ)));
    }
    const __m128i rule =
        _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c.irow(0) + j0)), _mm_set1_epi32(c.irow(0)[i]));
    __m128i keep = _mm_and_si128(_mm_castps_si128(overlap), _mm_cmpeq_epi32(rule, _mm_set1_epi32(7)));
    if (certifiedI) {
        const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c.irow(1) + j0));
        const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c.irow(2) + j0));
        const __m128i v2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c.irow(3) + j0));
        __m128i shared = _mm_setzero_si128();
        for (int k = 0; k < 3; ++k) {
            if (!(certifiedI >> k & 1)) continue;
            const __m128i vi = _mm_set1_epi32(c.irow(1 + k)[i]);
            shared = _mm_or_si128(shared, _mm_or_si128(_mm_cmpeq_epi32(v0, vi),
                                                       _mm_or_si128(_mm_cmpeq_epi32(v1, vi), _mm_cmpeq_epi32(v2, vi))));
        }
        keep = _mm_andnot_si128(shared, keep);
    }
    return static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(keep)));
#else
    unsigned bits = 0;
    for (std::size_t q = 0; q < 4; ++q) {
        const std::size_t j = j0 + q;
        bool ok = (c.irow(0)[i] | c.irow(0)[j]) == 7;
        for (int a = 0; a < 3; ++a) ok = ok && !(c.row(3 + a)[j] < c.row(a)[i]) && !(c.row(3 + a)[i] < c.row(a)[j]);
        for (int k = 0; k < 3 && ok; ++k)
            if (certifiedI >> k & 1)
                for (int m = 0; m < 3; ++m) ok = ok && c.irow(1 + k)[i] != c.irow(1 + m)[j];
        bits |= ok ? 1u << q : 0u;
    }
    return bits;
#endif
}

#if defined(__x86_64__) && defined(__GNUC__)
#define JUMEAU_WIDE_PAIR_MASKS 1
// pairMask4 for 16 entries j0 .. j0+15 (AVX-512; only called when the processor has it).
__attribute__((target("avx512f"))) unsigned pairMask16(const CellArrays& c, std::size_t i, std::size_t j0,
                                                       unsigned certifiedI) {
    __mmask16 keep = 0xFFFF;
    for (int a = 0; a < 3; ++a) {
        const __m512 loJ = _mm512_loadu_ps(c.row(a) + j0), hiJ = _mm512_loadu_ps(c.row(3 + a) + j0);
        // !(hi_j < lo_i) and !(hi_i < lo_j), as pairMask4
        keep = _mm512_mask_cmp_ps_mask(keep, hiJ, _mm512_set1_ps(c.row(a)[i]), _CMP_NLT_UQ);
        keep = _mm512_mask_cmp_ps_mask(keep, _mm512_set1_ps(c.row(3 + a)[i]), loJ, _CMP_NLT_UQ);
    }
    const __m512i rule = _mm512_or_si512(_mm512_loadu_si512(c.irow(0) + j0), _mm512_set1_epi32(c.irow(0)[i]));
    keep = _mm512_mask_cmpeq_epi32_mask(keep, rule, _mm512_set1_epi32(7));
    if (certifiedI && keep) {
        const __m512i v0 = _mm512_loadu_si512(c.irow(1) + j0);
        const __m512i v1 = _mm512_loadu_si512(c.irow(2) + j0);
        const __m512i v2 = _mm512_loadu_si512(c.irow(3) + j0);
        __mmask16 shared = 0;
        for (int k = 0; k < 3; ++k) {
            if (!(certifiedI >> k & 1)) continue;
            const __m512i vi = _mm512_set1_epi32(c.irow(1 + k)[i]);
            shared |=
                _mm512_cmpeq_epi32_mask(v0, vi) | _mm512_cmpeq_epi32_mask(v1, vi) | _mm512_cmpeq_epi32_mask(v2, vi);
        }
        keep &= static_cast<__mmask16>(~shared);
    }
    return keep;
}

// Every pair (i < j) of a cell's k entries through pairMask16, examine(i, j) for those it lets through; certified(i)
// gives entry i's certified-vertex bits. One mask per entry and 16 partners (a cell holds about 16 entries), so
// the entries need no grouping.
template <typename Certified, typename Examine>
__attribute__((target("avx512f"))) void scanCell16(const CellArrays& c, std::size_t k, const Certified& certified,
                                                   const Examine& examine) {
    for (std::size_t i = 0; i + 1 < k; ++i) {
        const unsigned certifiedI = certified(i);
        for (std::size_t jb = (i + 1) & ~std::size_t{15}; jb < k; jb += 16) {
            unsigned bits = pairMask16(c, i, jb, certifiedI);
            if (jb <= i) bits &= ~0u << (i + 1 - jb);
            if (k - jb < 16) bits &= (1u << (k - jb)) - 1;
            for (; bits; bits &= bits - 1) examine(i, jb + static_cast<std::size_t>(__builtin_ctz(bits)));
        }
    }
}
#endif

std::atomic<bool> g_allowWidePairMasks{true};

bool widePairMasks() {
#if defined(JUMEAU_WIDE_PAIR_MASKS)
    static const bool cpu = __builtin_cpu_supports("avx512f");
    return cpu && g_allowWidePairMasks.load(std::memory_order_relaxed);
#else
    return false;
#endif
}

// The pair test of CGAL's PMP::self_intersections (do_faces_intersect), on vertex indices instead of halfedges.
// CGAL points are made from the mesh's floats when a pair gets here (exactly: float -> double), not copied for the
// whole mesh: few pairs do (about a thousand on the IRCAD liver), and fresh memory costs page faults.
class PairTest {
public:
    PairTest(const Mesh& mesh) : m_mesh(mesh) {}

    bool degenerate(std::size_t t) const {
        const auto& v = m_mesh.triangles[t];
        return CGAL::collinear(point(v[0]), point(v[1]), point(v[2]));
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
        const Point pa[3] = {point(a[0]), point(a[1]), point(a[2])};
        const Point pb[3] = {point(b[0]), point(b[1]), point(b[2])};
        if (shared >= 3) return true; // the same triangle twice
        if (shared == 2) {
            // Shared edge p-q, r and s the other vertices: intersecting only if coplanar and on the same side.
            const Point& r = pa[ia];
            const Point& s = pb[ib];
            const Point& p = pa[(ia + 1) % 3];
            const Point& q = pa[(ia + 2) % 3];
            return CGAL::coplanar(p, q, r, s) && CGAL::coplanar_orientation(p, q, r, s) == CGAL::POSITIVE;
        }
        if (shared == 1) {
            // Shared vertex: the opposite edge of either crossing the other triangle.
            const Kernel::Triangle_3 t1(pa[0], pa[1], pa[2]), t2(pb[0], pb[1], pb[2]);
            const Kernel::Segment_3 s1(pa[(ia + 1) % 3], pa[(ia + 2) % 3]);
            const Kernel::Segment_3 s2(pb[(ib + 1) % 3], pb[(ib + 2) % 3]);
            return segmentCrosses(t1, s2) || segmentCrosses(t2, s1);
        }
        // Cheap exact rejection first: all of b strictly on one side of a's plane (or the reverse).
        if (strictlyOneSide(pa[0], pa[1], pa[2], pb[0], pb[1], pb[2]) ||
            strictlyOneSide(pb[0], pb[1], pb[2], pa[0], pa[1], pa[2]))
            return false;
        return CGAL::do_intersect(Kernel::Triangle_3(pa[0], pa[1], pa[2]), Kernel::Triangle_3(pb[0], pb[1], pb[2]));
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

    Point point(int v) const {
        const auto& p = m_mesh.points[static_cast<std::size_t>(v)];
        return {p[0], p[1], p[2]};
    }

    const Mesh& m_mesh;
};

using D3 = std::array<double, 3>;

D3 diff(const std::array<float, 3>& p, const std::array<float, 3>& o) {
    return {double(p[0]) - double(o[0]), double(p[1]) - double(o[1]), double(p[2]) - double(o[2])};
}
D3 crossD(const D3& u, const D3& w) {
    return {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
}

// Unit roundoff of double. The bounds below use 9 of it where a first-order analysis needs at most 4.1 (the
// differences of float coordinates, a 3-term dot product); the slack covers the rounding of the bounds themselves
// and of the final comparisons.
constexpr double kBound = 1e-15;

// Collinear triangle (CGAL's answer): a cross-product component certainly non-zero says no without CGAL.
bool degenerate(const Mesh& mesh, std::size_t t, const PairTest& test) {
    const auto& v = mesh.triangles[t];
    const D3 u = diff(mesh.points[v[1]], mesh.points[v[0]]), w = diff(mesh.points[v[2]], mesh.points[v[0]]);
    for (int i = 0; i < 3; ++i) {
        const int j = (i + 1) % 3, k = (i + 2) % 3;
        const double a = u[j] * w[k], b = u[k] * w[j];
        if (std::abs(a - b) > kBound * (std::abs(a) + std::abs(b))) return false;
    }
    return test.degenerate(t);
}

// Whether a plane certainly separates two triangles (closed, no shared vertex): tried are the planes of both
// triangles and, for each edge, the plane through it perpendicular to its triangle (which separates triangles lying
// side by side on a sheet). For a direction m, the values m.(x - a0) of the six vertices are computed in double
// with a bound on their rounding error (of the coordinate differences and of the dot product); the triangles are
// separated when one triangle's largest value is below the other's smallest by more than twice the bound. The plane
// is any plane (m need not be exact), so a yes is a proof and matches the exact test's answer; a no leaves the pair
// to the exact test.
bool certainlySeparated(const Mesh& mesh, const std::array<int, 3>& va, const std::array<int, 3>& vb) {
    const auto& o = mesh.points[static_cast<std::size_t>(va[0])];
    const D3 d[6] = {D3{0, 0, 0},
                     diff(mesh.points[static_cast<std::size_t>(va[1])], o),
                     diff(mesh.points[static_cast<std::size_t>(va[2])], o),
                     diff(mesh.points[static_cast<std::size_t>(vb[0])], o),
                     diff(mesh.points[static_cast<std::size_t>(vb[1])], o),
                     diff(mesh.points[static_cast<std::size_t>(vb[2])], o)};
    // The largest |coordinate difference| (three independent chains; d[0] is zero).
    double rx = 0, ry = 0, rz = 0;
    for (int i = 1; i < 6; ++i) {
        rx = std::max(rx, std::abs(d[i][0]));
        ry = std::max(ry, std::abs(d[i][1]));
        rz = std::max(rz, std::abs(d[i][2]));
    }
    const double reach = std::max(rx, std::max(ry, rz));
    auto separates = [&](const D3& m) __attribute__((always_inline)) {
        const double err = kBound * (std::abs(m[0]) + std::abs(m[1]) + std::abs(m[2])) * reach;
        double v[6];
        for (int i = 0; i < 6; ++i) v[i] = m[0] * d[i][0] + m[1] * d[i][1] + m[2] * d[i][2];
        const double loA = std::min({v[0], v[1], v[2]}), hiA = std::max({v[0], v[1], v[2]});
        const double loB = std::min({v[3], v[4], v[5]}), hiB = std::max({v[3], v[4], v[5]});
        return loB - hiA > 2 * err || loA - hiB > 2 * err;
    };
    const D3 ea[3] = {d[1], D3{d[2][0] - d[1][0], d[2][1] - d[1][1], d[2][2] - d[1][2]}, d[2]};
    const D3 eb[3] = {D3{d[4][0] - d[3][0], d[4][1] - d[3][1], d[4][2] - d[3][2]},
                      D3{d[5][0] - d[4][0], d[5][1] - d[4][1], d[5][2] - d[4][2]},
                      D3{d[5][0] - d[3][0], d[5][1] - d[3][1], d[5][2] - d[3][2]}};
    const D3 na = crossD(ea[0], ea[2]), nb = crossD(eb[0], eb[2]);
    // The planes: 0, 1 the triangles' own, 2-4 through a's edges, 5-7 through b's. Which one separates depends on
    // the surface around (IRCAD liver: mostly a triangle's plane; skin: mostly two of a's edge planes), and pairs
    // come in surface order: the plane that last separated a pair on this thread is tried first. (The answer does
    // not depend on the order: any separating plane is a proof.)
    const auto direction = [&](int i) {
        return i == 0 ? na : i == 1 ? nb : i < 5 ? crossD(na, ea[i - 2]) : crossD(nb, eb[i - 5]);
    };
    static thread_local int lastSeparating = 0;
    if (separates(direction(lastSeparating))) return true;
    for (int i = 0; i < 8; ++i)
        if (i != lastSeparating && separates(direction(i))) {
            lastSeparating = i;
            return true;
        }
    return false;
}

// Vertices whose fan of triangles maps one-to-one onto a plane: two triangles of such a fan meet only in their
// shared vertex or edge, since points of both would map to the same point. Pairs sharing a certified vertex need
// no test. The map is the linear one onto the coordinates (x, y) along two vectors e1, e2 across a direction: the
// fan's mean normal, else each of its triangles' normals (any linear map will do, so none of these need be
// exact). It is one-to-one when the link is one closed cycle,
// every triangle (v, u, w) maps with a positive orientation (x_u y_w - y_u x_w > 0), and the link winds once around
// v: with every wedge turning counter-clockwise by less than half a turn, the winding number is the number of link
// edges that cross the ray y = 0, x > 0 upwards (a crossing's x has the sign of the wedge's orientation, so every
// upward crossing of y = 0 is on the ray and no downward one is), counted with y < 0 <= y'. Every sign used (the
// orientations and the y of each link vertex) must clear an error bound 10^3 times the rounding error, so a
// certificate is never wrong; a vertex not certified just has its pairs tested exactly. Only the vertices flagged
// in `needed` are examined when it is given (the others stay uncertified).
std::vector<char> certifiedFans(const Mesh& mesh, const std::vector<char>* needed, const VertexLinks* given) {
    const std::size_t nv = mesh.points.size();
    std::optional<VertexLinks> own;
    if (!given) own.emplace(mesh);
    const VertexLinks& links = given ? *given : *own;
    std::vector<char> ok(nv, 0);
    parallelChunks(nv, [&](std::size_t vb, std::size_t ve) {
        constexpr int kMaxFan = 32; // larger fans are left to the exact test
        int walked[kMaxFan];
        D3 rel[kMaxFan];
        double x[kMaxFan], y[kMaxFan], size[kMaxFan];
        for (std::size_t v = vb; v < ve; ++v) {
            const int n = links.count(v);
            if (n < 3 || n > kMaxFan || (needed && !(*needed)[v])) continue;
            const int* ring = walked;
            if (links.ordered()) {
                if (!links.ringIsCycle[v]) continue;
                ring = links.rings.get() + links.start[v];
            } else if (!links.cycle(v, walked)) {
                continue;
            }
            const auto& pv = mesh.points[v];
            D3 mean{0, 0, 0};
            for (int k = 0; k < n; ++k) rel[k] = diff(mesh.points[static_cast<std::size_t>(ring[k])], pv);
            for (int k = 0; k < n; ++k) {
                const D3 c = crossD(rel[k], rel[k + 1 < n ? k + 1 : 0]);
                for (int i = 0; i < 3; ++i) mean[i] += c[i];
            }
            // Whether the fan maps one-to-one along `normal` (see above).
            auto injectiveAlong = [&](const D3& normal) {
                // e1 across the normal: of two fixed directions aligned with no lattice axis or diagonal (link
                // vertices of a lattice surface often lie exactly along those, where the ray test below needs clear
                // signs), the one less aligned with the normal, minus its normal part; e2 = n x e1.
                const double nn = normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2];
                if (!(nn > 0)) return false;
                constexpr D3 g1{0.8017, 0.4612, 0.3802}, g2{-0.3716, 0.8123, -0.4494};
                const double d1 = g1[0] * normal[0] + g1[1] * normal[1] + g1[2] * normal[2];
                const double d2 = g2[0] * normal[0] + g2[1] * normal[1] + g2[2] * normal[2];
                const D3& g = std::abs(d1) <= std::abs(d2) ? g1 : g2;
                const double gn = (std::abs(d1) <= std::abs(d2) ? d1 : d2) / nn;
                const D3 e1{g[0] - gn * normal[0], g[1] - gn * normal[1], g[2] - gn * normal[2]};
                const D3 e2 = crossD(normal, e1);
                const double e1Size = std::abs(e1[0]) + std::abs(e1[1]) + std::abs(e1[2]);
                const double e2Size = std::abs(e2[0]) + std::abs(e2[1]) + std::abs(e2[2]);
                for (int k = 0; k < n; ++k) {
                    const D3& u = rel[k];
                    const double us = std::abs(u[0]) + std::abs(u[1]) + std::abs(u[2]);
                    x[k] = u[0] * e1[0] + u[1] * e1[1] + u[2] * e1[2];
                    y[k] = u[0] * e2[0] + u[1] * e2[1] + u[2] * e2[2];
                    size[k] = us * (e1Size + e2Size);
                    if (!(std::abs(y[k]) > 1e-13 * us * e2Size)) return false;
                }
                int upward = 0;
                for (int k = 0; k < n; ++k) {
                    const int j = k + 1 < n ? k + 1 : 0;
                    const double det = x[k] * y[j] - y[k] * x[j];
                    if (!(det > 1e-13 * size[k] * size[j])) return false;
                    upward += (y[k] < 0 && y[j] >= 0) ? 1 : 0;
                }
                return upward == 1;
            };
            // Along the fan's mean normal; failing that (a fan bent sharply enough that a wedge faces away from the
            // mean, as where smoothing presses a surface against a neighbouring structure: 5 250 of the phantom
            // liver's 146 840 vertices with the former extraction and constraint), along each of its triangles'
            // normals in turn.
            bool fine = injectiveAlong(mean);
            for (int k = 0; k < n && !fine; ++k) fine = injectiveAlong(crossD(rel[k], rel[k + 1 < n ? k + 1 : 0]));
            ok[v] = fine;
        }
    });
    return ok;
}

// Left out of the pairs and reported, as CGAL does: a degenerate (collinear) triangle. A triangle of a certified fan
// has a positive area (see certifiedFans), so it needs no test.
bool degenerateOutsideCertifiedFan(const Mesh& mesh, std::size_t t, const std::vector<char>& certified,
                                   const PairTest& test) {
    const auto& v = mesh.triangles[t];
    const bool inCertifiedFan = certified[static_cast<std::size_t>(v[0])] ||
                                certified[static_cast<std::size_t>(v[1])] || certified[static_cast<std::size_t>(v[2])];
    return !inCertifiedFan && degenerate(mesh, t, test);
}

// A pair the broad phase let through (boxes overlap, no shared certified vertex): one sharing no vertex first gets
// the floating-point separation filter; what it cannot separate, and pairs sharing a vertex, get the exact test.
bool pairIntersects(const Mesh& mesh, const PairTest& test, std::size_t ta, const std::array<int, 3>& va,
                    std::size_t tb, const std::array<int, 3>& vb) {
    bool shares = false;
    for (int c = 0; c < 3; ++c) shares = shares || va[c] == vb[0] || va[c] == vb[1] || va[c] == vb[2];
    if (!shares && certainlySeparated(mesh, va, vb)) return false;
    return test.intersect(ta, tb);
}

// A uniform grid's cell coordinate along axis k: cells of 1 / perCell[k] from lo[k], clamped to [0, dims[k] - 1]
// (the boxes put in a grid lie at or above lo, so the product is >= 0 and truncation is the floor).
struct CellAxes {
    std::array<float, 3> lo;
    std::array<double, 3> perCell;
    std::array<std::int32_t, 3> dims;
    std::int32_t operator()(float x, int k) const {
        const double c = (double(x) - double(lo[k])) * perCell[k];
        return c < double(dims[k] - 1) ? (c >= 0 ? static_cast<std::int32_t>(c) : 0) : dims[k] - 1;
    }
};

// Triangle t's box; false when a coordinate is not finite (NaN or infinity: never made by the mesher).
inline __attribute__((always_inline)) bool boxOf(const Mesh& mesh, std::size_t t, FBox& b) {
    const auto& v = mesh.triangles[t];
    const auto &p0 = mesh.points[v[0]], &p1 = mesh.points[v[1]], &p2 = mesh.points[v[2]];
    for (int k = 0; k < 3; ++k) {
        if (!std::isfinite(p0[k]) || !std::isfinite(p1[k]) || !std::isfinite(p2[k])) return false;
        b.lo[k] = std::min({p0[k], p1[k], p2[k]});
        b.hi[k] = std::max({p0[k], p1[k], p2[k]});
    }
    return true;
}

// Closed boxes overlap (the broad phase's test: touching counts).
bool overlaps(const FBox& a, const FBox& b) {
    for (int k = 0; k < 3; ++k)
        if (a.hi[k] < b.lo[k] || b.hi[k] < a.lo[k]) return false;
    return true;
}

// The re-test after a local revert (findSelfIntersections with moved vertices): only pairs with a triangle around a
// moved vertex ("active") are tested, and there are few of those (the triangles around a few hundred reverted
// vertices). Their boxes go into a grid of at most 64 cells per axis over the box of them all; one pass over every
// triangle looks its box up there. A pair is examined once, in the cell holding the low corner of the two boxes'
// overlap, by the same tests as in the full test's grid, so the answer is the full test's restricted to those pairs.
std::vector<std::size_t> retestAround(const Mesh& mesh, const std::vector<char>& moved, const VertexLinks* links) {
    const std::size_t nt = mesh.triangles.size();
    const PairTest test(mesh);
    std::vector<char> active(nt, 0);
    std::vector<std::uint32_t> actives; // ascending
    {
        std::mutex mutex;
        parallelChunks(nt, [&](std::size_t b, std::size_t e) {
            std::vector<std::uint32_t> part;
            for (std::size_t t = b; t < e; ++t) {
                const auto& v = mesh.triangles[t];
                if (moved[static_cast<std::size_t>(v[0])] || moved[static_cast<std::size_t>(v[1])] ||
                    moved[static_cast<std::size_t>(v[2])]) {
                    active[t] = 1;
                    part.push_back(static_cast<std::uint32_t>(t));
                }
            }
            const std::lock_guard<std::mutex> lock(mutex);
            actives.insert(actives.end(), part.begin(), part.end());
        });
        std::sort(actives.begin(), actives.end());
    }
    std::vector<char> activeVertex(mesh.points.size(), 0);
    for (std::uint32_t t : actives)
        for (int v : mesh.triangles[t]) activeVertex[static_cast<std::size_t>(v)] = 1;
    // A skipped pair shares a certified vertex, which is a vertex of its active triangle.
    const std::vector<char> certified = certifiedFans(mesh, &activeVertex, links);

    std::vector<std::size_t> bad;
    // The active triangles in the grid: finite and (as in the full test) not degenerate.
    std::vector<std::uint32_t> gridTri;
    std::vector<FBox> gridBox;
    FBox all{{kFloatMax, kFloatMax, kFloatMax}, {-kFloatMax, -kFloatMax, -kFloatMax}};
    std::array<double, 3> extentSum{0, 0, 0};
    for (std::uint32_t t : actives) {
        FBox b;
        if (!boxOf(mesh, t, b)) {
            bad.push_back(t);
            continue;
        }
        if (degenerateOutsideCertifiedFan(mesh, t, certified, test)) {
            bad.push_back(t);
            continue;
        }
        gridTri.push_back(t);
        gridBox.push_back(b);
        for (int k = 0; k < 3; ++k) {
            all.lo[k] = std::min(all.lo[k], b.lo[k]);
            all.hi[k] = std::max(all.hi[k], b.hi[k]);
            extentSum[k] += double(b.hi[k]) - double(b.lo[k]);
        }
    }
    std::vector<char> inGrid(nt, 0);
    for (std::uint32_t t : gridTri) inGrid[t] = 1;
    // Cells of two mean extents, at most 64 along an axis.
    std::array<double, 3> perCell{};
    std::array<std::int32_t, 3> dims{1, 1, 1};
    for (int k = 0; k < 3 && !gridTri.empty(); ++k) {
        const double span = double(all.hi[k]) - double(all.lo[k]);
        const double h = std::max({2 * extentSum[k] / static_cast<double>(gridTri.size()), span / 64, 1e-9});
        perCell[k] = 1 / h;
        dims[k] = static_cast<std::int32_t>(std::min(64.0, std::floor(span / h) + 1));
    }
    const CellAxes cellOf{{all.lo[0], all.lo[1], all.lo[2]}, perCell, dims};
    const auto linear = [&](std::int32_t x, std::int32_t y, std::int32_t z) {
        return static_cast<std::size_t>(x + dims[0] * (y + dims[1] * z));
    };
    const auto eachCell = [&](const FBox& b, auto&& f) {
        const std::int32_t x0 = cellOf(b.lo[0], 0), x1 = cellOf(b.hi[0], 0), y0 = cellOf(b.lo[1], 1),
                           y1 = cellOf(b.hi[1], 1), z0 = cellOf(b.lo[2], 2), z1 = cellOf(b.hi[2], 2);
        for (std::int32_t z = z0; z <= z1; ++z)
            for (std::int32_t y = y0; y <= y1; ++y)
                for (std::int32_t x = x0; x <= x1; ++x) f(linear(x, y, z));
    };
    // Cell lists (a counting sort of the active boxes' cells).
    const std::size_t cells =
        static_cast<std::size_t>(dims[0]) * static_cast<std::size_t>(dims[1]) * static_cast<std::size_t>(dims[2]);
    std::vector<std::uint32_t> cellStart(cells + 1, 0), cellMembers;
    for (const FBox& b : gridBox) eachCell(b, [&](std::size_t c) { ++cellStart[c + 1]; });
    for (std::size_t c = 0; c < cells; ++c) cellStart[c + 1] += cellStart[c];
    cellMembers.resize(cellStart[cells]);
    {
        std::vector<std::uint32_t> fill(cellStart.begin(), cellStart.end() - 1);
        for (std::uint32_t g = 0; g < gridTri.size(); ++g)
            eachCell(gridBox[g], [&](std::size_t c) { cellMembers[fill[c]++] = g; });
    }
    // Every triangle against the active boxes of its cells.
    std::mutex mutex;
    parallelChunks(gridTri.empty() ? 0 : nt, [&](std::size_t tb, std::size_t te) {
        std::vector<std::size_t> found;
        for (std::size_t t = tb; t < te; ++t) {
            FBox b;
            if (!boxOf(mesh, t, b)) {
                if (!active[t]) found.push_back(t); // (active ones are reported already)
                continue;
            }
            if ((active[t] && !inGrid[t]) || !overlaps(b, all)) continue;
            const auto& vt = mesh.triangles[t];
            eachCell(b, [&](std::size_t c) {
                for (std::uint32_t q = cellStart[c]; q < cellStart[c + 1]; ++q) {
                    const std::uint32_t g = cellMembers[q];
                    const std::uint32_t a = gridTri[g];
                    // Two active triangles are paired once, from the lower index.
                    if (a == t || (active[t] && a < t)) continue;
                    const FBox& ba = gridBox[g];
                    if (!overlaps(b, ba)) continue;
                    const std::size_t corner =
                        linear(cellOf(std::max(b.lo[0], ba.lo[0]), 0), cellOf(std::max(b.lo[1], ba.lo[1]), 1),
                               cellOf(std::max(b.lo[2], ba.lo[2]), 2));
                    if (corner != c) continue;
                    const auto& va = mesh.triangles[a];
                    bool sharesCertified = false;
                    for (int i = 0; i < 3; ++i)
                        for (int j = 0; j < 3; ++j)
                            sharesCertified =
                                sharesCertified || (vt[i] == va[j] && certified[static_cast<std::size_t>(vt[i])]);
                    if (sharesCertified) continue;
                    if (pairIntersects(mesh, test, t, vt, a, va)) {
                        found.push_back(t);
                        found.push_back(a);
                    }
                }
            });
        }
        const std::lock_guard<std::mutex> lock(mutex);
        bad.insert(bad.end(), found.begin(), found.end());
    });
    if (gridTri.empty()) // no pair to test; still report non-finite triangles, as the full test does
        for (std::size_t t = 0; t < nt; ++t) {
            FBox b;
            if (!active[t] && !boxOf(mesh, t, b)) bad.push_back(t);
        }
    std::sort(bad.begin(), bad.end());
    bad.erase(std::unique(bad.begin(), bad.end()), bad.end());
    return bad;
}

} // namespace

void allowWidePairMasks(bool allowed) {
    g_allowWidePairMasks.store(allowed);
}

unsigned meshingThreads() {
    if (const char* env = std::getenv("JUMEAU_MESH_THREADS")) {
        const int n = std::atoi(env);
        if (n >= 1) return static_cast<unsigned>(std::min(n, 64));
    }
    const unsigned hw = std::thread::hardware_concurrency();
    return std::clamp(hw, 1u, 2u);
}

std::vector<std::size_t> findSelfIntersections(const Mesh& mesh, const std::vector<char>* movedVertices,
                                               const VertexLinks* links) {
    const std::size_t nt = mesh.triangles.size();
    std::vector<std::size_t> out;
    if (nt == 0) return out;
    if (movedVertices) return retestAround(mesh, *movedVertices, links);
    const PairTest test(mesh);
    // A skipped pair shares a certified vertex.
    const std::vector<char> certified = certifiedFans(mesh, nullptr, links);

    // Boxes (float: the mesh's own coordinates, so exact), the overall box and the summed extents, in one pass.
    // A triangle with a non-finite coordinate (NaN or infinity, never made by the mesher) is reported as intersecting
    // and left out of the grid, which it would otherwise break.
    // Boxes and cell ranges are written by the parallel loops before any read (left unset only for triangles kept out
    // of the grid), so they are not zeroed first: their pages are first touched on both threads.
    std::unique_ptr<FBox[]> boxes(new FBox[nt]);
    std::vector<char> finite(nt, 1);
    std::size_t finiteCount = 0;
    FBox all{{kFloatMax, kFloatMax, kFloatMax}, {-kFloatMax, -kFloatMax, -kFloatMax}};
    std::array<double, 3> extentSum{0, 0, 0};
    {
        std::mutex mutex;
        parallelChunks(nt, [&](std::size_t tb, std::size_t te) {
            FBox part{{kFloatMax, kFloatMax, kFloatMax}, {-kFloatMax, -kFloatMax, -kFloatMax}};
            std::array<double, 3> sum{0, 0, 0};
            std::size_t count = 0;
            for (std::size_t t = tb; t < te; ++t) {
                FBox& b = boxes[t];
                if (!boxOf(mesh, t, b)) {
                    finite[t] = 0;
                    continue;
                }
                ++count;
                for (int k = 0; k < 3; ++k) {
                    part.lo[k] = std::min(part.lo[k], b.lo[k]);
                    part.hi[k] = std::max(part.hi[k], b.hi[k]);
                    sum[k] += double(b.hi[k]) - double(b.lo[k]);
                }
            }
            const std::lock_guard<std::mutex> lock(mutex);
            finiteCount += count;
            for (int k = 0; k < 3; ++k) {
                all.lo[k] = std::min(all.lo[k], part.lo[k]);
                all.hi[k] = std::max(all.hi[k], part.hi[k]);
                extentSum[k] += sum[k];
            }
        });
    }
    if (finiteCount == 0) {
        for (std::size_t t = 0; t < nt; ++t) out.push_back(t);
        return out;
    }
    // Grid cells of a few mean triangle extents along each axis (triangles of anisotropic voxels are longer along
    // the coarse axis): 3.5 with 16-wide masks (IRCAD liver and portal vein, 2.5 / 3.5 / 5 tried), 2.5 with 4-wide
    // ones (1.25 to 4 tried), where a cell's pairs cost more. Cells exist only as (cell, triangle) entries, built
    // layer by layer of cells along z (below), so cells can be small without a dense array over the whole box; a
    // layer's x-y plane of cells is kept to at most 2^22 cells.
    const bool wide = widePairMasks();
    const double cellExtents = wide ? 3.5 : 2.5;
    std::array<double, 3> h{};
    for (int k = 0; k < 3; ++k) h[k] = std::max(cellExtents * extentSum[k] / static_cast<double>(finiteCount), 1e-9);
    std::array<std::int32_t, 3> dims{};
    for (;;) {
        double plane = 1, cells = 1;
        for (int k = 0; k < 3; ++k) {
            const double n = std::floor((double(all.hi[k]) - double(all.lo[k])) / h[k]) + 1;
            dims[k] = static_cast<std::int32_t>(std::min(n, 1e9));
            cells *= n;
            if (k < 2) plane *= n;
        }
        if (plane <= double(1 << 22) && cells < 1e15) break;
        for (double& x : h) x *= 2;
    }
    const CellAxes cellOf{{all.lo[0], all.lo[1], all.lo[2]}, {1 / h[0], 1 / h[1], 1 / h[2]}, dims};
    // Cell ranges; degenerate triangles are reported and left out of the pairs, as CGAL does.
    std::vector<char> bad(nt, 0), inGrid(nt, 1);
    std::unique_ptr<std::array<std::int32_t, 6>[]> range(new std::array<std::int32_t, 6>[nt]);
    parallelChunks(nt, [&](std::size_t tb, std::size_t te) {
        for (std::size_t t = tb; t < te; ++t) {
            if (!finite[t]) {
                bad[t] = 1;
                inGrid[t] = 0;
                continue;
            }
            if (degenerateOutsideCertifiedFan(mesh, t, certified, test)) {
                bad[t] = 1;
                inGrid[t] = 0;
                continue;
            }
            auto& r = range[t];
            for (int k = 0; k < 3; ++k) {
                r[k] = cellOf(boxes[t].lo[k], k);
                r[3 + k] = cellOf(boxes[t].hi[k], k);
            }
        }
    });
    // The triangles of each layer of cells (z), in triangle order: a counting sort, each thread counting and then
    // placing a contiguous range of triangles (its places in a layer come after those of the ranges before it).
    const auto layers = static_cast<std::size_t>(dims[2]);
    const unsigned sortThreads = nt < 20000 ? 1u : meshingThreads();
    const std::size_t sortChunk = (nt + sortThreads - 1) / sortThreads;
    std::vector<std::vector<std::uint32_t>> place(sortThreads, std::vector<std::uint32_t>(layers, 0));
    auto eachLayerOf = [&](unsigned th, auto&& f) {
        for (std::size_t t = std::min(nt, th * sortChunk); t < std::min(nt, (th + 1) * sortChunk); ++t)
            if (inGrid[t])
                for (auto z = range[t][2]; z <= range[t][5]; ++z) f(t, static_cast<std::size_t>(z));
    };
    runTasks(sortThreads, [&](unsigned th) { eachLayerOf(th, [&](std::size_t, std::size_t z) { ++place[th][z]; }); });
    std::vector<std::uint32_t> layerStart(layers + 1, 0);
    for (std::size_t z = 0; z < layers; ++z) {
        layerStart[z + 1] = layerStart[z];
        for (auto& p : place) {
            const std::uint32_t n = p[z];
            p[z] = layerStart[z + 1];
            layerStart[z + 1] += n;
        }
    }
    std::unique_ptr<std::uint32_t[]> layerMembers(new std::uint32_t[layerStart[layers]]);
    runTasks(sortThreads, [&](unsigned th) {
        eachLayerOf(
            th, [&](std::size_t t, std::size_t z) { layerMembers[place[th][z]++] = static_cast<std::uint32_t>(t); });
    });

    // Layer by layer (threads take layers in turn): the layer's (cell, triangle) entries are sorted by cell with a
    // counting sort over the x-y cells the layer touches, and each overlapping pair is tested once, in the cell
    // holding the lowest corner of the two boxes' overlap.
    std::mutex mutex;
    std::atomic<std::size_t> nextLayer{0};
    auto worker = [&] {
        // The layer's triangles (members) side by side: box, vertices, flags.
        std::vector<FBox> mBox;
        std::vector<std::array<int, 3>> mV;
        std::vector<std::uint8_t> mRule, mCertified; // rule bits (z; see CellArrays), certified vertices
        // The layer's (cell, member) entries sorted by cell: member index << 2 | whether the member's box starts in
        // the cell along x (1) and along y (2).
        std::vector<std::uint32_t> count, entry, entryCell;
        CellArrays cell;
        std::vector<std::uint32_t> order; // a cell's entries by group (below)
        // An entry's rule bits (see CellArrays): x and y from the entry, z from its triangle.
        const auto ruleOf = [&](std::size_t at) {
            return static_cast<unsigned>(mRule[entry[at] >> 2] | (entry[at] & 3));
        };
        // The cell arrays of k entries, the q-th at entry position at(q), padded for `lanes`-wide masks.
        const auto fillCell = [&](std::size_t k, std::size_t lanes, const auto& at) {
            cell.resize(k, lanes);
            for (std::size_t q = 0; q < k; ++q) {
                const std::size_t p = at(q);
                const std::uint32_t m = entry[p] >> 2;
                const FBox& box = mBox[m];
                for (int a = 0; a < 3; ++a) {
                    cell.row(a)[q] = box.lo[a];
                    cell.row(3 + a)[q] = box.hi[a];
                    cell.irow(1 + a)[q] = mV[m][a];
                }
                cell.irow(0)[q] = static_cast<std::int32_t>(ruleOf(p));
            }
        };
        std::vector<std::size_t> found;
        // A pair of the layer's members that the pair masks let through (no shared certified vertex).
        const auto examine = [&](std::uint32_t first, std::uint32_t mi, std::uint32_t mj) {
            const std::uint32_t ta = layerMembers[first + mi], tb = layerMembers[first + mj];
            if (pairIntersects(mesh, test, ta, mV[mi], tb, mV[mj])) {
                found.push_back(ta);
                found.push_back(tb);
            }
        };
        for (std::size_t z; (z = nextLayer.fetch_add(1)) < layers;) {
            const std::uint32_t first = layerStart[z], members = layerStart[z + 1] - first;
            if (members < 2) continue;
            mBox.resize(members);
            mV.resize(members);
            mRule.resize(members);
            mCertified.resize(members);
            std::uint32_t kmin = std::numeric_limits<std::uint32_t>::max(), kmax = 0;
            std::size_t entries = 0;
            for (std::uint32_t m = 0; m < members; ++m) {
                const std::uint32_t t = layerMembers[first + m];
                const auto& r = range[t];
                kmin = std::min(kmin, static_cast<std::uint32_t>(r[0] + dims[0] * r[1]));
                kmax = std::max(kmax, static_cast<std::uint32_t>(r[3] + dims[0] * r[4]));
                entries += static_cast<std::size_t>((r[3] - r[0] + 1) * (r[4] - r[1] + 1));
                mBox[m] = boxes[t];
                mV[m] = mesh.triangles[t];
                mRule[m] = static_cast<std::uint8_t>(r[2] == std::int32_t(z) ? 4 : 0);
                std::uint8_t c = 0;
                for (int k = 0; k < 3; ++k)
                    if (certified[static_cast<std::size_t>(mV[m][k])]) c |= static_cast<std::uint8_t>(1 << k);
                mCertified[m] = c;
            }
            const std::size_t span = kmax - kmin + 1;
            count.assign(span + 1, 0);
            for (std::uint32_t m = 0; m < members; ++m) {
                const auto& r = range[layerMembers[first + m]];
                for (auto y = r[1]; y <= r[4]; ++y)
                    for (auto x = r[0]; x <= r[3]; ++x) ++count[static_cast<std::uint32_t>(x + dims[0] * y) - kmin + 1];
            }
            for (std::size_t c = 0; c < span; ++c) count[c + 1] += count[c];
            entry.resize(entries);
            entryCell.resize(entries);
            for (std::uint32_t m = 0; m < members; ++m) {
                const auto& r = range[layerMembers[first + m]];
                for (auto y = r[1]; y <= r[4]; ++y)
                    for (auto x = r[0]; x <= r[3]; ++x) {
                        const std::uint32_t key = static_cast<std::uint32_t>(x + dims[0] * y) - kmin;
                        const std::uint32_t at = count[key]++;
                        entry[at] = m << 2 | (x == r[0] ? 1u : 0u) | (y == r[1] ? 2u : 0u);
                        entryCell[at] = key;
                    }
            }
            for (std::size_t b = 0; b < entries;) {
                std::size_t e = b + 1;
                while (e < entries && entryCell[e] == entryCell[b]) ++e;
                const std::size_t k = e - b;
                if (k < 2) {
                    b = e;
                    continue;
                }
#if defined(JUMEAU_WIDE_PAIR_MASKS)
                if (wide) {
                    fillCell(k, 16, [&](std::size_t q) { return b + q; });
                    scanCell16(
                        cell, k, [&](std::size_t q) { return unsigned{mCertified[entry[b + q] >> 2]}; },
                        [&](std::size_t qi, std::size_t qj) {
                            examine(first, entry[b + qi] >> 2, entry[b + qj] >> 2);
                        });
                    b = e;
                    continue;
                }
#endif
                // The cell's entries grouped by which axes their boxes start in this cell (bits x 1, y 2, z 4): a
                // pair must have every axis between them (the cell rule), so only groups A, B with A | B = 7 meet.
                std::array<std::uint32_t, 9> groupStart{};
                for (std::size_t q = 0; q < k; ++q) ++groupStart[(ruleOf(b + q) & 7) + 1];
                for (int g = 0; g < 8; ++g) groupStart[g + 1] += groupStart[g];
                std::array<std::uint32_t, 8> fill{};
                std::copy(groupStart.begin(), groupStart.end() - 1, fill.begin());
                order.resize(k);
                for (std::size_t q = 0; q < k; ++q)
                    order[fill[ruleOf(b + q) & 7]++] = static_cast<std::uint32_t>(b + q);
                fillCell(k, 4, [&](std::size_t q) { return std::size_t{order[q]}; });
                for (unsigned ga = 0; ga < 8; ++ga)
                    for (unsigned gb = ga; gb < 8; ++gb) {
                        if ((ga | gb) != 7 || groupStart[ga] == groupStart[ga + 1] ||
                            groupStart[gb] == groupStart[gb + 1])
                            continue;
                        const std::size_t jEnd = groupStart[gb + 1];
                        for (std::size_t i = groupStart[ga]; i < groupStart[ga + 1]; ++i) {
                            const std::size_t jBegin = ga == gb ? i + 1 : groupStart[gb];
                            if (jBegin >= jEnd) continue;
                            const std::uint32_t mi = entry[order[i]] >> 2;
                            for (std::size_t jb = jBegin & ~std::size_t{3}; jb < jEnd; jb += 4) {
                                unsigned bits = pairMask4(cell, i, jb, mCertified[mi]);
                                if (jb < jBegin) bits &= ~0u << (jBegin - jb);
                                if (jEnd - jb < 4) bits &= (1u << (jEnd - jb)) - 1;
                                for (; bits; bits &= bits - 1)
                                    examine(first, mi,
                                            entry[order[jb + static_cast<std::size_t>(__builtin_ctz(bits))]] >> 2);
                            }
                        }
                    }
                b = e;
            }
        }
        if (!found.empty()) {
            const std::lock_guard<std::mutex> lock(mutex);
            for (std::size_t t : found) bad[t] = 1;
        }
    };
    // A layer is worth a thread from a few thousand triangles on (a thread costs tens of microseconds).
    runTasks(nt < 2000 ? 1u : meshingThreads(), [&](unsigned) { worker(); });
    for (std::size_t t = 0; t < nt; ++t)
        if (bad[t]) out.push_back(t);
    return out;
}

} // namespace jumeau::geometry::detail
