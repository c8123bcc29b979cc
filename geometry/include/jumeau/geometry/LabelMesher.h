#pragma once
// Binary voxel mask → closed, 2-manifold, outward-oriented, self-intersection-free triangle surface.
// The mask comes as a plain grid so geometry/ knows nothing of imaging (simulation/StructureMesher adapts a
// LabelMap). Algorithm and reasons: docs/meshing.md.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/MeshAnalysis.h"
#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"

namespace jumeau::geometry {

// Voxel states of a BinaryGrid.
enum VoxelState : std::uint8_t {
    Outside = 0,
    Inside = 1,
    // Outside this structure but inside another one: smoothing keeps the surface from moving past the middle
    // between the two voxels, so separately meshed neighbours do not overlap.
    Neighbour = 2,
};

// Same geometry convention as imaging::ImageGeometry: lps = origin + direction * diag(spacing) * index, voxel
// centres at integer indices, i fastest in `voxels`. Voxels beyond the grid count as Outside, so a structure
// touching the border is closed.
struct BinaryGrid {
    std::array<int, 3> size{0, 0, 0};
    Vec3 spacing{1, 1, 1};
    Vec3 origin{0, 0, 0};
    Mat3 direction;
    std::vector<std::uint8_t> voxels; // VoxelState per voxel
    std::string name;                 // for messages ("liver")

    std::size_t voxelCount() const {
        return static_cast<std::size_t>(size[0]) * static_cast<std::size_t>(size[1]) *
               static_cast<std::size_t>(size[2]);
    }
    std::size_t insideCount() const;
};

struct MeshingOptions {
    // Smoothing passes of the windowed-sinc low-pass filter (one uniform Laplacian each; 0 = no smoothing), then two
    // constrained Taubin iterations; each vertex held within half a voxel of where the voxel surface had it.
    int smoothingIterations = 12;
    // Restore the voxel volume after smoothing (a uniform normal offset within the same constraint).
    bool preserveVolume = true;
    // Decimation (CGAL edge collapse, Lindstrom-Turk placement): stop at this many triangles (0 = no budget)...
    std::size_t targetTriangles = 0;
    // ...and/or move no new vertex further than this from the smoothed surface (0 = no bound). With a bound and
    // no budget, collapses go on while the bound allows.
    double maxErrorMm = 0;
    // Isotropic remeshing to this edge length after decimation (0 = off).
    double remeshEdgeMm = 0;
};

struct MeshingResult {
    Mesh mesh;
    MeshReport report;                 // checked with CGAL on the returned mesh
    double voxelVolumeMl = 0;          // inside voxels * voxel volume
    std::size_t inputTriangles = 0;    // before decimation
    std::vector<std::string> warnings; // what was given up (e.g. decimation undone because it self-intersected)
    // Wall time of each stage in order ("extract", "smooth", "self-intersections", ...), for profiling.
    std::vector<std::pair<std::string, double>> stageSeconds;
};

// Errors: InvalidInput for an empty mask, a grid whose size does not match its voxels, or a degenerate
// geometry; Cancelled when progress returns false. A result whose report is not valid() is never returned
// silently: the mesh falls back to the unsmoothed surface, which is valid by construction.
Result<MeshingResult> meshBinaryGrid(const BinaryGrid& grid, const MeshingOptions& options = {},
                                     const ProgressFn& progress = {});

} // namespace jumeau::geometry
