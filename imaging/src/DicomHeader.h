#pragma once
// Private to imaging: the header-scan stage of the DICOM reader.
//
// A file is parsed with DCMTK up to (not including) its top-level Pixel Data; the pixel data is then located in
// the file by reading its element header and walking encapsulated fragments, without reading pixel values. That
// makes the scan cheap, catches truncated files before decoding, and is immune to junk after the pixel data
// (some GE files carry megabytes of zero padding that DCMTK would otherwise parse element by element).
//
// This header stays free of DCMTK types so the series logic (DicomSeriesReader.cpp) does not depend on them.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"
#include "jumeau/imaging/DicomSeriesReader.h"

namespace jumeau::imaging::dicom {

using geometry::Vec3;

// Registers DCMTK's decoders (JPEG, JPEG-LS, RLE) and quietens DCMTK's console logging: the reader reports every
// problem as a value (skipped reason, warning or Error), so DCMTK's own stderr lines would only be noise.
// Thread-safe; the work happens once per process.
void initDcmtk();

struct PixelFormat {
    int rows = 0;
    int columns = 0;
    int frames = 1;
    int samplesPerPixel = 1;
    int bitsAllocated = 0;
    int bitsStored = 0;
    int highBit = 0;
    bool isSigned = false;
    int planarConfiguration = 0; // 0: colour-by-pixel (RGBRGB...), 1: colour-by-plane (RR..GG..BB..)
    std::string photometric;     // MONOCHROME1, MONOCHROME2, RGB, PALETTE COLOR, YBR_FULL, YBR_FULL_422 ...

    std::size_t frameVoxels() const { return static_cast<std::size_t>(rows) * static_cast<std::size_t>(columns); }
    // Bytes of one frame as stored natively (uncompressed).
    std::size_t nativeFrameBytes() const;
    bool isColour() const { return samplesPerPixel == 3 || photometric == "PALETTE COLOR"; }
    bool sameLayout(const PixelFormat& o) const {
        return rows == o.rows && columns == o.columns && samplesPerPixel == o.samplesPerPixel &&
               bitsAllocated == o.bitsAllocated && photometric == o.photometric;
    }
};

// Where the top-level Pixel Data sits in the file. Offsets are only meaningful for native (uncompressed, not
// deflated) transfer syntaxes; encapsulated data is decoded through DCMTK.
struct PixelDataLocation {
    bool encapsulated = false;
    bool bigEndian = false;  // native data in Explicit VR Big Endian
    bool wordValues = false; // VR OW: in big endian files 8-bit samples are byte-swapped in pairs
    std::uint64_t valueOffset = 0;
    std::uint64_t valueLength = 0;
    int fragments = 0; // encapsulated: fragments after the basic offset table
};

// Geometry and value mapping of one frame as the header states it (any field may be absent).
struct FrameInfo {
    std::optional<Vec3> position;                      // ImagePositionPatient, LPS mm
    std::optional<std::array<Vec3, 2>> orientation;    // row cosine (along a row, i), column cosine (j)
    std::optional<std::array<double, 2>> pixelSpacing; // DICOM order: [0] between rows, [1] between columns
    std::optional<double> rescaleSlope;
    std::optional<double> rescaleIntercept;
};

// A palette colour lookup table expanded to 8-bit RGB entries (segmented tables already expanded).
struct Palette {
    int firstMapped = 0; // stored value mapped to entry 0; values below/above clamp to the first/last entry
    std::vector<std::array<std::uint8_t, 3>> entries;
};

struct DicomHeader {
    std::filesystem::path file;
    std::string transferSyntaxUid;
    bool deflated = false; // Deflated Explicit VR Little Endian: no byte offsets, decoded through DCMTK
    std::string sopClassUid;

    // identification (strings trimmed; patientName UTF-8, DICOM PN form)
    std::string patientName;
    std::string patientId;
    std::string patientBirthDate;
    std::string patientSex;
    std::string studyUid;
    std::string studyDate;
    std::string studyDescription;
    std::string seriesUid;
    std::string modality;
    std::string seriesDescription;
    std::string bodyPart;
    std::string frameOfReferenceUid;
    std::optional<int> seriesNumber;
    std::optional<int> instanceNumber;

    PixelFormat format;
    PixelDataLocation pixels;

    FrameInfo image;                      // classic attributes, with shared functional groups merged in
    std::vector<FrameInfo> perFrame;      // enhanced objects: one per frame (empty otherwise)
    std::vector<double> gridFrameOffsets; // RT Dose / NM style frame offsets along the normal (mm)
    std::optional<double> sliceThickness;
    std::optional<double> spacingBetweenSlices;
    std::optional<std::array<double, 2>> ultrasoundSpacing; // from SequenceOfUltrasoundRegions, mm, DICOM order
    std::vector<WindowPreset> windowPresets;
    std::optional<Palette> palette;      // PALETTE COLOR images
    bool hasModalityLutSequence = false; // a Modality LUT Sequence we do not apply (rescale is used instead)
    bool isMosaic = false;               // Siemens mosaic (ImageType MOSAIC): slices tiled in one image

    bool isMultiFrame() const { return format.frames > 1; }
    // Per-frame values override the file-level (shared) ones.
    FrameInfo frame(int index) const;
};

// What the scan learnt about one file: an image header, or a DICOMDIR's references, or why it is skipped
// ("not a DICOM file", "truncated: ...", "no pixel data ...", "JPEG 2000 ... is not decodable with this DCMTK
// build"). Never throws.
struct ScannedFile {
    std::optional<DicomHeader> header;
    std::optional<std::vector<std::filesystem::path>> dicomDirReferences; // a DICOMDIR: existing referenced files
    std::string skipReason;                                               // set when neither of the above
    ErrorCode skipCode = ErrorCode::InvalidInput; // InvalidInput: not an image; Corrupt; Unsupported
};
ScannedFile scanFile(const std::filesystem::path& file);

// scanFile for one image file; a skip reason becomes an Error (Corrupt, Unsupported or InvalidInput).
Result<DicomHeader> readHeader(const std::filesystem::path& file);

} // namespace jumeau::imaging::dicom
