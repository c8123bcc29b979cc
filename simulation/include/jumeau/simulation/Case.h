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
#include "jumeau/imaging/Registration.h"

namespace jumeau::simulation {

// How a non-reference series sits in the twin's reference frame (the timeline: a later scan or an intra-operative
// ultrasound is added and registered onto the same twin). `toSeries` maps a reference (fixed) LPS point to the
// series' LPS point showing the same anatomy (Registration.h's convention): 4x4 matrix, plus B-spline coefficients
// when deformable.
struct SeriesRegistration {
    bool registered = false;
    imaging::SpatialTransform toSeries; // identity until registered
    std::string method;                 // e.g. "rigid, Mattes mutual information, start: landmarks (4 pairs)"
    std::optional<imaging::RegistrationQuality> quality;
};

struct Case {
    std::string name;                         // shown in the window title
    std::filesystem::path source;             // what was opened
    imaging::LoadedSeries reference;          // the planning image; the twin's reference frame
    std::vector<imaging::LoadedSeries> other; // further series of the case (not yet registered to the reference)
    std::optional<imaging::LabelMap> labels;  // on the reference grid
    std::vector<std::string> warnings;        // what the user should know (skipped files, odd geometry ...)
    // One entry per `other` series, same order (addSeries keeps them in step); see registrationOf.
    std::vector<SeriesRegistration> registrations;

    std::size_t seriesCount() const { return 1 + other.size(); }
    // 0 is the reference, then `other` in order.
    const imaging::LoadedSeries& series(std::size_t i) const { return i == 0 ? reference : other.at(i - 1); }
    // Registration of series i (1.. seriesCount()-1) onto the reference; the reference itself (0) is registered
    // with the identity. Unregistered series have registered == false.
    SeriesRegistration registrationOf(std::size_t i) const;
    void setRegistration(std::size_t i, SeriesRegistration r);
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
