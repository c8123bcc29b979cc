#include "jumeau/simulation/Case.h"

#include "jumeau/simulation/LabelImport.h"

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

} // namespace

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

namespace {

std::string caseName(const imaging::SeriesInfo& info, const std::string& fallback) {
    std::string name = info.patientName.empty() ? fallback : info.patientName;
    if (!info.seriesDescription.empty()) name += " — " + info.seriesDescription;
    return name;
}

} // namespace

Result<Case> caseFromSeries(std::vector<imaging::LoadedSeries> series, const std::string& source) {
    if (series.empty()) return makeError(ErrorCode::InvalidInput, source + ": no series to open");
    Case c;
    c.source = source;
    const std::size_t ref = chooseReference(series);
    c.reference = std::move(series[ref]);
    for (std::size_t i = 0; i < series.size(); ++i)
        if (i != ref) c.other.push_back(std::move(series[i]));
    c.registrations.resize(c.other.size());
    for (const auto& s : c.other)
        for (const auto& w : s.info.warnings) c.warnings.push_back(s.info.seriesDescription + ": " + w);
    for (const auto& w : c.reference.info.warnings) c.warnings.push_back(w);
    c.name = caseName(c.reference.info, fs::path(source).filename().string());
    return c;
}

void addSeries(Case& c, std::vector<imaging::LoadedSeries> series) {
    c.registrations.resize(c.other.size());
    for (auto& s : series) {
        for (const auto& w : s.info.warnings) c.warnings.push_back(s.info.seriesDescription + ": " + w);
        c.other.push_back(std::move(s));
        c.registrations.emplace_back();
    }
}

SeriesRegistration Case::registrationOf(std::size_t i) const {
    if (i == 0) {
        SeriesRegistration self;
        self.registered = true;
        self.method = "reference";
        return self;
    }
    if (i - 1 < registrations.size()) return registrations[i - 1];
    return {};
}

void Case::setRegistration(std::size_t i, SeriesRegistration r) {
    if (i == 0 || i > other.size()) return;
    if (registrations.size() < other.size()) registrations.resize(other.size());
    registrations[i - 1] = std::move(r);
}

Result<Case> openCase(const fs::path& path, const ProgressFn& progress) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return makeError(ErrorCode::NotFound, path.string() + ": no such file or folder");

    const bool demo = isDemoCaseLayout(path);
    const fs::path imageDir = demo ? path / "ct" : path;

    auto loaded = imaging::loadDicomFolder(imageDir, [&](double f, const std::string& m) {
        return reportProgress(progress, 0.9 * f, m);
    });
    if (!loaded) return loaded.error();

    // Masks stored as images beside the scan (IRCAD: one 0/255 series per structure) become the label map.
    std::vector<imaging::LoadedSeries> masks;
    if (!demo) {
        const auto maskIndices = findMaskSeries(loaded->series);
        if (maskIndices.size() < loaded->series.size()) { // keep at least one image as the reference
            std::vector<imaging::LoadedSeries> images;
            for (std::size_t i = 0; i < loaded->series.size(); ++i)
                (std::find(maskIndices.begin(), maskIndices.end(), i) != maskIndices.end() ? masks : images)
                    .push_back(std::move(loaded->series[i]));
            loaded->series = std::move(images);
        }
    }
    auto made = caseFromSeries(std::move(loaded->series), path.string());
    if (!made) return made.error();
    Case c = std::move(*made);
    for (const auto& skipped : loaded->skipped)
        c.warnings.push_back("skipped " + skipped.file.string() + ": " + skipped.reason);
    if (!masks.empty()) {
        if (!reportProgress(progress, 0.92, "importing masks")) return makeError(ErrorCode::Cancelled, "cancelled");
        LabelImportOptions options;
        options.skipRefused = true; // a mask that does not fit stays a series; the reason goes to the warnings
        auto imported = importMaskSeries(c, masks, options);
        std::vector<imaging::LoadedSeries> keep;
        if (imported) {
            for (const auto& w : imported->warnings) c.warnings.push_back(w);
            for (const auto& r : imported->refused) keep.push_back(std::move(masks[r.index]));
        } else {
            c.warnings.push_back("masks kept as series: " + imported.error().message);
            keep = std::move(masks);
        }
        addSeries(c, std::move(keep));
    }

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
        // The rest of the twin's images: MR and ultrasound, each in its own frame until registered.
        for (const char* sub : {"mr", "us"}) {
            if (!fs::is_directory(path / sub, ec)) continue;
            if (!reportProgress(progress, 0.95, std::string("reading ") + sub)) return makeError(ErrorCode::Cancelled, "cancelled");
            auto more = imaging::loadDicomFolder(path / sub);
            if (!more) {
                c.warnings.push_back((path / sub).string() + ": " + more.error().message);
                continue;
            }
            addSeries(c, std::move(more->series));
        }
    }
    reportProgress(progress, 1.0, "done");
    return c;
}

} // namespace jumeau::simulation
