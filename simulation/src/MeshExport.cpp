#include "jumeau/simulation/MeshExport.h"

#include <algorithm>
#include <system_error>

#include "jumeau/simulation/StructureMesher.h"

namespace jumeau::simulation {

namespace fs = std::filesystem;

std::size_t MeshExportReport::invalidCount() const {
    return static_cast<std::size_t>(
        std::count_if(meshes.begin(), meshes.end(), [](const ExportedMesh& m) { return !m.report.valid(); }));
}

std::string meshFileStem(const std::string& structureName) {
    std::string stem;
    for (char ch : structureName) {
        const bool portable = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                              ch == ' ' || ch == '-' || ch == '_' || ch == '.' || ch == '(' || ch == ')';
        stem += portable ? ch : '_';
    }
    while (!stem.empty() && (stem.back() == ' ' || stem.back() == '.')) stem.pop_back();
    return stem.empty() ? std::string("structure") : stem;
}

namespace {

const char* extensionOf(geometry::MeshFormat f) {
    switch (f) {
    case geometry::MeshFormat::Stl: return ".stl";
    case geometry::MeshFormat::Obj: return ".obj";
    case geometry::MeshFormat::Ply: return ".ply";
    }
    return ".stl";
}

} // namespace

Result<MeshExportReport> exportMeshes(const imaging::LabelMap& labels, const fs::path& target,
                                      const MeshExportOptions& options, const ProgressFn& progress) {
    if (labels.empty()) return makeError(ErrorCode::InvalidInput, "nothing to export: the case has no segmentation");
    if (options.combined && options.format == geometry::MeshFormat::Stl)
        return makeError(ErrorCode::InvalidInput,
                         "STL cannot hold several structures in one file: choose OBJ or PLY for a combined scene");
    if (options.combined) {
        const auto format = geometry::meshFormatFromPath(target);
        if (!format || *format != options.format)
            return makeError(ErrorCode::InvalidInput, target.string() + ": a combined " +
                                                          std::string(extensionOf(options.format) + 1) +
                                                          " scene needs a file ending in " + extensionOf(options.format));
    }

    // Which structures: the given labels (each must exist), else everything but the body outline.
    std::vector<const imaging::Structure*> chosen;
    if (options.labels.empty()) {
        for (const auto& s : labels.structures())
            if (s.category != imaging::StructureCategory::Body) chosen.push_back(&s);
    } else {
        for (auto label : options.labels) {
            const auto* s = labels.findByLabel(label);
            if (!s) return makeError(ErrorCode::InvalidInput, "no structure with label " + std::to_string(label));
            chosen.push_back(s);
        }
    }
    if (chosen.empty()) return makeError(ErrorCode::InvalidInput, "no structure to export");

    geometry::MeshingOptions meshing;
    meshing.targetTriangles = options.targetTriangles;
    MeshExportReport report;
    std::vector<geometry::SceneItem> scene;
    for (std::size_t i = 0; i < chosen.size(); ++i) {
        const auto& s = *chosen[i];
        const double from = static_cast<double>(i) / static_cast<double>(chosen.size());
        const double span = 0.9 / static_cast<double>(chosen.size());
        if (!reportProgress(progress, from * 0.9, "meshing " + s.name)) return makeError(ErrorCode::Cancelled, "cancelled");
        if (labels.voxelCount(s.label) == 0) {
            report.warnings.push_back(s.name + ": no voxels, not exported");
            continue;
        }
        auto meshed = meshStructure(labels, s.label, meshing, [&](double f, const std::string& m) {
            return reportProgress(progress, from * 0.9 + span * f, s.name + ": " + m);
        });
        if (!meshed) {
            if (meshed.error().code == ErrorCode::Cancelled) return meshed.error();
            return makeError(meshed.error().code, s.name + ": " + meshed.error().message);
        }
        ExportedMesh e;
        e.structure = s.name;
        e.label = s.label;
        e.report = meshed->report;
        e.voxelVolumeMl = meshed->voxelVolumeMl;
        e.warnings = meshed->warnings;
        if (!e.report.valid()) report.warnings.push_back(s.name + ": " + e.report.describe() + " (written anyway, check it)");
        for (const auto& w : e.warnings) report.warnings.push_back(s.name + ": " + w);
        scene.push_back({s.name, s.colour, std::move(meshed->mesh)});
        report.meshes.push_back(std::move(e));
    }
    if (scene.empty()) return makeError(ErrorCode::InvalidInput, "none of the chosen structures has voxels");

    // Everything meshed: now write (a Cancel above left no files behind).
    if (!reportProgress(progress, 0.92, "writing files")) return makeError(ErrorCode::Cancelled, "cancelled");
    geometry::MeshWriteOptions write;
    write.frame = options.frame;
    write.binary = options.binary;
    std::error_code ec;
    if (options.combined) {
        if (!target.parent_path().empty()) fs::create_directories(target.parent_path(), ec);
        if (auto w = geometry::writeScene(scene, target, write); !w) return w.error();
        for (auto& m : report.meshes) m.file = target;
    } else {
        fs::create_directories(target, ec);
        if (ec) return makeError(ErrorCode::IoError, target.string() + ": cannot create the folder (" + ec.message() + ")");
        for (std::size_t i = 0; i < scene.size(); ++i) {
            write.name = scene[i].name;
            write.colour = scene[i].colour;
            const fs::path file = target / (meshFileStem(scene[i].name) + extensionOf(options.format));
            if (auto w = geometry::writeMesh(scene[i].mesh, file, write); !w) return w.error();
            report.meshes[i].file = file;
        }
    }
    reportProgress(progress, 1.0, "exported " + std::to_string(scene.size()) + " structure(s)");
    return report;
}

} // namespace jumeau::simulation
