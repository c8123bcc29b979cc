#include "viz/Fusion.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace jumeau::viz {

using geometry::Vec3;

const char* toString(FusionMode m) {
    switch (m) {
    case FusionMode::Blend: return "blend";
    case FusionMode::Checkerboard: return "checkerboard";
    case FusionMode::ColourOverlay: return "colour overlay";
    }
    return "?";
}

namespace {

template <typename T> double scalar(const T& v) {
    if constexpr (std::is_same_v<T, imaging::Rgb8>) return 0.299 * v.r + 0.587 * v.g + 0.114 * v.b;
    else return static_cast<double>(v);
}

// LPS → continuous index of one grid, with the direction inverted once (not per point as ImageGeometry does).
struct IndexMap {
    geometry::Mat3 toIndex; // diag(1/spacing) * inverse(direction)
    Vec3 origin;
    explicit IndexMap(const imaging::ImageGeometry& g) : origin(g.origin) {
        const auto inv = g.direction.inverse();
        toIndex = inv ? *inv : g.direction.transposed();
        for (int c = 0; c < 3; ++c) toIndex.m[0][c] /= g.spacing.x, toIndex.m[1][c] /= g.spacing.y, toIndex.m[2][c] /= g.spacing.z;
    }
    Vec3 operator()(const Vec3& lps) const { return toIndex * (lps - origin); }
};

// Trilinear interpolation at a continuous index; NaN outside.
template <typename T> struct Sampler {
    const T* voxels;
    std::array<int, 3> size;
    std::size_t sx, sxy;

    Sampler(const imaging::Volume& v) : voxels(v.data<T>()), size(v.geometry().size) {
        sx = static_cast<std::size_t>(size[0]);
        sxy = sx * static_cast<std::size_t>(size[1]);
    }

    double operator()(const Vec3& c) const {
        int i0[3];
        double f[3];
        for (int a = 0; a < 3; ++a) {
            const double x = c[a];
            if (!(x >= -0.5 && x <= size[a] - 0.5)) return std::numeric_limits<double>::quiet_NaN();
            const double clamped = std::clamp(x, 0.0, static_cast<double>(size[a] - 1));
            i0[a] = std::min(static_cast<int>(clamped), size[a] - 1);
            f[a] = clamped - i0[a];
        }
        const std::size_t dx = i0[0] + 1 < size[0] ? 1 : 0;
        const std::size_t dy = i0[1] + 1 < size[1] ? sx : 0;
        const std::size_t dz = i0[2] + 1 < size[2] ? sxy : 0;
        const T* p = voxels + static_cast<std::size_t>(i0[0]) + sx * static_cast<std::size_t>(i0[1]) +
                     sxy * static_cast<std::size_t>(i0[2]);
        auto lerp = [](double a, double b, double t) { return a + (b - a) * t; };
        const double c00 = lerp(scalar(p[0]), scalar(p[dx]), f[0]);
        const double c10 = lerp(scalar(p[dy]), scalar(p[dy + dx]), f[0]);
        const double c01 = lerp(scalar(p[dz]), scalar(p[dz + dx]), f[0]);
        const double c11 = lerp(scalar(p[dz + dy]), scalar(p[dz + dy + dx]), f[0]);
        return lerp(lerp(c00, c10, f[1]), lerp(c01, c11, f[1]), f[2]);
    }
};

template <typename F> auto dispatch(const imaging::Volume& v, F&& f) {
    switch (v.pixelType()) {
    case imaging::PixelType::UInt8: return f(Sampler<std::uint8_t>(v));
    case imaging::PixelType::Int16: return f(Sampler<std::int16_t>(v));
    case imaging::PixelType::UInt16: return f(Sampler<std::uint16_t>(v));
    case imaging::PixelType::Int32: return f(Sampler<std::int32_t>(v));
    case imaging::PixelType::Float32: return f(Sampler<float>(v));
    case imaging::PixelType::RGB8: break;
    }
    return f(Sampler<imaging::Rgb8>(v));
}

// Reference LPS of screen pixel (u, v) on the slice, as a continuous function of (u, v).
Vec3 pixelLps(const imaging::ImageGeometry& g, const SliceAxes& a, double u, double v, int slice) {
    Vec3 idx;
    idx[a.hAxis] = a.hReversed ? a.width - 1 - u : u;
    idx[a.vAxis] = a.vReversed ? a.height - 1 - v : v;
    idx[a.sliceAxis] = slice;
    return g.indexToLps(idx);
}

} // namespace

std::optional<double> sampleTrilinear(const imaging::Volume& volume, const Vec3& lps) {
    if (volume.empty()) return std::nullopt;
    const Vec3 c = IndexMap(volume.geometry())(lps);
    const double value = dispatch(volume, [&](const auto& sampler) { return sampler(c); });
    if (std::isnan(value)) return std::nullopt;
    return value;
}

std::vector<float> sampleOverlaySlice(const imaging::ImageGeometry& referenceGrid, const SliceAxes& axes, int slice,
                                      const imaging::Volume& overlay, const imaging::SpatialTransform& toOverlay) {
    const std::size_t n = static_cast<std::size_t>(std::max(0, axes.width)) * static_cast<std::size_t>(std::max(0, axes.height));
    std::vector<float> out(n, std::numeric_limits<float>::quiet_NaN());
    if (overlay.empty() || n == 0) return out;
    const IndexMap toIndex(overlay.geometry());
    dispatch(overlay, [&](const auto& sampler) {
        if (!toOverlay.isDeformable()) {
            // Everything is affine in (u, v): step the overlay's continuous index along rows and columns.
            const Vec3 c00 = toIndex(toOverlay.matrix.apply(pixelLps(referenceGrid, axes, 0, 0, slice)));
            const Vec3 du = toIndex(toOverlay.matrix.apply(pixelLps(referenceGrid, axes, 1, 0, slice))) - c00;
            const Vec3 dv = toIndex(toOverlay.matrix.apply(pixelLps(referenceGrid, axes, 0, 1, slice))) - c00;
            for (int v = 0; v < axes.height; ++v) {
                const Vec3 row = c00 + dv * static_cast<double>(v);
                float* dst = out.data() + static_cast<std::size_t>(v) * static_cast<std::size_t>(axes.width);
                for (int u = 0; u < axes.width; ++u) dst[u] = static_cast<float>(sampler(row + du * static_cast<double>(u)));
            }
        } else {
            for (int v = 0; v < axes.height; ++v) {
                float* dst = out.data() + static_cast<std::size_t>(v) * static_cast<std::size_t>(axes.width);
                for (int u = 0; u < axes.width; ++u)
                    dst[u] = static_cast<float>(sampler(toIndex(toOverlay.apply(pixelLps(referenceGrid, axes, u, v, slice)))));
            }
        }
        return 0;
    });
    return out;
}

bool checkerShowsOverlay(const SliceAxes& axes, int u, int v, double squareMm) {
    const double side = std::max(squareMm, 1e-3);
    const auto col = static_cast<long long>(std::floor(u * axes.hSpacing / side));
    const auto row = static_cast<long long>(std::floor(v * axes.vSpacing / side));
    return ((col + row) & 1) != 0;
}

unsigned char windowed(double value, const WindowLevel& wl) {
    const double width = std::max(wl.width, 1e-3);
    const double lo = wl.centre - width / 2.0;
    return static_cast<unsigned char>(std::clamp((value - lo) * 255.0 / width, 0.0, 255.0));
}

std::array<unsigned char, 3> hotColour(double t) {
    t = std::clamp(t, 0.0, 1.0);
    auto channel = [](double x) { return static_cast<unsigned char>(std::lround(255.0 * std::clamp(x, 0.0, 1.0))); };
    return {channel(3 * t), channel(3 * t - 1), channel(3 * t - 2)};
}

void fuseSlice(const SliceAxes& axes, const std::vector<float>& overlay, const FusionSettings& settings,
               unsigned char* rgba) {
    if (overlay.size() != static_cast<std::size_t>(axes.width) * static_cast<std::size_t>(axes.height)) return;
    const double alpha = std::clamp(settings.opacity, 0.0, 1.0);
    const double width = std::max(settings.window.width, 1e-3);
    const double lo = settings.window.centre - width / 2.0;
    auto mix = [](unsigned char a, double b, double t) {
        return static_cast<unsigned char>(std::lround((1 - t) * a + t * b));
    };
    for (int v = 0; v < axes.height; ++v)
        for (int u = 0; u < axes.width; ++u) {
            const float value = overlay[static_cast<std::size_t>(v) * static_cast<std::size_t>(axes.width) + u];
            unsigned char* px = rgba + rgbaOffset(axes, u, v);
            const bool inside = !std::isnan(value) && value > settings.paddingAtOrBelow;
            switch (settings.mode) {
            case FusionMode::Blend:
                if (inside) {
                    const unsigned char g = windowed(value, settings.window);
                    for (int c = 0; c < 3; ++c) px[c] = mix(px[c], g, alpha);
                }
                break;
            case FusionMode::Checkerboard:
                if (checkerShowsOverlay(axes, u, v, settings.checkerMm)) {
                    const unsigned char g = inside ? windowed(value, settings.window) : 0;
                    px[0] = px[1] = px[2] = g;
                }
                break;
            case FusionMode::ColourOverlay:
                if (inside) {
                    const double t = (value - lo) / width;
                    if (t <= 0) break; // below the window: transparent, the reference shows through
                    // The lower half of the window fades in, so faint signal does not hide the reference.
                    const double a = alpha * std::min(1.0, 2 * t);
                    const auto colour = hotColour(t);
                    for (int c = 0; c < 3; ++c) px[c] = mix(px[c], colour[c], a);
                }
                break;
            }
        }
}

} // namespace jumeau::viz
