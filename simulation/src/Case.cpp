#include "jumeau/simulation/Case.h"

#include <algorithm>
#include <tuple>

#include "jumeau/imaging/VolumeIO.h"

namespace jumeau::simulation {

namespace fs = std::filesystem;

namespace {

bool isDemoCaseLayout(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p / "ct", ec) && fs::is_directory(p / "labels", ec);
}

std::optional<fs::path> findLabelFile(const fs::path& dir) {
    std::vector<fs::path> candidates;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string n = e.path().filename().string();
        if (n.ends_with(".nrrd") || n.ends_with(".nii.gz") || n.ends_with(".nii") || n.ends_with(".mha"))
            candidates.push_back(e.path());
    }
    if (candidates.empty()) return std::nullopt;
    std::sort(candidates.begin(), candidates.end());
    return candidates.front();
}

// A binary 8-bit volume (values 0 and one other) is a mask stored as an image, as in IRCAD's datasets,
// not a planning image.
bool looksLikeMask(const imaging::Volume& v) {
    if (!v.holds<std::uint8_t>()) return false;
    const auto* p = v.data<std::uint8_t>();
    int other = -1;
    for (std::size_t i = 0, n = v.geometry().voxelCount(); i < n; ++i) {
        if (p[i] == 0) continue;
        if (other < 0) other = p[i];
        else if (p[i] != other) return false;
    }
    return true;
}

// Images before masks, CT before other modalities, then the largest.
std::size_t chooseReference(const std::vector<imaging::LoadedSeries>& series) {
    std::size_t best = 0;
    auto score = [](const imaging::LoadedSeries& s) {
        return std::tuple<int, int, std::size_t>(looksLikeMask(s.volume) ? 0 : 1, s.info.modality == "CT" ? 1 : 0,
                                                 s.volume.geometry().voxelCount());
    };
    for (std::size_t i = 1; i < series.size(); ++i)
        if (score(series[i]) > score(series[best])) best = i;
    return best;
}

} // namespace

Result<Case> openCase(const fs::path& path, const ProgressFn& progress) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return makeError(ErrorCode::NotFound, path.string() + ": no such file or folder");

    const bool demo = isDemoCaseLayout(path);
    const fs::path imageDir = demo ? path / "ct" : path;

    auto loaded = imaging::loadDicomFolder(imageDir, [&](double f, const std::string& m) {
        return reportProgress(progress, 0.9 * f, m);
    });
    if (!loaded) return loaded.error();

    Case c;
    c.source = path;
    const std::size_t ref = chooseReference(loaded->series);
    c.reference = std::move(loaded->series[ref]);
    for (const auto& s : loaded->skipped)
        c.warnings.push_back("skipped " + s.file.string() + ": " + s.reason);
    for (const auto& w : c.reference.info.warnings) c.warnings.push_back(w);
    if (loaded->series.size() > 1)
        c.warnings.push_back(std::to_string(loaded->series.size() - 1) +
                             " other series in the folder were not opened (only the reference is shown)");
    c.name = c.reference.info.patientName.empty() ? path.filename().string() : c.reference.info.patientName;
    if (!c.reference.info.seriesDescription.empty()) c.name += " — " + c.reference.info.seriesDescription;

    if (demo) {
        if (!reportProgress(progress, 0.92, "reading labels")) return makeError(ErrorCode::Cancelled, "cancelled");
        const auto labelFile = findLabelFile(path / "labels");
        if (!labelFile)
            return makeError(ErrorCode::InvalidInput, (path / "labels").string() + ": no label map (.nrrd/.nii/.mha) found");
        auto labels = imaging::readLabelMap(*labelFile);
        if (!labels) return labels.error();
        if (!labels->geometry().sameGrid(c.reference.volume.geometry(), 1e-2))
            return makeError(ErrorCode::InvalidInput, labelFile->string() + ": label grid (" + labels->geometry().describe() +
                                                          ") differs from the CT grid (" +
                                                          c.reference.volume.geometry().describe() + ")");
        c.labels = std::move(*labels);
    }
    reportProgress(progress, 1.0, "done");
    return c;
}

} // namespace jumeau::simulation
