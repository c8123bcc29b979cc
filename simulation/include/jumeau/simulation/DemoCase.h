#pragma once
// The demo case: the synthetic abdominal phantom (Phantom.h) written as a patient folder,
//   DIR/ct/      CT, one DICOM file per axial slice (256 × 256 × 160, 0.8 × 0.8 × 1.5 mm, inferior → superior)
//   DIR/mr/      MR-like T1 series in its own frame (192 × 192 × 56, 1.25 × 1.25 × 4 mm), moved by T_mr
//   DIR/us/      one multi-frame ultrasound file: a linear sweep over the liver, moved by T_us
//   DIR/labels/labels.seg.nrrd   ground-truth label map on the CT grid (Slicer .seg.nrrd)
//   DIR/truth.json               seed, geometry, transforms, structure volumes, tumours, series UIDs
// The GUI generates it on first start; tests and `jumeau-cli phantom` generate it too.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"
#include "jumeau/imaging/ImageGeometry.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/simulation/Phantom.h"

namespace jumeau::simulation {

// The transform convention, as written into truth.json.
extern const char* const kTransformConvention;

struct DemoCaseStructure {
    imaging::Structure structure;
    double volumeMl = 0;       // model volume of the region carrying the label, within the CT field of view
    double supersampledMl = 0; // the same by supersampling (equals volumeMl unless method is "analytic")
    double voxelVolumeMl = 0;  // volume of the label's voxels in the written label map
    std::string method;        // "analytic" or "supersampled"
};

struct DemoCaseSeries {
    std::string modality;
    std::string seriesUid;
    std::string frameOfReferenceUid;
    imaging::ImageGeometry geometry;          // as written, in that series' own LPS frame
    std::vector<std::filesystem::path> files; // relative to the case folder
};

struct DemoCaseTruth {
    std::uint64_t seed = 0;
    std::string convention;
    std::string studyUid;
    imaging::ImageGeometry ctGeometry;
    // CT LPS → series LPS (see kTransformConvention).
    geometry::Transform ctToMr;
    geometry::Transform ctToUs;
    // The ultrasound grid in the CT frame, where its voxels were sampled (the file holds it moved by ctToUs).
    imaging::ImageGeometry usGridInCt;
    std::vector<DemoCaseStructure> structures;
    std::vector<PhantomTumour> tumours;
    DemoCaseSeries ct, mr, us;
    std::filesystem::path labelFile; // relative to the case folder
};

// The recipe: grids and transforms of the demo case (the same for every seed).
imaging::ImageGeometry demoCtGeometry();
imaging::ImageGeometry demoMrGeometry();
geometry::Transform demoCtToMr();
geometry::Transform demoCtToUs();
UsSweep demoUsSweep(std::uint64_t seed);

// Writes the demo case into dir (created if needed). Series folders, labels and truth.json of a previous run are
// replaced, never mixed: everything is generated in a staging folder inside dir and moved into place at the end,
// so a failed or cancelled run (ErrorCode::Cancelled) leaves the previous case untouched.
Result<DemoCaseTruth> writeDemoCase(const std::filesystem::path& dir, std::uint64_t seed,
                                    const ProgressFn& progress = {});

// True when dir holds truth.json, ct/ and labels/ as written by writeDemoCase.
bool isDemoCase(const std::filesystem::path& dir);

// Reads DIR/truth.json back.
Result<DemoCaseTruth> readDemoCaseTruth(const std::filesystem::path& dir);

} // namespace jumeau::simulation
