#include "jumeau/imaging/DicomSeriesReader.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <numbers>
#include <set>
#include <sstream>
#include <thread>
#include <variant>

#include "DicomHeader.h"
#include "DicomPixels.h"
#include "DicomSeriesInternal.h"

// Two stages, so each can grow on its own:
//  1. scan: headers only (DicomHeader.cpp), in parallel; files grouped into series, a series split where it mixes
//     orientations, image sizes, localizers, or (where positions repeat) echoes, time points, phases, acquisitions;
//  2. load: headers re-read (cheap, and loadSeries stays usable with a SeriesInfo built by hand), slices placed by
//     their position along the slice normal, frames decoded in parallel into one buffer (DicomPixels.cpp), rescaled
//     once into the output pixel type, then resampled when the stack is not a regular orthogonal grid (missing
//     slices, uneven spacing, gantry tilt).

namespace jumeau::imaging {

namespace fs = std::filesystem;
using dicom::DicomHeader;
using dicom::FrameInfo;
using dicom::RawKind;
using dicom::ValueRange;

namespace {

// ---- small parallel loop ------------------------------------------------------------------------------------------

unsigned workerCount(std::size_t jobs) {
    // Reading and decoding are I/O and memory bound: a few threads saturate a disk; more only add contention.
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<unsigned>(std::min<std::size_t>({hw, 4u, std::max<std::size_t>(jobs, 1)}));
}

// Runs work(i) for every i in [0, n). The calling thread takes part and is the only one calling `report` (before
// each job it takes, and once all are done, with the number done so far), so progress callbacks need not be
// thread-safe. `report` returning false cancels the remaining jobs; the function then returns false. Asking before
// each job means a Cancel is seen even when the helpers happen to take every job first.
bool parallelFor(std::size_t n, const std::function<void(std::size_t)>& work,
                 const std::function<bool(std::size_t)>& report = {}) {
    std::atomic<std::size_t> next{0}, done{0};
    std::atomic<bool> cancelled{false};
    const auto take = [&]() -> std::optional<std::size_t> {
        if (cancelled.load()) return std::nullopt;
        const std::size_t i = next.fetch_add(1);
        return i < n ? std::optional<std::size_t>(i) : std::nullopt;
    };
    std::vector<std::thread> helpers;
    for (unsigned t = 1; t < workerCount(n); ++t)
        helpers.emplace_back([&] {
            while (auto i = take()) {
                work(*i);
                done.fetch_add(1);
            }
        });
    for (;;) {
        if (report && !report(done.load())) cancelled = true;
        const auto i = take();
        if (!i) break;
        work(*i);
        done.fetch_add(1);
    }
    for (auto& t : helpers) t.join();
    if (report && !cancelled.load() && !report(done.load())) cancelled = true;
    return !cancelled.load();
}

Error cancelledError() {
    return makeError(ErrorCode::Cancelled, "cancelled");
}

// ---- text ---------------------------------------------------------------------------------------------------------

std::string fmt(double v, int precision = 4) {
    std::ostringstream s;
    s.precision(precision);
    s << v;
    return s.str();
}

// Millimetres and degrees in messages: at least one decimal, at most three ("1.0", "1.5", "2.075").
std::string dec(double v) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(3);
    s << v;
    std::string t = s.str();
    while (t.size() > 2 && t.back() == '0' && t[t.size() - 2] != '.') t.pop_back();
    return t == "-0.0" ? "0.0" : t;
}

std::string degrees(double v) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(1);
    s << v << "\xC2\xB0";
    return s.str();
}

std::string counted(std::size_t n, const std::string& noun) {
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// ---- geometry helpers ---------------------------------------------------------------------------------------------

Vec3 normalOf(const std::array<Vec3, 2>& o) {
    return geometry::normalized(geometry::cross(geometry::normalized(o[0]), geometry::normalized(o[1])));
}

bool sameOrientation(const std::array<Vec3, 2>& a, const std::array<Vec3, 2>& b, double tol = 1e-3) {
    for (int v = 0; v < 2; ++v)
        for (int c = 0; c < 3; ++c)
            if (std::abs(geometry::normalized(a[v])[c] - geometry::normalized(b[v])[c]) > tol) return false;
    return true;
}

std::string describeOrientation(const std::optional<std::array<Vec3, 2>>& o) {
    if (!o) return "no orientation";
    const auto& r = (*o)[0];
    const auto& c = (*o)[1];
    return "orientation " + fmt(r.x, 3) + "\\" + fmt(r.y, 3) + "\\" + fmt(r.z, 3) + "\\" + fmt(c.x, 3) + "\\" +
           fmt(c.y, 3) + "\\" + fmt(c.z, 3);
}

std::string planeName(const std::optional<std::array<Vec3, 2>>& o) {
    if (!o) return "no geometry";
    const Vec3 n = normalOf(*o);
    if (std::abs(n.z) >= 0.95) return "axial";
    if (std::abs(n.y) >= 0.95) return "coronal";
    if (std::abs(n.x) >= 0.95) return "sagittal";
    return "oblique";
}

// ---- scan: grouping -----------------------------------------------------------------------------------------------

// One image of a scanned series: a single-frame file, or one frame of a multi-frame file.
struct Unit {
    std::size_t header = 0;
    int frame = 0;
    FrameInfo info;
    int triggerRank = 0; // rank by TriggerTime among the units at the same position (set while splitting)

    // A position beyond a kilometre is a broken header: no geometry for grouping (and loading refuses it).
    bool hasGeometry() const { return info.position && info.orientation && geometry::norm(*info.position) <= 1e6; }
    double projection() const { return geometry::dot(*info.position, normalOf(*info.orientation)); }
};

// A set of units that will be one volume, with why it was separated from the rest of its series.
struct Part {
    std::vector<Unit> units;
    std::vector<std::string> labels;
    std::vector<std::string> warnings;
};

std::string seriesLabel(const DicomHeader& h) {
    std::string label = "series " + (h.seriesUid.empty() ? std::string("(no SeriesInstanceUID)") : h.seriesUid);
    if (!h.seriesDescription.empty()) label += " \"" + h.seriesDescription + "\"";
    return label;
}

SeriesInfo seriesInfoFrom(const DicomHeader& h) {
    SeriesInfo s;
    s.patientName = h.patientName;
    s.patientId = h.patientId;
    s.patientBirthDate = h.patientBirthDate;
    s.patientSex = h.patientSex;
    s.studyUid = h.studyUid;
    s.studyDate = h.studyDate;
    s.studyDescription = h.studyDescription;
    s.seriesUid = h.seriesUid;
    s.modality = h.modality;
    s.seriesDescription = h.seriesDescription;
    s.bodyPart = h.bodyPart;
    s.frameOfReferenceUid = h.frameOfReferenceUid;
    s.windowPresets = h.windowPresets;
    return s;
}

// The most images found at one position along the normal (1 when every position is distinct). Units without
// geometry never count as repeated: nothing says where they are.
std::size_t maxMultiplicity(const std::vector<Unit>& units) {
    std::vector<double> z;
    for (const auto& u : units)
        if (u.hasGeometry()) z.push_back(u.projection());
    std::sort(z.begin(), z.end());
    std::size_t best = z.empty() ? 0 : 1, run = 1;
    for (std::size_t i = 1; i < z.size(); ++i) {
        run = z[i] - z[i - 1] < 1e-2 ? run + 1 : 1;
        best = std::max(best, run);
    }
    return best;
}

// What may tell repeated images of one position apart, in the order they are tried. A key separates a part when
// it has at least two values, no more values than images at the most repeated position (so a CT giving every
// slice its own AcquisitionNumber is never cut into single slices), and each resulting part repeats less.
struct KeyValue {
    double order = 0;  // numeric order of the parts (echo 1 before echo 2)
    std::string label; // also what identifies the value
};
struct SplitKey {
    const char* name;
    std::function<std::optional<KeyValue>(const Unit&, const DicomHeader&)> value;
};

std::string roundedText(double v) {
    return fmt(std::round(v * 100.0) / 100.0, 6);
}

const std::vector<SplitKey>& splitKeys() {
    static const std::vector<SplitKey> keys{
        {"image type",
         [](const Unit&, const DicomHeader& h) -> std::optional<KeyValue> {
             if (h.imageType.empty()) return std::nullopt;
             return KeyValue{0, "image type " + h.imageType};
         }},
        {"echo",
         [](const Unit&, const DicomHeader& h) -> std::optional<KeyValue> {
             if (!h.echoNumber) return std::nullopt;
             return KeyValue{static_cast<double>(*h.echoNumber), "echo " + std::to_string(*h.echoNumber)};
         }},
        {"echo time",
         [](const Unit& u, const DicomHeader&) -> std::optional<KeyValue> {
             if (!u.info.echoTime) return std::nullopt;
             return KeyValue{*u.info.echoTime, "TE " + roundedText(*u.info.echoTime) + " ms"};
         }},
        {"temporal position",
         [](const Unit& u, const DicomHeader&) -> std::optional<KeyValue> {
             if (!u.info.temporalPosition) return std::nullopt;
             return KeyValue{static_cast<double>(*u.info.temporalPosition),
                             "time point " + std::to_string(*u.info.temporalPosition)};
         }},
        {"cardiac phase",
         [](const Unit& u, const DicomHeader&) -> std::optional<KeyValue> {
             if (!u.info.cardiacPhasePercent) return std::nullopt;
             return KeyValue{*u.info.cardiacPhasePercent, "phase " + roundedText(*u.info.cardiacPhasePercent) + "%"};
         }},
        {"acquisition",
         [](const Unit&, const DicomHeader& h) -> std::optional<KeyValue> {
             if (!h.acquisitionNumber) return std::nullopt;
             return KeyValue{static_cast<double>(*h.acquisitionNumber),
                             "acquisition " + std::to_string(*h.acquisitionNumber)};
         }},
        // Cine series often carry nothing but TriggerTime, and it drifts from slice to slice within one phase:
        // the n-th image of each position by trigger time is phase n.
        {"trigger time",
         [](const Unit& u, const DicomHeader&) -> std::optional<KeyValue> {
             if (!u.info.triggerTime) return std::nullopt;
             return KeyValue{static_cast<double>(u.triggerRank), "trigger " + std::to_string(u.triggerRank + 1)};
         }},
    };
    return keys;
}

void rankTriggerTimes(std::vector<Unit>& units) {
    std::vector<std::size_t> order(units.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    const auto z = [&](std::size_t i) { return units[i].hasGeometry() ? units[i].projection() : 0.0; };
    // stable_sort: a comparison with a tolerance is not a strict weak order, which std::sort may run past.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (std::abs(z(a) - z(b)) >= 1e-2) return z(a) < z(b);
        return units[a].info.triggerTime.value_or(0) < units[b].info.triggerTime.value_or(0);
    });
    int rank = 0;
    for (std::size_t n = 0; n < order.size(); ++n) {
        rank = n > 0 && std::abs(z(order[n]) - z(order[n - 1])) < 1e-2 ? rank + 1 : 0;
        units[order[n]].triggerRank = rank;
    }
}

void splitRepeatedPositions(Part part, std::size_t firstKey, const std::vector<DicomHeader>& headers,
                            const std::string& unitNoun, std::vector<Part>& out) {
    const std::size_t m = maxMultiplicity(part.units);
    const auto& keys = splitKeys();
    if (m > 1) rankTriggerTimes(part.units);
    for (std::size_t k = firstKey; m > 1 && k < keys.size(); ++k) {
        std::map<std::pair<double, std::string>, std::vector<Unit>> groups;
        for (const auto& u : part.units) {
            const auto v = keys[k].value(u, headers[u.header]);
            groups[v ? std::pair(v->order, v->label)
                     : std::pair(-std::numeric_limits<double>::infinity(), std::string("no ") + keys[k].name)]
                .push_back(u);
        }
        if (groups.size() < 2 || groups.size() > m) continue;
        std::size_t worst = 0;
        for (const auto& [value, units] : groups) worst = std::max(worst, maxMultiplicity(units));
        if (worst >= m) continue;
        for (auto& [value, units] : groups) {
            std::string label = value.second;
            if (keys[k].name == std::string("trigger time")) {
                double sum = 0;
                for (const auto& u : units) sum += u.info.triggerTime.value_or(0);
                label = "trigger time " + roundedText(sum / static_cast<double>(units.size())) + " ms";
            }
            Part p;
            p.labels = part.labels;
            p.labels.push_back(label);
            p.warnings = part.warnings;
            p.warnings.push_back(seriesLabel(headers[units.front().header]) + " repeats slice positions (up to " +
                                 std::to_string(m) + " images at one position): split by " + keys[k].name + " into " +
                                 std::to_string(groups.size()) + " series; this part: " + label + ", " +
                                 counted(units.size(), unitNoun));
            p.units = std::move(units);
            splitRepeatedPositions(std::move(p), k + 1, headers, unitNoun, out);
        }
        return;
    }
    out.push_back(std::move(part));
}

// Orders the units of one part along the slice normal when there is geometry, else by InstanceNumber.
void sortUnits(std::vector<Unit>& units, const std::vector<DicomHeader>& headers) {
    const auto instance = [&](const Unit& u) { return headers[u.header].instanceNumber.value_or(INT_MAX); };
    const bool geometry = std::all_of(units.begin(), units.end(), [](const Unit& u) { return u.hasGeometry(); });
    std::stable_sort(units.begin(), units.end(), [&](const Unit& a, const Unit& b) {
        if (geometry) {
            const double pa = a.projection(), pb = b.projection();
            if (std::abs(pa - pb) > 1e-6) return pa < pb;
        }
        if (instance(a) != instance(b)) return instance(a) < instance(b);
        return std::pair(a.header, a.frame) < std::pair(b.header, b.frame);
    });
}

// Units that can share one volume: same image size and kind, same orientation, geometry present in all or none.
struct GeometryGroup {
    std::vector<Unit> units;
    int rows = 0, columns = 0;
    bool colour = false;
    std::optional<std::array<Vec3, 2>> orientation;
    bool geometry = false;

    bool accepts(const Unit& u, const DicomHeader& h) const {
        if (h.format.rows != rows || h.format.columns != columns || h.format.isColour() != colour) return false;
        if (u.hasGeometry() != geometry) return false;
        if (geometry) return sameOrientation(*u.info.orientation, *orientation);
        return true;
    }
};

std::vector<Part> splitByGeometry(Part part, const std::vector<DicomHeader>& headers, const std::string& unitNoun) {
    std::vector<GeometryGroup> groups;
    for (const auto& u : part.units) {
        const DicomHeader& h = headers[u.header];
        auto g = std::find_if(groups.begin(), groups.end(), [&](const GeometryGroup& x) { return x.accepts(u, h); });
        if (g == groups.end()) {
            GeometryGroup n;
            n.rows = h.format.rows;
            n.columns = h.format.columns;
            n.colour = h.format.isColour();
            n.geometry = u.hasGeometry();
            n.orientation = u.info.orientation;
            groups.push_back(n);
            g = groups.end() - 1;
        }
        g->units.push_back(u);
    }
    std::vector<Part> out;
    if (groups.size() == 1) {
        out.push_back(std::move(part));
        return out;
    }
    for (auto& g : groups) {
        Part p;
        p.labels = part.labels;
        p.labels.push_back((g.geometry ? planeName(g.orientation) : std::string("no geometry")) + " " +
                           std::to_string(g.columns) + "x" + std::to_string(g.rows));
        p.warnings = part.warnings;
        p.warnings.push_back(seriesLabel(headers[g.units.front().header]) +
                             " mixes orientations or image sizes: split into " + std::to_string(groups.size()) +
                             " series; this part has " + counted(g.units.size(), unitNoun) + " of " +
                             std::to_string(g.columns) + "x" + std::to_string(g.rows) + ", " +
                             describeOrientation(g.geometry ? g.orientation : std::nullopt));
        p.units = std::move(g.units);
        out.push_back(std::move(p));
    }
    return out;
}

// Localizers (scouts) stored in the series they plan must never become slices of its volume.
std::vector<Part> splitLocalizers(Part part, const std::vector<DicomHeader>& headers, const std::string& unitNoun) {
    std::vector<Unit> localizers, others;
    for (auto& u : part.units) (headers[u.header].isLocalizer ? localizers : others).push_back(u);
    std::vector<Part> out;
    if (localizers.empty() || others.empty()) {
        out.push_back(std::move(part));
        return out;
    }
    const std::string name = seriesLabel(headers[part.units.front().header]);
    for (auto* units : {&others, &localizers}) {
        const bool isLocalizer = units == &localizers;
        Part p;
        p.labels = part.labels;
        if (isLocalizer) p.labels.push_back("localizer");
        p.warnings = part.warnings;
        p.warnings.push_back(name +
                             " mixes localizer (scout) images with other images: split into 2 series; this "
                             "part: " +
                             std::string(isLocalizer ? "localizer, " : "without the localizers, ") +
                             counted(units->size(), unitNoun));
        p.units = std::move(*units);
        out.push_back(std::move(p));
    }
    return out;
}

// A label for one multi-frame file among several of its series: its acquisition or instance number when those tell
// the files apart, else its file name.
std::string fileLabel(const DicomHeader& h, const std::vector<const DicomHeader*>& siblings) {
    const auto distinct = [&](auto get) {
        std::set<int> seen;
        for (const DicomHeader* s : siblings) {
            const std::optional<int> v = get(*s);
            if (!v || !seen.insert(*v).second) return false;
        }
        return true;
    };
    if (distinct([](const DicomHeader& x) { return x.acquisitionNumber; }))
        return "acquisition " + std::to_string(*h.acquisitionNumber);
    if (distinct([](const DicomHeader& x) { return x.instanceNumber; }))
        return "instance " + std::to_string(*h.instanceNumber);
    return "file " + h.file.filename().string();
}

fs::path comparable(const fs::path& p) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(p, ec);
    return ec ? p.lexically_normal() : c;
}

} // namespace

namespace dicom {

std::vector<SeriesInfo> groupIntoSeries(const std::vector<DicomHeader>& headers) {
    // Series key: SeriesInstanceUID; every multi-frame file is its own volume (4D enhanced series and mosaic fMRI
    // store one time point per file).
    const auto seriesKey = [](const DicomHeader& h) {
        return h.seriesUid.empty() ? "(none)|" + h.studyUid + "|" + h.modality + "|" + h.frameOfReferenceUid
                                   : h.seriesUid;
    };
    std::vector<std::string> order;
    std::map<std::string, std::vector<std::size_t>> bySeries;
    std::map<std::string, std::vector<const DicomHeader*>> multiFramePerSeries;
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const DicomHeader& h = headers[i];
        std::string key = seriesKey(h);
        if (h.isMultiFrame()) {
            multiFramePerSeries[key].push_back(&h);
            key += "|" + h.file.string();
        }
        auto [it, inserted] = bySeries.try_emplace(key);
        if (inserted) order.push_back(key);
        it->second.push_back(i);
    }

    struct Built {
        SeriesInfo info;
        std::string sortKey;
        int seriesNumber = INT_MAX;
        std::size_t created = 0;
    };
    std::vector<Built> built;
    for (const auto& key : order) {
        const auto& members = bySeries[key];
        const DicomHeader& first = headers[members.front()];
        const bool multiFrame = first.isMultiFrame();
        const std::string unitNoun = multiFrame ? "frame" : "file";
        Part whole;
        for (std::size_t idx : members) {
            const DicomHeader& h = headers[idx];
            // Frames of a multi-frame file without positions of their own are stacked at load; for grouping they
            // have no position (one position for every frame would look like repeats).
            const bool perFramePositions =
                !h.perFrame.empty() && std::all_of(h.perFrame.begin(), h.perFrame.end(),
                                                   [](const FrameInfo& f) { return f.position.has_value(); });
            for (int f = 0; f < h.format.frames; ++f) {
                Unit u;
                u.header = idx;
                u.frame = f;
                u.info = h.frame(f);
                if (h.isMultiFrame() && !perFramePositions) u.info.position.reset();
                whole.units.push_back(std::move(u));
            }
        }
        const auto& siblings = multiFramePerSeries[seriesKey(first)];
        if (multiFrame && siblings.size() > 1) {
            whole.labels.push_back(fileLabel(first, siblings));
            whole.warnings.push_back(seriesLabel(first) + " has " + std::to_string(siblings.size()) +
                                     " multi-frame files: each is loaded as its own volume");
        }

        std::vector<Part> parts;
        for (auto& byKind : splitLocalizers(std::move(whole), headers, unitNoun))
            for (auto& byGeometry : splitByGeometry(std::move(byKind), headers, unitNoun))
                splitRepeatedPositions(std::move(byGeometry), 0, headers, unitNoun, parts);

        for (auto& part : parts) {
            sortUnits(part.units, headers);
            const DicomHeader& lead = headers[part.units.front().header];
            Built b;
            b.info = seriesInfoFrom(lead);
            std::set<std::size_t> seen;
            for (const auto& u : part.units)
                if (seen.insert(u.header).second) b.info.files.push_back(headers[u.header].file);
            if (multiFrame && part.units.size() < static_cast<std::size_t>(first.format.frames)) {
                for (const auto& u : part.units) b.info.frames.push_back(u.frame);
                std::sort(b.info.frames.begin(), b.info.frames.end());
            }
            for (std::size_t l = 0; l < part.labels.size(); ++l) b.info.partLabel += (l ? ", " : "") + part.labels[l];
            b.info.warnings = std::move(part.warnings);
            b.seriesNumber = lead.seriesNumber.value_or(INT_MAX);
            b.sortKey = lead.patientId + "|" + lead.studyUid;
            b.created = built.size();
            built.push_back(std::move(b));
        }
    }
    std::stable_sort(built.begin(), built.end(), [](const Built& a, const Built& b) {
        if (a.sortKey != b.sortKey) return a.sortKey < b.sortKey;
        if (a.seriesNumber != b.seriesNumber) return a.seriesNumber < b.seriesNumber;
        if (a.info.seriesUid != b.info.seriesUid) return a.info.seriesUid < b.info.seriesUid;
        return a.created < b.created;
    });
    std::vector<SeriesInfo> out;
    for (auto& b : built) out.push_back(std::move(b.info));
    return out;
}

} // namespace dicom

namespace {

// ---- load: slice placement ----------------------------------------------------------------------------------------

struct Slice {
    std::size_t header = 0;
    int frame = 0;
    FrameInfo info;
    int instance = INT_MAX;
    double projection = 0;
};

// Output slice k of a resampled volume: (1 - t) * stack[below] + t * stack[above] (t = 0: a copy of `below`).
struct OutputSlice {
    int below = 0;
    int above = 0;
    double t = 0;
};

struct SlicePlan {
    ImageGeometry stack;                       // the real slices, one slot each, in order along the normal
    std::vector<std::vector<int>> slotOfFrame; // [header][frame] → stack slot, -1 when not used
    std::vector<double> slope, intercept;      // per stack slot
    std::vector<std::string> warnings;
    // Resampling onto `output`, when the stack is not a regular orthogonal grid; `slices` empty: the stack is it.
    ImageGeometry output;
    std::vector<OutputSlice> slices;
    bool sheared = false;                     // in-plane shift per slot (gantry tilt): bilinear in-plane sampling
    std::vector<std::array<double, 2>> shift; // per stack slot: where its voxel (0,0) is in output voxels (i, j)
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Slices of all headers (frames selected by `use`), with positions for multi-frame files whose frames have none of
// their own.
std::vector<Slice> gatherSlices(const std::vector<DicomHeader>& headers, const std::vector<std::vector<bool>>& use,
                                std::vector<std::string>& warnings) {
    std::vector<Slice> slices;
    for (std::size_t hi = 0; hi < headers.size(); ++hi) {
        const DicomHeader& h = headers[hi];
        const bool perFramePositions =
            !h.perFrame.empty() && std::all_of(h.perFrame.begin(), h.perFrame.end(),
                                               [](const FrameInfo& f) { return f.position.has_value(); });
        std::optional<double> step;
        bool fromOffsets = false;
        if (h.isMultiFrame() && !perFramePositions && h.image.position && h.image.orientation) {
            if (h.gridFrameOffsets.size() == static_cast<std::size_t>(h.format.frames)) {
                fromOffsets = true;
            } else {
                const char* source = "assumed";
                if (h.spacingBetweenSlices && *h.spacingBetweenSlices > 0) {
                    step = *h.spacingBetweenSlices;
                    source = "SpacingBetweenSlices";
                } else if (h.sliceThickness && *h.sliceThickness > 0) {
                    step = *h.sliceThickness;
                    source = "SliceThickness";
                } else {
                    step = 1.0;
                }
                warnings.push_back(h.file.filename().string() +
                                   ": frames carry no positions of their own; stacked along the slice normal every " +
                                   fmt(*step) + " mm (" + source + ")");
            }
        }
        for (int f = 0; f < h.format.frames; ++f) {
            if (!use[hi][static_cast<std::size_t>(f)]) continue;
            Slice s;
            s.header = hi;
            s.frame = f;
            s.info = h.frame(f);
            s.instance = h.instanceNumber.value_or(INT_MAX);
            if (h.isMultiFrame() && !perFramePositions && s.info.position && s.info.orientation) {
                const Vec3 n = normalOf(*s.info.orientation);
                const double offset = fromOffsets ? h.gridFrameOffsets[static_cast<std::size_t>(f)] : *step * f;
                s.info.position = *s.info.position + n * offset;
            } else if (h.isMultiFrame() && !perFramePositions) {
                s.info.position.reset(); // one position for many frames places nothing
            }
            slices.push_back(std::move(s));
        }
    }
    return slices;
}

Vec3 pixelSpacingOf(const std::vector<Slice>& slices, const std::vector<DicomHeader>& headers,
                    std::vector<std::string>& warnings) {
    const auto& first = slices.front();
    std::optional<std::array<double, 2>> ps = first.info.pixelSpacing;
    if (!ps) ps = headers[first.header].ultrasoundSpacing;
    if (!ps) {
        warnings.push_back("no PixelSpacing: 1 mm pixels assumed");
        return {1, 1, 1};
    }
    for (const auto& s : slices)
        if (s.info.pixelSpacing && (std::abs((*s.info.pixelSpacing)[0] - (*ps)[0]) > 1e-4 ||
                                    std::abs((*s.info.pixelSpacing)[1] - (*ps)[1]) > 1e-4)) {
            warnings.push_back("PixelSpacing differs between slices; the first slice's " + fmt((*ps)[0]) + "\\" +
                               fmt((*ps)[1]) + " mm is used");
            break;
        }
    // DICOM PixelSpacing is row spacing \ column spacing; i runs along a row, so it steps by the column spacing.
    return {(*ps)[1], (*ps)[0], 1};
}

// A resampled grid may be larger than the stack (a tilted stack is covered by a wider box) but not absurdly so:
// beyond this factor the positions are more likely wrong than the scanner tilted.
constexpr double maxGrowth = 4.0;

// Places the real slices (ordered along the normal, one stack slot each) and decides how they become a regular
// grid: as they are when the spacing is uniform and the stack is not sheared; otherwise through OutputSlices
// (linear interpolation along the normal) and, for a sheared stack, per-slot in-plane shifts.
Result<SlicePlan> planSlices(const std::vector<DicomHeader>& headers, const std::vector<std::vector<bool>>& use) {
    SlicePlan plan;
    std::vector<Slice> slices = gatherSlices(headers, use, plan.warnings);
    if (slices.empty()) return makeError(ErrorCode::InvalidInput, "no frames selected");
    const DicomHeader& h0 = headers.front();
    plan.slotOfFrame.resize(headers.size());
    for (std::size_t i = 0; i < headers.size(); ++i)
        plan.slotOfFrame[i].assign(static_cast<std::size_t>(headers[i].format.frames), -1);

    const bool spatial = std::all_of(slices.begin(), slices.end(), [](const Slice& s) {
        return s.info.position.has_value() && s.info.orientation.has_value();
    });
    Vec3 spacing = pixelSpacingOf(slices, headers, plan.warnings);
    std::vector<const Slice*> placed; // slice of each stack slot, in slot order

    ImageGeometry& g = plan.stack;
    g.size = {h0.format.columns, h0.format.rows, 0};
    if (spatial) {
        const auto orientation = *slices.front().info.orientation;
        for (const auto& s : slices)
            if (!sameOrientation(*s.info.orientation, orientation))
                return makeError(ErrorCode::Unsupported, headers[s.header].file.string() +
                                                             ": slices of one volume have different orientations");
        // Patient coordinates are within a few metres; positions beyond a kilometre are broken headers, and their
        // differences (and projections) would overflow the arithmetic below.
        for (const auto& s : slices)
            if (!(geometry::norm(*s.info.position) <= 1e6))
                return makeError(ErrorCode::Corrupt,
                                 headers[s.header].file.string() + ": ImagePositionPatient is not a usable position (" +
                                     fmt(geometry::norm(*s.info.position), 3) + " mm from the origin)");
        const Vec3 r = geometry::normalized(orientation[0]);
        Vec3 c = geometry::normalized(orientation[1]);
        if (std::abs(geometry::dot(r, c)) > 1e-3)
            plan.warnings.push_back("row and column direction cosines are not orthogonal (cos = " +
                                    fmt(geometry::dot(r, c)) + "); the column direction was orthogonalised");
        c = geometry::normalized(c - r * geometry::dot(r, c));
        const Vec3 n = geometry::cross(r, c);
        for (auto& s : slices) s.projection = geometry::dot(*s.info.position, n);
        std::stable_sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) {
            if (std::abs(a.projection - b.projection) > 1e-6) return a.projection < b.projection;
            if (a.instance != b.instance) return a.instance < b.instance;
            return std::pair(a.header, a.frame) < std::pair(b.header, b.frame);
        });

        // Several slices at one position that the scan could not tell apart (no echo, time or acquisition
        // attribute separates them): the first by InstanceNumber is kept so the volume stays a single 3D grid.
        std::size_t duplicates = 0;
        for (const auto& s : slices) {
            if (!placed.empty() && std::abs(s.projection - placed.back()->projection) < 1e-2) {
                ++duplicates;
                continue;
            }
            placed.push_back(&s);
        }
        if (duplicates > 0)
            plan.warnings.push_back(std::to_string(duplicates) +
                                    " slice(s) share a position with another (echoes or time points in one series?): "
                                    "the first at each position is used");

        const std::size_t count = placed.size();
        const double z0 = placed.front()->projection;
        std::vector<double> z(count);
        for (std::size_t i = 0; i < count; ++i) z[i] = placed[i]->projection - z0;

        double kSpacing = 1;
        std::vector<OutputSlice> resampled; // along the normal; empty: the stack's own spacing is regular
        double outSpacing = 0;
        if (count == 1) {
            if (h0.spacingBetweenSlices && *h0.spacingBetweenSlices > 0)
                kSpacing = *h0.spacingBetweenSlices;
            else if (h0.sliceThickness && *h0.sliceThickness > 0)
                kSpacing = *h0.sliceThickness;
        } else {
            std::vector<double> diffs;
            for (std::size_t i = 1; i < count; ++i) diffs.push_back(z[i] - z[i - 1]);
            const double step = median(diffs);
            // A step of about a whole multiple of the median is a missing slice: it gets a slot of its own so
            // every later slice keeps its true position.
            std::vector<int> kOf(count, 0);
            int missing = 0;
            double widest = 0;
            std::size_t widestAt = 0;
            for (std::size_t i = 0; i < diffs.size(); ++i) {
                // Positions are bounded (above), so ratios are finite; the cap keeps the sums below in int range.
                const double ratio = std::min(diffs[i] / step, 1e8);
                const int steps = ratio > 1.5 ? static_cast<int>(std::lround(ratio)) : 1;
                missing = std::min(missing + steps - 1, INT_MAX / 4);
                kOf[i + 1] = std::min(kOf[i] + steps, INT_MAX / 4);
                if (diffs[i] > widest) {
                    widest = diffs[i];
                    widestAt = i;
                }
            }
            // Gaps wider than the slices present make the stack a handful of separate images, not a volume:
            // interpolating across them would invent most of it.
            if (static_cast<std::size_t>(missing) > count)
                return makeError(ErrorCode::InvalidInput, std::to_string(missing) + " slices missing among " +
                                                              std::to_string(count) + " present (slice step " +
                                                              dec(step) + " mm, widest gap " + dec(widest) +
                                                              " mm between z=" + dec(placed[widestAt]->projection) +
                                                              " and z=" + dec(placed[widestAt + 1]->projection) +
                                                              " mm): too sparse to be a volume, not loaded");
            // Spacing: least squares through the first slice over all slots. It equals the median step for a
            // uniform series, and for positions rounded in the files (steps 6.96..7.07 mm in a real GE series)
            // it removes the drift that stacking at the median would accumulate over the volume.
            double num = 0, den = 0;
            for (std::size_t i = 1; i < count; ++i) {
                num += kOf[i] * z[i];
                den += static_cast<double>(kOf[i]) * kOf[i];
            }
            kSpacing = num / den;
            double maxError = 0, minStep = std::numeric_limits<double>::max(), maxStep = 0;
            for (std::size_t i = 0; i < count; ++i) {
                maxError = std::max(maxError, std::abs(z[i] - kOf[i] * kSpacing));
                if (i > 0) {
                    const double perSlot = diffs[i - 1] / (kOf[i] - kOf[i - 1]);
                    minStep = std::min(minStep, perSlot);
                    maxStep = std::max(maxStep, perSlot);
                }
            }
            // Positions within a tenth of a slice of a regular grid are rounding in the files: placing the slices
            // on that grid moves none by more than that, while resampling would blur every slice.
            const bool regular = maxError <= 0.1 * kSpacing;
            if (regular && missing == 0) {
                if (maxStep - minStep > 0.01 * step)
                    plan.warnings.push_back("non-uniform slice spacing: steps of " + fmt(minStep) + " to " +
                                            fmt(maxStep) + " mm; slices placed every " + fmt(kSpacing) +
                                            " mm, off by up to " + fmt(maxError, 3) + " mm");
            } else if (regular) {
                // Missing slices on an otherwise regular grid: real slices stay on their slots, each gap is
                // interpolated between the slices around it.
                outSpacing = kSpacing;
                resampled.resize(static_cast<std::size_t>(kOf.back()) + 1);
                for (std::size_t i = 0; i < count; ++i) {
                    resampled[static_cast<std::size_t>(kOf[i])] = {static_cast<int>(i), static_cast<int>(i), 0};
                    if (i + 1 == count || kOf[i + 1] - kOf[i] == 1) continue;
                    const int span = kOf[i + 1] - kOf[i];
                    for (int k = 1; k < span; ++k)
                        resampled[static_cast<std::size_t>(kOf[i] + k)] = {static_cast<int>(i), static_cast<int>(i + 1),
                                                                           static_cast<double>(k) / span};
                    plan.warnings.push_back(std::to_string(span - 1) + " missing slice" + (span > 2 ? "s" : "") +
                                            " between z=" + dec(placed[i]->projection) +
                                            " and z=" + dec(placed[i + 1]->projection) + " mm interpolated");
                }
            } else {
                // Truly uneven spacing (a series stitched from parts acquired at different spacings, or slices
                // dropped at irregular places): a uniform grid at the finest step, each slice interpolated
                // linearly from the two real slices around it.
                const double range = z.back();
                const double finest = *std::min_element(diffs.begin(), diffs.end());
                // The grid covers exactly the slices' range: its step is the finest one, shortened just enough
                // to end on the last slice (nothing invented beyond the data, nothing cut off).
                const double target = range / finest + 1 <= 2.0 * static_cast<double>(count) ? finest : step;
                const auto slots = static_cast<std::size_t>(std::ceil(range / target - 1e-6)) + 1;
                outSpacing = range / static_cast<double>(slots - 1);
                resampled.resize(slots);
                std::size_t i = 0;
                for (std::size_t k = 0; k < slots; ++k) {
                    const double zk = static_cast<double>(k) * outSpacing;
                    while (i + 2 < count && z[i + 1] <= zk) ++i;
                    const double t = std::clamp((zk - z[i]) / (z[i + 1] - z[i]), 0.0, 1.0);
                    const int below = static_cast<int>(i), above = static_cast<int>(i + 1);
                    // Output slices on a real slice copy it exactly.
                    if (t < 1e-3)
                        resampled[k] = {below, below, 0};
                    else if (t > 1 - 1e-3)
                        resampled[k] = {above, above, 0};
                    else
                        resampled[k] = {below, above, t};
                }
                plan.warnings.push_back("non-uniform slice spacing " + dec(finest) + "\xE2\x80\x93" +
                                        dec(*std::max_element(diffs.begin(), diffs.end())) + " mm: resampled to " +
                                        dec(outSpacing) + " mm");
            }
        }
        spacing.z = kSpacing;
        g.size[2] = static_cast<int>(count);
        g.origin = *placed.front()->info.position;
        g.direction = Mat3::fromColumns(r, c, n);
        g.spacing = spacing;

        // In-plane drift of the slice positions (gantry tilt or a sheared stack): the positions do not lie along
        // the normal of the slices, so no orthogonal grid holds the slices as they are.
        std::vector<std::array<double, 2>> offset(count);
        double drift = 0, slopeA = 0, slopeB = 0, zz = 0;
        for (std::size_t i = 0; i < count; ++i) {
            const Vec3 v = *placed[i]->info.position - g.origin;
            offset[i] = {geometry::dot(v, r), geometry::dot(v, c)};
            drift = std::max(drift, std::hypot(offset[i][0], offset[i][1]));
            slopeA += offset[i][0] * z[i];
            slopeB += offset[i][1] * z[i];
            zz += z[i] * z[i];
        }
        plan.output = g;
        if (!resampled.empty()) {
            plan.output.spacing.z = outSpacing;
            plan.output.size[2] = static_cast<int>(resampled.size());
        }
        if (drift > 0.5 * std::min(spacing.x, spacing.y)) {
            double aMin = 0, aMax = 0, bMin = 0, bMax = 0;
            for (const auto& o : offset) {
                aMin = std::min(aMin, o[0]);
                aMax = std::max(aMax, o[0]);
                bMin = std::min(bMin, o[1]);
                bMax = std::max(bMax, o[1]);
            }
            const double width = g.size[0] + std::ceil((aMax - aMin) / spacing.x - 1e-6);
            const double height = g.size[1] + std::ceil((bMax - bMin) / spacing.y - 1e-6);
            const double tilt = zz > 0 ? std::atan(std::hypot(slopeA, slopeB) / zz) * 180.0 / std::numbers::pi : 0;
            const std::string stated =
                h0.gantryTilt ? ", GantryDetectorTilt " + degrees(*h0.gantryTilt) : std::string();
            if (width * height > maxGrowth * g.size[0] * g.size[1]) {
                plan.warnings.push_back("slice positions drift " + fmt(drift, 3) +
                                        " mm within the slice plane (gantry tilt of " + degrees(tilt) + stated +
                                        "): not resampled, an orthogonal grid covering it would be " +
                                        fmt(width * height / (double(g.size[0]) * g.size[1]), 3) +
                                        " times larger; far slices are off by up to that much");
            } else {
                plan.sheared = true;
                plan.output.size[0] = static_cast<int>(width);
                plan.output.size[1] = static_cast<int>(height);
                plan.output.origin = g.origin + r * aMin + c * bMin;
                plan.shift.resize(count);
                for (std::size_t i = 0; i < count; ++i)
                    plan.shift[i] = {(offset[i][0] - aMin) / spacing.x, (offset[i][1] - bMin) / spacing.y};
                if (resampled.empty())
                    for (std::size_t i = 0; i < count; ++i)
                        resampled.push_back({static_cast<int>(i), static_cast<int>(i), 0});
                plan.warnings.push_back(
                    "gantry tilt of " + degrees(tilt) +
                    " resampled onto an orthogonal grid (slice positions drift up to " + dec(drift) +
                    " mm within the slice plane" + stated + "; " + std::to_string(plan.output.size[0]) + "x" +
                    std::to_string(plan.output.size[1]) + "x" + std::to_string(plan.output.size[2]) + " voxels)");
            }
        }
        plan.slices = std::move(resampled);
    } else {
        const bool partial = std::any_of(slices.begin(), slices.end(), [](const Slice& s) {
            return s.info.position.has_value() && s.info.orientation.has_value();
        });
        std::stable_sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) {
            if (a.instance != b.instance) return a.instance < b.instance;
            return std::pair(a.header, a.frame) < std::pair(b.header, b.frame);
        });
        if (partial) plan.warnings.push_back("only some slices have a position and orientation: geometry ignored");
        plan.warnings.push_back(slices.size() > 1 ? "no 3D geometry: frames stacked at 1 mm"
                                                  : "no 3D geometry (no ImagePositionPatient/ImageOrientationPatient): "
                                                    "identity orientation assumed");
        g.size[2] = static_cast<int>(slices.size());
        g.spacing = spacing;
        for (const auto& s : slices) placed.push_back(&s);
        plan.output = g;
    }

    plan.slope.assign(placed.size(), 1.0);
    plan.intercept.assign(placed.size(), 0.0);
    bool zeroSlope = false;
    for (std::size_t k = 0; k < placed.size(); ++k) {
        const Slice* s = placed[k];
        plan.slotOfFrame[s->header][static_cast<std::size_t>(s->frame)] = static_cast<int>(k);
        double slope = s->info.rescaleSlope.value_or(1.0);
        if (slope == 0) {
            zeroSlope = true;
            slope = 1.0;
        }
        plan.slope[k] = slope;
        plan.intercept[k] = s->info.rescaleIntercept.value_or(0.0);
    }
    if (zeroSlope) plan.warnings.push_back("RescaleSlope 0 is invalid: 1 used instead");
    return plan;
}

// ---- load: output pixel type --------------------------------------------------------------------------------------

// Uninitialised buffers (VoxelBuffer): decoding writes every slot, so a zero-fill would be a wasted pass.
using RawBuffer = std::variant<VoxelBuffer<std::uint8_t>, VoxelBuffer<std::int16_t>, VoxelBuffer<std::uint16_t>,
                               VoxelBuffer<float>, VoxelBuffer<Rgb8>>;

RawBuffer allocate(RawKind kind, std::size_t n) {
    switch (kind) {
    case RawKind::UInt8:
        return VoxelBuffer<std::uint8_t>(n);
    case RawKind::Int16:
        return VoxelBuffer<std::int16_t>(n);
    case RawKind::UInt16:
        return VoxelBuffer<std::uint16_t>(n);
    case RawKind::Float32:
        return VoxelBuffer<float>(n);
    case RawKind::Rgb8:
        return VoxelBuffer<Rgb8>(n);
    }
    return VoxelBuffer<std::uint8_t>(n);
}

bool isIntegral(double v) {
    return std::abs(v - std::round(v)) < 1e-9;
}

// Rescales stored values slot by slot into Out. In and Out may be the same buffer.
template <typename Out, typename In>
void rescaleInto(const In* in, Out* out, const SlicePlan& plan, std::size_t frameVoxels) {
    parallelFor(plan.slope.size(), [&](std::size_t k) {
        const std::size_t base = k * frameVoxels;
        const double s = plan.slope[k], b = plan.intercept[k];
        if constexpr (std::is_integral_v<Out> && std::is_integral_v<In>) {
            // Whole-number slope and intercept (CT's 1 and -1024, most MR): exact integer arithmetic gives the same
            // values as rounding the double result, without a rounding call per voxel (the load's hot spot).
            if (isIntegral(s) && isIntegral(b)) {
                const auto si = static_cast<std::int64_t>(std::llround(s)), bi = static_cast<std::int64_t>(std::llround(b));
                if (si == 1 && bi == 0) {
                    if (static_cast<const void*>(in) == static_cast<const void*>(out)) return; // identity in place
                    for (std::size_t i = base; i < base + frameVoxels; ++i) out[i] = static_cast<Out>(in[i]);
                } else {
                    for (std::size_t i = base; i < base + frameVoxels; ++i)
                        out[i] = static_cast<Out>(static_cast<std::int64_t>(in[i]) * si + bi);
                }
                return;
            }
        }
        if constexpr (std::is_integral_v<Out>) {
            for (std::size_t i = base; i < base + frameVoxels; ++i)
                out[i] = static_cast<Out>(std::lround(static_cast<double>(in[i]) * s + b));
        } else {
            for (std::size_t i = base; i < base + frameVoxels; ++i)
                out[i] = static_cast<Out>(static_cast<double>(in[i]) * s + b);
        }
    });
}

// Output policy: RGB stays RGB8; 8-bit unsigned without rescale stays UInt8 (US, masks); integer rescale results
// become Int16 when they fit (CT HU, most MR), else UInt16 when they fit (unsigned 16-bit MR); everything else
// (fractional slopes, PET/dose, 32-bit data) becomes Float32.
Volume makeVolume(RawBuffer&& raw, const SlicePlan& plan, const std::vector<ValueRange>& ranges) {
    const ImageGeometry& g = plan.stack;
    const std::size_t frameVoxels = static_cast<std::size_t>(g.size[0]) * static_cast<std::size_t>(g.size[1]);
    if (auto* rgb = std::get_if<VoxelBuffer<Rgb8>>(&raw)) return Volume::create(g, std::move(*rgb));

    bool identity = true, integral = true;
    double lo = std::numeric_limits<double>::max(), hi = std::numeric_limits<double>::lowest();
    for (std::size_t k = 0; k < plan.slope.size(); ++k) {
        const double s = plan.slope[k], b = plan.intercept[k];
        identity = identity && s == 1.0 && b == 0.0;
        integral = integral && isIntegral(s) && isIntegral(b);
        const double a = ranges[k].min * s + b, c = ranges[k].max * s + b;
        lo = std::min({lo, a, c});
        hi = std::max({hi, a, c});
    }
    if (lo > hi) lo = hi = 0; // cannot happen with at least one slice; keeps the arithmetic below defined

    if (identity && std::holds_alternative<VoxelBuffer<std::uint8_t>>(raw))
        return Volume::create(g, std::move(std::get<VoxelBuffer<std::uint8_t>>(raw)));
    const auto convert = [&](auto tag) -> Volume {
        using Out = decltype(tag);
        return std::visit(
            [&](auto& in) -> Volume {
                using In = typename std::decay_t<decltype(in)>::value_type;
                if constexpr (std::is_same_v<In, Rgb8>) {
                    return {};
                } else if constexpr (std::is_same_v<In, Out>) {
                    rescaleInto(in.data(), in.data(), plan, frameVoxels); // in place: no second buffer
                    return Volume::create(g, std::move(in));
                } else {
                    VoxelBuffer<Out> out(in.size()); // rescaleInto writes every voxel
                    rescaleInto(in.data(), out.data(), plan, frameVoxels);
                    in = {}; // free the stored values before the volume is handed out
                    return Volume::create(g, std::move(out));
                }
            },
            raw);
    };
    if (integral && lo >= std::numeric_limits<std::int16_t>::min() && hi <= std::numeric_limits<std::int16_t>::max())
        return convert(std::int16_t{});
    if (integral && lo >= 0 && hi <= std::numeric_limits<std::uint16_t>::max()) return convert(std::uint16_t{});
    return convert(float{});
}

void* rawData(RawBuffer& raw) {
    return std::visit([](auto& v) -> void* { return v.data(); }, raw);
}

// ---- load: resampling onto a regular grid -------------------------------------------------------------------------

// Interpolation arithmetic per channel, and back to the voxel type (rounded and clamped for integers).
template <typename T> struct Channels {
    static constexpr int count = 1;
    static double get(const T& v, int) { return static_cast<double>(v); }
    static T make(const double* c) {
        if constexpr (std::is_integral_v<T>)
            return static_cast<T>(
                std::clamp<double>(std::round(c[0]), std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max()));
        else
            return static_cast<T>(c[0]);
    }
};
template <> struct Channels<Rgb8> {
    static constexpr int count = 3;
    static double get(const Rgb8& v, int c) { return c == 0 ? v.r : c == 1 ? v.g : v.b; }
    static Rgb8 make(const double* c) {
        const auto to8 = [](double x) { return static_cast<std::uint8_t>(std::clamp(std::round(x), 0.0, 255.0)); };
        return {to8(c[0]), to8(c[1]), to8(c[2])};
    }
};

// Adds weight * (bilinear value of `slice` at continuous index (u, v)) to acc. Neighbours outside the slice count
// as `outside` (the lowest value): the parts of the output box no slice covers are background.
template <typename T>
void addBilinear(double* acc, double weight, const T* slice, int width, int height, double u, double v,
                 const T& outside) {
    using C = Channels<T>;
    const double fu = std::floor(u), fv = std::floor(v);
    double du = u - fu, dv = v - fv;
    // Shifts that are whole voxels up to rounding give exact copies.
    if (du < 1e-9) du = 0;
    if (dv < 1e-9) dv = 0;
    if (du > 1 - 1e-9) du = 0, u = fu + 1;
    if (dv > 1 - 1e-9) dv = 0, v = fv + 1;
    const long u0 = static_cast<long>(std::floor(u)), v0 = static_cast<long>(std::floor(v));
    for (int dy = 0; dy < 2; ++dy)
        for (int dx = 0; dx < 2; ++dx) {
            const double w = (dx ? du : 1 - du) * (dy ? dv : 1 - dv);
            if (w == 0) continue;
            const long x = u0 + dx, y = v0 + dy;
            const T& p =
                x >= 0 && y >= 0 && x < width && y < height
                    ? slice[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)]
                    : outside;
            for (int ch = 0; ch < C::count; ++ch) acc[ch] += weight * w * C::get(p, ch);
        }
}

template <typename T> Volume resampleTyped(const Volume& stack, const SlicePlan& plan) {
    using C = Channels<T>;
    const ImageGeometry& in = stack.geometry();
    const ImageGeometry& g = plan.output;
    const T* src = stack.data<T>();
    const std::size_t inSlice = static_cast<std::size_t>(in.size[0]) * static_cast<std::size_t>(in.size[1]);
    const std::size_t outSlice = static_cast<std::size_t>(g.size[0]) * static_cast<std::size_t>(g.size[1]);
    T outside{};
    if constexpr (!std::is_same_v<T, Rgb8>)
        if (in.voxelCount() > 0) outside = *std::min_element(src, src + in.voxelCount());
    std::vector<T> out(g.voxelCount());
    parallelFor(plan.slices.size(), [&](std::size_t k) {
        const OutputSlice& o = plan.slices[k];
        const T* below = src + static_cast<std::size_t>(o.below) * inSlice;
        const T* above = src + static_cast<std::size_t>(o.above) * inSlice;
        T* dst = out.data() + k * outSlice;
        if (!plan.sheared) {
            if (o.t == 0) {
                std::copy(below, below + inSlice, dst);
                return;
            }
            for (std::size_t i = 0; i < inSlice; ++i) {
                double acc[C::count];
                for (int ch = 0; ch < C::count; ++ch)
                    acc[ch] = (1 - o.t) * C::get(below[i], ch) + o.t * C::get(above[i], ch);
                dst[i] = C::make(acc);
            }
            return;
        }
        const auto& sb = plan.shift[static_cast<std::size_t>(o.below)];
        const auto& sa = plan.shift[static_cast<std::size_t>(o.above)];
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                double acc[C::count] = {};
                addBilinear(acc, 1 - o.t, below, in.size[0], in.size[1], i - sb[0], j - sb[1], outside);
                if (o.t > 0) addBilinear(acc, o.t, above, in.size[0], in.size[1], i - sa[0], j - sa[1], outside);
                dst[static_cast<std::size_t>(j) * static_cast<std::size_t>(g.size[0]) + static_cast<std::size_t>(i)] =
                    C::make(acc);
            }
    });
    return Volume::create(g, std::move(out));
}

Volume resample(const Volume& stack, const SlicePlan& plan) {
    switch (stack.pixelType()) {
    case PixelType::UInt8:
        return resampleTyped<std::uint8_t>(stack, plan);
    case PixelType::Int16:
        return resampleTyped<std::int16_t>(stack, plan);
    case PixelType::UInt16:
        return resampleTyped<std::uint16_t>(stack, plan);
    case PixelType::Int32:
        return resampleTyped<std::int32_t>(stack, plan);
    case PixelType::Float32:
        return resampleTyped<float>(stack, plan);
    case PixelType::RGB8:
        return resampleTyped<Rgb8>(stack, plan);
    }
    return stack;
}

// Volumes beyond this many bytes are refused before allocation: such sizes come from broken headers, and no
// workstation holds them anyway.
constexpr double maxVolumeBytes = 16.0 * 1024 * 1024 * 1024;

} // namespace

// ---- public API ---------------------------------------------------------------------------------------------------

namespace dicom {

Result<LoadedSeries> assembleSeries(const std::vector<DicomHeader>& headers, const SeriesInfo& series,
                                    const ProgressFn& progress) {
    if (headers.empty()) return makeError(ErrorCode::InvalidInput, "series " + series.seriesUid + " has no files");
    const DicomHeader& h0 = headers.front();
    RawKind kind = dicom::rawKindFor(h0.format);
    for (const auto& h : headers) {
        if (h.format.rows != h0.format.rows || h.format.columns != h0.format.columns ||
            h.format.isColour() != h0.format.isColour())
            return makeError(ErrorCode::InvalidInput,
                             h.file.string() + ": image size or colour differs from " + h0.file.string() + " (" +
                                 std::to_string(h.format.columns) + "x" + std::to_string(h.format.rows) + " vs " +
                                 std::to_string(h0.format.columns) + "x" + std::to_string(h0.format.rows) + ")");
        kind = *dicom::joinRawKinds(kind, dicom::rawKindFor(h.format)); // colour mismatch was excluded above
    }
    // Frames of this part: every frame, or the selection a split of a multi-frame file made.
    std::vector<std::vector<bool>> use(headers.size());
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const auto frames = static_cast<std::size_t>(headers[i].format.frames);
        use[i].assign(frames, series.frames.empty() || !headers[i].isMultiFrame());
        if (!headers[i].isMultiFrame()) continue;
        for (int f : series.frames) {
            if (f < 0 || static_cast<std::size_t>(f) >= frames)
                return makeError(ErrorCode::InvalidInput, headers[i].file.string() + ": frame " + std::to_string(f) +
                                                              " does not exist (" + std::to_string(frames) +
                                                              " frames)");
            use[i][static_cast<std::size_t>(f)] = true;
        }
    }

    auto plan = planSlices(headers, use);
    if (!plan) return plan.error();
    const ImageGeometry& g = plan->stack;
    const std::size_t frameVoxels = h0.format.frameVoxels();
    const double stackBytes = static_cast<double>(g.voxelCount()) * static_cast<double>(dicom::rawBytes(kind));
    const double outputBytes = static_cast<double>(plan->output.voxelCount()) * 4.0;
    if (stackBytes + outputBytes > maxVolumeBytes)
        return makeError(ErrorCode::Unsupported, "volume too large: " + plan->output.describe());
    RawBuffer raw;
    try {
        raw = allocate(kind, g.voxelCount());
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::IoError, "not enough memory for " + g.describe());
    }

    // Whole-number rescale (CT's slope 1 and intercept -1024, most MR) of 16-bit grey data is done while unpacking
    // when the stored values' kind can hold the results; else (or when a slice's values turn out not to fit, see
    // below) makeVolume rescales afterwards.
    std::vector<std::int32_t> fusedSlope, fusedIntercept;
    const bool fuse =
        (kind == RawKind::Int16 || kind == RawKind::UInt16) &&
        std::none_of(headers.begin(), headers.end(), [](const DicomHeader& h) { return h.isMosaic; }) &&
        std::all_of(plan->slope.begin(), plan->slope.end(),
                    [](double s) { return isIntegral(s) && std::abs(s) <= 1024; }) &&
        std::all_of(plan->intercept.begin(), plan->intercept.end(),
                    [](double b) { return isIntegral(b) && std::abs(b) <= (1 << 20); });
    if (fuse) {
        for (double v : plan->slope) fusedSlope.push_back(static_cast<std::int32_t>(std::llround(v)));
        for (double v : plan->intercept) fusedIntercept.push_back(static_cast<std::int32_t>(std::llround(v)));
    }

    std::vector<ValueRange> ranges(plan->slope.size());
    const auto decodeAll = [&](bool fused) -> std::optional<Error> {
        dicom::RawVolume target{kind, rawData(raw), frameVoxels};
        if (fused) {
            target.slope = fusedSlope.data();
            target.intercept = fusedIntercept.data();
        }
        std::vector<std::optional<Error>> errors(headers.size());
        std::atomic<std::size_t> decodedFrames{0};
        const std::size_t totalFrames = std::max<std::size_t>(1, plan->slope.size());
        const bool finished = parallelFor(
            headers.size(),
            [&](std::size_t i) {
                // Each file writes only its own slots (and their range entries): no locking needed.
                if (std::none_of(plan->slotOfFrame[i].begin(), plan->slotOfFrame[i].end(),
                                 [](int s) { return s >= 0; }))
                    return; // every frame of this file was a duplicate position or not selected
                auto r = dicom::decodeFrames(headers[i], target, plan->slotOfFrame[i], ranges);
                if (!r) errors[i] = r.error();
                decodedFrames += static_cast<std::size_t>(headers[i].format.frames);
            },
            [&](std::size_t) {
                return reportProgress(progress,
                                      0.05 + 0.8 * std::min(1.0, static_cast<double>(decodedFrames.load()) /
                                                                     static_cast<double>(totalFrames)),
                                      "decoding " + std::to_string(decodedFrames.load()) + " frames");
            });
        if (!finished) return cancelledError();
        for (auto& e : errors)
            if (e) return *e;
        return std::nullopt;
    };
    if (auto e = decodeAll(fuse)) return *e;
    if (fuse) {
        // Fused values are right when every slice's rescaled range fits the kind (the map is linear, so the stored
        // range's image bounds every value); then the plan's rescale is done and the ranges become the results'.
        const double lo = kind == RawKind::Int16 ? std::numeric_limits<std::int16_t>::min() : 0.0;
        const double hi = kind == RawKind::Int16 ? std::numeric_limits<std::int16_t>::max()
                                                 : std::numeric_limits<std::uint16_t>::max();
        bool fits = true;
        std::vector<ValueRange> rescaled(ranges.size());
        for (std::size_t k = 0; k < ranges.size(); ++k) {
            const double a = ranges[k].min * plan->slope[k] + plan->intercept[k];
            const double b = ranges[k].max * plan->slope[k] + plan->intercept[k];
            rescaled[k] = {std::min(a, b), std::max(a, b)};
            fits = fits && rescaled[k].min >= lo && rescaled[k].max <= hi;
        }
        if (fits) {
            ranges = std::move(rescaled);
            std::fill(plan->slope.begin(), plan->slope.end(), 1.0);
            std::fill(plan->intercept.begin(), plan->intercept.end(), 0.0);
        } else if (auto e = decodeAll(false)) {
            return *e; // rare: results outside the kind (e.g. unsigned data with a negative intercept)
        }
    }

    LoadedSeries out;
    out.info = seriesInfoFrom(h0);
    out.info.files = series.files;
    out.info.frames = series.frames;
    out.info.partLabel = series.partLabel;
    out.info.warnings = series.warnings;
    for (auto& w : plan->warnings) out.info.warnings.push_back(std::move(w));
    if (h0.mosaic)
        out.info.warnings.push_back("Siemens mosaic: " + std::to_string(h0.mosaic->count) + " slices of " +
                                    std::to_string(h0.format.columns) + "x" + std::to_string(h0.format.rows) +
                                    " unpacked from the " + std::to_string(h0.mosaic->mosaicColumns) + "x" +
                                    std::to_string(h0.mosaic->mosaicRows) + " mosaic image");
    else if (h0.isMosaic)
        out.info.warnings.push_back("Siemens mosaic image not unpacked (" + h0.mosaicProblem +
                                    "): loaded as one 2D image");
    if (std::any_of(headers.begin(), headers.end(), [](const DicomHeader& h) { return h.hasModalityLutSequence; }))
        out.info.warnings.push_back("Modality LUT Sequence not applied (rescale slope/intercept used)");
    if (!reportProgress(progress, 0.85, "converting")) return cancelledError();
    try {
        out.volume = makeVolume(std::move(raw), *plan, ranges);
        if (!plan->slices.empty()) {
            if (!reportProgress(progress, 0.9, "resampling onto a regular grid")) return cancelledError();
            out.volume = resample(out.volume, *plan);
        }
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::IoError, "not enough memory for " + plan->output.describe());
    }
    reportProgress(progress, 1.0, "loaded " + out.volume.geometry().describe());
    return out;
}

} // namespace dicom

namespace {

// Every regular file below `root` (directory symlinks are not followed, as in a recursive_directory_iterator);
// sub-folders that cannot be listed go to `unreadable` instead of ending the walk.
std::optional<Error> listFiles(const fs::path& root, std::vector<fs::path>& files,
                               std::vector<SkippedFile>& unreadable) {
    std::vector<fs::path> pending{root};
    while (!pending.empty()) {
        const fs::path dir = pending.back();
        pending.pop_back();
        std::error_code ec;
        fs::directory_iterator it(dir, ec);
        if (ec) {
            const std::string why = ec == std::errc::permission_denied ? "permission denied" : ec.message();
            if (dir == root)
                return makeError(ErrorCode::IoError, root.string() + ": cannot read the folder (" + why + ")");
            unreadable.push_back({dir, why + ": the folder cannot be listed", ErrorCode::IoError});
            continue;
        }
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            if (ec) break; // the folder changed under us (or an I/O error): keep what was found so far
            std::error_code fec;
            if (it->is_directory(fec) && !it->is_symlink(fec))
                pending.push_back(it->path());
            else if (it->is_regular_file(fec))
                files.push_back(it->path());
        }
        if (ec)
            unreadable.push_back({dir, "listing the folder failed (" + ec.message() + "): some files may be missing",
                                  ErrorCode::IoError});
    }
    return std::nullopt;
}

} // namespace

namespace dicom {

std::optional<ScannedHeaders::Stamp> stampOf(const fs::path& file) {
    std::error_code ec;
    ScannedHeaders::Stamp stamp;
    stamp.size = fs::file_size(file, ec);
    if (ec) return std::nullopt;
    stamp.modified = fs::last_write_time(file, ec);
    if (ec) return std::nullopt;
    return stamp;
}

} // namespace dicom

namespace {

// Hands each series the headers the scan parsed for its files. Headers holding a file's bytes in memory (deflated
// data sets, inflated at the scan) are not kept: a scan result lives as long as the import dialog, and keeping every
// inflated file would hold the whole series in memory twice.
void attachHeaders(std::vector<SeriesInfo>& series, const std::vector<dicom::DicomHeader>& headers) {
    std::map<fs::path, const dicom::DicomHeader*> byFile;
    for (const auto& h : headers) byFile.emplace(h.file, &h);
    for (auto& s : series) {
        auto scanned = std::make_shared<dicom::ScannedHeaders>();
        bool complete = true;
        for (const auto& f : s.files) {
            const auto it = byFile.find(f);
            const auto stamp = dicom::stampOf(f);
            if (it == byFile.end() || it->second->memory || !stamp) {
                complete = false;
                break;
            }
            scanned->headers.push_back(*it->second);
            scanned->stamps.push_back(*stamp);
        }
        if (complete) s.scannedHeaders = std::move(scanned);
    }
}

} // namespace

Result<DicomScan> scanDicom(const fs::path& path, const ProgressFn& progress) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (!fs::exists(status)) return makeError(ErrorCode::NotFound, path.string() + ": no such file or folder");

    DicomScan scan;
    std::vector<fs::path> files;
    if (fs::is_directory(status)) {
        if (auto error = listFiles(path, files, scan.skipped)) return *error;
    } else if (fs::is_regular_file(status)) {
        files.push_back(path);
    } else {
        return makeError(ErrorCode::InvalidInput, path.string() + ": neither a file nor a folder");
    }
    std::sort(files.begin(), files.end());

    const auto scanAll = [&](const std::vector<fs::path>& list, double from,
                             double to) -> std::optional<std::vector<dicom::ScannedFile>> {
        std::vector<dicom::ScannedFile> out(list.size());
        const bool finished = parallelFor(
            list.size(), [&](std::size_t i) { out[i] = dicom::scanFile(list[i]); },
            [&](std::size_t done) {
                return reportProgress(
                    progress, from + (to - from) * static_cast<double>(done) / static_cast<double>(list.size()),
                    "reading DICOM headers (" + std::to_string(done) + "/" + std::to_string(list.size()) + ")");
            });
        if (!finished) return std::nullopt;
        return out;
    };
    if (!reportProgress(progress, 0.0, "reading DICOM headers")) return cancelledError();
    auto scanned = scanAll(files, 0.0, 0.95);
    if (!scanned) return cancelledError();

    // DICOMDIRs: files they reference that the walk did not reach (a DICOMDIR given directly, or references
    // outside the folder) are scanned too; the index itself is reported as skipped.
    std::set<fs::path> known;
    for (const auto& f : files) known.insert(comparable(f));
    std::vector<fs::path> extra;
    for (const auto& s : *scanned)
        if (s.dicomDirReferences)
            for (const auto& ref : *s.dicomDirReferences)
                if (known.insert(comparable(ref)).second) extra.push_back(ref);
    if (!extra.empty()) {
        auto more = scanAll(extra, 0.95, 1.0);
        if (!more) return cancelledError();
        files.insert(files.end(), extra.begin(), extra.end());
        for (auto& m : *more) scanned->push_back(std::move(m));
    }

    std::vector<DicomHeader> headers;
    for (std::size_t i = 0; i < scanned->size(); ++i) {
        auto& s = (*scanned)[i];
        if (s.header) {
            headers.push_back(std::move(*s.header));
        } else if (s.dicomDirReferences) {
            scan.skipped.push_back({files[i],
                                    "DICOMDIR index (its " + std::to_string(s.dicomDirReferences->size()) +
                                        " referenced files are scanned directly)",
                                    ErrorCode::InvalidInput});
        } else {
            scan.skipped.push_back({files[i], s.skipReason, s.skipCode});
        }
    }
    scan.series = dicom::groupIntoSeries(headers);
    attachHeaders(scan.series, headers);
    reportProgress(progress, 1.0, "found " + std::to_string(scan.series.size()) + " series");
    return scan;
}

Result<LoadedSeries> loadSeries(const SeriesInfo& series, const ProgressFn& progress) {
    if (series.files.empty()) return makeError(ErrorCode::InvalidInput, "series " + series.seriesUid + " has no files");
    if (!reportProgress(progress, 0.0, "reading headers")) return cancelledError();

    // The scan's headers where the files are unchanged since; parsed again otherwise (a SeriesInfo made elsewhere,
    // or files rewritten after the scan).
    const dicom::ScannedHeaders* scanned = series.scannedHeaders.get();
    if (scanned && scanned->headers.size() != series.files.size()) scanned = nullptr;
    std::vector<std::optional<Result<DicomHeader>>> read(series.files.size());
    if (!parallelFor(
            series.files.size(),
            [&](std::size_t i) {
                if (scanned && scanned->headers[i].file == series.files[i] &&
                    dicom::stampOf(series.files[i]) == scanned->stamps[i])
                    read[i].emplace(scanned->headers[i]);
                else
                    read[i].emplace(dicom::readHeader(series.files[i]));
            },
            [&](std::size_t done) {
                return reportProgress(progress,
                                      0.05 * static_cast<double>(done) / static_cast<double>(series.files.size()),
                                      "reading headers");
            }))
        return cancelledError();
    std::vector<DicomHeader> headers;
    for (auto& r : read) {
        if (!r->ok()) return r->error();
        headers.push_back(std::move(r->value()));
    }
    return dicom::assembleSeries(headers, series, progress);
}

namespace {

std::string summariseSkipped(const std::vector<SkippedFile>& skipped) {
    std::map<std::string, int> counts;
    for (const auto& s : skipped) ++counts[s.reason];
    std::vector<std::pair<int, std::string>> byCount;
    for (const auto& [reason, n] : counts) byCount.emplace_back(n, reason);
    std::stable_sort(byCount.begin(), byCount.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string out;
    for (std::size_t i = 0; i < byCount.size() && i < 3; ++i) {
        if (!out.empty()) out += "; ";
        out += std::to_string(byCount[i].first) + "x " + byCount[i].second;
    }
    if (byCount.size() > 3) out += "; ...";
    return out;
}

} // namespace

Result<LoadedFolder> loadDicomFolder(const fs::path& path, const ProgressFn& progress) {
    constexpr double scanShare = 0.15;
    auto scan =
        scanDicom(path, [&](double f, const std::string& m) { return reportProgress(progress, scanShare * f, m); });
    if (!scan) return scan.error();

    LoadedFolder folder;
    folder.skipped = scan->skipped;
    std::size_t totalFiles = 0, doneFiles = 0;
    for (const auto& s : scan->series) totalFiles += s.files.size();
    std::optional<Error> lastError;
    for (const auto& s : scan->series) {
        const double from = scanShare + (1 - scanShare) * static_cast<double>(doneFiles) /
                                            static_cast<double>(std::max<std::size_t>(totalFiles, 1));
        const double to = scanShare + (1 - scanShare) * static_cast<double>(doneFiles + s.files.size()) /
                                          static_cast<double>(std::max<std::size_t>(totalFiles, 1));
        auto loaded = loadSeries(
            s, [&](double f, const std::string& m) { return reportProgress(progress, from + (to - from) * f, m); });
        doneFiles += s.files.size();
        if (loaded) {
            folder.series.push_back(std::move(*loaded));
            continue;
        }
        if (loaded.error().code == ErrorCode::Cancelled) return loaded.error();
        for (const auto& f : s.files)
            folder.skipped.push_back(
                {f, "series " + s.seriesUid + " not loaded: " + loaded.error().message, loaded.error().code});
        lastError = loaded.error();
    }
    if (folder.series.empty()) {
        const std::string skippedText = folder.skipped.empty()
                                            ? std::string()
                                            : " (" + std::to_string(folder.skipped.size()) +
                                                  " files skipped: " + summariseSkipped(folder.skipped) + ")";
        if (!scan->series.empty() && lastError)
            return makeError(lastError->code, path.string() + ": none of the " + std::to_string(scan->series.size()) +
                                                  " DICOM series could be loaded" + skippedText);
        const bool allUnsupported = !folder.skipped.empty() &&
                                    std::all_of(folder.skipped.begin(), folder.skipped.end(),
                                                [](const SkippedFile& s) { return s.code == ErrorCode::Unsupported; });
        return makeError(allUnsupported ? ErrorCode::Unsupported : ErrorCode::InvalidInput,
                         path.string() + ": no DICOM image series found" + skippedText);
    }
    reportProgress(progress, 1.0, "done");
    return folder;
}

} // namespace jumeau::imaging
