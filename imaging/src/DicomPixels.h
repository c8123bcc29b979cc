#pragma once
// Private to imaging: the decode stage of the DICOM reader. Turns the frames of one file into stored values written
// straight into the slots of a series' raw buffer (no per-file copies). Native pixel data is read from the offset
// the header stage found; compressed and deflated data goes through DCMTK's registered decoders.
//
// Values stay "stored values" here (no rescale): the series decides the output pixel type only once every slice's
// range is known. Exceptions to that rule, so later stages only see "larger is brighter" or RGB:
//  - MONOCHROME1 is inverted over the stored range;
//  - PALETTE COLOR, YBR_FULL and YBR_FULL_422 become RGB; 16-bit colour samples are scaled to 8 bits.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "DicomHeader.h"

namespace jumeau::imaging::dicom {

// Storage for decoded stored values. 32-bit integer samples go to Float32 (exact up to 2^24, beyond any
// realistic CT/MR/dose value range).
enum class RawKind { UInt8, Int16, UInt16, Float32, Rgb8 };

std::size_t rawBytes(RawKind k);
// The narrowest kind holding every stored value of this format exactly (after MONOCHROME1 inversion).
RawKind rawKindFor(const PixelFormat& f);
// A kind holding the values of both; nullopt when colour and grey are mixed.
std::optional<RawKind> joinRawKinds(RawKind a, RawKind b);

struct RawVolume {
    RawKind kind = RawKind::UInt8;
    void* base = nullptr; // slot s starts at base + s * frameVoxels * rawBytes(kind)
    std::size_t frameVoxels = 0;
    // When set (grey, non-mosaic series with whole-number rescale): value = stored * slope[slot] + intercept[slot] is
    // written while unpacking, saving a pass over the volume. Ranges stay those of the stored values; results that
    // do not fit the kind wrap, so the caller checks the rescaled ranges and decodes again without this if needed.
    const std::int32_t* slope = nullptr;
    const std::int32_t* intercept = nullptr;
};

struct ValueRange {
    double min = 0;
    double max = 0;
};

// Decodes each frame f of header.file with slotOfFrame[f] >= 0 into that slot of `out`; ranges[slot] receives the
// frame's min/max stored value. Errors name the file.
Result<void> decodeFrames(const DicomHeader& header, const RawVolume& out, const std::vector<int>& slotOfFrame,
                          std::vector<ValueRange>& ranges);

} // namespace jumeau::imaging::dicom
