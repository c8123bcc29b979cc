#include "jumeau/imaging/Resample.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace jumeau::imaging {

namespace {

using geometry::Transform;

constexpr double kSnap = 1e-5; // voxels: closer than this to an integer is that integer (float noise in headers)

double snap(double x) {
    const double r = std::round(x);
    return std::abs(x - r) < kSnap ? r : x;
}

// Index -> LPS linear part: direction * diag(spacing).
Mat3 indexToLpsLinear(const ImageGeometry& g) {
    Mat3 m = g.direction;
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) m.m[r][c] *= g.spacing[c];
    return m;
}

// Runs fn(k) for every slice k in [0, slices), on up to 8 threads when the work is big enough; the calling thread
// works too and is the only one that reports progress (ProgressFn need not be thread-safe). False when cancelled.
template <typename F>
bool forEachSlice(int slices, std::size_t voxelsPerSlice, const ProgressFn& progress, const std::string& what, F&& fn) {
    const std::size_t total = static_cast<std::size_t>(slices) * voxelsPerSlice;
    unsigned threads = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
    if (total < 262144) threads = 1; // below ~64^3 voxels the threads cost more than they save
    threads = std::min<unsigned>(threads, static_cast<unsigned>(std::max(1, slices)));
    std::atomic<int> next{0};
    std::atomic<int> done{0};
    std::atomic<bool> stop{false};
    // The reporter asks before each slice it takes, so a Cancel is seen even when the other threads happen to
    // take every slice first (a loaded machine can leave the calling thread unscheduled until then).
    auto work = [&](bool reporter) {
        for (;;) {
            if (reporter && !reportProgress(progress, static_cast<double>(done.load()) / slices, what))
                stop.store(true);
            if (stop.load(std::memory_order_relaxed)) return;
            const int k = next.fetch_add(1);
            if (k >= slices) return;
            fn(k);
            done.fetch_add(1);
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, false);
    work(true);
    for (auto& t : pool) t.join();
    return !stop.load();
}

template <typename T> T clampTo(double v) {
    if constexpr (std::is_floating_point_v<T>) {
        return static_cast<T>(v);
    } else {
        const double r = std::round(v);
        if (r <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
        if (r >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
        return static_cast<T>(r);
    }
}

// Sampling of one source grid at continuous indices (voxel centres at integers).
struct SourceGrid {
    std::array<int, 3> size;

    // Nearest voxel's linear index, or -1 when the point is outside (beyond half a voxel past the outer centres).
    std::ptrdiff_t nearest(const Vec3& p) const {
        const double fi = std::floor(p.x + 0.5), fj = std::floor(p.y + 0.5), fk = std::floor(p.z + 0.5);
        if (fi < 0 || fj < 0 || fk < 0 || fi >= size[0] || fj >= size[1] || fk >= size[2]) return -1;
        return static_cast<std::ptrdiff_t>(fi) +
               static_cast<std::ptrdiff_t>(size[0]) *
                   (static_cast<std::ptrdiff_t>(fj) +
                    static_cast<std::ptrdiff_t>(size[1]) * static_cast<std::ptrdiff_t>(fk));
    }

    // Trilinear corners and weights; false when outside (same extent as nearest). Neighbours past the outer voxel
    // centres are clamped to them (constant extension within the border half-voxel, as ITK's linear interpolator).
    bool linear(const Vec3& p, std::array<std::size_t, 8>& at, std::array<double, 8>& w) const {
        std::array<int, 3> i0{};
        std::array<int, 3> i1{};
        std::array<double, 3> f{};
        for (int a = 0; a < 3; ++a) {
            const double x = p[a];
            if (!(x >= -0.5 && x < size[a] - 0.5)) return false;
            const double c = std::clamp(x, 0.0, static_cast<double>(size[a] - 1));
            int lo = static_cast<int>(std::floor(c));
            if (lo > size[a] - 1) lo = size[a] - 1;
            i0[a] = lo;
            i1[a] = std::min(lo + 1, size[a] - 1);
            f[a] = c - lo;
        }
        const std::size_t sx = static_cast<std::size_t>(size[0]);
        const std::size_t sxy = sx * static_cast<std::size_t>(size[1]);
        for (int n = 0; n < 8; ++n) {
            const int i = (n & 1) ? i1[0] : i0[0];
            const int j = (n & 2) ? i1[1] : i0[1];
            const int k = (n & 4) ? i1[2] : i0[2];
            at[n] = static_cast<std::size_t>(i) + sx * static_cast<std::size_t>(j) + sxy * static_cast<std::size_t>(k);
            w[n] = ((n & 1) ? f[0] : 1 - f[0]) * ((n & 2) ? f[1] : 1 - f[1]) * ((n & 4) ? f[2] : 1 - f[2]);
        }
        return true;
    }
};

struct Plan {
    Transform map; // target index -> source index
    SourceGrid source;
    ImageGeometry target;
    bool integerMap = false; // every coefficient an integer: whole-voxel shifts, flips, permutations
};

// Source continuous index of target voxel (i, j, k).
inline Vec3 sourceIndex(const Transform& m, int i, int j, int k) {
    return m.apply({static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)});
}

// Along a target row (j, k) the source index is base + i * step. The i in [lo, hi) whose point lies inside the
// source (within half a voxel of its outer centres, as SourceGrid::nearest), so the inner loops need no test.
struct Row {
    int lo = 0, hi = 0;
    Vec3 base, step;
};

Row rowOf(const Plan& plan, int j, int k) {
    Row r;
    r.base = sourceIndex(plan.map, 0, j, k);
    r.step = plan.map.linear.column(0);
    double lo = 0, hi = plan.target.size[0];
    for (int a = 0; a < 3; ++a) {
        const double b = r.base[a], s = r.step[a], first = -0.5, end = plan.source.size[a] - 0.5;
        if (s == 0) {
            if (!(b >= first && b < end)) hi = lo;
        } else if (s > 0) {
            lo = std::max(lo, std::ceil((first - b) / s));
            hi = std::min(hi, std::ceil((end - b) / s));
        } else {
            hi = std::min(hi, std::floor((first - b) / s) + 1);
            lo = std::max(lo, std::floor((end - b) / s) + 1);
        }
    }
    const double n = plan.target.size[0];
    lo = std::min(lo, n); // a row entirely outside: lo may have run past the end, hi below zero
    hi = std::clamp(hi, lo, n);
    r.lo = static_cast<int>(lo);
    r.hi = static_cast<int>(hi);
    return r;
}

// Nearest source voxel of a point known to be inside (clamped against rounding at the very border).
inline std::size_t nearestInside(const SourceGrid& s, const Vec3& p) {
    const int i = std::clamp(static_cast<int>(p.x + 0.5), 0, s.size[0] - 1);
    const int j = std::clamp(static_cast<int>(p.y + 0.5), 0, s.size[1] - 1);
    const int k = std::clamp(static_cast<int>(p.z + 0.5), 0, s.size[2] - 1);
    return static_cast<std::size_t>(i) +
           static_cast<std::size_t>(s.size[0]) *
               (static_cast<std::size_t>(j) + static_cast<std::size_t>(s.size[1]) * static_cast<std::size_t>(k));
}

// Samples every target voxel: `outside` beyond the source, else the nearest voxel or blend(corners, weights).
template <typename T, typename Blend>
bool resampleRows(const Plan& plan, const T* src, std::vector<T>& out, Interpolation interp, T outside, Blend blend,
                  const ProgressFn& progress) {
    const ImageGeometry& g = plan.target;
    const std::size_t perSlice = static_cast<std::size_t>(g.size[0]) * static_cast<std::size_t>(g.size[1]);
    const std::ptrdiff_t sx = plan.source.size[0], sxy = sx * plan.source.size[1];
    return forEachSlice(g.size[2], perSlice, progress, "resampling", [&](int k) {
        std::array<std::size_t, 8> at{};
        std::array<double, 8> w{};
        for (int j = 0; j < g.size[1]; ++j) {
            T* row = out.data() + perSlice * static_cast<std::size_t>(k) +
                     static_cast<std::size_t>(g.size[0]) * static_cast<std::size_t>(j);
            const Row r = rowOf(plan, j, k);
            std::fill(row, row + r.lo, outside);
            std::fill(row + r.hi, row + g.size[0], outside);
            if (r.lo >= r.hi) continue;
            if (plan.integerMap) {
                // Whole voxels: a strided copy (a plain copy when the rows run the same way).
                const Vec3 p = r.base + r.step * r.lo;
                std::ptrdiff_t at0 = std::lround(p.x) + sx * std::lround(p.y) + sxy * std::lround(p.z);
                const std::ptrdiff_t stride =
                    std::lround(r.step.x) + sx * std::lround(r.step.y) + sxy * std::lround(r.step.z);
                if (stride == 1) {
                    std::copy(src + at0, src + at0 + (r.hi - r.lo), row + r.lo);
                } else {
                    for (int i = r.lo; i < r.hi; ++i, at0 += stride) row[i] = src[at0];
                }
                continue;
            }
            for (int i = r.lo; i < r.hi; ++i) {
                const Vec3 p = r.base + r.step * i;
                if (interp == Interpolation::Nearest || !plan.source.linear(p, at, w))
                    row[i] = src[nearestInside(plan.source, p)];
                else
                    row[i] = blend(at, w);
            }
        }
    });
}

template <typename T>
bool resampleScalar(const Plan& plan, const T* src, std::vector<T>& out, Interpolation interp, double outside,
                    const ProgressFn& progress) {
    const auto blend = [src](const std::array<std::size_t, 8>& at, const std::array<double, 8>& w) {
        double v = 0;
        for (int n = 0; n < 8; ++n)
            if (w[n] != 0) v += w[n] * static_cast<double>(src[at[n]]);
        return clampTo<T>(v);
    };
    return resampleRows(plan, src, out, interp, clampTo<T>(outside), blend, progress);
}

bool resampleRgb(const Plan& plan, const Rgb8* src, std::vector<Rgb8>& out, Interpolation interp, double outside,
                 const ProgressFn& progress) {
    const std::uint8_t o = clampTo<std::uint8_t>(outside);
    const auto blend = [src](const std::array<std::size_t, 8>& at, const std::array<double, 8>& w) {
        double r = 0, g = 0, b = 0;
        for (int n = 0; n < 8; ++n) {
            r += w[n] * src[at[n]].r;
            g += w[n] * src[at[n]].g;
            b += w[n] * src[at[n]].b;
        }
        return Rgb8{clampTo<std::uint8_t>(r), clampTo<std::uint8_t>(g), clampTo<std::uint8_t>(b)};
    };
    return resampleRows(plan, src, out, interp, Rgb8{o, o, o}, blend, progress);
}

// Labels by majority of sub-samples (see LabelResampling::Majority).
template <typename T>
bool resampleMajority(const Plan& plan, const T* src, std::vector<T>& out, T outside, const ProgressFn& progress) {
    const ImageGeometry& g = plan.target;
    // Sub-samples per target axis: how many source voxels one target voxel spans along it (its largest source-index
    // component), capped so a voxel costs at most 7^3 look-ups.
    std::array<int, 3> n{};
    std::array<Vec3, 3> col{};
    for (int c = 0; c < 3; ++c) {
        col[c] = plan.map.linear.column(c);
        const double span = std::max({std::abs(col[c].x), std::abs(col[c].y), std::abs(col[c].z)});
        n[c] = std::clamp(static_cast<int>(std::ceil(span - 1e-6)), 1, 7);
    }
    std::vector<Vec3> offsets;
    for (int c = 0; c < n[2]; ++c)
        for (int b = 0; b < n[1]; ++b)
            for (int a = 0; a < n[0]; ++a) {
                const double oa = (a + 0.5) / n[0] - 0.5, ob = (b + 0.5) / n[1] - 0.5, oc = (c + 0.5) / n[2] - 0.5;
                offsets.push_back(col[0] * oa + col[1] * ob + col[2] * oc);
            }
    const std::size_t perSlice = static_cast<std::size_t>(g.size[0]) * static_cast<std::size_t>(g.size[1]);
    return forEachSlice(g.size[2], perSlice, progress, "resampling labels", [&](int k) {
        std::size_t idx = perSlice * static_cast<std::size_t>(k);
        std::array<T, 343> values{};
        std::array<int, 343> counts{};
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i, ++idx) {
                const Vec3 p = sourceIndex(plan.map, i, j, k);
                const std::ptrdiff_t centreAt = plan.source.nearest(p);
                const T centre = centreAt < 0 ? outside : src[centreAt];
                if (offsets.size() == 1) {
                    out[idx] = centre;
                    continue;
                }
                std::size_t distinct = 0;
                for (const Vec3& o : offsets) {
                    const std::ptrdiff_t s = plan.source.nearest(p + o);
                    const T v = s < 0 ? outside : src[s];
                    std::size_t d = 0;
                    while (d < distinct && values[d] != v) ++d;
                    if (d == distinct) {
                        values[distinct] = v;
                        counts[distinct++] = 0;
                    }
                    ++counts[d];
                }
                // Most frequent; ties to the centre's label, then to the lowest value (deterministic).
                int best = -1;
                T label = centre;
                for (std::size_t d = 0; d < distinct; ++d) {
                    if (counts[d] > best ||
                        (counts[d] == best && (values[d] == centre || (label != centre && values[d] < label)))) {
                        best = counts[d];
                        label = values[d];
                    }
                }
                out[idx] = label;
            }
    });
}

Result<Plan> makePlan(const ImageGeometry& source, const ImageGeometry& target,
                      const std::optional<Transform>& targetToSource) {
    auto map = indexMapping(source, target, targetToSource);
    if (!map) return map.error();
    bool integer = true;
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) integer = integer && map->linear.m[r][c] == std::round(map->linear.m[r][c]);
        integer = integer && map->translation[r] == std::round(map->translation[r]);
    }
    return Plan{*map, SourceGrid{source.size}, target, integer};
}

bool isIdentity(const Transform& t) {
    return t.linear == Mat3::identity() && t.translation == Vec3{0, 0, 0};
}

template <typename F> auto dispatchScalar(PixelType type, F&& f) {
    switch (type) {
    case PixelType::UInt8:
        return f(std::uint8_t{});
    case PixelType::Int16:
        return f(std::int16_t{});
    case PixelType::UInt16:
        return f(std::uint16_t{});
    case PixelType::Int32:
        return f(std::int32_t{});
    case PixelType::Float32:
        return f(float{});
    case PixelType::RGB8:
        break;
    }
    return f(std::uint8_t{}); // not reached for RGB: callers handle it first
}

} // namespace

Result<Transform> indexMapping(const ImageGeometry& source, const ImageGeometry& target,
                               const std::optional<Transform>& targetToSource) {
    if (!source.isValid(1e-3))
        return makeError(ErrorCode::InvalidInput, "source grid is not valid (" + source.describe() + ")");
    if (!target.isValid(1e-3))
        return makeError(ErrorCode::InvalidInput, "target grid is not valid (" + target.describe() + ")");
    const auto sourceInverse = indexToLpsLinear(source).inverse();
    if (!sourceInverse) return makeError(ErrorCode::InvalidInput, "source grid direction is singular");
    const Transform t = targetToSource.value_or(Transform::identity());
    if (std::abs(t.linear.determinant()) < 1e-9)
        return makeError(ErrorCode::InvalidInput, "the target-to-source transform is singular");
    // source index = S^-1 (T (o_t + M_t i) - o_s) = S^-1 T_L M_t i + S^-1 (T(o_t) - o_s)
    Transform m;
    m.linear = *sourceInverse * t.linear * indexToLpsLinear(target);
    m.translation = *sourceInverse * (t.apply(target.origin) - source.origin);
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) m.linear.m[r][c] = snap(m.linear.m[r][c]);
        m.translation[r] = snap(m.translation[r]);
    }
    return m;
}

Result<Volume> resampleVolume(const Volume& source, const ImageGeometry& target, const ResampleOptions& options,
                              const ProgressFn& progress) {
    if (source.empty()) return makeError(ErrorCode::InvalidInput, "nothing to resample (empty volume)");
    if (target.empty()) return makeError(ErrorCode::InvalidInput, "empty target grid (" + target.describe() + ")");
    auto plan = makePlan(source.geometry(), target, options.targetToSource);
    if (!plan) return plan.error();
    if (source.geometry().size == target.size && isIdentity(plan->map)) {
        reportProgress(progress, 1.0, "resampling");
        return source.withGeometry(target); // the same voxels: nothing to compute
    }
    const Interpolation interp = options.interpolation;
    if (source.pixelType() == PixelType::RGB8) {
        std::vector<Rgb8> out(target.voxelCount());
        if (!resampleRgb(*plan, source.data<Rgb8>(), out, interp, options.outsideValue, progress))
            return makeError(ErrorCode::Cancelled, "resampling cancelled");
        return Volume::create(target, std::move(out));
    }
    return dispatchScalar(source.pixelType(), [&]<typename T>(T) -> Result<Volume> {
        std::vector<T> out(target.voxelCount());
        if (!resampleScalar(*plan, source.data<T>(), out, interp, options.outsideValue, progress))
            return makeError(ErrorCode::Cancelled, "resampling cancelled");
        return Volume::create(target, std::move(out));
    });
}

Result<LabelMap> resampleLabelMap(const LabelMap& source, const ImageGeometry& target, const ResampleOptions& options,
                                  const ProgressFn& progress) {
    const Volume& labels = source.labels();
    if (labels.empty()) return makeError(ErrorCode::InvalidInput, "nothing to resample (empty label map)");
    if (target.empty()) return makeError(ErrorCode::InvalidInput, "empty target grid (" + target.describe() + ")");
    auto plan = makePlan(labels.geometry(), target, options.targetToSource);
    if (!plan) return plan.error();
    if (labels.geometry().size == target.size && isIdentity(plan->map)) {
        reportProgress(progress, 1.0, "resampling labels");
        return LabelMap(labels.withGeometry(target), source.structures());
    }
    auto run = [&]<typename T>(const T* src) -> Result<LabelMap> {
        std::vector<T> out(target.voxelCount());
        const T outside = clampTo<T>(options.outsideValue);
        const bool finished =
            options.labelResampling == LabelResampling::Majority
                ? resampleMajority(*plan, src, out, outside, progress)
                : resampleScalar(*plan, src, out, Interpolation::Nearest, options.outsideValue, progress);
        if (!finished) return makeError(ErrorCode::Cancelled, "resampling cancelled");
        return LabelMap(Volume::create(target, std::move(out)), source.structures());
    };
    if (labels.holds<std::uint8_t>()) return run(labels.data<std::uint8_t>());
    if (labels.holds<std::uint16_t>()) return run(labels.data<std::uint16_t>());
    return makeError(ErrorCode::InvalidInput, "label voxels must be UInt8 or UInt16");
}

} // namespace jumeau::imaging
