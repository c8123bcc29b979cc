#pragma once
// DICOM folder → series → Volume, with DCMTK. Geometry is patient LPS millimetres.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging {

struct WindowPreset {
    double centre = 40;
    double width = 400;
    std::string name;
};

struct SeriesInfo {
    // patient
    std::string patientName; // UTF-8
    std::string patientId;
    std::string patientBirthDate;
    std::string patientSex;
    // study
    std::string studyUid;
    std::string studyDate;
    std::string studyDescription;
    // series
    std::string seriesUid;
    std::string modality;
    std::string seriesDescription;
    std::string bodyPart;
    std::string frameOfReferenceUid;
    std::vector<WindowPreset> windowPresets;
    std::vector<std::filesystem::path> files; // the files of this series (one for multi-frame)
    std::vector<std::string> warnings;         // what was odd but handled (e.g. non-uniform spacing resampled)
};

struct SkippedFile {
    std::filesystem::path file;
    std::string reason;
};

struct DicomScan {
    std::vector<SeriesInfo> series;
    std::vector<SkippedFile> skipped;
};

struct LoadedSeries {
    SeriesInfo info;
    Volume volume; // Int16 for CT/MR that fit after rescale, Float32 when rescale needs it, UInt8/RGB8 for US
};

// Scans a file or folder (recursively) reading headers only; broken and non-DICOM files go to `skipped`.
// Error only when the path does not exist or is unreadable.
Result<DicomScan> scanDicom(const std::filesystem::path& path, const ProgressFn& progress = {});

// Decodes one series found by scanDicom into a Volume.
Result<LoadedSeries> loadSeries(const SeriesInfo& series, const ProgressFn& progress = {});

// scanDicom + loadSeries of every series. Error when nothing loads (message names the path and why).
struct LoadedFolder {
    std::vector<LoadedSeries> series;
    std::vector<SkippedFile> skipped;
};
Result<LoadedFolder> loadDicomFolder(const std::filesystem::path& path, const ProgressFn& progress = {});

} // namespace jumeau::imaging
