// Every CGAL call of the geometry module, in one translation unit (CGAL templates cost minutes to compile).
// Kernel: exact predicates, inexact constructions — the validity checks (self-intersection, orientation,
// inside/outside) are predicates, so they are exact.

// CGAL's own debug checks re-run whole-mesh validations this file performs explicitly before each call (e.g.
// polygon_soup_to_polygon_mesh re-checks is_polygon_soup_a_polygon_mesh with std::set: a third of meshing time).
// Our assertions stay on (-UNDEBUG); only CGAL's internal ones are off, in this translation unit.
#define CGAL_NDEBUG 1

#include "CgalMeshOps.h"

#include <CGAL/AABB_face_graph_triangle_primitive.h>
#include <CGAL/AABB_traits.h>
#include <CGAL/AABB_tree.h>
#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Polygon_mesh_processing/connected_components.h>
#include <CGAL/Polygon_mesh_processing/manifoldness.h>
#include <CGAL/Polygon_mesh_processing/orient_polygon_soup.h>
#include <CGAL/Polygon_mesh_processing/orientation.h>
#include <CGAL/Polygon_mesh_processing/polygon_soup_to_polygon_mesh.h>
#include <CGAL/Polygon_mesh_processing/remesh.h>
#include <CGAL/Polygon_mesh_processing/repair_self_intersections.h>
#include <CGAL/Polygon_mesh_processing/self_intersections.h>
#include <CGAL/Side_of_triangle_mesh.h>
#include <CGAL/Surface_mesh.h>
#include <CGAL/Surface_mesh_simplification/Policies/Edge_collapse/Bounded_distance_placement.h>
#include <CGAL/Surface_mesh_simplification/Policies/Edge_collapse/Bounded_normal_change_filter.h>
#include <CGAL/Surface_mesh_simplification/Policies/Edge_collapse/Count_stop_predicate.h>
#include <CGAL/Surface_mesh_simplification/Policies/Edge_collapse/LindstromTurk_cost.h>
#include <CGAL/Surface_mesh_simplification/Policies/Edge_collapse/LindstromTurk_placement.h>
#include <CGAL/Surface_mesh_simplification/edge_collapse.h>

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "MeshChecks.h"
#include "jumeau/geometry/MeshAnalysis.h"

namespace jumeau::geometry {

namespace {

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_3;
using SurfaceMesh = CGAL::Surface_mesh<Point>;
namespace PMP = CGAL::Polygon_mesh_processing;
namespace SMS = CGAL::Surface_mesh_simplification;

using Soup = std::vector<std::array<std::size_t, 3>>;

std::vector<Point> soupPoints(const Mesh& mesh) {
    std::vector<Point> pts;
    pts.reserve(mesh.points.size());
    for (const auto& p : mesh.points) pts.emplace_back(p[0], p[1], p[2]);
    return pts;
}

Soup soupTriangles(const Mesh& mesh) {
    Soup tris;
    tris.reserve(mesh.triangles.size());
    for (const auto& t : mesh.triangles)
        tris.push_back(
            {static_cast<std::size_t>(t[0]), static_cast<std::size_t>(t[1]), static_cast<std::size_t>(t[2])});
    return tris;
}

// Same answer as PMP::is_polygon_soup_a_polygon_mesh for triangles (no repeated vertex in a triangle, each directed
// edge used once, the triangles around every vertex one fan), with hash maps and flat arrays instead of std::set:
// it ran twice per meshing and was a quarter of the time.
bool isOrientedManifold(const Mesh& mesh) {
    const std::size_t nv = mesh.points.size();
    std::unordered_set<std::uint64_t> directed;
    directed.reserve(mesh.triangles.size() * 3);
    std::vector<int> start(nv + 1, 0);
    for (const auto& t : mesh.triangles) {
        if (t[0] == t[1] || t[1] == t[2] || t[0] == t[2]) return false;
        for (int e = 0; e < 3; ++e) {
            const std::uint64_t key =
                (static_cast<std::uint64_t>(t[e]) << 32) | static_cast<std::uint32_t>(t[(e + 1) % 3]);
            if (!directed.insert(key).second) return false;
            ++start[t[e] + 1];
        }
    }
    for (std::size_t v = 0; v < nv; ++v) start[v + 1] += start[v];
    // Link of each vertex v: for its triangle (v, a, b) the link edge a -> b. Out- and in-degrees are at most one
    // (each directed edge is used once), so the link is paths and cycles; one fan = one of them.
    std::vector<std::array<int, 2>> link(start[nv]);
    std::vector<int> fill(start.begin(), start.end() - 1);
    for (const auto& t : mesh.triangles)
        for (int e = 0; e < 3; ++e) link[fill[t[e]]++] = {t[(e + 1) % 3], t[(e + 2) % 3]};
    for (std::size_t v = 0; v < nv; ++v) {
        const int b = start[v], n = start[v + 1] - b;
        if (n == 0) continue;
        auto next = [&](int a) {
            for (int k = b; k < b + n; ++k)
                if (link[k][0] == a) return link[k][1];
            return -1;
        };
        auto hasPredecessor = [&](int a) {
            for (int k = b; k < b + n; ++k)
                if (link[k][1] == a) return true;
            return false;
        };
        // Walk from a path start (a link vertex without predecessor) or, for a cycle, from anywhere.
        int first = link[b][0];
        for (int k = b; k < b + n; ++k)
            if (!hasPredecessor(link[k][0])) {
                first = link[k][0];
                break;
            }
        int steps = 0;
        for (int a = first, guard = 0; guard <= n; ++guard) {
            const int c = next(a);
            if (c < 0) break;
            ++steps;
            a = c;
            if (a == first) break;
        }
        if (steps != n) return false; // more than one fan around v
    }
    return true;
}

// Face i of the result is triangle i of the mesh (Surface_mesh numbers faces in insertion order).
// Returns false when the triangles do not form an oriented 2-manifold.
bool toSurfaceMesh(const Mesh& mesh, SurfaceMesh& sm) {
    if (!isOrientedManifold(mesh)) return false;
    PMP::polygon_soup_to_polygon_mesh(soupPoints(mesh), soupTriangles(mesh), sm);
    return true;
}

// For meshes that are not oriented manifolds: make one by duplicating vertices where needed, so that
// self-intersections can still be looked for. Face order is kept.
void soupToSurfaceMesh(const Mesh& mesh, SurfaceMesh& sm) {
    std::vector<Point> pts = soupPoints(mesh);
    Soup tris = soupTriangles(mesh);
    PMP::orient_polygon_soup(pts, tris);
    PMP::polygon_soup_to_polygon_mesh(pts, tris, sm);
}

Mesh fromSurfaceMesh(const SurfaceMesh& sm) {
    Mesh m;
    std::vector<int> index(sm.number_of_vertices() + sm.number_of_removed_vertices(), -1);
    for (auto v : sm.vertices()) {
        index[v.idx()] = static_cast<int>(m.points.size());
        const Point& p = sm.point(v);
        m.points.push_back({static_cast<float>(p.x()), static_cast<float>(p.y()), static_cast<float>(p.z())});
    }
    for (auto f : sm.faces()) {
        std::array<int, 3> t{};
        int k = 0;
        for (auto v : CGAL::vertices_around_face(sm.halfedge(f), sm)) {
            if (k < 3) t[k] = index[v.idx()];
            ++k;
        }
        if (k == 3) m.triangles.push_back(t);
    }
    return m;
}

double signedVolume(const SurfaceMesh& sm) {
    double sum = 0;
    for (auto f : sm.faces()) {
        auto h = sm.halfedge(f);
        const Point& a = sm.point(sm.source(h));
        const Point& b = sm.point(sm.target(h));
        const Point& c = sm.point(sm.target(sm.next(h)));
        sum += CGAL::to_double(CGAL::determinant(a - CGAL::ORIGIN, b - CGAL::ORIGIN, c - CGAL::ORIGIN));
    }
    return sum / 6.0;
}

} // namespace

std::string MeshReport::describe() const {
    std::ostringstream s;
    if (valid()) {
        s << "closed, manifold, outward-oriented, no self-intersection";
    } else {
        const char* sep = "";
        if (triangles == 0) {
            s << "empty";
            sep = ", ";
        }
        if (!closed) {
            s << sep << "open";
            sep = ", ";
        }
        if (!manifold) {
            s << sep << "non-manifold";
            sep = ", ";
        }
        if (!outwardOriented) {
            s << sep << "not outward-oriented";
            sep = ", ";
        }
        if (selfIntersecting) {
            s << sep << "self-intersecting";
        }
    }
    s << "; " << triangles << " triangles, " << components << " component(s), " << volumeMl << " ml, " << areaCm2
      << " cm2";
    return s.str();
}

MeshReport analyseMesh(const Mesh& mesh) {
    return detail::analyseMesh(mesh, std::nullopt);
}

MeshReport detail::analyseMesh(const Mesh& mesh, std::optional<bool> knownSelfIntersecting, const VertexLinks* links) {
    // Known self-intersection status: topology on flat arrays, CGAL only for what that cannot decide.
    if (knownSelfIntersecting)
        if (auto fast = fastReport(mesh, *knownSelfIntersecting, links)) return *fast;
    MeshReport r;
    r.triangles = mesh.triangleCount();
    r.volumeMl = mesh.signedVolumeMm3() / 1000.0;
    r.areaCm2 = mesh.areaMm2() / 100.0;
    if (mesh.empty() || !mesh.indicesValid()) return r;
    try {
        SurfaceMesh sm;
        if (toSurfaceMesh(mesh, sm)) {
            std::vector<SurfaceMesh::Halfedge_index> pinched;
            PMP::non_manifold_vertices(sm, std::back_inserter(pinched));
            r.manifold = pinched.empty();
            r.closed = CGAL::is_closed(sm);
        } else {
            soupToSurfaceMesh(mesh, sm);
            r.manifold = false;
            r.closed = CGAL::is_closed(sm);
        }
        auto ccMap = sm.add_property_map<SurfaceMesh::Face_index, std::size_t>("f:cc", 0).first;
        r.components = PMP::connected_components(sm, ccMap);
        r.selfIntersecting = knownSelfIntersecting ? *knownSelfIntersecting : PMP::does_self_intersect(sm);
        if (r.closed && r.manifold && !r.selfIntersecting) {
            // Orient every component so the whole bounds a volume (nested shells handled, cavities point inwards);
            // if that flips nothing and the volume is positive, the mesh was outward-oriented.
            const double before = signedVolume(sm);
            SurfaceMesh oriented = sm;
            PMP::orient_to_bound_a_volume(oriented);
            const double after = signedVolume(oriented);
            r.outwardOriented = before > 0 && std::abs(after - before) <= 1e-9 * std::abs(before) + 1e-12;
        }
    } catch (const std::exception&) {
        // A CGAL precondition failure means the mesh is not what the checks need: report it as invalid.
        r.manifold = false;
    }
    return r;
}

std::vector<std::size_t> selfIntersectingTriangles(const Mesh& mesh) {
    std::vector<std::size_t> out;
    if (mesh.empty() || !mesh.indicesValid()) return out;
    SurfaceMesh sm;
    if (!toSurfaceMesh(mesh, sm)) soupToSurfaceMesh(mesh, sm);
    std::vector<std::pair<SurfaceMesh::Face_index, SurfaceMesh::Face_index>> pairs;
    PMP::self_intersections(sm.faces(), sm, std::back_inserter(pairs));
    for (const auto& [a, b] : pairs) {
        out.push_back(a.idx());
        out.push_back(b.idx());
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<PointQuery> queryPoints(const Mesh& mesh, const std::vector<Vec3>& points) {
    std::vector<PointQuery> out(points.size());
    if (mesh.empty() || !mesh.indicesValid()) {
        for (auto& q : out) q.distanceMm = std::numeric_limits<double>::infinity();
        return out;
    }
    SurfaceMesh sm;
    const bool manifold = toSurfaceMesh(mesh, sm);
    if (!manifold) soupToSurfaceMesh(mesh, sm);
    using Primitive = CGAL::AABB_face_graph_triangle_primitive<SurfaceMesh>;
    using Tree = CGAL::AABB_tree<CGAL::AABB_traits<Kernel, Primitive>>;
    Tree tree(sm.faces().begin(), sm.faces().end(), sm);
    tree.accelerate_distance_queries();
    const bool closed = manifold && CGAL::is_closed(sm);
    std::optional<CGAL::Side_of_triangle_mesh<SurfaceMesh, Kernel>> side;
    if (closed) side.emplace(sm);
    for (std::size_t i = 0; i < points.size(); ++i) {
        const Point p(points[i].x, points[i].y, points[i].z);
        out[i].distanceMm = std::sqrt(CGAL::to_double(tree.squared_distance(p)));
        out[i].inside = side && (*side)(p) == CGAL::ON_BOUNDED_SIDE;
    }
    return out;
}

namespace detail {

Result<Mesh> decimate(const Mesh& mesh, std::size_t targetTriangles, double maxErrorMm) {
    try {
        SurfaceMesh sm;
        if (!toSurfaceMesh(mesh, sm)) return makeError(ErrorCode::InvalidInput, "not an oriented 2-manifold");
        // A closed triangle mesh has 3/2 edges per triangle; Count_stop_predicate counts edges.
        const std::size_t edgeThreshold = targetTriangles > 0 ? targetTriangles * 3 / 2 + 1 : 0;
        SMS::Count_stop_predicate<SurfaceMesh> stop(edgeThreshold);
        // One placement type whether or not an error bound is asked for (a bound of "infinity" accepts every
        // placement), so the collapse machinery is instantiated once.
        const double bound = maxErrorMm > 0 ? maxErrorMm : 1e30;
        SMS::Bounded_distance_placement<SMS::LindstromTurk_placement<SurfaceMesh>, Kernel> placement(bound);
        SMS::Bounded_normal_change_filter<> filter;
        SMS::edge_collapse(
            sm, stop,
            CGAL::parameters::get_cost(SMS::LindstromTurk_cost<SurfaceMesh>()).get_placement(placement).filter(filter));
        sm.collect_garbage();
        // Collapses can push a thin part through a nearby sheet; CGAL's local repair (remove the faces involved,
        // refill, smooth) usually fixes the few places. The caller re-checks the result either way.
        if (PMP::does_self_intersect(sm)) PMP::experimental::remove_self_intersections(sm);
        return fromSurfaceMesh(sm);
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, std::string("CGAL edge collapse: ") + e.what());
    }
}

Result<Mesh> remeshIsotropic(const Mesh& mesh, double edgeMm) {
    try {
        SurfaceMesh sm;
        if (!toSurfaceMesh(mesh, sm)) return makeError(ErrorCode::InvalidInput, "not an oriented 2-manifold");
        PMP::isotropic_remeshing(sm.faces(), edgeMm, sm, CGAL::parameters::number_of_iterations(3));
        sm.collect_garbage();
        return fromSurfaceMesh(sm);
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, std::string("CGAL isotropic remeshing: ") + e.what());
    }
}

} // namespace detail

} // namespace jumeau::geometry
