#include "jumeau/imaging/DicomSeriesReader.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <variant>

#include "DicomHeader.h"
#include "DicomPixels.h"

// Two stages, so each can grow on its own:
//  1. scan: headers only (DicomHeader.cpp), in parallel; files grouped into series, a series split where it mixes
//     orientations or image sizes;
//  2. load: headers re-read (cheap, and loadSeries stays usable with a SeriesInfo built by hand), slices placed by
//     their position along the slice normal, frames decoded in parallel into one buffer (DicomPixels.cpp), then
//     rescaled once into the output pixel type.

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

// Runs work(i) for every i in [0, n). The calling thread takes part and is the only one calling `report` (after
// each of its jobs, with the number done so far), so progress callbacks need not be thread-safe. `report`
// returning false cancels the remaining jobs; the function then returns false.
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
    while (auto i = take()) {
        work(*i);
        const std::size_t d = done.fetch_add(1) + 1;
        if (report && !report(d)) cancelled = true;
    }
    for (auto& t : helpers) t.join();
    return !cancelled.load();
}

Error cancelledError() {
    return makeError(ErrorCode::Cancelled, "cancelled");
}

// ---- scan ---------------------------------------------------------------------------------------------------------

std::string fmt(double v, int precision = 4) {
    std::ostringstream s;
    s.precision(precision);
    s << v;
    return s.str();
}

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

bool hasGeometry(const DicomHeader& h) {
    return h.image.position && h.image.orientation;
}

// Files that can share one volume: same image size and kind, same orientation, geometry present in all or none.
struct SubSeries {
    std::vector<std::size_t> members; // indices into the header list
    int rows = 0, columns = 0;
    bool colour = false;
    std::optional<std::array<Vec3, 2>> orientation;
    bool geometry = false;

    bool accepts(const DicomHeader& h) const {
        if (h.format.rows != rows || h.format.columns != columns || h.format.isColour() != colour) return false;
        if (hasGeometry(h) != geometry) return false;
        if (geometry) return sameOrientation(*h.image.orientation, *orientation);
        return true;
    }
};

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

std::string seriesLabel(const DicomHeader& h) {
    std::string label = "series " + (h.seriesUid.empty() ? std::string("(no SeriesInstanceUID)") : h.seriesUid);
    if (!h.seriesDescription.empty()) label += " \"" + h.seriesDescription + "\"";
    return label;
}

// Orders files of one sub-series: along the slice normal when there is geometry, else by InstanceNumber.
void sortMembers(std::vector<std::size_t>& members, const std::vector<DicomHeader>& headers) {
    const DicomHeader& first = headers[members.front()];
    const auto instance = [&](std::size_t i) { return headers[i].instanceNumber.value_or(INT_MAX); };
    if (hasGeometry(first)) {
        const Vec3 n = normalOf(*first.image.orientation);
        std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
            const double pa = geometry::dot(*headers[a].image.position, n),
                         pb = geometry::dot(*headers[b].image.position, n);
            if (std::abs(pa - pb) > 1e-6) return pa < pb;
            return instance(a) < instance(b);
        });
    } else {
        std::stable_sort(members.begin(), members.end(),
                         [&](std::size_t a, std::size_t b) { return instance(a) < instance(b); });
    }
}

std::vector<SeriesInfo> groupIntoSeries(const std::vector<DicomHeader>& headers) {
    // Series key: SeriesInstanceUID; every multi-frame file is its own volume (4D enhanced series store one
    // time point per file).
    const auto seriesKey = [](const DicomHeader& h) {
        return h.seriesUid.empty() ? "(none)|" + h.studyUid + "|" + h.modality + "|" + h.frameOfReferenceUid
                                   : h.seriesUid;
    };
    std::vector<std::string> order;
    std::map<std::string, std::vector<std::size_t>> bySeries;
    std::map<std::string, int> multiFramePerSeries;
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const DicomHeader& h = headers[i];
        std::string key = seriesKey(h);
        if (h.isMultiFrame()) {
            ++multiFramePerSeries[key];
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
    };
    std::vector<Built> built;
    for (const auto& key : order) {
        const auto& members = bySeries[key];
        std::vector<SubSeries> parts;
        for (std::size_t idx : members) {
            const DicomHeader& h = headers[idx];
            auto part = std::find_if(parts.begin(), parts.end(), [&](const SubSeries& p) { return p.accepts(h); });
            if (part == parts.end()) {
                SubSeries p;
                p.rows = h.format.rows;
                p.columns = h.format.columns;
                p.colour = h.format.isColour();
                p.geometry = hasGeometry(h);
                p.orientation = h.image.orientation;
                parts.push_back(p);
                part = parts.end() - 1;
            }
            part->members.push_back(idx);
        }
        for (std::size_t p = 0; p < parts.size(); ++p) {
            auto& part = parts[p];
            sortMembers(part.members, headers);
            const DicomHeader& first = headers[part.members.front()];
            Built b;
            b.info = seriesInfoFrom(first);
            for (std::size_t idx : part.members) b.info.files.push_back(headers[idx].file);
            if (parts.size() > 1)
                b.info.warnings.push_back(seriesLabel(first) + " mixes orientations or image sizes: split into " +
                                          std::to_string(parts.size()) + " series; this part has " +
                                          std::to_string(part.members.size()) + " file(s) of " +
                                          std::to_string(part.columns) + "x" + std::to_string(part.rows) + ", " +
                                          describeOrientation(part.orientation));
            if (const int multiFrame = first.isMultiFrame() ? multiFramePerSeries[seriesKey(first)] : 0; multiFrame > 1)
                b.info.warnings.push_back(seriesLabel(first) + " has " + std::to_string(multiFrame) +
                                          " multi-frame files: each is loaded as its own volume");
            b.seriesNumber = first.seriesNumber.value_or(INT_MAX);
            b.sortKey = first.patientId + "|" + first.studyUid;
            built.push_back(std::move(b));
        }
    }
    std::stable_sort(built.begin(), built.end(), [](const Built& a, const Built& b) {
        if (a.sortKey != b.sortKey) return a.sortKey < b.sortKey;
        if (a.seriesNumber != b.seriesNumber) return a.seriesNumber < b.seriesNumber;
        if (a.info.seriesUid != b.info.seriesUid) return a.info.seriesUid < b.info.seriesUid;
        return a.info.files.front() < b.info.files.front();
    });
    std::vector<SeriesInfo> out;
    for (auto& b : built) out.push_back(std::move(b.info));
    return out;
}

fs::path comparable(const fs::path& p) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(p, ec);
    return ec ? p.lexically_normal() : c;
}

// ---- load: slice placement ----------------------------------------------------------------------------------------

struct Slice {
    std::size_t header = 0;
    int frame = 0;
    FrameInfo info;
    int instance = INT_MAX;
    double projection = 0;
};

struct SlicePlan {
    ImageGeometry geometry;
    std::vector<std::vector<int>> slotOfFrame; // [header][frame] → slot, -1 when not used
    std::vector<double> slope, intercept;      // per slot
    std::vector<bool> gap;                     // per slot: no slice there (missing in the series)
    std::vector<std::string> warnings;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Slices of all headers, with positions for multi-frame files whose frames have none of their own.
std::vector<Slice> gatherSlices(const std::vector<DicomHeader>& headers, std::vector<std::string>& warnings) {
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

Result<SlicePlan> planSlices(const std::vector<DicomHeader>& headers) {
    SlicePlan plan;
    std::vector<Slice> slices = gatherSlices(headers, plan.warnings);
    const DicomHeader& h0 = headers.front();
    plan.slotOfFrame.resize(headers.size());
    for (std::size_t i = 0; i < headers.size(); ++i)
        plan.slotOfFrame[i].assign(static_cast<std::size_t>(headers[i].format.frames), -1);

    const bool spatial = std::all_of(slices.begin(), slices.end(), [](const Slice& s) {
        return s.info.position.has_value() && s.info.orientation.has_value();
    });
    Vec3 spacing = pixelSpacingOf(slices, headers, plan.warnings);
    std::vector<const Slice*> placed; // slice of each real slot, in slot order (nullptr for gaps)

    ImageGeometry& g = plan.geometry;
    g.size = {h0.format.columns, h0.format.rows, 0};
    if (spatial) {
        const auto orientation = *slices.front().info.orientation;
        for (const auto& s : slices)
            if (!sameOrientation(*s.info.orientation, orientation))
                return makeError(ErrorCode::Unsupported, headers[s.header].file.string() +
                                                             ": slices of one volume have different orientations");
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

        // Several slices at one position (echoes, time points or a repeated acquisition in one series): the
        // first by InstanceNumber is kept so the volume stays a single 3D grid.
        std::vector<const Slice*> unique;
        std::size_t duplicates = 0;
        for (const auto& s : slices) {
            if (!unique.empty() && std::abs(s.projection - unique.back()->projection) < 1e-2) {
                ++duplicates;
                continue;
            }
            unique.push_back(&s);
        }
        if (duplicates > 0)
            plan.warnings.push_back(std::to_string(duplicates) +
                                    " slice(s) share a position with another (echoes or time points in one series?): "
                                    "the first at each position is used");

        double kSpacing = 1;
        std::vector<int> kOf(unique.size(), 0);
        if (unique.size() == 1) {
            if (h0.spacingBetweenSlices && *h0.spacingBetweenSlices > 0)
                kSpacing = *h0.spacingBetweenSlices;
            else if (h0.sliceThickness && *h0.sliceThickness > 0)
                kSpacing = *h0.sliceThickness;
        } else {
            std::vector<double> diffs;
            for (std::size_t i = 1; i < unique.size(); ++i)
                diffs.push_back(unique[i]->projection - unique[i - 1]->projection);
            const double step = median(diffs);
            // A step of about a whole multiple of the median is a missing slice: an empty slot keeps every later
            // slice at its true position. Filling is bounded (at most as many empty slots as slices) so a stray
            // position or a sparse sample of a series cannot turn into a huge, mostly empty volume.
            int missing = 0;
            for (std::size_t i = 0; i < diffs.size(); ++i) {
                const double ratio = diffs[i] / step;
                const int steps = ratio > 1.5 ? static_cast<int>(std::lround(ratio)) : 1;
                missing += steps - 1;
                kOf[i + 1] = kOf[i] + steps;
            }
            const bool fillGaps = missing > 0 && static_cast<std::size_t>(missing) <= unique.size();
            if (!fillGaps)
                for (std::size_t i = 0; i < kOf.size(); ++i) kOf[i] = static_cast<int>(i);
            // Spacing: least squares through the first slice over all slots. It equals the median step for a
            // uniform series, and for positions rounded in the files (steps 6.96..7.07 mm in a real GE series)
            // it removes the drift that stacking at the median would accumulate over the volume.
            double num = 0, den = 0;
            for (std::size_t i = 1; i < unique.size(); ++i) {
                num += kOf[i] * (unique[i]->projection - unique[0]->projection);
                den += static_cast<double>(kOf[i]) * kOf[i];
            }
            kSpacing = num / den;
            double maxError = 0, minStep = std::numeric_limits<double>::max(), maxStep = 0;
            for (std::size_t i = 0; i < unique.size(); ++i) {
                maxError =
                    std::max(maxError, std::abs(unique[i]->projection - unique[0]->projection - kOf[i] * kSpacing));
                if (i > 0) {
                    const double perSlot = diffs[i - 1] / (kOf[i] - kOf[i - 1]);
                    minStep = std::min(minStep, perSlot);
                    maxStep = std::max(maxStep, perSlot);
                }
            }
            if (fillGaps)
                plan.warnings.push_back(std::to_string(missing) + " missing slice(s) in the series (gaps of whole " +
                                        "slice steps): empty slots filled with the lowest value keep the other "
                                        "slices at their true positions");
            else if (missing > 0)
                plan.warnings.push_back("large gaps between slices (" + std::to_string(missing) +
                                        " slice steps missing, more than slices present): slices stacked without "
                                        "filling the gaps");
            if (maxStep - minStep > 0.01 * step)
                plan.warnings.push_back("non-uniform slice spacing: steps of " + fmt(minStep) + " to " + fmt(maxStep) +
                                        " mm; slices placed every " + fmt(kSpacing) + " mm, off by up to " +
                                        fmt(maxError, 3) + " mm");
        }
        // In-plane drift of the slice positions (gantry tilt or sheared stacks) cannot be held by an orthogonal grid.
        const Vec3 origin = *unique.front()->info.position;
        double drift = 0;
        for (const Slice* s : unique) {
            const Vec3 v = *s->info.position - origin;
            drift = std::max(drift, geometry::norm(v - n * geometry::dot(v, n)));
        }
        if (drift > 0.5 * std::min(spacing.x, spacing.y))
            plan.warnings.push_back("slice positions drift " + fmt(drift, 3) +
                                    " mm within the slice plane (gantry tilt?): the volume stacks slices along the "
                                    "normal, so far slices are off by up to that much");

        spacing.z = kSpacing;
        g.size[2] = kOf.back() + 1;
        g.origin = origin;
        g.direction = Mat3::fromColumns(r, c, n);
        placed.assign(static_cast<std::size_t>(g.size[2]), nullptr);
        for (std::size_t i = 0; i < unique.size(); ++i) placed[static_cast<std::size_t>(kOf[i])] = unique[i];
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
        for (const auto& s : slices) placed.push_back(&s);
    }
    g.spacing = spacing;

    plan.slope.assign(placed.size(), 1.0);
    plan.intercept.assign(placed.size(), 0.0);
    plan.gap.assign(placed.size(), false);
    bool zeroSlope = false;
    for (std::size_t k = 0; k < placed.size(); ++k) {
        const Slice* s = placed[k];
        if (s == nullptr) {
            plan.gap[k] = true;
            continue;
        }
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

using RawBuffer = std::variant<std::vector<std::uint8_t>, std::vector<std::int16_t>, std::vector<std::uint16_t>,
                               std::vector<float>, std::vector<Rgb8>>;

RawBuffer allocate(RawKind kind, std::size_t n) {
    switch (kind) {
    case RawKind::UInt8:
        return std::vector<std::uint8_t>(n);
    case RawKind::Int16:
        return std::vector<std::int16_t>(n);
    case RawKind::UInt16:
        return std::vector<std::uint16_t>(n);
    case RawKind::Float32:
        return std::vector<float>(n);
    case RawKind::Rgb8:
        return std::vector<Rgb8>(n);
    }
    return std::vector<std::uint8_t>(n);
}

bool isIntegral(double v) {
    return std::abs(v - std::round(v)) < 1e-9;
}

// Rescales stored values slot by slot into Out; gap slots get `fill`. In and Out may be the same buffer.
template <typename Out, typename In>
void rescaleInto(const In* in, Out* out, const SlicePlan& plan, std::size_t frameVoxels, double fill) {
    parallelFor(plan.gap.size(), [&](std::size_t k) {
        const std::size_t base = k * frameVoxels;
        if (plan.gap[k]) {
            std::fill(out + base, out + base + frameVoxels, static_cast<Out>(fill));
            return;
        }
        const double s = plan.slope[k], b = plan.intercept[k];
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
// (fractional slopes, PET/dose, 32-bit data) becomes Float32. Gaps (missing slices) get the lowest value.
Volume makeVolume(RawBuffer&& raw, const SlicePlan& plan, const std::vector<ValueRange>& ranges) {
    const ImageGeometry& g = plan.geometry;
    const std::size_t frameVoxels = static_cast<std::size_t>(g.size[0]) * static_cast<std::size_t>(g.size[1]);
    if (auto* rgb = std::get_if<std::vector<Rgb8>>(&raw)) return Volume::create(g, std::move(*rgb));

    bool identity = true, integral = true;
    double lo = std::numeric_limits<double>::max(), hi = std::numeric_limits<double>::lowest();
    for (std::size_t k = 0; k < plan.gap.size(); ++k) {
        if (plan.gap[k]) continue;
        const double s = plan.slope[k], b = plan.intercept[k];
        identity = identity && s == 1.0 && b == 0.0;
        integral = integral && isIntegral(s) && isIntegral(b);
        const double a = ranges[k].min * s + b, c = ranges[k].max * s + b;
        lo = std::min({lo, a, c});
        hi = std::max({hi, a, c});
    }
    if (lo > hi) lo = hi = 0; // cannot happen with at least one slice; keeps the arithmetic below defined

    if (identity && std::holds_alternative<std::vector<std::uint8_t>>(raw)) {
        auto& v = std::get<std::vector<std::uint8_t>>(raw);
        rescaleInto(v.data(), v.data(), plan, frameVoxels, lo); // fills gaps only; values unchanged
        return Volume::create(g, std::move(v));
    }
    const auto convert = [&](auto tag) -> Volume {
        using Out = decltype(tag);
        return std::visit(
            [&](auto& in) -> Volume {
                using In = typename std::decay_t<decltype(in)>::value_type;
                if constexpr (std::is_same_v<In, Rgb8>) {
                    return {};
                } else if constexpr (std::is_same_v<In, Out>) {
                    rescaleInto(in.data(), in.data(), plan, frameVoxels, lo); // in place: no second buffer
                    return Volume::create(g, std::move(in));
                } else {
                    std::vector<Out> out(in.size());
                    rescaleInto(in.data(), out.data(), plan, frameVoxels, lo);
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

} // namespace

// ---- public API ---------------------------------------------------------------------------------------------------

Result<DicomScan> scanDicom(const fs::path& path, const ProgressFn& progress) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (!fs::exists(status)) return makeError(ErrorCode::NotFound, path.string() + ": no such file or folder");

    std::vector<fs::path> files;
    if (fs::is_directory(status)) {
        fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
        if (ec) return makeError(ErrorCode::IoError, path.string() + ": cannot read the folder (" + ec.message() + ")");
        for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (ec) break; // the tree changed under us (or an I/O error): keep what was found so far
            std::error_code fec;
            if (it->is_regular_file(fec)) files.push_back(it->path());
        }
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

    DicomScan scan;
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
    scan.series = groupIntoSeries(headers);
    reportProgress(progress, 1.0, "found " + std::to_string(scan.series.size()) + " series");
    return scan;
}

Result<LoadedSeries> loadSeries(const SeriesInfo& series, const ProgressFn& progress) {
    if (series.files.empty()) return makeError(ErrorCode::InvalidInput, "series " + series.seriesUid + " has no files");
    if (!reportProgress(progress, 0.0, "reading headers")) return cancelledError();

    // Headers again: cheap next to decoding, and it keeps this function independent of how the SeriesInfo was made.
    std::vector<std::optional<Result<DicomHeader>>> read(series.files.size());
    if (!parallelFor(
            series.files.size(), [&](std::size_t i) { read[i].emplace(dicom::readHeader(series.files[i])); },
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

    auto plan = planSlices(headers);
    if (!plan) return plan.error();
    const ImageGeometry& g = plan->geometry;
    const std::size_t frameVoxels = h0.format.frameVoxels();
    RawBuffer raw;
    try {
        raw = allocate(kind, g.voxelCount());
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::IoError, "not enough memory for " + g.describe());
    }

    const dicom::RawVolume target{kind, rawData(raw), frameVoxels};
    std::vector<ValueRange> ranges(plan->gap.size());
    std::vector<std::optional<Error>> errors(headers.size());
    std::atomic<std::size_t> decodedFrames{0};
    const std::size_t totalFrames = std::max<std::size_t>(1, g.voxelCount() / std::max<std::size_t>(frameVoxels, 1));
    const bool finished = parallelFor(
        headers.size(),
        [&](std::size_t i) {
            // Each file writes only its own slots (and their range entries): no locking needed.
            auto r = dicom::decodeFrames(headers[i], target, plan->slotOfFrame[i], ranges);
            if (!r) errors[i] = r.error();
            decodedFrames += static_cast<std::size_t>(headers[i].format.frames);
        },
        [&](std::size_t) {
            return reportProgress(progress,
                                  0.05 + 0.85 * std::min(1.0, static_cast<double>(decodedFrames.load()) /
                                                                  static_cast<double>(totalFrames)),
                                  "decoding " + std::to_string(decodedFrames.load()) + " frames");
        });
    if (!finished) return cancelledError();
    for (auto& e : errors)
        if (e) return *e;

    LoadedSeries out;
    out.info = seriesInfoFrom(h0);
    out.info.files = series.files;
    out.info.warnings = series.warnings;
    for (auto& w : plan->warnings) out.info.warnings.push_back(std::move(w));
    if (h0.isMosaic)
        out.info.warnings.push_back("Siemens mosaic image: its tiled slices are not unpacked (loaded as one 2D image)");
    if (std::any_of(headers.begin(), headers.end(), [](const DicomHeader& h) { return h.hasModalityLutSequence; }))
        out.info.warnings.push_back("Modality LUT Sequence not applied (rescale slope/intercept used)");
    if (!reportProgress(progress, 0.9, "converting")) return cancelledError();
    out.volume = makeVolume(std::move(raw), *plan, ranges);
    reportProgress(progress, 1.0, "loaded " + g.describe());
    return out;
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
