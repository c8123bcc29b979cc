// libFuzzer target over the DICOM reader: every input is one file's bytes, read from memory through the same code
// as files on disk — header scan (DCMTK parse, pixel data location, encapsulated fragments, functional groups,
// palettes, Siemens CSA header and mosaic layout), then, for what scans as an image, the whole load: grouping,
// slice placement, decoding (native and through DCMTK's codecs), rescale and resampling. The reader must return a
// value (a header, a skip reason, an error) for every input: any crash, leak, sanitizer report or hang fails.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "DicomHeader.h"
#include "DicomPixels.h"
#include "DicomSeriesInternal.h"

using namespace jumeau::imaging;

namespace {

// Real volumes are loaded elsewhere; here a decoded image above this size is a claim in a fuzzed header, and
// allocating it would only measure the machine's memory (libFuzzer counts big mallocs as failures).
constexpr double maxDecodedBytes = 64.0 * 1024 * 1024;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto bytes = std::make_shared<const std::vector<std::uint8_t>>(data, data + size);
    dicom::ScannedFile scanned = dicom::scanMemory(bytes, "fuzz.dcm");
    if (!scanned.header) return 0;
    const dicom::DicomHeader& h = *scanned.header;
    const dicom::PixelFormat stored = h.storedFormat();
    // Both the stored image (a whole mosaic) and the slices it becomes, at the widest raw sample (4 bytes), and
    // resampling may at most double the slices and quadruple each (planSlices' bounds).
    const double storedBytes = double(stored.frameVoxels()) * stored.frames * 4.0;
    const double sliceBytes = double(h.format.frameVoxels()) * h.format.frames * 4.0 * 8.0;
    if (storedBytes > maxDecodedBytes || sliceBytes > maxDecodedBytes) return 0;

    const std::vector<dicom::DicomHeader> headers{h};
    for (const SeriesInfo& series : dicom::groupIntoSeries(headers)) {
        auto loaded = dicom::assembleSeries(headers, series);
        if (loaded.ok() && !loaded->volume.geometry().isValid(1e-3)) __builtin_trap(); // a volume must be usable
    }
    return 0;
}
