#pragma once
// Private to imaging: the header-scan stage of the DICOM reader.
//
// A file is parsed with DCMTK up to (not including) its top-level Pixel Data; the pixel data is then located in
// the file by reading its element header and walking encapsulated fragments, without reading pixel values. That
// makes the scan cheap, catches truncated files before decoding, and is immune to junk after the pixel data
// (some GE files carry megabytes of zero padding that DCMTK would otherwise parse element by element).
//
// This header stays free of DCMTK types so the series logic (DicomSeriesReader.cpp) does not depend on them.
//
// Files can also be read from memory (scanMemory): the fuzzer drives the whole header and decode path that way,
// without touching the disk.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"
#include "jumeau/imaging/DicomSeriesReader.h"

class DcmFileFormat;

namespace jumeau::imaging::dicom {

using geometry::Vec3;

// The bytes of one file: the file on disk (read with pread, so one reader may serve several threads) or a buffer
// in memory. Opening reports why it failed (permission denied, ...), so skipped files name the real problem.
class ByteSource {
public:
    using Bytes = std::shared_ptr<const std::vector<std::uint8_t>>;
    ByteSource() = default;
    ByteSource(const ByteSource&) = delete;
    ByteSource& operator=(const ByteSource&) = delete;
    ~ByteSource();

    // Opens a file; on failure returns false and sets `problem` ("permission denied: ...", ...).
    bool openFile(const std::filesystem::path& file, std::string& problem);
    void openMemory(Bytes bytes);

    std::uint64_t size() const { return m_size; }
    // Reads exactly n bytes at offset; false when the source ends before (or an I/O error happens).
    bool readAt(std::uint64_t offset, void* out, std::size_t n) const;
    const Bytes& memory() const { return m_memory; }

private:
    int m_fd = -1;
    Bytes m_memory;
    std::uint64_t m_size = 0;
};

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

// Where the top-level Pixel Data sits in the file (in the inflated data set for deflated files). Native data is
// read at these offsets; encapsulated data is decoded through DCMTK.
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
    // What tells repeated acquisitions of one position apart (echoes, time points, cardiac phases). Classic files
    // carry them at the top level; enhanced files per frame (MR Echo, Frame Content, Cardiac Synchronization).
    std::optional<double> echoTime;            // EchoTime / EffectiveEchoTime, ms
    std::optional<int> temporalPosition;       // TemporalPositionIdentifier / TemporalPositionIndex
    std::optional<double> cardiacPhasePercent; // NominalPercentageOfCardiacPhase
    std::optional<double> triggerTime;         // TriggerTime / NominalCardiacTriggerDelayTime, ms
};

// A palette colour lookup table expanded to 8-bit RGB entries (segmented tables already expanded).
struct Palette {
    int firstMapped = 0; // stored value mapped to entry 0; values below/above clamp to the first/last entry
    std::vector<std::array<std::uint8_t, 3>> entries;
};

// A Siemens mosaic: `count` slices of tileRows x tileColumns tiled row by row, `across` tiles per mosaic row, in one
// stored image of mosaicRows x mosaicColumns. The header's `format` describes one tile and `frames` the tile count,
// so everything after the scan sees an ordinary multi-frame image with per-frame positions.
struct MosaicLayout {
    int count = 0;
    int across = 0;
    int mosaicRows = 0;
    int mosaicColumns = 0;
};

struct DicomHeader {
    std::filesystem::path file;
    ByteSource::Bytes memory; // set when scanned from memory, or inflated (deflated files): decoding reads these
    bool datasetOnly = false; // `memory` holds a bare data set (a deflated file's, inflated): no preamble, no meta
    std::string transferSyntaxUid;
    bool deflated = false; // Deflated Explicit VR Little Endian: inflated at the scan; offsets are in `memory`
    std::string sopClassUid;
    bool plainParse = false; // read by the plain parse (DicomPlainParse.h), not DCMTK's: for tests and diagnostics

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
    std::optional<int> acquisitionNumber;
    std::optional<int> echoNumber;    // EchoNumbers (first value)
    std::string imageType;            // ImageType values joined by '\\'
    bool isLocalizer = false;         // ImageType says LOCALIZER or SCOUT: a planning image, never a volume slice
    std::optional<double> gantryTilt; // GantryDetectorTilt, degrees (stated; the geometry comes from positions)

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
    std::optional<MosaicLayout> mosaic;  // set when the mosaic could be unpacked (format = one tile)
    std::string mosaicProblem;           // why a mosaic is not unpacked (then it is loaded as one 2D image)

    bool isMultiFrame() const { return format.frames > 1; }
    // The pixel layout as stored in the file: the whole mosaic for an unpacked mosaic, else `format`.
    PixelFormat storedFormat() const;
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
// The same for bytes in memory; `name` is used for messages and as DicomHeader::file.
ScannedFile scanMemory(ByteSource::Bytes bytes, const std::filesystem::path& name);

// The values (as text, trimmed) of one element of a Siemens CSA header ((0029,xx10) or (0029,xx20) bytes);
// nullopt when the element is absent or the header is malformed. Bounds-checked: the bytes come from the file.
std::optional<std::vector<std::string>> csaValues(const std::uint8_t* data, std::size_t size, const std::string& name);

// The scan reads plain files (classic slices in little endian, DicomPlainParse.h) without DCMTK's parser, and
// everything else with it. setPlainScan(false) makes it use DCMTK for every file: the tests compare both paths on
// every file they have, the benchmark measures the difference. Global (an atomic), on by default.
void setPlainScan(bool enabled);
bool plainScanEnabled();

// Reads the whole data set (pixel data included) of the file a header was scanned from, from disk or memory.
Result<void> loadDataset(const DicomHeader& header, DcmFileFormat& out);

// scanFile for one image file; a skip reason becomes an Error (Corrupt, Unsupported or InvalidInput).
Result<DicomHeader> readHeader(const std::filesystem::path& file);

} // namespace jumeau::imaging::dicom
