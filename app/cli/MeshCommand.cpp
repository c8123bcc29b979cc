// jumeau-cli mesh INPUT --structure NAME|--label N [--frame LPS|RAS] [--target-triangles N] --out FILE [--json]
// One structure of a label volume, a DICOM mask series, or a folder of mask series named by structure (IRCAD
// layout) → a closed, manifold, outward-oriented surface file (STL/OBJ/PLY) in the chosen frame.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "CliCommands.h"
#include "jumeau/geometry/LabelMesher.h"
#include "jumeau/geometry/MeshIO.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/VolumeIO.h"
#include "jumeau/simulation/StructureMesher.h"

namespace jumeau::cli {

namespace {

namespace fs = std::filesystem;

struct MeshOptions {
    std::string input;
    std::string structure;
    int label = -1;
    std::string frame = "LPS";
    std::size_t targetTriangles = 0;
    int smoothing = geometry::MeshingOptions{}.smoothingIterations;
    double maxErrorMm = 0;
    double remeshMm = 0;
    std::string out;
    bool ascii = false;
    bool json = false;
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// What to mesh once INPUT is understood: a label volume, the value to take, and the structure's name/colour.
struct Source {
    imaging::Volume labels;
    std::uint16_t label = 0;
    std::string name;
    std::optional<std::array<double, 3>> colour;
};

Error inputError(const MeshOptions& o, const std::string& what) {
    return makeError(ErrorCode::InvalidInput, o.input + ": " + what);
}

std::string joinValues(const std::vector<std::uint16_t>& values) {
    std::string s;
    for (std::size_t i = 0; i < values.size() && i < 20; ++i) s += (i ? ", " : "") + std::to_string(values[i]);
    if (values.size() > 20) s += ", ...";
    return s;
}

// The label to take from a mask volume: --label when given (and present), else its only non-zero value.
Result<std::uint16_t> pickLabel(const MeshOptions& o, const imaging::Volume& volume, const std::string& what) {
    auto values = simulation::labelValues(volume);
    if (!values) return inputError(o, what + ": " + values.error().message);
    if (values->empty()) return inputError(o, what + ": empty mask (every voxel is 0)");
    if (o.label >= 0) {
        if (std::find(values->begin(), values->end(), o.label) == values->end())
            return inputError(o, what + ": no voxel has label " + std::to_string(o.label) +
                                     " (values present: " + joinValues(*values) + ")");
        return static_cast<std::uint16_t>(o.label);
    }
    if (values->size() > 1)
        return inputError(o, what + ": several labels (" + joinValues(*values) + "); choose one with --label");
    return values->front();
}

Result<Source> fromDicomFolder(const MeshOptions& o, const fs::path& folder, const std::string& name) {
    auto loaded = imaging::loadDicomFolder(folder);
    if (!loaded) return loaded.error(); // its message names the folder
    if (loaded->series.size() != 1)
        return inputError(o, folder.string() + " holds " + std::to_string(loaded->series.size()) +
                                 " series; a mask folder holds one");
    Source s;
    s.labels = loaded->series.front().volume;
    auto label = pickLabel(o, s.labels, folder.filename().string());
    if (!label) return label.error();
    s.label = *label;
    s.name = name;
    return s;
}

Result<Source> resolveInput(const MeshOptions& o) {
    const fs::path input(o.input);
    if (!fs::exists(input)) return makeError(ErrorCode::NotFound, o.input + ": no such file or folder");

    if (fs::is_regular_file(input)) {
        auto map = imaging::readLabelMap(input);
        if (!map) return map.error(); // its message names the file
        auto values = simulation::labelValues(map->labels());
        if (!values) return inputError(o, values.error().message);
        Source s;
        s.labels = map->labels();
        const imaging::Structure* st = nullptr;
        if (!o.structure.empty()) {
            st = map->findByName(o.structure);
            if (!st) {
                std::string names;
                for (const auto& x : map->structures()) names += (names.empty() ? "" : ", ") + x.name;
                return inputError(o, "no structure named '" + o.structure + "' (structures: " + names + ")");
            }
            if (o.label >= 0 && o.label != st->label)
                return inputError(o, "--structure " + o.structure + " has label " + std::to_string(st->label) +
                                         ", not " + std::to_string(o.label));
            s.label = st->label;
        } else {
            auto label = pickLabel(o, s.labels, "label volume");
            if (!label) return label.error();
            s.label = *label;
            st = map->findByLabel(s.label);
        }
        if (std::find(values->begin(), values->end(), s.label) == values->end())
            return inputError(o, "structure '" + (st ? st->name : std::to_string(s.label)) + "' (label " +
                                     std::to_string(s.label) + ") is empty: no voxel has that value");
        s.name = st ? st->name : "label " + std::to_string(s.label);
        if (st) s.colour = st->colour;
        return s;
    }

    // A folder: either one DICOM mask series, or sub-folders of mask series named by structure.
    std::vector<fs::path> subfolders;
    bool hasFiles = false;
    for (const auto& e : fs::directory_iterator(input)) {
        if (e.is_directory())
            subfolders.push_back(e.path());
        else if (e.is_regular_file())
            hasFiles = true;
    }
    if (!o.structure.empty()) {
        for (const auto& sub : subfolders)
            if (lower(sub.filename().string()) == lower(o.structure))
                return fromDicomFolder(o, sub, sub.filename().string());
        if (!hasFiles || !subfolders.empty()) {
            std::sort(subfolders.begin(), subfolders.end());
            std::string names;
            for (const auto& sub : subfolders) names += (names.empty() ? "" : ", ") + sub.filename().string();
            return inputError(o, "no structure folder named '" + o.structure + "' (structures: " + names + ")");
        }
    } else if (!hasFiles && !subfolders.empty()) {
        return inputError(o, "a folder of structure folders: choose one with --structure");
    }
    return fromDicomFolder(o, input, o.structure.empty() ? input.filename().string() : o.structure);
}

int runMesh(const MeshOptions& o) {
    const auto frame = geometry::frameFromString(o.frame);
    if (!frame) {
        std::cerr << "jumeau-cli mesh: --frame must be LPS or RAS, not '" << o.frame << "'\n";
        return 2;
    }
    if (!geometry::meshFormatFromPath(o.out)) {
        std::cerr << "jumeau-cli mesh: " << o.out << ": output must end in .stl, .obj or .ply\n";
        return 2;
    }
    auto source = resolveInput(o);
    if (!source) {
        std::cerr << "jumeau-cli mesh: " << source.error().message << "\n";
        return 1;
    }

    geometry::MeshingOptions options;
    options.smoothingIterations = o.smoothing;
    options.targetTriangles = o.targetTriangles;
    options.maxErrorMm = o.maxErrorMm;
    options.remeshEdgeMm = o.remeshMm;
    const auto start = std::chrono::steady_clock::now();
    auto grid = simulation::binaryGridForLabel(source->labels, source->label, source->name);
    if (!grid) {
        std::cerr << "jumeau-cli mesh: " << o.input << ": " << grid.error().message << "\n";
        return 1;
    }
    auto meshed = geometry::meshBinaryGrid(grid.value(), options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!meshed) {
        std::cerr << "jumeau-cli mesh: " << o.input << ": " << meshed.error().message << "\n";
        return 1;
    }
    for (const auto& w : meshed->warnings) std::cerr << "jumeau-cli mesh: warning: " << w << "\n";
    const geometry::MeshReport& report = meshed->report;
    if (!report.valid())
        std::cerr << "jumeau-cli mesh: warning: " << source->name
                  << ": the mesh written is not valid: " << report.describe() << "\n";

    geometry::MeshWriteOptions write;
    write.frame = *frame;
    write.binary = !o.ascii;
    write.name = source->name;
    write.colour = source->colour;
    if (auto w = geometry::writeMesh(meshed->mesh, o.out, write); !w) {
        std::cerr << "jumeau-cli mesh: " << w.error().message << "\n";
        return 1;
    }

    if (o.json) {
        const nlohmann::ordered_json j = {{"structure", source->name},
                                          {"triangles", report.triangles},
                                          {"volumeMl", report.volumeMl},
                                          {"areaCm2", report.areaCm2},
                                          {"closed", report.closed},
                                          {"manifold", report.manifold},
                                          {"selfIntersecting", report.selfIntersecting},
                                          {"seconds", seconds}};
        std::cout << j.dump() << "\n";
    } else {
        char line[256];
        std::snprintf(line, sizeof line, "%s: %zu triangles, %.2f ml (voxels %.2f ml), %.2f cm2, %s, %.2f s\n",
                      source->name.c_str(), report.triangles, report.volumeMl, meshed->voxelVolumeMl, report.areaCm2,
                      report.valid() ? "closed, manifold, no self-intersection" : report.describe().c_str(), seconds);
        std::cout << line << "written to " << o.out << " (" << geometry::toString(*frame) << ", mm)\n";
    }
    return report.valid() ? 0 : 3;
}

} // namespace

void registerMeshCommand(CLI::App& app) {
    auto o = std::make_shared<MeshOptions>();
    CLI::App* cmd = app.add_subcommand(
        "mesh",
        "Mesh one structure into a closed, manifold surface (STL, OBJ or PLY); exit 3 if the mesh fails checks");
    cmd->add_option("INPUT", o->input,
                    "Label volume (.nrrd, .seg.nrrd, .nii.gz, .mha), DICOM mask series folder, or folder of mask "
                    "series named by structure")
        ->required();
    cmd->add_option("--structure", o->structure, "Structure name (label table, or sub-folder of INPUT)");
    cmd->add_option("--label", o->label, "Label value (e.g. 255 for a DICOM mask)")->check(CLI::Range(1, 65535));
    cmd->add_option("--frame", o->frame, "Frame of the written coordinates: LPS (DICOM) or RAS (Slicer)")
        ->capture_default_str();
    cmd->add_option("--target-triangles", o->targetTriangles, "Decimate to this many triangles (0 = no decimation)");
    cmd->add_option("--max-error", o->maxErrorMm, "Decimate while vertices stay within this many mm (0 = off)");
    cmd->add_option("--smoothing", o->smoothing, "Smoothing passes (windowed-sinc low-pass; 0 = none)")
        ->capture_default_str()
        ->check(CLI::Range(0, 500));
    cmd->add_option("--remesh", o->remeshMm, "Isotropic remeshing edge length in mm (0 = off)");
    cmd->add_option("--out", o->out, "Output file: .stl, .obj or .ply")->required();
    cmd->add_flag("--ascii", o->ascii, "ASCII STL/PLY instead of binary");
    cmd->add_flag("--json", o->json,
                  "Print {structure, triangles, volumeMl, areaCm2, closed, manifold, selfIntersecting, seconds}");
    cmd->callback([o] { setExitCode(runMesh(*o)); });
}

} // namespace jumeau::cli
