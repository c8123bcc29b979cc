#include "jumeau/geometry/LabelMesher.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "CgalMeshOps.h"
#include "MeshChecks.h"
#include "SelfIntersection.h"

namespace jumeau::geometry {

std::size_t BinaryGrid::insideCount() const {
    return static_cast<std::size_t>(std::count(voxels.begin(), voxels.end(), static_cast<std::uint8_t>(Inside)));
}

namespace {

using detail::parallelChunks;
using detail::runTasks;

constexpr double kPiD = 3.14159265358979323846;
// Windowed-sinc pass band (k in [0, 2] of the uniform Laplacian), VTK's default.
constexpr double kPassBand = 0.1;
// Components this small (a few voxels; the filter reaches about as far as it has passes) would shrink to a point
// under the low-pass filter with its output-only clamp: they get 20 constrained Taubin iterations instead.
constexpr std::size_t kSmallComponent = 2000;
constexpr int kSmallComponentTaubin = 20;

// Number of axes of a lattice direction (corner bits): 1 axis edge, 2 face diagonal, 3 cell diagonal.
constexpr std::array<int, 8> kAxes = {0, 1, 1, 2, 1, 2, 2, 3};

// Corner c (bits x=1, y=2, z=4) of a cell as an index offset.
constexpr std::array<int, 3> cornerOffset(int c) {
    return {c & 1, (c >> 1) & 1, (c >> 2) & 1};
}

// The six tetrahedra of the Freudenthal (Kuhn) triangulation of a cell: corner chains 0 -> 1<<a -> 1<<a|1<<b -> 7
// for every axis permutation (a,b,c). Every cell is split the same way, so faces match between neighbours and the
// whole lattice is one conforming tetrahedral mesh.
constexpr std::array<std::array<int, 4>, 6> kTets = {{
    {0, 1, 3, 7},
    {0, 1, 5, 7},
    {0, 2, 3, 7},
    {0, 2, 6, 7},
    {0, 4, 5, 7},
    {0, 4, 6, 7},
}};

// The voxel mask cropped to the inside voxels' bounding box plus one Outside voxel all round, so the surface
// closes at the grid border and the work is proportional to the structure, not to the image.
struct WorkGrid {
    std::array<int, 3> n{0, 0, 0};
    std::array<int, 3> lo{0, 0, 0};        // grid index of work voxel (1,1,1)
    std::unique_ptr<std::uint8_t[]> state; // n[0] * n[1] * n[2] voxels
    std::size_t inside = 0;                // Inside voxels (all of them are in the crop); none: an empty grid

    std::size_t voxels() const {
        return static_cast<std::size_t>(n[0]) * static_cast<std::size_t>(n[1]) * static_cast<std::size_t>(n[2]);
    }

    std::size_t index(int x, int y, int z) const {
        return static_cast<std::size_t>(x) +
               static_cast<std::size_t>(n[0]) *
                   (static_cast<std::size_t>(y) + static_cast<std::size_t>(n[1]) * static_cast<std::size_t>(z));
    }
    std::uint8_t at(int x, int y, int z) const { return state[index(x, y, z)]; }
};

// Runs f(z0, z1) over [0, n) cut into contiguous ranges, one per meshing thread when `bytes` (the data touched) is
// large enough to pay for them.
template <typename F> void forRanges(int n, std::size_t bytes, F&& f) {
    const unsigned threads = bytes < (std::size_t{1} << 21) ? 1u : std::max(1u, detail::meshingThreads());
    runTasks(threads, [&](unsigned t) {
        f(static_cast<int>(static_cast<long long>(n) * t / threads),
          static_cast<int>(static_cast<long long>(n) * (t + 1) / threads));
    });
}

// dst[i] = src[i], or Outside where src[i] is beyond Neighbour; returns how many are Inside. 16 voxels at a time
// with SSE2 (the crop copies every voxel of the structure's box).
std::size_t copyRow(const std::uint8_t* src, std::uint8_t* dst, std::size_t n) {
    static_assert(Outside == 0 && Inside == 1 && Neighbour == 2);
    std::size_t count = 0, i = 0;
#if defined(__SSE2__)
    const __m128i one = _mm_set1_epi8(1), two = _mm_set1_epi8(2), zero = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        const __m128i small = _mm_cmpeq_epi8(_mm_subs_epu8(v, two), zero); // v <= Neighbour
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_and_si128(small, v));
        count += static_cast<std::size_t>(
            __builtin_popcount(static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, one)))));
    }
#endif
    for (; i < n; ++i) {
        const std::uint8_t s = src[i];
        dst[i] = s > Neighbour ? static_cast<std::uint8_t>(Outside) : s;
        count += s == Inside ? 1 : 0;
    }
    return count;
}

WorkGrid cropWithPadding(const BinaryGrid& g) {
    const std::size_t sx = static_cast<std::size_t>(g.size[0]), sy = static_cast<std::size_t>(g.size[1]);
    auto row = [&](int j, int k) {
        return g.voxels.data() + sx * (static_cast<std::size_t>(j) + sy * static_cast<std::size_t>(k));
    };
    // Bounding box of the inside voxels, row by row (memchr finds a row's first inside voxel, a backward scan its
    // last), the z range split over the meshing threads.
    struct Box {
        std::array<int, 3> lo{INT_MAX, INT_MAX, INT_MAX}, hi{-1, -1, -1};
    };
    std::vector<Box> boxes(static_cast<std::size_t>(g.size[2]));
    forRanges(g.size[2], g.voxels.size(), [&](int k0, int k1) {
        for (int k = k0; k < k1; ++k)
            for (int j = 0; j < g.size[1]; ++j) {
                const std::uint8_t* r = row(j, k);
                const void* first = std::memchr(r, Inside, sx);
                if (!first) continue;
                const int i0 = static_cast<int>(static_cast<const std::uint8_t*>(first) - r);
                int i1 = g.size[0] - 1;
                while (r[i1] != Inside) --i1;
                Box& b = boxes[static_cast<std::size_t>(k)];
                b.lo = {std::min(b.lo[0], i0), std::min(b.lo[1], j), k};
                b.hi = {std::max(b.hi[0], i1), std::max(b.hi[1], j), k};
            }
    });
    Box box;
    for (const Box& b : boxes)
        for (int a = 0; a < 3; ++a) {
            box.lo[a] = std::min(box.lo[a], b.lo[a]);
            box.hi[a] = std::max(box.hi[a], b.hi[a]);
        }
    WorkGrid w;
    if (box.hi[0] < 0) return w; // no voxel inside
    for (int a = 0; a < 3; ++a) {
        w.n[a] = box.hi[a] - box.lo[a] + 3;
        w.lo[a] = box.lo[a];
    }
    // Written once by the threads below (first touch there, no zero-filling first).
    w.state.reset(new std::uint8_t[w.voxels()]);
    // Work voxel x is grid voxel lo + x - 1; the padding voxels inside the grid are copied too (they may be
    // Neighbour), states beyond Neighbour count as Outside; voxels beyond the grid are Outside.
    const int x0 = std::max(0, 1 - box.lo[0]), x1 = std::min(w.n[0], g.size[0] - box.lo[0] + 1);
    // The Inside voxels are counted on the way (all of them are in the box), per z range, added in range order.
    std::vector<std::size_t> inside(static_cast<std::size_t>(w.n[2]), 0);
    forRanges(w.n[2], w.voxels(), [&](int z0, int z1) {
        for (int z = z0; z < z1; ++z) {
            std::size_t count = 0;
            for (int y = 0; y < w.n[1]; ++y) {
                std::uint8_t* dst = &w.state[w.index(0, y, z)];
                const int j = box.lo[1] + y - 1, k = box.lo[2] + z - 1;
                if (j < 0 || k < 0 || j >= g.size[1] || k >= g.size[2]) {
                    std::memset(dst, Outside, static_cast<std::size_t>(w.n[0]));
                    continue;
                }
                std::memset(dst, Outside, static_cast<std::size_t>(x0));
                std::memset(dst + x1, Outside, static_cast<std::size_t>(w.n[0] - x1));
                count += copyRow(row(j, k) + (box.lo[0] - 1 + x0), dst + x0, static_cast<std::size_t>(x1 - x0));
            }
            inside[static_cast<std::size_t>(z)] = count;
        }
    });
    for (std::size_t c : inside) w.inside += c;
    return w;
}

// Exact integer geometry of the flat-vertex merge, on doubled index coordinates (vertices are at lattice edge
// midpoints).
using I3 = std::array<std::int64_t, 3>;
constexpr I3 subI(const I3& a, const I3& b) {
    return {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
}
constexpr I3 crossI(const I3& a, const I3& b) {
    return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
constexpr std::int64_t dotI(const I3& a, const I3& b) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

// New edges at most a cell diagonal long (squared, doubled coordinates): longer ones, along straight staircase
// creases, leave too few vertices there for smoothing to round the crease (Hausdorff 0.61 instead of 0.47 mm on the
// 1 mm sphere).
constexpr std::int64_t kMaxEdge2 = 12;

// Scratch of flatMergeTarget: v's star neighbours, and per star triangle (v, a, b) in its orientation: a, b, their
// doubled coordinates and, once needed, the triangle's normal (a - v) x (b - v).
struct FlatMergeScratch {
    struct Link {
        int a, b;
        I3 pa, pb, normal;
        bool hasNormal;
    };
    std::vector<int> candidates;
    std::vector<Link> links;
};

// The neighbour vertex v merges into (see mergeFlatVertices), or -1: the first of v's star neighbours u (in order of
// first appearance in the star's triangles, those on axis edges before the others) such that every star triangle
// (v, a, b) not containing u may take u instead of v: u exactly in its plane, (u, a, b) a positive multiple of its
// normal, the new edges no longer than kMaxEdge2. `star` holds v's triangles as stored; pos(w) gives doubled
// coordinates, axisEdge(w) whether w is on an axis-aligned lattice edge. The one merge policy of both the case table
// (cell diagonals) and the face-diagonal merges.
template <typename Pos, typename AxisEdge>
int flatMergeTarget(int v, const std::vector<std::array<int, 3>>& star, const Pos& pos, const AxisEdge& axisEdge,
                    FlatMergeScratch& scratch) {
    if (star.size() < 3) return -1;
    auto& candidates = scratch.candidates;
    auto& links = scratch.links;
    candidates.clear();
    links.resize(star.size());
    const I3 pv = pos(v);
    for (std::size_t i = 0; i < star.size(); ++i) {
        const auto& t = star[i];
        for (int w : t)
            if (w != v && std::find(candidates.begin(), candidates.end(), w) == candidates.end())
                candidates.push_back(w);
        auto& l = links[i];
        l.a = t[0] == v ? t[1] : (t[1] == v ? t[2] : t[0]);
        l.b = t[0] == v ? t[2] : (t[1] == v ? t[0] : t[1]);
        l.pa = pos(l.a);
        l.pb = pos(l.b);
        l.hasNormal = false;
    }
    for (const bool axisPass : {true, false})
        for (int u : candidates) {
            if (axisEdge(u) != axisPass) continue;
            const I3 pu = pos(u), uv = subI(pu, pv);
            bool ok = true;
            for (auto& l : links) {
                if (l.a == u || l.b == u) continue;
                if (!l.hasNormal) {
                    l.normal = crossI(subI(l.pa, pv), subI(l.pb, pv));
                    l.hasNormal = true;
                }
                if (dotI(l.normal, uv) != 0) {
                    ok = false;
                    break;
                }
                const I3 da = subI(l.pa, pu), db = subI(l.pb, pu);
                if (dotI(crossI(da, db), l.normal) <= 0 || dotI(da, da) > kMaxEdge2 || dotI(db, db) > kMaxEdge2) {
                    ok = false;
                    break;
                }
            }
            if (ok) return u;
        }
    return -1;
}

// Marching-tetrahedra case table: for each of the 256 inside/outside patterns of a cell's corners, the triangles,
// each as three lattice edges (EdgeCode: corner `low` of the cell << 3 | direction `dir`, both as corner bits),
// oriented from inside to outside. Built from kTets, so it is the surface of the six tetrahedra per cell, with the
// flat-vertex merge of the cell-diagonal vertex already done (docs/meshing.md, "Flat-vertex merge"): that vertex
// lies inside the cell, so its star is made of this cell's triangles only, in this order, and its neighbours lie on
// this cell's edges; the merge test (flatMergeTarget) depends only on coordinate differences, i.e. on the pattern.
// Tabulating it is therefore exactly the merge mergeFlatVertices would make on the whole surface (cell-diagonal
// merges of different cells touch disjoint triangles, so their order does not matter either), without creating the
// vertex and its triangles per cell.
using EdgeCode = std::uint8_t;
constexpr EdgeCode kCellDiagonal = 7; // corner 0, direction 7

struct CaseTable {
    std::array<std::uint16_t, 257> first{}; // case m: tris[first[m], first[m + 1])
    std::vector<std::array<EdgeCode, 3>> tris;
};

const CaseTable& caseTable() {
    static const CaseTable table = [] {
        CaseTable t;
        auto corner = [](int c) {
            const auto o = cornerOffset(c);
            return Vec3{double(o[0]), double(o[1]), double(o[2])};
        };
        // The tet edge joins a corner to a superset of its bits.
        auto ref = [](int ca, int cb) {
            const int low = (ca & cb) == ca ? ca : cb;
            const int high = low == ca ? cb : ca;
            return low << 3 | (high ^ low);
        };
        auto doubled = [](int e) {
            const int low = e >> 3, dir = e & 7;
            return I3{2 * (low & 1) + (dir & 1), 2 * (low >> 1 & 1) + (dir >> 1 & 1),
                      2 * (low >> 2 & 1) + (dir >> 2 & 1)};
        };
        auto mid = [&](int e) { return corner(e >> 3) + corner(e & 7) * 0.5; };
        auto axisEdge = [](int e) { return kAxes[static_cast<std::size_t>(e & 7)] == 1; };
        std::vector<std::array<int, 3>> tris, star;
        FlatMergeScratch scratch;
        for (int mask = 0; mask < 256; ++mask) {
            t.first[static_cast<std::size_t>(mask)] = static_cast<std::uint16_t>(t.tris.size());
            if (mask == 0 || mask == 255) continue;
            tris.clear();
            auto emit = [&](int a, int b, int c, const Vec3& inToOut) {
                const Vec3 p0 = mid(a), p1 = mid(b), p2 = mid(c);
                if (dot(cross(p1 - p0, p2 - p0), inToOut) >= 0)
                    tris.push_back({a, b, c});
                else
                    tris.push_back({a, c, b});
            };
            for (const auto& tet : kTets) {
                int in[4], outc[4], nIn = 0, nOut = 0;
                for (int c : tet) (mask >> c & 1 ? in[nIn++] : outc[nOut++]) = c;
                if (nIn == 0 || nOut == 0) continue;
                Vec3 ci, co;
                for (int i = 0; i < nIn; ++i) ci += corner(in[i]) / nIn;
                for (int i = 0; i < nOut; ++i) co += corner(outc[i]) / nOut;
                const Vec3 dir = co - ci;
                if (nIn == 1) {
                    emit(ref(in[0], outc[0]), ref(in[0], outc[1]), ref(in[0], outc[2]), dir);
                } else if (nIn == 3) {
                    emit(ref(in[0], outc[0]), ref(in[1], outc[0]), ref(in[2], outc[0]), dir);
                } else {
                    // The four crossings form a planar quad in this cyclic order.
                    const int e0 = ref(in[0], outc[0]), e1 = ref(in[0], outc[1]);
                    const int e2 = ref(in[1], outc[1]), e3 = ref(in[1], outc[0]);
                    emit(e0, e1, e2, dir);
                    emit(e0, e2, e3, dir);
                }
            }
            auto has = [](const std::array<int, 3>& tri, int w) { return tri[0] == w || tri[1] == w || tri[2] == w; };
            star.clear();
            for (const auto& tri : tris)
                if (has(tri, kCellDiagonal)) star.push_back(tri);
            const int u = flatMergeTarget(kCellDiagonal, star, doubled, axisEdge, scratch);
            for (auto tri : tris) {
                if (u >= 0 && has(tri, kCellDiagonal)) {
                    if (has(tri, u)) continue;
                    for (int& w : tri)
                        if (w == kCellDiagonal) w = u;
                }
                t.tris.push_back(
                    {static_cast<EdgeCode>(tri[0]), static_cast<EdgeCode>(tri[1]), static_cast<EdgeCode>(tri[2])});
            }
        }
        t.first[256] = static_cast<std::uint16_t>(t.tris.size());
        return t;
    }();
    return table;
}

// A surface vertex: the midpoint of a lattice edge from an inside voxel a to an outside voxel b (work-grid index
// coordinates). Smoothing may move it within half a voxel of that midpoint; when b belongs to another structure,
// not past the midpoint towards b. 16 bytes (the smoother's passes read it for every vertex): doubled index
// coordinates of the midpoint, b - a (components -1, 0, 1), flags. Extraction makes them so and the join copies them.
constexpr std::uint8_t kNeighbourFlag = 1, kAxisEdgeFlag = 2;
struct SurfaceVertex {
    std::array<std::int32_t, 3> p2;
    std::array<std::int8_t, 3> outward;
    std::uint8_t flags; // kNeighbourFlag, kAxisEdgeFlag

    Vec3 mid() const { return Vec3{double(p2[0]), double(p2[1]), double(p2[2])} * 0.5; }
    Vec3 outwardVector() const { return {double(outward[0]), double(outward[1]), double(outward[2])}; }
    bool neighbour() const { return (flags & kNeighbourFlag) != 0; }
    bool onAxisEdge() const { return (flags & kAxisEdgeFlag) != 0; }
};

struct Extraction {
    std::vector<SurfaceVertex> vertices;
    std::vector<std::array<int, 3>> triangles; // outward in index space
    // Face-diagonal vertices on the layers where extraction slabs meet (ascending), whose flat merge
    // mergeFlatVertices still has to try; extractSurface tried all the others.
    std::vector<int> pendingMerge;
};

// flatMergeTarget memoised by the star's shape. Its answer depends on nothing else: the star triangles in order, as
// stored, each vertex by its offset from v (vertices are distinct lattice edge midpoints, so offsets tell them
// apart), and v's coordinate parities (w is on an axis edge when exactly one doubled coordinate of w = v + offset is
// odd). Flat regions repeat a few shapes, so most stars are answered from the table: the same answer, without
// the tests.
class FlatMergeMemo {
public:
    template <typename Pos, typename AxisEdge>
    int target(int v, const std::vector<std::array<int, 3>>& star, const Pos& pos, const AxisEdge& axisEdge,
               FlatMergeScratch& scratch) {
        if (star.size() < 3 || star.size() >= kMaxStar) return flatMergeTarget(v, star, pos, axisEdge, scratch);
        const I3 pv = pos(v);
        // Key: star size and v's parities, then per triangle three offsets of 3 x 3 bits (components in [-3, 3]:
        // every edge is at most a cell diagonal long). Every star triangle contains v, whose offset is 0.
        Key key{};
        key[0] = static_cast<std::uint32_t>(star.size()) | static_cast<std::uint32_t>(pv[0] & 1) << 8 |
                 static_cast<std::uint32_t>(pv[1] & 1) << 9 | static_cast<std::uint32_t>(pv[2] & 1) << 10;
        constexpr std::uint32_t kZeroOffset = 3 | 3 << 3 | 3 << 6;
        for (std::size_t i = 0; i < star.size(); ++i) {
            std::uint32_t word = 0;
            for (std::size_t k = 0; k < 3; ++k) {
                const int w = star[i][k];
                if (w == v) {
                    word |= kZeroOffset << (9 * k);
                    continue;
                }
                const I3 d = subI(pos(w), pv);
                for (std::size_t a = 0; a < 3; ++a) {
                    if (d[a] < -3 || d[a] > 3) return flatMergeTarget(v, star, pos, axisEdge, scratch);
                    word |= static_cast<std::uint32_t>(d[a] + 3) << (9 * k + 3 * a);
                }
            }
            key[i + 1] = word;
        }
        auto answer = [&](std::int8_t place) {
            return place < 0 ? -1 : star[static_cast<std::size_t>(place >> 2)][static_cast<std::size_t>(place & 3)];
        };
        Slot& slot = find(key);
        if (slot.used) return answer(slot.answer);
        // Full (a noisy mask): look up, do not learn.
        if (m_used >= kMaxShapes) return flatMergeTarget(v, star, pos, axisEdge, scratch);
        const int u = flatMergeTarget(v, star, pos, axisEdge, scratch);
        // The answer as the place of u's first appearance in the star.
        std::int8_t place = -1;
        for (std::size_t i = 0; i < star.size() && u >= 0 && place < 0; ++i)
            for (std::size_t k = 0; k < 3; ++k)
                if (star[i][k] == u) {
                    place = static_cast<std::int8_t>(i << 2 | k);
                    break;
                }
        insert(slot, key, place);
        return u;
    }

private:
    static constexpr std::size_t kMaxStar = 15;        // larger stars are rare: computed
    static constexpr std::size_t kMaxShapes = 1 << 16; // at most 2^17 slots of 72 bytes (9 MB)
    using Key = std::array<std::uint32_t, kMaxStar + 1>;
    // Open addressing (linear probing, at most half full): a lookup is a hash and usually one key comparison. A few
    // hundred shapes answer the IRCAD liver's 290 000 stars.
    struct Slot {
        Key key;
        std::int8_t answer = -1;
        bool used = false;
    };
    static std::size_t hash(const Key& k) {
        std::uint64_t h = 0x9E3779B97F4A7C15ull;
        for (std::size_t i = 0; i <= (k[0] & 0xFF); ++i) h = (h ^ k[i]) * 0xFF51AFD7ED558CCDull;
        return static_cast<std::size_t>(h ^ h >> 32);
    }
    static bool sameKey(const Key& a, const Key& b) {
        // Words past the star's are zero in both when the first words agree.
        for (std::size_t i = 0; i <= (a[0] & 0xFF); ++i)
            if (a[i] != b[i]) return false;
        return true;
    }
    // The slot holding `key`, or the free slot where it would go.
    Slot& find(const Key& key) {
        if (m_slots.empty()) m_slots.resize(1024);
        const std::size_t mask = m_slots.size() - 1;
        for (std::size_t i = hash(key) & mask;; i = (i + 1) & mask)
            if (!m_slots[i].used || sameKey(m_slots[i].key, key)) return m_slots[i];
    }
    void insert(Slot& slot, const Key& key, std::int8_t answer) {
        slot.key = key;
        slot.answer = answer;
        slot.used = true;
        if (++m_used * 2 <= m_slots.size()) return;
        std::vector<Slot> old(m_slots.size() * 2);
        old.swap(m_slots);
        for (const Slot& s : old)
            if (s.used) find(s.key) = s;
    }
    std::vector<Slot> m_slots; // a power of two
    std::size_t m_used = 0;
};

// The flat-vertex merge (see mergeFlatVertices) of the vertices in `order` (face-diagonal ones, ascending), in that
// order, each tested on the surface as the earlier merges left it. incident(w, f) calls f(t) for (at least) every
// triangle t that contained w before these merges. Only marks: the merged vertices in `removed`, the triangles gone
// in `dead` (both sized by the caller, zero on entry); the other triangles are rewritten.
template <typename Incident>
void mergeFaceDiagonals(std::vector<std::array<int, 3>>& tris, const std::vector<SurfaceVertex>& vertices,
                        const std::vector<int>& order, const Incident& incident, std::vector<char>& removed,
                        std::vector<char>& dead, FlatMergeMemo& memo) {
    const auto pos = [&](int w) {
        const auto& p = vertices[static_cast<std::size_t>(w)].p2;
        return I3{p[0], p[1], p[2]};
    };
    const auto axisEdge = [&](int w) { return vertices[static_cast<std::size_t>(w)].onAxisEdge(); };
    // Vertices merged into a vertex, as linked lists: their incident triangles hold the rest of its star (only
    // vertices of `order` are ever merged).
    std::vector<int> absorbedHead(removed.size(), -1), absorbedNext(removed.size(), -1);
    std::vector<int> starIndex, stack;
    std::vector<std::array<int, 3>> star;
    FlatMergeScratch scratch;
    for (const int v : order) {
        starIndex.clear();
        star.clear();
        stack.assign(1, v);
        while (!stack.empty()) {
            const int w = stack.back();
            stack.pop_back();
            incident(w, [&](int t) {
                const auto& tri = tris[static_cast<std::size_t>(t)];
                if (!dead[static_cast<std::size_t>(t)] && (tri[0] == v || tri[1] == v || tri[2] == v)) {
                    starIndex.push_back(t);
                    star.push_back(tri);
                }
            });
            for (int c = absorbedHead[static_cast<std::size_t>(w)]; c >= 0;
                 c = absorbedNext[static_cast<std::size_t>(c)])
                stack.push_back(c);
        }
        const int u = memo.target(v, star, pos, axisEdge, scratch);
        if (u < 0) continue;
        for (int t : starIndex) {
            auto& tri = tris[static_cast<std::size_t>(t)];
            if (tri[0] == u || tri[1] == u || tri[2] == u)
                dead[static_cast<std::size_t>(t)] = 1;
            else
                for (int& w : tri)
                    if (w == v) w = u;
        }
        absorbedNext[static_cast<std::size_t>(v)] = absorbedHead[static_cast<std::size_t>(u)];
        absorbedHead[static_cast<std::size_t>(u)] = v;
        removed[static_cast<std::size_t>(v)] = 1;
    }
}

// The surface of the cells with z in [z0, z1) (see extractSurface), numbered as a serial pass over them would, with
// the flat merges of the face-diagonal vertices whose star lies in the slab done (marked in removed / dead).
struct ExtractionChunk {
    int z0 = 0, z1 = 0;
    std::size_t work = 0; // RowInfo::pairWork summed, for the reserves
    std::vector<SurfaceVertex> vertices;
    std::vector<std::array<int, 3>> triangles;
    // Per vertex, the triangle ranges of the (at most two) cells it has triangles in, for face-diagonal vertices:
    // their incident triangles, in the order emitted.
    struct CellRanges {
        int first[2] = {-1, -1};
        std::uint8_t count[2] = {0, 0};
    };
    std::vector<CellRanges> cells;
    std::vector<char> removed, dead;
    std::vector<int> inner, pending; // face-diagonal vertices merged here / on layers z0, z1: merged later
    std::vector<std::pair<std::size_t, int>> bottomShared; // (slot, vertex) on layer z0's in-plane edges
    std::vector<std::pair<std::size_t, int>> topShared;    // (slot, vertex) on layer z1's in-plane edges
    // Join: global vertex number per vertex (-1 merged), first new global vertex.
    std::vector<int> global;
    std::size_t vertexBase = 0;
};

// Per-thread edge slots: the lattice edges whose low end is on layer z, in slab[z & 1], 8 per lattice point
// (dir 1..7); all -1 between chunks (reset through `used`).
struct SlotScratch {
    std::array<std::vector<int>, 2> slab;
    std::array<std::vector<std::size_t>, 2> used;
    FlatMergeMemo memo; // kept over the thread's slabs
};

// Per voxel row (y, z): the number of inside voxels and of inside/not-inside changes along it. Cells between four
// uniform equal rows (all inside or all not inside) have no surface.
struct RowInfo {
    int nx = 0, ny = 0;
    std::vector<int> inside, changes;
    std::size_t at(int y, int z) const { return static_cast<std::size_t>(y) + static_cast<std::size_t>(ny) * z; }
    int kind(int y, int z) const {
        const int n = inside[at(y, z)];
        return n == 0 ? 0 : (n == nx ? 1 : 2);
    }
    bool pairEmpty(int y, int z) const {
        const int k0 = kind(y, z);
        return k0 != 2 && kind(y + 1, z) == k0 && kind(y, z + 1) == k0 && kind(y + 1, z + 1) == k0;
    }
    // Rough number of surface cells between rows (y, z) .. (y + 1, z + 1), for the slab cut.
    std::size_t pairWork(int y, int z) const {
        if (pairEmpty(y, z)) return 0;
        const std::size_t a = at(y, z), b = at(y + 1, z), c = at(y, z + 1), d = at(y + 1, z + 1);
        return static_cast<std::size_t>(1 + changes[a] + changes[b] + changes[c] + changes[d] +
                                        std::abs(inside[a] - inside[c]) + std::abs(inside[b] - inside[d]) +
                                        std::abs(inside[a] - inside[b]) + std::abs(inside[c] - inside[d]));
    }
};

RowInfo rowInfo(const WorkGrid& w) {
    const int nx = w.n[0], ny = w.n[1], nz = w.n[2];
    RowInfo info;
    info.nx = nx;
    info.ny = ny;
    info.inside.resize(static_cast<std::size_t>(ny) * static_cast<std::size_t>(nz));
    info.changes.resize(info.inside.size());
    forRanges(nz, w.voxels(), [&](int z0, int z1) {
        for (int z = z0; z < z1; ++z)
            for (int y = 0; y < ny; ++y) {
                // States are 0, 1, 2 (cropWithPadding), so bit 0 of a byte says Inside: eight voxels per word.
                static_assert(Inside == 1 && Outside == 0 && Neighbour == 2);
                const std::uint8_t* r = &w.state[w.index(0, y, z)];
                constexpr std::uint64_t kBit0 = 0x0101010101010101ull;
                auto word = [&](int x) {
                    std::uint64_t v;
                    std::memcpy(&v, r + x, sizeof v);
                    return v & kBit0;
                };
                int inside = 0, changes = 0, x = 0;
                for (; x + 8 < nx; x += 8) {
                    const std::uint64_t a = word(x);
                    // Bytes of 0 or 1: their sum lands in the top byte of the product (no popcount instruction in
                    // the baseline x86-64 target).
                    inside += static_cast<int>(a * kBit0 >> 56);
                    changes += static_cast<int>((a ^ word(x + 1)) * kBit0 >> 56);
                }
                for (; x < nx; ++x) {
                    inside += r[x] == Inside;
                    if (x + 1 < nx) changes += (r[x] == Inside) != (r[x + 1] == Inside);
                }
                info.inside[info.at(y, z)] = inside;
                info.changes[info.at(y, z)] = changes;
            }
    });
    return info;
}

// Extracts chunk.z0 .. chunk.z1 and merges its inner face-diagonal vertices. False when cancelled.
bool extractChunk(const WorkGrid& w, const RowInfo& rows, ExtractionChunk& chunk, SlotScratch& scratch,
                  const std::function<bool()>& layerDone) {
    const CaseTable& table = caseTable();
    const int nx = w.n[0], ny = w.n[1], z0 = chunk.z0, z1 = chunk.z1;
    const std::size_t layer = static_cast<std::size_t>(nx) * static_cast<std::size_t>(ny);
    for (auto& s : scratch.slab)
        if (s.size() != layer * 8) s.assign(layer * 8, -1);
    auto& slab = scratch.slab;
    auto& used = scratch.used;
    auto& vertices = chunk.vertices;
    auto& triangles = chunk.triangles;
    auto& cells = chunk.cells;
    // About 2-3.5 triangles and half as many vertices per unit of work.
    triangles.reserve(chunk.work * 3);
    vertices.reserve(chunk.work * 3 / 2);
    cells.reserve(chunk.work * 3 / 2);
    // Face-diagonal edge codes.
    std::array<bool, 64> faceDiagonal{};
    for (int e = 0; e < 64; ++e)
        faceDiagonal[static_cast<std::size_t>(e)] = kAxes[static_cast<std::size_t>(e & 7)] == 2;
    // Slot of each edge code relative to the cell's low corner; bit 5 of the code (the low corner's z bit) says
    // which layer.
    std::array<std::size_t, 64> offset{};
    for (int e = 0; e < 64; ++e)
        offset[static_cast<std::size_t>(e)] = (static_cast<std::size_t>(e >> 4 & 1) * static_cast<std::size_t>(nx) +
                                               static_cast<std::size_t>(e >> 3 & 1)) *
                                                  8 +
                                              static_cast<std::size_t>(e & 7);
    bool cancelled = false;
    for (int z = z0; z < z1 && !cancelled; ++z) {
        if (z > z0) {
            // Layer z+1 takes the slab of layer z-1.
            auto& s = slab[(z + 1) & 1];
            for (std::size_t i : used[(z + 1) & 1]) s[i] = -1;
            used[(z + 1) & 1].clear();
        }
        int* lower = slab[z & 1].data();
        int* upper = slab[(z + 1) & 1].data();
        for (int y = 0; y + 1 < ny; ++y) {
            if (rows.pairEmpty(y, z)) continue;
            const std::uint8_t* r00 = &w.state[w.index(0, y, z)];
            const std::uint8_t* r10 = &w.state[w.index(0, y + 1, z)];
            const std::uint8_t* r01 = &w.state[w.index(0, y, z + 1)];
            const std::uint8_t* r11 = &w.state[w.index(0, y + 1, z + 1)];
            auto vertexOn = [&](int x, std::size_t cellSlot, EdgeCode e) {
                const bool up = (e & 32) != 0;
                const std::size_t s = cellSlot + offset[e];
                int& slot = (up ? upper : lower)[s];
                if (slot >= 0) return slot;
                slot = static_cast<int>(vertices.size());
                used[static_cast<std::size_t>((z + up) & 1)].push_back(s);
                const int low = e >> 3, dir = e & 7;
                const int px = x + (low & 1), py = y + (low >> 1 & 1), pz = z + (low >> 2 & 1);
                const int qx = px + (dir & 1), qy = py + (dir >> 1 & 1), qz = pz + (dir >> 2 & 1);
                if (pz == z0 && (dir & 4) == 0) chunk.bottomShared.emplace_back(s, slot);
                const int axes = kAxes[static_cast<std::size_t>(dir)];
                if (axes == 2) (dir == 3 && (pz == z0 || pz == z1) ? chunk.pending : chunk.inner).push_back(slot);
                const bool lowInside = w.at(px, py, pz) == Inside;
                const int sign = lowInside ? 1 : -1;
                SurfaceVertex v;
                v.p2 = {px + qx, py + qy, pz + qz};
                v.outward = {static_cast<std::int8_t>(sign * (dir & 1)),
                             static_cast<std::int8_t>(sign * (dir >> 1 & 1)),
                             static_cast<std::int8_t>(sign * (dir >> 2 & 1))};
                v.flags = static_cast<std::uint8_t>(
                    ((lowInside ? w.at(qx, qy, qz) : w.at(px, py, pz)) == Neighbour ? kNeighbourFlag : 0) |
                    (axes == 1 ? kAxisEdgeFlag : 0));
                vertices.push_back(v);
                cells.emplace_back();
                return slot;
            };
            // Corner bits of a column x: (x,y,z) 1, (x,y+1,z) 4, (x,y,z+1) 16, (x,y+1,z+1) 64; shifted by one for x+1.
            auto column = [&](int x) {
                return (r00[x] == Inside ? 1 : 0) | (r10[x] == Inside ? 4 : 0) | (r01[x] == Inside ? 16 : 0) |
                       (r11[x] == Inside ? 64 : 0);
            };
            int left = column(0);
            const std::size_t rowSlot = static_cast<std::size_t>(y) * static_cast<std::size_t>(nx) * 8;
            for (int x = 0; x + 1 < nx; ++x) {
                const int right = column(x + 1);
                const auto mask = static_cast<std::size_t>(left | right << 1);
                left = right;
                if (mask == 0 || mask == 255) {
                    // Skip 8 columns at a time while the four rows stay all outside (or all inside).
                    const std::uint64_t uniform = mask == 0 ? 0 : 0x0101010101010101ull;
                    auto same = [&](const std::uint8_t* r) {
                        std::uint64_t word;
                        std::memcpy(&word, r + x + 1, sizeof word);
                        return word == uniform;
                    };
                    bool skipped = false;
                    while (x + 9 < nx && same(r00) && same(r10) && same(r01) && same(r11)) {
                        x += 8;
                        skipped = true;
                    }
                    // Cell x (columns x, x + 1) is still to do after a skip.
                    if (skipped) --x;
                    continue;
                }
                const std::size_t cellSlot = rowSlot + static_cast<std::size_t>(x) * 8;
                const int cellFirst = static_cast<int>(triangles.size());
                const auto cellCount = static_cast<std::uint8_t>(table.first[mask + 1] - table.first[mask]);
                for (std::size_t i = table.first[mask]; i < table.first[mask + 1]; ++i) {
                    const auto& tri = table.tris[i];
                    std::array<int, 3> t;
                    for (int k = 0; k < 3; ++k) {
                        const EdgeCode e = tri[static_cast<std::size_t>(k)];
                        t[static_cast<std::size_t>(k)] = vertexOn(x, cellSlot, e);
                        if (faceDiagonal[e]) {
                            auto& r = cells[static_cast<std::size_t>(t[static_cast<std::size_t>(k)])];
                            const int side = r.first[0] < 0 || r.first[0] == cellFirst ? 0 : 1;
                            r.first[side] = cellFirst;
                            r.count[side] = cellCount;
                        }
                    }
                    triangles.push_back(t);
                }
            }
        }
        cancelled = !layerDone();
    }
    for (std::size_t s : used[z1 & 1]) chunk.topShared.emplace_back(s, slab[z1 & 1][s]);
    for (int l = 0; l < 2; ++l) {
        for (std::size_t i : used[l]) slab[l][i] = -1;
        used[l].clear();
    }
    if (cancelled) return false;
    // Flat merges of the face-diagonal vertices whose star is in this slab: all but the in-plane (xy) diagonals of
    // layers z0 and z1 (`pending`), whose stars reach into the neighbouring slabs. The slabs' triangles are
    // disjoint, so the merges of different slabs commute: together they are one valid sequence of merges on the
    // whole surface.
    chunk.removed.assign(vertices.size(), 0);
    chunk.dead.assign(triangles.size(), 0);
    mergeFaceDiagonals(
        triangles, vertices, chunk.inner,
        [&](int v, const auto& f) {
            const auto& r = cells[static_cast<std::size_t>(v)];
            for (int side = 0; side < 2; ++side)
                for (int t = r.first[side]; t >= 0 && t < r.first[side] + r.count[side]; ++t) f(t);
        },
        chunk.removed, chunk.dead, scratch.memo);
    return true;
}

// Marching tetrahedra on the Freudenthal triangulation of the voxel centres, iso-value 0.5 of the 0/1 mask. The
// result is the level set of a piecewise-linear function at a value no vertex takes, hence a closed 2-manifold
// without self-intersections, whatever the mask (no ambiguous cases). One pass over the cells with the case table
// (whose cell-diagonal vertices are already merged where flat); vertices are shared through two layers of
// per-lattice-point edge slots (no hash map). The z range is cut into slabs of about equal surface (their number
// depends on the mask only), extracted and flat-merged independently (on meshingThreads() threads), then joined: the
// vertices on the in-plane edges of each shared lattice layer are identified through the slots, the others numbered
// in slab order. The face-diagonal vertices on the shared layers are left to mergeFlatVertices. The result depends
// on the mask only, not on the thread count or timing.
Result<Extraction> extractSurface(const WorkGrid& w, const ProgressFn& progress) {
    if (!reportProgress(progress, 0.0, "extracting surface"))
        return makeError(ErrorCode::Cancelled, "meshing cancelled");
    const int nx = w.n[0], ny = w.n[1], nz = w.n[2];
    const RowInfo rows = rowInfo(w);
    // Work per cell layer (surface cells, roughly), for the cut.
    std::vector<std::size_t> weight(static_cast<std::size_t>(nz - 1), 0);
    std::size_t total = 0;
    for (int z = 0; z + 1 < nz; ++z)
        for (int y = 0; y + 1 < ny; ++y) weight[static_cast<std::size_t>(z)] += rows.pairWork(y, z);
    for (std::size_t z_ : weight) total += z_;
    constexpr std::size_t kMaxSlabs = 8, kSlabCells = 8192;
    const std::size_t wanted =
        std::clamp<std::size_t>(std::min(total / kSlabCells, static_cast<std::size_t>(nz - 1) / 2), 1, kMaxSlabs);
    std::vector<ExtractionChunk> chunks(1);
    {
        std::size_t acc = 0;
        for (int z = 0; z + 2 < nz && chunks.size() < wanted; ++z) {
            acc += weight[static_cast<std::size_t>(z)];
            if (acc * wanted >= total * chunks.size() && z + 1 - chunks.back().z0 >= 2) {
                chunks.back().z1 = z + 1;
                chunks.emplace_back().z0 = z + 1;
            }
        }
        chunks.back().z1 = nz - 1;
        for (auto& ch : chunks)
            for (int z = ch.z0; z < ch.z1; ++z) ch.work += weight[static_cast<std::size_t>(z)];
    }
    const unsigned threads =
        std::max(1u, static_cast<unsigned>(std::min<std::size_t>(detail::meshingThreads(), chunks.size())));
    std::atomic<std::size_t> next{0};
    std::atomic<int> layersDone{0};
    std::atomic<bool> cancel{false};
    runTasks(threads, [&](unsigned t) {
        SlotScratch scratch;
        // The calling thread reports progress (and asks about cancelling) for all.
        const std::function<bool()> layerDone = [&, t] {
            const int done = ++layersDone;
            if (t == 0 && done % 16 == 0 && !reportProgress(progress, 0.3 * done / (nz - 1), "extracting surface"))
                cancel = true;
            return !cancel;
        };
        for (std::size_t c = next++; c < chunks.size(); c = next++)
            if (!extractChunk(w, rows, chunks[c], scratch, layerDone)) return;
    });
    if (cancel) return makeError(ErrorCode::Cancelled, "meshing cancelled");

    // Join. Global numbers, slab by slab: the vertices on the layer shared with the slab below were numbered there,
    // the merged ones go. Each slab counts and then numbers its own vertices (in parallel), after those of the slabs
    // before it; then, slab by slab, the shared ones take the numbers the slab below gave them. A shared vertex is on
    // an axis edge or an in-plane face diagonal of the shared layer, which neither slab merges.
    Extraction out;
    std::size_t nv = 0, ntri = 0;
    {
        constexpr int kFromBelow = -2;
        std::vector<std::size_t> own(chunks.size(), 0), live(chunks.size(), 0);
        auto eachChunk = [&](auto&& f) {
            std::atomic<std::size_t> at{0};
            runTasks(threads, [&](unsigned) {
                for (std::size_t c; (c = at++) < chunks.size();) f(c, chunks[c]);
            });
        };
        eachChunk([&](std::size_t c, ExtractionChunk& ch) {
            ch.global.assign(ch.vertices.size(), -1);
            for (const auto& sv : ch.bottomShared) ch.global[static_cast<std::size_t>(sv.second)] = kFromBelow;
            for (std::size_t i = 0; i < ch.global.size(); ++i) own[c] += ch.global[i] == -1 && !ch.removed[i];
            live[c] = static_cast<std::size_t>(std::count(ch.dead.begin(), ch.dead.end(), 0));
        });
        for (std::size_t c = 0; c < chunks.size(); ++c) {
            chunks[c].vertexBase = nv;
            nv += own[c];
            ntri += live[c];
        }
        eachChunk([&](std::size_t, ExtractionChunk& ch) {
            auto next = static_cast<int>(ch.vertexBase);
            for (std::size_t i = 0; i < ch.global.size(); ++i)
                if (ch.global[i] == -1 && !ch.removed[i]) ch.global[i] = next++;
        });
        std::vector<int> top(static_cast<std::size_t>(nx) * static_cast<std::size_t>(ny) * 8, -1);
        for (std::size_t c = 0; c < chunks.size(); ++c) {
            ExtractionChunk& ch = chunks[c];
            for (const auto& [s, v] : ch.bottomShared) {
                if (top[s] < 0) return makeError(ErrorCode::Internal, "surface extraction: unmatched slab vertex");
                ch.global[static_cast<std::size_t>(v)] = top[s];
            }
            if (c > 0)
                for (const auto& sv : chunks[c - 1].topShared) top[sv.first] = -1;
            for (const auto& [s, v] : ch.topShared) top[s] = ch.global[static_cast<std::size_t>(v)];
            for (int v : ch.pending) out.pendingMerge.push_back(ch.global[static_cast<std::size_t>(v)]);
        }
    }
    std::sort(out.pendingMerge.begin(), out.pendingMerge.end());
    out.pendingMerge.erase(std::unique(out.pendingMerge.begin(), out.pendingMerge.end()), out.pendingMerge.end());
    // Appended in order (one write per element, no zero-filling first); vertices and triangles on two threads.
    out.vertices.reserve(nv);
    out.triangles.reserve(ntri);
    auto fillVertices = [&] {
        for (const ExtractionChunk& ch : chunks)
            for (std::size_t i = 0; i < ch.vertices.size(); ++i) {
                // Skip the merged ones and those numbered by the slab below.
                if (ch.global[i] < static_cast<int>(ch.vertexBase)) continue;
                out.vertices.push_back(ch.vertices[i]);
            }
    };
    auto fillTriangles = [&] {
        for (const ExtractionChunk& ch : chunks)
            for (std::size_t t = 0; t < ch.triangles.size(); ++t)
                if (!ch.dead[t]) {
                    const auto& tri = ch.triangles[t];
                    out.triangles.push_back({ch.global[static_cast<std::size_t>(tri[0])],
                                             ch.global[static_cast<std::size_t>(tri[1])],
                                             ch.global[static_cast<std::size_t>(tri[2])]});
                }
    };
    runTasks(std::min(threads, 2u), [&](unsigned t) {
        if (t == 0) fillVertices();
        if (t == 1 || threads == 1) fillTriangles();
    });
    return out;
}

// Removes the vertices the Freudenthal split adds on lattice diagonals where that leaves the surface exactly the same
// point set (docs/meshing.md, "Flat-vertex merge"). A vertex v is merged into a neighbour u (every triangle of v's
// star that does not contain u gets u instead of v; the two that contain u go) when, for each such triangle, u lies
// exactly in its plane and the new triangle has the same orientation (a positive multiple of its normal). All planes
// of the star then contain the line uv; in each of them the old and new triangles are chains with the same boundary
// up to that line, hence the same chain, and as all of a half-plane's triangles have one orientation, they cover
// the same points once. So the surface stays the same embedded closed manifold: a duplicate edge or face would put
// another triangle inside v's former star, i.e. an intersection the embedded surface cannot have. Exact integer
// arithmetic on doubled index coordinates (vertices are at lattice edge midpoints). Vertices on axis-aligned lattice
// edges (marching cubes' vertices) are kept, so the vertex density stays about one per voxel face for smoothing.
// Where the merges happen: the cell-diagonal vertices in the case table (caseTable), the face-diagonal ones inside
// each extraction slab in extractSurface, and here the rest (ex.pendingMerge: the in-plane face diagonals of the
// layers where slabs meet), in vertex order, each tested on the surface as it is by then.
void mergeFlatVertices(Extraction& ex) {
    if (ex.pendingMerge.empty()) return;
    const std::size_t nv = ex.vertices.size(), nt = ex.triangles.size();
    std::vector<char> removed(nv, 0), dead(nt, 0);
    FlatMergeMemo memo;
    // Incidence lists of the pending vertices (few): one pass over the triangles with a byte flag per vertex collects
    // (vertex, triangle) pairs, sorted by vertex (then triangle) into lists.
    const auto& order = ex.pendingMerge;
    std::vector<char> pending(nv, 0);
    for (int v : order) pending[static_cast<std::size_t>(v)] = 1;
    std::vector<std::pair<int, int>> pairs;
    {
        std::mutex mutex;
        parallelChunks(nt, [&](std::size_t b, std::size_t e) {
            std::vector<std::pair<int, int>> part;
            for (std::size_t t = b; t < e; ++t)
                for (int v : ex.triangles[t])
                    if (pending[static_cast<std::size_t>(v)]) part.emplace_back(v, static_cast<int>(t));
            const std::lock_guard<std::mutex> lock(mutex);
            pairs.insert(pairs.end(), part.begin(), part.end());
        });
    }
    std::sort(pairs.begin(), pairs.end()); // (whatever order the chunks came in)
    auto slot = [&](int v) {
        return static_cast<std::size_t>(std::lower_bound(order.begin(), order.end(), v) - order.begin());
    };
    std::vector<int> start(order.size() + 1, 0), inc(pairs.size());
    for (std::size_t k = 0; k < pairs.size(); ++k) {
        ++start[slot(pairs[k].first) + 1];
        inc[k] = pairs[k].second;
    }
    for (std::size_t i = 0; i < order.size(); ++i) start[i + 1] += start[i];
    mergeFaceDiagonals(
        ex.triangles, ex.vertices, order,
        [&](int v, const auto& f) {
            const std::size_t s = slot(v);
            for (int k = start[s]; k < start[s + 1]; ++k) f(inc[static_cast<std::size_t>(k)]);
        },
        removed, dead, memo);
    ex.pendingMerge.clear();
    // Few merges here: the last kept vertices and triangles move into the holes instead of shifting everything.
    const auto kept = static_cast<std::size_t>(std::count(removed.begin(), removed.end(), 0));
    std::vector<int> moved(nv - kept, -1); // new number of vertex kept + i
    for (std::size_t hole = 0, from = kept; from < nv; ++from) {
        if (removed[from]) continue;
        while (!removed[hole]) ++hole;
        ex.vertices[hole] = ex.vertices[from];
        moved[from - kept] = static_cast<int>(hole++);
    }
    ex.vertices.resize(kept);
    std::size_t keptT = nt;
    for (std::size_t t = 0; t < keptT; ++t) {
        if (!dead[t]) continue;
        while (keptT > t + 1 && dead[keptT - 1]) --keptT;
        --keptT;
        if (keptT > t) ex.triangles[t] = ex.triangles[keptT];
    }
    ex.triangles.resize(keptT);
    const int firstMoved = static_cast<int>(kept);
    parallelChunks(ex.triangles.size(), [&](std::size_t b, std::size_t e) {
        for (std::size_t t = b; t < e; ++t)
            for (int& v : ex.triangles[t])
                if (v >= firstMoved) v = moved[static_cast<std::size_t>(v - firstMoved)];
    });
}

// Index (work-grid) coordinates <-> LPS mm.
struct Frame3 {
    Mat3 m, inv;
    Vec3 origin; // LPS of work index (0,0,0)
    // Maps an index-space area vector of an index-outward triangle to the LPS outward area vector:
    // |det m| * inv^T (the cofactor matrix, sign fixed for mirrored grids).
    Mat3 areaMap;
    double volumeScale = 1; // |det m|

    Vec3 toWorld(const Vec3& idx) const { return origin + m * idx; }
};

std::array<float, 3> toFloat(const Vec3& v) {
    return {static_cast<float>(v.x), static_cast<float>(v.y), static_cast<float>(v.z)};
}

// Vertex neighbours (compressed rows). On a closed, oriented 2-manifold every directed edge v->u is in exactly one
// triangle, so taking the vertex after v in each of its triangles lists each neighbour of v exactly once.
struct Adjacency {
    std::vector<int> start, nbr;
    std::vector<int> opposite; // the third vertex of the triangle (v, nbr, opposite)
};
Adjacency buildAdjacency(std::size_t nv, const std::vector<std::array<int, 3>>& tris) {
    // A counting sort by vertex on the meshing threads, each over a contiguous range of triangles with its own counts:
    // a vertex's entries from range 0 come first, then range 1's, ..., so the table is the sequential one.
    const unsigned parts = tris.size() < 20000 ? 1u : detail::meshingThreads();
    const std::size_t chunk = (tris.size() + parts - 1) / parts;
    std::vector<std::vector<int>> count(parts, std::vector<int>(nv, 0));
    runTasks(parts, [&](std::size_t p) {
        const std::size_t e = std::min(tris.size(), (p + 1) * chunk);
        for (std::size_t i = p * chunk; i < e; ++i)
            for (int v : tris[i]) ++count[p][static_cast<std::size_t>(v)];
    });
    Adjacency a;
    a.start.assign(nv + 1, 0);
    for (std::size_t v = 0; v < nv; ++v) {
        int at = a.start[v];
        for (unsigned p = 0; p < parts; ++p) {
            const int c = count[p][v];
            count[p][v] = at; // becomes range p's fill position for v
            at += c;
        }
        a.start[v + 1] = at;
    }
    a.nbr.resize(static_cast<std::size_t>(a.start[nv]));
    a.opposite.resize(a.nbr.size());
    runTasks(parts, [&](std::size_t p) {
        std::vector<int>& fill = count[p];
        const std::size_t e = std::min(tris.size(), (p + 1) * chunk);
        for (std::size_t i = p * chunk; i < e; ++i) {
            const auto& t = tris[i];
            for (int k = 0; k < 3; ++k) {
                const auto at = static_cast<std::size_t>(fill[static_cast<std::size_t>(t[k])]++);
                a.nbr[at] = t[(k + 1) % 3];
                a.opposite[at] = t[(k + 2) % 3];
            }
        }
    });
    return a;
}

// Marks the vertices `rings` rings of neighbours out from `frontier` (whose vertices are marked already).
// (start, nbr: each vertex's neighbours in compressed rows.)
void growRings(const std::vector<int>& start, const std::vector<int>& nbr, std::vector<char>& mark,
               std::vector<int> frontier, int rings) {
    for (int r = 0; r < rings && !frontier.empty(); ++r) {
        std::vector<int> next;
        for (int v : frontier)
            for (int k = start[v]; k < start[v + 1]; ++k)
                if (!mark[nbr[k]]) {
                    mark[nbr[k]] = 1;
                    next.push_back(nbr[k]);
                }
        frontier.swap(next);
    }
}

// Smoothing in index space: the uniform-weight Laplacian commutes with the affine index -> LPS map, so Taubin
// smoothing gives the same surface as in LPS, and the half-voxel constraint becomes a plain box clamp.
class ConstrainedSmoother {
    using V4 = float __attribute__((vector_size(16))); // GCC/Clang vector: x, y, z, unused

public:
    ConstrainedSmoother(const Extraction& ex, const Frame3& frame) : m_ex(ex), m_frame(frame) {
        m_adj = buildAdjacency(ex.vertices.size(), ex.triangles);
        m_invValence.resize(ex.vertices.size());
        m_pos.resize(ex.vertices.size());
        parallelChunks(ex.vertices.size(), [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                m_invValence[i] = 1.0 / std::max(1, m_adj.start[i + 1] - m_adj.start[i]);
                m_pos[i] = ex.vertices[i].mid();
            }
        });
    }

    const std::vector<Vec3>& positions() const { return m_pos; }
    // The adjacency, for whoever needs it once smoothing is over (the smoother cannot be used after this).
    Adjacency takeAdjacency() { return std::move(m_adj); }

    // Windowed-sinc low-pass (Taubin, Zhang & Golub 1996): f(K) x with K = I - W the uniform Laplacian's spectrum
    // in [0, 2], f the Hamming-windowed Fourier series of the ideal low-pass in theta (k = 1 - cos theta), as a
    // Chebyshev sum in M = I - K evaluated by the three-term recurrence: one Laplacian per pass.
    void windowedSinc(int passes, double passBand) {
        if (passes <= 0) return;
        const double thetaPb = std::acos(std::clamp(1.0 - passBand, -1.0, 1.0));
        std::vector<double> c(static_cast<std::size_t>(passes) + 1);
        double sum = 0;
        for (int n = 0; n <= passes; ++n) {
            const double ideal = n == 0 ? thetaPb / kPiD : 2.0 * std::sin(n * thetaPb) / (n * kPiD);
            const double window = 0.54 + 0.46 * std::cos(n * kPiD / (passes + 1));
            c[static_cast<std::size_t>(n)] = ideal * window;
            sum += c[static_cast<std::size_t>(n)];
        }
        for (double& x : c) x /= sum; // f(0) = 1: a flat surface stays where it is
        // The recurrence runs in single precision on positions relative to the box centre (f passes constants
        // through: f(0) = 1), halving the memory traffic that bounds these passes; its rounding, about 1e-4 voxel
        // after 12 passes, is far below anything the constraint or the checks resolve.
        const std::size_t nv = m_pos.size();
        Vec3 lo = m_pos.empty() ? Vec3{} : m_pos[0], hi = lo;
        {
            std::mutex mutex;
            parallelChunks(nv, [&](std::size_t b, std::size_t e) {
                if (b == e) return;
                Vec3 l = m_pos[b], h = l;
                for (std::size_t i = b; i < e; ++i) {
                    const Vec3& p = m_pos[i];
                    l = {std::min(l.x, p.x), std::min(l.y, p.y), std::min(l.z, p.z)};
                    h = {std::max(h.x, p.x), std::max(h.y, p.y), std::max(h.z, p.z)};
                }
                const std::lock_guard<std::mutex> lock(mutex);
                lo = {std::min(lo.x, l.x), std::min(lo.y, l.y), std::min(lo.z, l.z)};
                hi = {std::max(hi.x, h.x), std::max(hi.y, h.y), std::max(hi.z, h.z)};
            });
        }
        const Vec3 centre = (lo + hi) * 0.5;
        // Positions as 4-float vectors (the fourth lane unused): one 16-byte load and one vector add per neighbour.
        // Each lane does the same single-precision operations in the same order as three scalars would. Three
        // arrays, each written by the parallel loops before it is read (not zeroed first): y_{n+1} = 2 M y_n - y_{n-1}
        // overwrites y_{n-1} in place (vertex i's entry is read only for vertex i).
        std::unique_ptr<V4[]> prev(new V4[nv]), cur(new V4[nv]), out(new V4[nv]);
        const auto c0 = static_cast<float>(c[0]), c1 = static_cast<float>(c[1]);
        // y1 = M y0 = mean of the neighbours
        parallelChunks(nv, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                const Vec3 d = m_pos[i] - centre;
                prev[i] = V4{static_cast<float>(d.x), static_cast<float>(d.y), static_cast<float>(d.z), 0.0f};
            }
        });
        parallelChunks(nv, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                cur[i] = neighbourMean(prev.get(), i);
                out[i] = prev[i] * c0 + cur[i] * c1;
            }
        });
        for (int n = 2; n <= passes; ++n) {
            const auto cn = static_cast<float>(c[static_cast<std::size_t>(n)]);
            parallelChunks(nv, [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i) {
                    prev[i] = neighbourMean(cur.get(), i) * 2.0f - prev[i];
                    out[i] += prev[i] * cn;
                }
            });
            prev.swap(cur);
        }
        parallelChunks(nv, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) m_pos[i] = constrain(i, centre + Vec3{out[i][0], out[i][1], out[i][2]});
        });
    }

    // Vertices of the connected components with fewer than `maxVertices` vertices. The components are kept
    // (takeComponents()) for the mesh report: the triangles stay these.
    std::vector<int> smallComponents(std::size_t maxVertices) {
        m_components =
            detail::labelComponents(m_adj.start, [&](int k) { return m_adj.nbr[static_cast<std::size_t>(k)]; });
        const std::vector<int>& of = m_components->of;
        std::vector<std::size_t> size(static_cast<std::size_t>(m_components->count), 0);
        for (const int c : of)
            if (c >= 0) ++size[static_cast<std::size_t>(c)];
        std::vector<int> out;
        for (std::size_t i = 0; i < of.size(); ++i)
            if (of[i] < 0 || size[static_cast<std::size_t>(of[i])] < maxVertices) out.push_back(static_cast<int>(i));
        return out;
    }
    std::optional<detail::ComponentLabels> takeComponents() { return std::exchange(m_components, std::nullopt); }

    // The vertices at a boundary shared with another structure and `rings` rings of neighbours around them.
    std::vector<int> nearNeighbourStructures(int rings) const {
        std::vector<char> mark(m_pos.size(), 0);
        std::vector<int> frontier;
        for (std::size_t i = 0; i < m_pos.size(); ++i)
            if (m_ex.vertices[i].neighbour()) {
                mark[i] = 1;
                frontier.push_back(static_cast<int>(i));
            }
        growRings(m_adj.start, m_adj.nbr, mark, std::move(frontier), rings);
        // In index order (a scan of the marks, not a sort of the list): a structure surrounded by others, as in the
        // phantom where everything lies inside the body, has every vertex here.
        std::vector<int> out;
        for (std::size_t i = 0; i < mark.size(); ++i)
            if (mark[i]) out.push_back(static_cast<int>(i));
        return out;
    }

    // Constrained Taubin iterations on the given vertices only (the others are read, not moved); from their
    // unsmoothed positions when `restart`.
    void taubinOn(const std::vector<int>& vertices, int iterations, bool restart) {
        if (vertices.empty()) return;
        if (restart)
            for (int v : vertices)
                m_pos[static_cast<std::size_t>(v)] = m_ex.vertices[static_cast<std::size_t>(v)].mid();
        constexpr double lambda = 0.5, mu = -0.53;
        std::vector<Vec3> next(vertices.size());
        for (int it = 0; it < 2 * iterations; ++it) {
            const double factor = it % 2 == 0 ? lambda : mu;
            parallelChunks(vertices.size(), [&](std::size_t b, std::size_t e) {
                for (std::size_t j = b; j < e; ++j) {
                    const auto i = static_cast<std::size_t>(vertices[j]);
                    next[j] = constrain(i, m_pos[i] + (neighbourMean(m_pos, i) - m_pos[i]) * factor);
                }
            });
            parallelChunks(vertices.size(), [&](std::size_t b, std::size_t e) {
                for (std::size_t j = b; j < e; ++j) m_pos[static_cast<std::size_t>(vertices[j])] = next[j];
            });
        }
    }

    // Uniform offsets along LPS vertex normals restoring the target volume (within the constraint, so a few rounds).
    // First with the normals and area of the start: the first offset is the volume error over the area, later ones
    // divide by the volume change per mm of offset measured in the previous round (a secant step: vertices held by
    // the half-voxel box or by a neighbouring structure do not move, so the effective area is smaller). If 8 rounds
    // have not even halved the error (tiny parts, where the offsets are not small), it starts again from the same
    // positions with normals and area recomputed every round.
    void restoreVolume(double targetMm3) {
        const auto converged = [&](double volume, double area) {
            return area <= 0 || std::abs(volume - targetMm3) <= 1e-5 * targetMm3;
        };
        auto [volume, area] = volumeAndArea(true);
        if (converged(volume, area)) return;
        const double startError = std::abs(volume - targetMm3);
        // The positions to start again from (below), copied on the threads into memory not zero-filled first.
        const std::size_t nv = m_pos.size();
        std::unique_ptr<std::array<double, 3>[]> start(new std::array<double, 3>[nv]);
        parallelChunks(nv, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) start[i] = {m_pos[i].x, m_pos[i].y, m_pos[i].z};
        });
        const std::vector<Vec3> normals = worldNormals();
        double slope = area;
        for (int round = 0; round < 8; ++round) {
            const double delta = (targetMm3 - volume) / slope;
            offset(normals, delta);
            const double next = volumeAndArea(false).first;
            if (converged(next, area)) return;
            const double measured = (next - volume) / delta;
            slope = measured > 0.05 * area && measured < 2 * area ? measured : area;
            volume = next;
        }
        // Still short: as more vertices reach their box the effective area keeps shrinking, so the secant converges
        // only linearly (phantom spine: 2e-2, 8e-3, 2e-3, 2e-4, ...). A result that at least halved the error stays
        // (the per-round recomputation below did worse there: 6e-3 after 6 rounds); one that did not (tiny parts,
        // where the offsets are not small against the shape) starts again from the same positions.
        if (std::abs(volume - targetMm3) <= 0.5 * startError) return;
        for (std::size_t i = 0; i < nv; ++i) m_pos[i] = {start[i][0], start[i][1], start[i][2]};
        for (int round = 0; round < 6; ++round) {
            std::tie(volume, area) = volumeAndArea(true);
            if (converged(volume, area)) return;
            offset(worldNormals(), (targetMm3 - volume) / area);
        }
    }

    // Area-weighted unit vertex normals in LPS, gathered per vertex from its triangles (v, a, b).
    std::vector<Vec3> worldNormals() const {
        std::vector<Vec3> out(m_pos.size());
        parallelChunks(m_pos.size(), [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                Vec3 n;
                for (int k = m_adj.start[i]; k < m_adj.start[i + 1]; ++k)
                    n += cross(m_pos[static_cast<std::size_t>(m_adj.nbr[k])] - m_pos[i],
                               m_pos[static_cast<std::size_t>(m_adj.opposite[k])] - m_pos[i]);
                out[i] = normalized(m_frame.areaMap * n);
            }
        });
        return out;
    }

    // Every vertex moved `deltaMm` along its LPS normal, within its constraint.
    void offset(const std::vector<Vec3>& worldNormal, double deltaMm) {
        parallelChunks(m_pos.size(), [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i)
                m_pos[i] = constrain(i, m_pos[i] + m_frame.inv * (worldNormal[i] * deltaMm));
        });
    }

    // LPS volume (mm3) and, when asked, area (mm2).
    std::pair<double, double> volumeAndArea(bool withArea = true) const {
        // Per-chunk sums added in chunk order, so the result does not depend on thread timing.
        std::mutex mutex;
        std::vector<std::array<double, 3>> parts; // chunk begin, volume, area
        parallelChunks(m_ex.triangles.size(), [&](std::size_t b, std::size_t e) {
            double vol = 0, area = 0;
            for (std::size_t i = b; i < e; ++i) {
                const auto& t = m_ex.triangles[i];
                const Vec3 &p = m_pos[t[0]], &q = m_pos[t[1]], &r = m_pos[t[2]];
                vol += dot(p, cross(q, r));
                if (withArea) area += 0.5 * norm(m_frame.areaMap * cross(q - p, r - p));
            }
            const std::lock_guard<std::mutex> lock(mutex);
            parts.push_back({double(b), vol, area});
        });
        std::sort(parts.begin(), parts.end());
        double vol = 0, area = 0;
        for (const auto& part : parts) {
            vol += part[1];
            area += part[2];
        }
        return {vol / 6.0 * m_frame.volumeScale, area};
    }

private:
    V4 neighbourMean(const V4* pos, std::size_t i) const {
        const int s = m_adj.start[i], f = m_adj.start[i + 1];
        V4 sum{0, 0, 0, 0};
        for (int k = s; k < f; ++k) sum += pos[static_cast<std::size_t>(m_adj.nbr[k])];
        return sum * static_cast<float>(m_invValence[i]);
    }

    Vec3 neighbourMean(const std::vector<Vec3>& pos, std::size_t i) const {
        const int s = m_adj.start[i], f = m_adj.start[i + 1];
        Vec3 mean;
        for (int k = s; k < f; ++k) mean += pos[static_cast<std::size_t>(m_adj.nbr[k])];
        return mean * m_invValence[i]; // a multiplication: the passes are bound by this loop
    }

    // Half a voxel box around the midpoint: the surface stays within half a voxel of the voxel boundary (Hausdorff
    // bound), and at a boundary shared with another structure, on this structure's side.
    __attribute__((always_inline)) Vec3 constrain(std::size_t i, const Vec3& p) const {
        const SurfaceVertex& v = m_ex.vertices[i];
        const Vec3 mid = v.mid();
        Vec3 d = p - mid;
        d.x = std::clamp(d.x, -0.5, 0.5);
        d.y = std::clamp(d.y, -0.5, 0.5);
        d.z = std::clamp(d.z, -0.5, 0.5);
        if (v.neighbour()) {
            const Vec3 outward = v.outwardVector();
            const double along = dot(d, outward);
            if (along > 0) d = d - outward * (along / dot(outward, outward));
        }
        return mid + d;
    }

    const Extraction& m_ex;
    const Frame3& m_frame;
    Adjacency m_adj;
    std::optional<detail::ComponentLabels> m_components;
    std::vector<double> m_invValence; // 1 / number of neighbours
    std::vector<Vec3> m_pos;          // index space
};

// LPS mesh from index-space positions; triangles flipped for a mirrored (left-handed) grid.
Mesh makeMesh(const std::vector<Vec3>& pos, std::vector<std::array<int, 3>> tris, const Frame3& frame, bool flip) {
    Mesh m;
    m.points.resize(pos.size());
    parallelChunks(pos.size(), [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) m.points[i] = toFloat(frame.toWorld(pos[i]));
    });
    m.triangles = std::move(tris);
    if (flip)
        for (auto& t : m.triangles) std::swap(t[1], t[2]);
    return m;
}

// Puts the vertices of self-intersecting triangles, and `rings` rings of neighbours, back where the unsmoothed
// surface had them; returns the flags of the vertices moved. The unsmoothed surface is intersection-free, so
// growing rings always ends in a valid mesh.
std::vector<char> revertAround(Mesh& mesh, const Extraction& ex, const Frame3& frame,
                               const std::vector<std::size_t>& badTriangles, const detail::VertexLinks& links,
                               int rings) {
    std::vector<char> mark(mesh.points.size(), 0);
    std::vector<int> frontier;
    for (std::size_t t : badTriangles)
        for (int v : mesh.triangles[t])
            if (!mark[v]) {
                mark[v] = 1;
                frontier.push_back(v);
            }
    growRings(links.start, links.from, mark, std::move(frontier), rings);
    for (std::size_t v = 0; v < mark.size(); ++v)
        if (mark[v]) mesh.points[v] = toFloat(frame.toWorld(ex.vertices[v].mid()));
    return mark;
}

// Validity report with the mesher's own self-intersection test (CGAL's answer on a 2-manifold; a mesh that is not
// one fails the manifold check anyway) and the flat-array topology checks of detail::analyseMesh.
MeshReport checkedReport(const Mesh& mesh) {
    return detail::analyseMesh(mesh, !detail::findSelfIntersections(mesh).empty());
}

} // namespace

Result<MeshingResult> meshBinaryGrid(const BinaryGrid& grid, const MeshingOptions& options,
                                     const ProgressFn& progress) {
    const std::string what = grid.name.empty() ? std::string("mask") : "structure '" + grid.name + "'";
    if (grid.size[0] <= 0 || grid.size[1] <= 0 || grid.size[2] <= 0 || grid.voxels.size() != grid.voxelCount())
        return makeError(ErrorCode::InvalidInput, what + ": grid size does not match its voxel buffer");
    if (!(grid.spacing.x > 0 && grid.spacing.y > 0 && grid.spacing.z > 0))
        return makeError(ErrorCode::InvalidInput, what + ": spacing must be positive");
    const Mat3 m =
        Mat3::fromColumns(grid.direction.column(0) * grid.spacing.x, grid.direction.column(1) * grid.spacing.y,
                          grid.direction.column(2) * grid.spacing.z);
    const auto inv = m.inverse();
    if (!inv || std::abs(grid.direction.determinant()) < 1e-6)
        return makeError(ErrorCode::InvalidInput, what + ": direction matrix is singular");
    MeshingResult result;
    auto clock = std::chrono::steady_clock::now();
    auto lap = [&](const char* stage) {
        const auto now = std::chrono::steady_clock::now();
        result.stageSeconds.emplace_back(stage, std::chrono::duration<double>(now - clock).count());
        clock = now;
    };
    // The crop (part of the "extract" stage) also counts the inside voxels.
    const WorkGrid work = cropWithPadding(grid);
    const std::size_t insideVoxels = work.inside;
    if (insideVoxels == 0) return makeError(ErrorCode::InvalidInput, what + ": empty (no voxel inside)");
    const double voxelMm3 = grid.spacing.x * grid.spacing.y * grid.spacing.z;
    result.voxelVolumeMl = static_cast<double>(insideVoxels) * voxelMm3 / 1000.0;

    auto extracted = extractSurface(work, progress);
    if (!extracted) return extracted.error();
    lap("extract");
    mergeFlatVertices(extracted.value());
    const Extraction& ex = extracted.value();
    lap("merge");

    Frame3 frame;
    frame.m = m;
    frame.inv = *inv;
    frame.origin = grid.origin + m * Vec3{double(work.lo[0] - 1), double(work.lo[1] - 1), double(work.lo[2] - 1)};
    frame.volumeScale = std::abs(m.determinant());
    frame.areaMap = frame.inv.transposed();
    for (auto& row : frame.areaMap.m)
        for (double& x : row) x *= frame.volumeScale;
    // Orientation was decided in index space; a left-handed direction matrix mirrors it.
    const bool flip = grid.direction.determinant() < 0;

    ConstrainedSmoother smoother(ex, frame);
    if (!reportProgress(progress, 0.35, "smoothing")) return makeError(ErrorCode::Cancelled, "meshing cancelled");
    if (options.smoothingIterations > 0) {
        // The low-pass filter clamps only its output; two constrained Taubin iterations then let the vertices next
        // to clamped ones follow, so triangles facing a neighbouring structure stay on their side too.
        // Small components start again from their unsmoothed positions, so the filter is skipped when every
        // component is small (components do not interact).
        const std::vector<int> small = smoother.smallComponents(kSmallComponent);
        if (small.size() < ex.vertices.size()) smoother.windowedSinc(options.smoothingIterations, kPassBand);
        smoother.taubinOn(small, kSmallComponentTaubin, true);
        // Two Taubin iterations (4 steps) reach 4 rings around the clamped vertices at a shared boundary.
        smoother.taubinOn(smoother.nearNeighbourStructures(4), 2, false);
    }
    if (options.preserveVolume) smoother.restoreVolume(static_cast<double>(insideVoxels) * voxelMm3);
    // The extracted triangles move into the mesh (the smoother, their last other user, is done).
    Mesh mesh = makeMesh(smoother.positions(), std::move(extracted.value().triangles), frame, flip);
    // The extracted triangles as the mesh has them (oriented): the mesh's own until decimation or remeshing replaces
    // them, then this copy.
    std::vector<std::array<int, 3>> extractedTriangles;
    const auto unsmoothedMesh = [&] {
        std::vector<Vec3> mids;
        mids.reserve(ex.vertices.size());
        for (const auto& v : ex.vertices) mids.push_back(v.mid());
        return makeMesh(mids, extractedTriangles.empty() ? mesh.triangles : extractedTriangles, frame, false);
    };
    lap("smooth");

    if (!reportProgress(progress, 0.55, "checking self-intersections"))
        return makeError(ErrorCode::Cancelled, "meshing cancelled");
    // Whether the current mesh is known to be free of self-intersections (saves re-testing it for the report).
    std::optional<bool> knownSelfIntersecting;
    // The vertex links of the extracted triangles, for the self-intersection tests and the report while the
    // triangles stay these (smoothing and reverts move vertices only).
    std::optional<detail::VertexLinks> links;
    if (options.smoothingIterations > 0 || options.preserveVolume) {
        // The smoother's adjacency lists, for each vertex v and triangle (v, a, b), a and b in triangle order: the
        // same table, reversed where a mirrored grid flipped the triangles. Moved, not copied: the smoother is done.
        Adjacency adj = smoother.takeAdjacency();
        links.emplace();
        links->start = std::move(adj.start);
        links->from = std::move(flip ? adj.opposite : adj.nbr);
        links->to = std::move(flip ? adj.nbr : adj.opposite);
        links->orderRings();
        links->components = smoother.takeComponents();
        // One full test; after each local revert only the triangles around the moved vertices are re-tested (the
        // others were clean and did not move).
        auto bad = detail::findSelfIntersections(mesh, nullptr, &*links);
        for (int round = 0; round < 6 && !bad.empty(); ++round) {
            const std::vector<char> moved = revertAround(mesh, ex, frame, bad, *links, round);
            bad = detail::findSelfIntersections(mesh, &moved, &*links);
        }
        if (!bad.empty()) {
            mesh = unsmoothedMesh();
            result.warnings.push_back(what + ": smoothing self-intersected; kept the unsmoothed surface");
        } else {
            knownSelfIntersecting = false;
        }
    }
    result.inputTriangles = mesh.triangleCount();
    lap("self-intersections");
    if (options.targetTriangles > 0 || options.maxErrorMm > 0 || options.remeshEdgeMm > 0)
        extractedTriangles = mesh.triangles;

    if (options.targetTriangles > 0 || options.maxErrorMm > 0) {
        if (!reportProgress(progress, 0.65, "decimating")) return makeError(ErrorCode::Cancelled, "meshing cancelled");
        // In stages that at most halve the count, each checked: edge collapse can fold thin parts into each other,
        // and a failed stage leaves the last valid mesh instead of the undecimated one.
        const std::size_t target = options.targetTriangles;
        std::size_t current = mesh.triangleCount();
        while (target == 0 || target < current) {
            const std::size_t stage = target == 0 ? 0 : std::max(target, current / 2);
            auto decimated = detail::decimate(mesh, stage, options.maxErrorMm);
            if (!decimated) {
                result.warnings.push_back(what + ": decimation failed (" + decimated.error().message + "); kept " +
                                          std::to_string(current) + " triangles");
                break;
            }
            const MeshReport r = checkedReport(decimated.value());
            if (!r.valid()) {
                result.warnings.push_back(what + ": decimation towards " + std::to_string(stage) +
                                          " triangles gave an invalid mesh (" + r.describe() + "); kept " +
                                          std::to_string(current) + " triangles");
                break;
            }
            const bool progressed = decimated->triangleCount() < current;
            mesh = std::move(decimated).value();
            links.reset();
            knownSelfIntersecting = false;
            current = mesh.triangleCount();
            if (!progressed || target == 0) break; // error bound reached, or a bound-only run (one stage)
            if (!reportProgress(progress, 0.65, "decimating"))
                return makeError(ErrorCode::Cancelled, "meshing cancelled");
        }
        lap("decimate");
    }
    if (options.remeshEdgeMm > 0) {
        if (!reportProgress(progress, 0.8, "remeshing")) return makeError(ErrorCode::Cancelled, "meshing cancelled");
        auto remeshed = detail::remeshIsotropic(mesh, options.remeshEdgeMm);
        if (!remeshed)
            result.warnings.push_back(what + ": remeshing failed (" + remeshed.error().message + ")");
        else if (const MeshReport r = checkedReport(remeshed.value()); !r.valid())
            result.warnings.push_back(what + ": remeshing gave an invalid mesh (" + r.describe() + "); not remeshed");
        else {
            mesh = std::move(remeshed).value();
            links.reset();
            knownSelfIntersecting = r.selfIntersecting;
        }
        lap("remesh");
    }

    if (!reportProgress(progress, 0.9, "checking")) return makeError(ErrorCode::Cancelled, "meshing cancelled");
    result.report = detail::analyseMesh(mesh, knownSelfIntersecting, links ? &*links : nullptr);
    if (!result.report.valid()) {
        // Cannot happen for the unsmoothed level set; say so loudly rather than return a bad mesh silently.
        const Mesh unsmoothed = unsmoothedMesh();
        const MeshReport raw = analyseMesh(unsmoothed);
        result.warnings.push_back(what + ": final mesh failed the checks (" + result.report.describe() + ")" +
                                  (raw.valid() ? "; returned the unsmoothed surface" : ""));
        if (raw.valid()) {
            mesh = unsmoothed;
            result.report = raw;
        }
    }
    lap("report");
    result.mesh = std::move(mesh);
    reportProgress(progress, 1.0, "done");
    return result;
}

} // namespace jumeau::geometry
