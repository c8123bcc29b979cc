#pragma once
// Private to imaging: a light, DCMTK-free parse of the top-level elements of a "plain" DICOM file, for the scan's
// common case (a folder of classic CT/MR slices), where DCMTK's general parser costs ~0.2 ms per file — more than
// reading the whole file.
//
// Plain means: a 128-byte preamble and "DICM", a File Meta Information group, and a data set in Implicit or
// Explicit VR Little Endian (the pixel data itself may be encapsulated: JPEG and friends use an explicit little
// endian data set too), whose elements up to the top-level Pixel Data lie in the file's first `headBytes` bytes.
// The parse reads those bytes with one pread, walks the elements (skipping sequences, defined or undefined length,
// with bounds checks on every length: the bytes come from the file) and returns a flat, tag-sorted element table.
//
// It never decides anything about a file it does not fully understand: any irregularity (odd lengths, unknown VR
// bytes, tags out of order, big endian, a deflated data set, a header longer than `headBytes`, no Pixel Data ...)
// returns nullopt, and the caller asks DCMTK, which handles (and explains) everything.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "DicomHeader.h"

namespace jumeau::imaging::dicom {

struct PlainElement {
    std::uint32_t tag = 0; // group << 16 | element
    char vr[2] = {0, 0};   // explicit VR data sets: as written; implicit: {0, 0}
    bool undefinedLength = false;
    std::uint32_t offset = 0; // of the value, in PlainDataset::head
    std::uint32_t length = 0; // of the value (0 for undefined-length sequences: their content is not kept)
};

struct PlainDataset {
    std::vector<std::uint8_t> head; // the file's first bytes (up to the Pixel Data element)
    std::string transferSyntax;     // (0002,0010), trimmed
    std::string mediaStorageClass;  // (0002,0002), trimmed
    bool explicitVr = true;
    std::uint64_t pixelDataTagOffset = 0; // where the top-level (7FE0,0010) element header starts in the file
    std::vector<PlainElement> elements;   // top-level data set elements before the Pixel Data, sorted by tag

    const PlainElement* find(std::uint32_t tag) const;
    std::string_view value(const PlainElement& e) const {
        return {reinterpret_cast<const char*>(head.data()) + e.offset, e.length};
    }
};

constexpr std::size_t plainHeadBytes = 64 * 1024;

// nullopt: not a plain file in the sense above (the caller then parses with DCMTK).
std::optional<PlainDataset> parsePlainDataset(const ByteSource& src, std::size_t headBytes = plainHeadBytes);

} // namespace jumeau::imaging::dicom
