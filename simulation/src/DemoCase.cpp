#include "jumeau/simulation/DemoCase.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "jumeau/imaging/DicomWriter.h"
#include "jumeau/imaging/VolumeIO.h"

namespace jumeau::simulation {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kTransformConvention =
    "T maps a point of the reference (CT) LPS frame to the LPS frame of that series, in millimetres: the anatomy "
    "at CT point x appears at T*x in the series' image, so the series voxel at LPS point p shows the anatomy at "
    "inverse(T)*p (ITK's fixed-to-moving convention with fixed = CT). Matrices are 4x4, row-major, LPS.";

namespace {

constexpr double kDegree = 3.14159265358979323846 / 180.0;
const char* const kTruthFile = "truth.json";
const char* const kStagingName = ".jumeau-phantom-staging";

} // namespace

imaging::ImageGeometry demoCtGeometry() {
    // Centred on the origin of the phantom's LPS frame; slices inferior → superior (k along +z).
    imaging::ImageGeometry g;
    g.size = {256, 256, 160};
    g.spacing = {0.8, 0.8, 1.5};
    g.origin = {-(g.size[0] - 1) * g.spacing.x / 2, -(g.size[1] - 1) * g.spacing.y / 2,
                -(g.size[2] - 1) * g.spacing.z / 2};
    return g;
}

geometry::Transform demoCtToMr() {
    // A few degrees about each axis plus a translation, as between two sessions on different scanners.
    return geometry::Transform::rigid(geometry::Mat3::rotationXYZ(3 * kDegree, -2 * kDegree, 4 * kDegree),
                                      {12, -8, 15});
}

geometry::Transform demoCtToUs() {
    // The tracker frame of a navigated ultrasound: rotated and shifted with respect to the CT.
    return geometry::Transform::rigid(geometry::Mat3::rotationXYZ(-4 * kDegree, 5 * kDegree, -6 * kDegree),
                                      {-15, 10, 18});
}

imaging::ImageGeometry demoMrGeometry() {
    // Axial in the MR scanner's own frame, covering the anatomy around the CT centre (shifted a little upwards).
    imaging::ImageGeometry g;
    g.size = {192, 192, 56};
    g.spacing = {1.25, 1.25, 4.0};
    const geometry::Vec3 centre = demoCtToMr().apply({0, 0, 5});
    g.origin = centre - geometry::Vec3{(g.size[0] - 1) * g.spacing.x / 2, (g.size[1] - 1) * g.spacing.y / 2,
                                       (g.size[2] - 1) * g.spacing.z / 2};
    return g;
}

UsSweep demoUsSweep(std::uint64_t seed) {
    // Probe on the anterior skin over the right liver (x = -45 mm, patient's right), beam going posterior (+y),
    // frames stepping along z from the liver tip upwards; the upper frames meet the costal margin.
    UsSweep s;
    s.gridInCt.size = {200, 160, 80};
    s.gridInCt.spacing = {0.6, 0.6, 1.5};
    s.apexColumn = (s.gridInCt.size[0] - 1) / 2.0;
    const double apexX = -45.0;
    // The apex 1 mm under the skin: the probe presses a little, and the first rows are tissue, not air.
    const double skinY = AbdominalPhantom::anteriorSkinPoint(apexX, 0).y;
    s.gridInCt.origin = {apexX - s.apexColumn * s.gridInCt.spacing.x, skinY + 1.0, -40.0};
    s.fanRadiusMm = 95;
    s.fanHalfAngleDeg = 35;
    s.frequencyMHz = 3.5;
    s.speckleSeed = seed;
    return s;
}

namespace {

json vec(const geometry::Vec3& v) {
    return json::array({v.x, v.y, v.z});
}

json geometryJson(const imaging::ImageGeometry& g) {
    json direction = json::array();
    for (int r = 0; r < 3; ++r)
        direction.push_back(json::array({g.direction.m[r][0], g.direction.m[r][1], g.direction.m[r][2]}));
    return {{"size", json::array({g.size[0], g.size[1], g.size[2]})},
            {"spacing", vec(g.spacing)},
            {"origin", vec(g.origin)},
            {"direction", direction}};
}

json matrixJson(const geometry::Transform& t) {
    json m = json::array();
    for (const auto& row : t.matrix4()) m.push_back(json::array({row[0], row[1], row[2], row[3]}));
    return m;
}

geometry::Vec3 toVec(const json& j) {
    return {j.at(0).get<double>(), j.at(1).get<double>(), j.at(2).get<double>()};
}

imaging::ImageGeometry geometryFrom(const json& j) {
    imaging::ImageGeometry g;
    for (int c = 0; c < 3; ++c) g.size[static_cast<std::size_t>(c)] = j.at("size").at(c).get<int>();
    g.spacing = toVec(j.at("spacing"));
    g.origin = toVec(j.at("origin"));
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) g.direction.m[r][c] = j.at("direction").at(r).at(c).get<double>();
    return g;
}

geometry::Transform transformFrom(const json& j) {
    std::array<std::array<double, 4>, 4> m{};
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) m[r][c] = j.at(r).at(c).get<double>();
    return geometry::Transform::fromMatrix4(m);
}

json seriesJson(const DemoCaseSeries& s) {
    json files = json::array();
    for (const auto& f : s.files) files.push_back(f.generic_string());
    return {{"modality", s.modality},
            {"seriesUid", s.seriesUid},
            {"frameOfReferenceUid", s.frameOfReferenceUid},
            {"geometry", geometryJson(s.geometry)},
            {"files", files}};
}

DemoCaseSeries seriesFrom(const json& j) {
    DemoCaseSeries s;
    s.modality = j.at("modality").get<std::string>();
    s.seriesUid = j.at("seriesUid").get<std::string>();
    s.frameOfReferenceUid = j.at("frameOfReferenceUid").get<std::string>();
    s.geometry = geometryFrom(j.at("geometry"));
    for (const auto& f : j.at("files")) s.files.emplace_back(f.get<std::string>());
    return s;
}

json truthJson(const DemoCaseTruth& t) {
    json structures = json::array();
    for (const auto& s : t.structures)
        structures.push_back(
            {{"label", s.structure.label},
             {"name", s.structure.name},
             {"category", imaging::toString(s.structure.category)},
             {"colour", json::array({s.structure.colour[0], s.structure.colour[1], s.structure.colour[2]})},
             {"volumeMl", s.volumeMl},
             {"supersampledMl", s.supersampledMl},
             {"voxelVolumeMl", s.voxelVolumeMl},
             {"method", s.method}});
    json tumours = json::array();
    for (const auto& tu : t.tumours)
        tumours.push_back(
            {{"label", tu.label},
             {"name", tu.name},
             {"centre", vec(tu.centre)},
             {"radiusMm", tu.radiusMm},
             {"ultrasound", tu.hyperechoic ? "hyperechoic with hypoechoic halo" : "hypoechoic with hypoechoic halo"}});
    return {{"generator", "Jumeau synthetic abdominal phantom"},
            {"seed", t.seed},
            {"convention", t.convention},
            {"precedence", "tumours > vessels (the unlabelled IVC included) > liver > spine > body; ribs, kidneys, "
                           "spleen, lungs, IVC and intervertebral discs are labelled body"},
            {"volumes", "volumeMl is the model volume of the region carrying the label inside the CT field of view "
                        "(the box covered by the CT voxels): closed form for spheres and the aortic cylinder, else "
                        "4x4x4 sub-samples in every CT voxel a label boundary crosses"},
            {"studyUid", t.studyUid},
            {"ct", geometryJson(t.ctGeometry)},
            {"structures", structures},
            {"transforms",
             {{"mr", {{"matrix", matrixJson(t.ctToMr)}, {"from", "CT LPS"}, {"to", "MR LPS"}}},
              {"us", {{"matrix", matrixJson(t.ctToUs)}, {"from", "CT LPS"}, {"to", "US LPS"}}}}},
            {"usGridInCt", geometryJson(t.usGridInCt)},
            {"tumours", tumours},
            {"labels", {{"file", t.labelFile.generic_string()}, {"frameOfReferenceUid", t.ct.frameOfReferenceUid}}},
            {"series", {{"ct", seriesJson(t.ct)}, {"mr", seriesJson(t.mr)}, {"us", seriesJson(t.us)}}}};
}

// Removes the staging folder on every exit path except a successful commit.
class Staging {
public:
    explicit Staging(fs::path path) : m_path(std::move(path)) {}
    ~Staging() {
        if (!m_committed) {
            std::error_code ec;
            fs::remove_all(m_path, ec);
        }
    }
    Staging(const Staging&) = delete;
    Staging& operator=(const Staging&) = delete;
    const fs::path& path() const { return m_path; }
    void committed() { m_committed = true; }

private:
    fs::path m_path;
    bool m_committed = false;
};

std::vector<fs::path> relativeTo(const std::vector<fs::path>& files, const fs::path& base) {
    std::vector<fs::path> out;
    for (const auto& f : files) out.push_back(f.lexically_relative(base));
    return out;
}

// Progress of one step mapped into [f0, f1] of the whole.
ProgressFn subProgress(const ProgressFn& progress, double f0, double f1) {
    if (!progress) return {};
    return [progress, f0, f1](double f, const std::string& m) { return progress(f0 + (f1 - f0) * f, m); };
}

} // namespace

Result<DemoCaseTruth> writeDemoCase(const fs::path& dir, std::uint64_t seed, const ProgressFn& progress) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        return makeError(ErrorCode::InvalidInput, dir.string() + ": exists and is not a folder");
    fs::create_directories(dir, ec);
    if (ec) return makeError(ErrorCode::IoError, dir.string() + ": cannot create folder: " + ec.message());

    Staging staging(dir / kStagingName);
    fs::remove_all(staging.path(), ec); // left over by a crashed run
    fs::create_directories(staging.path(), ec);
    if (ec) return makeError(ErrorCode::IoError, staging.path().string() + ": cannot create folder: " + ec.message());
    auto cancelled = [&] { return makeError(ErrorCode::Cancelled, dir.string() + ": demo case generation cancelled"); };

    DemoCaseTruth truth;
    truth.seed = seed;
    truth.convention = kTransformConvention;
    truth.ctGeometry = demoCtGeometry();
    truth.ctToMr = demoCtToMr();
    truth.ctToUs = demoCtToUs();
    const UsSweep sweep = demoUsSweep(seed);
    truth.usGridInCt = sweep.gridInCt;

    if (!reportProgress(progress, 0.0, "building the phantom")) return cancelled();
    const AbdominalPhantom phantom = AbdominalPhantom::create(seed);
    truth.tumours = phantom.tumours();

    imaging::DicomStudyInfo study;
    study.patientName = "Jumeau^Zoé"; // a non-ASCII letter exercises the readers' character-set handling
    study.patientId = "JUMEAU-PHANTOM-" + std::to_string(seed);
    study.patientBirthDate = "19800101";
    study.patientSex = "F";
    study.studyUid = imaging::newDicomUid();
    study.studyDescription = "Synthetic abdominal phantom (seed " + std::to_string(seed) + ")";
    study.accessionNumber = "PHANTOM" + std::to_string(seed);
    truth.studyUid = study.studyUid;

    { // CT and labels (scoped: the CT buffers are released before MR and US are made)
        CtRasterOptions ctOptions;
        ctOptions.noiseSeed = seed;
        auto ct = rasteriseCt(phantom, truth.ctGeometry, ctOptions, subProgress(progress, 0.0, 0.45));
        if (!ct) return ct.error().code == ErrorCode::Cancelled ? cancelled() : ct.error();
        for (std::size_t i = 0; i < ct->labels.structures().size(); ++i) {
            const auto& v = ct->volumes[i];
            truth.structures.push_back({ct->labels.structures()[i], v.modelMl, v.supersampledMl, v.voxelMl,
                                        v.analytic ? "analytic" : "supersampled"});
        }

        imaging::DicomSeriesSpec ctSpec;
        ctSpec.modality = "CT";
        ctSpec.seriesUid = imaging::newDicomUid();
        ctSpec.seriesNumber = 1;
        ctSpec.seriesDescription = "CT abdomen portal venous phase (phantom)";
        ctSpec.frameOfReferenceUid = imaging::newDicomUid();
        ctSpec.windowPresets = {{40, 400, "ABDOMEN"}, {60, 160, "LIVER"}, {400, 1800, "BONE"}};
        ctSpec.fileStem = "CT";
        ctSpec.manufacturer = "Jumeau phantom";
        ctSpec.manufacturerModelName = "Synthetic abdomen";
        ctSpec.contrastAgent = "Iodinated contrast (portal venous phase)";
        auto ctFiles =
            imaging::writeDicomSeries(ct->ct, study, ctSpec, staging.path() / "ct", subProgress(progress, 0.45, 0.6));
        if (!ctFiles) return ctFiles.error().code == ErrorCode::Cancelled ? cancelled() : ctFiles.error();
        truth.ct = {"CT", ctSpec.seriesUid, ctSpec.frameOfReferenceUid, truth.ctGeometry,
                    relativeTo(*ctFiles, staging.path())};

        if (!reportProgress(progress, 0.6, "writing labels")) return cancelled();
        truth.labelFile = fs::path("labels") / "labels.seg.nrrd";
        fs::create_directories(staging.path() / "labels", ec);
        if (ec)
            return makeError(ErrorCode::IoError,
                             (staging.path() / "labels").string() + ": cannot create folder: " + ec.message());
        if (auto written = imaging::writeLabelMap(ct->labels, staging.path() / truth.labelFile); !written)
            return written.error();
    }

    // --- MR
    MrRasterOptions mrOptions;
    mrOptions.noiseSeed = seed;
    const imaging::ImageGeometry mrGrid = demoMrGeometry();
    auto mr = rasteriseMr(phantom, mrGrid, truth.ctToMr, mrOptions, subProgress(progress, 0.65, 0.8));
    if (!mr) return mr.error().code == ErrorCode::Cancelled ? cancelled() : mr.error();
    imaging::DicomSeriesSpec mrSpec;
    mrSpec.modality = "MR";
    mrSpec.seriesUid = imaging::newDicomUid();
    mrSpec.seriesNumber = 2;
    mrSpec.seriesDescription = "MR T1 post-contrast (phantom)";
    mrSpec.frameOfReferenceUid = imaging::newDicomUid(); // another session: another frame of reference
    mrSpec.windowPresets = {{700, 1400, "T1"}};
    mrSpec.fileStem = "MR";
    mrSpec.manufacturer = "Jumeau phantom";
    mrSpec.manufacturerModelName = "Synthetic abdomen";
    auto mrFiles =
        imaging::writeDicomSeries(*mr, study, mrSpec, staging.path() / "mr", subProgress(progress, 0.8, 0.85));
    if (!mrFiles) return mrFiles.error().code == ErrorCode::Cancelled ? cancelled() : mrFiles.error();
    truth.mr = {"MR", mrSpec.seriesUid, mrSpec.frameOfReferenceUid, mrGrid, relativeTo(*mrFiles, staging.path())};

    // --- US: sampled on the grid in the CT frame, written with that grid moved by T_us (an oblique geometry).
    auto us = rasteriseUs(phantom, sweep, subProgress(progress, 0.85, 0.96));
    if (!us) return us.error().code == ErrorCode::Cancelled ? cancelled() : us.error();
    imaging::ImageGeometry usGrid = sweep.gridInCt;
    usGrid.origin = truth.ctToUs.apply(sweep.gridInCt.origin);
    usGrid.direction = truth.ctToUs.linear * sweep.gridInCt.direction;
    imaging::DicomSeriesSpec usSpec;
    usSpec.modality = "US";
    usSpec.seriesUid = imaging::newDicomUid();
    usSpec.seriesNumber = 3;
    usSpec.seriesDescription = "US liver sweep (phantom)";
    usSpec.frameOfReferenceUid = imaging::newDicomUid();
    usSpec.fileStem = "US";
    usSpec.manufacturer = "Jumeau phantom";
    usSpec.manufacturerModelName = "Synthetic abdomen";
    usSpec.usTransducerFrequencyMHz = sweep.frequencyMHz;
    auto usFiles = imaging::writeDicomSeries(us->withGeometry(usGrid), study, usSpec, staging.path() / "us",
                                             subProgress(progress, 0.96, 0.98));
    if (!usFiles) return usFiles.error().code == ErrorCode::Cancelled ? cancelled() : usFiles.error();
    truth.us = {"US", usSpec.seriesUid, usSpec.frameOfReferenceUid, usGrid, relativeTo(*usFiles, staging.path())};

    // --- truth.json, then swap the new case into place.
    {
        std::ofstream out(staging.path() / kTruthFile);
        out << truthJson(truth).dump(2) << "\n";
        if (!out) return makeError(ErrorCode::IoError, (staging.path() / kTruthFile).string() + ": cannot write");
    }
    if (!reportProgress(progress, 0.99, "replacing the previous case")) return cancelled();
    for (const char* name : {"ct", "mr", "us", "labels", kTruthFile}) {
        fs::remove_all(dir / name, ec);
        if (ec)
            return makeError(ErrorCode::IoError,
                             (dir / name).string() + ": cannot remove the previous one: " + ec.message());
        fs::rename(staging.path() / name, dir / name, ec);
        if (ec)
            return makeError(ErrorCode::IoError, (dir / name).string() + ": cannot move into place: " + ec.message());
    }
    fs::remove_all(staging.path(), ec);
    staging.committed();
    reportProgress(progress, 1.0, "done");
    return truth;
}

bool isDemoCase(const fs::path& dir) {
    std::error_code ec;
    return fs::is_regular_file(dir / kTruthFile, ec) && fs::is_directory(dir / "ct", ec) &&
           fs::is_directory(dir / "labels", ec);
}

Result<DemoCaseTruth> readDemoCaseTruth(const fs::path& dir) {
    const fs::path file = dir / kTruthFile;
    std::ifstream in(file);
    if (!in) return makeError(ErrorCode::NotFound, file.string() + ": cannot open");
    try {
        const json j = json::parse(in);
        DemoCaseTruth t;
        t.seed = j.at("seed").get<std::uint64_t>();
        t.convention = j.at("convention").get<std::string>();
        t.studyUid = j.at("studyUid").get<std::string>();
        t.ctGeometry = geometryFrom(j.at("ct"));
        t.ctToMr = transformFrom(j.at("transforms").at("mr").at("matrix"));
        t.ctToUs = transformFrom(j.at("transforms").at("us").at("matrix"));
        t.usGridInCt = geometryFrom(j.at("usGridInCt"));
        for (const auto& s : j.at("structures")) {
            DemoCaseStructure d;
            d.structure.label = s.at("label").get<std::uint16_t>();
            d.structure.name = s.at("name").get<std::string>();
            const auto category = imaging::structureCategoryFromString(s.at("category").get<std::string>());
            if (!category)
                return makeError(ErrorCode::Corrupt, file.string() + ": unknown category of " + d.structure.name);
            d.structure.category = *category;
            for (int c = 0; c < 3; ++c)
                d.structure.colour[static_cast<std::size_t>(c)] = s.at("colour").at(c).get<double>();
            d.volumeMl = s.at("volumeMl").get<double>();
            d.supersampledMl = s.at("supersampledMl").get<double>();
            d.voxelVolumeMl = s.at("voxelVolumeMl").get<double>();
            d.method = s.at("method").get<std::string>();
            t.structures.push_back(d);
        }
        for (const auto& tu : j.at("tumours")) {
            PhantomTumour p;
            p.label = tu.at("label").get<std::uint16_t>();
            p.name = tu.at("name").get<std::string>();
            p.centre = toVec(tu.at("centre"));
            p.radiusMm = tu.at("radiusMm").get<double>();
            p.hyperechoic = tu.at("ultrasound").get<std::string>().starts_with("hyper");
            t.tumours.push_back(p);
        }
        t.labelFile = j.at("labels").at("file").get<std::string>();
        t.ct = seriesFrom(j.at("series").at("ct"));
        t.mr = seriesFrom(j.at("series").at("mr"));
        t.us = seriesFrom(j.at("series").at("us"));
        return t;
    } catch (const json::exception& e) {
        return makeError(ErrorCode::Corrupt, file.string() + ": " + e.what());
    }
}

} // namespace jumeau::simulation
