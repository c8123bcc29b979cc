#pragma once
// Private to imaging: the series stages of the DICOM reader that work on headers already scanned, so they can run
// on headers scanned from memory too (the fuzzer drives them that way, without files).

#include <vector>

#include "DicomHeader.h"
#include "jumeau/imaging/DicomSeriesReader.h"

namespace jumeau::imaging::dicom {

// scanDicom's grouping: headers → series entries (split by orientation/size, localizer, and, where positions
// repeat, echo / time point / cardiac phase / image type / acquisition), each with files, frames and partLabel.
std::vector<SeriesInfo> groupIntoSeries(const std::vector<DicomHeader>& headers);

// loadSeries after its headers are read: slice placement, decoding, rescale and resampling onto a regular grid.
// `series` supplies the frame selection and the warnings found by the scan.
Result<LoadedSeries> assembleSeries(const std::vector<DicomHeader>& headers, const SeriesInfo& series,
                                    const ProgressFn& progress = {});

} // namespace jumeau::imaging::dicom
