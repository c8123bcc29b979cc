#include "jumeau/geometry/LabelMesher.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "CgalMeshOps.h"

namespace jumeau::geometry {

std::size_t BinaryGrid::insideCount() const {
    return static_cast<std::size_t>(std::count(voxels.begin(), voxels.end(), static_cast<std::uint8_t>(Inside)));
}

namespace {

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
    std::vector<std::array<int, 3>> triangles;
};

// Marching tetrahedra on the Freudenthal triangulation of the voxel centres, iso-value 0.5 of the 0/1 mask. The
// result is the level set of a piecewise-linear function at a value no vertex takes, hence a closed 2-manifold
// without self-intersections, whatever the mask (no ambiguous cases, no tables).
Result<Extraction> extractSurface(const WorkGrid& w, const ProgressFn& progress) {
    Extraction out;
    std::unordered_map<std::uint64_t, int> edgeVertex;
    edgeVertex.reserve(1 << 16);

    auto vertexOn = [&](int x, int y, int z, int ca, int cb) {
        // ca inside corner, cb outside corner of the cell at (x,y,z); the tet edge joins a corner to a superset.
        const int low = (ca & cb) == ca ? ca : cb;
        const int high = low == ca ? cb : ca;
        const auto lo = cornerOffset(low);
        const std::uint64_t key = (static_cast<std::uint64_t>(w.index(x + lo[0], y + lo[1], z + lo[2])) << 3) |
                                  static_cast<std::uint64_t>(high ^ low);
        auto [it, inserted] = edgeVertex.try_emplace(key, static_cast<int>(out.vertices.size()));
        if (inserted) {
            const auto oa = cornerOffset(ca), ob = cornerOffset(cb);
            const Vec3 a{double(x + oa[0]), double(y + oa[1]), double(z + oa[2])};
            const Vec3 b{double(x + ob[0]), double(y + ob[1]), double(z + ob[2])};
            SurfaceVertex v;
            v.mid = (a + b) * 0.5;
            v.outward = b - a;
            v.neighbour = w.at(x + ob[0], y + ob[1], z + ob[2]) == Neighbour;
            out.vertices.push_back(v);
        }
        return it->second;
    };

    auto emit = [&](int v0, int v1, int v2, const Vec3& inToOut) {
        const Vec3 p0 = out.vertices[v0].mid, p1 = out.vertices[v1].mid, p2 = out.vertices[v2].mid;
        if (dot(cross(p1 - p0, p2 - p0), inToOut) >= 0)
            out.triangles.push_back({v0, v1, v2});
        else
            out.triangles.push_back({v0, v2, v1});
    };

    for (int z = 0; z + 1 < w.n[2]; ++z) {
        if (z % 16 == 0 && !reportProgress(progress, 0.3 * z / w.n[2], "extracting surface"))
            return makeError(ErrorCode::Cancelled, "meshing cancelled");
        for (int y = 0; y + 1 < w.n[1]; ++y)
            for (int x = 0; x + 1 < w.n[0]; ++x) {
                int mask = 0;
                for (int c = 0; c < 8; ++c) {
                    const auto o = cornerOffset(c);
                    if (w.at(x + o[0], y + o[1], z + o[2]) == Inside) mask |= 1 << c;
                }
                if (mask == 0 || mask == 255) continue;
                for (const auto& tet : kTets) {
                    int in[4], outc[4], nIn = 0, nOut = 0;
                    for (int c : tet) (mask >> c & 1 ? in[nIn++] : outc[nOut++]) = c;
                    if (nIn == 0 || nOut == 0) continue;
                    Vec3 ci, co;
                    for (int i = 0; i < nIn; ++i) {
                        const auto o = cornerOffset(in[i]);
                        ci += Vec3{double(o[0]), double(o[1]), double(o[2])} / nIn;
                    }
                    for (int i = 0; i < nOut; ++i) {
                        const auto o = cornerOffset(outc[i]);
                        co += Vec3{double(o[0]), double(o[1]), double(o[2])} / nOut;
                    }
                    const Vec3 dir = co - ci;
                    if (nIn == 1) {
                        emit(vertexOn(x, y, z, in[0], outc[0]), vertexOn(x, y, z, in[0], outc[1]),
                             vertexOn(x, y, z, in[0], outc[2]), dir);
                    } else if (nIn == 3) {
                        emit(vertexOn(x, y, z, in[0], outc[0]), vertexOn(x, y, z, in[1], outc[0]),
                             vertexOn(x, y, z, in[2], outc[0]), dir);
                    } else {
                        // The four crossings form a planar quad in this cyclic order.
                        const int e0 = vertexOn(x, y, z, in[0], outc[0]), e1 = vertexOn(x, y, z, in[0], outc[1]);
                        const int e2 = vertexOn(x, y, z, in[1], outc[1]), e3 = vertexOn(x, y, z, in[1], outc[0]);
                        emit(e0, e1, e2, dir);
                        emit(e0, e2, e3, dir);
                    }
                }
            }
    }
    return out;
}

// Index (work-grid) coordinates <-> LPS mm.
struct Frame3 {
    Mat3 m, inv;
    Vec3 origin; // LPS of work index (0,0,0)

    Vec3 toWorld(const Vec3& idx) const { return origin + m * idx; }
    Vec3 toIndex(const Vec3& p) const { return inv * (p - origin); }
};

std::array<float, 3> toFloat(const Vec3& v) {
    return {static_cast<float>(v.x), static_cast<float>(v.y), static_cast<float>(v.z)};
}

// Vertex neighbours (compressed rows) from the triangles.
struct Adjacency {
    std::vector<int> start, nbr;
};
Adjacency buildAdjacency(std::size_t nv, const std::vector<std::array<int, 3>>& tris) {
    std::vector<std::vector<int>> lists(nv);
    for (const auto& t : tris)
        for (int e = 0; e < 3; ++e) {
            lists[t[e]].push_back(t[(e + 1) % 3]);
            lists[t[e]].push_back(t[(e + 2) % 3]);
        }
    Adjacency a;
    a.start.reserve(nv + 1);
    a.start.push_back(0);
    for (auto& l : lists) {
        std::sort(l.begin(), l.end());
        l.erase(std::unique(l.begin(), l.end()), l.end());
        a.nbr.insert(a.nbr.end(), l.begin(), l.end());
        a.start.push_back(static_cast<int>(a.nbr.size()));
    }
    return a;
}

class ConstrainedSmoother {
public:
    // flip: the triangles' index-space orientation is mirrored in LPS (left-handed direction matrix).
    ConstrainedSmoother(const Extraction& ex, const Frame3& frame, bool flip)
        : m_ex(ex), m_frame(frame), m_triangles(ex.triangles) {
        if (flip)
            for (auto& t : m_triangles) std::swap(t[1], t[2]);
        m_adj = buildAdjacency(ex.vertices.size(), ex.triangles);
        m_pos.reserve(ex.vertices.size());
        for (const auto& v : ex.vertices) m_pos.push_back(frame.toWorld(v.mid));
    }

    std::vector<Vec3>& positions() { return m_pos; }

    void taubin(int iterations) {
        // lambda|mu with mu slightly larger than lambda: a low-pass filter that removes the voxel staircase without
        // the shrinkage of plain Laplacian smoothing.
        constexpr double lambda = 0.5, mu = -0.53;
        for (int it = 0; it < iterations; ++it) {
            step(lambda);
            step(mu);
        }
    }

    // Uniform offset along vertex normals restoring the target volume (within the constraint, so a few rounds).
    void restoreVolume(double targetMm3) {
        for (int round = 0; round < 6; ++round) {
            const auto [volume, area] = volumeAndArea();
            if (area <= 0 || std::abs(volume - targetMm3) <= 1e-5 * targetMm3) return;
            const double delta = (targetMm3 - volume) / area;
            const auto normals = vertexNormals();
            for (std::size_t i = 0; i < m_pos.size(); ++i) m_pos[i] = constrain(i, m_pos[i] + normals[i] * delta);
        }
    }

    std::pair<double, double> volumeAndArea() const {
        double vol = 0, area = 0;
        for (const auto& t : m_triangles) {
            const Vec3 &a = m_pos[t[0]], &b = m_pos[t[1]], &c = m_pos[t[2]];
            vol += dot(a, cross(b, c));
            area += 0.5 * norm(cross(b - a, c - a));
        }
        return {vol / 6.0, area};
    }

private:
    void step(double factor) {
        std::vector<Vec3> next(m_pos.size());
        for (std::size_t i = 0; i < m_pos.size(); ++i) {
            const int b = m_adj.start[i], e = m_adj.start[i + 1];
            Vec3 mean;
            for (int k = b; k < e; ++k) mean += m_pos[m_adj.nbr[k]];
            mean = mean / std::max(1, e - b);
            next[i] = constrain(i, m_pos[i] + (mean - m_pos[i]) * factor);
        }
        m_pos.swap(next);
    }

    // Half a voxel box around the midpoint, in index space: the surface stays within half a voxel of the voxel
    // boundary (Hausdorff bound), and at a boundary shared with another structure, on this structure's side.
    Vec3 constrain(std::size_t i, const Vec3& p) const {
        const SurfaceVertex& v = m_ex.vertices[i];
        Vec3 d = m_frame.toIndex(p) - v.mid;
        for (int a = 0; a < 3; ++a) d[a] = std::clamp(d[a], -0.5, 0.5);
        if (v.neighbour) {
            const double along = dot(d, v.outward);
            if (along > 0) d = d - v.outward * (along / dot(v.outward, v.outward));
        }
        return m_frame.toWorld(v.mid + d);
    }

    std::vector<Vec3> vertexNormals() const {
        std::vector<Vec3> n(m_pos.size());
        for (const auto& t : m_triangles) {
            const Vec3 fn = cross(m_pos[t[1]] - m_pos[t[0]], m_pos[t[2]] - m_pos[t[0]]); // area weighted
            for (int v : t) n[v] += fn;
        }
        for (auto& v : n) v = normalized(v);
        return n;
    }

    const Extraction& m_ex;
    const Frame3& m_frame;
    std::vector<std::array<int, 3>> m_triangles; // oriented outward in LPS
    Adjacency m_adj;
    std::vector<Vec3> m_pos;
};

Mesh makeMesh(const std::vector<Vec3>& pos, const std::vector<std::array<int, 3>>& tris, bool flip) {
    Mesh m;
    m.points.reserve(pos.size());
    for (const auto& p : pos) m.points.push_back(toFloat(p));
    m.triangles = tris;
    if (flip)
        for (auto& t : m.triangles) std::swap(t[1], t[2]);
    return m;
}

// Puts the vertices of self-intersecting triangles, and `rings` rings of neighbours, back where the unsmoothed
// surface had them. The unsmoothed surface is intersection-free, so growing rings always ends in a valid mesh.
void revertAround(Mesh& mesh, const Mesh& original, const std::vector<std::size_t>& badTriangles, const Adjacency& adj,
                  int rings) {
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
        if (mark[v]) mesh.points[v] = original.points[v];
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
    const double voxelMm3 = grid.spacing.x * grid.spacing.y * grid.spacing.z;
    result.voxelVolumeMl = static_cast<double>(insideVoxels) * voxelMm3 / 1000.0;

    const WorkGrid work = cropWithPadding(grid);
    auto extracted = extractSurface(work, progress);
    if (!extracted) return extracted.error();
    const Extraction& ex = extracted.value();

    Frame3 frame;
    frame.m = m;
    frame.inv = *inv;
    frame.origin = grid.origin + m * Vec3{double(work.lo[0] - 1), double(work.lo[1] - 1), double(work.lo[2] - 1)};
    // Orientation was decided in index space; a left-handed direction matrix mirrors it.
    const bool flip = grid.direction.determinant() < 0;

    ConstrainedSmoother smoother(ex, frame, flip);
    const Mesh unsmoothed = makeMesh(smoother.positions(), ex.triangles, flip);
    if (!reportProgress(progress, 0.35, "smoothing")) return makeError(ErrorCode::Cancelled, "meshing cancelled");
    smoother.taubin(std::max(0, options.smoothingIterations));
    if (options.preserveVolume) smoother.restoreVolume(static_cast<double>(insideVoxels) * voxelMm3);
    Mesh mesh = makeMesh(smoother.positions(), ex.triangles, flip);

    if (!reportProgress(progress, 0.55, "checking self-intersections"))
        return makeError(ErrorCode::Cancelled, "meshing cancelled");
    // Whether the current mesh is known to be free of self-intersections (saves re-testing it for the report).
    std::optional<bool> knownSelfIntersecting;
    if (options.smoothingIterations > 0 || options.preserveVolume) {
        const Adjacency adj = buildAdjacency(mesh.points.size(), mesh.triangles);
        bool clean = false;
        for (int round = 0; round < 6 && !clean; ++round) {
            const auto bad = selfIntersectingTriangles(mesh);
            clean = bad.empty();
            if (!clean) revertAround(mesh, unsmoothed, bad, adj, round);
        }
        if (!clean && !selfIntersectingTriangles(mesh).empty()) {
            mesh = unsmoothed;
            result.warnings.push_back(what + ": smoothing self-intersected; kept the unsmoothed surface");
        } else {
            knownSelfIntersecting = false;
        }
    }
    result.inputTriangles = mesh.triangleCount();

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
            const MeshReport r = analyseMesh(decimated.value());
            if (!r.valid()) {
                result.warnings.push_back(what + ": decimation towards " + std::to_string(stage) +
                                          " triangles gave an invalid mesh (" + r.describe() + "); kept " +
                                          std::to_string(current) + " triangles");
                break;
            }
            const bool progressed = decimated->triangleCount() < current;
            mesh = std::move(decimated).value();
            knownSelfIntersecting = false;
            current = mesh.triangleCount();
            if (!progressed || target == 0) break; // error bound reached, or a bound-only run (one stage)
            if (!reportProgress(progress, 0.65, "decimating"))
                return makeError(ErrorCode::Cancelled, "meshing cancelled");
        }
    }
    if (options.remeshEdgeMm > 0) {
        if (!reportProgress(progress, 0.8, "remeshing")) return makeError(ErrorCode::Cancelled, "meshing cancelled");
        auto remeshed = detail::remeshIsotropic(mesh, options.remeshEdgeMm);
        if (!remeshed)
            result.warnings.push_back(what + ": remeshing failed (" + remeshed.error().message + ")");
        else if (const MeshReport r = analyseMesh(remeshed.value()); !r.valid())
            result.warnings.push_back(what + ": remeshing gave an invalid mesh (" + r.describe() + "); not remeshed");
        else {
            mesh = std::move(remeshed).value();
            knownSelfIntersecting = r.selfIntersecting;
        }
    }

    if (!reportProgress(progress, 0.9, "checking")) return makeError(ErrorCode::Cancelled, "meshing cancelled");
    result.report = detail::analyseMesh(mesh, knownSelfIntersecting);
    if (!result.report.valid()) {
        // Cannot happen for the unsmoothed level set; say so loudly rather than return a bad mesh silently.
        const MeshReport raw = analyseMesh(unsmoothed);
        result.warnings.push_back(what + ": final mesh failed the checks (" + result.report.describe() + ")" +
                                  (raw.valid() ? "; returned the unsmoothed surface" : ""));
        if (raw.valid()) {
            mesh = unsmoothed;
            result.report = raw;
        }
    }
    result.mesh = std::move(mesh);
    reportProgress(progress, 1.0, "done");
    return result;
}

} // namespace jumeau::geometry
