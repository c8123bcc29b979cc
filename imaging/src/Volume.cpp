#include "jumeau/imaging/Volume.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include <sys/mman.h>
#include <limits>

namespace jumeau::imaging {

const char* toString(PixelType t) {
    switch (t) {
    case PixelType::UInt8: return "uint8";
    case PixelType::Int16: return "int16";
    case PixelType::UInt16: return "uint16";
    case PixelType::Int32: return "int32";
    case PixelType::Float32: return "float32";
    case PixelType::RGB8: return "rgb8";
    }
    return "?";
}

std::size_t bytesPerVoxel(PixelType t) {
    switch (t) {
    case PixelType::UInt8: return 1;
    case PixelType::Int16: return 2;
    case PixelType::UInt16: return 2;
    case PixelType::Int32: return 4;
    case PixelType::Float32: return 4;
    case PixelType::RGB8: return 3;
    }
    return 1;
}

void* allocateVoxelMemory(std::size_t bytes) {
    constexpr std::size_t hugePage = std::size_t{2} << 20;
    if (bytes < 2 * hugePage) {
        void* p = std::malloc(bytes == 0 ? 1 : bytes);
        if (!p) throw std::bad_alloc();
        return p;
    }
    const std::size_t rounded = (bytes + hugePage - 1) / hugePage * hugePage;
    void* p = std::aligned_alloc(hugePage, rounded);
    if (!p) throw std::bad_alloc();
    ::madvise(p, rounded, MADV_HUGEPAGE); // advice only: without huge pages the buffer works the same
    return p;
}

void releaseVoxelMemory(void* p) noexcept {
    std::free(p); // both malloc and aligned_alloc memory
}

namespace {

inline double luminance(const Rgb8& c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b; }

template <typename F>
void visitTyped(const Volume& v, F&& f) {
    switch (v.pixelType()) {
    case PixelType::UInt8: f(v.data<std::uint8_t>()); break;
    case PixelType::Int16: f(v.data<std::int16_t>()); break;
    case PixelType::UInt16: f(v.data<std::uint16_t>()); break;
    case PixelType::Int32: f(v.data<std::int32_t>()); break;
    case PixelType::Float32: f(v.data<float>()); break;
    case PixelType::RGB8: f(v.data<Rgb8>()); break;
    }
}

template <typename T> double scalar(const T& x) {
    if constexpr (std::is_same_v<T, Rgb8>) return luminance(x);
    else return static_cast<double>(x);
}

} // namespace

double Volume::valueAt(int i, int j, int k) const {
    assert(m_geometry.contains(i, j, k));
    const std::size_t idx = m_geometry.linearIndex(i, j, k);
    double out = 0;
    visitTyped(*this, [&](const auto* p) { out = scalar(p[idx]); });
    return out;
}

std::pair<double, double> Volume::range() const {
    if (empty() || m_geometry.voxelCount() == 0) return {0, 0};
    double lo = std::numeric_limits<double>::max(), hi = std::numeric_limits<double>::lowest();
    visitTyped(*this, [&](const auto* p) {
        const std::size_t n = m_geometry.voxelCount();
        for (std::size_t i = 0; i < n; ++i) {
            const double v = scalar(p[i]);
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    });
    return {lo, hi};
}

Volume Volume::toFloat() const {
    std::vector<float> out(m_geometry.voxelCount());
    visitTyped(*this, [&](const auto* p) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(scalar(p[i]));
    });
    return Volume::create(m_geometry, std::move(out));
}

Volume Volume::withGeometry(const ImageGeometry& g) const {
    assert(g.size == m_geometry.size);
    Volume v = *this;
    v.m_geometry = g;
    return v;
}

} // namespace jumeau::imaging
