#pragma once
// Structures of a label map → mesh files a surgeon can print or open in other tools: one file per structure
// (STL, OBJ, PLY) or one combined scene (OBJ with a group and material per structure, or PLY with vertex colours),
// in LPS or RAS millimetres with the frame written into each file. Every mesh is checked (closed, manifold, no
// self-intersection) and the report says so per structure: an invalid mesh is never written silently.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/MeshAnalysis.h"
#include "jumeau/geometry/MeshIO.h"
#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/LabelMap.h"

namespace jumeau::simulation {

struct MeshExportOptions {
    std::vector<std::uint16_t> labels; // empty: every structure except the body outline
    geometry::MeshFormat format = geometry::MeshFormat::Stl;
    bool binary = true;                           // STL and PLY
    geometry::Frame frame = geometry::Frame::RAS; // what Slicer and most 3D tools assume
    bool combined = false;                        // one scene file (OBJ or PLY; STL has no groups)
    std::size_t targetTriangles = 0;              // per structure; 0 = no budget
};

struct ExportedMesh {
    std::string structure;
    std::uint16_t label = 0;
    std::filesystem::path file;
    geometry::MeshReport report;
    double voxelVolumeMl = 0;
    std::vector<std::string> warnings;
};

struct MeshExportReport {
    std::vector<ExportedMesh> meshes;
    std::vector<std::string> warnings; // per structure problems in plain words ("portal vein: not closed ...")
    std::size_t invalidCount() const;
};

// `target` is a folder (one file per structure, named after it, e.g. "Portal vein.stl") or, when combined, the
// scene file (its extension must match the format). Files are written only after every structure meshed, so a
// failure or Cancel leaves nothing half-exported. Errors name the structure or the file.
Result<MeshExportReport> exportMeshes(const imaging::LabelMap& labels, const std::filesystem::path& target,
                                      const MeshExportOptions& options = {}, const ProgressFn& progress = {});

// A file name for a structure: its name with characters that are not portable in file names replaced by '_'.
std::string meshFileStem(const std::string& structureName);

} // namespace jumeau::simulation
