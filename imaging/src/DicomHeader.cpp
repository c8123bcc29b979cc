#include "DicomHeader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <mutex>

#include <dcmtk/config/osconfig.h> // must come first among DCMTK headers

#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmf.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcspchrs.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

namespace jumeau::imaging::dicom {

namespace fs = std::filesystem;

void initDcmtk() {
    static std::once_flag once;
    std::call_once(once, [] {
        // Registration is global in DCMTK and idempotent; decoders only: writing compressed data is not ours.
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
        // Some anonymisers rewrite every element as explicit VR "UN"; with this DCMTK re-reads such values with
        // their dictionary VR, so strings and numbers come back instead of hex dumps.
        dcmEnableUnknownVRConversion.set(OFTrue);
        for (const char* name : {"dcmtk.dcmdata", "dcmtk.dcmjpeg", "dcmtk.dcmjpls"})
            OFLog::getLogger(name).setLogLevel(OFLogger::FATAL_LOG_LEVEL);
    });
}

std::size_t PixelFormat::nativeFrameBytes() const {
    return frameVoxels() * static_cast<std::size_t>(samplesPerPixel) * static_cast<std::size_t>(bitsAllocated / 8);
}

FrameInfo DicomHeader::frame(int index) const {
    FrameInfo f = image;
    if (index >= 0 && static_cast<std::size_t>(index) < perFrame.size()) {
        const FrameInfo& p = perFrame[static_cast<std::size_t>(index)];
        if (p.position) f.position = p.position;
        if (p.orientation) f.orientation = p.orientation;
        if (p.pixelSpacing) f.pixelSpacing = p.pixelSpacing;
        if (p.rescaleSlope) f.rescaleSlope = p.rescaleSlope;
        if (p.rescaleIntercept) f.rescaleIntercept = p.rescaleIntercept;
    }
    return f;
}

namespace {

// ---- attribute access -------------------------------------------------------------------------------------------

std::string trim(std::string s) {
    const auto notSpace = [](unsigned char c) { return !std::isspace(c) && c != '\0'; };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), notSpace));
    s.erase(std::find_if(s.rbegin(), s.rend(), notSpace).base(), s.end());
    return s;
}

std::string getString(DcmItem& item, const DcmTagKey& tag) {
    OFString v;
    if (item.findAndGetOFStringArray(tag, v).bad()) return {};
    return trim(std::string(v.c_str(), v.length()));
}

std::optional<double> getDouble(DcmItem& item, const DcmTagKey& tag, unsigned long pos = 0) {
    Float64 v = 0;
    if (item.findAndGetFloat64(tag, v, pos).bad() || !std::isfinite(v)) return std::nullopt;
    return v;
}

std::vector<double> getDoubles(DcmItem& item, const DcmTagKey& tag) {
    std::vector<double> out;
    DcmElement* el = nullptr;
    if (item.findAndGetElement(tag, el).bad() || el == nullptr) return out;
    for (unsigned long i = 0; i < el->getVM(); ++i) {
        Float64 v = 0;
        if (el->getFloat64(v, i).bad() || !std::isfinite(v)) return {};
        out.push_back(v);
    }
    return out;
}

std::optional<int> getInt(DcmItem& item, const DcmTagKey& tag) {
    // IS and US elements both come through here; IS needs getSint32, US getUint16.
    Sint32 s = 0;
    if (item.findAndGetSint32(tag, s).good()) return static_cast<int>(s);
    Uint16 u = 0;
    if (item.findAndGetUint16(tag, u).good()) return static_cast<int>(u);
    return std::nullopt;
}

DcmItem* firstItem(DcmItem& item, const DcmTagKey& sequence) {
    DcmItem* sub = nullptr;
    if (item.findAndGetSequenceItem(sequence, sub, 0).bad()) return nullptr;
    return sub;
}

bool isValidUtf8(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t extra = c < 0x80             ? 0
                                  : (c & 0xE0) == 0xC0 ? 1
                                  : (c & 0xF0) == 0xE0 ? 2
                                  : (c & 0xF8) == 0xF0 ? 3
                                                       : 9;
        if (extra > 3 || i + extra >= s.size()) return false;
        for (std::size_t k = 1; k <= extra; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += extra + 1;
    }
    return true;
}

std::string latin1ToUtf8(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

// Person names honour SpecificCharacterSet through DCMTK's iconv-based converter. When conversion is not
// possible (no charset given but 8-bit bytes, unknown charset) the raw bytes are kept if they are valid UTF-8 and
// read as Latin-1 otherwise (the most common undeclared charset): callers get UTF-8 whatever the file says.
std::string utf8String(DcmItem& item, const DcmTagKey& tag, const std::string& charset) {
    const std::string raw = getString(item, tag);
    const bool ascii = std::all_of(raw.begin(), raw.end(), [](unsigned char c) { return c < 0x80; });
    if (raw.empty() || (ascii && charset.find("2022") == std::string::npos)) return raw;
    if (!charset.empty() && DcmSpecificCharacterSet::isConversionAvailable()) {
        DcmSpecificCharacterSet converter;
        OFString out;
        if (converter.selectCharacterSet(charset.c_str()).good() &&
            converter.convertString(OFString(raw.c_str(), raw.size()), out).good())
            return std::string(out.c_str(), out.length());
    }
    return isValidUtf8(raw) ? raw : latin1ToUtf8(raw);
}

std::optional<Vec3> getVec3(DcmItem& item, const DcmTagKey& tag) {
    const auto v = getDoubles(item, tag);
    if (v.size() < 3) return std::nullopt;
    return Vec3{v[0], v[1], v[2]};
}

std::optional<std::array<Vec3, 2>> getOrientation(DcmItem& item) {
    const auto v = getDoubles(item, DCM_ImageOrientationPatient);
    if (v.size() < 6) return std::nullopt;
    const Vec3 r{v[0], v[1], v[2]}, c{v[3], v[4], v[5]};
    // A zero or parallel pair carries no orientation (seen in anonymised or broken files).
    if (geometry::norm(r) < 1e-6 || geometry::norm(c) < 1e-6 || geometry::norm(geometry::cross(r, c)) < 1e-3)
        return std::nullopt;
    return std::array<Vec3, 2>{r, c};
}

std::optional<std::array<double, 2>> getSpacing(DcmItem& item, const DcmTagKey& tag) {
    const auto v = getDoubles(item, tag);
    if (v.size() < 2 || !(v[0] > 0) || !(v[1] > 0)) return std::nullopt;
    return std::array<double, 2>{v[0], v[1]};
}

void readWindows(DcmItem& item, std::vector<WindowPreset>& out) {
    const auto centres = getDoubles(item, DCM_WindowCenter);
    const auto widths = getDoubles(item, DCM_WindowWidth);
    OFString names;
    item.findAndGetOFStringArray(DCM_WindowCenterWidthExplanation, names);
    std::vector<std::string> explanation;
    std::string current;
    for (char ch : std::string(names.c_str(), names.length())) {
        if (ch == '\\') {
            explanation.push_back(trim(current));
            current.clear();
        } else {
            current += ch;
        }
    }
    explanation.push_back(trim(current));
    for (std::size_t i = 0; i < std::min(centres.size(), widths.size()); ++i) {
        if (!(widths[i] > 0)) continue; // width 0 (e.g. 3D-IRCADb) is "no window", not a preset
        WindowPreset p;
        p.centre = centres[i];
        p.width = widths[i];
        p.name = i < explanation.size() && !explanation[i].empty() ? explanation[i] : "Window " + std::to_string(i + 1);
        out.push_back(std::move(p));
    }
}

// Functional group macros of enhanced multi-frame objects (shared or per frame).
FrameInfo readFunctionalGroup(DcmItem& group, DicomHeader& h, bool shared) {
    FrameInfo f;
    if (DcmItem* pos = firstItem(group, DCM_PlanePositionSequence))
        f.position = getVec3(*pos, DCM_ImagePositionPatient);
    if (DcmItem* ori = firstItem(group, DCM_PlaneOrientationSequence)) f.orientation = getOrientation(*ori);
    if (DcmItem* pm = firstItem(group, DCM_PixelMeasuresSequence)) {
        f.pixelSpacing = getSpacing(*pm, DCM_PixelSpacing);
        if (!h.sliceThickness) h.sliceThickness = getDouble(*pm, DCM_SliceThickness);
        if (!h.spacingBetweenSlices) h.spacingBetweenSlices = getDouble(*pm, DCM_SpacingBetweenSlices);
    }
    if (DcmItem* pv = firstItem(group, DCM_PixelValueTransformationSequence)) {
        f.rescaleSlope = getDouble(*pv, DCM_RescaleSlope);
        f.rescaleIntercept = getDouble(*pv, DCM_RescaleIntercept);
    }
    if (shared && h.windowPresets.empty())
        if (DcmItem* voi = firstItem(group, DCM_FrameVOILUTSequence)) readWindows(*voi, h.windowPresets);
    return f;
}

// ---- palette colour ---------------------------------------------------------------------------------------------

// Expands one channel of a palette (plain or segmented, PS3.3 C.7.9) to 8-bit values.
std::optional<std::vector<std::uint8_t>> readPaletteChannel(DcmItem& item, const DcmTagKey& descriptorTag,
                                                            const DcmTagKey& dataTag, const DcmTagKey& segmentedTag,
                                                            int& firstMapped, std::string& problem) {
    // The descriptor is US or SS depending on the writer; read either as the unsigned bit pattern.
    const auto descriptorValue = [&](unsigned long pos) -> std::optional<Uint16> {
        Uint16 u = 0;
        if (item.findAndGetUint16(descriptorTag, u, pos).good()) return u;
        Sint16 s = 0;
        if (item.findAndGetSint16(descriptorTag, s, pos).good()) return static_cast<Uint16>(s);
        return std::nullopt;
    };
    const auto v0 = descriptorValue(0), v1 = descriptorValue(1), v2 = descriptorValue(2);
    if (!v0 || !v1 || !v2) {
        problem = "palette colour lookup table descriptor missing";
        return std::nullopt;
    }
    const Uint16 d0 = *v0, d1 = *v1, d2 = *v2;
    const std::size_t entries = d0 == 0 ? 65536 : d0;
    firstMapped = d1;
    const int bits = d2;
    const auto to8 = [bits](unsigned v) { return static_cast<std::uint8_t>(bits > 8 ? (v >> 8) & 0xFF : v & 0xFF); };

    const Uint16* words = nullptr;
    unsigned long count = 0;
    std::vector<std::uint8_t> out;
    if (item.findAndGetUint16Array(dataTag, words, &count).good() && words != nullptr && count > 0) {
        if (bits <= 8 && count * 2 == entries) {
            // Non-conformant but common: 8-bit entries packed two per 16-bit word (low byte first).
            for (unsigned long i = 0; i < count; ++i) {
                out.push_back(static_cast<std::uint8_t>(words[i] & 0xFF));
                out.push_back(static_cast<std::uint8_t>(words[i] >> 8));
            }
        } else {
            for (unsigned long i = 0; i < std::min<unsigned long>(count, entries); ++i) out.push_back(to8(words[i]));
        }
        return out;
    }
    if (item.findAndGetUint16Array(segmentedTag, words, &count).bad() || words == nullptr) {
        problem = "palette colour lookup table data missing";
        return std::nullopt;
    }
    std::vector<unsigned> values;
    unsigned long i = 0;
    while (i + 1 < count && values.size() < entries) {
        const unsigned opcode = words[i], length = words[i + 1];
        if (opcode == 0) { // discrete segment
            for (unsigned k = 0; k < length && i + 2 + k < count; ++k) values.push_back(words[i + 2 + k]);
            i += 2 + length;
        } else if (opcode == 1 && i + 2 < count && !values.empty()) { // linear segment from the previous value
            const double y0 = values.back(), y1 = words[i + 2];
            for (unsigned k = 1; k <= length; ++k)
                values.push_back(static_cast<unsigned>(std::lround(y0 + (y1 - y0) * k / length)));
            i += 3;
        } else {
            problem = "segmented palette colour lookup table with indirect segments is not supported";
            return std::nullopt;
        }
    }
    for (unsigned v : values) out.push_back(to8(v));
    return out;
}

std::optional<Palette> readPalette(DcmItem& item, std::string& problem) {
    Palette p;
    int firstR = 0, firstG = 0, firstB = 0;
    const auto r =
        readPaletteChannel(item, DCM_RedPaletteColorLookupTableDescriptor, DCM_RedPaletteColorLookupTableData,
                           DCM_SegmentedRedPaletteColorLookupTableData, firstR, problem);
    if (!r) return std::nullopt;
    const auto g =
        readPaletteChannel(item, DCM_GreenPaletteColorLookupTableDescriptor, DCM_GreenPaletteColorLookupTableData,
                           DCM_SegmentedGreenPaletteColorLookupTableData, firstG, problem);
    if (!g) return std::nullopt;
    const auto b =
        readPaletteChannel(item, DCM_BluePaletteColorLookupTableDescriptor, DCM_BluePaletteColorLookupTableData,
                           DCM_SegmentedBluePaletteColorLookupTableData, firstB, problem);
    if (!b) return std::nullopt;
    const std::size_t n = std::min({r->size(), g->size(), b->size()});
    if (n == 0) {
        problem = "empty palette colour lookup table";
        return std::nullopt;
    }
    p.firstMapped = firstR;
    p.entries.resize(n);
    for (std::size_t i = 0; i < n; ++i) p.entries[i] = {(*r)[i], (*g)[i], (*b)[i]};
    return p;
}

// ---- locating the pixel data ------------------------------------------------------------------------------------

std::uint32_t readU32(const unsigned char* p, bool bigEndian) {
    return bigEndian ? (std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3])
                     : (std::uint32_t(p[3]) << 24 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[1]) << 8 | p[0]);
}
std::uint16_t readU16(const unsigned char* p, bool bigEndian) {
    return bigEndian ? static_cast<std::uint16_t>(p[0] << 8 | p[1]) : static_cast<std::uint16_t>(p[1] << 8 | p[0]);
}

bool readAt(std::ifstream& in, std::uint64_t offset, unsigned char* buf, std::size_t n) {
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(reinterpret_cast<char*>(buf), static_cast<std::streamsize>(n));
    return static_cast<std::size_t>(in.gcount()) == n;
}

struct Located {
    std::optional<PixelDataLocation> location;
    std::string problem; // set when the element is there but broken
    ErrorCode code = ErrorCode::Corrupt;
};

// DCMTK stops parsing when it meets the top-level Pixel Data tag, with the stream positioned just after the element
// header (3.6.7) — we accept the header ending or starting at `pos` so a DCMTK that pushes the header back works too.
Located locatePixelData(const fs::path& file, std::uint64_t pos, std::uint64_t fileSize, const DcmXfer& xfer) {
    Located r;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        r.problem = "cannot reopen the file";
        r.code = ErrorCode::IoError;
        return r;
    }
    const bool be = xfer.isBigEndian();
    const bool explicitVr = xfer.isExplicitVR();
    const auto isPixelTag = [&](const unsigned char* p) {
        return readU16(p, be) == 0x7FE0 && readU16(p + 2, be) == 0x0010;
    };
    std::optional<std::uint64_t> headerStart;
    std::uint64_t valueLength = 0;
    bool wordValues = false;
    unsigned char h[12];
    const auto tryExplicit = [&](std::uint64_t at) {
        if (!readAt(in, at, h, 12) || !isPixelTag(h)) return false;
        const std::string vr{static_cast<char>(h[4]), static_cast<char>(h[5])};
        if (vr != "OB" && vr != "OW" && vr != "UN" && vr != "OF" && vr != "OD" && vr != "OL" && vr != "OV")
            return false;
        headerStart = at;
        valueLength = readU32(h + 8, be);
        wordValues = vr == "OW";
        return true;
    };
    const auto tryImplicit = [&](std::uint64_t at) {
        if (!readAt(in, at, h, 8) || !isPixelTag(h)) return false;
        headerStart = at;
        valueLength = readU32(h + 4, be);
        wordValues = true; // implicit VR pixel data is OW for > 8 bits; 8-bit implicit data is never byte-swapped
        return true;
    };
    std::uint64_t headerLength = 0;
    if (explicitVr) {
        if ((pos >= 12 && tryExplicit(pos - 12)) || tryExplicit(pos)) headerLength = 12;
    } else if ((pos >= 8 && tryImplicit(pos - 8)) || tryImplicit(pos)) {
        headerLength = 8;
    }
    if (!headerStart) return r; // not Pixel Data: DCMTK stopped at a higher tag (e.g. a trailing signature)

    PixelDataLocation loc;
    loc.bigEndian = be;
    loc.wordValues = wordValues && be;
    loc.valueOffset = *headerStart + headerLength;
    if (valueLength == 0xFFFFFFFFu) {
        // Encapsulated: walk the items (basic offset table, then fragments) to the sequence delimiter. Only item
        // headers are read, so this is cheap, and it tells a truncated file from a complete one before decoding.
        loc.encapsulated = true;
        std::uint64_t at = loc.valueOffset;
        int items = 0;
        for (;;) {
            unsigned char item[8];
            if (!readAt(in, at, item, 8)) {
                r.problem = "truncated: the file ends inside the compressed pixel data (after " +
                            std::to_string(std::max(items - 1, 0)) + " fragments)";
                return r;
            }
            const std::uint16_t g = readU16(item, false), e = readU16(item + 2, false);
            const std::uint32_t len = readU32(item + 4, false);
            if (g == 0xFFFE && e == 0xE0DD) break;
            if (g != 0xFFFE || e != 0xE000) {
                r.problem = "corrupt compressed pixel data (unexpected tag inside the fragment sequence)";
                return r;
            }
            at += 8 + static_cast<std::uint64_t>(len);
            if (at > fileSize) {
                r.problem = "truncated: the file ends inside compressed pixel data fragment " + std::to_string(items);
                return r;
            }
            ++items;
        }
        loc.fragments = std::max(items - 1, 0);
        if (loc.fragments == 0) {
            r.problem = "compressed pixel data has no fragments";
            return r;
        }
    } else {
        loc.valueLength = valueLength;
        if (loc.valueOffset + loc.valueLength > fileSize) {
            r.problem = "truncated: pixel data needs " + std::to_string(loc.valueLength) + " bytes but the file ends " +
                        std::to_string(fileSize - std::min(fileSize, loc.valueOffset)) + " bytes into it";
            return r;
        }
    }
    r.location = loc;
    return r;
}

// Transfer syntaxes newer than DCMTK 3.6.7's dictionary, named so a skipped file says what it is.
std::string describeUnknownTransferSyntax(const std::string& uid) {
    if (uid.starts_with("1.2.840.10008.1.2.4.20")) return "High-Throughput JPEG 2000";
    if (uid.starts_with("1.2.840.10008.1.2.4.11")) return "JPEG XL";
    if (uid == "1.2.840.10008.1.2.8.1") return "Deflated Image Frame Compression";
    if (uid.starts_with("1.2.840.10008.1.2.4.10")) return "MPEG/HEVC video";
    return "unknown";
}

ScannedFile skip(ErrorCode code, std::string reason) {
    ScannedFile s;
    s.skipCode = code;
    s.skipReason = std::move(reason);
    return s;
}

// Resolves a DICOMDIR ReferencedFileID (components joined by '\') below `root`, tolerating case differences
// (DICOMDIRs name files in upper case; copies on case-sensitive disks often are lower case).
std::optional<fs::path> resolveReference(const fs::path& root, const std::string& id) {
    fs::path p = root;
    std::string component;
    std::vector<std::string> components;
    for (char ch : id) {
        if (ch == '\\') {
            components.push_back(trim(component));
            component.clear();
        } else {
            component += ch;
        }
    }
    components.push_back(trim(component));
    std::error_code ec;
    for (const auto& c : components) {
        if (c.empty()) continue;
        if (fs::exists(p / c, ec)) {
            p /= c;
            continue;
        }
        bool found = false;
        for (const auto& e : fs::directory_iterator(p, ec)) {
            std::string name = e.path().filename().string();
            if (name.size() == c.size() && std::equal(name.begin(), name.end(), c.begin(), [](char a, char b) {
                    return std::toupper(static_cast<unsigned char>(a)) == std::toupper(static_cast<unsigned char>(b));
                })) {
                p = e.path();
                found = true;
                break;
            }
        }
        if (!found) return std::nullopt;
    }
    return fs::is_regular_file(p, ec) ? std::optional<fs::path>(p) : std::nullopt;
}

std::vector<fs::path> dicomDirReferences(DcmItem& dataset, const fs::path& dicomDir) {
    std::vector<fs::path> out;
    DcmSequenceOfItems* records = nullptr;
    if (dataset.findAndGetSequence(DCM_DirectoryRecordSequence, records).bad() || records == nullptr) return out;
    const fs::path root = dicomDir.parent_path().empty() ? fs::path(".") : dicomDir.parent_path();
    for (unsigned long i = 0; i < records->card(); ++i) {
        DcmItem* rec = records->getItem(i);
        if (rec == nullptr) continue;
        const std::string id = getString(*rec, DCM_ReferencedFileID);
        if (id.empty()) continue;
        if (auto p = resolveReference(root, id)) out.push_back(*p);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool looksLikeDicom(DcmDataset& ds) {
    return ds.tagExists(DCM_SOPClassUID) || ds.tagExists(DCM_StudyInstanceUID) ||
           (ds.tagExists(DCM_Rows) && ds.tagExists(DCM_Columns));
}

std::string sopClassName(const std::string& uid) {
    if (uid.empty()) return "no SOP Class";
    return dcmFindNameOfUID(uid.c_str(), uid.c_str());
}

} // namespace

ScannedFile scanFile(const fs::path& file) {
    initDcmtk();
    std::error_code ec;
    const std::uintmax_t fileSize = fs::file_size(file, ec);
    if (ec) return skip(ErrorCode::IoError, "cannot read file size (" + ec.message() + ")");
    if (fileSize == 0) return skip(ErrorCode::InvalidInput, "empty file (0 bytes): not a DICOM file");

    bool hasPreamble = false;
    {
        std::ifstream in(file, std::ios::binary);
        if (!in) return skip(ErrorCode::IoError, "cannot open the file for reading");
        unsigned char pre[132];
        hasPreamble =
            readAt(in, 0, pre, 132) && pre[128] == 'D' && pre[129] == 'I' && pre[130] == 'C' && pre[131] == 'M';
    }

    DcmInputFileStream stream(file.c_str());
    if (stream.status().bad()) return skip(ErrorCode::IoError, std::string("cannot open: ") + stream.status().text());
    DcmFileFormat ff;
    ff.transferInit();
    // Values above 4 KB (LUT data, overlays, private blobs) are left on disk and read on demand, so the scan reads
    // little more than the header bytes; parsing stops at the top-level Pixel Data.
    const OFCondition status = ff.readUntilTag(stream, EXS_Unknown, EGL_noChange, 4096, DCM_PixelData);
    ff.transferEnd();
    const auto streamPos = static_cast<std::uint64_t>(stream.tell());
    const bool atEnd = stream.eos();
    DcmDataset& ds = *ff.getDataset();

    const bool dicomLike = hasPreamble || looksLikeDicom(ds);
    if (!dicomLike) return skip(ErrorCode::InvalidInput, "not a DICOM file");
    if (status.bad())
        return skip(ErrorCode::Corrupt,
                    std::string(hasPreamble ? "truncated or corrupt DICOM file" : "corrupt DICOM data set") +
                        " (DCMTK: " + status.text() + ")");

    OFString mediaClass;
    ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, mediaClass);
    if (mediaClass == UID_MediaStorageDirectoryStorage || ds.tagExists(DCM_DirectoryRecordSequence)) {
        ScannedFile s;
        s.dicomDirReferences = dicomDirReferences(ds, file);
        return s;
    }

    DicomHeader h;
    h.file = file;
    const DcmXfer xfer(ds.getOriginalXfer());
    OFString tsUid;
    ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, tsUid);
    h.transferSyntaxUid = trim(tsUid.c_str());
    if (h.transferSyntaxUid.empty()) h.transferSyntaxUid = xfer.getXferID();
    h.deflated = xfer.getStreamCompression() != ESC_none;
    h.sopClassUid = getString(ds, DCM_SOPClassUID);

    if (ds.tagExists(DCM_FloatPixelData) || ds.tagExists(DCM_DoubleFloatPixelData))
        return skip(ErrorCode::Unsupported,
                    "floating-point pixel data (" + sopClassName(h.sopClassUid) + ") is not supported");
    if (h.sopClassUid == UID_SegmentationStorage)
        return skip(ErrorCode::Unsupported,
                    "DICOM SEG (Segmentation Storage) is a segmentation, not an image series: not loaded as a volume");

    // Transfer syntax: known and decodable by the codecs registered in this DCMTK build?
    const DcmXfer declared(h.transferSyntaxUid.c_str());
    if (declared.getXfer() == EXS_Unknown)
        return skip(ErrorCode::Unsupported, describeUnknownTransferSyntax(h.transferSyntaxUid) + " transfer syntax (" +
                                                h.transferSyntaxUid + ") is not decodable with this DCMTK build");
    if (declared.isEncapsulated() && !DcmCodecList::canChangeCoding(declared.getXfer(), EXS_LittleEndianExplicit))
        return skip(ErrorCode::Unsupported, std::string(declared.getXferName()) + " transfer syntax (" +
                                                h.transferSyntaxUid + ") is not decodable with this DCMTK build");

    if (h.deflated) {
        // Offsets in the inflated stream mean nothing in the file: trust DCMTK's parse and decode through it.
        if (atEnd) return skip(ErrorCode::InvalidInput, "no pixel data (" + sopClassName(h.sopClassUid) + ")");
    } else {
        if (atEnd) return skip(ErrorCode::InvalidInput, "no pixel data (" + sopClassName(h.sopClassUid) + ")");
        const Located loc = locatePixelData(file, streamPos, fileSize, xfer);
        if (!loc.problem.empty()) return skip(loc.code, loc.problem);
        if (!loc.location) return skip(ErrorCode::InvalidInput, "no pixel data (" + sopClassName(h.sopClassUid) + ")");
        h.pixels = *loc.location;
        if (h.pixels.encapsulated != declared.isEncapsulated())
            return skip(ErrorCode::Corrupt,
                        "pixel data encoding does not match the transfer syntax " + h.transferSyntaxUid);
    }

    // Pixel format.
    PixelFormat& f = h.format;
    f.rows = getInt(ds, DCM_Rows).value_or(0);
    f.columns = getInt(ds, DCM_Columns).value_or(0);
    f.frames = getInt(ds, DCM_NumberOfFrames).value_or(1);
    f.samplesPerPixel = getInt(ds, DCM_SamplesPerPixel).value_or(1);
    f.bitsAllocated = getInt(ds, DCM_BitsAllocated).value_or(0);
    f.bitsStored = getInt(ds, DCM_BitsStored).value_or(f.bitsAllocated);
    f.highBit = getInt(ds, DCM_HighBit).value_or(f.bitsStored - 1);
    f.isSigned = getInt(ds, DCM_PixelRepresentation).value_or(0) == 1;
    f.planarConfiguration = getInt(ds, DCM_PlanarConfiguration).value_or(0);
    f.photometric = getString(ds, DCM_PhotometricInterpretation);
    if (f.photometric.empty()) f.photometric = f.samplesPerPixel == 3 ? "RGB" : "MONOCHROME2";
    if (f.rows <= 0 || f.columns <= 0) return skip(ErrorCode::Corrupt, "image has no Rows/Columns");
    if (f.frames <= 0) return skip(ErrorCode::Corrupt, "NumberOfFrames is " + std::to_string(f.frames));
    if (f.bitsAllocated == 1) return skip(ErrorCode::Unsupported, "1-bit pixel data is not supported");
    if (f.bitsAllocated != 8 && f.bitsAllocated != 16 && f.bitsAllocated != 32)
        return skip(ErrorCode::Unsupported,
                    std::to_string(f.bitsAllocated) + "-bit allocated pixels are not supported");
    if (f.bitsStored <= 0 || f.bitsStored > f.bitsAllocated || f.highBit < f.bitsStored - 1 ||
        f.highBit >= f.bitsAllocated)
        return skip(ErrorCode::Corrupt, "inconsistent BitsStored/HighBit (" + std::to_string(f.bitsStored) + "/" +
                                            std::to_string(f.highBit) + " for " + std::to_string(f.bitsAllocated) +
                                            " bits allocated)");
    const std::string& pi = f.photometric;
    const bool grey = pi == "MONOCHROME1" || pi == "MONOCHROME2";
    if (f.samplesPerPixel == 1 && !(grey || pi == "PALETTE COLOR"))
        return skip(ErrorCode::Unsupported, "photometric interpretation " + pi + " with one sample is not supported");
    if (f.samplesPerPixel == 3 && !(pi == "RGB" || pi == "YBR_FULL" || pi == "YBR_FULL_422"))
        return skip(ErrorCode::Unsupported, "photometric interpretation " + pi + " is not supported");
    if (f.samplesPerPixel != 1 && f.samplesPerPixel != 3)
        return skip(ErrorCode::Unsupported, std::to_string(f.samplesPerPixel) + " samples per pixel are not supported");
    if (f.samplesPerPixel == 3 && f.bitsAllocated == 32)
        return skip(ErrorCode::Unsupported, "32-bit colour pixels are not supported");
    if (!h.pixels.encapsulated && !h.deflated) {
        const std::uint64_t need =
            static_cast<std::uint64_t>(f.frames) * (pi == "YBR_FULL_422" ? f.frameVoxels() * 2 : f.nativeFrameBytes());
        if (h.pixels.valueLength < need)
            return skip(ErrorCode::Corrupt, "pixel data too short: " + std::to_string(h.pixels.valueLength) +
                                                " bytes for " + std::to_string(f.frames) + " frame(s) of " +
                                                std::to_string(f.columns) + "x" + std::to_string(f.rows) + " (" +
                                                std::to_string(need) + " expected)");
    }
    if (pi == "PALETTE COLOR") {
        std::string problem;
        h.palette = readPalette(ds, problem);
        if (!h.palette) return skip(ErrorCode::Unsupported, problem);
    }

    // Identification.
    const std::string charset = getString(ds, DCM_SpecificCharacterSet);
    h.patientName = utf8String(ds, DCM_PatientName, charset);
    h.patientId = utf8String(ds, DCM_PatientID, charset);
    h.patientBirthDate = getString(ds, DCM_PatientBirthDate);
    h.patientSex = getString(ds, DCM_PatientSex);
    h.studyUid = getString(ds, DCM_StudyInstanceUID);
    h.studyDate = getString(ds, DCM_StudyDate);
    h.studyDescription = utf8String(ds, DCM_StudyDescription, charset);
    h.seriesUid = getString(ds, DCM_SeriesInstanceUID);
    h.modality = getString(ds, DCM_Modality);
    h.seriesDescription = utf8String(ds, DCM_SeriesDescription, charset);
    h.bodyPart = getString(ds, DCM_BodyPartExamined);
    h.frameOfReferenceUid = getString(ds, DCM_FrameOfReferenceUID);
    h.seriesNumber = getInt(ds, DCM_SeriesNumber);
    h.instanceNumber = getInt(ds, DCM_InstanceNumber);

    // Geometry and value mapping: classic attributes first, then enhanced functional groups.
    h.image.position = getVec3(ds, DCM_ImagePositionPatient);
    h.image.orientation = getOrientation(ds);
    h.image.pixelSpacing = getSpacing(ds, DCM_PixelSpacing);
    if (!h.image.pixelSpacing) h.image.pixelSpacing = getSpacing(ds, DCM_ImagerPixelSpacing);
    h.image.rescaleSlope = getDouble(ds, DCM_RescaleSlope);
    h.image.rescaleIntercept = getDouble(ds, DCM_RescaleIntercept);
    if (!h.image.rescaleSlope && h.modality == "RTDOSE") h.image.rescaleSlope = getDouble(ds, DCM_DoseGridScaling);
    h.sliceThickness = getDouble(ds, DCM_SliceThickness);
    h.spacingBetweenSlices = getDouble(ds, DCM_SpacingBetweenSlices);
    h.gridFrameOffsets = getDoubles(ds, DCM_GridFrameOffsetVector);
    h.hasModalityLutSequence = ds.tagExists(DCM_ModalityLUTSequence);
    h.isMosaic = getString(ds, DCM_ImageType).find("MOSAIC") != std::string::npos;
    readWindows(ds, h.windowPresets);

    if (DcmItem* shared = firstItem(ds, DCM_SharedFunctionalGroupsSequence)) {
        const FrameInfo s = readFunctionalGroup(*shared, h, true);
        if (s.position) h.image.position = s.position;
        if (s.orientation) h.image.orientation = s.orientation;
        if (s.pixelSpacing) h.image.pixelSpacing = s.pixelSpacing;
        if (s.rescaleSlope) h.image.rescaleSlope = s.rescaleSlope;
        if (s.rescaleIntercept) h.image.rescaleIntercept = s.rescaleIntercept;
    }
    DcmSequenceOfItems* perFrame = nullptr;
    if (ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, perFrame).good() && perFrame != nullptr) {
        if (perFrame->card() != static_cast<unsigned long>(f.frames))
            return skip(ErrorCode::Corrupt, "PerFrameFunctionalGroupsSequence has " + std::to_string(perFrame->card()) +
                                                " items for " + std::to_string(f.frames) + " frames");
        h.perFrame.reserve(perFrame->card());
        for (unsigned long i = 0; i < perFrame->card(); ++i)
            h.perFrame.push_back(readFunctionalGroup(*perFrame->getItem(i), h, false));
        if (h.windowPresets.empty())
            if (DcmItem* voi = firstItem(*perFrame->getItem(0), DCM_FrameVOILUTSequence))
                readWindows(*voi, h.windowPresets);
    }
    if (DcmItem* region = firstItem(ds, DCM_SequenceOfUltrasoundRegions)) {
        const auto unitsX = getInt(*region, DCM_PhysicalUnitsXDirection),
                   unitsY = getInt(*region, DCM_PhysicalUnitsYDirection);
        const auto dx = getDouble(*region, DCM_PhysicalDeltaX), dy = getDouble(*region, DCM_PhysicalDeltaY);
        // Units code 3 is centimetres; other units (seconds, Hz for Doppler strips) are not lengths.
        if (unitsX == 3 && unitsY == 3 && dx && dy && *dx > 0 && *dy > 0)
            h.ultrasoundSpacing = std::array<double, 2>{*dy * 10.0, *dx * 10.0};
    }

    ScannedFile s;
    s.header = std::move(h);
    return s;
}

Result<DicomHeader> readHeader(const fs::path& file) {
    ScannedFile s = scanFile(file);
    if (s.header) return std::move(*s.header);
    if (s.dicomDirReferences) return makeError(ErrorCode::InvalidInput, file.string() + ": a DICOMDIR, not an image");
    return makeError(s.skipCode, file.string() + ": " + s.skipReason);
}

} // namespace jumeau::imaging::dicom
