// jumeau-cli convert PATH [--series UID[#N]] --out FILE: one DICOM series as NRRD, NIfTI or MetaImage, with the
// loaded volume's geometry (LPS; ITK writes NIfTI's RAS as that format requires), so other tools can check it.
//
// Exit status: 0 written; 1 nothing loadable, or loading/writing failed; 2 the request is ambiguous or wrong
// (unknown output extension, several series and no --series, a selector that names no series or several).

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CliCommands.h"
#include "DicomCommands.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/VolumeIO.h"

namespace jumeau::cli {

namespace {

namespace fs = std::filesystem;

struct ConvertOptions {
    std::string path;
    std::string series;
    std::string out;
};

constexpr const char* kFormats = ".nrrd, .nii.gz or .mha (also .nhdr, .nii, .mhd)";

bool knownFormat(const fs::path& file) {
    std::string name = file.filename().string();
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const char* ext : {".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd"})
        if (name.ends_with(ext) && name.size() > std::char_traits<char>::length(ext)) return true;
    return false;
}

// The series on offer, one line each with what it is. Sizes come from loading each series (one at a time), so
// the user sees the volume convert would write, and which series cannot be loaded at all.
void listSeries(std::ostream& out, const std::vector<imaging::SeriesInfo>& series,
                const std::vector<std::size_t>& which) {
    for (std::size_t i : which) {
        const imaging::SeriesInfo& s = series[i];
        out << "  " << seriesSelector(series, i) << "  " << (s.modality.empty() ? "?" : s.modality);
        if (!s.seriesDescription.empty()) out << "  \"" << s.seriesDescription << "\"";
        if (!s.partLabel.empty()) out << "  (" << s.partLabel << ")";
        auto loaded = imaging::loadSeries(s);
        if (loaded)
            out << "  " << formatSize(loaded->volume.geometry());
        else
            out << "  (cannot be loaded: " << loaded.error().message << ")";
        out << "  " << s.files.size() << (s.files.size() == 1 ? " file" : " files") << "\n";
    }
}

std::vector<std::size_t> allIndices(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = i;
    return v;
}

int runConvert(const ConvertOptions& options) {
    const fs::path path(options.path);
    const fs::path out(options.out);
    // Checked before any decoding: a typo in the output name should not cost a whole load.
    if (!knownFormat(out)) {
        std::cerr << "jumeau-cli convert: " << out.string()
                  << ": unknown output format; the extension chooses it: " << kFormats << "\n";
        return 2;
    }

    auto scan = imaging::scanDicom(path);
    if (!scan) {
        std::cerr << "jumeau-cli convert: " << scan.error().message << "\n";
        return 1;
    }
    const auto& series = scan->series;
    if (series.empty()) {
        std::cerr << "jumeau-cli convert: " << path.string() << ": no DICOM image series found";
        if (!scan->skipped.empty())
            std::cerr << " (" << scan->skipped.size() << " files skipped, e.g. " << scan->skipped.front().file.string()
                      << ": " << scan->skipped.front().reason << ")";
        std::cerr << "\n";
        return 1;
    }

    std::size_t chosen = 0;
    if (options.series.empty()) {
        if (series.size() > 1) {
            std::cerr << "jumeau-cli convert: " << path.string() << " holds " << series.size()
                      << " series; choose one with --series:\n";
            listSeries(std::cerr, series, allIndices(series.size()));
            return 2;
        }
    } else {
        const auto matches = selectSeries(series, options.series);
        if (matches.empty()) {
            std::cerr << "jumeau-cli convert: no series " << options.series << " in " << path.string()
                      << "; the series there are:\n";
            listSeries(std::cerr, series, allIndices(series.size()));
            return 2;
        }
        if (matches.size() > 1) {
            std::cerr << "jumeau-cli convert: series " << options.series << " was split into " << matches.size()
                      << " volumes; choose one of:\n";
            listSeries(std::cerr, series, matches);
            return 2;
        }
        chosen = matches.front();
    }

    const std::string selector = seriesSelector(series, chosen);
    auto loaded = imaging::loadSeries(series[chosen]);
    if (!loaded) {
        std::cerr << "jumeau-cli convert: series " << selector << " in " << path.string()
                  << " could not be loaded: " << loaded.error().message << "\n";
        return 1;
    }
    for (const auto& w : loaded->info.warnings) std::cerr << "jumeau-cli convert: warning: " << w << "\n";

    const imaging::Volume& volume = loaded->volume;
    if (auto written = imaging::writeVolume(volume, out); !written) {
        std::cerr << "jumeau-cli convert: " << written.error().message << "\n";
        return 1;
    }
    const imaging::ImageGeometry& g = volume.geometry();
    std::cout << "Wrote " << out.string() << ": " << (loaded->info.modality.empty() ? "?" : loaded->info.modality)
              << " series " << selector << ", " << formatSize(g) << " " << imaging::toString(volume.pixelType())
              << ", spacing " << formatSpacing(g) << " mm, origin " << formatPoint(g.origin) << " LPS mm\n";
    return 0;
}

} // namespace

void registerConvertCommand(CLI::App& app) {
    auto options = std::make_shared<ConvertOptions>();
    CLI::App* cmd = app.add_subcommand(
        "convert", "Write one DICOM series as a volume file (.nrrd, .nii.gz, .mha) with the loaded geometry");
    cmd->add_option("PATH", options->path, "DICOM file, folder (searched recursively) or DICOMDIR")->required();
    cmd->add_option("--series", options->series,
                    "SeriesInstanceUID of the series to write; UID#N picks part N (from 1) of a series the reader "
                    "split into several volumes. May be left out when PATH holds one series");
    cmd->add_option("--out", options->out,
                    "Output file; its extension picks the format: .nrrd, .nii.gz, .mha (also .nhdr, .nii, .mhd)")
        ->required();
    cmd->footer("A series the reader splits (mixed orientations or image sizes, one volume per multi-frame file of a "
                "4D series) is named UID#1, UID#2, ... in the order `jumeau-cli inspect` lists them; the plain UID "
                "works when it names one volume.\n"
                "Exit status: 0 written; 1 nothing loadable, or loading/writing failed; 2 ambiguous or wrong "
                "request (unknown extension, several series and no --series, no such series).");
    cmd->callback([options] { setExitCode(runConvert(*options)); });
}

} // namespace jumeau::cli
