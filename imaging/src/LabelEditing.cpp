#include "jumeau/imaging/LabelEditing.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <sstream>

#include <itkBinaryFillholeImageFilter.h>
#include <itkCommand.h>
#include <itkConfidenceConnectedImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkConnectedThresholdImageFilter.h>
#include <itkImage.h>
#include <itkImportImageFilter.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

namespace jumeau::imaging {

namespace {

// ---------------------------------------------------------------- small helpers

std::string fmt(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

std::string fmtPoint(const Vec3& p) {
    std::ostringstream s;
    s << "(" << p.x << ", " << p.y << ", " << p.z << ") mm";
    return s.str();
}

std::string structureName(const LabelMap& map, std::uint16_t label) {
    if (const Structure* s = map.findByLabel(label)) return "'" + s->name + "' (label " + std::to_string(label) + ")";
    return "label " + std::to_string(label);
}

Error invalid(std::string message) {
    return makeError(ErrorCode::InvalidInput, std::move(message));
}
Error cancelled(const std::string& what) {
    return makeError(ErrorCode::Cancelled, what + ": cancelled, label map unchanged");
}

std::uint16_t maxLabel(const LabelMap& map) {
    return map.labels().holds<std::uint8_t>() ? 255 : 65535;
}

Result<void> checkMap(const LabelMap& map, const std::string& what) {
    if (map.empty() || map.geometry().empty()) return invalid(what + ": the label map is empty (no label volume)");
    if (!map.labels().holds<std::uint8_t>() && !map.labels().holds<std::uint16_t>())
        return invalid(what + ": the label volume holds " + std::string(toString(map.labels().pixelType())) +
                       " voxels, not 8/16-bit labels");
    return {};
}

Result<void> checkStructure(const LabelMap& map, std::uint16_t label, const std::string& what) {
    if (auto ok = checkMap(map, what); !ok) return ok;
    if (label == 0) return invalid(what + ": label 0 is the background, not a structure");
    if (!map.findByLabel(label))
        return invalid(what + ": no structure with label " + std::to_string(label) + " in the structure table");
    return {};
}

Result<void> checkIntensity(const LabelMap& map, const Volume& intensity, const std::string& what) {
    if (intensity.empty()) return invalid(what + ": no intensity volume given");
    if (intensity.pixelType() == PixelType::RGB8)
        return invalid(what + ": the intensity volume is RGB, not a scalar image (HU)");
    if (!intensity.geometry().sameGrid(map.geometry()))
        return invalid(what + ": the intensity volume grid (" + intensity.geometry().describe() +
                       ") differs from the label map grid (" + map.geometry().describe() + ")");
    return {};
}

// An index box [lo, hi) of the grid.
struct Box {
    std::array<int, 3> lo{0, 0, 0}, hi{0, 0, 0};
    int size(int a) const { return hi[a] - lo[a]; }
    std::size_t count() const {
        return static_cast<std::size_t>(size(0)) * static_cast<std::size_t>(size(1)) *
               static_cast<std::size_t>(size(2));
    }
    bool empty() const { return size(0) <= 0 || size(1) <= 0 || size(2) <= 0; }
    std::size_t local(int i, int j, int k) const {
        return static_cast<std::size_t>(i - lo[0]) +
               static_cast<std::size_t>(size(0)) *
                   (static_cast<std::size_t>(j - lo[1]) +
                    static_cast<std::size_t>(size(1)) * static_cast<std::size_t>(k - lo[2]));
    }
    Box padded(const std::array<int, 3>& pad, const std::array<int, 3>& gridSize) const {
        Box b;
        for (int a = 0; a < 3; ++a) {
            b.lo[a] = std::max(0, lo[a] - pad[a]);
            b.hi[a] = std::min(gridSize[a], hi[a] + pad[a]);
        }
        return b;
    }
};

Box fullBox(const ImageGeometry& g) {
    return Box{{0, 0, 0}, g.size};
}

template <typename F> auto withLabels(const LabelMap& map, F&& f) {
    if (map.labels().holds<std::uint8_t>()) return f(map.labels().data<std::uint8_t>());
    return f(map.labels().data<std::uint16_t>());
}

// Bounding box of a label's voxels; empty box when absent.
Box boundingBox(const LabelMap& map, std::uint16_t label) {
    const auto& g = map.geometry();
    Box b{{g.size[0], g.size[1], g.size[2]}, {0, 0, 0}};
    withLabels(map, [&](const auto* p) {
        std::size_t idx = 0;
        for (int k = 0; k < g.size[2]; ++k)
            for (int j = 0; j < g.size[1]; ++j)
                for (int i = 0; i < g.size[0]; ++i, ++idx)
                    if (p[idx] == label) {
                        b.lo = {std::min(b.lo[0], i), std::min(b.lo[1], j), std::min(b.lo[2], k)};
                        b.hi = {std::max(b.hi[0], i + 1), std::max(b.hi[1], j + 1), std::max(b.hi[2], k + 1)};
                    }
        return 0;
    });
    return b;
}

// 1 where the voxel holds `label`, over a box.
std::vector<std::uint8_t> extractMask(const LabelMap& map, std::uint16_t label, const Box& box) {
    std::vector<std::uint8_t> m(box.count(), 0);
    const auto& g = map.geometry();
    withLabels(map, [&](const auto* p) {
        std::size_t b = 0;
        for (int k = box.lo[2]; k < box.hi[2]; ++k)
            for (int j = box.lo[1]; j < box.hi[1]; ++j) {
                const std::size_t row = g.linearIndex(box.lo[0], j, k);
                for (int i = 0; i < box.size(0); ++i, ++b) m[b] = p[row + static_cast<std::size_t>(i)] == label ? 1 : 0;
            }
        return 0;
    });
    return m;
}

bool editable(std::uint16_t current, const EditableArea& area) {
    switch (area.policy) {
    case EditableArea::Policy::BackgroundOnly:
        return current == 0;
    case EditableArea::Policy::Everywhere:
        return true;
    case EditableArea::Policy::InsideStructure:
        return current == area.insideLabel || (current == 0 && area.alsoBackground);
    }
    return false;
}

// How a mask over a box is written into the target structure:
//   Replace: the target becomes the mask (added voxels within the editable area; target voxels outside the mask,
//            inside or outside the box, become background);
//   Add:     mask voxels become the target within the editable area;
//   Remove:  target voxels under the mask become background.
enum class Write { Replace, Add, Remove };

struct Written {
    LabelMap map;
    std::size_t targetVoxels = 0; // voxels of the target after the edit
    std::size_t changed = 0;
};

template <typename T>
Written writeMaskTyped(const LabelMap& map, const T* src, std::uint16_t label, const Box& box,
                       const std::vector<std::uint8_t>& mask, Write mode, const EditableArea& area) {
    const auto& g = map.geometry();
    const std::size_t n = g.voxelCount();
    std::vector<T> out(src, src + n);
    const T target = static_cast<T>(label);
    Written w;
    std::size_t b = 0;
    for (int k = box.lo[2]; k < box.hi[2]; ++k)
        for (int j = box.lo[1]; j < box.hi[1]; ++j) {
            T* row = out.data() + g.linearIndex(box.lo[0], j, k);
            for (int i = 0; i < box.size(0); ++i, ++b) {
                T& v = row[i];
                const bool m = mask[b] != 0;
                switch (mode) {
                case Write::Replace:
                    if (m) {
                        if (v != target && editable(v, area)) {
                            v = target;
                            ++w.changed;
                        }
                    } else if (v == target) {
                        v = 0;
                        ++w.changed;
                    }
                    break;
                case Write::Add:
                    if (m && v != target && editable(v, area)) {
                        v = target;
                        ++w.changed;
                    }
                    break;
                case Write::Remove:
                    if (m && v == target) {
                        v = 0;
                        ++w.changed;
                    }
                    break;
                }
            }
        }
    const bool whole = box.lo == std::array<int, 3>{0, 0, 0} && box.hi == g.size;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j) {
            T* row = out.data() + g.linearIndex(0, j, k);
            const bool rowInBox = k >= box.lo[2] && k < box.hi[2] && j >= box.lo[1] && j < box.hi[1];
            for (int i = 0; i < g.size[0]; ++i) {
                if (row[i] != target) continue;
                if (mode == Write::Replace && !whole && !(rowInBox && i >= box.lo[0] && i < box.hi[0])) {
                    row[i] = 0;
                    ++w.changed;
                    continue;
                }
                ++w.targetVoxels;
            }
        }
    w.map = LabelMap(Volume::create(g, std::move(out)), map.structures());
    return w;
}

Written writeMask(const LabelMap& map, std::uint16_t label, const Box& box, const std::vector<std::uint8_t>& mask,
                  Write mode, const EditableArea& area) {
    return withLabels(map, [&](const auto* p) { return writeMaskTyped(map, p, label, box, mask, mode, area); });
}

// ---------------------------------------------------------------- ITK plumbing

using MaskImage3 = itk::Image<std::uint8_t, 3>;

// Forwards ITK progress to a ProgressFn (mapped to [base, base+span]) and aborts the filter when asked to cancel.
class ProgressForwarder : public itk::Command {
public:
    using Self = ProgressForwarder;
    using Superclass = itk::Command;
    using Pointer = itk::SmartPointer<Self>;
    itkNewMacro(Self) const ProgressFn* fn = nullptr;
    double base = 0, span = 1;
    std::string message;
    bool cancelled = false;

    void Execute(itk::Object* caller, const itk::EventObject& event) override {
        Execute(static_cast<const itk::Object*>(caller), event);
        if (cancelled)
            if (auto* po = dynamic_cast<itk::ProcessObject*>(caller)) po->AbortGenerateDataOn();
    }
    void Execute(const itk::Object* caller, const itk::EventObject& event) override {
        if (!itk::ProgressEvent().CheckEvent(&event) || fn == nullptr || cancelled) return;
        const auto* po = dynamic_cast<const itk::ProcessObject*>(caller);
        const double f = po ? static_cast<double>(po->GetProgress()) : 0.0;
        if (!reportProgress(*fn, base + span * f, message)) cancelled = true;
    }
};

// Runs filter->Update() with progress/cancel; toolkit exceptions become errors naming `what`.
template <typename Filter>
Result<void> runFilter(Filter* filter, const ProgressFn& progress, double base, double span, const std::string& what) {
    auto fwd = ProgressForwarder::New();
    fwd->fn = &progress;
    fwd->base = base;
    fwd->span = span;
    fwd->message = what;
    if (progress) filter->AddObserver(itk::ProgressEvent(), fwd);
    try {
        filter->Update();
    } catch (const itk::ProcessAborted&) {
        return cancelled(what);
    } catch (const itk::ExceptionObject& e) {
        if (fwd->cancelled) return cancelled(what);
        return makeError(ErrorCode::Internal, what + ": ITK failed: " + e.GetDescription());
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::Internal, what + ": out of memory");
    }
    if (fwd->cancelled) return cancelled(what);
    return {};
}

template <unsigned D>
typename itk::Image<std::uint8_t, D>::Pointer makeMaskImage(const std::vector<std::uint8_t>& mask,
                                                            const std::array<int, D>& size,
                                                            const std::array<double, D>& spacing) {
    using Image = itk::Image<std::uint8_t, D>;
    auto image = Image::New();
    typename Image::RegionType region;
    typename Image::SpacingType sp;
    for (unsigned a = 0; a < D; ++a) {
        region.SetSize(a, static_cast<itk::SizeValueType>(size[a]));
        sp[a] = spacing[a];
    }
    image->SetRegions(region);
    image->SetSpacing(sp);
    image->Allocate();
    std::memcpy(image->GetBufferPointer(), mask.data(), mask.size());
    return image;
}

// Distance (mm, between voxel centres) from every voxel to the nearest voxel where mask != 0; 0 on the set,
// +infinity everywhere when the set is empty. Exact Euclidean (Maurer) with the spacing.
template <unsigned D>
Result<std::vector<float>> distanceToSet(const std::vector<std::uint8_t>& mask, const std::array<int, D>& size,
                                         const std::array<double, D>& spacing, const ProgressFn& progress, double base,
                                         double span, const std::string& what) {
    std::vector<float> out(mask.size());
    if (std::none_of(mask.begin(), mask.end(), [](std::uint8_t v) { return v != 0; })) {
        std::fill(out.begin(), out.end(), std::numeric_limits<float>::infinity());
        return out;
    }
    using Image = itk::Image<std::uint8_t, D>;
    using Dist = itk::Image<float, D>;
    auto image = makeMaskImage<D>(mask, size, spacing);
    using Filter = itk::SignedMaurerDistanceMapImageFilter<Image, Dist>;
    auto f = Filter::New();
    f->SetInput(image);
    f->SetUseImageSpacing(true);
    f->SetSquaredDistance(false);
    f->SetInsideIsPositive(false); // outside positive = distance to the nearest voxel of the set
    f->SetBackgroundValue(0);
    if (D == 2) f->SetNumberOfWorkUnits(1); // per-slice calls: threading costs more than it gains
    if (auto ok = runFilter(f.GetPointer(), progress, base, span, what); !ok) return ok.error();
    const float* d = f->GetOutput()->GetBufferPointer();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = mask[i] ? 0.0f : std::max(0.0f, d[i]);
    return out;
}

std::array<double, 3> spacingOf(const ImageGeometry& g) {
    return {g.spacing.x, g.spacing.y, g.spacing.z};
}

// Pad (voxels per axis) that covers radiusMm.
std::array<int, 3> padFor(const ImageGeometry& g, double radiusMm) {
    std::array<int, 3> p{};
    for (int a = 0; a < 3; ++a) p[a] = static_cast<int>(std::ceil(radiusMm / g.spacing[a])) + 1;
    return p;
}

constexpr double kDistanceTol = 1e-4; // mm: distances equal to the radius count as within it

// Dilated mask: voxels within r of the mask (distance between centres <= r).
Result<std::vector<std::uint8_t>> dilateMask(const std::vector<std::uint8_t>& mask, const Box& box,
                                             const ImageGeometry& g, double r, const ProgressFn& progress, double base,
                                             double span, const std::string& what) {
    auto d = distanceToSet<3>(mask, {box.size(0), box.size(1), box.size(2)}, spacingOf(g), progress, base, span, what);
    if (!d) return d.error();
    std::vector<std::uint8_t> out(mask.size());
    const float limit = static_cast<float>(r + kDistanceTol);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = (*d)[i] <= limit ? 1 : 0;
    return out;
}

// Eroded mask: voxels of the mask farther than r from every voxel of the box outside the mask. The box must hold a
// layer of non-mask voxels around the mask wherever it does not touch the image border (then voxels outside the box
// are never nearer than that layer).
Result<std::vector<std::uint8_t>> erodeMask(const std::vector<std::uint8_t>& mask, const Box& box,
                                            const ImageGeometry& g, double r, const ProgressFn& progress, double base,
                                            double span, const std::string& what) {
    std::vector<std::uint8_t> complement(mask.size());
    for (std::size_t i = 0; i < mask.size(); ++i) complement[i] = mask[i] ? 0 : 1;
    auto d =
        distanceToSet<3>(complement, {box.size(0), box.size(1), box.size(2)}, spacingOf(g), progress, base, span, what);
    if (!d) return d.error();
    std::vector<std::uint8_t> out(mask.size());
    const float limit = static_cast<float>(r + kDistanceTol);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = (mask[i] && (*d)[i] > limit) ? 1 : 0;
    return out;
}

template <typename F> auto withIntensity(const Volume& v, F&& f) {
    switch (v.pixelType()) {
    case PixelType::UInt8:
        return f(v.data<std::uint8_t>());
    case PixelType::Int16:
        return f(v.data<std::int16_t>());
    case PixelType::UInt16:
        return f(v.data<std::uint16_t>());
    case PixelType::Int32:
        return f(v.data<std::int32_t>());
    case PixelType::Float32:
        return f(v.data<float>());
    case PixelType::RGB8:
        break;
    }
    return f(static_cast<const float*>(nullptr)); // not reached: callers reject RGB first
}

Result<std::array<int, 3>> seedIndex(const ImageGeometry& g, const Vec3& lps, const std::string& what) {
    const Vec3 c = g.lpsToIndex(lps);
    const std::array<int, 3> idx{static_cast<int>(std::lround(c.x)), static_cast<int>(std::lround(c.y)),
                                 static_cast<int>(std::lround(c.z))};
    if (!std::isfinite(c.x) || !std::isfinite(c.y) || !std::isfinite(c.z) || !g.contains(idx[0], idx[1], idx[2]))
        return invalid(what + ": seed " + fmtPoint(lps) + " lies outside the image (" + g.describe() + ")");
    return idx;
}

Result<LabelMap> emptyResult(const LabelMap& map, std::uint16_t label, const std::string& what) {
    return invalid(what + ": the result for " + structureName(map, label) +
                   " would be empty (nothing editable matched); label map unchanged");
}

} // namespace

// ================================================================ structure table

Result<LabelMap> makeEmptyLabelMap(const ImageGeometry& geometry, PixelType type) {
    if (geometry.empty()) return invalid("empty label map: the grid has no voxels (" + geometry.describe() + ")");
    if (!geometry.isValid()) return invalid("empty label map: the grid is not valid (" + geometry.describe() + ")");
    if (type == PixelType::UInt8)
        return LabelMap(Volume::create(geometry, std::vector<std::uint8_t>(geometry.voxelCount(), 0)), {});
    if (type == PixelType::UInt16)
        return LabelMap(Volume::create(geometry, std::vector<std::uint16_t>(geometry.voxelCount(), 0)), {});
    return invalid(std::string("empty label map: labels are uint8 or uint16, not ") + toString(type));
}

Result<LabelMap> addStructure(const LabelMap& map, Structure structure) {
    const std::string what = "add structure '" + structure.name + "'";
    if (auto ok = checkMap(map, what); !ok) return ok.error();
    if (structure.name.empty() ||
        std::all_of(structure.name.begin(), structure.name.end(), [](unsigned char c) { return std::isspace(c); }))
        return invalid("add structure: the name is empty");
    if (map.findByName(structure.name)) return invalid(what + ": a structure of that name already exists");
    for (double c : structure.colour)
        if (!(c >= 0.0 && c <= 1.0)) return invalid(what + ": colour components must lie in [0, 1]");
    if (structure.label == 0) {
        for (std::uint32_t l = 1; l <= maxLabel(map); ++l) {
            const auto label = static_cast<std::uint16_t>(l);
            if (!map.findByLabel(label) && map.voxelCount(label) == 0) {
                structure.label = label;
                break;
            }
        }
        if (structure.label == 0)
            return invalid(what + ": every label value of the " + toString(map.labels().pixelType()) +
                           " label map is used");
    } else {
        if (structure.label > maxLabel(map))
            return invalid(what + ": label " + std::to_string(structure.label) + " does not fit the " +
                           toString(map.labels().pixelType()) + " label map");
        if (map.findByLabel(structure.label))
            return invalid(what + ": label " + std::to_string(structure.label) + " is already " +
                           structureName(map, structure.label));
    }
    auto table = map.structures();
    table.push_back(std::move(structure));
    return LabelMap(map.labels(), std::move(table));
}

namespace {
template <typename F>
Result<LabelMap> editEntry(const LabelMap& map, std::uint16_t label, const std::string& what, F&& f) {
    if (auto ok = checkStructure(map, label, what); !ok) return ok.error();
    auto table = map.structures();
    for (auto& s : table)
        if (s.label == label) {
            if (auto ok = f(s); !ok) return ok.error();
        }
    return LabelMap(map.labels(), std::move(table));
}
} // namespace

Result<LabelMap> renameStructure(const LabelMap& map, std::uint16_t label, const std::string& newName) {
    const std::string what = "rename " + structureName(map, label) + " to '" + newName + "'";
    if (newName.empty() || std::all_of(newName.begin(), newName.end(), [](unsigned char c) { return std::isspace(c); }))
        return invalid(what + ": the new name is empty");
    if (const Structure* other = map.findByName(newName); other && other->label != label)
        return invalid(what + ": another structure already has that name");
    return editEntry(map, label, what, [&](Structure& s) -> Result<void> {
        s.name = newName;
        return {};
    });
}

Result<LabelMap> recolourStructure(const LabelMap& map, std::uint16_t label, const std::array<double, 3>& rgb) {
    const std::string what = "recolour " + structureName(map, label);
    for (double c : rgb)
        if (!(c >= 0.0 && c <= 1.0)) return invalid(what + ": colour components must lie in [0, 1]");
    return editEntry(map, label, what, [&](Structure& s) -> Result<void> {
        s.colour = rgb;
        return {};
    });
}

Result<LabelMap> setStructureCategory(const LabelMap& map, std::uint16_t label, StructureCategory category) {
    return editEntry(map, label, "set the category of " + structureName(map, label), [&](Structure& s) -> Result<void> {
        s.category = category;
        return {};
    });
}

Result<LabelMap> deleteStructure(const LabelMap& map, std::uint16_t label) {
    const std::string what = "delete " + structureName(map, label);
    if (auto ok = checkStructure(map, label, what); !ok) return ok.error();
    auto table = map.structures();
    table.erase(std::remove_if(table.begin(), table.end(), [&](const Structure& s) { return s.label == label; }),
                table.end());
    const Box box = boundingBox(map, label);
    if (box.empty()) return LabelMap(map.labels(), std::move(table));
    const auto mask = extractMask(map, label, box);
    Written w = writeMask(map, label, box, mask, Write::Remove, EditableArea::everywhere());
    return LabelMap(w.map.labels(), std::move(table));
}

Result<ResolvedTarget> resolveTarget(const LabelMap& map, const Structure& wanted) {
    if (auto ok = checkMap(map, "target structure"); !ok) return ok.error();
    if (wanted.label != 0 && map.findByLabel(wanted.label)) return ResolvedTarget{map, wanted.label};
    if (!wanted.name.empty())
        if (const Structure* s = map.findByName(wanted.name)) {
            if (wanted.label != 0 && wanted.label != s->label)
                return invalid("target structure '" + wanted.name + "': the name belongs to label " +
                               std::to_string(s->label) + ", not " + std::to_string(wanted.label));
            return ResolvedTarget{map, s->label};
        }
    if (wanted.name.empty())
        return invalid("target structure: label " + std::to_string(wanted.label) +
                       " is not in the structure table and no name was given to create it");
    auto added = addStructure(map, wanted);
    if (!added) return added.error();
    std::uint16_t label = wanted.label;
    if (label == 0) label = added->findByName(wanted.name)->label;
    return ResolvedTarget{std::move(added).value(), label};
}

// ================================================================ threshold

HuRange presetRange(ThresholdPreset preset) {
    switch (preset) {
    case ThresholdPreset::Bone:
        return {200, 3071};
    case ThresholdPreset::SoftTissue:
        return {-29, 150};
    case ThresholdPreset::ContrastVessels:
        return {150, 600};
    case ThresholdPreset::Fat:
        return {-190, -30};
    case ThresholdPreset::Lung:
        return {-950, -400};
    case ThresholdPreset::Air:
        return {-1100, -950};
    }
    return {0, 0};
}

const char* toString(ThresholdPreset preset) {
    switch (preset) {
    case ThresholdPreset::Bone:
        return "bone";
    case ThresholdPreset::SoftTissue:
        return "soft tissue";
    case ThresholdPreset::ContrastVessels:
        return "contrast vessels";
    case ThresholdPreset::Fat:
        return "fat";
    case ThresholdPreset::Lung:
        return "lung";
    case ThresholdPreset::Air:
        return "air";
    }
    return "?";
}

std::optional<ThresholdPreset> thresholdPresetFromString(const std::string& name) {
    std::string n;
    for (unsigned char c : name)
        if (std::isalnum(c)) n += static_cast<char>(std::tolower(c));
    for (auto p : {ThresholdPreset::Bone, ThresholdPreset::SoftTissue, ThresholdPreset::ContrastVessels,
                   ThresholdPreset::Fat, ThresholdPreset::Lung, ThresholdPreset::Air}) {
        std::string s;
        for (const char* c = toString(p); *c; ++c)
            if (std::isalnum(static_cast<unsigned char>(*c))) s += *c;
        if (s == n) return p;
    }
    return std::nullopt;
}

Result<LabelMap> threshold(const LabelMap& map, const Volume& intensity, HuRange range, const Structure& target,
                           EditableArea area, const ProgressFn& progress) {
    const std::string what = "threshold [" + fmt(range.low) + ", " + fmt(range.high) + "] into '" + target.name + "'";
    if (auto ok = checkMap(map, what); !ok) return ok.error();
    if (auto ok = checkIntensity(map, intensity, what); !ok) return ok.error();
    if (!std::isfinite(range.low) || !std::isfinite(range.high) || range.low > range.high)
        return invalid(what + ": the range is empty or not finite (low must be <= high)");
    auto resolved = resolveTarget(map, target);
    if (!resolved) return resolved.error();
    if (!reportProgress(progress, 0.0, "threshold")) return cancelled(what);
    const auto& g = map.geometry();
    std::vector<std::uint8_t> mask(g.voxelCount());
    withIntensity(intensity, [&](const auto* p) {
        for (std::size_t i = 0; i < mask.size(); ++i) {
            const double v = static_cast<double>(p[i]);
            mask[i] = (v >= range.low && v <= range.high) ? 1 : 0;
        }
        return 0;
    });
    if (!reportProgress(progress, 0.5, "threshold")) return cancelled(what);
    Written w = writeMask(resolved->map, resolved->label, fullBox(g), mask, Write::Replace, area);
    if (w.targetVoxels == 0) return emptyResult(resolved->map, resolved->label, what);
    if (!reportProgress(progress, 1.0, "threshold")) return cancelled(what);
    return std::move(w.map);
}

// ================================================================ region growing

namespace {

template <typename T>
Result<std::vector<std::uint8_t>> growTyped(const Volume& intensity, const T* data,
                                            const std::vector<std::array<int, 3>>& seeds, const RegionGrowing& params,
                                            const ProgressFn& progress, const std::string& what) {
    using Image = itk::Image<T, 3>;
    using Out = itk::Image<std::uint8_t, 3>;
    const auto& g = intensity.geometry();
    // A view of the volume's buffer, not a copy (the buffer is immutable and outlives the filter).
    auto import = itk::ImportImageFilter<T, 3>::New();
    typename Image::RegionType region;
    typename Image::SpacingType sp;
    for (unsigned a = 0; a < 3; ++a) {
        region.SetSize(a, static_cast<itk::SizeValueType>(g.size[a]));
        sp[a] = g.spacing[static_cast<int>(a)];
    }
    import->SetRegion(region);
    import->SetSpacing(sp);
    import->SetImportPointer(const_cast<T*>(data), g.voxelCount(), false);
    std::vector<typename Image::IndexType> itkSeeds;
    for (const auto& s : seeds) {
        typename Image::IndexType idx;
        for (unsigned a = 0; a < 3; ++a) idx[a] = s[a];
        itkSeeds.push_back(idx);
    }
    typename Out::Pointer out;
    if (params.method == RegionGrowing::Method::ConnectedThreshold) {
        using Filter = itk::ConnectedThresholdImageFilter<Image, Out>;
        auto f = Filter::New();
        f->SetInput(import->GetOutput());
        // Thresholds in the pixel type: clamp the HU range into it so a wide range never wraps.
        const double lo =
            std::max(static_cast<double>(std::numeric_limits<T>::lowest()), std::ceil(params.range.low - 1e-9));
        const double hi =
            std::min(static_cast<double>(std::numeric_limits<T>::max()), std::floor(params.range.high + 1e-9));
        if constexpr (std::is_floating_point_v<T>) {
            f->SetLower(static_cast<T>(params.range.low));
            f->SetUpper(static_cast<T>(params.range.high));
        } else {
            if (lo > hi)
                return invalid(what + ": no " + std::string(toString(intensity.pixelType())) +
                               " value lies in the range");
            f->SetLower(static_cast<T>(lo));
            f->SetUpper(static_cast<T>(hi));
        }
        f->SetReplaceValue(1);
        f->SetConnectivity(params.fullyConnected ? Filter::FullConnectivity : Filter::FaceConnectivity);
        for (const auto& s : itkSeeds) f->AddSeed(s);
        if (auto ok = runFilter(f.GetPointer(), progress, 0.05, 0.8, what); !ok) return ok.error();
        out = f->GetOutput();
    } else {
        using Filter = itk::ConfidenceConnectedImageFilter<Image, Out>;
        auto f = Filter::New();
        f->SetInput(import->GetOutput());
        f->SetMultiplier(params.multiplier);
        f->SetNumberOfIterations(params.iterations);
        f->SetInitialNeighborhoodRadius(params.initialRadiusVoxels);
        f->SetReplaceValue(1);
        for (const auto& s : itkSeeds) f->AddSeed(s);
        if (auto ok = runFilter(f.GetPointer(), progress, 0.05, 0.8, what); !ok) return ok.error();
        out = f->GetOutput();
    }
    const std::uint8_t* p = out->GetBufferPointer();
    return std::vector<std::uint8_t>(p, p + g.voxelCount());
}

} // namespace

Result<LabelMap> growRegion(const LabelMap& map, const Volume& intensity, const std::vector<Vec3>& seedsLps,
                            const RegionGrowing& params, const Structure& target, EditableArea area,
                            const ProgressFn& progress) {
    const bool connected = params.method == RegionGrowing::Method::ConnectedThreshold;
    const std::string what =
        std::string(connected ? "region growing [" + fmt(params.range.low) + ", " + fmt(params.range.high) + "]"
                              : "confidence-connected region growing") +
        " into '" + target.name + "'";
    if (auto ok = checkMap(map, what); !ok) return ok.error();
    if (auto ok = checkIntensity(map, intensity, what); !ok) return ok.error();
    if (seedsLps.empty()) return invalid(what + ": no seed point given");
    if (connected &&
        (!std::isfinite(params.range.low) || !std::isfinite(params.range.high) || params.range.low > params.range.high))
        return invalid(what + ": the intensity range is empty or not finite (low must be <= high)");
    if (!connected && !(params.multiplier > 0 && std::isfinite(params.multiplier)))
        return invalid(what + ": the multiplier must be positive");
    const auto& g = map.geometry();
    std::vector<std::array<int, 3>> seeds;
    for (const Vec3& p : seedsLps) {
        auto idx = seedIndex(g, p, what);
        if (!idx) return idx.error();
        if (connected) {
            const double v = intensity.valueAt((*idx)[0], (*idx)[1], (*idx)[2]);
            if (v < params.range.low || v > params.range.high)
                return invalid(what + ": the seed at " + fmtPoint(p) + " has intensity " + fmt(v) +
                               ", outside the range; nothing would grow from it");
        }
        seeds.push_back(*idx);
    }
    auto resolved = resolveTarget(map, target);
    if (!resolved) return resolved.error();
    if (!reportProgress(progress, 0.0, "region growing")) return cancelled(what);
    auto grown =
        withIntensity(intensity, [&](const auto* p) { return growTyped(intensity, p, seeds, params, progress, what); });
    if (!grown) return grown.error();
    if (!reportProgress(progress, 0.9, "region growing")) return cancelled(what);
    Written w = writeMask(resolved->map, resolved->label, fullBox(g), *grown, Write::Replace, area);
    if (w.targetVoxels == 0) return emptyResult(resolved->map, resolved->label, what);
    return std::move(w.map);
}

// ================================================================ connected components

namespace {

// Component id (1..n, 0 = not the structure) of every voxel of the box.
Result<std::vector<std::uint32_t>> components(const std::vector<std::uint8_t>& mask, const Box& box,
                                              const ImageGeometry& g, bool fullyConnected, const ProgressFn& progress,
                                              const std::string& what) {
    using Out = itk::Image<std::uint32_t, 3>;
    auto image = makeMaskImage<3>(mask, {box.size(0), box.size(1), box.size(2)}, spacingOf(g));
    auto f = itk::ConnectedComponentImageFilter<MaskImage3, Out>::New();
    f->SetInput(image);
    f->SetFullyConnected(fullyConnected);
    f->SetBackgroundValue(0);
    if (auto ok = runFilter(f.GetPointer(), progress, 0.1, 0.7, what); !ok) return ok.error();
    const std::uint32_t* p = f->GetOutput()->GetBufferPointer();
    return std::vector<std::uint32_t>(p, p + box.count());
}

Result<LabelMap> keepComponents(const LabelMap& map, std::uint16_t label, const std::string& what, bool fullyConnected,
                                const ProgressFn& progress, const std::vector<Vec3>* seeds) {
    if (auto ok = checkStructure(map, label, what); !ok) return ok.error();
    const auto& g = map.geometry();
    std::vector<std::array<int, 3>> seedIdx;
    if (seeds) {
        if (seeds->empty()) return invalid(what + ": no seed point given");
        for (const Vec3& p : *seeds) {
            auto idx = seedIndex(g, p, what);
            if (!idx) return idx.error();
            if (map.labelAt((*idx)[0], (*idx)[1], (*idx)[2]) != label)
                return invalid(what + ": the seed at " + fmtPoint(p) + " is not on a voxel of " +
                               structureName(map, label));
            seedIdx.push_back(*idx);
        }
    }
    if (!reportProgress(progress, 0.0, what)) return cancelled(what);
    const Box box = boundingBox(map, label);
    if (box.empty()) return invalid(what + ": " + structureName(map, label) + " has no voxels");
    const auto mask = extractMask(map, label, box);
    auto ids = components(mask, box, g, fullyConnected, progress, what);
    if (!ids) return ids.error();
    std::uint32_t maxId = 0;
    for (std::uint32_t id : *ids) maxId = std::max(maxId, id);
    std::vector<std::uint8_t> keepId(static_cast<std::size_t>(maxId) + 1, 0);
    if (seeds) {
        for (const auto& s : seedIdx) keepId[(*ids)[box.local(s[0], s[1], s[2])]] = 1;
    } else {
        std::vector<std::size_t> sizes(keepId.size(), 0);
        for (std::uint32_t id : *ids) ++sizes[id];
        sizes[0] = 0;
        keepId[static_cast<std::size_t>(std::max_element(sizes.begin(), sizes.end()) - sizes.begin())] = 1;
    }
    std::vector<std::uint8_t> remove(mask.size());
    for (std::size_t i = 0; i < remove.size(); ++i) remove[i] = (mask[i] && !keepId[(*ids)[i]]) ? 1 : 0;
    if (!reportProgress(progress, 0.9, what)) return cancelled(what);
    return std::move(writeMask(map, label, box, remove, Write::Remove, EditableArea::everywhere()).map);
}

} // namespace

Result<LabelMap> keepLargestComponent(const LabelMap& map, std::uint16_t label, bool fullyConnected,
                                      const ProgressFn& progress) {
    return keepComponents(map, label, "keep the largest component of " + structureName(map, label), fullyConnected,
                          progress, nullptr);
}

Result<LabelMap> keepComponentsAt(const LabelMap& map, std::uint16_t label, const std::vector<Vec3>& seedsLps,
                                  bool fullyConnected, const ProgressFn& progress) {
    return keepComponents(map, label, "keep the selected components of " + structureName(map, label), fullyConnected,
                          progress, &seedsLps);
}

// ================================================================ morphology and margins

const char* toString(Morphology op) {
    switch (op) {
    case Morphology::Dilate:
        return "dilate";
    case Morphology::Erode:
        return "erode";
    case Morphology::Open:
        return "open";
    case Morphology::Close:
        return "close";
    }
    return "?";
}

namespace {

struct MorphResult {
    Box box;
    std::vector<std::uint8_t> mask;
};

// The structure `label` after the operation, over a box that holds the whole result.
Result<MorphResult> morphMask(const LabelMap& map, std::uint16_t label, Morphology op, double r,
                              const ProgressFn& progress, const std::string& what) {
    const auto& g = map.geometry();
    const Box bbox = boundingBox(map, label);
    if (bbox.empty()) return invalid(what + ": " + structureName(map, label) + " has no voxels");
    const bool grows = op == Morphology::Dilate || op == Morphology::Close;
    const Box box = bbox.padded(grows ? padFor(g, r) : std::array<int, 3>{1, 1, 1}, g.size);
    auto mask = extractMask(map, label, box);
    Result<std::vector<std::uint8_t>> out = mask;
    switch (op) {
    case Morphology::Dilate:
        out = dilateMask(mask, box, g, r, progress, 0.05, 0.85, what);
        break;
    case Morphology::Erode:
        out = erodeMask(mask, box, g, r, progress, 0.05, 0.85, what);
        break;
    case Morphology::Open:
        out = erodeMask(mask, box, g, r, progress, 0.05, 0.45, what);
        if (out) out = dilateMask(*out, box, g, r, progress, 0.5, 0.4, what);
        break;
    case Morphology::Close:
        out = dilateMask(mask, box, g, r, progress, 0.05, 0.45, what);
        if (out) out = erodeMask(*out, box, g, r, progress, 0.5, 0.4, what);
        break;
    }
    if (!out) return out.error();
    return MorphResult{box, std::move(out).value()};
}

Result<void> checkRadius(double r, const std::string& what) {
    if (!std::isfinite(r) || r <= 0)
        return invalid(what + ": the radius must be a positive number of mm, not " + fmt(r));
    return {};
}

} // namespace

Result<LabelMap> morphology(const LabelMap& map, std::uint16_t label, Morphology op, double radiusMm, EditableArea area,
                            const ProgressFn& progress) {
    const std::string what =
        std::string(toString(op)) + " " + structureName(map, label) + " by " + fmt(radiusMm) + " mm";
    if (auto ok = checkStructure(map, label, what); !ok) return ok.error();
    if (auto ok = checkRadius(radiusMm, what); !ok) return ok.error();
    if (!reportProgress(progress, 0.0, what)) return cancelled(what);
    auto m = morphMask(map, label, op, radiusMm, progress, what);
    if (!m) return m.error();
    if (!reportProgress(progress, 0.9, what)) return cancelled(what);
    Written w = writeMask(map, label, m->box, m->mask, Write::Replace, area);
    if (w.targetVoxels == 0) return invalid(what + ": nothing of the structure would remain; label map unchanged");
    return std::move(w.map);
}

Result<LabelMap> applyMargin(const LabelMap& map, std::uint16_t source, double marginMm, const Structure& target,
                             EditableArea area, const ProgressFn& progress) {
    const std::string what = std::string(marginMm >= 0 ? "grow " : "shrink ") + structureName(map, source) + " by " +
                             fmt(std::abs(marginMm)) + " mm";
    if (auto ok = checkStructure(map, source, what); !ok) return ok.error();
    if (!std::isfinite(marginMm) || marginMm == 0)
        return invalid(what + ": the margin must be a non-zero number of mm");
    auto resolved = resolveTarget(map, target);
    if (!resolved) return resolved.error();
    if (!reportProgress(progress, 0.0, what)) return cancelled(what);
    auto m = morphMask(map, source, marginMm > 0 ? Morphology::Dilate : Morphology::Erode, std::abs(marginMm), progress,
                       what);
    if (!m) return m.error();
    if (!reportProgress(progress, 0.9, what)) return cancelled(what);
    if (marginMm > 0 && resolved->label != source) {
        // A grown margin written into another structure ("tumour + 10 mm") is the shell around the source: the
        // source keeps every voxel, whatever the editable area allows elsewhere.
        for (int k = m->box.lo[2]; k < m->box.hi[2]; ++k)
            for (int j = m->box.lo[1]; j < m->box.hi[1]; ++j)
                for (int i = m->box.lo[0]; i < m->box.hi[0]; ++i)
                    if (map.labelAt(i, j, k) == source) m->mask[m->box.local(i, j, k)] = 0;
    }
    Written w = writeMask(resolved->map, resolved->label, m->box, m->mask, Write::Replace, area);
    if (w.targetVoxels == 0) return emptyResult(resolved->map, resolved->label, what);
    return std::move(w.map);
}

// ================================================================ hole filling

namespace {

// Per slice (normal = axis): background pixels not 4-connected to the slice border become foreground.
void fillHolesPerSlice(std::vector<std::uint8_t>& mask, const Box& box, int axis) {
    const int u = axis == 0 ? 1 : 0, v = axis == 2 ? 1 : 2;
    const int nu = box.size(u), nv = box.size(v), ns = box.size(axis);
    std::vector<std::uint8_t> outside;
    std::vector<int> stack;
    for (int s = 0; s < ns; ++s) {
        auto at = [&](int a, int b) -> std::uint8_t& {
            std::array<int, 3> l{};
            l[axis] = s;
            l[u] = a;
            l[v] = b;
            return mask[static_cast<std::size_t>(l[0]) +
                        static_cast<std::size_t>(box.size(0)) *
                            (static_cast<std::size_t>(l[1]) +
                             static_cast<std::size_t>(box.size(1)) * static_cast<std::size_t>(l[2]))];
        };
        outside.assign(static_cast<std::size_t>(nu) * static_cast<std::size_t>(nv), 0);
        auto push = [&](int a, int b) {
            const int id = a + nu * b;
            if (outside[static_cast<std::size_t>(id)] || at(a, b)) return;
            outside[static_cast<std::size_t>(id)] = 1;
            stack.push_back(id);
        };
        for (int a = 0; a < nu; ++a) {
            push(a, 0);
            push(a, nv - 1);
        }
        for (int b = 0; b < nv; ++b) {
            push(0, b);
            push(nu - 1, b);
        }
        while (!stack.empty()) {
            const int id = stack.back();
            stack.pop_back();
            const int a = id % nu, b = id / nu;
            if (a > 0) push(a - 1, b);
            if (a + 1 < nu) push(a + 1, b);
            if (b > 0) push(a, b - 1);
            if (b + 1 < nv) push(a, b + 1);
        }
        for (int b = 0; b < nv; ++b)
            for (int a = 0; a < nu; ++a)
                if (!outside[static_cast<std::size_t>(a + nu * b)]) at(a, b) = 1;
    }
}

} // namespace

Result<LabelMap> fillHoles(const LabelMap& map, std::uint16_t label, std::optional<int> perSliceAxis, EditableArea area,
                           const ProgressFn& progress) {
    const std::string what =
        "fill holes of " + structureName(map, label) +
        (perSliceAxis ? " per slice (axis " + std::to_string(*perSliceAxis) + ")" : std::string(" (3D)"));
    if (auto ok = checkStructure(map, label, what); !ok) return ok.error();
    if (perSliceAxis && (*perSliceAxis < 0 || *perSliceAxis > 2))
        return invalid(what + ": the slice axis must be 0, 1 or 2");
    const auto& g = map.geometry();
    const Box bbox = boundingBox(map, label);
    if (bbox.empty()) return invalid(what + ": " + structureName(map, label) + " has no voxels");
    // One layer of background around the structure (where the image allows): cavities are what it cannot reach.
    const Box box = bbox.padded({1, 1, 1}, g.size);
    auto mask = extractMask(map, label, box);
    if (!reportProgress(progress, 0.0, what)) return cancelled(what);
    if (perSliceAxis) {
        fillHolesPerSlice(mask, box, *perSliceAxis);
    } else {
        auto image = makeMaskImage<3>(mask, {box.size(0), box.size(1), box.size(2)}, spacingOf(g));
        auto f = itk::BinaryFillholeImageFilter<MaskImage3>::New();
        f->SetInput(image);
        f->SetForegroundValue(1);
        f->SetFullyConnected(false); // a cavity is background not face-connected to the outside
        if (auto ok = runFilter(f.GetPointer(), progress, 0.05, 0.85, what); !ok) return ok.error();
        const std::uint8_t* p = f->GetOutput()->GetBufferPointer();
        mask.assign(p, p + box.count());
    }
    if (!reportProgress(progress, 0.9, what)) return cancelled(what);
    return std::move(writeMask(map, label, box, mask, Write::Add, area).map);
}

// ================================================================ brush

Result<LabelMap> paintStroke(const LabelMap& map, const std::vector<Vec3>& pointsLps, const Brush& brush,
                             const Structure& target, EditableArea area) {
    const std::string what = std::string(brush.erase ? "erase" : "paint") + " '" + target.name + "' with a " +
                             (brush.shape == Brush::Shape::Sphere ? "sphere" : "disc") + " of radius " +
                             fmt(brush.radiusMm) + " mm";
    if (auto ok = checkMap(map, what); !ok) return ok.error();
    if (pointsLps.empty()) return invalid(what + ": the stroke has no point");
    if (auto ok = checkRadius(brush.radiusMm, what); !ok) return ok.error();
    if (brush.shape == Brush::Shape::Disc && (brush.sliceAxis < 0 || brush.sliceAxis > 2))
        return invalid(what + ": the slice axis must be 0, 1 or 2");
    for (const Vec3& p : pointsLps)
        if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(p.z))
            return invalid(what + ": a stroke point is not finite");
    const auto& g = map.geometry();
    LabelMap base = map;
    std::uint16_t label = 0;
    if (brush.erase) {
        // Erasing never creates a structure.
        if (target.label != 0 && map.findByLabel(target.label))
            label = target.label;
        else if (const Structure* s = map.findByName(target.name))
            label = s->label;
        else
            return invalid(what + ": no such structure to erase from");
    } else {
        auto resolved = resolveTarget(map, target);
        if (!resolved) return resolved.error();
        base = std::move(resolved->map);
        label = resolved->label;
    }
    // Work in "scaled index" coordinates (index * spacing): distances there are patient mm (orthonormal directions).
    const std::array<double, 3> sp = spacingOf(g);
    std::vector<std::array<double, 3>> pts;
    for (const Vec3& p : pointsLps) {
        const Vec3 c = g.lpsToIndex(p);
        pts.push_back({c.x * sp[0], c.y * sp[1], c.z * sp[2]});
    }
    const double r = brush.radiusMm;
    Box box{{0, 0, 0}, {0, 0, 0}};
    std::array<double, 3> lo{}, hi{};
    for (int a = 0; a < 3; ++a) {
        lo[a] = std::numeric_limits<double>::max();
        hi[a] = std::numeric_limits<double>::lowest();
        for (const auto& q : pts) {
            lo[a] = std::min(lo[a], q[a] - r);
            hi[a] = std::max(hi[a], q[a] + r);
        }
    }
    if (brush.shape == Brush::Shape::Disc) {
        const int a = brush.sliceAxis;
        const long slice = std::lround(pts.front()[a] / sp[a]);
        if (slice < 0 || slice >= g.size[a])
            return invalid(what + ": the slice of " + fmtPoint(pointsLps.front()) + " lies outside the image");
        for (auto& q : pts) q[a] = static_cast<double>(slice) * sp[a];
        lo[a] = hi[a] = static_cast<double>(slice) * sp[a];
    }
    for (int a = 0; a < 3; ++a) {
        box.lo[a] = static_cast<int>(std::clamp(std::ceil(lo[a] / sp[a] - 1e-9), 0.0, static_cast<double>(g.size[a])));
        box.hi[a] =
            static_cast<int>(std::clamp(std::floor(hi[a] / sp[a] + 1e-9) + 1, 0.0, static_cast<double>(g.size[a])));
    }
    if (box.empty()) return invalid(what + ": the stroke does not reach the image");
    std::vector<std::uint8_t> mask(box.count(), 0);
    const double r2 = (r + kDistanceTol) * (r + kDistanceTol);
    auto dist2ToStroke = [&](const std::array<double, 3>& v) {
        double best = std::numeric_limits<double>::max();
        for (std::size_t s = 0; s < pts.size(); ++s) {
            const auto& a = pts[s];
            const auto& b = s + 1 < pts.size() ? pts[s + 1] : pts[s];
            std::array<double, 3> ab{b[0] - a[0], b[1] - a[1], b[2] - a[2]}, av{v[0] - a[0], v[1] - a[1], v[2] - a[2]};
            const double len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
            double t = len2 > 0 ? (av[0] * ab[0] + av[1] * ab[1] + av[2] * ab[2]) / len2 : 0.0;
            t = std::clamp(t, 0.0, 1.0);
            double d2 = 0;
            for (int c = 0; c < 3; ++c) {
                const double e = av[c] - t * ab[c];
                d2 += e * e;
            }
            best = std::min(best, d2);
        }
        return best;
    };
    std::size_t reached = 0;
    std::size_t b = 0;
    for (int k = box.lo[2]; k < box.hi[2]; ++k)
        for (int j = box.lo[1]; j < box.hi[1]; ++j)
            for (int i = box.lo[0]; i < box.hi[0]; ++i, ++b)
                if (dist2ToStroke({i * sp[0], j * sp[1], k * sp[2]}) <= r2) {
                    mask[b] = 1;
                    ++reached;
                }
    if (reached == 0) return invalid(what + ": the stroke reaches no voxel centre of the image");
    return std::move(writeMask(base, label, box, mask, brush.erase ? Write::Remove : Write::Add, area).map);
}

// ================================================================ fill between slices

Result<LabelMap> fillBetweenSlices(const LabelMap& map, std::uint16_t label, int axis, EditableArea area,
                                   const ProgressFn& progress) {
    const std::string what =
        "fill between slices of " + structureName(map, label) + " (axis " + std::to_string(axis) + ")";
    if (auto ok = checkStructure(map, label, what); !ok) return ok.error();
    if (axis < 0 || axis > 2) return invalid(what + ": the slice axis must be 0, 1 or 2");
    const auto& g = map.geometry();
    const Box bbox = boundingBox(map, label);
    if (bbox.empty()) return invalid(what + ": " + structureName(map, label) + " has no voxels");
    std::array<int, 3> pad{1, 1, 1};
    pad[axis] = 0;
    const Box box = bbox.padded(pad, g.size);
    auto mask = extractMask(map, label, box);
    const int u = axis == 0 ? 1 : 0, v = axis == 2 ? 1 : 2;
    const int nu = box.size(u), nv = box.size(v), ns = box.size(axis);
    const std::size_t plane = static_cast<std::size_t>(nu) * static_cast<std::size_t>(nv);
    auto local = [&](int s, int a, int b) {
        std::array<int, 3> l{};
        l[axis] = s;
        l[u] = a;
        l[v] = b;
        return static_cast<std::size_t>(l[0]) +
               static_cast<std::size_t>(box.size(0)) *
                   (static_cast<std::size_t>(l[1]) +
                    static_cast<std::size_t>(box.size(1)) * static_cast<std::size_t>(l[2]));
    };
    auto sliceMask = [&](int s) {
        std::vector<std::uint8_t> m(plane);
        for (int b = 0; b < nv; ++b)
            for (int a = 0; a < nu; ++a) m[static_cast<std::size_t>(a + nu * b)] = mask[local(s, a, b)];
        return m;
    };
    std::vector<int> drawn;
    for (int s = 0; s < ns; ++s) {
        const auto m = sliceMask(s);
        if (std::any_of(m.begin(), m.end(), [](std::uint8_t x) { return x != 0; })) drawn.push_back(s);
    }
    if (drawn.size() < 2)
        return invalid(what + ": the structure is drawn on " + std::to_string(drawn.size()) +
                       " slice(s); at least two are needed to interpolate between");
    std::size_t gaps = 0;
    for (std::size_t d = 0; d + 1 < drawn.size(); ++d)
        if (drawn[d + 1] - drawn[d] > 1) ++gaps;
    if (gaps == 0) return invalid(what + ": the drawn slices are contiguous, there is no gap to fill");
    const std::array<int, 2> size2{nu, nv};
    const std::array<double, 2> sp2{g.spacing[u], g.spacing[v]};
    // Signed distance (mm) of a drawn slice: negative inside (distance to the nearest outside pixel), positive
    // outside (distance to the nearest inside pixel); its zero level lies midway between inside and outside centres.
    auto signedDistance = [&](int s) -> Result<std::vector<float>> {
        const auto m = sliceMask(s);
        std::vector<std::uint8_t> c(plane);
        for (std::size_t i = 0; i < plane; ++i) c[i] = m[i] ? 0 : 1;
        auto dOut = distanceToSet<2>(m, size2, sp2, {}, 0, 0, what);
        if (!dOut) return dOut.error();
        auto dIn = distanceToSet<2>(c, size2, sp2, {}, 0, 0, what);
        if (!dIn) return dIn.error();
        std::vector<float> phi(plane);
        for (std::size_t i = 0; i < plane; ++i) phi[i] = m[i] ? -(*dIn)[i] : (*dOut)[i];
        return phi;
    };
    std::vector<std::uint8_t> add(mask.size(), 0);
    std::size_t done = 0;
    for (std::size_t d = 0; d + 1 < drawn.size(); ++d) {
        const int s0 = drawn[d], s1 = drawn[d + 1];
        if (s1 - s0 <= 1) continue;
        auto phi0 = signedDistance(s0);
        if (!phi0) return phi0.error();
        auto phi1 = signedDistance(s1);
        if (!phi1) return phi1.error();
        for (int s = s0 + 1; s < s1; ++s) {
            const double t = static_cast<double>(s - s0) / static_cast<double>(s1 - s0);
            for (int b = 0; b < nv; ++b)
                for (int a = 0; a < nu; ++a) {
                    const std::size_t i = static_cast<std::size_t>(a + nu * b);
                    const double phi = (1 - t) * (*phi0)[i] + t * (*phi1)[i];
                    if (phi < 0) add[local(s, a, b)] = 1;
                }
        }
        if (!reportProgress(progress, 0.9 * static_cast<double>(++done) / static_cast<double>(gaps), what))
            return cancelled(what);
    }
    return std::move(writeMask(map, label, box, add, Write::Add, area).map);
}

// ================================================================ logical operations

const char* toString(LogicalOp op) {
    switch (op) {
    case LogicalOp::Union:
        return "union";
    case LogicalOp::Intersection:
        return "intersection";
    case LogicalOp::Subtraction:
        return "subtraction";
    case LogicalOp::Xor:
        return "xor";
    }
    return "?";
}

Result<LabelMap> logicalOperation(const LabelMap& map, std::uint16_t a, LogicalOp op, LogicalOperand b,
                                  std::optional<Structure> target, EditableArea area, const ProgressFn& progress) {
    const LabelMap& other = b.source ? *b.source : map;
    const std::string what = std::string(toString(op)) + " of " + structureName(map, a) + " with " +
                             structureName(other, b.label) + (b.source ? " of another label map" : "");
    if (auto ok = checkStructure(map, a, what); !ok) return ok.error();
    if (auto ok = checkStructure(other, b.label, what); !ok) return ok.error();
    if (!other.geometry().sameGrid(map.geometry()))
        return invalid(what + ": the other label map's grid (" + other.geometry().describe() + ") differs from (" +
                       map.geometry().describe() + ")");
    ResolvedTarget resolved{map, a};
    if (target) {
        auto r = resolveTarget(map, *target);
        if (!r) return r.error();
        resolved = std::move(r).value();
    }
    if (!reportProgress(progress, 0.0, what)) return cancelled(what);
    const auto& g = map.geometry();
    const auto inA = extractMask(map, a, fullBox(g));
    const auto inB = extractMask(other, b.label, fullBox(g));
    std::vector<std::uint8_t> result(inA.size());
    for (std::size_t i = 0; i < result.size(); ++i) {
        const bool x = inA[i] != 0, y = inB[i] != 0;
        bool r = false;
        switch (op) {
        case LogicalOp::Union:
            r = x || y;
            break;
        case LogicalOp::Intersection:
            r = x && y;
            break;
        case LogicalOp::Subtraction:
            r = x && !y;
            break;
        case LogicalOp::Xor:
            r = x != y;
            break;
        }
        result[i] = r ? 1 : 0;
    }
    if (!reportProgress(progress, 0.5, what)) return cancelled(what);
    Written w = writeMask(resolved.map, resolved.label, fullBox(g), result, Write::Replace, area);
    if (w.targetVoxels == 0) return emptyResult(resolved.map, resolved.label, what);
    return std::move(w.map);
}

} // namespace jumeau::imaging
