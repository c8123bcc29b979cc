#pragma once
// DICOM folder → series → Volume, with DCMTK. Geometry is patient LPS millimetres.

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging {

namespace dicom {
struct ScannedHeaders; // private to the reader
}

struct WindowPreset {
    double centre = 40;
    double width = 400;
    std::string name;
};

struct SeriesInfo {
    // patient
    std::string patientName; // UTF-8 (SpecificCharacterSet honoured), DICOM PN form "Family^Given"
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
    // For a part of one multi-frame file (an enhanced file holding several echoes, time points or orientations):
    // the frames of this part, 0-based. Empty: every frame of every file.
    std::vector<int> frames;
    // When one SeriesInstanceUID was split into several volumes, what this part is, for lists and titles:
    // "echo 2", "phase 30%", "time point 3", "acquisition 3", "localizer", "sagittal 256x256" (joined by ", " when
    // split along several of these). Empty when the series was not split.
    std::string partLabel;
    std::vector<std::string> warnings; // what was odd but handled (split series, uneven spacing, gaps)
    // Set by scanDicom: the headers it parsed, so loadSeries does not parse them again while the files are unchanged
    // (same size and modification time). Not set on loaded series.
    std::shared_ptr<const dicom::ScannedHeaders> scannedHeaders;
};

struct SkippedFile {
    std::filesystem::path file;
    std::string reason;                       // names the problem, e.g. "truncated: ...", "not a DICOM file"
    ErrorCode code = ErrorCode::InvalidInput; // InvalidInput (not an image), Corrupt, Unsupported, IoError
};

struct DicomScan {
    std::vector<SeriesInfo> series;
    std::vector<SkippedFile> skipped;
};

struct LoadedSeries {
    SeriesInfo info; // info.warnings adds what loading found (spacing, missing slices, stacking without geometry)
    // Pixel type after rescale slope/intercept: UInt8 for 8-bit data without rescale (US, masks); Int16 when every
    // value is an integer that fits (CT HU, most MR); UInt16 when integers exceed Int16 but fit 0..65535; Float32
    // otherwise (fractional slopes, 32-bit data). RGB8 for RGB, YBR and palette colour. MONOCHROME1 is inverted.
    Volume volume;
};

// Scans a file or folder (recursively) reading headers only; broken and non-DICOM files, and sub-folders that cannot
// be listed, go to `skipped` with their reason. Error only when the path does not exist or is unreadable. Files are
// grouped by SeriesInstanceUID and each multi-frame file is its own series entry. A series is split into several
// entries (same seriesUid, a `partLabel` and a warning naming why in each) when it mixes orientations or image
// sizes, localizer (scout) images with others, or, when slice positions repeat, echoes, time points, cardiac phases,
// image types or acquisitions. A DICOMDIR is skipped, the files it references are scanned.
Result<DicomScan> scanDicom(const std::filesystem::path& path, const ProgressFn& progress = {});

// Decodes one series found by scanDicom into a Volume (LPS geometry from positions along the slice normal).
// Slices are ordered by position along the normal and spaced by their positions. Missing slices and uneven spacing
// are resampled onto a uniform grid by linear interpolation between the neighbouring slices, and a sheared stack
// (gantry tilt) onto an orthogonal grid covering it; each with a warning saying what was done. A series whose gaps
// outnumber its slices is refused (error naming the gaps). Siemens mosaics are unpacked into their slices.
Result<LoadedSeries> loadSeries(const SeriesInfo& series, const ProgressFn& progress = {});

// scanDicom + loadSeries of every series. Error when nothing loads (message names the path and why).
struct LoadedFolder {
    std::vector<LoadedSeries> series;
    std::vector<SkippedFile> skipped;
};
Result<LoadedFolder> loadDicomFolder(const std::filesystem::path& path, const ProgressFn& progress = {});

} // namespace jumeau::imaging
