#include "DicomPlainParse.h"

#include <algorithm>
#include <cctype>

namespace jumeau::imaging::dicom {

namespace {

constexpr std::uint32_t pixelDataTag = 0x7FE00010u;
constexpr std::uint32_t undefined = 0xFFFFFFFFu;
constexpr int maxDepth = 16;

std::string trimmed(std::string_view v) {
    const auto notPad = [](char c) { return c != ' ' && c != '\0'; };
    const auto b = std::find_if(v.begin(), v.end(), notPad);
    const auto e = std::find_if(v.rbegin(), v.rend(), notPad).base();
    return b < e ? std::string(b, e) : std::string();
}

// Value representations of PS3.5 6.2 whose explicit form has a 2-byte reserved field and a 4-byte length.
bool longFormVr(char a, char b) {
    static constexpr const char* longForms[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
                                                "UT", "UV"};
    for (const char* vr : longForms)
        if (vr[0] == a && vr[1] == b) return true;
    return false;
}

bool knownVr(char a, char b) {
    static constexpr const char* shortForms[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS",
                                                 "LO", "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"};
    for (const char* vr : shortForms)
        if (vr[0] == a && vr[1] == b) return true;
    return longFormVr(a, b);
}

class Walker {
public:
    Walker(const std::vector<std::uint8_t>& bytes, bool explicitVr) : m_b(bytes), m_explicit(explicitVr) {}

    std::uint16_t u16(std::uint64_t at) const {
        return static_cast<std::uint16_t>(m_b[static_cast<std::size_t>(at)] |
                                          m_b[static_cast<std::size_t>(at) + 1] << 8);
    }
    std::uint32_t u32(std::uint64_t at) const {
        return static_cast<std::uint32_t>(u16(at)) | static_cast<std::uint32_t>(u16(at + 2)) << 16;
    }
    bool has(std::uint64_t at, std::uint64_t n) const { return at <= m_b.size() && n <= m_b.size() - at; }

    struct Header {
        std::uint32_t tag = 0;
        char vr[2] = {0, 0};
        std::uint32_t length = 0;
        std::uint64_t valueAt = 0;
    };

    // The element header at `at` (data set encoding), or nullopt when it is cut off or has an unknown VR.
    std::optional<Header> header(std::uint64_t at) const {
        if (!has(at, 8)) return std::nullopt;
        Header h;
        h.tag = static_cast<std::uint32_t>(u16(at)) << 16 | u16(at + 2);
        if ((h.tag >> 16) == 0xFFFE) { // item and delimitation tags never have a VR
            h.length = u32(at + 4);
            h.valueAt = at + 8;
            return h;
        }
        if (!m_explicit) {
            h.length = u32(at + 4);
            h.valueAt = at + 8;
            return h;
        }
        const char a = static_cast<char>(m_b[static_cast<std::size_t>(at) + 4]),
                   b = static_cast<char>(m_b[static_cast<std::size_t>(at) + 5]);
        if (!knownVr(a, b)) return std::nullopt;
        h.vr[0] = a;
        h.vr[1] = b;
        if (longFormVr(a, b)) {
            if (!has(at, 12)) return std::nullopt;
            h.length = u32(at + 8);
            h.valueAt = at + 12;
        } else {
            h.length = u16(at + 6);
            h.valueAt = at + 8;
        }
        return h;
    }

    // An undefined-length value may be a sequence, or (explicit VR, nested in an icon image) encapsulated pixel
    // data; both are items up to a sequence delimiter. Explicit UN of undefined length holds implicit VR data: no.
    bool undefinedAllowed(const Header& h) const {
        if (!m_explicit) return true;
        return (h.vr[0] == 'S' && h.vr[1] == 'Q') || (h.vr[0] == 'O' && (h.vr[1] == 'B' || h.vr[1] == 'W'));
    }

    // Skips the items of an undefined-length sequence starting at `at`; returns the offset after its delimiter.
    std::optional<std::uint64_t> skipSequence(std::uint64_t at, int depth) const {
        if (depth > maxDepth) return std::nullopt;
        for (;;) {
            if (!has(at, 8)) return std::nullopt;
            const std::uint32_t tag = static_cast<std::uint32_t>(u16(at)) << 16 | u16(at + 2);
            const std::uint32_t length = u32(at + 4);
            if (tag == 0xFFFEE0DDu) return at + 8;
            if (tag != 0xFFFEE000u) return std::nullopt;
            if (length == undefined) {
                const auto end = skipItem(at + 8, depth + 1);
                if (!end) return std::nullopt;
                at = *end;
            } else {
                if (!has(at + 8, length)) return std::nullopt;
                at += 8 + static_cast<std::uint64_t>(length);
            }
        }
    }

    // Skips the elements of an undefined-length item; returns the offset after its delimiter.
    std::optional<std::uint64_t> skipItem(std::uint64_t at, int depth) const {
        if (depth > maxDepth) return std::nullopt;
        for (;;) {
            const auto h = header(at);
            if (!h) return std::nullopt;
            if (h->tag == 0xFFFEE00Du) return h->valueAt;
            if ((h->tag >> 16) == 0xFFFE) return std::nullopt;
            if (h->length == undefined) {
                if (!undefinedAllowed(*h)) return std::nullopt;
                const auto end = skipSequence(h->valueAt, depth + 1);
                if (!end) return std::nullopt;
                at = *end;
            } else {
                if (!has(h->valueAt, h->length)) return std::nullopt;
                at = h->valueAt + h->length;
            }
        }
    }

private:
    const std::vector<std::uint8_t>& m_b;
    bool m_explicit;
};

} // namespace

const PlainElement* PlainDataset::find(std::uint32_t tag) const {
    const auto it =
        std::lower_bound(elements.begin(), elements.end(), tag, [](const PlainElement& e, std::uint32_t t) {
            return e.tag < t;
        });
    return it != elements.end() && it->tag == tag ? &*it : nullptr;
}

namespace {

std::optional<PlainDataset> parseHead(const ByteSource& src, std::size_t headBytes) {
    PlainDataset d;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(src.size(), headBytes));
    if (n < 132 + 12) return std::nullopt;
    d.head.resize(n);
    if (!src.readAt(0, d.head.data(), n)) return std::nullopt;
    const auto& b = d.head;
    if (b[128] != 'D' || b[129] != 'I' || b[130] != 'C' || b[131] != 'M') return std::nullopt;

    // File Meta Information: always Explicit VR Little Endian (PS3.10 7.1), group 0002 only.
    const Walker meta(b, true);
    std::uint64_t at = 132;
    std::optional<std::uint64_t> statedMetaEnd;
    while (meta.has(at, 8) && meta.u16(at) == 0x0002) {
        const auto h = meta.header(at);
        if (!h || h->length == undefined || (h->length & 1) != 0 || !meta.has(h->valueAt, h->length))
            return std::nullopt;
        const std::string_view value(reinterpret_cast<const char*>(b.data()) + h->valueAt, h->length);
        switch (h->tag & 0xFFFF) {
        case 0x0000: // group length: where the meta information ends
            if (h->length != 4) return std::nullopt;
            statedMetaEnd = h->valueAt + 4 + meta.u32(h->valueAt);
            break;
        case 0x0002: d.mediaStorageClass = trimmed(value); break;
        case 0x0010: d.transferSyntax = trimmed(value); break;
        default: break;
        }
        at = h->valueAt + h->length;
    }
    // DCMTK honours the group length; a file where it disagrees with the elements is left to DCMTK.
    if (statedMetaEnd && *statedMetaEnd != at) return std::nullopt;
    if (d.transferSyntax.empty()) return std::nullopt;
    if (d.transferSyntax == "1.2.840.10008.1.2") {
        d.explicitVr = false;
    } else if (d.transferSyntax == "1.2.840.10008.1.2.2" || d.transferSyntax == "1.2.840.10008.1.2.1.99") {
        return std::nullopt; // big endian, deflated
    }

    // The data set, up to the top-level Pixel Data.
    const Walker walk(b, d.explicitVr);
    std::uint32_t previous = 0;
    for (;;) {
        const auto h = walk.header(at);
        if (!h) return std::nullopt; // cut off by the head size (a long header), truncated, or not understood
        if (h->tag == pixelDataTag) {
            d.pixelDataTagOffset = at;
            break;
        }
        if ((h->tag >> 16) == 0xFFFE || (h->tag >> 16) == 0x0002 || h->tag <= previous || h->tag > pixelDataTag)
            return std::nullopt;
        previous = h->tag;
        PlainElement e;
        e.tag = h->tag;
        e.vr[0] = h->vr[0];
        e.vr[1] = h->vr[1];
        if (h->length == undefined) {
            if (!walk.undefinedAllowed(*h)) return std::nullopt;
            const auto end = walk.skipSequence(h->valueAt, 1);
            if (!end) return std::nullopt;
            e.undefinedLength = true;
            e.offset = static_cast<std::uint32_t>(h->valueAt);
            at = *end;
        } else {
            if ((h->length & 1) != 0 || !walk.has(h->valueAt, h->length)) return std::nullopt;
            e.offset = static_cast<std::uint32_t>(h->valueAt);
            e.length = h->length;
            at = h->valueAt + h->length;
        }
        d.elements.push_back(e);
    }
    d.head.resize(static_cast<std::size_t>(at)); // the pixel data's own bytes are not needed
    return d;
}

} // namespace

std::optional<PlainDataset> parsePlainDataset(const ByteSource& src, std::size_t headBytes) {
    // Most headers fit in a few kilobytes: read that first (a 64 KB read per file would copy half a CT slice), and
    // the whole head only when the first read was too short (or the file is declined: then it costs nothing new).
    constexpr std::size_t firstRead = 8 * 1024;
    if (headBytes > firstRead)
        if (auto d = parseHead(src, firstRead); d || src.size() <= firstRead) return d;
    return parseHead(src, headBytes);
}

} // namespace jumeau::imaging::dicom
