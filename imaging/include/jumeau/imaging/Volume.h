#pragma once
// A typed voxel buffer with its geometry. The buffer is shared and immutable: copies of a Volume are cheap
// and views handed to ITK/VTK stay valid while any copy lives. Build voxels in a std::vector, then move it in.

#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "jumeau/imaging/ImageGeometry.h"

namespace jumeau::imaging {

enum class PixelType { UInt8, Int16, UInt16, Int32, Float32, RGB8 };

const char* toString(PixelType t);
std::size_t bytesPerVoxel(PixelType t);

struct Rgb8 {
    std::uint8_t r = 0, g = 0, b = 0;
    bool operator==(const Rgb8&) const = default;
};

template <typename T> struct PixelTypeOf;
template <> struct PixelTypeOf<std::uint8_t> { static constexpr PixelType value = PixelType::UInt8; };
template <> struct PixelTypeOf<std::int16_t> { static constexpr PixelType value = PixelType::Int16; };
template <> struct PixelTypeOf<std::uint16_t> { static constexpr PixelType value = PixelType::UInt16; };
template <> struct PixelTypeOf<std::int32_t> { static constexpr PixelType value = PixelType::Int32; };
template <> struct PixelTypeOf<float> { static constexpr PixelType value = PixelType::Float32; };
template <> struct PixelTypeOf<Rgb8> { static constexpr PixelType value = PixelType::RGB8; };

// Allocator for voxel buffers that the producer fills completely (decoders, filters): elements are
// default-initialised (no zero-fill pass over memory about to be overwritten), and buffers of 4 MiB or more are
// 2 MiB-aligned and advised for transparent huge pages, so the kernel maps them with ~500x fewer page faults.
void* allocateVoxelMemory(std::size_t bytes);
void releaseVoxelMemory(void* p) noexcept;

template <typename T> struct VoxelAllocator {
    using value_type = T;
    VoxelAllocator() = default;
    template <typename U> VoxelAllocator(const VoxelAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(allocateVoxelMemory(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { releaseVoxelMemory(p); }
    template <typename U, typename... Args> void construct(U* p, Args&&... args) {
        if constexpr (sizeof...(Args) == 0)
            ::new (static_cast<void*>(p)) U; // default-initialise: no zero-fill for arithmetic types
        else
            ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
    template <typename U> bool operator==(const VoxelAllocator<U>&) const noexcept { return true; }
};
// A voxel buffer whose elements start uninitialised: write every element before use.
template <typename T> using VoxelBuffer = std::vector<T, VoxelAllocator<T>>;

class Volume {
public:
    Volume() = default;

    template <typename T, typename Allocator>
    static Volume create(const ImageGeometry& geometry, std::vector<T, Allocator>&& voxels) {
        assert(voxels.size() == geometry.voxelCount());
        Volume v;
        v.m_geometry = geometry;
        v.m_type = PixelTypeOf<T>::value;
        auto owned = std::make_shared<const std::vector<T, Allocator>>(std::move(voxels));
        v.m_data = owned->data();
        v.m_owner = std::move(owned);
        return v;
    }

    const ImageGeometry& geometry() const { return m_geometry; }
    PixelType pixelType() const { return m_type; }
    bool empty() const { return m_owner == nullptr; }
    std::size_t byteCount() const { return m_geometry.voxelCount() * bytesPerVoxel(m_type); }

    template <typename T> bool holds() const { return !empty() && m_type == PixelTypeOf<T>::value; }
    template <typename T> const T* data() const {
        assert(holds<T>());
        return static_cast<const T*>(m_data);
    }
    const void* rawData() const { return m_data; }

    // Scalar value at a voxel (RGB returns luminance). For display and measurement, not inner loops.
    double valueAt(int i, int j, int k) const;
    // Minimum and maximum scalar values (luminance for RGB).
    std::pair<double, double> range() const;
    // A copy of this volume's voxels as float (luminance for RGB), same geometry.
    Volume toFloat() const;
    // Same voxels (shared, not copied) with another geometry of the same size.
    Volume withGeometry(const ImageGeometry& g) const;

private:
    ImageGeometry m_geometry;
    PixelType m_type = PixelType::UInt8;
    const void* m_data = nullptr;
    std::shared_ptr<const void> m_owner;
};

} // namespace jumeau::imaging
