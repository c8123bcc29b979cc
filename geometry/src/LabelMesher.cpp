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
#include <stdexcept>
#include <tuple>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "CellTable.h"
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
// Components this small (a sphere of radius 5 voxels has about 470 vertices; the filter reaches about as far as it
// has passes) lose their shape under the low-pass filter with its output-only clamp: they get 20 constrained Taubin
// iterations instead. Above it the filter fits better (SmallSpheresKeepTheirShape; docs/meshing.md, step 3).
constexpr std::size_t kSmallComponent = 500;
constexpr int kSmallComponentTaubin = 20;

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

using detail::caseTable;
using detail::CaseTable;
using detail::EdgeCode;

// A surface vertex: the midpoint of a lattice edge from an inside voxel a to an outside voxel b (work-grid index
// coordinates), an axis-aligned edge or, in a few cell patterns, a cell diagonal. Smoothing may move it within half a
// voxel of that midpoint; when b belongs to another structure, not across the shared surface (see
// ConstrainedSmoother::constrain). 16 bytes (the smoother's passes read it for every vertex): doubled index
// coordinates of the midpoint, flags. Extraction makes them so and the join copies them.
constexpr std::uint8_t kNeighbourFlag = 1;
struct SurfaceVertex {
    std::array<std::int32_t, 3> p2;
    std::uint8_t flags; // kNeighbourFlag

    Vec3 mid() const { return Vec3{double(p2[0]), double(p2[1]), double(p2[2])} * 0.5; }
    bool neighbour() const { return (flags & kNeighbourFlag) != 0; }
};

struct Extraction {
    std::vector<SurfaceVertex> vertices;
    std::vector<std::array<int, 3>> triangles; // outward in index space
};

// The surface of the cells with z in [z0, z1) (see extractSurface), numbered as a serial pass over them would.
struct ExtractionChunk {
    int z0 = 0, z1 = 0;
    std::size_t work = 0; // RowInfo::pairWork summed, for the reserves
    std::vector<SurfaceVertex> vertices;
    std::vector<std::array<int, 3>> triangles;
    std::vector<std::pair<std::size_t, int>> bottomShared; // (slot, vertex) on layer z0's in-plane edges
    std::vector<std::pair<std::size_t, int>> topShared;    // (slot, vertex) on layer z1's in-plane edges
    // Join: global vertex number per vertex, first new global vertex.
    std::vector<int> global;
    std::size_t vertexBase = 0;
};

// Per-thread vertex slots: the lattice edges whose low end is on layer z, in slab[z & 1], kSlotsPerPoint per lattice
// point (the +x, +y and +z edges and the cell diagonal of the cell there); all -1 between chunks (reset through
// `used`).
constexpr std::size_t kSlotsPerPoint = 4;
struct SlotScratch {
    std::array<std::vector<int>, 2> slab;
    std::array<std::vector<std::size_t>, 2> used;
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

// Extracts chunk.z0 .. chunk.z1. False when cancelled.
bool extractChunk(const WorkGrid& w, const RowInfo& rows, ExtractionChunk& chunk, SlotScratch& scratch,
                  const std::function<bool()>& layerDone) {
    const CaseTable& table = caseTable();
    const int nx = w.n[0], ny = w.n[1], z0 = chunk.z0, z1 = chunk.z1;
    const std::size_t layer = static_cast<std::size_t>(nx) * static_cast<std::size_t>(ny);
    for (auto& s : scratch.slab)
        if (s.size() != layer * kSlotsPerPoint) s.assign(layer * kSlotsPerPoint, -1);
    auto& slab = scratch.slab;
    auto& used = scratch.used;
    auto& vertices = chunk.vertices;
    auto& triangles = chunk.triangles;
    // About 1-2 triangles and half as many vertices per unit of work.
    triangles.reserve(chunk.work * 2);
    vertices.reserve(chunk.work);
    // Slot of each edge code relative to the cell's low corner; bit 5 of the code (the low corner's z bit) says
    // which layer. Directions 1, 2, 4 (axis edges) and 7 (the cell diagonal) take slots 0 to 3.
    constexpr std::array<std::size_t, 8> kSlotOfDir = {0, 0, 1, 0, 2, 0, 0, 3};
    std::array<std::size_t, 64> offset{};
    for (int e = 0; e < 64; ++e)
        offset[static_cast<std::size_t>(e)] = (static_cast<std::size_t>(e >> 4 & 1) * static_cast<std::size_t>(nx) +
                                               static_cast<std::size_t>(e >> 3 & 1)) *
                                                  kSlotsPerPoint +
                                              kSlotOfDir[static_cast<std::size_t>(e & 7)];
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
                const bool lowInside = w.at(px, py, pz) == Inside;
                SurfaceVertex v;
                v.p2 = {px + qx, py + qy, pz + qz};
                v.flags = (lowInside ? w.at(qx, qy, qz) : w.at(px, py, pz)) == Neighbour ? kNeighbourFlag : 0;
                vertices.push_back(v);
                return slot;
            };
            // Corner bits of a column x: (x,y,z) 1, (x,y+1,z) 4, (x,y,z+1) 16, (x,y+1,z+1) 64; shifted by one for x+1.
            auto column = [&](int x) {
                return (r00[x] == Inside ? 1 : 0) | (r10[x] == Inside ? 4 : 0) | (r01[x] == Inside ? 16 : 0) |
                       (r11[x] == Inside ? 64 : 0);
            };
            int left = column(0);
            const std::size_t rowSlot = static_cast<std::size_t>(y) * static_cast<std::size_t>(nx) * kSlotsPerPoint;
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
                const std::size_t cellSlot = rowSlot + static_cast<std::size_t>(x) * kSlotsPerPoint;
                for (std::size_t i = table.first[mask]; i < table.first[mask + 1]; ++i) {
                    const auto& tri = table.tris[i];
                    triangles.push_back(
                        {vertexOn(x, cellSlot, tri[0]), vertexOn(x, cellSlot, tri[1]), vertexOn(x, cellSlot, tri[2])});
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
    return !cancelled;
}

// The surface of the voxel mask: per cell, the triangles of caseTable() (CellTable.h), which together make a closed
// 2-manifold without self-intersections whatever the mask (docs/meshing.md, "Pipeline and why", step 2). One pass over
// the cells; vertices are shared through two layers of per-lattice-point slots (no hash map). The z range is cut into
// slabs of about equal surface (their number depends on the mask only), extracted independently (on meshingThreads()
// threads), then joined: the vertices on the in-plane edges of each shared lattice layer are identified through the
// slots, the others numbered in slab order. The result depends on the mask only, not on the thread count or timing.
Result<Extraction> extractSurface(const WorkGrid& w, const ProgressFn& progress) {
    if (!reportProgress(progress, 0.0, "extracting surface"))
        return makeError(ErrorCode::Cancelled, "meshing cancelled");
    const int nx = w.n[0], ny = w.n[1], nz = w.n[2];
    // The cell table is built on first use: here, on the calling thread, so that a failure to build it (never, as
    // CellTableTest shows) reaches the caller as an error instead of escaping from a worker thread.
    try {
        (void)caseTable();
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, std::string("surface extraction: ") + e.what());
    }
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

    // Join. Global numbers, slab by slab: the vertices on the layer shared with the slab below were numbered there.
    // Each slab counts and then numbers its own vertices (in parallel), after those of the slabs before it; then,
    // slab by slab, the shared ones take the numbers the slab below gave them.
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
            for (std::size_t i = 0; i < ch.global.size(); ++i) own[c] += ch.global[i] == -1;
            live[c] = ch.triangles.size();
        });
        for (std::size_t c = 0; c < chunks.size(); ++c) {
            chunks[c].vertexBase = nv;
            nv += own[c];
            ntri += live[c];
        }
        eachChunk([&](std::size_t, ExtractionChunk& ch) {
            auto next = static_cast<int>(ch.vertexBase);
            for (std::size_t i = 0; i < ch.global.size(); ++i)
                if (ch.global[i] == -1) ch.global[i] = next++;
        });
        std::vector<int> top(static_cast<std::size_t>(nx) * static_cast<std::size_t>(ny) * kSlotsPerPoint, -1);
        for (std::size_t c = 0; c < chunks.size(); ++c) {
            ExtractionChunk& ch = chunks[c];
            for (const auto& [s, v] : ch.bottomShared) {
                if (top[s] < 0) return makeError(ErrorCode::Internal, "surface extraction: unmatched slab vertex");
                ch.global[static_cast<std::size_t>(v)] = top[s];
            }
            if (c > 0)
                for (const auto& sv : chunks[c - 1].topShared) top[sv.first] = -1;
            for (const auto& [s, v] : ch.topShared) top[s] = ch.global[static_cast<std::size_t>(v)];
        }
    }
    // Appended in order (one write per element, no zero-filling first); vertices and triangles on two threads.
    out.vertices.reserve(nv);
    out.triangles.reserve(ntri);
    auto fillVertices = [&] {
        for (const ExtractionChunk& ch : chunks)
            for (std::size_t i = 0; i < ch.vertices.size(); ++i) {
                // Skip those numbered by the slab below.
                if (ch.global[i] < static_cast<int>(ch.vertexBase)) continue;
                out.vertices.push_back(ch.vertices[i]);
            }
    };
    auto fillTriangles = [&] {
        for (const ExtractionChunk& ch : chunks)
            for (const auto& tri : ch.triangles)
                out.triangles.push_back({ch.global[static_cast<std::size_t>(tri[0])],
                                         ch.global[static_cast<std::size_t>(tri[1])],
                                         ch.global[static_cast<std::size_t>(tri[2])]});
    };
    runTasks(std::min(threads, 2u), [&](unsigned t) {
        if (t == 0) fillVertices();
        if (t == 1 || threads == 1) fillTriangles();
    });
    return out;
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
        // At a boundary shared with another structure, the normal of the unsmoothed surface (index space, area
        // weighted): where the cells around hold only the two structures, the other structure's unsmoothed surface is
        // the same there, with the opposite normal.
        if (std::any_of(ex.vertices.begin(), ex.vertices.end(), [](const SurfaceVertex& v) { return v.neighbour(); })) {
            m_sharedNormal.resize(ex.vertices.size());
            parallelChunks(ex.vertices.size(), [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i)
                    m_sharedNormal[i] = ex.vertices[i].neighbour() ? fanNormal(i) : Vec3{};
            });
        }
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

    // Constrained Taubin iterations on the given vertices only (whole components, so every neighbour is among them),
    // from their unsmoothed positions.
    void taubinOn(const std::vector<int>& vertices, int iterations) {
        if (vertices.empty()) return;
        for (int v : vertices) m_pos[static_cast<std::size_t>(v)] = m_ex.vertices[static_cast<std::size_t>(v)].mid();
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
            for (std::size_t i = b; i < e; ++i) out[i] = normalized(m_frame.areaMap * fanNormal(i));
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
    // Area-weighted normal of vertex i's fan at the current positions, index space, not normalised.
    Vec3 fanNormal(std::size_t i) const {
        Vec3 n;
        for (int k = m_adj.start[i]; k < m_adj.start[i + 1]; ++k)
            n += cross(m_pos[static_cast<std::size_t>(m_adj.nbr[k])] - m_pos[i],
                       m_pos[static_cast<std::size_t>(m_adj.opposite[k])] - m_pos[i]);
        return n;
    }

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
    // bound). At a boundary shared with another structure, also on this structure's side of the plane through the
    // midpoint normal to the unsmoothed surface: where the cells around hold only the two structures, the other
    // structure's vertex there is held on the other side of the same plane (at the rim of a contact, where a cell also
    // holds a third label or background, the planes differ; docs/meshing.md, step 3). A plane normal to the vertex's
    // own lattice edge, tried first, let vertices slide along an oblique boundary into the other structure: 0.3 mm
    // deep at 1 mm voxels. Where the projection onto the plane leaves the box, the offset is scaled back into it (the
    // midpoint satisfies both).
    __attribute__((always_inline)) Vec3 constrain(std::size_t i, const Vec3& p) const {
        const SurfaceVertex& v = m_ex.vertices[i];
        const Vec3 mid = v.mid();
        Vec3 d = p - mid;
        d.x = std::clamp(d.x, -0.5, 0.5);
        d.y = std::clamp(d.y, -0.5, 0.5);
        d.z = std::clamp(d.z, -0.5, 0.5);
        if (v.neighbour()) {
            const Vec3& n = m_sharedNormal[i];
            const double along = dot(d, n);
            if (along > 0) {
                d = d - n * (along / dot(n, n));
                const double largest = std::max({std::abs(d.x), std::abs(d.y), std::abs(d.z)});
                if (largest > 0.5) d = d * (0.5 / largest);
            }
        }
        return mid + d;
    }

    const Extraction& m_ex;
    const Frame3& m_frame;
    Adjacency m_adj;
    std::optional<detail::ComponentLabels> m_components;
    std::vector<double> m_invValence; // 1 / number of neighbours
    std::vector<Vec3> m_pos;          // index space
    std::vector<Vec3> m_sharedNormal; // see constrain(); empty when no vertex borders another structure
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
    const Extraction& ex = extracted.value();

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
        // The low-pass filter clamps only its output. Small components start again from their unsmoothed positions,
        // so the filter is skipped when every component is small (components do not interact).
        const std::vector<int> small = smoother.smallComponents(kSmallComponent);
        if (small.size() < ex.vertices.size()) smoother.windowedSinc(options.smoothingIterations, kPassBand);
        smoother.taubinOn(small, kSmallComponentTaubin);
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
