#pragma once
// Internal: the CGAL operations of the meshing chain. All CGAL code lives in CgalMeshOps.cpp (one translation
// unit, because CGAL templates are slow to compile), behind this std-only interface.

#include <cstddef>
#include <optional>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/MeshAnalysis.h"
#include "jumeau/geometry/Result.h"

namespace jumeau::geometry::detail {

struct VertexLinks;

// analyseMesh, skipping the self-intersection test (the slowest check: seconds per million triangles) when the
// caller has just run it on the same mesh; `links`, when given, are the mesh's vertex links.
MeshReport analyseMesh(const Mesh& mesh, std::optional<bool> knownSelfIntersecting,
                       const VertexLinks* links = nullptr);

// Edge-collapse decimation (Lindstrom-Turk cost and placement, which preserves volume to first order), with a
// normal-change filter so collapses do not flip faces, then CGAL's local self-intersection repair where collapses
// pushed a thin part through a nearby sheet. Stops at targetTriangles (0 = no budget) or when no collapse keeps new
// vertices within maxErrorMm of the input (0 = no bound). The caller checks the result.
Result<Mesh> decimate(const Mesh& mesh, std::size_t targetTriangles, double maxErrorMm);

// PMP::isotropic_remeshing to edgeMm (3 iterations), border-free input expected.
Result<Mesh> remeshIsotropic(const Mesh& mesh, double edgeMm);

} // namespace jumeau::geometry::detail
