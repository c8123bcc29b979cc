#pragma once
// Private to imaging: the series stages of the DICOM reader that work on headers already scanned, so they can run
// on headers scanned from memory too (the fuzzer drives them that way, without files).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "DicomHeader.h"
#include "jumeau/imaging/DicomSeriesReader.h"

namespace jumeau::imaging::dicom {

// The headers scanDicom parsed for one series (aligned with SeriesInfo::files), with each file's size and
// modification time then: loadSeries reuses a header only while both are unchanged.
struct ScannedHeaders {
    struct Stamp {
        std::uintmax_t size = 0;
        std::filesystem::file_time_type modified;
        bool operator==(const Stamp&) const = default;
    };
    std::vector<DicomHeader> headers;
    std::vector<Stamp> stamps;
};
// A file's stamp; nullopt when it cannot be read (the header is then parsed again, which reports the problem).
std::optional<ScannedHeaders::Stamp> stampOf(const std::filesystem::path& file);

// scanDicom's grouping: headers → series entries (split by orientation/size, localizer, and, where positions
// repeat, echo / time point / cardiac phase / image type / acquisition), each with files, frames and partLabel.
std::vector<SeriesInfo> groupIntoSeries(const std::vector<DicomHeader>& headers);

// loadSeries after its headers are read: slice placement, decoding, rescale and resampling onto a regular grid.
// `series` supplies the frame selection and the warnings found by the scan.
Result<LoadedSeries> assembleSeries(const std::vector<DicomHeader>& headers, const SeriesInfo& series,
                                    const ProgressFn& progress = {});

} // namespace jumeau::imaging::dicom
