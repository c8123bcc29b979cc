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
    std::string name;                         // shown in the window title
    std::filesystem::path source;             // what was opened
    imaging::LoadedSeries reference;          // the planning image; the twin's reference frame
    std::vector<imaging::LoadedSeries> other; // further series of the case (not yet registered to the reference)
    std::optional<imaging::LabelMap> labels;  // on the reference grid
    std::vector<std::string> warnings;        // what the user should know (skipped files, odd geometry ...)

    std::size_t seriesCount() const { return 1 + other.size(); }
    // 0 is the reference, then `other` in order.
    const imaging::LoadedSeries& series(std::size_t i) const { return i == 0 ? reference : other.at(i - 1); }
};

// Opens a demo-case folder (ct/ + labels/ as written by writeDemoCase) or any DICOM folder. Every series that
// loads is kept; the reference is chosen by chooseReference. Errors name the path and the problem.
Result<Case> openCase(const std::filesystem::path& path, const ProgressFn& progress = {});

// Index of the series that should be the planning reference: images before masks stored as images (binary
// 8-bit series such as IRCAD's), CT before other modalities, then the largest.
std::size_t chooseReference(const std::vector<imaging::LoadedSeries>& series);

// A case made of already loaded series (e.g. picked in the import dialog); the reference is chosen as above.
Result<Case> caseFromSeries(std::vector<imaging::LoadedSeries> series, const std::string& source);
// Adds series to an open case, keeping its reference.
void addSeries(Case& c, std::vector<imaging::LoadedSeries> series);

} // namespace jumeau::simulation
