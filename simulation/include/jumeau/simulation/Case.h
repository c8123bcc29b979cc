#pragma once
// The case (the patient's twin): its images, segmentation and, later, meshes, record and plans.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/LabelMap.h"

namespace jumeau::simulation {

struct Case {
    std::string name;                       // shown in the window title
    std::filesystem::path source;           // what was opened
    imaging::LoadedSeries reference;        // the planning image; the twin's reference frame
    std::optional<imaging::LabelMap> labels; // on the reference grid
    std::vector<std::string> warnings;      // what the user should know (skipped files, odd geometry ...)
};

// Opens a demo-case folder (ct/ + labels/ as written by writeDemoCase) or any DICOM folder (the largest
// CT series, else the largest series, becomes the reference). Errors name the path and the problem.
Result<Case> openCase(const std::filesystem::path& path, const ProgressFn& progress = {});

} // namespace jumeau::simulation
