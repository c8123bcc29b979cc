#pragma once
// Registration: bring a MOVING volume into the frame of a FIXED volume (CT, MR, ultrasound), with a quality
// report a surgeon can read. ITK's v4 framework does the optimisation inside imaging/src; this header knows no ITK.
//
// Convention (the same as the phantom's truth.json and ITK's): the transform maps a point of the FIXED image's LPS
// frame (mm) to the point of the MOVING image's LPS frame that shows the same anatomy. Resampling MOVING onto the
// FIXED grid therefore reads MOVING at transform(x) for every FIXED voxel position x.
//
// See docs/registration.md for how it works, the conventions and measured results.

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging {

using geometry::Transform;

// A cubic B-spline displacement field d(x) (mm, LPS) defined on a grid of control points in the FIXED frame.
// The coefficient grid is ITK's (BSplineTransform's coefficient images): control point (i, j, k) sits at
// origin + direction * diag(spacing) * (i, j, k), and d(x) is zero outside the region the grid supports.
struct BSplineDeformation {
    std::array<int, 3> gridSize{0, 0, 0}; // control points per axis (mesh size + 3)
    Vec3 gridOrigin;
    Vec3 gridSpacing{1, 1, 1};
    Mat3 gridDirection;
    std::vector<Vec3> coefficients; // one displacement per control point, i fastest, then j, then k

    Vec3 displacement(const Vec3& fixedLps) const;
    bool valid() const;
};

// A fixed→moving mapping: moving = matrix(x + d(x)) when deformable, else matrix(x).
struct SpatialTransform {
    Transform matrix; // rigid or affine part (for a deformable result: the linear stage it started from)
    std::optional<BSplineDeformation> deformation;

    Vec3 apply(const Vec3& fixedLps) const {
        return matrix.apply(deformation ? fixedLps + deformation->displacement(fixedLps) : fixedLps);
    }
    bool isDeformable() const { return deformation.has_value(); }
};

enum class RegistrationMode { Rigid, Affine, Deformable };
enum class RegistrationMetric {
    Auto,              // Mattes mutual information: works within and across modalities
    MutualInformation, // Mattes MI: CT↔MR, CT↔US
    MeanSquares,       // same modality, same intensity scale (CT↔CT)
    Correlation        // same modality, intensities related linearly
};
enum class Initialisation {
    Auto,     // landmarks when given, else initialTransform when given, else identity (scanner frame) when one
              // image covers only part of the other (ultrasound), else moments
    Identity, // trust the scanner frames (both images in one frame of reference, or tracked ultrasound)
    Geometry, // align the centres of the two image grids
    Moments,  // align the centres of mass of the two images' foregrounds (the body, not the air)
    Landmarks // least-squares rigid fit of the landmark pairs (at least 3, not collinear)
};

const char* toString(RegistrationMode m);
const char* toString(RegistrationMetric m);
const char* toString(Initialisation i);
std::optional<RegistrationMode> registrationModeFromString(const std::string& s);     // rigid|affine|deformable
std::optional<RegistrationMetric> registrationMetricFromString(const std::string& s); // auto|mi|ms|cc
std::optional<Initialisation>
initialisationFromString(const std::string& s); // auto|identity|geometry|moments|landmarks

// One pair of corresponding points (LPS mm): the same anatomical point in FIXED and in MOVING.
struct LandmarkPair {
    std::string name;
    Vec3 fixed;
    Vec3 moving;
};

struct RegistrationOptions {
    RegistrationMode mode = RegistrationMode::Rigid;
    RegistrationMetric metric = RegistrationMetric::Auto;
    Initialisation initialisation = Initialisation::Auto;
    // Where to start (fixed→moving), e.g. a previous result nudged by the user; used when initialisation is
    // Auto (and no landmarks are given). Only its matrix is used.
    std::optional<Transform> initialTransform;
    std::vector<LandmarkPair> landmarks; // residuals are always reported; >= 3 initialise the registration
    bool landmarksOnly = false;          // the landmark fit is the result (no intensity refinement)
    // Optional masks (non-zero voxels = register here), each on its own grid in its image's frame: e.g. the liver
    // label map on the FIXED grid to register only the liver region.
    std::optional<Volume> fixedMask;
    std::optional<Volume> movingMask;
    double bsplineGridMm = 50; // control point spacing of the deformable stage
    // Pyramid: the coarsest level works on voxels of about coarsestSpacingMm, halving each level down to the images'
    // own resolution. Every level stops after maxIterationsPerLevel whatever happens (no endless run).
    double coarsestSpacingMm = 4;
    int levels = 3;
    int maxIterationsPerLevel = 200;
    // Voxels sampled per level for the metric (random, fixed seed: results are reproducible). 0 = all voxels.
    int samplesPerLevel = 60000;
    int histogramBins = 32;
    int randomSeed = 121;
    // Below this initial overlap (fraction of the smaller image covered by the other) registration is refused:
    // intensity metrics cannot find images that barely overlap.
    double minimumOverlap = 0.2;
};

// The residual at one landmark after registration: |transform(fixed) - moving|.
struct LandmarkResidual {
    std::string name;
    Vec3 fixed, moving, mapped;
    double errorMm = 0;
};

struct RegistrationQuality {
    std::string metric;        // "Mattes mutual information", ...
    double initialMetric = 0;  // at the start of the finest level (ITK minimises: lower is better)
    double finalMetric = 0;    // at the end
    int iterations = 0;        // over every level and stage
    bool converged = false;    // the finest level stopped on a small step, not on the iteration cap
    std::string stopReason;    // the optimiser's words for the finest level
    double initialOverlap = 0; // fraction of the smaller image's field of view inside the other, at the start
    double overlap = 0;        // the same after registration
    std::vector<LandmarkResidual> landmarks;
    double landmarkRmsMm = 0; // over landmarks (0 when none)
    double landmarkMaxMm = 0;
    std::vector<std::string> warnings; // plain language, for the surgeon
    double seconds = 0;
    std::string initialisation; // what the start was: "landmarks (4 pairs)", "centres of mass", ...
};

struct RegistrationResult {
    SpatialTransform transform; // fixed→moving
    RegistrationQuality quality;
};

// Registers MOVING onto FIXED. Errors (InvalidInput with a plain message naming which image): 2D images, empty
// masks, images that do not overlap enough at the start, non-finite voxels; Cancelled when progress returns false
// (checked every optimiser iteration). Identical images give the identity with a warning.
Result<RegistrationResult> registerVolumes(const Volume& fixed, const Volume& moving,
                                           const RegistrationOptions& options, const ProgressFn& progress = {});

// Least-squares rigid transform (Kabsch/Horn) mapping pair.fixed to pair.moving; error when fewer than 3 pairs or
// the fixed points are (nearly) collinear.
Result<Transform> rigidFromLandmarks(const std::vector<LandmarkPair>& pairs);
std::vector<LandmarkResidual> landmarkResiduals(const SpatialTransform& t, const std::vector<LandmarkPair>& pairs);

// Fraction of the smaller field of view that lies inside the other when FIXED point x is compared with MOVING
// point t(x) (masks, when given, restrict each field of view). 0 when they do not overlap.
double overlapFraction(const Volume& fixed, const Volume& moving, const SpatialTransform& t,
                       const Volume* fixedMask = nullptr, const Volume* movingMask = nullptr);

// MOVING resampled onto FIXED's grid (linear interpolation, `outside` where t(x) falls outside MOVING), as Float32,
// or in MOVING's pixel type when `keepPixelType` (rounded and clamped).
Result<Volume> resampleOnto(const Volume& moving, const ImageGeometry& fixedGrid, const SpatialTransform& t,
                            double outside = 0, bool keepPixelType = true);

} // namespace jumeau::imaging
