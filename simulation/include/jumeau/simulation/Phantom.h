#pragma once
// The synthetic abdominal phantom: an analytic anatomy model in the reference (CT) LPS frame, in millimetres,
// and rasterisers that turn it into a CT volume with its ground-truth label map, an MR-like volume and an
// ultrasound-like sweep. Later stages (registration, meshing, resection) query the same model for exact answers.
//
// Transform convention (used for every moved series): T maps a point of the reference (CT) LPS frame to the LPS
// frame of that series, i.e. the anatomy at CT point x appears at T·x in the series' image; the series voxel at
// LPS point p therefore shows the anatomy at T⁻¹·p. (ITK's fixed→moving convention with fixed = CT.)
//
// Label precedence where shapes overlap: tumours > vessels (the IVC, which is not labelled, counts as a vessel
// here and stays "body") > liver > spine > body. Ribs, kidneys, spleen, lungs and the IVC are anatomy for
// realism, not structures of the table: they carry the body label.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"
#include "jumeau/imaging/ImageGeometry.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::simulation {

using geometry::Transform;
using geometry::Vec3;
using imaging::ImageGeometry;

// Label values of the phantom's structure table.
struct PhantomLabels {
    static constexpr std::uint16_t background = 0;
    static constexpr std::uint16_t body = 1;
    static constexpr std::uint16_t liver = 2;
    static constexpr std::uint16_t firstTumour = 3; // tumour n (0-based) has label 3 + n
    static constexpr std::uint16_t portalVein = 6;
    static constexpr std::uint16_t hepaticVeins = 7;
    static constexpr std::uint16_t aorta = 8;
    static constexpr std::uint16_t spine = 9;
    static constexpr std::uint16_t count = 10; // one past the largest label value
};

// What a point of the phantom is made of. Intensities of every modality derive from it.
enum class Tissue : std::uint8_t {
    Air,
    Table, // CT couch below the patient
    Lung,
    Fat,
    Muscle,
    Viscera, // bowel and mesentery, a smooth mixture of soft tissue and fat (see TissueSample::fatFraction)
    Liver,
    Tumour,
    PortalVein,
    HepaticVein,
    Ivc,
    Aorta,
    Kidney,
    Spleen,
    CorticalBone,   // vertebral shell and posterior elements
    CancellousBone, // vertebral bodies
    Rib,
    Disc,
    SpinalCanal,
    Count
};

const char* toString(Tissue t);

struct TissueSample {
    Tissue tissue = Tissue::Air;
    std::uint8_t tumour = 0; // index into AbdominalPhantom::tumours() when tissue == Tumour
    float fatFraction = 0;   // Viscera only: 0 = bowel wall/soft tissue, 1 = mesenteric fat
};

struct PhantomTumour {
    std::uint16_t label = 0;
    std::string name;
    Vec3 centre;
    double radiusMm = 0;
    bool hyperechoic = false; // in ultrasound; every tumour also has a hypoechoic halo
};

// A capsule: the points within radiusMm of segment a-b. Trees are chains of capsules, so joints are round.
struct VesselSegment {
    Vec3 a, b;
    double radiusMm = 0;
};

struct VesselTree {
    std::uint16_t label = 0;
    std::string name;
    std::vector<VesselSegment> segments;
};

// Axis-aligned box in LPS mm (used for fields of view and culling).
struct Box {
    Vec3 lo, hi;
    bool contains(const Vec3& p) const {
        return p.x >= lo.x && p.x <= hi.x && p.y >= lo.y && p.y <= hi.y && p.z >= lo.z && p.z <= hi.z;
    }
};

// The region covered by the voxels of an axis-aligned grid (voxel centre ± half a spacing). Asserts when the
// grid is not axis aligned (the CT grid of the phantom is).
Box fieldOfView(const ImageGeometry& axisAlignedGrid);

class AbdominalPhantom {
public:
    // The seed jitters tumour centres (±3 mm) and radii (±1 mm); everything else is fixed anatomy.
    static AbdominalPhantom create(std::uint64_t seed);

    std::uint64_t seed() const { return m_seed; }

    TissueSample sample(const Vec3& lps) const;
    Tissue tissueAt(const Vec3& lps) const { return sample(lps).tissue; }
    std::uint16_t labelAt(const Vec3& lps) const { return labelOf(sample(lps)); }
    static std::uint16_t labelOf(const TissueSample& s);

    // Noise-free intensities. CT: Hounsfield units, portal-venous phase. MR: T1 post-contrast-like arbitrary
    // units (fat bright, tumours dark, bone cortex dark, air 0). (Ultrasound depends on the beam: rasteriseUs.)
    static float ctHu(const TissueSample& s);
    static float mrT1(const TissueSample& s);
    float ctHuAt(const Vec3& lps) const { return ctHu(sample(lps)); }
    float mrT1At(const Vec3& lps) const { return mrT1(sample(lps)); }

    const std::vector<PhantomTumour>& tumours() const { return m_tumours; }
    const VesselTree& portalVein() const { return m_portalVein; }
    const VesselTree& hepaticVeins() const { return m_hepaticVeins; }
    // Aorta: a straight tube along z (the whole field of view).
    Vec3 aortaAxisPoint() const { return m_aortaCentre; }
    double aortaRadiusMm() const { return m_aortaRadius; }
    // Approximate signed distance to the liver surface (negative inside); exact on the surface.
    double liverSignedDistance(const Vec3& lps) const;
    // A liver point far from the liver surface, vessels and tumours (the "liver centre" for checks).
    Vec3 liverParenchymaPoint() const { return m_liverParenchyma; }
    // A point inside a vertebral body (cancellous bone).
    Vec3 vertebralBodyPoint() const;
    // The skin on the anterior body surface at x, z (where an ultrasound probe sits).
    static Vec3 anteriorSkinPoint(double xMm, double zMm);

    // Structure table: label, name, colour, category (the label map's table).
    std::vector<imaging::Structure> structures() const;
    // Closed-form volume (ml) of the region carrying `label` inside `fov`, when one exists: tumours (spheres
    // inside the liver, top precedence) and the aorta (a cylinder crossing the field of view that nothing of
    // higher precedence touches). nullopt for the others.
    std::optional<double> analyticVolumeMl(std::uint16_t label, const Box& fov) const;

    // Ribs (unlabelled bone): chains of capsules along the body wall.
    const std::vector<VesselSegment>& ribSegments() const { return m_ribs; }

    // sample() without the viscera texture (fatFraction stays 0): enough to classify a point.
    TissueSample classify(const Vec3& lps) const { return sampleImpl(lps, false); }

private:
    TissueSample sampleImpl(const Vec3& lps, bool texture) const;
    void buildCapsuleGrid();

    std::uint64_t m_seed = 0;
    std::vector<PhantomTumour> m_tumours;
    VesselTree m_portalVein;
    VesselTree m_hepaticVeins;
    std::vector<VesselSegment> m_ribs;
    Vec3 m_aortaCentre;
    double m_aortaRadius = 0;
    Vec3 m_liverParenchyma;

    // Every capsule (portal vein, hepatic veins, ribs) binned into a uniform grid of cells, so a point tests the
    // two or three capsules near it instead of all ~150: sampling cost matters (tens of millions of samples).
    enum class CapsuleKind : std::uint8_t { PortalVein, HepaticVein, Rib };
    struct CapsuleRef {
        VesselSegment segment; // a copy: the phantom stays a self-contained value type
        CapsuleKind kind;
    };
    Box m_cellBox;
    double m_cellMm = 6;
    std::array<int, 3> m_cellCounts{0, 0, 0};
    std::vector<std::uint32_t> m_cellStart; // cell c holds m_cellItems[m_cellStart[c] .. m_cellStart[c + 1])
    std::vector<CapsuleRef> m_cellItems;
};

// ---- Rasterisers -------------------------------------------------------------------------------------------

struct StructureVolume {
    std::uint16_t label = 0;
    double modelMl = 0;        // analytic when closed-form, else supersampled
    double supersampledMl = 0; // always computed (checks the analytic values and the sampler)
    double voxelMl = 0;        // voxels carrying the label in the label map
    bool analytic = false;
};

struct CtRasterOptions {
    double noiseSigmaHu = 10; // correlated Gaussian noise, like reconstructed CT noise
    std::uint64_t noiseSeed = 1;
    int subSamples = 4; // per axis in voxels a label boundary crosses (volumes and partial volume)
};

struct CtRaster {
    imaging::Volume ct;                   // int16 HU
    imaging::LabelMap labels;             // uint8 labels on the same grid, with structures()
    std::vector<StructureVolume> volumes; // one per structure, in structures() order
};

// Samples the phantom on an axis-aligned grid of the CT frame. Voxels that a tissue boundary crosses get the
// mean HU of sub-samples (partial volume); the label of a voxel is the label at its centre. Model volumes are
// counted within fieldOfView(grid) (closed forms only for axis-aligned grids). Threads over slices; progress may
// cancel (ErrorCode::Cancelled).
Result<CtRaster> rasteriseCt(const AbdominalPhantom& phantom, const ImageGeometry& grid,
                             const CtRasterOptions& options = {}, const ProgressFn& progress = {});

struct MrRasterOptions {
    double noiseSigma = 18;     // Rician noise (magnitude of complex Gaussian noise of this sigma)
    double biasAmplitude = 0.2; // smooth multiplicative bias field, about ±20 %
    std::uint64_t noiseSeed = 1;
};

// MR-like uint16 volume on `mrGrid` (geometry in the MR frame). ctToMr maps CT LPS to MR LPS (see convention
// above): voxel p shows the anatomy at ctToMr⁻¹·p. Slice profile: three samples across the slice thickness.
Result<imaging::Volume> rasteriseMr(const AbdominalPhantom& phantom, const ImageGeometry& mrGrid,
                                    const Transform& ctToMr, const MrRasterOptions& options = {},
                                    const ProgressFn& progress = {});

// An ultrasound sweep: parallel frames (the k-slices of gridInCt, an axis-aligned grid in the CT frame, rows j
// going deeper along +y), each with a sector (fan) whose apex is at row 0, column apexColumn.
struct UsSweep {
    ImageGeometry gridInCt;
    double apexColumn = 0; // continuous column index of the apex (row index 0)
    double fanRadiusMm = 95;
    double fanHalfAngleDeg = 35;
    double frequencyMHz = 3.5;
    std::uint64_t speckleSeed = 1;

    Vec3 apex(int frame) const { return gridInCt.indexToLps({apexColumn, 0, static_cast<double>(frame)}); }
    // True when pixel (i, j) of a frame lies in the fan.
    bool insideFan(double i, double j) const;
};

// Ultrasound-like uint8 volume on sweep.gridInCt: speckle on tissue echogenicity, depth attenuation with TGC,
// acoustic shadow behind bone and air, zero outside the fan.
Result<imaging::Volume> rasteriseUs(const AbdominalPhantom& phantom, const UsSweep& sweep,
                                    const ProgressFn& progress = {});

} // namespace jumeau::simulation
