// jumeau-cli inspect PATH [--json]: what a file, folder or DICOMDIR holds, as our reader loads it.
//
// Every series is decoded, so size, spacing, origin and direction are those of the loaded volume (after any
// reordering or gap filling the reader does), never a header estimate that could differ from what the workstation
// shows. Series are loaded one at a time and dropped, so memory stays at one volume.
//
// JSON contract (batch users and tests depend on it):
//   {"series":[{"seriesUid","studyUid","patientId","patientName","modality","description","files",
//               "size":[i,j,k],"spacing":[si,sj,sk],"origin":[x,y,z],"direction":[[ix,iy,iz],[jx,jy,jz],[kx,ky,kz]],
//               "warnings":[...]}],
//    "skipped":[{"file","reason"}]}
// origin = LPS mm of voxel (0,0,0); direction rows = LPS unit vectors of the i, j and k axes. Exit 0 when at least
// one series loads, else 1 (with a message on stderr naming PATH).

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "CliCommands.h"
#include "DicomCommands.h"
#include "jumeau/imaging/DicomSeriesReader.h"

namespace jumeau::cli {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json; // keeps the contract's key order, easier to read than sorted keys

struct InspectOptions {
    std::string path;
    bool json = false;
};

struct InspectedSeries {
    std::string selector;
    imaging::SeriesInfo info;
    imaging::ImageGeometry geometry;
    imaging::PixelType pixelType = imaging::PixelType::UInt8;
};

Json vec(const imaging::Vec3& v) {
    return Json::array({v.x, v.y, v.z});
}

Json seriesJson(const InspectedSeries& s) {
    const imaging::ImageGeometry& g = s.geometry;
    return {{"seriesUid", s.info.seriesUid},
            {"studyUid", s.info.studyUid},
            {"patientId", s.info.patientId},
            {"patientName", s.info.patientName},
            {"modality", s.info.modality},
            {"description", s.info.seriesDescription},
            {"files", s.info.files.size()},
            {"size", Json::array({g.size[0], g.size[1], g.size[2]})},
            {"spacing", vec(g.spacing)},
            {"origin", vec(g.origin)},
            {"direction", Json::array({vec(g.axis(0)), vec(g.axis(1)), vec(g.axis(2))})},
            {"warnings", s.info.warnings}};
}

void printTable(std::ostream& out, const fs::path& path, const std::vector<InspectedSeries>& series,
                const std::vector<imaging::SkippedFile>& skipped) {
    out << path.string() << ": " << series.size() << (series.size() == 1 ? " series" : " series") << " loaded, "
        << skipped.size() << (skipped.size() == 1 ? " file" : " files") << " skipped\n";
    for (std::size_t n = 0; n < series.size(); ++n) {
        const InspectedSeries& s = series[n];
        const imaging::ImageGeometry& g = s.geometry;
        out << "\nSeries " << n + 1 << "/" << series.size() << "  "
            << (s.info.modality.empty() ? "?" : s.info.modality);
        if (!s.info.seriesDescription.empty()) out << "  \"" << s.info.seriesDescription << "\"";
        out << "  (" << s.info.files.size() << (s.info.files.size() == 1 ? " file)\n" : " files)\n");
        out << "  series       " << s.selector;
        if (!s.info.partLabel.empty()) out << "  (" << s.info.partLabel << ")";
        out << "\n";
        out << "  study        " << s.info.studyUid << "\n";
        out << "  patient      " << (s.info.patientName.empty() ? "(no name)" : s.info.patientName) << "  (ID "
            << (s.info.patientId.empty() ? "none" : s.info.patientId) << ")\n";
        out << "  size         " << formatSize(g) << " voxels, " << imaging::toString(s.pixelType) << "\n";
        out << "  spacing      " << formatSpacing(g) << " mm\n";
        out << "  origin       " << formatPoint(g.origin) << " LPS mm\n";
        out << "  axes (LPS)   i " << formatPoint(g.axis(0)) << "  j " << formatPoint(g.axis(1)) << "  k "
            << formatPoint(g.axis(2)) << "\n";
        for (const auto& w : s.info.warnings) out << "  warning      " << w << "\n";
    }
    if (!skipped.empty()) {
        out << "\nSkipped:\n";
        for (const auto& s : skipped) out << "  " << s.file.string() << ": " << s.reason << "\n";
    }
}

int runInspect(const InspectOptions& options) {
    const fs::path path(options.path);
    std::vector<InspectedSeries> loaded;
    std::vector<imaging::SkippedFile> skipped;

    auto scan = imaging::scanDicom(path);
    if (!scan) {
        skipped.push_back({path, scan.error().message, scan.error().code});
    } else {
        skipped = scan->skipped;
        for (std::size_t i = 0; i < scan->series.size(); ++i) {
            const imaging::SeriesInfo& info = scan->series[i];
            auto series = imaging::loadSeries(info);
            const std::string selector = seriesSelector(scan->series, i);
            if (!series) {
                // The series' files were read as DICOM but could not become a volume: one entry names the series.
                std::string what = "series " + (selector.empty() ? std::string("(no SeriesInstanceUID)") : selector);
                if (!info.seriesDescription.empty()) what += " \"" + info.seriesDescription + "\"";
                what += " (" + std::to_string(info.files.size()) + (info.files.size() == 1 ? " file" : " files") +
                        ") not loaded: " + series.error().message;
                skipped.push_back({info.files.front(), what, series.error().code});
                continue;
            }
            loaded.push_back(
                {selector, std::move(series->info), series->volume.geometry(), series->volume.pixelType()});
        }
    }

    if (options.json) {
        Json doc = {{"series", Json::array()}, {"skipped", Json::array()}};
        for (const auto& s : loaded) doc["series"].push_back(seriesJson(s));
        for (const auto& s : skipped) doc["skipped"].push_back({{"file", s.file.string()}, {"reason", s.reason}});
        // Descriptions and paths are not guaranteed UTF-8 (patient names are converted by the reader): bytes
        // that are not valid UTF-8 become U+FFFD instead of aborting the whole document.
        std::cout << doc.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    } else {
        printTable(std::cout, path, loaded, skipped);
    }
    std::cout.flush();

    if (loaded.empty()) {
        std::cerr << "jumeau-cli inspect: " << path.string() << ": no image series could be loaded";
        if (!scan)
            std::cerr << " (" << scan.error().message << ")";
        else
            std::cerr << " (" << skipped.size() << (skipped.size() == 1 ? " file" : " files") << " skipped)";
        std::cerr << "\n";
        return 1;
    }
    return 0;
}

} // namespace

void registerInspectCommand(CLI::App& app) {
    auto options = std::make_shared<InspectOptions>();
    CLI::App* cmd = app.add_subcommand(
        "inspect", "List the image series in a DICOM file, folder (searched recursively) or DICOMDIR, as loaded: "
                   "patient, study, size, spacing, LPS origin and axes, warnings, and every skipped file with why");
    cmd->add_option("PATH", options->path, "DICOM file, folder or DICOMDIR")->required();
    cmd->add_flag("--json", options->json,
                  "Print one JSON document {\"series\":[...],\"skipped\":[{\"file\",\"reason\"}]} instead of a table");
    cmd->footer("Exit status: 0 when at least one series loads, 1 when none does.\n"
                "Series that the reader splits (mixed orientations or sizes, one volume per multi-frame file) are "
                "listed as UID#1, UID#2, ...: the names convert --series accepts.");
    cmd->callback([options] { setExitCode(runInspect(*options)); });
}

} // namespace jumeau::cli
