#include "jumeau/geometry/LabelMesher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <optional>
#include <tuple>

#include "CgalMeshOps.h"
#include "MeshChecks.h"
#include "SelfIntersection.h"

namespace jumeau::geometry {

std::size_t BinaryGrid::insideCount() const {
    return static_cast<std::size_t>(std::count(voxels.begin(), voxels.end(), static_cast<std::uint8_t>(Inside)));
}

namespace {

using detail::parallelChunks;

constexpr double kPiD = 3.14159265358979323846;
// Windowed-sinc pass band (k in [0, 2] of the uniform Laplacian), VTK's default.
constexpr double kPassBand = 0.1;
// Components this small (a few voxels; the filter reaches about as far as it has passes) would shrink to a point
// under the low-pass filter with its output-only clamp: they get 20 constrained Taubin iterations instead.
constexpr std::size_t kSmallComponent = 2000;
constexpr int kSmallComponentTaubin = 20;

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
    std::array<int, 3> lo{0, 0, 0}; // grid index of work voxel (1,1,1)
    std::vector<std::uint8_t> state;

    std::size_t index(int x, int y, int z) const {
        return static_cast<std::size_t>(x) +
               static_cast<std::size_t>(n[0]) *
                   (static_cast<std::size_t>(y) + static_cast<std::size_t>(n[1]) * static_cast<std::size_t>(z));
    }
    std::uint8_t at(int x, int y, int z) const { return state[index(x, y, z)]; }
};

WorkGrid cropWithPadding(const BinaryGrid& g) {
    std::array<int, 3> lo{g.size[0], g.size[1], g.size[2]}, hi{-1, -1, -1};
    std::size_t idx = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i, ++idx)
                if (g.voxels[idx] == Inside) {
                    lo = {std::min(lo[0], i), std::min(lo[1], j), std::min(lo[2], k)};
                    hi = {std::max(hi[0], i), std::max(hi[1], j), std::max(hi[2], k)};
                }
    WorkGrid w;
    for (int a = 0; a < 3; ++a) {
        w.n[a] = hi[a] - lo[a] + 3;
        w.lo[a] = lo[a];
    }
    w.state.assign(static_cast<std::size_t>(w.n[0]) * w.n[1] * w.n[2], Outside);
    for (int z = 0; z < w.n[2]; ++z)
        for (int y = 0; y < w.n[1]; ++y)
            for (int x = 0; x < w.n[0]; ++x) {
                const int i = lo[0] + x - 1, j = lo[1] + y - 1, k = lo[2] + z - 1;
                if (i < 0 || j < 0 || k < 0 || i >= g.size[0] || j >= g.size[1] || k >= g.size[2]) continue;
                const std::uint8_t s = g.voxels[static_cast<std::size_t>(i) +
                                                static_cast<std::size_t>(g.size[0]) *
                                                    (static_cast<std::size_t>(j) + static_cast<std::size_t>(g.size[1]) *
                                                                                       static_cast<std::size_t>(k))];
                w.state[w.index(x, y, z)] = s > Neighbour ? static_cast<std::uint8_t>(Outside) : s;
            }
    return w;
}

// Marching-tetrahedra case table: for each of the 256 inside/outside patterns of a cell's corners, the triangles,
// each as three lattice edges (corner `low` of the cell + direction `dir`, both as corner bits), oriented from inside
// to outside. Built once from kTets, so it is the same surface as walking the six tetrahedra per cell.
struct EdgeRef {
    std::uint8_t low = 0, dir = 0;
};
using CaseTriangles = std::vector<std::array<EdgeRef, 3>>;

const std::array<CaseTriangles, 256>& caseTable() {
    static const std::array<CaseTriangles, 256> table = [] {
        std::array<CaseTriangles, 256> t;
        auto corner = [](int c) {
            const auto o = cornerOffset(c);
            return Vec3{double(o[0]), double(o[1]), double(o[2])};
        };
        // The tet edge joins a corner to a superset of its bits.
        auto ref = [](int ca, int cb) {
            const int low = (ca & cb) == ca ? ca : cb;
            const int high = low == ca ? cb : ca;
            return EdgeRef{static_cast<std::uint8_t>(low), static_cast<std::uint8_t>(high ^ low)};
        };
        auto mid = [&](EdgeRef e) { return corner(e.low) + corner(e.dir) * 0.5; };
        for (int mask = 1; mask < 255; ++mask) {
            auto emit = [&](EdgeRef a, EdgeRef b, EdgeRef c, const Vec3& inToOut) {
                const Vec3 p0 = mid(a), p1 = mid(b), p2 = mid(c);
                if (dot(cross(p1 - p0, p2 - p0), inToOut) >= 0)
                    t[mask].push_back({a, b, c});
                else
                    t[mask].push_back({a, c, b});
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
                    const EdgeRef e0 = ref(in[0], outc[0]), e1 = ref(in[0], outc[1]);
                    const EdgeRef e2 = ref(in[1], outc[1]), e3 = ref(in[1], outc[0]);
                    emit(e0, e1, e2, dir);
                    emit(e0, e2, e3, dir);
                }
            }
        }
        return t;
    }();
    return table;
}

// A surface vertex: the midpoint of a lattice edge from an inside voxel a to an outside voxel b (work-grid index
// coordinates). Smoothing may move it within half a voxel of that midpoint; when b belongs to another structure,
// not past the midpoint towards b.
struct SurfaceVertex {
    Vec3 mid;
    Vec3 outward; // b - a
    bool neighbour = false;
};

struct Extraction {
    std::vector<SurfaceVertex> vertices;
    std::vector<std::array<int, 3>> triangles; // outward in index space
};

// Marching tetrahedra on the Freudenthal triangulation of the voxel centres, iso-value 0.5 of the 0/1 mask. The
// result is the level set of a piecewise-linear function at a value no vertex takes, hence a closed 2-manifold
// without self-intersections, whatever the mask (no ambiguous cases). One pass over the cells with the case table;
// vertices are shared through two layers of per-lattice-point edge slots (no hash map).
Result<Extraction> extractSurface(const WorkGrid& w, const ProgressFn& progress) {
    const auto& table = caseTable();
    const int nx = w.n[0], ny = w.n[1], nz = w.n[2];
    const std::size_t layer = static_cast<std::size_t>(nx) * static_cast<std::size_t>(ny);
    Extraction out;
    // Slots of the lattice edges whose low end is on layer z, in slab[z & 1]: 8 per lattice point (dir 1..7).
    std::array<std::vector<int>, 2> slab{std::vector<int>(layer * 8, -1), std::vector<int>(layer * 8, -1)};
    std::array<std::vector<std::size_t>, 2> used;

    auto vertexOn = [&](int x, int y, int z, EdgeRef e) {
        const int px = x + (e.low & 1), py = y + (e.low >> 1 & 1), pz = z + (e.low >> 2 & 1);
        const std::size_t s = (static_cast<std::size_t>(py) * nx + static_cast<std::size_t>(px)) * 8 + e.dir;
        int& slot = slab[pz & 1][s];
        if (slot >= 0) return slot;
        slot = static_cast<int>(out.vertices.size());
        used[pz & 1].push_back(s);
        const int qx = px + (e.dir & 1), qy = py + (e.dir >> 1 & 1), qz = pz + (e.dir >> 2 & 1);
        const bool lowInside = w.at(px, py, pz) == Inside;
        const Vec3 a{double(px), double(py), double(pz)}, b{double(qx), double(qy), double(qz)};
        SurfaceVertex v;
        v.mid = (a + b) * 0.5;
        v.outward = lowInside ? b - a : a - b;
        v.neighbour = (lowInside ? w.at(qx, qy, qz) : w.at(px, py, pz)) == Neighbour;
        out.vertices.push_back(v);
        return slot;
    };

    // Per voxel row (y, z): 0 all not-inside, 1 all inside, 2 mixed; cells between four uniform equal rows are
    // skipped whole.
    std::vector<std::uint8_t> rowKind(static_cast<std::size_t>(ny) * static_cast<std::size_t>(nz));
    for (int z = 0; z < nz; ++z)
        for (int y = 0; y < ny; ++y) {
            const std::uint8_t* r = &w.state[w.index(0, y, z)];
            int inside = 0;
            for (int x = 0; x < nx; ++x) inside += r[x] == Inside;
            rowKind[static_cast<std::size_t>(y) + static_cast<std::size_t>(ny) * z] =
                inside == 0 ? 0 : (inside == nx ? 1 : 2);
        }
    auto kind = [&](int y, int z) { return rowKind[static_cast<std::size_t>(y) + static_cast<std::size_t>(ny) * z]; };

    for (int z = 0; z + 1 < nz; ++z) {
        if (z % 16 == 0 && !reportProgress(progress, 0.3 * z / nz, "extracting surface"))
            return makeError(ErrorCode::Cancelled, "meshing cancelled");
        if (z > 0) {
            // Layer z+1 takes the slab of layer z-1.
            auto& s = slab[(z + 1) & 1];
            for (std::size_t i : used[(z + 1) & 1]) s[i] = -1;
            used[(z + 1) & 1].clear();
        }
        for (int y = 0; y + 1 < ny; ++y) {
            const std::uint8_t k0 = kind(y, z);
            if (k0 != 2 && kind(y + 1, z) == k0 && kind(y, z + 1) == k0 && kind(y + 1, z + 1) == k0) continue;
            const std::uint8_t* r00 = &w.state[w.index(0, y, z)];
            const std::uint8_t* r10 = &w.state[w.index(0, y + 1, z)];
            const std::uint8_t* r01 = &w.state[w.index(0, y, z + 1)];
            const std::uint8_t* r11 = &w.state[w.index(0, y + 1, z + 1)];
            // Corner bits of a column x: (x,y,z) 1, (x,y+1,z) 4, (x,y,z+1) 16, (x,y+1,z+1) 64; shifted by one for x+1.
            auto column = [&](int x) {
                return (r00[x] == Inside ? 1 : 0) | (r10[x] == Inside ? 4 : 0) | (r01[x] == Inside ? 16 : 0) |
                       (r11[x] == Inside ? 64 : 0);
            };
            int left = column(0);
            for (int x = 0; x + 1 < nx; ++x) {
                const int right = column(x + 1);
                const int mask = left | right << 1;
                left = right;
                if (mask == 0 || mask == 255) continue;
                for (const auto& tri : table[mask])
                    out.triangles.push_back(
                        {vertexOn(x, y, z, tri[0]), vertexOn(x, y, z, tri[1]), vertexOn(x, y, z, tri[2])});
            }
        }
    }
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
void mergeFlatVertices(Extraction& ex) {
    // New edges at most a cell diagonal long (squared, doubled coordinates): longer ones, along straight staircase
    // creases, leave too few vertices there for smoothing to round the crease (Hausdorff 0.61 instead of 0.47 mm
    // on the 1 mm sphere).
    constexpr std::int64_t kMaxEdge2 = 12;
    const std::size_t nv = ex.vertices.size(), nt = ex.triangles.size();
    using I3 = std::array<std::int64_t, 3>;
    std::vector<I3> p(nv);
    std::vector<std::uint8_t> diagonal(nv); // 0 axis edge, 2 face diagonal, 3 cell diagonal
    for (std::size_t i = 0; i < nv; ++i) {
        const SurfaceVertex& v = ex.vertices[i];
        p[i] = {std::llround(2 * v.mid.x), std::llround(2 * v.mid.y), std::llround(2 * v.mid.z)};
        const int axes = (v.outward.x != 0) + (v.outward.y != 0) + (v.outward.z != 0);
        diagonal[i] = static_cast<std::uint8_t>(axes == 1 ? 0 : axes);
    }
    std::vector<int> start(nv + 1, 0), inc(3 * nt);
    for (const auto& t : ex.triangles)
        for (int v : t) ++start[static_cast<std::size_t>(v) + 1];
    for (std::size_t v = 0; v < nv; ++v) start[v + 1] += start[v];
    {
        std::vector<int> fill(start.begin(), start.end() - 1);
        for (std::size_t t = 0; t < nt; ++t)
            for (int v : ex.triangles[t]) inc[static_cast<std::size_t>(fill[v]++)] = static_cast<int>(t);
    }
    // Vertices merged into a vertex, as linked lists: their incidence lists hold the rest of its star.
    std::vector<int> absorbedHead(nv, -1), absorbedNext(nv, -1);
    std::vector<char> deadTriangle(nt, 0), removed(nv, 0);
    std::vector<int> star, stack, candidates;
    auto sub = [](const I3& a, const I3& b) { return I3{a[0] - b[0], a[1] - b[1], a[2] - b[2]}; };
    auto crossI = [](const I3& a, const I3& b) {
        return I3{a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
    };
    auto dotI = [](const I3& a, const I3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; };
    auto gatherStar = [&](int v) {
        star.clear();
        stack.assign(1, v);
        while (!stack.empty()) {
            const int w = stack.back();
            stack.pop_back();
            for (int k = start[w]; k < start[w + 1]; ++k) {
                const int t = inc[static_cast<std::size_t>(k)];
                const auto& tri = ex.triangles[static_cast<std::size_t>(t)];
                if (!deadTriangle[t] && (tri[0] == v || tri[1] == v || tri[2] == v)) star.push_back(t);
            }
            for (int c = absorbedHead[w]; c >= 0; c = absorbedNext[c]) stack.push_back(c);
        }
    };
    // Whether merging v into u leaves the same point set (see above).
    auto canMerge = [&](int v, int u) {
        for (int t : star) {
            auto tri = ex.triangles[static_cast<std::size_t>(t)];
            if (tri[0] == u || tri[1] == u || tri[2] == u) continue;
            while (tri[0] != v) tri = {tri[1], tri[2], tri[0]};
            const I3 &a = p[tri[1]], &b = p[tri[2]];
            const I3 nOld = crossI(sub(a, p[v]), sub(b, p[v]));
            if (dotI(nOld, sub(p[u], p[v])) != 0) return false;
            if (dotI(crossI(sub(a, p[u]), sub(b, p[u])), nOld) <= 0) return false;
            const I3 da = sub(a, p[u]), db = sub(b, p[u]);
            if (dotI(da, da) > kMaxEdge2 || dotI(db, db) > kMaxEdge2) return false;
        }
        return true;
    };
    for (const std::uint8_t kind : {std::uint8_t{3}, std::uint8_t{2}}) {
        for (std::size_t vi = 0; vi < nv; ++vi) {
            if (diagonal[vi] != kind) continue;
            const int v = static_cast<int>(vi);
            gatherStar(v);
            if (star.size() < 3) continue;
            candidates.clear();
            for (int t : star)
                for (int w : ex.triangles[static_cast<std::size_t>(t)])
                    if (w != v && std::find(candidates.begin(), candidates.end(), w) == candidates.end())
                        candidates.push_back(w);
            // Marching-cubes vertices first, so the kept vertices are the regular ones.
            std::stable_partition(candidates.begin(), candidates.end(), [&](int w) { return diagonal[w] == 0; });
            for (int u : candidates) {
                if (!canMerge(v, u)) continue;
                for (int t : star) {
                    auto& tri = ex.triangles[static_cast<std::size_t>(t)];
                    if (tri[0] == u || tri[1] == u || tri[2] == u)
                        deadTriangle[t] = 1;
                    else
                        for (int& w : tri)
                            if (w == v) w = u;
                }
                absorbedNext[vi] = absorbedHead[u];
                absorbedHead[u] = v;
                removed[vi] = 1;
                break;
            }
        }
    }
    std::vector<int> newIndex(nv, -1);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < nv; ++i)
        if (!removed[i]) {
            newIndex[i] = static_cast<int>(kept);
            ex.vertices[kept++] = ex.vertices[i];
        }
    ex.vertices.resize(kept);
    std::size_t keptT = 0;
    for (std::size_t t = 0; t < nt; ++t)
        if (!deadTriangle[t]) {
            const auto& tri = ex.triangles[t];
            ex.triangles[keptT++] = {newIndex[tri[0]], newIndex[tri[1]], newIndex[tri[2]]};
        }
    ex.triangles.resize(keptT);
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
    Adjacency a;
    a.start.assign(nv + 1, 0);
    for (const auto& t : tris)
        for (int v : t) ++a.start[static_cast<std::size_t>(v) + 1];
    for (std::size_t v = 0; v < nv; ++v) a.start[v + 1] += a.start[v];
    a.nbr.resize(static_cast<std::size_t>(a.start[nv]));
    a.opposite.resize(a.nbr.size());
    std::vector<int> fill(a.start.begin(), a.start.end() - 1);
    for (const auto& t : tris)
        for (int e = 0; e < 3; ++e) {
            const auto k = static_cast<std::size_t>(fill[t[e]]++);
            a.nbr[k] = t[(e + 1) % 3];
            a.opposite[k] = t[(e + 2) % 3];
        }
    return a;
}

// Smoothing in index space: the uniform-weight Laplacian commutes with the affine index -> LPS map, so Taubin
// smoothing gives the same surface as in LPS, and the half-voxel constraint becomes a plain box clamp.
class ConstrainedSmoother {
public:
    ConstrainedSmoother(const Extraction& ex, const Frame3& frame) : m_ex(ex), m_frame(frame) {
        m_adj = buildAdjacency(ex.vertices.size(), ex.triangles);
        m_invValence.resize(ex.vertices.size());
        for (std::size_t i = 0; i < ex.vertices.size(); ++i)
            m_invValence[i] = 1.0 / std::max(1, m_adj.start[i + 1] - m_adj.start[i]);
        m_pos.reserve(ex.vertices.size());
        for (const auto& v : ex.vertices) m_pos.push_back(v.mid);
    }

    const std::vector<Vec3>& positions() const { return m_pos; }
    const Adjacency& adjacency() const { return m_adj; }

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
        const std::size_t nv = m_pos.size();
        std::vector<Vec3> prev = m_pos, cur(nv), out(nv);
        // y1 = M y0 = mean of the neighbours
        parallelChunks(nv, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                cur[i] = neighbourMean(prev, i);
                out[i] = prev[i] * c[0] + cur[i] * c[1];
            }
        });
        std::vector<Vec3> next(nv);
        for (int n = 2; n <= passes; ++n) {
            const double cn = c[static_cast<std::size_t>(n)];
            parallelChunks(nv, [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i) {
                    next[i] = neighbourMean(cur, i) * 2.0 - prev[i];
                    out[i] += next[i] * cn;
                }
            });
            prev.swap(cur);
            cur.swap(next);
        }
        parallelChunks(nv, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) m_pos[i] = constrain(i, out[i]);
        });
    }

    // Vertices of the connected components with fewer than `maxVertices` vertices.
    std::vector<int> smallComponents(std::size_t maxVertices) const {
        const std::size_t nv = m_pos.size();
        std::vector<int> parent(nv);
        for (std::size_t i = 0; i < nv; ++i) parent[i] = static_cast<int>(i);
        auto find = [&](int v) {
            while (parent[v] != v) v = parent[v] = parent[parent[v]];
            return v;
        };
        for (std::size_t i = 0; i < nv; ++i)
            for (int k = m_adj.start[i]; k < m_adj.start[i + 1]; ++k) {
                const int a = find(static_cast<int>(i)), b = find(m_adj.nbr[k]);
                if (a != b) parent[std::max(a, b)] = std::min(a, b);
            }
        std::vector<std::size_t> size(nv, 0);
        for (std::size_t i = 0; i < nv; ++i) ++size[static_cast<std::size_t>(find(static_cast<int>(i)))];
        std::vector<int> out;
        for (std::size_t i = 0; i < nv; ++i)
            if (size[static_cast<std::size_t>(find(static_cast<int>(i)))] < maxVertices) out.push_back(static_cast<int>(i));
        return out;
    }

    // The vertices at a boundary shared with another structure and `rings` rings of neighbours around them.
    std::vector<int> nearNeighbourStructures(int rings) const {
        std::vector<char> mark(m_pos.size(), 0);
        std::vector<int> out, frontier;
        for (std::size_t i = 0; i < m_pos.size(); ++i)
            if (m_ex.vertices[i].neighbour) {
                mark[i] = 1;
                frontier.push_back(static_cast<int>(i));
            }
        out = frontier;
        for (int r = 0; r < rings && !frontier.empty(); ++r) {
            std::vector<int> next;
            for (int v : frontier)
                for (int k = m_adj.start[v]; k < m_adj.start[v + 1]; ++k)
                    if (!mark[m_adj.nbr[k]]) {
                        mark[m_adj.nbr[k]] = 1;
                        next.push_back(m_adj.nbr[k]);
                    }
            out.insert(out.end(), next.begin(), next.end());
            frontier.swap(next);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    // Constrained Taubin iterations on the given vertices only (the others are read, not moved); from their
    // unsmoothed positions when `restart`.
    void taubinOn(const std::vector<int>& vertices, int iterations, bool restart) {
        if (vertices.empty()) return;
        if (restart)
            for (int v : vertices) m_pos[static_cast<std::size_t>(v)] = m_ex.vertices[static_cast<std::size_t>(v)].mid;
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
            for (std::size_t j = 0; j < vertices.size(); ++j) m_pos[static_cast<std::size_t>(vertices[j])] = next[j];
        }
    }

    // Uniform offsets along LPS vertex normals restoring the target volume (within the constraint, so a few rounds).
    // First with the normals and area of the start: the first offset is the volume error over the area, later ones
    // divide by the volume change per mm of offset measured in the previous round (a secant step: vertices held by
    // the half-voxel box or by a neighbouring structure do not move, so the effective area is smaller). If that has
    // not converged in 4 rounds (tiny parts, where the offsets are not small), it starts again from the same
    // positions with normals and area recomputed every round.
    void restoreVolume(double targetMm3) {
        const auto converged = [&](double volume, double area) {
            return area <= 0 || std::abs(volume - targetMm3) <= 1e-5 * targetMm3;
        };
        auto [volume, area] = volumeAndArea(true);
        if (converged(volume, area)) return;
        const std::vector<Vec3> start = m_pos;
        const std::vector<Vec3> normals = worldNormals();
        double slope = area;
        for (int round = 0; round < 4; ++round) {
            const double delta = (targetMm3 - volume) / slope;
            offset(normals, delta);
            const double next = volumeAndArea(false).first;
            if (converged(next, area)) return;
            const double measured = (next - volume) / delta;
            slope = measured > 0.05 * area && measured < 2 * area ? measured : area;
            volume = next;
        }
        m_pos = start;
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
    Vec3 neighbourMean(const std::vector<Vec3>& pos, std::size_t i) const {
        const int s = m_adj.start[i], f = m_adj.start[i + 1];
        Vec3 mean;
        for (int k = s; k < f; ++k) mean += pos[static_cast<std::size_t>(m_adj.nbr[k])];
        return mean * m_invValence[i]; // a multiplication: the passes are bound by this loop
    }

    // Half a voxel box around the midpoint: the surface stays within half a voxel of the voxel boundary (Hausdorff
    // bound), and at a boundary shared with another structure, on this structure's side.
    Vec3 constrain(std::size_t i, const Vec3& p) const {
        const SurfaceVertex& v = m_ex.vertices[i];
        Vec3 d = p - v.mid;
        d.x = std::clamp(d.x, -0.5, 0.5);
        d.y = std::clamp(d.y, -0.5, 0.5);
        d.z = std::clamp(d.z, -0.5, 0.5);
        if (v.neighbour) {
            const double along = dot(d, v.outward);
            if (along > 0) d = d - v.outward * (along / dot(v.outward, v.outward));
        }
        return v.mid + d;
    }

    const Extraction& m_ex;
    const Frame3& m_frame;
    Adjacency m_adj;
    std::vector<double> m_invValence; // 1 / number of neighbours
    std::vector<Vec3> m_pos;          // index space
};

// LPS mesh from index-space positions; triangles flipped for a mirrored (left-handed) grid.
Mesh makeMesh(const std::vector<Vec3>& pos, const std::vector<std::array<int, 3>>& tris, const Frame3& frame,
              bool flip) {
    Mesh m;
    m.points.resize(pos.size());
    parallelChunks(pos.size(), [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) m.points[i] = toFloat(frame.toWorld(pos[i]));
    });
    m.triangles = tris;
    if (flip)
        for (auto& t : m.triangles) std::swap(t[1], t[2]);
    return m;
}

// Puts the vertices of self-intersecting triangles, and `rings` rings of neighbours, back where the unsmoothed
// surface had them; returns the flags of the vertices moved. The unsmoothed surface is intersection-free, so
// growing rings always ends in a valid mesh.
std::vector<char> revertAround(Mesh& mesh, const Extraction& ex, const Frame3& frame,
                               const std::vector<std::size_t>& badTriangles, const Adjacency& adj, int rings) {
    std::vector<char> mark(mesh.points.size(), 0);
    std::vector<int> frontier;
    for (std::size_t t : badTriangles)
        for (int v : mesh.triangles[t])
            if (!mark[v]) {
                mark[v] = 1;
                frontier.push_back(v);
            }
    for (int r = 0; r < rings; ++r) {
        std::vector<int> next;
        for (int v : frontier)
            for (int k = adj.start[v]; k < adj.start[v + 1]; ++k)
                if (!mark[adj.nbr[k]]) {
                    mark[adj.nbr[k]] = 1;
                    next.push_back(adj.nbr[k]);
                }
        frontier.swap(next);
    }
    for (std::size_t v = 0; v < mark.size(); ++v)
        if (mark[v]) mesh.points[v] = toFloat(frame.toWorld(ex.vertices[v].mid));
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
    const std::size_t insideVoxels = grid.insideCount();
    if (insideVoxels == 0) return makeError(ErrorCode::InvalidInput, what + ": empty (no voxel inside)");

    MeshingResult result;
    auto clock = std::chrono::steady_clock::now();
    auto lap = [&](const char* stage) {
        const auto now = std::chrono::steady_clock::now();
        result.stageSeconds.emplace_back(stage, std::chrono::duration<double>(now - clock).count());
        clock = now;
    };
    const double voxelMm3 = grid.spacing.x * grid.spacing.y * grid.spacing.z;
    result.voxelVolumeMl = static_cast<double>(insideVoxels) * voxelMm3 / 1000.0;

    const WorkGrid work = cropWithPadding(grid);
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
    auto unsmoothedMesh = [&] {
        std::vector<Vec3> mids;
        mids.reserve(ex.vertices.size());
        for (const auto& v : ex.vertices) mids.push_back(v.mid);
        return makeMesh(mids, ex.triangles, frame, flip);
    };

    ConstrainedSmoother smoother(ex, frame);
    if (!reportProgress(progress, 0.35, "smoothing")) return makeError(ErrorCode::Cancelled, "meshing cancelled");
    if (options.smoothingIterations > 0) {
        // The low-pass filter clamps only its output; two constrained Taubin iterations then let the vertices next
        // to clamped ones follow, so triangles facing a neighbouring structure stay on their side too.
        smoother.windowedSinc(options.smoothingIterations, kPassBand);
        smoother.taubinOn(smoother.smallComponents(kSmallComponent), kSmallComponentTaubin, true);
        // Two Taubin iterations (4 steps) reach 4 rings around the clamped vertices at a shared boundary.
        smoother.taubinOn(smoother.nearNeighbourStructures(4), 2, false);
    }
    if (options.preserveVolume) smoother.restoreVolume(static_cast<double>(insideVoxels) * voxelMm3);
    Mesh mesh = makeMesh(smoother.positions(), ex.triangles, frame, flip);
    lap("smooth");

    if (!reportProgress(progress, 0.55, "checking self-intersections"))
        return makeError(ErrorCode::Cancelled, "meshing cancelled");
    // Whether the current mesh is known to be free of self-intersections (saves re-testing it for the report).
    std::optional<bool> knownSelfIntersecting;
    // The vertex links of the extracted triangles, for the self-intersection tests and the report while the
    // triangles stay these (smoothing and reverts move vertices only).
    std::optional<detail::VertexLinks> links;
    if (options.smoothingIterations > 0 || options.preserveVolume) {
        // The smoother's adjacency lists, for each vertex v and triangle (v, a, b), a and b in triangle order:
        // the same table, reversed where a mirrored grid flipped the triangles.
        const Adjacency& adj = smoother.adjacency();
        links.emplace();
        links->start = adj.start;
        links->edges.resize(adj.nbr.size());
        parallelChunks(adj.nbr.size(), [&](std::size_t b, std::size_t e) {
            for (std::size_t k = b; k < e; ++k)
                links->edges[k] = flip ? std::array<int, 2>{adj.opposite[k], adj.nbr[k]}
                                       : std::array<int, 2>{adj.nbr[k], adj.opposite[k]};
        });
        links->orderRings();
        // One full test; after each local revert only the triangles around the moved vertices are re-tested (the
        // others were clean and did not move).
        auto bad = detail::findSelfIntersections(mesh, nullptr, &*links);
        for (int round = 0; round < 6 && !bad.empty(); ++round) {
            const std::vector<char> moved = revertAround(mesh, ex, frame, bad, smoother.adjacency(), round);
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
