#include "DicomPixels.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>

#include <dcmtk/config/osconfig.h> // must come first among DCMTK headers

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging::dicom {

// Decoded buffers from DCMTK come in host byte order and are read as little endian below.
static_assert(std::endian::native == std::endian::little, "the DICOM decoder assumes a little-endian host");

std::size_t rawBytes(RawKind k) {
    switch (k) {
    case RawKind::UInt8:
        return 1;
    case RawKind::Int16:
        return 2;
    case RawKind::UInt16:
        return 2;
    case RawKind::Float32:
        return 4;
    case RawKind::Rgb8:
        return 3;
    }
    return 1;
}

RawKind rawKindFor(const PixelFormat& f) {
    if (f.isColour()) return RawKind::Rgb8;
    if (f.bitsAllocated == 8) return f.isSigned ? RawKind::Int16 : RawKind::UInt8;
    if (f.bitsAllocated == 16) return (f.isSigned || f.bitsStored <= 15) ? RawKind::Int16 : RawKind::UInt16;
    return RawKind::Float32;
}

std::optional<RawKind> joinRawKinds(RawKind a, RawKind b) {
    if (a == b) return a;
    if (a == RawKind::Rgb8 || b == RawKind::Rgb8) return std::nullopt;
    if (a == RawKind::Float32 || b == RawKind::Float32) return RawKind::Float32;
    const auto has = [&](RawKind k) { return a == k || b == k; };
    if (has(RawKind::UInt8) && has(RawKind::Int16)) return RawKind::Int16;
    if (has(RawKind::UInt8) && has(RawKind::UInt16)) return RawKind::UInt16;
    return RawKind::Float32; // Int16 with UInt16
}

namespace {

// How stored samples sit in their allocated bits (PS3.5 8.1.1): value bits end at HighBit; signed values are
// two's complement in BitsStored bits and must be sign-extended.
struct SampleLayout {
    int bytes = 2;
    bool bigEndian = false;
    unsigned shift = 0;
    std::uint32_t mask = 0xFFFF;
    std::uint32_t signBit = 0x8000;
    int bitsStored = 16;
    bool isSigned = false;
    bool invert = false;
    std::int64_t lo = 0, hi = 0; // stored value range, for MONOCHROME1 inversion

    explicit SampleLayout(const PixelFormat& f, bool be)
        : bytes(f.bitsAllocated / 8), bigEndian(be), shift(static_cast<unsigned>(f.highBit + 1 - f.bitsStored)),
          mask(f.bitsStored >= 32 ? 0xFFFFFFFFu : (std::uint32_t{1} << f.bitsStored) - 1),
          signBit(std::uint32_t{1} << (f.bitsStored - 1)), bitsStored(f.bitsStored), isSigned(f.isSigned),
          invert(f.photometric == "MONOCHROME1") {
        if (isSigned) {
            lo = -(std::int64_t{1} << (bitsStored - 1));
            hi = (std::int64_t{1} << (bitsStored - 1)) - 1;
        } else {
            lo = 0;
            hi = (std::int64_t{1} << bitsStored) - 1;
        }
    }

    std::uint32_t word(const std::uint8_t* p) const {
        switch (bytes) {
        case 1:
            return p[0];
        case 2:
            return bigEndian ? std::uint32_t(p[0]) << 8 | p[1] : std::uint32_t(p[1]) << 8 | p[0];
        default:
            return bigEndian ? std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3]
                             : std::uint32_t(p[3]) << 24 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[1]) << 8 | p[0];
        }
    }
    std::int64_t value(const std::uint8_t* p) const {
        const std::uint32_t w = (word(p) >> shift) & mask;
        std::int64_t v =
            (isSigned && (w & signBit)) ? std::int64_t(w) - (std::int64_t{1} << bitsStored) : std::int64_t(w);
        return invert ? lo + hi - v : v;
    }
};

// The common case — 8- or 16-bit little-endian samples that are not MONOCHROME1 (nearly every CT and MR) — as a
// branch-free loop the compiler vectorises: shift and mask, then sign-extend by (w ^ signBit) - signBit, which is
// the identity for unsigned formats (signBit 0). 32-bit arithmetic is exact here (at most 16 stored bits).
// Integer rescale fused into unpacking (RawVolume::slope/intercept); {1, 0} when the series rescales later.
struct IntRescale {
    std::int32_t slope = 1;
    std::int32_t intercept = 0;
};

template <typename Out, typename Word>
void unpackGreyFast(const std::uint8_t* src, std::size_t n, const SampleLayout& layout, Out* dst, ValueRange& range,
                    IntRescale rescale) {
    const auto shift = layout.shift;
    const auto mask = static_cast<std::int32_t>(layout.mask);
    const std::int32_t sign = layout.isSigned ? static_cast<std::int32_t>(layout.signBit) : 0;
    // Min/max in Out: the kind was chosen to hold every stored value (rawKindFor), and for Int16 — CT — SSE2 has
    // 16-bit signed min/max while 32-bit ones need SSE4.1, beyond the x86-64 baseline Debian builds for.
    Out mn = std::numeric_limits<Out>::max(), mx = std::numeric_limits<Out>::lowest();
    for (std::size_t i = 0; i < n; ++i) {
        Word w;
        std::memcpy(&w, src + i * sizeof(Word), sizeof(Word)); // unaligned-safe; compiles to a plain load
        const std::int32_t stored = (((static_cast<std::int32_t>(w) >> shift) & mask) ^ sign) - sign;
        const Out v = static_cast<Out>(stored);
        dst[i] = static_cast<Out>(stored * rescale.slope + rescale.intercept);
        mn = std::min(mn, v);
        mx = std::max(mx, v);
    }
    range = n == 0 ? ValueRange{} : ValueRange{static_cast<double>(mn), static_cast<double>(mx)};
}

template <typename Out>
void unpackGrey(const std::uint8_t* src, std::size_t n, const SampleLayout& layout, Out* dst, ValueRange& range,
                IntRescale rescale) {
    if (!layout.invert && layout.bitsStored <= 16 && (layout.bytes == 1 || (layout.bytes == 2 && !layout.bigEndian))) {
        if (layout.bytes == 1)
            unpackGreyFast<Out, std::uint8_t>(src, n, layout, dst, range, rescale);
        else
            unpackGreyFast<Out, std::uint16_t>(src, n, layout, dst, range, rescale);
        return;
    }
    std::int64_t mn = std::numeric_limits<std::int64_t>::max(), mx = std::numeric_limits<std::int64_t>::min();
    const std::size_t step = static_cast<std::size_t>(layout.bytes);
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t v = layout.value(src + i * step);
        dst[i] = static_cast<Out>(v * rescale.slope + rescale.intercept);
        mn = std::min(mn, v);
        mx = std::max(mx, v);
    }
    range = n == 0 ? ValueRange{} : ValueRange{static_cast<double>(mn), static_cast<double>(mx)};
}

std::uint8_t clamp8(double v) {
    return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

// YCbCr full range (PS3.3 C.7.6.3.1.2) to RGB.
Rgb8 ybrToRgb(double y, double cb, double cr) {
    return {clamp8(y + 1.402 * (cr - 128)), clamp8(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)),
            clamp8(y + 1.772 * (cb - 128))};
}

void unpackColour(const std::uint8_t* src, const PixelFormat& f, const SampleLayout& layout, const Palette* palette,
                  Rgb8* dst) {
    const std::size_t n = f.frameVoxels();
    const std::size_t step = static_cast<std::size_t>(layout.bytes);
    if (f.photometric == "PALETTE COLOR") {
        const auto last = static_cast<std::int64_t>(palette->entries.size()) - 1;
        for (std::size_t i = 0; i < n; ++i) {
            const std::int64_t idx =
                std::clamp<std::int64_t>(layout.value(src + i * step) - palette->firstMapped, 0, last);
            const auto& e = palette->entries[static_cast<std::size_t>(idx)];
            dst[i] = {e[0], e[1], e[2]};
        }
        return;
    }
    if (f.photometric == "YBR_FULL_422" && f.bitsAllocated == 8 && f.planarConfiguration == 0) {
        // Native 4:2:2: two pixels share chroma, stored Y0 Y1 Cb Cr.
        for (std::size_t i = 0; i < n; i += 2) {
            const std::uint8_t* q = src + i * 2;
            dst[i] = ybrToRgb(q[0], q[2], q[3]);
            if (i + 1 < n) dst[i + 1] = ybrToRgb(q[1], q[2], q[3]);
        }
        return;
    }
    // 16-bit colour keeps its 8 most significant stored bits.
    const int down = std::max(0, f.bitsStored - 8);
    const auto sample = [&](std::size_t i, std::size_t c) -> int {
        const std::size_t at = f.planarConfiguration == 1 ? c * n + i : i * 3 + c;
        return static_cast<int>((layout.value(src + at * step) >> down) & 0xFF);
    };
    const bool ybr = f.photometric != "RGB";
    for (std::size_t i = 0; i < n; ++i) {
        const int a = sample(i, 0), b = sample(i, 1), c = sample(i, 2);
        dst[i] = ybr ? ybrToRgb(a, b, c)
                     : Rgb8{static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b), static_cast<std::uint8_t>(c)};
    }
}

// Unpacks one frame (stored bytes) into slot `slot` of `out`.
void unpackFrame(const std::uint8_t* src, const PixelFormat& f, bool bigEndian, const Palette* palette,
                 const RawVolume& out, int slot, ValueRange& range) {
    const SampleLayout layout(f, bigEndian);
    const std::size_t n = f.frameVoxels();
    std::uint8_t* base =
        static_cast<std::uint8_t*>(out.base) + static_cast<std::size_t>(slot) * out.frameVoxels * rawBytes(out.kind);
    IntRescale rescale;
    if (out.slope && out.intercept)
        rescale = {out.slope[static_cast<std::size_t>(slot)], out.intercept[static_cast<std::size_t>(slot)]};
    switch (out.kind) {
    case RawKind::UInt8:
        unpackGrey(src, n, layout, reinterpret_cast<std::uint8_t*>(base), range, rescale);
        break;
    case RawKind::Int16:
        unpackGrey(src, n, layout, reinterpret_cast<std::int16_t*>(base), range, rescale);
        break;
    case RawKind::UInt16:
        unpackGrey(src, n, layout, reinterpret_cast<std::uint16_t*>(base), range, rescale);
        break;
    case RawKind::Float32:
        unpackGrey(src, n, layout, reinterpret_cast<float*>(base), range, rescale);
        break;
    case RawKind::Rgb8:
        unpackColour(src, f, layout, palette, reinterpret_cast<Rgb8*>(base));
        range = {0, 255};
        break;
    }
}

std::size_t storedFrameBytes(const PixelFormat& f) {
    return f.photometric == "YBR_FULL_422" ? f.frameVoxels() * 2 : f.nativeFrameBytes();
}

Error fileError(const DicomHeader& h, ErrorCode code, const std::string& what) {
    return makeError(code, h.file.string() + ": " + what);
}

Result<void> decodeNative(const DicomHeader& h, const PixelFormat& f, const RawVolume& out,
                          const std::vector<int>& slotOfFrame, std::vector<ValueRange>& ranges) {
    const std::size_t frameBytes = storedFrameBytes(f);
    ByteSource in;
    std::string problem;
    if (h.memory) {
        in.openMemory(h.memory);
    } else if (!in.openFile(h.file, problem)) {
        return fileError(h, ErrorCode::IoError, problem);
    }
    // Filled by each read before use: not zeroed first.
    const std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[frameBytes]);
    // 8-bit samples in a big-endian OW element are swapped in pairs like any 16-bit word.
    const bool swapPairs = h.pixels.bigEndian && h.pixels.wordValues && f.bitsAllocated == 8;
    for (std::size_t fr = 0; fr < slotOfFrame.size(); ++fr) {
        const int slot = slotOfFrame[fr];
        if (slot < 0) continue;
        if (!in.readAt(h.pixels.valueOffset + fr * frameBytes, buffer.get(), frameBytes))
            return fileError(h, ErrorCode::Corrupt, "truncated: frame " + std::to_string(fr + 1) + " is incomplete");
        if (swapPairs)
            for (std::size_t i = 0; i + 1 < frameBytes; i += 2) std::swap(buffer[i], buffer[i + 1]);
        unpackFrame(buffer.get(), f, h.pixels.bigEndian, h.palette ? &*h.palette : nullptr, out, slot,
                    ranges[static_cast<std::size_t>(slot)]);
    }
    return {};
}

Result<void> decodeWithDcmtk(const DicomHeader& h, const PixelFormat& stored, const RawVolume& out,
                             const std::vector<int>& slotOfFrame, std::vector<ValueRange>& ranges) {
    DcmFileFormat ff;
    if (auto loaded = loadDataset(h, ff); !loaded) return loaded.error();
    DcmDataset* ds = ff.getDataset();
    OFCondition cond = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
    if (cond.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
        return fileError(h, ErrorCode::Corrupt,
                         "decoding " + std::string(DcmXfer(h.transferSyntaxUid.c_str()).getXferName()) +
                             " pixel data failed" + (cond.bad() ? std::string(": ") + cond.text() : std::string()));

    // Decoders may change the colour model (JPEG YBR_FULL_422 → RGB) and the planar configuration.
    PixelFormat f = stored;
    OFString pi;
    if (ds->findAndGetOFString(DCM_PhotometricInterpretation, pi).good() && !pi.empty()) f.photometric = pi.c_str();
    Uint16 planar = 0;
    f.planarConfiguration = ds->findAndGetUint16(DCM_PlanarConfiguration, planar).good() ? planar : 0;
    // Only the header's palette can colour palette images: a decoded data set claiming PALETTE COLOR for an image
    // the header did not (crafted or broken files) has none to use.
    if (f.photometric == "PALETTE COLOR" && !h.palette)
        return fileError(h, ErrorCode::Corrupt, "decoded data is PALETTE COLOR but the header has no palette");

    DcmElement* pixelData = nullptr;
    Uint8* bytes = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, pixelData).bad() || pixelData == nullptr ||
        pixelData->getUint8Array(bytes).bad() || bytes == nullptr)
        return fileError(h, ErrorCode::Corrupt, "no decodable pixel data");
    const std::size_t frameBytes = storedFrameBytes(f);
    const std::size_t available = pixelData->getLength();
    for (std::size_t fr = 0; fr < slotOfFrame.size(); ++fr) {
        const int slot = slotOfFrame[fr];
        if (slot < 0) continue;
        if ((fr + 1) * frameBytes > available)
            return fileError(h, ErrorCode::Corrupt,
                             "decoded pixel data holds " + std::to_string(available) + " bytes, too few for frame " +
                                 std::to_string(fr + 1));
        unpackFrame(bytes + fr * frameBytes, f, false, h.palette ? &*h.palette : nullptr, out, slot,
                    ranges[static_cast<std::size_t>(slot)]);
    }
    return {};
}

Result<void> decodeStored(const DicomHeader& h, const PixelFormat& stored, const RawVolume& out,
                          const std::vector<int>& slotOfFrame, std::vector<ValueRange>& ranges) {
    if (h.pixels.encapsulated) return decodeWithDcmtk(h, stored, out, slotOfFrame, ranges);
    return decodeNative(h, stored, out, slotOfFrame, ranges);
}

template <typename T> ValueRange rangeOf(const T* p, std::size_t n) {
    if (n == 0) return {};
    const auto [lo, hi] = std::minmax_element(p, p + n);
    return {static_cast<double>(*lo), static_cast<double>(*hi)};
}

// A mosaic is decoded whole, then each wanted tile is copied into its slot (tiles run left to right, then down).
Result<void> decodeMosaic(const DicomHeader& h, const RawVolume& out, const std::vector<int>& slotOfFrame,
                          std::vector<ValueRange>& ranges) {
    const MosaicLayout& m = *h.mosaic;
    const PixelFormat stored = h.storedFormat();
    const std::size_t bytes = rawBytes(out.kind);
    std::vector<std::uint8_t> whole(stored.frameVoxels() * bytes);
    std::vector<ValueRange> wholeRange(1);
    if (auto r = decodeStored(h, stored, RawVolume{out.kind, whole.data(), stored.frameVoxels()}, {0}, wholeRange); !r)
        return r;
    const auto tileRows = static_cast<std::size_t>(h.format.rows),
               tileColumns = static_cast<std::size_t>(h.format.columns);
    const auto mosaicColumns = static_cast<std::size_t>(m.mosaicColumns);
    for (std::size_t t = 0; t < slotOfFrame.size(); ++t) {
        const int slot = slotOfFrame[t];
        if (slot < 0) continue;
        const std::size_t tileRow = t / static_cast<std::size_t>(m.across),
                          tileColumn = t % static_cast<std::size_t>(m.across);
        std::uint8_t* dst =
            static_cast<std::uint8_t*>(out.base) + static_cast<std::size_t>(slot) * out.frameVoxels * bytes;
        for (std::size_t y = 0; y < tileRows; ++y) {
            const std::size_t from = ((tileRow * tileRows + y) * mosaicColumns + tileColumn * tileColumns) * bytes;
            std::memcpy(dst + y * tileColumns * bytes, whole.data() + from, tileColumns * bytes);
        }
        ValueRange& range = ranges[static_cast<std::size_t>(slot)];
        switch (out.kind) {
        case RawKind::UInt8:
            range = rangeOf(reinterpret_cast<const std::uint8_t*>(dst), out.frameVoxels);
            break;
        case RawKind::Int16:
            range = rangeOf(reinterpret_cast<const std::int16_t*>(dst), out.frameVoxels);
            break;
        case RawKind::UInt16:
            range = rangeOf(reinterpret_cast<const std::uint16_t*>(dst), out.frameVoxels);
            break;
        case RawKind::Float32:
            range = rangeOf(reinterpret_cast<const float*>(dst), out.frameVoxels);
            break;
        case RawKind::Rgb8:
            range = {0, 255};
            break;
        }
    }
    return {};
}

} // namespace

Result<void> decodeFrames(const DicomHeader& header, const RawVolume& out, const std::vector<int>& slotOfFrame,
                          std::vector<ValueRange>& ranges) {
    initDcmtk();
    assert(slotOfFrame.size() == static_cast<std::size_t>(header.format.frames));
    assert(out.frameVoxels == header.format.frameVoxels());
    try {
        if (header.mosaic) return decodeMosaic(header, out, slotOfFrame, ranges);
        return decodeStored(header, header.format, out, slotOfFrame, ranges);
    } catch (const std::exception& e) { // bad_alloc on absurd sizes, stream errors
        return fileError(header, ErrorCode::Internal, std::string("decoding failed: ") + e.what());
    }
}

} // namespace jumeau::imaging::dicom
