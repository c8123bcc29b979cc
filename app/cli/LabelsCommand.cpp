// jumeau-cli labels import|edit|export: the workstation's segmentation work, headless.
//   labels import REFERENCE SOURCE... --out LABELS   label files / mask series onto the reference image's grid
//   labels edit LABELS --op OP --structure NAME ...   one editing tool (threshold, grow, morphology, margin, ...)
//   labels export LABELS --out DIR|FILE ...           meshes of the structures (per structure or one scene)
// Exit 0 on success, 1 when the request cannot be done (message on stderr naming the file and the problem), 3 when
// an export wrote a mesh that fails its checks.

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "CliCommands.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/LabelEditing.h"
#include "jumeau/imaging/VolumeIO.h"
#include "jumeau/simulation/Case.h"
#include "jumeau/simulation/LabelImport.h"
#include "jumeau/simulation/MeshExport.h"

namespace jumeau::cli {

namespace fs = std::filesystem;

namespace {

int fail(const std::string& message) {
    std::cerr << "jumeau-cli labels: " << message << "\n";
    return 1;
}

// The reference image: a DICOM folder (its planning series, as the workstation chooses it) or a volume file.
Result<imaging::LoadedSeries> loadReference(const fs::path& path) {
    if (fs::is_directory(path)) {
        auto folder = imaging::loadDicomFolder(path);
        if (!folder) return folder.error();
        const std::size_t i = simulation::chooseReference(folder->series);
        return std::move(folder->series[i]);
    }
    auto volume = imaging::readVolume(path);
    if (!volume) return volume.error();
    imaging::LoadedSeries s;
    s.volume = std::move(*volume);
    s.info.seriesDescription = path.filename().string();
    return s;
}

std::string categoryText(imaging::StructureCategory c) { return imaging::toString(c); }

// ---- import ----------------------------------------------------------------------------------------------------

struct ImportOptions {
    std::string reference;
    std::vector<std::string> sources;
    std::string out;
    bool json = false;
};

int runImport(const ImportOptions& o) {
    auto reference = loadReference(o.reference);
    if (!reference) return fail(reference.error().message);
    simulation::Case c;
    c.reference = std::move(*reference);
    std::vector<fs::path> sources(o.sources.begin(), o.sources.end());
    auto imported = simulation::importLabels(c, sources);
    if (!imported) return fail(imported.error().message);
    if (auto w = imaging::writeLabelMap(*c.labels, o.out); !w) return fail(w.error().message);
    if (o.json) {
        nlohmann::ordered_json j;
        j["structures"] = nlohmann::json::array();
        for (const auto& s : imported->structures)
            j["structures"].push_back({{"name", s.name},
                                       {"label", s.label},
                                       {"category", categoryText(s.category)},
                                       {"volumeMl", s.volumeMl},
                                       {"sourceVolumeMl", s.sourceVolumeMl},
                                       {"resampled", s.resampled},
                                       {"source", s.source}});
        j["overlaps"] = nlohmann::json::array();
        for (const auto& ov : imported->overlaps) j["overlaps"].push_back(ov.describe());
        j["warnings"] = imported->warnings;
        j["out"] = o.out;
        std::cout << j.dump(2) << "\n";
    } else {
        for (const auto& s : imported->structures)
            std::cout << s.name << " (label " << s.label << "): " << s.volumeMl << " ml\n";
        for (const auto& ov : imported->overlaps) std::cout << ov.describe() << "\n";
        for (const auto& w : imported->warnings) std::cout << "warning: " << w << "\n";
        std::cout << "written to " << o.out << "\n";
    }
    return 0;
}

// ---- edit ------------------------------------------------------------------------------------------------------

struct EditOptions {
    std::string labels;
    std::string op;
    std::string structure;
    std::string reference;
    std::string into; // margin: a new structure instead of changing the source
    double mm = 0;
    std::string preset;
    std::vector<double> range;
    std::vector<std::string> seeds; // "x,y,z" in LPS mm
    int axis = 2;
    bool overwrite = false;
    std::string out;
    bool json = false;
};

Result<std::vector<geometry::Vec3>> parseSeeds(const std::vector<std::string>& texts) {
    std::vector<geometry::Vec3> seeds;
    for (const auto& t : texts) {
        std::stringstream in(t);
        geometry::Vec3 p;
        char c1 = 0, c2 = 0;
        if (!(in >> p.x >> c1 >> p.y >> c2 >> p.z) || c1 != ',' || c2 != ',')
            return makeError(ErrorCode::InvalidInput, "--seed '" + t + "': expected x,y,z in LPS millimetres");
        seeds.push_back(p);
    }
    return seeds;
}

int runEdit(const EditOptions& o) {
    const auto started = std::chrono::steady_clock::now();
    auto loaded = imaging::readLabelMap(o.labels);
    if (!loaded) return fail(loaded.error().message);
    const imaging::LabelMap& map = *loaded;
    // Without --overwrite a structure may take background and the body outline (which fills everything inside the
    // skin), never another organ, tumour or vessel.
    imaging::EditableArea area = imaging::EditableArea::backgroundOnly();
    for (const auto& s : map.structures())
        if (s.category == imaging::StructureCategory::Body) area = imaging::EditableArea::inside(s.label, true);
    if (o.overwrite) area = imaging::EditableArea::everywhere();

    imaging::Structure target;
    if (const auto* s = map.findByName(o.structure)) target = *s;
    else target.name = o.structure; // a new structure (threshold, grow, margin --into)
    const bool exists = target.label != 0;
    const auto needExisting = [&]() -> std::optional<int> {
        if (!exists) return fail(o.labels + ": no structure named '" + o.structure + "'");
        return std::nullopt;
    };

    imaging::Volume intensity;
    if (o.op == "threshold" || o.op == "grow") {
        if (o.reference.empty()) return fail("--op " + o.op + " needs --reference (the image to threshold)");
        auto ref = loadReference(o.reference);
        if (!ref) return fail(ref.error().message);
        intensity = ref->volume;
    }
    imaging::HuRange range;
    if (!o.preset.empty()) {
        const auto preset = imaging::thresholdPresetFromString(o.preset);
        if (!preset) return fail("--preset '" + o.preset + "': use bone, soft-tissue, contrast-vessels, fat, lung or air");
        range = imaging::presetRange(*preset);
    } else if (o.range.size() == 2) {
        range = {o.range[0], o.range[1]};
    } else if (o.op == "threshold" || o.op == "grow") {
        return fail("--op " + o.op + " needs --preset NAME or --range LOW HIGH (HU)");
    }
    auto seeds = parseSeeds(o.seeds);
    if (!seeds) return fail(seeds.error().message);

    const double before = exists ? map.volumeMl(target.label) : 0.0;
    Result<imaging::LabelMap> edited = makeError(ErrorCode::InvalidInput, "unknown --op '" + o.op + "'");
    if (o.op == "threshold") {
        edited = imaging::threshold(map, intensity, range, target, area);
    } else if (o.op == "grow") {
        imaging::RegionGrowing params;
        params.range = range;
        edited = imaging::growRegion(map, intensity, *seeds, params, target, area);
    } else if (o.op == "dilate" || o.op == "erode" || o.op == "open" || o.op == "close") {
        if (auto e = needExisting()) return *e;
        const auto op = o.op == "dilate"  ? imaging::Morphology::Dilate
                        : o.op == "erode" ? imaging::Morphology::Erode
                        : o.op == "open"  ? imaging::Morphology::Open
                                          : imaging::Morphology::Close;
        edited = imaging::morphology(map, target.label, op, o.mm, area);
    } else if (o.op == "margin") {
        if (auto e = needExisting()) return *e;
        imaging::Structure into = target;
        if (!o.into.empty()) {
            into = {};
            into.name = o.into;
        }
        edited = imaging::applyMargin(map, target.label, o.mm, into, area);
    } else if (o.op == "fill-holes") {
        if (auto e = needExisting()) return *e;
        edited = imaging::fillHoles(map, target.label, std::nullopt, area);
    } else if (o.op == "keep-largest") {
        if (auto e = needExisting()) return *e;
        edited = imaging::keepLargestComponent(map, target.label);
    } else if (o.op == "fill-between") {
        if (auto e = needExisting()) return *e;
        edited = imaging::fillBetweenSlices(map, target.label, o.axis, area);
    }
    if (!edited) return fail(o.labels + ": " + edited.error().message);
    if (auto w = imaging::writeLabelMap(*edited, o.out); !w) return fail(w.error().message);

    const std::string resultName = o.op == "margin" && !o.into.empty() ? o.into : o.structure;
    const auto* result = edited->findByName(resultName);
    const double after = result ? edited->volumeMl(result->label) : 0.0;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (o.json) {
        const nlohmann::ordered_json j = {{"op", o.op},           {"structure", resultName},
                                          {"label", result ? result->label : 0}, {"volumeMlBefore", before},
                                          {"volumeMlAfter", after}, {"seconds", seconds},
                                          {"out", o.out}};
        std::cout << j.dump(2) << "\n";
    } else {
        std::cout << o.op << " " << resultName << ": " << before << " ml -> " << after << " ml, written to " << o.out
                  << "\n";
    }
    return 0;
}

// ---- export ----------------------------------------------------------------------------------------------------

struct ExportOptions {
    std::string labels;
    std::string out;
    std::string format = "stl";
    std::string frame = "RAS";
    std::vector<std::string> structures;
    bool combined = false;
    bool ascii = false;
    std::size_t targetTriangles = 0;
    bool json = false;
};

int runExport(const ExportOptions& o) {
    auto loaded = imaging::readLabelMap(o.labels);
    if (!loaded) return fail(loaded.error().message);
    simulation::MeshExportOptions options;
    const auto format = geometry::meshFormatFromPath("x." + o.format);
    if (!format) return fail("--format '" + o.format + "': use stl, obj or ply");
    options.format = *format;
    const auto frame = geometry::frameFromString(o.frame);
    if (!frame) return fail("--frame '" + o.frame + "': use LPS or RAS");
    options.frame = *frame;
    options.binary = !o.ascii;
    options.combined = o.combined;
    options.targetTriangles = o.targetTriangles;
    for (const auto& name : o.structures) {
        const auto* s = loaded->findByName(name);
        if (!s) return fail(o.labels + ": no structure named '" + name + "'");
        options.labels.push_back(s->label);
    }
    auto report = simulation::exportMeshes(*loaded, o.out, options);
    if (!report) return fail(report.error().message);
    if (o.json) {
        nlohmann::ordered_json j;
        j["meshes"] = nlohmann::json::array();
        for (const auto& m : report->meshes)
            j["meshes"].push_back({{"structure", m.structure},
                                   {"file", m.file.string()},
                                   {"triangles", m.report.triangles},
                                   {"volumeMl", m.report.volumeMl},
                                   {"voxelVolumeMl", m.voxelVolumeMl},
                                   {"areaCm2", m.report.areaCm2},
                                   {"closed", m.report.closed},
                                   {"manifold", m.report.manifold},
                                   {"selfIntersecting", m.report.selfIntersecting}});
        j["frame"] = geometry::toString(options.frame);
        j["warnings"] = report->warnings;
        std::cout << j.dump(2) << "\n";
    } else {
        for (const auto& m : report->meshes)
            std::cout << m.structure << ": " << m.report.triangles << " triangles, " << m.report.volumeMl << " ml, "
                      << m.report.describe() << " -> " << m.file.string() << "\n";
        for (const auto& w : report->warnings) std::cout << "warning: " << w << "\n";
    }
    return report->invalidCount() > 0 ? 3 : 0;
}

} // namespace

void registerLabelsCommand(CLI::App& app) {
    CLI::App* labels = app.add_subcommand("labels", "Segmentation, headless: import label maps, edit, export meshes");
    labels->require_subcommand(1);

    auto io = std::make_shared<ImportOptions>();
    CLI::App* imp = labels->add_subcommand(
        "import", "Import label files or DICOM mask series onto a reference image's grid (resampled when needed)");
    imp->add_option("REFERENCE", io->reference, "Reference image: DICOM folder or volume file")->required();
    imp->add_option("SOURCES", io->sources, "Label files (.nrrd, .seg.nrrd, .nii.gz, .mha), mask series folders")
        ->required();
    imp->add_option("--out", io->out, "Label map to write (.seg.nrrd keeps names and colours)")->required();
    imp->add_flag("--json", io->json, "Print {structures, overlaps, warnings, out}");
    imp->callback([io] { setExitCode(runImport(*io)); });

    auto eo = std::make_shared<EditOptions>();
    CLI::App* edit = labels->add_subcommand("edit", "Apply one editing tool to a label map");
    edit->add_option("LABELS", eo->labels, "Label map file")->required();
    edit->add_option("--op", eo->op,
                     "threshold, grow, dilate, erode, open, close, margin, fill-holes, keep-largest, fill-between")
        ->required();
    edit->add_option("--structure", eo->structure, "Structure to edit (created by threshold/grow if new)")->required();
    edit->add_option("--reference", eo->reference, "Image for threshold/grow (DICOM folder or volume file)");
    edit->add_option("--mm", eo->mm, "Radius or margin in mm (margin: negative shrinks)");
    edit->add_option("--preset", eo->preset, "HU preset: bone, soft-tissue, contrast-vessels, fat, lung, air");
    edit->add_option("--range", eo->range, "HU range LOW HIGH")->expected(2);
    edit->add_option("--seed", eo->seeds, "Seed point x,y,z (LPS mm) for grow; repeat for several");
    edit->add_option("--into", eo->into, "margin: write into this new structure instead");
    edit->add_option("--axis", eo->axis, "fill-between: slice axis (0 = i, 1 = j, 2 = k)")->check(CLI::Range(0, 2));
    edit->add_flag("--overwrite", eo->overwrite,
                   "May take other structures' voxels (default: only background and the body outline)");
    edit->add_option("--out", eo->out, "Label map to write")->required();
    edit->add_flag("--json", eo->json, "Print {op, structure, label, volumeMlBefore, volumeMlAfter, seconds, out}");
    edit->callback([eo] { setExitCode(runEdit(*eo)); });

    auto xo = std::make_shared<ExportOptions>();
    CLI::App* exp = labels->add_subcommand("export", "Mesh structures into files (one per structure or one scene)");
    exp->add_option("LABELS", xo->labels, "Label map file")->required();
    exp->add_option("--out", xo->out, "Folder (one file per structure) or scene file with --combined")->required();
    exp->add_option("--format", xo->format, "stl, obj or ply")->capture_default_str();
    exp->add_option("--frame", xo->frame, "RAS (Slicer) or LPS (DICOM)")->capture_default_str();
    exp->add_option("--structure", xo->structures, "Structure to export; repeat (default: all but the body)");
    exp->add_option("--target-triangles", xo->targetTriangles, "Per-structure triangle budget (0 = none)");
    exp->add_flag("--combined", xo->combined, "One scene file (OBJ or PLY)");
    exp->add_flag("--ascii", xo->ascii, "ASCII STL/PLY");
    exp->add_flag("--json", xo->json, "Print the per-mesh report");
    exp->callback([xo] { setExitCode(runExport(*xo)); });
}

} // namespace jumeau::cli
