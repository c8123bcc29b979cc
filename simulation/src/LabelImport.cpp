#include "jumeau/simulation/LabelImport.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>

#include "jumeau/imaging/VolumeIO.h"
#include "jumeau/simulation/StructureMesher.h"

namespace jumeau::simulation {

namespace fs = std::filesystem;
using imaging::StructureCategory;

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Lower-case letters only: "Portal_Vein 2" -> "portalvein".
std::string letters(const std::string& s) {
    std::string out;
    for (unsigned char c : s)
        if (std::isalpha(c)) out += static_cast<char>(std::tolower(c));
    return out;
}

bool containsAny(const std::string& s, std::initializer_list<const char*> words) {
    for (const char* w : words)
        if (s.find(w) != std::string::npos) return true;
    return false;
}

std::string fixed(double v, int digits = 1) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

// "image_2" < "image_10": digit runs compare as numbers.
bool naturalLess(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
            std::size_t ei = i, ej = j;
            while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
            while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
            const std::string na = a.substr(i, ei - i), nb = b.substr(j, ej - j);
            const std::string ta = na.substr(std::min(na.find_first_not_of('0'), na.size()));
            const std::string tb = nb.substr(std::min(nb.find_first_not_of('0'), nb.size()));
            if (ta.size() != tb.size()) return ta.size() < tb.size();
            if (ta != tb) return ta < tb;
            i = ei;
            j = ej;
        } else {
            const char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i])));
            const char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j])));
            if (ca != cb) return ca < cb;
            ++i;
            ++j;
        }
    }
    return a.size() - i < b.size() - j;
}

bool isLabelFileName(const fs::path& p) {
    const std::string n = lower(p.filename().string());
    for (const char* ext : {".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd"})
        if (n.ends_with(ext)) return true;
    return false;
}

// Files a DICOM folder may carry beside its images (IRCAD's README.txt) that say nothing about its kind.
bool isSideFile(const fs::path& p) {
    const std::string n = lower(p.filename().string());
    return n.starts_with(".") || n.starts_with("readme") || n.ends_with(".txt") || n.ends_with(".json") ||
           n.ends_with(".md") || n == "dicomdir";
}

// File name without its (possibly double) extension: "liver.nii.gz" -> "liver", "labels.seg.nrrd" -> "labels".
std::string stem(const fs::path& p) {
    std::string n = p.filename().string();
    for (const char* ext : {".seg.nrrd", ".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"}) {
        if (lower(n).ends_with(ext)) return n.substr(0, n.size() - std::string(ext).size());
    }
    return p.stem().string();
}

std::array<double, 3> hueColour(const std::string& name) {
    // Stable per name, well spread (golden-ratio steps over a hash), moderately saturated.
    std::size_t h = 1469598103934665603ull;
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    return imaging::hsvColour(std::fmod(static_cast<double>(h % 1000) * 0.618033988749895, 1.0), 0.6, 0.85);
}

// ---- one structure's mask on the reference grid, before merging ----------------------------------------------------

struct Candidate {
    std::string name;
    StructureCategory category = StructureCategory::Other;
    std::array<double, 3> colour{1, 1, 1};
    std::string source;
    bool resampled = false;
    double sourceVolumeMl = 0;
    std::vector<std::uint32_t> voxels; // linear indices on the reference grid
    std::size_t order = 0;             // input order, the last tie-break
    std::uint16_t preferredValue = 0;  // the source's own value, kept when free (multi-label files)
};

struct Named {
    std::uint16_t value = 0;
    std::string name;
    std::optional<StructureCategory> category; // from the source's table (an Other there means "not said")
    std::optional<std::array<double, 3>> colour;
};

// A label volume of any integer type -> UInt8/UInt16 LabelMap after checking it holds labels.
Result<imaging::Volume> asLabelVolume(const imaging::Volume& v, const std::string& what, std::size_t maxLabels,
                                      std::vector<std::uint16_t>& values) {
    // UInt8 / UInt16 (masks, label maps): a histogram; other types through labelValues' checks.
    Result<std::vector<std::uint16_t>> found = std::vector<std::uint16_t>{};
    const auto histogramValues = [&]<typename T>(const T* p) -> Result<std::vector<std::uint16_t>> {
        std::vector<std::size_t> h(std::size_t{std::numeric_limits<T>::max()} + 1, 0);
        for (std::size_t i = 0, n = v.geometry().voxelCount(); i < n; ++i)
            if (p[i] != 0) ++h[p[i]]; // masks are mostly 0: no chain of increments on one counter
        std::vector<std::uint16_t> present;
        for (std::size_t x = 1; x < h.size(); ++x)
            if (h[x]) present.push_back(static_cast<std::uint16_t>(x));
        if (present.size() > maxLabels)
            return makeError(ErrorCode::InvalidInput, "not a label image: " + std::to_string(present.size()) +
                                                          " distinct values (an intensity image such as a CT?)");
        return present;
    };
    if (v.holds<std::uint8_t>())
        found = histogramValues(v.data<std::uint8_t>());
    else if (v.holds<std::uint16_t>())
        found = histogramValues(v.data<std::uint16_t>());
    else
        found = labelValues(v, maxLabels);
    if (!found) {
        std::string why = found.error().message;
        if (why.find("distinct values") != std::string::npos && maxLabels < 1000)
            why += "; a label volume with that many labels needs a structure table (.seg.nrrd)";
        return makeError(ErrorCode::InvalidInput, what + ": " + why);
    }
    values = *found;
    if (values.empty()) return makeError(ErrorCode::InvalidInput, what + ": empty mask (every voxel is 0)");
    if (v.holds<std::uint8_t>() || v.holds<std::uint16_t>()) return v;
    // Int16 / Int32 / Float32 holding label values only (checked above): narrowed without loss.
    const std::size_t n = v.geometry().voxelCount();
    const auto convert = [&]<typename Out>(Out) -> imaging::Volume {
        std::vector<Out> out(n);
        const auto copy = [&]<typename In>(const In* p) {
            std::transform(p, p + n, out.begin(), [](In x) { return static_cast<Out>(x); });
        };
        if (v.holds<std::int16_t>())
            copy(v.data<std::int16_t>());
        else if (v.holds<std::int32_t>())
            copy(v.data<std::int32_t>());
        else
            copy(v.data<float>());
        return imaging::Volume::create(v.geometry(), std::move(out));
    };
    if (values.back() <= 255) return convert(std::uint8_t{});
    return convert(std::uint16_t{});
}

struct ImportContext {
    const imaging::ImageGeometry& reference;
    const LabelImportOptions& options;
    std::vector<std::string>& warnings;
};

// The named values of one label volume, put on the reference grid: one Candidate per value present there.
Result<std::vector<Candidate>> candidatesFrom(const imaging::Volume& raw, const std::vector<Named>& named,
                                              const std::string& what, const ImportContext& ctx,
                                              const ProgressFn& progress, bool keepValues = false) {
    const imaging::ImageGeometry& own = raw.geometry();
    if (!own.isValid(1e-3))
        return makeError(ErrorCode::InvalidInput, what + ": invalid image geometry (" + own.describe() + ")");
    if (ctx.reference.voxelCount() > std::numeric_limits<std::uint32_t>::max())
        return makeError(ErrorCode::Unsupported,
                         what + ": reference grid too large (" + ctx.reference.describe() + ")");

    // Source voxels per value, and how many of them fall outside the reference grid (same sampling as resampling:
    // a voxel is inside when its centre is within the reference's outer half voxels).
    std::optional<geometry::Transform> sourceToReference;
    if (ctx.options.referenceToSource) {
        sourceToReference = ctx.options.referenceToSource->inverse();
        if (!sourceToReference) return makeError(ErrorCode::InvalidInput, what + ": the transform is not invertible");
    }
    auto toReference = imaging::indexMapping(ctx.reference, own, sourceToReference);
    if (!toReference) return makeError(toReference.error().code, what + ": " + toReference.error().message);
    const bool sameGrid = !ctx.options.referenceToSource && own.sameGrid(ctx.reference, 1e-3);
    std::vector<std::size_t> count(65536, 0), outside(65536, 0);
    const auto tally = [&]<typename T>(const T* p) {
        std::size_t idx = 0;
        for (int k = 0; k < own.size[2]; ++k)
            for (int j = 0; j < own.size[1]; ++j)
                for (int i = 0; i < own.size[0]; ++i, ++idx) {
                    if (p[idx] == 0) continue;
                    ++count[p[idx]];
                    if (sameGrid) continue; // nothing can be outside
                    const geometry::Vec3 r = toReference->apply({double(i), double(j), double(k)});
                    bool in = true;
                    for (int a = 0; a < 3; ++a) in = in && r[a] >= -0.5 && r[a] < ctx.reference.size[a] - 0.5;
                    if (!in) ++outside[p[idx]];
                }
    };
    if (raw.holds<std::uint8_t>())
        tally(raw.data<std::uint8_t>());
    else
        tally(raw.data<std::uint16_t>());

    imaging::LabelMap onReference;
    if (sameGrid) {
        onReference = imaging::LabelMap(raw.withGeometry(ctx.reference), {});
    } else {
        imaging::ResampleOptions ro;
        ro.targetToSource = ctx.options.referenceToSource;
        ro.labelResampling = ctx.options.resampling;
        auto r = imaging::resampleLabelMap(imaging::LabelMap(raw, {}), ctx.reference, ro, progress);
        if (!r) return makeError(r.error().code, what + ": " + r.error().message);
        onReference = std::move(*r);
        ctx.warnings.push_back(what + ": its grid (" + own.describe() + ") differs from the reference grid (" +
                               ctx.reference.describe() + "); resampled (" +
                               (ctx.options.resampling == imaging::LabelResampling::Majority ? "majority" : "nearest") +
                               (ctx.options.referenceToSource ? ", through the given transform" : "") + ")");
    }

    // Index lists per value on the reference grid.
    std::vector<int> slot(65536, -1);
    std::vector<Candidate> out;
    for (const Named& n : named) {
        if (count[n.value] == 0) continue; // a table entry without voxels: nothing to import
        slot[n.value] = static_cast<int>(out.size());
        Candidate c;
        c.name = n.name;
        c.source = named.size() > 1 ? what + ": label " + std::to_string(n.value) : what;
        const StructureCategory guessed = guessCategory(n.name);
        c.category = n.category && *n.category != StructureCategory::Other ? *n.category : guessed;
        c.colour = n.colour ? *n.colour : guessColour(n.name, c.category);
        c.resampled = !sameGrid;
        c.sourceVolumeMl = static_cast<double>(count[n.value]) * own.voxelVolumeMm3() / 1000.0;
        if (keepValues) c.preferredValue = n.value;
        out.push_back(std::move(c));
    }
    const auto collect = [&]<typename T>(const T* p) {
        const std::size_t n = ctx.reference.voxelCount();
        for (std::size_t i = 0; i < n; ++i)
            if (p[i] != 0 && slot[p[i]] >= 0)
                out[static_cast<std::size_t>(slot[p[i]])].voxels.push_back(static_cast<std::uint32_t>(i));
    };
    if (onReference.labels().holds<std::uint8_t>())
        collect(onReference.labels().data<std::uint8_t>());
    else
        collect(onReference.labels().data<std::uint16_t>());

    for (const Named& n : named) {
        if (count[n.value] == 0 || slot[n.value] < 0) continue;
        const Candidate& c = out[static_cast<std::size_t>(slot[n.value])];
        const std::string label = named.size() > 1 ? what + ": structure '" + n.name + "'" : what;
        if (outside[n.value] == count[n.value])
            return makeError(ErrorCode::InvalidInput,
                             label + " lies entirely outside the reference grid (" + ctx.reference.describe() +
                                 "): no overlap with the reference volume; wrong series or frame?");
        if (c.voxels.empty())
            return makeError(ErrorCode::InvalidInput,
                             label + ": all " + std::to_string(count[n.value]) +
                                 " voxels vanish on the reference grid (smaller than its voxels)");
        if (outside[n.value] > 0)
            ctx.warnings.push_back(label + ": " + fixed(100.0 * outside[n.value] / count[n.value]) + "% (" +
                                   fixed(outside[n.value] * own.voxelVolumeMm3() / 1000.0, 2) +
                                   " ml) lies outside the reference grid and is cut off");
    }
    return out;
}

Result<std::vector<Candidate>> fromLabelFile(const fs::path& file, const ImportContext& ctx,
                                             const ProgressFn& progress) {
    auto map = imaging::readLabelMap(file);
    if (!map) return map.error(); // names the file
    const std::string what = file.string();
    // readLabelMap names unnamed values "label N": then the file has no table.
    bool hasTable = false;
    for (const auto& s : map->structures())
        if (s.name != "label " + std::to_string(s.label)) hasTable = true;
    std::vector<std::uint16_t> values;
    auto volume = asLabelVolume(map->labels(), what, hasTable ? 65535 : ctx.options.maxUnnamedLabels, values);
    if (!volume) return volume.error();
    std::vector<Named> named;
    if (hasTable) {
        for (const auto& s : map->structures()) named.push_back({s.label, s.name, s.category, s.colour});
        for (std::uint16_t v : values)
            if (!map->findByLabel(v)) {
                named.push_back({v, stem(file) + " label " + std::to_string(v), std::nullopt, std::nullopt});
                ctx.warnings.push_back(what + ": value " + std::to_string(v) +
                                       " is not in its structure table; imported as '" + named.back().name + "'");
            }
    } else if (values.size() == 1) {
        named.push_back({values[0], stem(file), std::nullopt, std::nullopt}); // a binary mask named by its file
    } else {
        for (std::uint16_t v : values)
            named.push_back({v, stem(file) + " label " + std::to_string(v), std::nullopt, std::nullopt});
    }
    return candidatesFrom(*volume, named, what, ctx, progress, hasTable || values.size() > 1);
}

Result<std::vector<Candidate>> fromSeries(const imaging::LoadedSeries& series, const std::string& name,
                                          const std::string& what, const ImportContext& ctx,
                                          const ProgressFn& progress) {
    std::vector<std::uint16_t> values;
    auto volume = asLabelVolume(series.volume, what, ctx.options.maxUnnamedLabels, values);
    if (!volume) return volume.error();
    std::vector<Named> named;
    if (values.size() == 1)
        named.push_back({values[0], name, std::nullopt, std::nullopt});
    else
        for (std::uint16_t v : values)
            named.push_back({v, name + " label " + std::to_string(v), std::nullopt, std::nullopt});
    return candidatesFrom(*volume, named, what, ctx, progress);
}

Result<std::vector<Candidate>> fromMaskFolder(const fs::path& folder, const ImportContext& ctx,
                                              const ProgressFn& progress) {
    auto loaded = imaging::loadDicomFolder(folder);
    if (!loaded) return loaded.error(); // names the folder
    if (loaded->series.size() != 1)
        return makeError(ErrorCode::InvalidInput, folder.string() + ": holds " + std::to_string(loaded->series.size()) +
                                                      " series; a mask folder holds one");
    for (const auto& w : loaded->series.front().info.warnings) ctx.warnings.push_back(folder.string() + ": " + w);
    std::string name = fs::is_directory(folder) ? folder.filename().string() : stem(folder);
    if (name.empty()) name = folder.parent_path().filename().string(); // "masks/liver/"
    return fromSeries(loaded->series.front(), name, folder.string(), ctx, progress);
}

} // namespace

std::string LabelOverlap::describe() const {
    return keptBy + " overlaps " + structure + " by " + fixed(volumeMl, volumeMl < 0.1 ? 3 : 1) + " ml; " + keptBy +
           " kept there";
}

StructureCategory guessCategory(const std::string& name) {
    const std::string s = letters(name);
    if (containsAny(s, {"tumor", "tumour", "lesion", "metasta", "nodule", "cancer", "carcinom", "neoplas", "hcc"}))
        return StructureCategory::Tumour;
    if (containsAny(s, {"vein", "vena", "venous", "arter", "aorta", "cava", "vessel", "vascul", "portal", "ivc",
                        "biliar", "bileduct"}))
        return StructureCategory::Vessel;
    if (containsAny(s, {"bone", "skelet", "spine", "vertebr", "rib", "pelvis", "femur", "skull", "sternum", "sacrum",
                        "clavicle", "scapula", "humerus"}))
        return StructureCategory::Bone;
    if (containsAny(s, {"skin", "body", "outline", "external"})) return StructureCategory::Body;
    if (containsAny(s, {"cyst", "kyst", "stone", "calcul", "clip", "stent", "catheter", "drain", "needle"}))
        return StructureCategory::Other;
    if (containsAny(s, {"liver",   "kidney", "spleen",   "pancrea",  "stomach", "lung",    "heart",    "gallbladder",
                        "bladder", "colon",  "bowel",    "intestin", "duoden",  "adrenal", "surrenal", "prostate",
                        "uterus",  "brain",  "oesophag", "esophag",  "thyroid", "rectum",  "organ",    "hepatic"}))
        return StructureCategory::Organ;
    return StructureCategory::Other;
}

std::array<double, 3> guessColour(const std::string& name, StructureCategory category) {
    const std::string s = letters(name);
    switch (category) {
    case StructureCategory::Tumour: {
        // Yellows and oranges, the n-th tumour of a list a different one (trailing number of the name).
        static const std::array<std::array<double, 3>, 4> tones{
            {{0.95, 0.85, 0.2}, {0.8, 0.92, 0.25}, {1.0, 0.65, 0.1}, {0.95, 0.55, 0.55}}};
        std::size_t n = 0;
        const auto digits = name.find_last_not_of("0123456789");
        if (digits + 1 < name.size()) n = static_cast<std::size_t>(std::stoul(name.substr(digits + 1).substr(0, 6)));
        return tones[(n + tones.size() - 1) % tones.size()];
    }
    case StructureCategory::Vessel:
        if (containsAny(s, {"portal"})) return {0.45, 0.25, 0.8};
        if (containsAny(s, {"hepaticvein", "hepaticveins"})) return {0.15, 0.45, 0.9};
        if (containsAny(s, {"arter", "aorta"})) return {0.85, 0.15, 0.15};
        if (containsAny(s, {"biliar", "bile"})) return {0.3, 0.75, 0.3};
        if (containsAny(s, {"vein", "vena", "venous", "cava", "ivc"})) return {0.2, 0.35, 0.85};
        return {0.65, 0.2, 0.6};
    case StructureCategory::Bone:
        return {0.95, 0.93, 0.84};
    case StructureCategory::Body:
        return {0.89, 0.72, 0.6};
    case StructureCategory::Organ:
        if (containsAny(s, {"liver", "hepatic"})) return {0.87, 0.47, 0.37};
        if (containsAny(s, {"kidney"})) return {0.72, 0.33, 0.28};
        if (containsAny(s, {"spleen"})) return {0.62, 0.2, 0.35};
        if (containsAny(s, {"gallbladder"})) return {0.3, 0.6, 0.25};
        if (containsAny(s, {"pancrea"})) return {0.95, 0.78, 0.45};
        if (containsAny(s, {"lung"})) return {0.75, 0.85, 0.95};
        if (containsAny(s, {"heart"})) return {0.8, 0.25, 0.3};
        if (containsAny(s, {"stomach", "colon", "bowel", "intestin", "duoden", "rectum", "oesophag", "esophag"}))
            return {0.88, 0.68, 0.55};
        if (containsAny(s, {"bladder"})) return {0.9, 0.85, 0.45};
        return hueColour(s);
    case StructureCategory::Other:
        break;
    }
    return hueColour(s);
}

int precedenceRank(StructureCategory category) {
    switch (category) {
    case StructureCategory::Tumour:
        return 5;
    case StructureCategory::Vessel:
        return 4;
    case StructureCategory::Other:
        return 3;
    case StructureCategory::Organ:
        return 2;
    case StructureCategory::Bone:
        return 1;
    case StructureCategory::Body:
        return 0;
    }
    return 3;
}

Result<LabelSourceKind> classifyLabelSource(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return makeError(ErrorCode::NotFound, path.string() + ": no such file or folder");
    if (fs::is_regular_file(path, ec))
        return isLabelFileName(path) ? LabelSourceKind::LabelFile : LabelSourceKind::MaskSeriesFolder;
    if (!fs::is_directory(path, ec))
        return makeError(ErrorCode::InvalidInput, path.string() + ": not a file or folder");
    bool dicomLike = false, labelFiles = false, folders = false;
    for (const auto& e : fs::directory_iterator(path, ec)) {
        if (e.is_directory(ec))
            folders = true;
        else if (isLabelFileName(e.path()))
            labelFiles = true;
        else if (e.is_regular_file(ec) && !isSideFile(e.path()))
            dicomLike = true;
    }
    if (ec) return makeError(ErrorCode::IoError, path.string() + ": cannot list the folder: " + ec.message());
    if (dicomLike) return LabelSourceKind::MaskSeriesFolder;
    if (folders || labelFiles) return LabelSourceKind::FolderOfMaskSeries;
    return makeError(ErrorCode::InvalidInput,
                     path.string() + ": holds no mask (no DICOM files, label files or folders)");
}

bool isMaskSeries(const imaging::LoadedSeries& series) {
    const imaging::Volume& v = series.volume;
    const auto binary = [&]<typename T>(const T* p) {
        T other = 0;
        for (std::size_t i = 0, n = v.geometry().voxelCount(); i < n; ++i) {
            if (p[i] == 0) continue;
            if (other == 0)
                other = p[i];
            else if (p[i] != other)
                return false;
        }
        return other != 0;
    };
    if (v.holds<std::uint8_t>()) return binary(v.data<std::uint8_t>());
    if (v.holds<std::uint16_t>()) return binary(v.data<std::uint16_t>());
    if (v.holds<std::int16_t>()) return binary(v.data<std::int16_t>());
    return false;
}

std::vector<std::size_t> findMaskSeries(const std::vector<imaging::LoadedSeries>& series) {
    std::vector<std::size_t> masks;
    for (std::size_t i = 0; i < series.size(); ++i)
        if (isMaskSeries(series[i])) masks.push_back(i);
    if (masks.size() == series.size()) return {}; // nothing else to be the reference: they are the images
    return masks;
}

std::string maskSeriesName(const imaging::LoadedSeries& series, const imaging::LoadedSeries* reference) {
    const imaging::SeriesInfo& info = series.info;
    if (!info.seriesDescription.empty()) return info.seriesDescription;
    // IRCAD: PatientName "liver_17^portalvein" beside the CT's "liver_17^patient".
    const auto caret = info.patientName.rfind('^');
    if (caret != std::string::npos && caret + 1 < info.patientName.size() &&
        (!reference || reference->info.patientName != info.patientName))
        return info.patientName.substr(caret + 1);
    if (!info.files.empty()) {
        const fs::path folder = info.files.front().parent_path();
        if (!reference || reference->info.files.empty() || reference->info.files.front().parent_path() != folder)
            if (!folder.filename().empty()) return folder.filename().string();
    }
    return "mask";
}

namespace {

// Merges the candidates into c.labels by precedence; fills result. The case is only assigned at the end.
Result<void> merge(Case& c, std::vector<Candidate> candidates, LabelImportResult& result, const ProgressFn& progress) {
    const imaging::ImageGeometry& g = c.reference.volume.geometry();
    const double voxelMl = g.voxelVolumeMm3() / 1000.0;

    // Existing labels: values in the table and values present in the voxels.
    std::vector<imaging::Structure> table;
    std::vector<std::size_t> histogram(65536, 0);
    if (c.labels && !c.labels->empty()) {
        if (!c.labels->geometry().sameGrid(g, 1e-2))
            return makeError(ErrorCode::InvalidInput, "the case's label map grid (" + c.labels->geometry().describe() +
                                                          ") differs from its reference grid (" + g.describe() + ")");
        table = c.labels->structures();
        const auto h = c.labels->histogram();
        std::copy(h.begin(), h.end(), histogram.begin());
    }
    std::vector<char> used(65536, 0);
    used[0] = 1;
    for (const auto& s : table) used[s.label] = 1;
    for (std::size_t v = 1; v < histogram.size(); ++v)
        if (histogram[v]) used[v] = 1;

    // Names unique, case-insensitively, among the existing and the new structures.
    std::vector<std::string> taken;
    for (const auto& s : table) taken.push_back(lower(s.name));
    for (auto& cand : candidates) {
        std::string name = cand.name.empty() ? "mask" : cand.name;
        for (int n = 2; std::find(taken.begin(), taken.end(), lower(name)) != taken.end(); ++n)
            name = cand.name + " (" + std::to_string(n) + ")";
        if (name != cand.name)
            result.warnings.push_back(cand.source + ": the case already has a structure named '" + cand.name +
                                      "'; imported as '" + name + "'");
        cand.name = name;
        taken.push_back(lower(name));
    }

    // Label values: a multi-label file's own where free, else the smallest unused ones.
    std::vector<std::uint16_t> newValue(candidates.size(), 0);
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const std::uint16_t want = candidates[i].preferredValue;
        if (want != 0 && !used[want]) {
            newValue[i] = want;
            used[want] = 1;
        }
    }
    std::size_t next = 1;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (newValue[i] != 0) continue;
        while (next < used.size() && used[next]) ++next;
        if (next >= used.size())
            return makeError(ErrorCode::Unsupported, "too many structures: no free label value left (65535 in use)");
        newValue[i] = static_cast<std::uint16_t>(next);
        used[next] = 1;
    }
    std::uint16_t maxValue = 0;
    for (std::size_t v = 1; v < used.size(); ++v)
        if (used[v]) maxValue = static_cast<std::uint16_t>(v);

    // Who is who: compact ids, existing first, then new; rank and name per id.
    std::vector<int> idOf(65536, -1);
    std::vector<int> rank;
    std::vector<std::string> names;
    for (std::size_t v = 1; v < 65536; ++v) {
        if (!used[v] || std::find(newValue.begin(), newValue.end(), v) != newValue.end()) continue;
        const imaging::Structure* s = c.labels ? c.labels->findByLabel(static_cast<std::uint16_t>(v)) : nullptr;
        idOf[v] = static_cast<int>(rank.size());
        rank.push_back(precedenceRank(s ? s->category : StructureCategory::Other));
        names.push_back(s ? s->name : "label " + std::to_string(v));
    }
    const std::size_t existingCount = rank.size();
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        idOf[newValue[i]] = static_cast<int>(rank.size());
        rank.push_back(precedenceRank(candidates[i].category));
        names.push_back(candidates[i].name);
    }
    const std::size_t ids = rank.size();
    std::vector<std::size_t> lost(ids * ids, 0); // lost[loser * ids + winner]

    // Output voxels: the existing labels, widened when new values need it.
    const std::size_t n = g.voxelCount();
    std::vector<std::uint16_t> out(n, 0);
    if (c.labels && !c.labels->empty()) {
        const imaging::Volume& v = c.labels->labels();
        if (v.holds<std::uint8_t>())
            std::copy(v.data<std::uint8_t>(), v.data<std::uint8_t>() + n, out.begin());
        else
            std::copy(v.data<std::uint16_t>(), v.data<std::uint16_t>() + n, out.begin());
    }

    // Highest precedence first; among equals the smaller mask (the more specific), then input order.
    std::vector<std::size_t> order(candidates.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const int ra = precedenceRank(candidates[a].category), rb = precedenceRank(candidates[b].category);
        if (ra != rb) return ra > rb;
        if (candidates[a].voxels.size() != candidates[b].voxels.size())
            return candidates[a].voxels.size() < candidates[b].voxels.size();
        return candidates[a].order < candidates[b].order;
    });
    std::size_t step = 0;
    for (std::size_t i : order) {
        if (!reportProgress(progress, 0.9 + 0.1 * static_cast<double>(step++) / static_cast<double>(order.size()),
                            "merging " + candidates[i].name))
            return makeError(ErrorCode::Cancelled, "label import cancelled");
        const std::uint16_t value = newValue[i];
        const int me = idOf[value];
        for (std::uint32_t at : candidates[i].voxels) {
            const std::uint16_t cur = out[at];
            if (cur == 0) {
                out[at] = value;
                continue;
            }
            const int other = idOf[cur];
            if (static_cast<std::size_t>(other) < existingCount &&
                rank[static_cast<std::size_t>(me)] > rank[static_cast<std::size_t>(other)]) {
                out[at] = value; // takes an existing structure's voxel
                ++lost[static_cast<std::size_t>(other) * ids + static_cast<std::size_t>(me)];
            } else {
                ++lost[static_cast<std::size_t>(me) * ids + static_cast<std::size_t>(other)];
            }
        }
    }

    // The new label volume and table.
    imaging::Volume volume;
    if (maxValue <= 255) {
        std::vector<std::uint8_t> narrow(out.begin(), out.end());
        volume = imaging::Volume::create(g, std::move(narrow));
    } else {
        volume = imaging::Volume::create(g, std::move(out));
    }
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const Candidate& cand = candidates[i];
        imaging::Structure s;
        s.label = newValue[i];
        s.name = cand.name;
        s.colour = cand.colour;
        s.category = cand.category;
        table.push_back(s);
        ImportedStructure r;
        r.name = cand.name;
        r.label = newValue[i];
        r.category = cand.category;
        r.colour = cand.colour;
        r.source = cand.source;
        r.resampled = cand.resampled;
        r.maskVoxels = cand.voxels.size();
        std::size_t gone = 0;
        const std::size_t me = static_cast<std::size_t>(idOf[newValue[i]]);
        for (std::size_t w = 0; w < ids; ++w) gone += lost[me * ids + w];
        r.voxels = r.maskVoxels - gone;
        r.volumeMl = static_cast<double>(r.voxels) * voxelMl;
        r.sourceVolumeMl = cand.sourceVolumeMl;
        result.structures.push_back(std::move(r));
    }
    for (std::size_t a = 0; a < ids; ++a)
        for (std::size_t b = 0; b < ids; ++b)
            if (lost[a * ids + b]) {
                LabelOverlap o;
                o.structure = names[a];
                o.keptBy = names[b];
                o.voxels = lost[a * ids + b];
                o.volumeMl = static_cast<double>(o.voxels) * voxelMl;
                result.warnings.push_back(o.describe());
                result.overlaps.push_back(std::move(o));
            }
    c.labels = imaging::LabelMap(std::move(volume), std::move(table));
    return {};
}

using Step = std::function<Result<std::vector<Candidate>>(const ImportContext&, const ProgressFn&)>;

Result<LabelImportResult> run(Case& c, const std::vector<Step>& steps, const std::vector<std::string>& what,
                              const LabelImportOptions& options, const ProgressFn& progress) {
    if (c.reference.volume.empty())
        return makeError(ErrorCode::InvalidInput, "the case has no reference volume to put labels on");
    const imaging::ImageGeometry& g = c.reference.volume.geometry();
    if (!g.isValid(1e-3))
        return makeError(ErrorCode::InvalidInput, "the case's reference grid is not valid (" + g.describe() + ")");
    LabelImportResult result;
    std::vector<Candidate> all;
    const ImportContext ctx{g, options, result.warnings};
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const double lo = 0.9 * static_cast<double>(i) / static_cast<double>(steps.size());
        const double span = 0.9 / static_cast<double>(steps.size());
        if (!reportProgress(progress, lo, "reading " + what[i]))
            return makeError(ErrorCode::Cancelled, "label import cancelled");
        const ProgressFn inner = [&](double f, const std::string& m) {
            return reportProgress(progress, lo + span * f, m);
        };
        auto got = steps[i](ctx, inner);
        if (!got) {
            if (got.error().code == ErrorCode::Cancelled || !options.skipRefused) return got.error();
            result.warnings.push_back("not imported: " + got.error().message);
            result.refused.push_back({i, what[i], got.error().message});
            continue;
        }
        for (auto& cand : *got) {
            cand.order = all.size();
            all.push_back(std::move(cand));
        }
    }
    if (all.empty())
        return makeError(ErrorCode::InvalidInput,
                         (what.size() == 1 ? what.front() : std::to_string(what.size()) + " sources") +
                             ": no mask could be imported" +
                             (result.warnings.empty() ? "" : " (" + result.warnings.back() + ")"));
    if (auto m = merge(c, std::move(all), result, progress); !m) return m.error();
    reportProgress(progress, 1.0, "labels imported");
    return result;
}

// The steps a path expands to (a folder of structures gives one step per structure).
Result<void> stepsFor(const fs::path& path, std::vector<Step>& steps, std::vector<std::string>& what) {
    auto kind = classifyLabelSource(path);
    if (!kind) return kind.error();
    switch (*kind) {
    case LabelSourceKind::LabelFile:
        steps.push_back([path](const ImportContext& ctx, const ProgressFn& p) { return fromLabelFile(path, ctx, p); });
        what.push_back(path.string());
        return {};
    case LabelSourceKind::MaskSeriesFolder:
        steps.push_back([path](const ImportContext& ctx, const ProgressFn& p) { return fromMaskFolder(path, ctx, p); });
        what.push_back(path.string());
        return {};
    case LabelSourceKind::FolderOfMaskSeries: {
        std::vector<fs::path> entries;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(path, ec))
            if (e.is_directory(ec) || isLabelFileName(e.path())) entries.push_back(e.path());
        std::sort(entries.begin(), entries.end(), [](const fs::path& a, const fs::path& b) {
            return naturalLess(a.filename().string(), b.filename().string());
        });
        for (const auto& e : entries) {
            if (isLabelFileName(e))
                steps.push_back(
                    [e](const ImportContext& ctx, const ProgressFn& p) { return fromLabelFile(e, ctx, p); });
            else
                steps.push_back(
                    [e](const ImportContext& ctx, const ProgressFn& p) { return fromMaskFolder(e, ctx, p); });
            what.push_back(e.string());
        }
        return {};
    }
    }
    return {};
}

} // namespace

Result<LabelImportResult> importLabels(Case& c, const std::vector<fs::path>& sources, const LabelImportOptions& options,
                                       const ProgressFn& progress) {
    if (sources.empty()) return makeError(ErrorCode::InvalidInput, "no label source given");
    std::vector<Step> steps;
    std::vector<std::string> what;
    for (const auto& s : sources)
        if (auto r = stepsFor(s, steps, what); !r) return r.error();
    return run(c, steps, what, options, progress);
}

Result<LabelImportResult> importLabels(Case& c, const fs::path& source, const LabelImportOptions& options,
                                       const ProgressFn& progress) {
    return importLabels(c, std::vector<fs::path>{source}, options, progress);
}

Result<LabelImportResult> importMaskSeries(Case& c, const std::vector<imaging::LoadedSeries>& masks,
                                           const LabelImportOptions& options, const ProgressFn& progress) {
    if (masks.empty()) return makeError(ErrorCode::InvalidInput, "no mask series given");
    std::vector<Step> steps;
    std::vector<std::string> what;
    for (const auto& m : masks) {
        const std::string name = maskSeriesName(m, &c.reference);
        const std::string where =
            m.info.files.empty() ? name : m.info.files.front().parent_path().string() + " (series '" + name + "')";
        steps.push_back([&m, name, where](const ImportContext& ctx, const ProgressFn& p) {
            return fromSeries(m, name, where, ctx, p);
        });
        what.push_back(where);
    }
    return run(c, steps, what, options, progress);
}

} // namespace jumeau::simulation
