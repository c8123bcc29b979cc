#include "CellTable.h"

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <utility>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/Vec.h"

#include "CgalMeshOps.h"

namespace jumeau::geometry::detail {

namespace {

// Number of axes of a lattice direction (corner bits): 1 axis edge, 2 face diagonal, 3 cell diagonal.
constexpr std::array<int, 8> kAxes = {0, 1, 1, 2, 1, 2, 2, 3};

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

using Tri = std::array<int, 3>;
using Loop = std::vector<int>; // edge codes, in the direction the surface's orientation gives its boundary

// The cell-diagonal edge (corner 0 to corner 7); its midpoint is the cell centre.
constexpr int kCellDiagonal = 7;

struct Piece {
    std::vector<Loop> loops;
    bool hasCentre = false; // the cell diagonal crosses the surface in this piece
};

Vec3 corner(int c) {
    return {double(c & 1), double(c >> 1 & 1), double(c >> 2 & 1)};
}

// Midpoint of the lattice edge with code e.
Vec3 mid(int e) {
    return corner(e >> 3) + corner(e & 7) * 0.5;
}

// The code of the edge joining corners ca and cb (one's bits a subset of the other's, as on every tet edge).
int edgeCode(int ca, int cb) {
    const int low = (ca & cb) == ca ? ca : cb;
    const int high = low == ca ? cb : ca;
    return low << 3 | (high ^ low);
}

bool onAxisEdge(int e) {
    return kAxes[static_cast<std::size_t>(e & 7)] == 1;
}

// The cell faces (bit 2a + side) the midpoint of edge e lies on: two for an axis edge, none for the cell diagonal.
unsigned faces(int e) {
    const int low = e >> 3, dir = e & 7;
    if (dir == 7) return 0;
    unsigned out = 0;
    for (int a = 0; a < 3; ++a)
        if (dir != 1 << a) out |= 1u << (2 * a + (low >> a & 1));
    return out;
}

std::pair<int, int> undirected(int a, int b) {
    return {std::min(a, b), std::max(a, b)};
}

// The parts of a set of triangles joined through shared edges, each with its triangles (ascending) and its Euler
// characteristic V - E + F (1 for a disc, 0 for a tube). Parts come in the order of their union-find roots.
struct Part {
    std::vector<std::size_t> triangles;
    long euler = 0;
};

std::vector<Part> connectedParts(const std::vector<Tri>& tris) {
    std::map<std::pair<int, int>, std::vector<std::size_t>> edgeTris;
    for (std::size_t t = 0; t < tris.size(); ++t)
        for (int k = 0; k < 3; ++k) edgeTris[undirected(tris[t][k], tris[t][(k + 1) % 3])].push_back(t);
    std::vector<std::size_t> parent(tris.size());
    std::iota(parent.begin(), parent.end(), 0);
    auto find = [&](std::size_t t) {
        while (parent[t] != t) t = parent[t] = parent[parent[t]];
        return t;
    };
    for (const auto& [edge, users] : edgeTris)
        for (std::size_t i = 1; i < users.size(); ++i) parent[find(users[i - 1])] = find(users[i]);
    std::vector<Part> out;
    for (std::size_t root = 0; root < tris.size(); ++root) {
        if (find(root) != root) continue;
        Part part;
        std::set<int> vertices;
        std::set<std::pair<int, int>> edges;
        for (std::size_t t = 0; t < tris.size(); ++t) {
            if (find(t) != root) continue;
            part.triangles.push_back(t);
            for (int k = 0; k < 3; ++k) {
                vertices.insert(tris[t][k]);
                edges.insert(undirected(tris[t][k], tris[t][(k + 1) % 3]));
            }
        }
        part.euler = static_cast<long>(vertices.size()) - static_cast<long>(edges.size()) +
                     static_cast<long>(part.triangles.size());
        out.push_back(std::move(part));
    }
    return out;
}

// The pieces of the tetrahedra surface in the cell (connectedParts), each as its boundary loops straightened
// (face-diagonal vertices dropped: each sits on a cell face between two contour segments of that face, which become
// one chord). Throws if a piece is not a disc with one loop or a tube with two (never, for 0/1 masks: only the cell
// diagonal joins corners through the inside of the cell).
std::vector<Piece> pieces(int mask) {
    std::vector<Tri> surface;
    for (const auto& t : tetrahedraSurface(mask)) surface.push_back({t[0], t[1], t[2]});
    std::map<std::pair<int, int>, int> uses;
    for (const Tri& t : surface)
        for (int k = 0; k < 3; ++k) ++uses[undirected(t[k], t[(k + 1) % 3])];
    std::vector<Piece> out;
    for (const Part& part : connectedParts(surface)) {
        std::map<int, int> next; // boundary edges a -> b as the piece's triangles have them
        bool hasCentre = false;
        for (const std::size_t t : part.triangles)
            for (int k = 0; k < 3; ++k) {
                const int a = surface[t][k], b = surface[t][(k + 1) % 3];
                hasCentre |= a == kCellDiagonal;
                if (uses[undirected(a, b)] == 1) next[a] = b;
            }
        std::vector<Loop> loops;
        while (!next.empty()) {
            Loop loop;
            int v = next.begin()->first;
            while (next.count(v)) {
                const int w = next[v];
                next.erase(v);
                if (onAxisEdge(v))
                    loop.push_back(v);
                else if (kAxes[static_cast<std::size_t>(v & 7)] != 2)
                    throw std::logic_error("cell table: a cell-diagonal vertex on a piece's boundary");
                v = w;
            }
            if (loop.size() < 3) throw std::logic_error("cell table: a loop of fewer than three axis-edge vertices");
            loops.push_back(std::move(loop));
        }
        if (loops.empty() || loops.size() > 2 || part.euler != 2 - static_cast<long>(loops.size()))
            throw std::logic_error("cell table: case " + std::to_string(mask) +
                                   " has a piece that is neither a disc nor a tube");
        out.push_back({std::move(loops), hasCentre});
    }
    return out;
}

constexpr double kInfinite = std::numeric_limits<double>::infinity();

// Re-triangulates pieces on their loops' vertices: a disc by the polygon triangulation of least area, a tube by the
// band between its two loops of least area. An edge between two vertices on one cell face must be a contour segment
// of that face (so the surface meets each face only in its contour). Area plus a small term for edge lengths
// (ties, as on flat quads, go to the shorter diagonal).
class Triangulator {
public:
    explicit Triangulator(const std::vector<Piece>& all) {
        for (const auto& piece : all)
            for (const Loop& loop : piece.loops)
                for (std::size_t i = 0; i < loop.size(); ++i)
                    m_contour.push_back(undirected(loop[i], loop[(i + 1) % loop.size()]));
        std::sort(m_contour.begin(), m_contour.end());
    }

    double weight(int a, int b, int c) const {
        if (!allowed(a, b) || !allowed(b, c) || !allowed(c, a)) return kInfinite;
        const Vec3 p = mid(a), q = mid(b), r = mid(c);
        const double lengths = dot(q - p, q - p) + dot(r - q, r - q) + dot(p - r, p - r);
        return 0.5 * norm(cross(q - p, r - p)) + 1e-3 * lengths;
    }

    std::vector<Tri> disc(const Loop& p) const {
        const std::size_t k = p.size();
        std::vector<double> cost(k * k, 0);
        std::vector<std::size_t> split(k * k, 0);
        for (std::size_t len = 2; len < k; ++len)
            for (std::size_t i = 0; i + len < k; ++i) {
                const std::size_t j = i + len;
                double best = kInfinite;
                for (std::size_t m = i + 1; m < j; ++m) {
                    const double c = cost[i * k + m] + cost[m * k + j] + weight(p[i], p[m], p[j]);
                    if (c < best) {
                        best = c;
                        split[i * k + j] = m;
                    }
                }
                cost[i * k + j] = best;
            }
        if (!(cost[k - 1] < kInfinite)) return {};
        std::vector<Tri> out;
        std::vector<std::pair<std::size_t, std::size_t>> stack{{0, k - 1}};
        while (!stack.empty()) {
            const auto [i, j] = stack.back();
            stack.pop_back();
            if (j < i + 2) continue;
            const std::size_t m = split[i * k + j];
            out.push_back({p[i], p[m], p[j]});
            stack.emplace_back(i, m);
            stack.emplace_back(m, j);
        }
        return out;
    }

    // Rungs join a[s + i] and b[t - j] (indices mod the loop sizes); a step along a adds (a_i, a_i+1, b_j), one along
    // b adds (b_j-1, b_j, a_i): each triangle holds its loop edge in the loop's direction, so the band takes the
    // pieces' orientation.
    std::vector<Tri> tube(const Loop& a, const Loop& b) const {
        const std::size_t n = a.size(), m = b.size();
        auto A = [&](std::size_t s, std::size_t i) { return a[(s + i) % n]; };
        auto B = [&](std::size_t t, std::size_t j) { return b[(t + m * 2 - j % m) % m]; };
        double best = kInfinite;
        std::vector<Tri> out;
        std::vector<double> cost((n + 1) * (m + 1));
        std::vector<char> fromA((n + 1) * (m + 1));
        for (std::size_t s = 0; s < n; ++s)
            for (std::size_t t = 0; t < m; ++t) {
                std::fill(cost.begin(), cost.end(), kInfinite);
                cost[0] = 0;
                for (std::size_t i = 0; i <= n; ++i)
                    for (std::size_t j = 0; j <= m; ++j) {
                        const std::size_t at = i * (m + 1) + j;
                        if (i > 0) {
                            const double c = cost[at - (m + 1)] + weight(A(s, i - 1), A(s, i), B(t, j));
                            if (c < cost[at]) {
                                cost[at] = c;
                                fromA[at] = 1;
                            }
                        }
                        if (j > 0) {
                            const double c = cost[at - 1] + weight(B(t, j), B(t, j - 1), A(s, i));
                            if (c < cost[at]) {
                                cost[at] = c;
                                fromA[at] = 0;
                            }
                        }
                    }
                if (!(cost.back() < best)) continue;
                best = cost.back();
                out.clear();
                for (std::size_t i = n, j = m; i > 0 || j > 0;) {
                    if (fromA[i * (m + 1) + j]) {
                        out.push_back({A(s, i - 1), A(s, i), B(t, j)});
                        --i;
                    } else {
                        out.push_back({B(t, j), B(t, j - 1), A(s, i)});
                        --j;
                    }
                }
            }
        return out;
    }

private:
    bool allowed(int a, int b) const {
        return (faces(a) & faces(b)) == 0 || std::binary_search(m_contour.begin(), m_contour.end(), undirected(a, b));
    }
    std::vector<std::pair<int, int>> m_contour;
};

std::vector<Tri> triangulate(int mask) {
    const auto all = pieces(mask);
    const Triangulator triangulator(all);
    std::vector<Tri> out;
    for (const auto& piece : all) {
        std::vector<Tri> tris = piece.loops.size() == 1 ? triangulator.disc(piece.loops[0])
                                                        : triangulator.tube(piece.loops[0], piece.loops[1]);
        if (tris.empty() && piece.loops.size() == 1 && piece.hasCentre) {
            // Every triangulation of the loop alone would run an edge across a cell face: a cone from the cell
            // centre (the cell-diagonal vertex), whose edges all run inside the cell.
            const Loop& loop = piece.loops[0];
            for (std::size_t i = 0; i < loop.size(); ++i)
                tris.push_back({loop[i], loop[(i + 1) % loop.size()], kCellDiagonal});
        }
        if (tris.empty())
            throw std::logic_error("cell table: case " + std::to_string(mask) + " has a piece with no triangulation");
        out.insert(out.end(), tris.begin(), tris.end());
    }
    return out;
}

// The straightened contour on cell face `face` (bit 2a + side, as faces()) computed from that face's four corners
// alone: the split divides the face along its diagonal from the corner with the fewest bits to the one with the
// most (the same diagonal from both cells sharing the face); each half with mixed corners holds one segment; a
// segment pair meeting at the diagonal's midpoint becomes one chord. Undirected segments of axis-edge codes.
std::vector<std::pair<int, int>> faceContour(int mask, int face) {
    const int a = face / 2, side = face % 2;
    int b = -1, c = -1;
    for (int k = 0; k < 3; ++k)
        if (k != a) (b < 0 ? b : c) = k;
    const auto cornerAt = [&](int i, int j) { return side << a | i << b | j << c; };
    const auto inside = [&](int corner) { return (mask >> corner & 1) != 0; };
    const int c00 = cornerAt(0, 0), c10 = cornerAt(1, 0), c01 = cornerAt(0, 1), c11 = cornerAt(1, 1);
    std::vector<std::pair<int, int>> segments;
    for (const int side3 : {c10, c01}) {
        const int tri[3] = {c00, side3, c11};
        std::vector<int> crossings;
        for (int k = 0; k < 3; ++k)
            for (int l = k + 1; l < 3; ++l)
                if (inside(tri[k]) != inside(tri[l])) crossings.push_back(edgeCode(tri[k], tri[l]));
        if (crossings.size() == 2) segments.push_back(undirected(crossings[0], crossings[1]));
    }
    const int diagonal = edgeCode(c00, c11);
    std::vector<int> atDiagonal;
    std::vector<std::pair<int, int>> out;
    for (const auto& [p, q] : segments) {
        if (p == diagonal || q == diagonal)
            atDiagonal.push_back(p == diagonal ? q : p);
        else
            out.push_back({p, q});
    }
    if (atDiagonal.size() == 2) out.push_back(undirected(atDiagonal[0], atDiagonal[1]));
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

std::vector<std::array<EdgeCode, 3>> tetrahedraSurface(int mask) {
    std::vector<std::array<EdgeCode, 3>> tris;
    auto emit = [&](int a, int b, int c, const Vec3& inToOut) {
        const Vec3 p0 = mid(a), p1 = mid(b), p2 = mid(c);
        const auto code = [](int e) { return static_cast<EdgeCode>(e); };
        if (dot(cross(p1 - p0, p2 - p0), inToOut) >= 0)
            tris.push_back({code(a), code(b), code(c)});
        else
            tris.push_back({code(a), code(c), code(b)});
    };
    for (const auto& tet : kTets) {
        int in[4], out[4], nIn = 0, nOut = 0;
        for (int c : tet) (mask >> c & 1 ? in[nIn++] : out[nOut++]) = c;
        if (nIn == 0 || nOut == 0) continue;
        Vec3 ci, co;
        for (int i = 0; i < nIn; ++i) ci += corner(in[i]) / nIn;
        for (int i = 0; i < nOut; ++i) co += corner(out[i]) / nOut;
        const Vec3 dir = co - ci;
        if (nIn == 1) {
            emit(edgeCode(in[0], out[0]), edgeCode(in[0], out[1]), edgeCode(in[0], out[2]), dir);
        } else if (nIn == 3) {
            emit(edgeCode(in[0], out[0]), edgeCode(in[1], out[0]), edgeCode(in[2], out[0]), dir);
        } else {
            // The four crossings form a planar quad in this cyclic order.
            const int e0 = edgeCode(in[0], out[0]), e1 = edgeCode(in[0], out[1]);
            const int e2 = edgeCode(in[1], out[1]), e3 = edgeCode(in[1], out[0]);
            emit(e0, e1, e2, dir);
            emit(e0, e2, e3, dir);
        }
    }
    return tris;
}

const CaseTable& caseTable() {
    static const CaseTable table = [] {
        CaseTable t;
        for (int mask = 0; mask < 256; ++mask) {
            t.first[static_cast<std::size_t>(mask)] = static_cast<std::uint16_t>(t.tris.size());
            if (mask == 0 || mask == 255) continue;
            // A pattern and its complement have the same tetrahedra surface, reversed: they get the same triangles,
            // reversed, so two structures that fill a cell between them get the same surface there (which the
            // smoothing constraint at shared boundaries relies on).
            if (mask >= 128) {
                const std::size_t c = static_cast<std::size_t>(255 - mask);
                for (std::size_t i = t.first[c]; i < t.first[c + 1]; ++i)
                    t.tris.push_back({t.tris[i][0], t.tris[i][2], t.tris[i][1]});
                continue;
            }
            for (const Tri& tri : triangulate(mask))
                t.tris.push_back(
                    {static_cast<EdgeCode>(tri[0]), static_cast<EdgeCode>(tri[1]), static_cast<EdgeCode>(tri[2])});
        }
        t.first[256] = static_cast<std::uint16_t>(t.tris.size());
        return t;
    }();
    return table;
}

std::vector<std::array<EdgeCode, 3>> caseTriangles(int mask) {
    const CaseTable& table = caseTable();
    const auto m = static_cast<std::size_t>(mask);
    return {table.tris.begin() + table.first[m], table.tris.begin() + table.first[m + 1]};
}

std::string checkCellCase(int mask) {
    return checkCellCase(mask, caseTriangles(mask));
}

std::string checkCellCase(int mask, const std::vector<std::array<EdgeCode, 3>>& triangles) {
    std::vector<Tri> tris;
    for (const auto& t : triangles) tris.push_back({t[0], t[1], t[2]});
    const std::string name = "case " + std::to_string(mask) + ": ";
    if (mask == 0 || mask == 255) return tris.empty() ? "" : name + "triangles in a uniform cell";
    const std::vector<Piece> expectedPieces = pieces(mask);
    // The straightened contour, directed as the tetrahedra surface's boundary.
    std::map<std::pair<int, int>, int> contour; // undirected segment -> its start
    for (const auto& piece : expectedPieces)
        for (const Loop& loop : piece.loops)
            for (std::size_t i = 0; i < loop.size(); ++i)
                contour[undirected(loop[i], loop[(i + 1) % loop.size()])] = loop[i];
    // The contour on each face is the one the face's own corners give: the cell sharing the face has the same.
    for (int face = 0; face < 6; ++face) {
        std::vector<std::pair<int, int>> onFace;
        for (const auto& [segment, start] : contour)
            if ((faces(segment.first) & faces(segment.second) & 1u << face) != 0) onFace.push_back(segment);
        if (onFace != faceContour(mask, face)) return name + "a contour that is not its faces' own";
    }
    for (const auto& [segment, start] : contour)
        if ((faces(segment.first) & faces(segment.second)) == 0) return name + "a contour segment off the cell faces";
    std::map<std::pair<int, int>, int> directed; // a -> b uses
    for (const Tri& t : tris)
        for (int k = 0; k < 3; ++k) {
            const int a = t[k], b = t[(k + 1) % 3];
            if (!onAxisEdge(a) && a != kCellDiagonal) return name + "a vertex off the axis edges and the cell diagonal";
            ++directed[{a, b}];
            if ((faces(a) & faces(b)) != 0 && !contour.count(undirected(a, b)))
                return name + "an edge in a cell face that is not a contour segment";
        }
    for (const auto& [edge, uses] : directed) {
        if (uses != 1) return name + "a directed edge used twice";
        const auto it = contour.find(undirected(edge.first, edge.second));
        const bool reverse = directed.count({edge.second, edge.first}) != 0;
        if (it != contour.end() ? (reverse || it->second != edge.first) : !reverse)
            return name + "a boundary that is not the oriented contour";
    }
    for (const auto& [segment, start] : contour) {
        const int end = segment.first == start ? segment.second : segment.first;
        if (!directed.count({start, end})) return name + "a contour segment without a triangle";
    }
    // The same topology as the tetrahedra surface: as many pieces, each with the Euler characteristic (disc 1, tube 0)
    // of the piece with the same loops.
    {
        const std::vector<Part> parts = connectedParts(tris);
        std::vector<std::pair<int, long>> found, expected; // (a loop vertex, Euler characteristic)
        for (const Part& part : parts)
            for (const auto& piece : expectedPieces)
                for (const Loop& loop : piece.loops)
                    for (const std::size_t t : part.triangles)
                        if (std::find(tris[t].begin(), tris[t].end(), loop[0]) != tris[t].end()) {
                            found.emplace_back(loop[0], part.euler);
                            break;
                        }
        for (const auto& piece : expectedPieces)
            for (const Loop& loop : piece.loops)
                expected.emplace_back(loop[0], 2 - static_cast<long>(piece.loops.size()));
        std::sort(found.begin(), found.end());
        std::sort(expected.begin(), expected.end());
        if (parts.size() != expectedPieces.size() || found != expected)
            return name + "a piece whose topology differs from the tetrahedra surface's";
    }
    // One fan per vertex: its link edges (b -> c for each triangle (v, b, c)) form a single path.
    std::map<int, std::map<int, int>> links;
    for (const Tri& t : tris)
        for (int k = 0; k < 3; ++k) links[t[k]][t[(k + 1) % 3]] = t[(k + 2) % 3];
    for (const auto& [v, link] : links) {
        if (v == kCellDiagonal) {
            // Inside the cell: its fan must close.
            std::size_t steps = 0;
            int b = link.begin()->first;
            do {
                if (!link.count(b)) return name + "an open fan around the cell centre";
                b = link.at(b);
            } while (++steps <= link.size() && b != link.begin()->first);
            if (steps != link.size()) return name + "more than one fan around the cell centre";
            continue;
        }
        int start = -1;
        for (const auto& [b, c] : link) {
            bool hasIncoming = false;
            for (const auto& [b2, c2] : link) hasIncoming |= c2 == b;
            if (!hasIncoming) start = b;
        }
        if (start < 0) return name + "a vertex whose fan closes inside the cell";
        std::size_t steps = 0;
        for (int b = start; link.count(b); b = link.at(b)) ++steps;
        if (steps != link.size()) return name + "a vertex with more than one fan";
    }
    Mesh mesh;
    std::map<int, int> index;
    for (const Tri& t : tris)
        for (int e : t)
            if (!index.count(e)) {
                index[e] = static_cast<int>(mesh.points.size());
                const Vec3 p = mid(e);
                mesh.points.push_back({static_cast<float>(p.x), static_cast<float>(p.y), static_cast<float>(p.z)});
            }
    for (const Tri& t : tris) mesh.triangles.push_back({index[t[0]], index[t[1]], index[t[2]]});
    if (!selfIntersectingTriangles(mesh).empty()) return name + "self-intersecting triangles";
    return "";
}

} // namespace jumeau::geometry::detail
