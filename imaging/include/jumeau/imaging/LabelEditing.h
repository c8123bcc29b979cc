#pragma once
// Label-map editing: threshold, region growing, connected components, morphology and margins in mm, hole filling,
// brush, fill between slices, logical operations and structure-table edits.
//
// Every edit is a pure function: it takes the current LabelMap (and the intensity Volume on the same grid where it
// needs one) and returns a new LabelMap; the input is never changed, so a failed or cancelled edit leaves the label
// map as it was. Undo/redo lives above (simulation::EditHistory), which stores only what an edit changed.
//
// Each edit writes one target structure. A label map holds one label per voxel, so when a structure grows onto voxels
// of another structure the EditableArea decides (as Slicer's "editable area" / "modify other segments" do):
//   - BackgroundOnly (the default): only background voxels (and the target's own) may become the target;
//   - Everywhere: any voxel may, other structures lose those voxels;
//   - InsideStructure: only voxels of `insideLabel` (and background when `alsoBackground`) may.
// Removing voxels from the target (erode, erase, keep-largest, shrink) always sets them to background (0) and never
// touches other structures.
//
// Distances are in mm in the patient frame and respect anisotropic spacing: dilate/erode/open/close and margins use
// exact Euclidean distance maps between voxel centres (ITK's SignedMaurerDistanceMapImageFilter with image spacing),
// so a 3 mm dilation on 0.7 x 0.7 x 5 mm voxels grows 4 voxels in-plane and none across slices. Because distances run
// between voxel centres, the surface the voxels stand for moves by the radius to within half a voxel (a dilation lands
// slightly inside the ideal offset surface, an erosion slightly outside; LabelEditingTest measures both).
// Work is cropped to the structure's bounding box (plus the radius), so small structures edit quickly on big grids.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging {

struct EditableArea {
    enum class Policy { BackgroundOnly, Everywhere, InsideStructure };
    Policy policy = Policy::BackgroundOnly;
    std::uint16_t insideLabel = 0; // InsideStructure: the structure whose voxels may be taken
    bool alsoBackground = false;   // InsideStructure: background voxels may be taken too

    static EditableArea backgroundOnly() { return {}; }
    static EditableArea everywhere() { return {Policy::Everywhere, 0, false}; }
    static EditableArea inside(std::uint16_t label, bool background = false) {
        return {Policy::InsideStructure, label, background};
    }
};

// An empty label map (all background, no structures) on a grid; UInt8 or UInt16 voxels.
Result<LabelMap> makeEmptyLabelMap(const ImageGeometry& geometry, PixelType type = PixelType::UInt8);

// ---- structure table (each returns a new map; errors name the structure) ----
// Adds a structure. label 0 picks the lowest free label; names must be unique (case-insensitive) and non-empty.
Result<LabelMap> addStructure(const LabelMap& map, Structure structure);
Result<LabelMap> renameStructure(const LabelMap& map, std::uint16_t label, const std::string& newName);
Result<LabelMap> recolourStructure(const LabelMap& map, std::uint16_t label, const std::array<double, 3>& rgb);
Result<LabelMap> setStructureCategory(const LabelMap& map, std::uint16_t label, StructureCategory category);
// Removes the structure from the table and sets its voxels to background.
Result<LabelMap> deleteStructure(const LabelMap& map, std::uint16_t label);
// The label an edit writes: `wanted.label` when that structure exists; otherwise an existing structure of the same
// name; otherwise `wanted` is added to the table (label 0: the lowest free label). Returns the map (with the new
// structure if one was added) and the label.
struct ResolvedTarget {
    LabelMap map;
    std::uint16_t label = 0;
};
Result<ResolvedTarget> resolveTarget(const LabelMap& map, const Structure& wanted);

// ---- threshold ----
// Hounsfield ranges for CT (inclusive). Written down here because surgeons ask where a mask came from:
//   Bone            [  200, 3071]  trabecular and cortical bone (also dense contrast; vessels overlap 200..600)
//   SoftTissue      [  -29,  150]  muscle, parenchyma (unenhanced and portal-venous), fluid; fat excluded
//   ContrastVessels [  150,  600]  iodine-enhanced arteries and veins (arterial / portal-venous phase)
//   Fat             [ -190,  -30]  adipose tissue (the usual body-composition range)
//   Lung            [ -950, -400]  aerated lung parenchyma (below -950 is emphysema / air)
//   Air             [-1100, -950]  air in airways, bowel and around the patient (not scanner padding < -1100)
enum class ThresholdPreset { Bone, SoftTissue, ContrastVessels, Fat, Lung, Air };
struct HuRange {
    double low = 0, high = 0;
};
HuRange presetRange(ThresholdPreset preset);
const char* toString(ThresholdPreset preset);
std::optional<ThresholdPreset> thresholdPresetFromString(const std::string& name); // case-insensitive

// The target becomes the voxels with low <= intensity <= high (within the editable area; target voxels outside the
// range become background). Error when the grids differ, the intensity is not scalar, low > high, or no voxel lies in
// the range.
Result<LabelMap> threshold(const LabelMap& map, const Volume& intensity, HuRange range, const Structure& target,
                           EditableArea area = {}, const ProgressFn& progress = {});

// ---- region growing from seed points (LPS mm) ----
struct RegionGrowing {
    enum class Method { ConnectedThreshold, ConfidenceConnected };
    Method method = Method::ConnectedThreshold;
    HuRange range{-1024, 3071};       // ConnectedThreshold: the intensities that belong
    double multiplier = 2.5;          // ConfidenceConnected: mean +/- multiplier * sigma
    unsigned iterations = 3;          // ConfidenceConnected: re-estimations of mean and sigma
    unsigned initialRadiusVoxels = 2; // ConfidenceConnected: neighbourhood of each seed for the first estimate
    bool fullyConnected = false;      // false: 6-connected (a one-voxel diagonal gap stops the growth)
};
// Grows from the seeds over the intensity volume; the target becomes the grown region (within the editable area).
// The growth itself follows intensities only; voxels it reaches that are not editable are simply not written.
// Errors: no seeds, a seed outside the image, a seed whose intensity is outside the range (ConnectedThreshold),
// grids differ, empty result.
Result<LabelMap> growRegion(const LabelMap& map, const Volume& intensity, const std::vector<Vec3>& seedsLps,
                            const RegionGrowing& params, const Structure& target, EditableArea area = {},
                            const ProgressFn& progress = {});

// ---- connected components (of one structure; removed voxels become background) ----
Result<LabelMap> keepLargestComponent(const LabelMap& map, std::uint16_t label, bool fullyConnected = false,
                                      const ProgressFn& progress = {});
// Keeps the components that contain at least one seed (LPS mm); error when a seed lies outside the image or on no
// voxel of the structure.
Result<LabelMap> keepComponentsAt(const LabelMap& map, std::uint16_t label, const std::vector<Vec3>& seedsLps,
                                  bool fullyConnected = false, const ProgressFn& progress = {});

// ---- morphology by a radius in mm (exact Euclidean distance between voxel centres) ----
// dilate: adds every voxel within radiusMm of the structure (within the editable area).
// erode: keeps the voxels farther than radiusMm from any voxel outside the structure (the image border is not
// background: a structure touching the border is not eroded from it).
// open = erode then dilate (removes parts thinner than 2 r); close = dilate then erode (fills gaps narrower than 2 r).
// Errors: radius <= 0 or not finite, unknown structure, empty structure, erosion that leaves nothing.
enum class Morphology { Dilate, Erode, Open, Close };
const char* toString(Morphology op);
Result<LabelMap> morphology(const LabelMap& map, std::uint16_t label, Morphology op, double radiusMm,
                            EditableArea area = {}, const ProgressFn& progress = {});

// Margin: the structure `source` grown (marginMm > 0) or shrunk (marginMm < 0) by |marginMm|, written into `target`
// (which may be the source itself, or e.g. a new "tumour + 10 mm" structure). A grown margin written into another
// structure is the shell around the source: the source keeps all its voxels. A shrunk one written elsewhere takes
// the source's voxels as the EditableArea allows.
Result<LabelMap> applyMargin(const LabelMap& map, std::uint16_t source, double marginMm, const Structure& target,
                             EditableArea area = {}, const ProgressFn& progress = {});

// ---- hole filling ----
// Fills background regions of the structure that do not reach the image border (3D cavities), or, with perSliceAxis
// set (0 = i, 1 = j, 2 = k index axis), holes of each slice perpendicular to that axis. Filled voxels that belong to
// other structures are taken only if the editable area allows.
Result<LabelMap> fillHoles(const LabelMap& map, std::uint16_t label, std::optional<int> perSliceAxis = std::nullopt,
                           EditableArea area = {}, const ProgressFn& progress = {});

// ---- brush ----
struct Brush {
    enum class Shape { Sphere, Disc };
    Shape shape = Shape::Sphere;
    double radiusMm = 5;
    int sliceAxis = 2;  // Disc: the index axis normal to the slice plane (0 = i, 1 = j, 2 = k)
    bool erase = false; // erase removes the target's voxels (sets them to background)
};
// A stroke: the brush swept along the polyline through the points (LPS mm), so a fast mouse leaves no gaps. A disc
// stroke paints in the slice of the first point (the slice the user sees); the other points are projected onto it.
// Points may lie outside the image (the brush is clipped) but at least one voxel must be reached.
Result<LabelMap> paintStroke(const LabelMap& map, const std::vector<Vec3>& pointsLps, const Brush& brush,
                             const Structure& target, EditableArea area = {});

// ---- fill between slices ----
// The structure drawn on some slices perpendicular to `axis` is interpolated onto the empty slices between
// consecutive drawn slices, by linear interpolation of the in-plane signed distance (mm) to each drawn contour (a
// shape-based interpolation). Drawn slices are kept exactly; nothing is added before the first or after the last
// drawn slice. Error when fewer than two slices are drawn or there is no gap to fill.
Result<LabelMap> fillBetweenSlices(const LabelMap& map, std::uint16_t label, int axis = 2, EditableArea area = {},
                                   const ProgressFn& progress = {});

// ---- logical operations ----
// A op B, written into `target` (A itself by default). B may come from another label map on the same grid (an
// imported mask, another segmentation) or from `map` itself; within one label map structures do not overlap, so
// there A∩B is empty, A−B is A and A xor B is A∪B. Union into A takes B's voxels (A absorbs B) when the editable area
// allows. Errors: unknown structures, different grids, empty result.
enum class LogicalOp { Union, Intersection, Subtraction, Xor };
const char* toString(LogicalOp op);
struct LogicalOperand {
    const LabelMap* source = nullptr; // nullptr: the edited map
    std::uint16_t label = 0;
};
Result<LabelMap> logicalOperation(const LabelMap& map, std::uint16_t a, LogicalOp op, LogicalOperand b,
                                  std::optional<Structure> target = std::nullopt,
                                  EditableArea area = EditableArea::everywhere(), const ProgressFn& progress = {});

} // namespace jumeau::imaging
