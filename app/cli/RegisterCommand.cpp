// jumeau-cli register FIXED MOVING [--mode rigid|affine|deformable] [--landmarks FILE.json] [--mask FILE]
//                    --out TRANSFORM.json [--resampled OUT.nrrd] [--json]
// FIXED and MOVING are DICOM series folders or volume files. TRANSFORM.json holds {"matrix": 4x4 row-major, LPS,
// fixed-space points → moving-space points, ...}; --json prints the quality report on stdout. Exit 0 on success,
// 1 when registration fails (message on stderr), 2 for bad arguments. docs/registration.md describes it.

#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "CliCommands.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/imaging/TransformIO.h"
#include "jumeau/imaging/VolumeIO.h"

namespace jumeau::cli {

namespace {

namespace fs = std::filesystem;

struct RegisterOptions {
    std::string fixed, moving;
    std::string mode = "rigid";
    std::string metric = "auto";
    std::string init = "auto";
    std::string landmarks;
    bool landmarksOnly = false;
    std::string mask, movingMask;
    std::string initial;
    std::vector<double> translate, rotate;
    double gridMm = imaging::RegistrationOptions{}.bsplineGridMm;
    int iterations = imaging::RegistrationOptions{}.maxIterationsPerLevel;
    int samples = imaging::RegistrationOptions{}.samplesPerLevel;
    std::string out, resampled, tfm;
    bool json = false;
    bool quiet = false;
};

// A volume from a file or a DICOM folder. A folder with several series: the largest image (not a mask) is taken,
// with a note on stderr.
Result<imaging::Volume> loadImage(const std::string& path, const std::string& role) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return makeError(ErrorCode::NotFound, role + " " + path + ": no such file or folder");
    if (fs::is_regular_file(path, ec)) {
        const std::string n = fs::path(path).filename().string();
        const bool volumeFile = n.ends_with(".nrrd") || n.ends_with(".nhdr") || n.ends_with(".nii") ||
                                n.ends_with(".nii.gz") || n.ends_with(".mha") || n.ends_with(".mhd");
        if (volumeFile) {
            auto v = imaging::readVolume(path);
            if (!v) return makeError(v.error().code, role + " " + v.error().message);
            return *v;
        }
    }
    auto loaded = imaging::loadDicomFolder(path);
    if (!loaded) return makeError(loaded.error().code, role + " " + loaded.error().message);
    std::size_t best = 0;
    for (std::size_t i = 1; i < loaded->series.size(); ++i)
        if (loaded->series[i].volume.geometry().voxelCount() > loaded->series[best].volume.geometry().voxelCount())
            best = i;
    if (loaded->series.size() > 1)
        std::cerr << "jumeau-cli register: " << role << " " << path << " holds " << loaded->series.size()
                  << " series; using the largest (" << loaded->series[best].info.seriesDescription << ")\n";
    return loaded->series[best].volume;
}

Result<imaging::Volume> loadMask(const std::string& path, const std::string& role) {
    auto v = loadImage(path, role);
    if (!v) return v.error();
    if (v->pixelType() == imaging::PixelType::RGB8)
        return makeError(ErrorCode::InvalidInput, role + " " + path + ": a colour image is not a mask");
    return v;
}

int fail(const std::string& message, int code = 1) {
    std::cerr << "jumeau-cli register: " << message << "\n";
    return code;
}

int runRegister(const RegisterOptions& o) {
    const auto mode = imaging::registrationModeFromString(o.mode);
    if (!mode) return fail("--mode must be rigid, affine or deformable, not '" + o.mode + "'", 2);
    const auto metric = imaging::registrationMetricFromString(o.metric);
    if (!metric) return fail("--metric must be auto, mi, ms or cc, not '" + o.metric + "'", 2);
    const auto init = imaging::initialisationFromString(o.init);
    if (!init) return fail("--init must be auto, identity, geometry, moments or landmarks, not '" + o.init + "'", 2);
    if (fs::path(o.out).extension() != ".json")
        return fail("--out " + o.out + ": the transform file must end in .json", 2);
    if (!o.translate.empty() && o.translate.size() != 3)
        return fail("--translate takes 3 numbers: x,y,z in mm (LPS)", 2);
    if (!o.rotate.empty() && o.rotate.size() != 3) return fail("--rotate takes 3 numbers: degrees about x, y, z", 2);
    if (o.landmarksOnly && o.landmarks.empty()) return fail("--landmarks-only needs --landmarks FILE.json", 2);

    imaging::RegistrationOptions options;
    options.mode = *mode;
    options.metric = *metric;
    options.initialisation = *init;
    options.bsplineGridMm = o.gridMm;
    options.maxIterationsPerLevel = o.iterations;
    options.samplesPerLevel = o.samples;
    options.landmarksOnly = o.landmarksOnly;

    if (!o.landmarks.empty()) {
        auto lm = imaging::readLandmarks(o.landmarks);
        if (!lm) return fail("--landmarks " + lm.error().message);
        options.landmarks = std::move(*lm);
        if (options.landmarks.size() < 3 && (o.landmarksOnly || *init == imaging::Initialisation::Landmarks))
            return fail("--landmarks " + o.landmarks + ": " + std::to_string(options.landmarks.size()) +
                        " pair(s); at least 3 are needed to register from landmarks");
    }
    // The start: a previous result (--initial), nudged by --translate / --rotate about the fixed image's centre.
    std::optional<geometry::Transform> start;
    if (!o.initial.empty()) {
        auto t = imaging::readTransformJson(o.initial);
        if (!t) return fail("--initial " + t.error().message);
        start = t->matrix;
    }

    auto fixed = loadImage(o.fixed, "FIXED");
    if (!fixed) return fail(fixed.error().message);
    auto moving = loadImage(o.moving, "MOVING");
    if (!moving) return fail(moving.error().message);

    if (!o.translate.empty() || !o.rotate.empty()) {
        constexpr double kDeg = 3.14159265358979323846 / 180.0;
        const geometry::Vec3 c = fixed->geometry().centreLps();
        geometry::Transform nudge;
        if (!o.rotate.empty()) {
            const geometry::Mat3 r =
                geometry::Mat3::rotationXYZ(o.rotate[0] * kDeg, o.rotate[1] * kDeg, o.rotate[2] * kDeg);
            nudge = geometry::Transform::rigid(r, c - r * c);
        }
        if (!o.translate.empty()) nudge.translation += geometry::Vec3{o.translate[0], o.translate[1], o.translate[2]};
        // The nudge moves where fixed points land in MOVING: applied after the start.
        start = nudge * (start ? *start : geometry::Transform::identity());
    }
    options.initialTransform = start;

    if (!o.mask.empty()) {
        auto m = loadMask(o.mask, "--mask");
        if (!m) return fail(m.error().message);
        options.fixedMask = std::move(*m);
    }
    if (!o.movingMask.empty()) {
        auto m = loadMask(o.movingMask, "--moving-mask");
        if (!m) return fail(m.error().message);
        options.movingMask = std::move(*m);
    }

    int lastPercent = -1;
    auto progress = [&](double f, const std::string& msg) {
        const int pc = static_cast<int>(f * 100);
        if (!o.quiet && !o.json && pc / 10 != lastPercent / 10) {
            std::cerr << "  " << pc << "% " << msg << "\n";
            lastPercent = pc;
        }
        return true;
    };
    auto result = imaging::registerVolumes(*fixed, *moving, options, progress);
    if (!result) {
        std::string msg = result.error().message;
        // Say which file is which when the library speaks of "the fixed/moving image".
        return fail(msg + " (FIXED " + o.fixed + ", MOVING " + o.moving + ")");
    }
    const imaging::RegistrationQuality& q = result->quality;

    imaging::TransformFileInfo info;
    info.mode = o.landmarksOnly ? "landmarks" : o.mode;
    info.fixed = o.fixed;
    info.moving = o.moving;
    info.quality = q;
    if (auto w = imaging::writeTransformJson(result->transform, o.out, info); !w) return fail(w.error().message);
    if (!o.tfm.empty())
        if (auto w = imaging::writeItkTransform(result->transform, o.tfm); !w) return fail(w.error().message);
    if (!o.resampled.empty()) {
        auto r = imaging::resampleOnto(*moving, fixed->geometry(), result->transform, moving->range().first);
        if (!r) return fail(r.error().message);
        if (auto w = imaging::writeVolume(*r, o.resampled); !w) return fail("--resampled " + w.error().message);
    }

    for (const auto& w : q.warnings) std::cerr << "jumeau-cli register: warning: " << w << "\n";
    if (o.json) {
        std::cout << imaging::qualityToJson(q) << "\n";
    } else {
        std::ostringstream s;
        s.setf(std::ios::fixed);
        s.precision(3);
        s << o.mode << " registration (" << q.metric << ", start: " << q.initialisation << "): " << q.iterations
          << " iterations, " << (q.converged ? "converged" : "NOT converged") << ", metric " << q.initialMetric
          << " -> " << q.finalMetric << ", overlap " << std::lround(100 * q.overlap) << "%, " << q.seconds << " s\n";
        for (const auto& l : q.landmarks) s << "  landmark " << l.name << ": " << l.errorMm << " mm\n";
        s << "transform written to " << o.out << "\n";
        std::cout << s.str();
    }
    return 0;
}

} // namespace

void registerRegisterCommand(CLI::App& app) {
    auto o = std::make_shared<RegisterOptions>();
    CLI::App* cmd = app.add_subcommand(
        "register", "Register MOVING onto FIXED (rigid, affine or deformable) and write the fixed->moving transform");
    cmd->add_option("FIXED", o->fixed, "Reference image: DICOM series folder or volume file (.nrrd, .nii.gz, .mha)")
        ->required();
    cmd->add_option("MOVING", o->moving, "Image to bring onto FIXED: DICOM series folder or volume file")->required();
    cmd->add_option("--mode", o->mode, "rigid, affine or deformable")->capture_default_str();
    cmd->add_option("--metric", o->metric, "auto (mutual information), mi, ms (mean squares), cc (correlation)")
        ->capture_default_str();
    cmd->add_option("--init", o->init, "auto, identity (scanner frames), geometry (grid centres), moments, landmarks")
        ->capture_default_str();
    cmd->add_option(
        "--landmarks", o->landmarks,
        "Landmark pairs: {\"landmarks\": [{\"name\": ..., \"fixed\": [x,y,z], \"moving\": [x,y,z]}]} (LPS mm); "
        "3 or more initialise the registration, residuals are reported");
    cmd->add_flag("--landmarks-only", o->landmarksOnly, "The least-squares rigid fit of the landmarks is the result");
    cmd->add_option("--mask", o->mask, "Register only where this mask (on FIXED, any grid; non-zero = inside) is set");
    cmd->add_option("--moving-mask", o->movingMask, "Mask on MOVING");
    cmd->add_option("--initial", o->initial, "Start from this TRANSFORM.json (e.g. a previous result)");
    cmd->add_option("--translate", o->translate,
                    "Nudge the start: x,y,z mm (LPS), added to where FIXED points land in MOVING")
        ->delimiter(',')
        ->expected(3);
    cmd->add_option("--rotate", o->rotate, "Nudge the start: degrees about x,y,z through the FIXED image's centre")
        ->delimiter(',')
        ->expected(3);
    cmd->add_option("--grid", o->gridMm, "Deformable: B-spline control point spacing (mm)")
        ->capture_default_str()
        ->check(CLI::Range(5.0, 500.0));
    cmd->add_option("--iterations", o->iterations, "Maximum iterations per pyramid level")
        ->capture_default_str()
        ->check(CLI::Range(1, 5000));
    cmd->add_option("--samples", o->samples, "Metric samples per level (0 = every voxel)")
        ->capture_default_str()
        ->check(CLI::Range(0, 100000000));
    cmd->add_option("--out", o->out, "TRANSFORM.json to write (fixed->moving, LPS)")->required();
    cmd->add_option("--tfm", o->tfm, "Also write an ITK .tfm (loads in 3D Slicer as is)");
    cmd->add_option("--resampled", o->resampled, "Write MOVING resampled onto the FIXED grid (.nrrd, .nii.gz, .mha)");
    cmd->add_flag(
        "--json", o->json,
        "Print the quality report as JSON: metric, iterations, converged, overlap, landmarks, warnings, seconds");
    cmd->add_flag("--quiet", o->quiet, "No progress on stderr");
    cmd->callback([o] { setExitCode(runRegister(*o)); });
}

} // namespace jumeau::cli
