#include "DicomHeader.h"
#include "DicomPlainParse.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

#include <zlib.h>

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

namespace {

// Values present in `from` override those in `into` (per-frame over shared over classic attributes).
void merge(FrameInfo& into, const FrameInfo& from) {
    if (from.position) into.position = from.position;
    if (from.orientation) into.orientation = from.orientation;
    if (from.pixelSpacing) into.pixelSpacing = from.pixelSpacing;
    if (from.rescaleSlope) into.rescaleSlope = from.rescaleSlope;
    if (from.rescaleIntercept) into.rescaleIntercept = from.rescaleIntercept;
    if (from.echoTime) into.echoTime = from.echoTime;
    if (from.temporalPosition) into.temporalPosition = from.temporalPosition;
    if (from.cardiacPhasePercent) into.cardiacPhasePercent = from.cardiacPhasePercent;
    if (from.triggerTime) into.triggerTime = from.triggerTime;
}

} // namespace

FrameInfo DicomHeader::frame(int index) const {
    FrameInfo f = image;
    if (index >= 0 && static_cast<std::size_t>(index) < perFrame.size())
        merge(f, perFrame[static_cast<std::size_t>(index)]);
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
    if (item.findAndGetFloat64(tag, v, pos).good()) return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
    Float32 f = 0; // FL elements (NominalPercentageOfCardiacPhase) are not read by findAndGetFloat64
    if (item.findAndGetFloat32(tag, f, pos).good() && std::isfinite(f)) return static_cast<double>(f);
    return std::nullopt;
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
    Uint32 ul = 0; // UL (e.g. TemporalPositionIndex)
    if (item.findAndGetUint32(tag, ul).good() && ul <= static_cast<Uint32>(std::numeric_limits<int>::max()))
        return static_cast<int>(ul);
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

// The scan reads an image's attributes through this interface, so one piece of code fills a header from DCMTK's
// parse (any file) and from the plain parse (DicomPlainParse.h). The plain reader has DCMTK's semantics for the
// values it knows and *doubts* everything else (a value it cannot parse exactly, a VR it did not expect, text that
// needs a character set conversion): the scan then drops its result and asks DCMTK.
class Attributes {
public:
    virtual ~Attributes() = default;
    virtual bool has(const DcmTagKey& tag) = 0;
    // All values joined by '\', trimmed (DCMTK findAndGetOFStringArray).
    virtual std::string text(const DcmTagKey& tag) = 0;
    // All values of a DS/FD/FL element; empty when absent or when any is not a finite number.
    virtual std::vector<double> numbers(const DcmTagKey& tag) = 0;
    // Value `pos` of a DS/FD/FL element, if present and finite.
    virtual std::optional<double> number(const DcmTagKey& tag, unsigned long pos = 0) = 0;
    // The first value of an IS/US/UL element.
    virtual std::optional<int> integer(const DcmTagKey& tag) = 0;
    // A name or description in UTF-8, whatever SpecificCharacterSet (`charset`) says.
    virtual std::string utf8(const DcmTagKey& tag, const std::string& charset) = 0;
    bool doubtful() const { return m_doubt; }

protected:
    void doubt() { m_doubt = true; }

private:
    bool m_doubt = false;
};

class DcmAttributes final : public Attributes {
public:
    explicit DcmAttributes(DcmItem& item) : m_item(item) {}
    bool has(const DcmTagKey& tag) override { return m_item.tagExists(tag); }
    std::string text(const DcmTagKey& tag) override { return getString(m_item, tag); }
    std::vector<double> numbers(const DcmTagKey& tag) override { return getDoubles(m_item, tag); }
    std::optional<double> number(const DcmTagKey& tag, unsigned long pos) override {
        return getDouble(m_item, tag, pos);
    }
    std::optional<int> integer(const DcmTagKey& tag) override { return getInt(m_item, tag); }
    std::string utf8(const DcmTagKey& tag, const std::string& charset) override {
        return utf8String(m_item, tag, charset);
    }

private:
    DcmItem& m_item;
};

// The plain parse's elements, read as DCMTK would read them where that is certain; see Attributes.
class PlainAttributes final : public Attributes {
public:
    explicit PlainAttributes(const PlainDataset& d) : m_d(d) {}

    bool has(const DcmTagKey& tag) override { return find(tag) != nullptr; }

    std::string text(const DcmTagKey& tag) override {
        const PlainElement* e = find(tag);
        if (e == nullptr) return {};
        if (vrOf(*e, tag) == EVR_SQ || !DcmVR(vrOf(*e, tag)).isaString()) {
            doubt();
            return {};
        }
        const std::string_view v = m_d.value(*e);
        // DCMTK normalises padded components of multi-valued strings per VR; such files are left to it.
        for (std::size_t start = 0, end = 0; end != std::string_view::npos; start = end + 1) {
            end = v.find('\\', start);
            const std::string_view c = v.substr(start, end == std::string_view::npos ? end : end - start);
            if (c.empty()) continue;
            const bool first = start == 0, last = end == std::string_view::npos;
            if ((!first && std::isspace(static_cast<unsigned char>(c.front()))) ||
                (!last && std::isspace(static_cast<unsigned char>(c.back()))))
                doubt();
        }
        return trim(std::string(v));
    }

    std::vector<double> numbers(const DcmTagKey& tag) override {
        std::vector<double> out;
        const PlainElement* e = find(tag);
        if (e == nullptr) return out;
        const std::string_view v = m_d.value(*e);
        switch (vrOf(*e, tag)) {
        case EVR_DS:
            if (trim(std::string(v)).empty()) return out;
            for (std::size_t start = 0, end = 0; end != std::string_view::npos; start = end + 1) {
                end = v.find('\\', start);
                std::string c = trim(std::string(v.substr(start, end == std::string_view::npos ? end : end - start)));
                if (!c.empty() && c.front() == '+') c.erase(0, 1);
                double x = 0;
                const auto [ptr, ec] = std::from_chars(c.data(), c.data() + c.size(), x);
                if (c.empty() || ec != std::errc() || ptr != c.data() + c.size() || !std::isfinite(x)) {
                    doubt();
                    return {};
                }
                out.push_back(x);
            }
            return out;
        case EVR_FD:
            for (std::size_t i = 0; i + 8 <= v.size(); i += 8) out.push_back(binary<double>(v.data() + i));
            break;
        case EVR_FL:
            for (std::size_t i = 0; i + 4 <= v.size(); i += 4)
                out.push_back(static_cast<double>(binary<float>(v.data() + i)));
            break;
        default: doubt(); return {};
        }
        if (!std::all_of(out.begin(), out.end(), [](double x) { return std::isfinite(x); })) return {};
        return out;
    }

    std::optional<double> number(const DcmTagKey& tag, unsigned long pos) override {
        const std::vector<double> v = numbers(tag);
        if (pos >= v.size()) return std::nullopt;
        return v[pos];
    }

    std::optional<int> integer(const DcmTagKey& tag) override {
        const PlainElement* e = find(tag);
        if (e == nullptr) return std::nullopt;
        const std::string_view v = m_d.value(*e);
        switch (vrOf(*e, tag)) {
        case EVR_IS: {
            std::string c = trim(std::string(v.substr(0, v.find('\\'))));
            if (c.empty()) return std::nullopt;
            if (c.front() == '+') c.erase(0, 1);
            std::int32_t x = 0;
            const auto [ptr, ec] = std::from_chars(c.data(), c.data() + c.size(), x);
            if (ec != std::errc() || ptr != c.data() + c.size()) {
                doubt();
                return std::nullopt;
            }
            return static_cast<int>(x);
        }
        case EVR_US:
            if (v.size() < 2) return std::nullopt;
            return static_cast<int>(binary<std::uint16_t>(v.data()));
        case EVR_UL: {
            if (v.size() < 4) return std::nullopt;
            const auto x = binary<std::uint32_t>(v.data());
            if (x > static_cast<std::uint32_t>(std::numeric_limits<int>::max())) return std::nullopt;
            return static_cast<int>(x);
        }
        default: doubt(); return std::nullopt;
        }
    }

    std::string utf8(const DcmTagKey& tag, const std::string& charset) override {
        std::string raw = text(tag);
        const bool ascii = std::all_of(raw.begin(), raw.end(), [](unsigned char c) { return c < 0x80; });
        if (ascii && charset.find("2022") == std::string::npos) return raw;
        // The two single-byte-exact cases DCMTK's iconv conversion is known to agree with; others are its to decide.
        if (charset == "ISO_IR 192" && isValidUtf8(raw)) return raw;
        if (charset == "ISO_IR 100") return latin1ToUtf8(raw);
        doubt();
        return raw;
    }

private:
    const PlainElement* find(const DcmTagKey& tag) const {
        return m_d.find(static_cast<std::uint32_t>(tag.getGroup()) << 16 | tag.getElement());
    }
    // The VR as written (explicit VR), else the dictionary's (implicit VR).
    DcmEVR vrOf(const PlainElement& e, const DcmTagKey& tag) const {
        if (e.undefinedLength) return EVR_SQ;
        if (m_d.explicitVr) {
            const char name[3] = {e.vr[0], e.vr[1], 0};
            return DcmVR(name).getEVR();
        }
        return DcmTag(tag).getEVR();
    }
    static_assert(std::endian::native == std::endian::little, "binary values are read in host byte order");
    template <typename T> static T binary(const char* p) {
        T x;
        std::memcpy(&x, p, sizeof x); // little endian: the plain parse only accepts little endian data sets
        return x;
    }

    const PlainDataset& m_d;
};

std::optional<Vec3> getVec3(Attributes& a, const DcmTagKey& tag) {
    const auto v = a.numbers(tag);
    if (v.size() < 3) return std::nullopt;
    return Vec3{v[0], v[1], v[2]};
}

std::optional<std::array<Vec3, 2>> getOrientation(Attributes& a) {
    const auto v = a.numbers(DCM_ImageOrientationPatient);
    if (v.size() < 6) return std::nullopt;
    const Vec3 r{v[0], v[1], v[2]}, c{v[3], v[4], v[5]};
    // A zero or parallel pair carries no orientation (seen in anonymised or broken files).
    if (geometry::norm(r) < 1e-6 || geometry::norm(c) < 1e-6 || geometry::norm(geometry::cross(r, c)) < 1e-3)
        return std::nullopt;
    return std::array<Vec3, 2>{r, c};
}

std::optional<std::array<double, 2>> getSpacing(Attributes& a, const DcmTagKey& tag) {
    const auto v = a.numbers(tag);
    if (v.size() < 2 || !(v[0] > 0) || !(v[1] > 0)) return std::nullopt;
    return std::array<double, 2>{v[0], v[1]};
}

void readWindows(Attributes& a, std::vector<WindowPreset>& out) {
    const auto centres = a.numbers(DCM_WindowCenter);
    const auto widths = a.numbers(DCM_WindowWidth);
    const std::string names = a.text(DCM_WindowCenterWidthExplanation);
    std::vector<std::string> explanation;
    std::string current;
    for (char ch : names) {
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
    if (DcmItem* pos = firstItem(group, DCM_PlanePositionSequence)) {
        DcmAttributes a(*pos);
        f.position = getVec3(a, DCM_ImagePositionPatient);
    }
    if (DcmItem* ori = firstItem(group, DCM_PlaneOrientationSequence)) {
        DcmAttributes a(*ori);
        f.orientation = getOrientation(a);
    }
    if (DcmItem* pm = firstItem(group, DCM_PixelMeasuresSequence)) {
        DcmAttributes a(*pm);
        f.pixelSpacing = getSpacing(a, DCM_PixelSpacing);
        if (!h.sliceThickness) h.sliceThickness = getDouble(*pm, DCM_SliceThickness);
        if (!h.spacingBetweenSlices) h.spacingBetweenSlices = getDouble(*pm, DCM_SpacingBetweenSlices);
    }
    if (DcmItem* pv = firstItem(group, DCM_PixelValueTransformationSequence)) {
        f.rescaleSlope = getDouble(*pv, DCM_RescaleSlope);
        f.rescaleIntercept = getDouble(*pv, DCM_RescaleIntercept);
    }
    if (DcmItem* fc = firstItem(group, DCM_FrameContentSequence))
        f.temporalPosition = getInt(*fc, DCM_TemporalPositionIndex);
    if (DcmItem* echo = firstItem(group, DCM_MREchoSequence)) f.echoTime = getDouble(*echo, DCM_EffectiveEchoTime);
    if (DcmItem* cardiac = firstItem(group, DCM_CardiacSynchronizationSequence)) {
        f.cardiacPhasePercent = getDouble(*cardiac, DCM_NominalPercentageOfCardiacPhase);
        f.triggerTime = getDouble(*cardiac, DCM_NominalCardiacTriggerDelayTime);
    }
    if (shared && h.windowPresets.empty())
        if (DcmItem* voi = firstItem(group, DCM_FrameVOILUTSequence)) {
            DcmAttributes a(*voi);
            readWindows(a, h.windowPresets);
        }
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

struct Located {
    std::optional<PixelDataLocation> location;
    std::string problem; // set when the element is there but broken
    ErrorCode code = ErrorCode::Corrupt;
};

// DCMTK stops parsing when it meets the top-level Pixel Data tag, with the stream positioned just after the element
// header (3.6.7) — we accept the header ending or starting at `pos` so a DCMTK that pushes the header back works too.
Located locatePixelData(const ByteSource& in, std::uint64_t pos, const DcmXfer& xfer) {
    Located r;
    const std::uint64_t fileSize = in.size();
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
        if (!in.readAt(at, h, 12) || !isPixelTag(h)) return false;
        const std::string vr{static_cast<char>(h[4]), static_cast<char>(h[5])};
        if (vr != "OB" && vr != "OW" && vr != "UN" && vr != "OF" && vr != "OD" && vr != "OL" && vr != "OV")
            return false;
        headerStart = at;
        valueLength = readU32(h + 8, be);
        wordValues = vr == "OW";
        return true;
    };
    const auto tryImplicit = [&](std::uint64_t at) {
        if (!in.readAt(at, h, 8) || !isPixelTag(h)) return false;
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
            if (!in.readAt(at, item, 8)) {
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

// What a non-DICOM file probably is, from its first bytes, so a folder of JPEGs or a zipped export is reported
// as such rather than as mysterious "not DICOM" files.
std::string describeNonDicom(const ByteSource& src) {
    unsigned char b[352] = {};
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(src.size(), sizeof b));
    if (!src.readAt(0, b, n)) return {};
    const auto starts = [&](std::initializer_list<int> magic) {
        if (magic.size() > n) return false;
        std::size_t i = 0;
        for (int m : magic)
            if (b[i++] != static_cast<unsigned char>(m)) return false;
        return true;
    };
    if (starts({0xFF, 0xD8, 0xFF})) return "looks like a JPEG image";
    if (starts({0x89, 'P', 'N', 'G'})) return "looks like a PNG image";
    if (starts({'G', 'I', 'F', '8'})) return "looks like a GIF image";
    if (starts({'I', 'I', 0x2A, 0x00}) || starts({'M', 'M', 0x00, 0x2A})) return "looks like a TIFF image";
    if (starts({'B', 'M'}) && n >= 26) return "looks like a BMP image";
    if (starts({0x00, 0x00, 0x00, 0x0C, 'j', 'P', ' ', ' '}) || starts({0xFF, 0x4F, 0xFF, 0x51}))
        return "looks like a JPEG 2000 image";
    if (starts({'%', 'P', 'D', 'F'})) return "looks like a PDF document";
    if (starts({'P', 'K', 0x03, 0x04})) return "looks like a ZIP archive";
    if (starts({0x1F, 0x8B})) return "looks like gzip-compressed data";
    if (starts({'N', 'R', 'R', 'D'})) return "looks like a NRRD volume";
    if (n >= 348 && b[0] == 0x5C && b[1] == 0x01 && b[2] == 0 && b[3] == 0 && b[344] == 'n' &&
        (b[345] == '+' || b[345] == 'i') && b[346] == '1')
        return "looks like a NIfTI volume";
    return {};
}

// ---- Siemens private data -----------------------------------------------------------------------------------------

// The tag of element `element` in the block a private creator reserved: (group, BBee) where (group, 00BB) holds the
// creator's name. Private blocks move between files, so the creator, not the number, identifies the element.
std::optional<DcmTagKey> privateTag(DcmItem& item, Uint16 group, const std::string& creator, Uint16 element) {
    for (Uint16 block = 0x10; block <= 0xFF; ++block) {
        if (getString(item, DcmTagKey(group, block)) == creator)
            return DcmTagKey(group, static_cast<Uint16>(block << 8 | (element & 0xFF)));
    }
    return std::nullopt;
}

// The raw bytes of an element of any VR (private elements of implicit VR files are "UN").
std::vector<std::uint8_t> rawBytesOf(DcmItem& item, const DcmTagKey& tag) {
    DcmElement* el = nullptr;
    if (item.findAndGetElement(tag, el).bad() || el == nullptr) return {};
    Uint8* bytes = nullptr;
    if (el->getUint8Array(bytes).bad() || bytes == nullptr) return {};
    return {bytes, bytes + el->getLength()};
}

} // namespace

// Siemens CSA header ("SV10" CSA2 or the older CSA1), the layout nibabel and dcm2niix document: [SV10, 4 bytes]
// uint32 tag count, uint32 unused; per tag: char name[64], int32 vm, char vr[4], int32 syngodt, int32 items,
// int32 unused; per item: int32[4] (CSA2: [1] is the value length; CSA1: [0] minus the item count of tag 1), then
// the value as text, padded to 4 bytes. Every count and length is checked against the buffer: this parses bytes
// from the file as they come.
std::optional<std::vector<std::string>> csaValues(const std::uint8_t* data, std::size_t size, const std::string& name) {
    std::size_t at = 0;
    const auto i32 = [&](std::int32_t& v) {
        if (size - at < 4) return false;
        std::uint32_t u = std::uint32_t(data[at]) | std::uint32_t(data[at + 1]) << 8 |
                          std::uint32_t(data[at + 2]) << 16 | std::uint32_t(data[at + 3]) << 24;
        std::memcpy(&v, &u, 4);
        at += 4;
        return true;
    };
    const bool csa2 = size >= 4 && std::memcmp(data, "SV10", 4) == 0;
    if (csa2) at = 8;
    std::int32_t tags = 0, unused = 0;
    if (at > size || !i32(tags) || !i32(unused) || tags <= 0 || tags > 1000) return std::nullopt;
    std::int32_t itemsOfTag1 = 0;
    for (std::int32_t t = 0; t < tags; ++t) {
        if (size - at < 64) return std::nullopt;
        const char* namePtr = reinterpret_cast<const char*>(data + at);
        const std::string tagName(namePtr, strnlen(namePtr, 64));
        at += 64;
        std::int32_t vm = 0, syngodt = 0, items = 0, last = 0;
        if (!i32(vm) || size - at < 4) return std::nullopt;
        at += 4; // VR
        if (!i32(syngodt) || !i32(items) || !i32(last) || items < 0 || items > 1000) return std::nullopt;
        if (t == 1) itemsOfTag1 = items;
        std::vector<std::string> values;
        for (std::int32_t i = 0; i < items; ++i) {
            std::int32_t x[4];
            for (auto& v : x)
                if (!i32(v)) return std::nullopt;
            const std::int64_t length = csa2 ? x[1] : std::int64_t{x[0]} - itemsOfTag1;
            if (length < 0 || static_cast<std::uint64_t>(length) > size - at) return std::nullopt;
            const auto len = static_cast<std::size_t>(length);
            const char* text = reinterpret_cast<const char*>(data + at);
            values.push_back(trim(std::string(text, strnlen(text, len))));
            at += len;
            at += std::min<std::size_t>((4 - len % 4) % 4, size - at);
        }
        if (tagName == name) {
            while (!values.empty() && values.back().empty()) values.pop_back();
            return values;
        }
    }
    return std::nullopt;
}

namespace {

std::optional<double> parseNumber(const std::string& text) {
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || !std::isfinite(v)) return std::nullopt;
    return v;
}

// Unpacks a Siemens mosaic (PS: not DICOM; the layout nibabel and dcm2niix document): N slices tiled in a grid of
// ceil(sqrt(N)) tiles per side. ImagePositionPatient refers to the top-left voxel of the whole mosaic as if it were
// one big slice centred on the volume, so the first tile's corner is that point moved by half the difference of
// the mosaic and tile extents along the column and row directions. The slices follow the CSA SliceNormalVector
// (which may point against row x column: sagittal mosaics often do), SpacingBetweenSlices apart.
void unpackMosaic(DcmDataset& ds, DicomHeader& h) {
    std::vector<std::uint8_t> csa;
    if (auto tag = privateTag(ds, 0x0029, "SIEMENS CSA HEADER", 0x10)) csa = rawBytesOf(ds, *tag);
    const auto csaFirst = [&](const std::string& name) -> std::optional<std::vector<std::string>> {
        if (csa.empty()) return std::nullopt;
        return csaValues(csa.data(), csa.size(), name);
    };
    int count = 0;
    if (auto v = csaFirst("NumberOfImagesInMosaic"); v && !v->empty())
        if (auto n = parseNumber(v->front())) count = *n >= 1 && *n <= 65535 ? static_cast<int>(*n) : 0;
    if (count == 0)
        if (auto tag = privateTag(ds, 0x0019, "SIEMENS MR HEADER", 0x0A)) {
            Uint16 n = 0;
            if (ds.findAndGetUint16(*tag, n).good()) {
                count = n;
            } else if (const auto raw = rawBytesOf(ds, *tag); raw.size() == 2) {
                count = raw[0] | raw[1] << 8; // implicit VR: US read as bytes, little endian
            }
        }
    if (count <= 0) {
        h.mosaicProblem = "the number of images in the mosaic is stated neither in the CSA header "
                          "(NumberOfImagesInMosaic) nor in (0019,100A)";
        return;
    }
    const PixelFormat& f = h.format;
    int across = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(count))));
    while (across * across < count) ++across;
    if (f.frames != 1 || f.rows % across != 0 || f.columns % across != 0) {
        h.mosaicProblem = std::to_string(count) + " images do not tile a " + std::to_string(f.columns) + "x" +
                          std::to_string(f.rows) + " mosaic" + (f.frames != 1 ? " of several frames" : "");
        return;
    }
    MosaicLayout m;
    m.count = count;
    m.across = across;
    m.mosaicRows = f.rows;
    m.mosaicColumns = f.columns;
    h.mosaic = m;
    h.format.rows = f.rows / across;
    h.format.columns = f.columns / across;
    h.format.frames = count;

    FrameInfo& img = h.image;
    if (!img.position || !img.orientation || !img.pixelSpacing) return; // stacked without geometry at load
    const Vec3 r = geometry::normalized((*img.orientation)[0]), c = geometry::normalized((*img.orientation)[1]);
    const double rowSpacing = (*img.pixelSpacing)[0], columnSpacing = (*img.pixelSpacing)[1];
    const Vec3 first = *img.position + c * (rowSpacing * (m.mosaicRows - h.format.rows) / 2.0) +
                       r * (columnSpacing * (m.mosaicColumns - h.format.columns) / 2.0);
    img.position = first;
    std::optional<double> step;
    if (h.spacingBetweenSlices && *h.spacingBetweenSlices > 0)
        step = h.spacingBetweenSlices;
    else if (h.sliceThickness && *h.sliceThickness > 0)
        step = h.sliceThickness;
    if (!step) return; // frames without positions: stacked along the normal at load, with a warning
    Vec3 normal = geometry::normalized(geometry::cross(r, c));
    if (auto v = csaFirst("SliceNormalVector"); v && v->size() >= 3) {
        const auto x = parseNumber((*v)[0]), y = parseNumber((*v)[1]), z = parseNumber((*v)[2]);
        if (x && y && z && geometry::dot(Vec3{*x, *y, *z}, normal) < 0) normal = -normal;
    }
    h.perFrame.assign(static_cast<std::size_t>(count), FrameInfo{});
    for (int k = 0; k < count; ++k) h.perFrame[static_cast<std::size_t>(k)].position = first + normal * (*step * k);
}

bool hasValue(const std::string& multi, const char* value) {
    std::size_t start = 0;
    while (start <= multi.size()) {
        const std::size_t end = std::min(multi.find('\\', start), multi.size());
        if (multi.compare(start, end - start, value) == 0) return true;
        start = end + 1;
    }
    return false;
}

// A DCMTK input stream over bytes in memory. Unlike DcmInputBufferStream it can re-open itself at an offset (a
// factory), so DCMTK defers reading values above the read limit exactly as it does for files: parsing from memory
// follows the file path, and a huge element length in a broken (or fuzzed) file is skipped, not allocated.
class MemoryProducer : public DcmProducer {
public:
    explicit MemoryProducer(ByteSource::Bytes bytes) : m_bytes(std::move(bytes)) {}
    OFBool good() const override { return OFTrue; }
    OFCondition status() const override { return EC_Normal; }
    OFBool eos() override { return m_pos >= m_bytes->size(); }
    offile_off_t avail() override { return static_cast<offile_off_t>(m_bytes->size() - m_pos); }
    offile_off_t read(void* buf, offile_off_t buflen) override {
        const std::size_t n =
            std::min<std::size_t>(static_cast<std::size_t>(std::max<offile_off_t>(buflen, 0)), m_bytes->size() - m_pos);
        if (n > 0) std::memcpy(buf, m_bytes->data() + m_pos, n);
        m_pos += n;
        return static_cast<offile_off_t>(n);
    }
    offile_off_t skip(offile_off_t skiplen) override {
        const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(std::max<offile_off_t>(skiplen, 0)),
                                                    m_bytes->size() - m_pos);
        m_pos += n;
        return static_cast<offile_off_t>(n);
    }
    void putback(offile_off_t num) override {
        m_pos -= std::min<std::size_t>(static_cast<std::size_t>(std::max<offile_off_t>(num, 0)), m_pos);
    }

private:
    ByteSource::Bytes m_bytes;
    std::size_t m_pos = 0;
};

class MemoryInputStream : public DcmInputStream {
public:
    // The base only stores the producer's address here (DCMTK's own file stream does the same).
    explicit MemoryInputStream(ByteSource::Bytes bytes)
        : DcmInputStream(&m_producer), m_producer(bytes), m_bytes(bytes) {}
    DcmInputStreamFactory* newFactory() const override;

private:
    MemoryProducer m_producer;
    ByteSource::Bytes m_bytes;
};

class MemoryInputStreamFactory : public DcmInputStreamFactory {
public:
    MemoryInputStreamFactory(ByteSource::Bytes bytes, offile_off_t offset)
        : m_bytes(std::move(bytes)), m_offset(offset) {}
    DcmInputStream* create() const override {
        auto* stream = new MemoryInputStream(m_bytes);
        stream->skip(m_offset);
        return stream;
    }
    DcmInputStreamFactory* clone() const override { return new MemoryInputStreamFactory(*this); }
    DcmInputStreamFactoryType ident() const override { return DFT_DcmInputFileStreamFactory; }

private:
    ByteSource::Bytes m_bytes;
    offile_off_t m_offset = 0;
};

DcmInputStreamFactory* MemoryInputStream::newFactory() const {
    // Behind a decompression filter (deflated data) positions are not byte offsets: values are read at once then.
    if (currentProducer() != &m_producer) return nullptr;
    return new MemoryInputStreamFactory(m_bytes, tell());
}

std::unique_ptr<DcmInputStream> openStream(const ByteSource::Bytes& memory, const fs::path& file) {
    if (memory) return std::make_unique<MemoryInputStream>(memory);
    return std::make_unique<DcmInputFileStream>(file.c_str());
}

struct MetaHeader {
    std::uint64_t end = 0;      // offset of the data set
    std::string transferSyntax; // (0002,0010)
};

// Reads only the File Meta Information, with DCMTK's own rules (group length, missing preamble), to learn the
// transfer syntax and where the data set starts before DCMTK reads the data set itself.
MetaHeader readMetaHeader(const ByteSource& src, const fs::path& file) {
    MetaHeader m;
    std::unique_ptr<DcmInputStream> stream = openStream(src.memory(), file);
    if (stream->status().bad()) return m;
    DcmMetaInfo meta;
    meta.transferInit();
    const OFCondition status = meta.read(*stream, EXS_Unknown, EGL_noChange, 4096);
    meta.transferEnd();
    if (status.bad()) return m;
    m.end = static_cast<std::uint64_t>(stream->tell());
    m.transferSyntax = getString(meta, DCM_TransferSyntaxUID);
    return m;
}

// The transfer syntax UID read straight from the File Meta Information bytes (always Explicit VR Little Endian,
// PS3.10 7.1), walking group 0002 from `start`; nullopt whenever anything is unusual (no (0002,0010) in the first
// bytes, odd lengths, ...), and the caller then asks DCMTK (readMetaHeader). Saves a second open and parse per file
// on the scan's common path: the answer only decides whether the data set is deflated.
std::optional<std::string> peekTransferSyntax(const ByteSource& src, std::uint64_t start) {
    std::array<std::uint8_t, 4096> buf{};
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(src.size(), buf.size()));
    if (!src.readAt(0, buf.data(), n)) return std::nullopt;
    const auto u16 = [&](std::size_t at) { return static_cast<unsigned>(buf[at] | buf[at + 1] << 8); };
    std::size_t at = static_cast<std::size_t>(start);
    while (at + 8 <= n && u16(at) == 0x0002) {
        const unsigned element = u16(at + 2);
        const char vr[3] = {static_cast<char>(buf[at + 4]), static_cast<char>(buf[at + 5]), 0};
        if (vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z') return std::nullopt;
        const std::string v = vr;
        std::size_t length = 0, header = 8;
        if (v == "OB" || v == "OW" || v == "OF" || v == "OD" || v == "OL" || v == "OV" || v == "SQ" || v == "UT" ||
            v == "UN" || v == "UC" || v == "UR" || v == "SV" || v == "UV") {
            if (at + 12 > n) return std::nullopt;
            length = static_cast<std::size_t>(u16(at + 8)) | static_cast<std::size_t>(u16(at + 10)) << 16;
            header = 12;
        } else {
            length = u16(at + 6);
        }
        if (length == 0xFFFFFFFFu || at + header + length > n) return std::nullopt;
        if (element == 0x0010) {
            std::string uid(reinterpret_cast<const char*>(buf.data() + at + header), length);
            while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
            return uid;
        }
        at += header + length;
    }
    return std::nullopt;
}

// Deflate's ratio is at most about 1:1032, so this many bytes of inflated data set per byte of file cannot be real.
constexpr std::uint64_t maxInflatedBytes = std::uint64_t{2} << 30;

ScannedFile scanSource(const ByteSource& src, const fs::path& file, const std::string& deflatedUid);

// A deflated data set (PS3.5 A.5: raw deflate after the meta header) is inflated here, once, and scanned as the
// Explicit VR Little Endian data set it holds. Left to DCMTK, it would be read through an inflate filter that cannot
// skip values: every element's stated length would be allocated before the data is found to be shorter.
ScannedFile scanDeflated(const ByteSource& src, const fs::path& file, const MetaHeader& meta) {
    const std::uint64_t compressedSize = src.size() - std::min(src.size(), meta.end);
    std::vector<std::uint8_t> compressed(static_cast<std::size_t>(compressedSize));
    if (!src.readAt(meta.end, compressed.data(), compressed.size()))
        return skip(ErrorCode::Corrupt, "truncated deflated data set");
    auto inflated = std::make_shared<std::vector<std::uint8_t>>();
    std::string problem;
    // Raw deflate as the standard says; some writers add a zlib header, which the second attempt accepts.
    for (const int windowBits : {-MAX_WBITS, MAX_WBITS}) {
        inflated->clear();
        problem.clear();
        z_stream z{};
        if (inflateInit2(&z, windowBits) != Z_OK) return skip(ErrorCode::Internal, "zlib could not be initialised");
        z.next_in = compressed.data();
        z.avail_in = static_cast<uInt>(std::min<std::size_t>(compressed.size(), UINT32_MAX));
        int rc = Z_OK;
        std::uint8_t chunk[1 << 16];
        while (rc == Z_OK) {
            z.next_out = chunk;
            z.avail_out = sizeof chunk;
            rc = inflate(&z, Z_NO_FLUSH);
            inflated->insert(inflated->end(), chunk, chunk + (sizeof chunk - z.avail_out));
            if (inflated->size() > maxInflatedBytes ||
                inflated->size() > 2000 * std::max<std::uint64_t>(compressedSize, 1)) {
                problem = "deflated data set inflates to more than " + std::to_string(inflated->size()) + " bytes";
                rc = Z_MEM_ERROR;
            }
        }
        if (problem.empty() && rc != Z_STREAM_END)
            problem =
                "truncated or corrupt deflated data set (zlib: " + std::string(z.msg ? z.msg : "stream incomplete") +
                ")";
        inflateEnd(&z);
        if (problem.empty()) break;
    }
    if (!problem.empty()) return skip(ErrorCode::Corrupt, problem);
    ByteSource dataset;
    dataset.openMemory(std::move(inflated));
    return scanSource(dataset, file, meta.transferSyntax);
}

std::string errnoText(int error) {
    if (error == EACCES || error == EPERM) return "permission denied";
    return std::strerror(error);
}

// `deflatedUid` set: `src` is the inflated data set of a deflated file (Explicit VR Little Endian, no meta header).
// Fills and checks an image header from its attributes (DicomHeader::file, memory, datasetOnly, transferSyntaxUid
// and deflated already set). `ds` is DCMTK's data set, or null for the plain parse, which does not read palettes,
// functional groups, ultrasound regions or mosaics: it returns nullopt for those, for any problem (DCMTK then reads
// the file again and explains it) and whenever the attributes were doubtful. `pixelPos`: where DCMTK stopped
// parsing (or the plain parse found the Pixel Data tag); nullopt: the data set ended without pixel data.
std::optional<ScannedFile> describeImage(Attributes& a, DcmDataset* ds, DicomHeader h, const ByteSource& src,
                                         std::optional<std::uint64_t> pixelPos, const DcmXfer& xfer) {
    const auto fail = [&](ErrorCode code, std::string reason) -> std::optional<ScannedFile> {
        if (ds == nullptr) return std::nullopt;
        return skip(code, std::move(reason));
    };
    h.sopClassUid = a.text(DCM_SOPClassUID);

    if (a.has(DCM_FloatPixelData) || a.has(DCM_DoubleFloatPixelData))
        return fail(ErrorCode::Unsupported,
                    "floating-point pixel data (" + sopClassName(h.sopClassUid) + ") is not supported");
    if (h.sopClassUid == UID_SegmentationStorage)
        return fail(ErrorCode::Unsupported,
                    "DICOM SEG (Segmentation Storage) is a segmentation, not an image series: not loaded as a volume");

    // Transfer syntax: known and decodable by the codecs registered in this DCMTK build?
    const DcmXfer declared(h.transferSyntaxUid.c_str());
    if (declared.getXfer() == EXS_Unknown)
        return fail(ErrorCode::Unsupported, describeUnknownTransferSyntax(h.transferSyntaxUid) + " transfer syntax (" +
                                                h.transferSyntaxUid + ") is not decodable with this DCMTK build");
    if (declared.isEncapsulated() && !DcmCodecList::canChangeCoding(declared.getXfer(), EXS_LittleEndianExplicit))
        return fail(ErrorCode::Unsupported, std::string(declared.getXferName()) + " transfer syntax (" +
                                                h.transferSyntaxUid + ") is not decodable with this DCMTK build");

    if (!pixelPos) return fail(ErrorCode::InvalidInput, "no pixel data (" + sopClassName(h.sopClassUid) + ")");
    const Located loc = locatePixelData(src, *pixelPos, xfer);
    if (!loc.problem.empty()) return fail(loc.code, loc.problem);
    if (!loc.location) return fail(ErrorCode::InvalidInput, "no pixel data (" + sopClassName(h.sopClassUid) + ")");
    h.pixels = *loc.location;
    if (h.pixels.encapsulated != declared.isEncapsulated())
        return fail(ErrorCode::Corrupt,
                    "pixel data encoding does not match the transfer syntax " + h.transferSyntaxUid);
    // Pixel format.
    PixelFormat& f = h.format;
    f.rows = a.integer(DCM_Rows).value_or(0);
    f.columns = a.integer(DCM_Columns).value_or(0);
    f.frames = a.integer(DCM_NumberOfFrames).value_or(1);
    f.samplesPerPixel = a.integer(DCM_SamplesPerPixel).value_or(1);
    f.bitsAllocated = a.integer(DCM_BitsAllocated).value_or(0);
    f.bitsStored = a.integer(DCM_BitsStored).value_or(f.bitsAllocated);
    f.highBit = a.integer(DCM_HighBit).value_or(f.bitsStored - 1);
    f.isSigned = a.integer(DCM_PixelRepresentation).value_or(0) == 1;
    f.planarConfiguration = a.integer(DCM_PlanarConfiguration).value_or(0);
    f.photometric = a.text(DCM_PhotometricInterpretation);
    if (f.photometric.empty()) f.photometric = f.samplesPerPixel == 3 ? "RGB" : "MONOCHROME2";
    if (f.rows <= 0 || f.columns <= 0) return fail(ErrorCode::Corrupt, "image has no Rows/Columns");
    if (f.frames <= 0) return fail(ErrorCode::Corrupt, "NumberOfFrames is " + std::to_string(f.frames));
    if (f.bitsAllocated == 1) return fail(ErrorCode::Unsupported, "1-bit pixel data is not supported");
    if (f.bitsAllocated != 8 && f.bitsAllocated != 16 && f.bitsAllocated != 32)
        return fail(ErrorCode::Unsupported,
                    std::to_string(f.bitsAllocated) + "-bit allocated pixels are not supported");
    if (f.bitsStored <= 0 || f.bitsStored > f.bitsAllocated || f.highBit < f.bitsStored - 1 ||
        f.highBit >= f.bitsAllocated)
        return fail(ErrorCode::Corrupt, "inconsistent BitsStored/HighBit (" + std::to_string(f.bitsStored) + "/" +
                                            std::to_string(f.highBit) + " for " + std::to_string(f.bitsAllocated) +
                                            " bits allocated)");
    const std::string& pi = f.photometric;
    const bool grey = pi == "MONOCHROME1" || pi == "MONOCHROME2";
    if (f.samplesPerPixel == 1 && !(grey || pi == "PALETTE COLOR"))
        return fail(ErrorCode::Unsupported, "photometric interpretation " + pi + " with one sample is not supported");
    if (f.samplesPerPixel == 3 && !(pi == "RGB" || pi == "YBR_FULL" || pi == "YBR_FULL_422"))
        return fail(ErrorCode::Unsupported, "photometric interpretation " + pi + " is not supported");
    if (f.samplesPerPixel != 1 && f.samplesPerPixel != 3)
        return fail(ErrorCode::Unsupported, std::to_string(f.samplesPerPixel) + " samples per pixel are not supported");
    if (f.samplesPerPixel == 3 && f.bitsAllocated == 32)
        return fail(ErrorCode::Unsupported, "32-bit colour pixels are not supported");
    if (!h.pixels.encapsulated) {
        const std::uint64_t need =
            static_cast<std::uint64_t>(f.frames) * (pi == "YBR_FULL_422" ? f.frameVoxels() * 2 : f.nativeFrameBytes());
        if (h.pixels.valueLength < need)
            return fail(ErrorCode::Corrupt, "pixel data too short: " + std::to_string(h.pixels.valueLength) +
                                                " bytes for " + std::to_string(f.frames) + " frame(s) of " +
                                                std::to_string(f.columns) + "x" + std::to_string(f.rows) + " (" +
                                                std::to_string(need) + " expected)");
    }
    if (pi == "PALETTE COLOR") {
        std::string problem;
        if (ds == nullptr) return std::nullopt; // palettes are read by DCMTK
        h.palette = readPalette(*ds, problem);
        if (!h.palette) return fail(ErrorCode::Unsupported, problem);
    }

    // Identification.
    const std::string charset = a.text(DCM_SpecificCharacterSet);
    h.patientName = a.utf8(DCM_PatientName, charset);
    h.patientId = a.utf8(DCM_PatientID, charset);
    h.patientBirthDate = a.text(DCM_PatientBirthDate);
    h.patientSex = a.text(DCM_PatientSex);
    h.studyUid = a.text(DCM_StudyInstanceUID);
    h.studyDate = a.text(DCM_StudyDate);
    h.studyDescription = a.utf8(DCM_StudyDescription, charset);
    h.seriesUid = a.text(DCM_SeriesInstanceUID);
    h.modality = a.text(DCM_Modality);
    h.seriesDescription = a.utf8(DCM_SeriesDescription, charset);
    h.bodyPart = a.text(DCM_BodyPartExamined);
    h.frameOfReferenceUid = a.text(DCM_FrameOfReferenceUID);
    h.seriesNumber = a.integer(DCM_SeriesNumber);
    h.instanceNumber = a.integer(DCM_InstanceNumber);
    h.acquisitionNumber = a.integer(DCM_AcquisitionNumber);
    h.echoNumber = a.integer(DCM_EchoNumbers);
    h.imageType = a.text(DCM_ImageType);
    for (auto& ch : h.imageType) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    h.isLocalizer = hasValue(h.imageType, "LOCALIZER") || hasValue(h.imageType, "SCOUT");
    h.gantryTilt = a.number(DCM_GantryDetectorTilt);

    // Geometry and value mapping: classic attributes first, then enhanced functional groups.
    h.image.position = getVec3(a, DCM_ImagePositionPatient);
    h.image.orientation = getOrientation(a);
    h.image.pixelSpacing = getSpacing(a, DCM_PixelSpacing);
    if (!h.image.pixelSpacing) h.image.pixelSpacing = getSpacing(a, DCM_ImagerPixelSpacing);
    h.image.rescaleSlope = a.number(DCM_RescaleSlope);
    h.image.rescaleIntercept = a.number(DCM_RescaleIntercept);
    if (!h.image.rescaleSlope && h.modality == "RTDOSE") h.image.rescaleSlope = a.number(DCM_DoseGridScaling);
    h.sliceThickness = a.number(DCM_SliceThickness);
    h.spacingBetweenSlices = a.number(DCM_SpacingBetweenSlices);
    h.gridFrameOffsets = a.numbers(DCM_GridFrameOffsetVector);
    h.hasModalityLutSequence = a.has(DCM_ModalityLUTSequence);
    h.isMosaic = hasValue(h.imageType, "MOSAIC");
    h.image.echoTime = a.number(DCM_EchoTime);
    h.image.temporalPosition = a.integer(DCM_TemporalPositionIdentifier);
    h.image.cardiacPhasePercent = a.number(DCM_NominalPercentageOfCardiacPhase);
    h.image.triggerTime = a.number(DCM_TriggerTime);
    readWindows(a, h.windowPresets);

    if (ds == nullptr) {
        if (a.doubtful() || h.isMosaic || a.has(DCM_SharedFunctionalGroupsSequence) ||
            a.has(DCM_PerFrameFunctionalGroupsSequence) || a.has(DCM_SequenceOfUltrasoundRegions))
            return std::nullopt;
        ScannedFile s;
        s.header = std::move(h);
        return s;
    }
    if (DcmItem* shared = firstItem(*ds, DCM_SharedFunctionalGroupsSequence)) {
        merge(h.image, readFunctionalGroup(*shared, h, true));
    }
    DcmSequenceOfItems* perFrame = nullptr;
    if (ds->findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, perFrame).good() && perFrame != nullptr) {
        if (perFrame->card() != static_cast<unsigned long>(f.frames))
            return skip(ErrorCode::Corrupt, "PerFrameFunctionalGroupsSequence has " + std::to_string(perFrame->card()) +
                                                " items for " + std::to_string(f.frames) + " frames");
        h.perFrame.reserve(perFrame->card());
        for (unsigned long i = 0; i < perFrame->card(); ++i)
            h.perFrame.push_back(readFunctionalGroup(*perFrame->getItem(i), h, false));
        if (h.windowPresets.empty())
            if (DcmItem* voi = firstItem(*perFrame->getItem(0), DCM_FrameVOILUTSequence)) {
                DcmAttributes va(*voi);
                readWindows(va, h.windowPresets);
            }
    }
    if (DcmItem* region = firstItem(*ds, DCM_SequenceOfUltrasoundRegions)) {
        const auto unitsX = getInt(*region, DCM_PhysicalUnitsXDirection),
                   unitsY = getInt(*region, DCM_PhysicalUnitsYDirection);
        const auto dx = getDouble(*region, DCM_PhysicalDeltaX), dy = getDouble(*region, DCM_PhysicalDeltaY);
        // Units code 3 is centimetres; other units (seconds, Hz for Doppler strips) are not lengths.
        if (unitsX == 3 && unitsY == 3 && dx && dy && *dx > 0 && *dy > 0)
            h.ultrasoundSpacing = std::array<double, 2>{*dy * 10.0, *dx * 10.0};
    }
    if (h.isMosaic) unpackMosaic(*ds, h);

    ScannedFile s;
    s.header = std::move(h);
    return s;
}

// The scan's fast path (DicomPlainParse.h): nullopt whenever the file is not plain or anything in it is doubtful,
// and then DCMTK reads it. Both paths fill the header through describeImage, so they agree on every value (the
// tests compare them on every file of the shared data).
std::optional<ScannedFile> scanPlain(const ByteSource& src, const fs::path& file) {
    const std::optional<PlainDataset> d = parsePlainDataset(src);
    if (!d) return std::nullopt;
    const DcmXfer xfer(d->transferSyntax.c_str());
    if (xfer.getXfer() == EXS_Unknown || xfer.isBigEndian() || xfer.getStreamCompression() != ESC_none ||
        xfer.isExplicitVR() != d->explicitVr || d->mediaStorageClass == UID_MediaStorageDirectoryStorage)
        return std::nullopt;
    PlainAttributes a(*d);
    if (a.has(DCM_DirectoryRecordSequence)) return std::nullopt;
    DicomHeader h;
    h.file = file;
    h.memory = src.memory();
    h.transferSyntaxUid = d->transferSyntax;
    h.plainParse = true;
    // Where DCMTK's stream stands when it stops: after the Pixel Data element's header.
    const std::uint64_t afterHeader = d->pixelDataTagOffset + (d->explicitVr ? 12 : 8);
    return describeImage(a, nullptr, std::move(h), src, afterHeader, xfer);
}

ScannedFile scanSource(const ByteSource& src, const fs::path& file, const std::string& deflatedUid = {}) {
    initDcmtk();
    const std::uint64_t fileSize = src.size();
    const bool bare = !deflatedUid.empty();
    if (fileSize == 0)
        return skip(bare ? ErrorCode::Corrupt : ErrorCode::InvalidInput,
                    bare ? "the deflated data set is empty" : "empty file (0 bytes): not a DICOM file");
    // The common case first, from one read of the file's head: the plain parse checks the preamble and the meta
    // header itself and declines deflated data sets (and anything else it is unsure of), which go on below.
    if (!bare && plainScanEnabled())
        if (auto plain = scanPlain(src, file)) return std::move(*plain);

    unsigned char pre[132] = {};
    const bool hasPreamble = !bare &&
                             src.readAt(0, pre, static_cast<std::size_t>(std::min<std::uint64_t>(fileSize, 132))) &&
                             pre[128] == 'D' && pre[129] == 'I' && pre[130] == 'C' && pre[131] == 'M';
    // A deflated data set is inflated first (scanDeflated says why); DCMTK decides from the meta header, so do we.
    // Only files with a meta header (after a preamble, or at the start: group 0002) can be deflated.
    const bool metaAtStart = pre[0] == 0x02 && pre[1] == 0x00;
    const auto peeked = bare || !(hasPreamble || metaAtStart) ? std::nullopt
                                                               : peekTransferSyntax(src, hasPreamble ? 132 : 0);
    const bool surelyNotDeflated = peeked && DcmXfer(peeked->c_str()).getStreamCompression() == ESC_none;
    if (!bare && (hasPreamble || metaAtStart) && !surelyNotDeflated)
        if (const MetaHeader meta = readMetaHeader(src, file);
            DcmXfer(meta.transferSyntax.c_str()).getStreamCompression() != ESC_none)
            return scanDeflated(src, file, meta);

    std::unique_ptr<DcmInputStream> stream = openStream(src.memory(), file);
    if (stream->status().bad()) return skip(ErrorCode::IoError, std::string("cannot open: ") + stream->status().text());
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    // Values above 4 KB (LUT data, overlays, private blobs) are left on disk and read on demand, so the scan reads
    // little more than the header bytes; parsing stops at the top-level Pixel Data.
    OFCondition status;
    if (bare) {
        ds.transferInit();
        status = ds.readUntilTag(*stream, EXS_LittleEndianExplicit, EGL_noChange, 4096, DCM_PixelData);
        ds.transferEnd();
    } else {
        ff.transferInit();
        status = ff.readUntilTag(*stream, EXS_Unknown, EGL_noChange, 4096, DCM_PixelData);
        ff.transferEnd();
    }
    const auto streamPos = static_cast<std::uint64_t>(stream->tell());
    const bool atEnd = stream->eos();

    const bool dicomLike = bare || hasPreamble || looksLikeDicom(ds);
    if (!dicomLike) {
        const std::string what = describeNonDicom(src);
        return skip(ErrorCode::InvalidInput, "not a DICOM file" + (what.empty() ? std::string() : " (" + what + ")"));
    }
    if (status.bad())
        return skip(ErrorCode::Corrupt,
                    std::string(hasPreamble ? "truncated or corrupt DICOM file" : "corrupt DICOM data set") +
                        " (DCMTK: " + status.text() + ")");

    OFString mediaClass;
    ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, mediaClass);
    if (mediaClass == UID_MediaStorageDirectoryStorage || ds.tagExists(DCM_DirectoryRecordSequence)) {
        ScannedFile s;
        s.dicomDirReferences = src.memory() ? std::vector<fs::path>{} : dicomDirReferences(ds, file);
        return s;
    }

    DicomHeader h;
    h.file = file;
    h.memory = src.memory();
    h.datasetOnly = bare;
    const DcmXfer xfer(bare ? EXS_LittleEndianExplicit : ds.getOriginalXfer());
    OFString tsUid;
    ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, tsUid);
    h.transferSyntaxUid = bare ? deflatedUid : trim(tsUid.c_str());
    if (h.transferSyntaxUid.empty()) h.transferSyntaxUid = xfer.getXferID();
    h.deflated = bare;
    // (For a deflated file `src` holds the inflated data set, so pixel offsets are in it, and decoding reads it.)
    DcmAttributes attributes(ds);
    return *describeImage(attributes, &ds, std::move(h), src, atEnd ? std::nullopt : std::optional(streamPos), xfer);
}

std::atomic<bool> g_plainScan{true};

} // namespace

void setPlainScan(bool enabled) {
    g_plainScan.store(enabled);
}

bool plainScanEnabled() {
    return g_plainScan.load(std::memory_order_relaxed);
}

ByteSource::~ByteSource() {
    if (m_fd >= 0) ::close(m_fd);
}

bool ByteSource::openFile(const fs::path& file, std::string& problem) {
    m_memory.reset();
    m_fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (m_fd < 0) {
        problem = errnoText(errno) + ": the file cannot be opened for reading";
        return false;
    }
    struct stat st {};
    if (::fstat(m_fd, &st) != 0) {
        problem = errnoText(errno) + ": cannot read the file size";
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        problem = "not a regular file";
        return false;
    }
    m_size = static_cast<std::uint64_t>(st.st_size);
    return true;
}

void ByteSource::openMemory(Bytes bytes) {
    m_memory = std::move(bytes);
    m_size = m_memory ? m_memory->size() : 0;
}

bool ByteSource::readAt(std::uint64_t offset, void* out, std::size_t n) const {
    if (offset > m_size || n > m_size - offset) return false;
    if (n == 0) return true; // (memcpy with an empty buffer's null data() is undefined)
    if (m_memory) {
        std::memcpy(out, m_memory->data() + offset, n);
        return true;
    }
    auto* dst = static_cast<char*>(out);
    while (n > 0) {
        const ssize_t got = ::pread(m_fd, dst, n, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        dst += got;
        offset += static_cast<std::uint64_t>(got);
        n -= static_cast<std::size_t>(got);
    }
    return true;
}

ScannedFile scanFile(const fs::path& file) {
    ByteSource src;
    std::string problem;
    if (!src.openFile(file, problem)) return skip(ErrorCode::IoError, problem);
    return scanSource(src, file);
}

ScannedFile scanMemory(ByteSource::Bytes bytes, const fs::path& name) {
    ByteSource src;
    src.openMemory(std::move(bytes));
    return scanSource(src, name);
}

Result<void> loadDataset(const DicomHeader& header, DcmFileFormat& ff) {
    initDcmtk();
    OFCondition cond;
    if (header.memory) {
        // As DcmFileFormat::loadFile does for files: values above 4 KB are read when used (pixel data on decoding).
        MemoryInputStream stream(header.memory);
        if (header.datasetOnly) {
            DcmDataset& ds = *ff.getDataset();
            ds.transferInit();
            cond = ds.read(stream, EXS_LittleEndianExplicit, EGL_noChange, 4096);
            ds.transferEnd();
        } else {
            ff.transferInit();
            cond = ff.read(stream, EXS_Unknown, EGL_noChange, 4096);
            ff.transferEnd();
        }
    } else {
        cond = ff.loadFile(header.file.c_str());
    }
    if (cond.bad())
        return makeError(ErrorCode::Corrupt,
                         header.file.string() + ": DCMTK could not read the file: " + std::string(cond.text()));
    return {};
}

PixelFormat DicomHeader::storedFormat() const {
    if (!mosaic) return format;
    PixelFormat f = format;
    f.rows = mosaic->mosaicRows;
    f.columns = mosaic->mosaicColumns;
    f.frames = 1;
    return f;
}

Result<DicomHeader> readHeader(const fs::path& file) {
    ScannedFile s = scanFile(file);
    if (s.header) return std::move(*s.header);
    if (s.dicomDirReferences) return makeError(ErrorCode::InvalidInput, file.string() + ": a DICOMDIR, not an image");
    return makeError(s.skipCode, file.string() + ": " + s.skipReason);
}

} // namespace jumeau::imaging::dicom
