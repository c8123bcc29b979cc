// The parts of registration that need no toolkit: names, B-spline evaluation, the landmark fit, overlap and
// resampling. Kept apart from Registration.cpp so they compile fast and are usable without ITK's templates.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <thread>

#include "RegistrationInternal.h"
#include "jumeau/imaging/Registration.h"

namespace jumeau::imaging {

const char* toString(RegistrationMode m) {
    switch (m) {
    case RegistrationMode::Rigid:
        return "rigid";
    case RegistrationMode::Affine:
        return "affine";
    case RegistrationMode::Deformable:
        return "deformable";
    }
    return "?";
}

const char* toString(RegistrationMetric m) {
    switch (m) {
    case RegistrationMetric::Auto:
        return "auto";
    case RegistrationMetric::MutualInformation:
        return "mi";
    case RegistrationMetric::MeanSquares:
        return "ms";
    case RegistrationMetric::Correlation:
        return "cc";
    }
    return "?";
}

const char* toString(Initialisation i) {
    switch (i) {
    case Initialisation::Auto:
        return "auto";
    case Initialisation::Identity:
        return "identity";
    case Initialisation::Geometry:
        return "geometry";
    case Initialisation::Moments:
        return "moments";
    case Initialisation::Landmarks:
        return "landmarks";
    }
    return "?";
}

namespace {
std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}
} // namespace

std::optional<RegistrationMode> registrationModeFromString(const std::string& s) {
    for (auto m : {RegistrationMode::Rigid, RegistrationMode::Affine, RegistrationMode::Deformable})
        if (lower(s) == toString(m)) return m;
    return std::nullopt;
}

std::optional<RegistrationMetric> registrationMetricFromString(const std::string& s) {
    for (auto m : {RegistrationMetric::Auto, RegistrationMetric::MutualInformation, RegistrationMetric::MeanSquares,
                   RegistrationMetric::Correlation})
        if (lower(s) == toString(m)) return m;
    return std::nullopt;
}

std::optional<Initialisation> initialisationFromString(const std::string& s) {
    for (auto i : {Initialisation::Auto, Initialisation::Identity, Initialisation::Geometry, Initialisation::Moments,
                   Initialisation::Landmarks})
        if (lower(s) == toString(i)) return i;
    return std::nullopt;
}

// ---- B-spline ------------------------------------------------------------------------------------------------

namespace {
double cubicBSpline(double u) {
    u = std::fabs(u);
    if (u < 1) return (4.0 - 6.0 * u * u + 3.0 * u * u * u) / 6.0;
    if (u < 2) return (2.0 - u) * (2.0 - u) * (2.0 - u) / 6.0;
    return 0;
}
} // namespace

bool BSplineDeformation::valid() const {
    return gridSize[0] >= 4 && gridSize[1] >= 4 && gridSize[2] >= 4 &&
           coefficients.size() == static_cast<std::size_t>(gridSize[0]) * gridSize[1] * gridSize[2];
}

Vec3 BSplineDeformation::displacement(const Vec3& p) const {
    if (!valid()) return {};
    // Continuous index in the coefficient grid.
    const Vec3 local = gridDirection.transposed() * (p - gridOrigin);
    const double c[3] = {local.x / gridSpacing.x, local.y / gridSpacing.y, local.z / gridSpacing.z};
    int start[3];
    double w[3][4];
    for (int d = 0; d < 3; ++d) {
        // Same support as ITK's BSplineTransform: zero outside [1, size - 2).
        if (c[d] < 1.0 || c[d] >= gridSize[d] - 2.0) return {};
        start[d] = static_cast<int>(std::floor(c[d] - 1.0));
        for (int k = 0; k < 4; ++k) w[d][k] = cubicBSpline(c[d] - (start[d] + k));
    }
    Vec3 out;
    for (int kz = 0; kz < 4; ++kz) {
        const int z = start[2] + kz;
        for (int ky = 0; ky < 4; ++ky) {
            const int y = start[1] + ky;
            const double wyz = w[2][kz] * w[1][ky];
            for (int kx = 0; kx < 4; ++kx) {
                const int x = start[0] + kx;
                const std::size_t idx = static_cast<std::size_t>(x) +
                                        static_cast<std::size_t>(gridSize[0]) *
                                            (static_cast<std::size_t>(y) + static_cast<std::size_t>(gridSize[1]) * z);
                out += coefficients[idx] * (wyz * w[0][kx]);
            }
        }
    }
    return out;
}

// ---- Landmarks ---------------------------------------------------------------------------------------------------

namespace {

// Eigen-decomposition of a symmetric NxN matrix by cyclic Jacobi rotations: values[i] with vectors column i.
template <int N>
void jacobiEigen(std::array<std::array<double, N>, N> a, std::array<double, N>& values,
                 std::array<std::array<double, N>, N>& vectors) {
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) vectors[i][j] = i == j ? 1 : 0;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0;
        for (int p = 0; p < N; ++p)
            for (int q = p + 1; q < N; ++q) off += a[p][q] * a[p][q];
        if (off < 1e-30) break;
        for (int p = 0; p < N; ++p)
            for (int q = p + 1; q < N; ++q) {
                if (std::fabs(a[p][q]) < 1e-300) continue;
                const double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < N; ++k) { // A = J^T A J
                    const double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < N; ++k) {
                    const double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < N; ++k) {
                    const double vkp = vectors[k][p], vkq = vectors[k][q];
                    vectors[k][p] = c * vkp - s * vkq;
                    vectors[k][q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < N; ++i) values[i] = a[i][i];
}

} // namespace

Result<Transform> rigidFromLandmarks(const std::vector<LandmarkPair>& pairs) {
    if (pairs.size() < 3)
        return makeError(ErrorCode::InvalidInput,
                         "landmarks: " + std::to_string(pairs.size()) + " pair(s) given; a rigid fit needs at least 3");
    Vec3 fc, mc;
    for (const auto& p : pairs) {
        fc += p.fixed;
        mc += p.moving;
    }
    const double n = static_cast<double>(pairs.size());
    fc = fc / n;
    mc = mc / n;
    std::array<std::array<double, 3>, 3> cov{}, s{};
    for (const auto& p : pairs) {
        const Vec3 f = p.fixed - fc, m = p.moving - mc;
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 3; ++c) {
                cov[r][c] += f[r] * f[c];
                s[r][c] += f[r] * m[c];
            }
    }
    // The fixed points must span a plane: a line leaves the rotation about it undetermined.
    std::array<double, 3> spread;
    std::array<std::array<double, 3>, 3> unused;
    jacobiEigen<3>(cov, spread, unused);
    std::sort(spread.begin(), spread.end());
    if (std::sqrt(std::max(0.0, spread[1]) / n) < 0.5)
        return makeError(ErrorCode::InvalidInput,
                         "landmarks: the fixed points lie on a line (or on one point); place at least 3 points that "
                         "are not in a row");
    // Horn's quaternion method: the rotation is the eigenvector of the largest eigenvalue of N.
    const double sxx = s[0][0], sxy = s[0][1], sxz = s[0][2], syx = s[1][0], syy = s[1][1], syz = s[1][2],
                 szx = s[2][0], szy = s[2][1], szz = s[2][2];
    std::array<std::array<double, 4>, 4> nm{{{sxx + syy + szz, syz - szy, szx - sxz, sxy - syx},
                                             {syz - szy, sxx - syy - szz, sxy + syx, szx + sxz},
                                             {szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy},
                                             {sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz}}};
    std::array<double, 4> values;
    std::array<std::array<double, 4>, 4> vectors;
    jacobiEigen<4>(nm, values, vectors);
    int best = 0;
    for (int i = 1; i < 4; ++i)
        if (values[i] > values[best]) best = i;
    const double w = vectors[0][best], x = vectors[1][best], y = vectors[2][best], z = vectors[3][best];
    Mat3 r;
    r.m = {{{w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)},
            {2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)},
            {2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z}}};
    return Transform::rigid(r, mc - r * fc);
}

std::vector<LandmarkResidual> landmarkResiduals(const SpatialTransform& t, const std::vector<LandmarkPair>& pairs) {
    std::vector<LandmarkResidual> out;
    for (const auto& p : pairs) {
        LandmarkResidual r{p.name, p.fixed, p.moving, t.apply(p.fixed), 0};
        r.errorMm = geometry::distance(r.mapped, p.moving);
        out.push_back(r);
    }
    return out;
}

// ---- Overlap and resampling ------------------------------------------------------------------------------------

namespace detail {

bool insideGrid(const ImageGeometry& g, const Vec3& lps) {
    const Vec3 c = g.lpsToIndex(lps);
    for (int d = 0; d < 3; ++d)
        if (!(c[d] >= -0.5 && c[d] <= g.size[d] - 0.5)) return false;
    return true;
}

bool maskAt(const Volume& mask, const Vec3& lps) {
    const ImageGeometry& g = mask.geometry();
    const Vec3 c = g.lpsToIndex(lps);
    const int i = static_cast<int>(std::lround(c.x)), j = static_cast<int>(std::lround(c.y)),
              k = static_cast<int>(std::lround(c.z));
    if (!g.contains(i, j, k)) return false;
    return mask.valueAt(i, j, k) != 0;
}

// Lattice of at most ~maxPerAxis points per axis over a grid; calls fn(lps) and returns the volume per point (mm3).
template <typename Fn> double forLattice(const ImageGeometry& g, int maxPerAxis, Fn&& fn) {
    int step[3];
    for (int d = 0; d < 3; ++d) step[d] = std::max(1, (g.size[d] + maxPerAxis - 1) / maxPerAxis);
    for (int k = step[2] / 2; k < g.size[2]; k += step[2])
        for (int j = step[1] / 2; j < g.size[1]; j += step[1])
            for (int i = step[0] / 2; i < g.size[0]; i += step[0])
                fn(g.indexToLps({static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)}));
    return g.voxelVolumeMm3() * step[0] * step[1] * step[2];
}

} // namespace detail

double overlapFraction(const Volume& fixed, const Volume& moving, const SpatialTransform& t, const Volume* fixedMask,
                       const Volume* movingMask) {
    const ImageGeometry& fg = fixed.geometry();
    const ImageGeometry& mg = moving.geometry();
    if (fg.empty() || mg.empty()) return 0;
    std::size_t inFixed = 0, inBoth = 0, inMoving = 0;
    const double fixedCell = detail::forLattice(fg, 40, [&](const Vec3& x) {
        if (fixedMask && !detail::maskAt(*fixedMask, x)) return;
        ++inFixed;
        const Vec3 y = t.apply(x);
        if (detail::insideGrid(mg, y) && (!movingMask || detail::maskAt(*movingMask, y))) ++inBoth;
    });
    const double movingCell = detail::forLattice(mg, 40, [&](const Vec3& y) {
        if (!movingMask || detail::maskAt(*movingMask, y)) ++inMoving;
    });
    const double smaller = std::min(inFixed * fixedCell, inMoving * movingCell);
    if (smaller <= 0) return 0;
    return std::min(1.0, inBoth * fixedCell / smaller);
}

Result<Volume> resampleOnto(const Volume& moving, const ImageGeometry& grid, const SpatialTransform& t, double outside,
                            bool keepPixelType) {
    if (moving.empty()) return makeError(ErrorCode::InvalidInput, "resample: the moving image is empty");
    if (grid.empty() || !grid.isValid()) return makeError(ErrorCode::InvalidInput, "resample: invalid target grid");
    const Volume src = moving.pixelType() == PixelType::Float32 ? moving : moving.toFloat();
    const float* v = src.data<float>();
    const ImageGeometry& mg = moving.geometry();
    std::vector<float> out(grid.voxelCount());
    auto sampleSlices = [&](int k0, int k1) {
        for (int k = k0; k < k1; ++k)
            for (int j = 0; j < grid.size[1]; ++j)
                for (int i = 0; i < grid.size[0]; ++i) {
                    const Vec3 y = t.apply(grid.indexToLps({double(i), double(j), double(k)}));
                    const Vec3 c = mg.lpsToIndex(y);
                    float value = static_cast<float>(outside);
                    bool inside = true;
                    int base[3];
                    double frac[3];
                    for (int d = 0; d < 3 && inside; ++d) {
                        if (!(c[d] >= -0.5 && c[d] <= mg.size[d] - 0.5)) inside = false;
                        const double cc = std::clamp(c[d], 0.0, static_cast<double>(mg.size[d] - 1));
                        base[d] = std::min(static_cast<int>(std::floor(cc)), std::max(0, mg.size[d] - 2));
                        frac[d] = mg.size[d] > 1 ? cc - base[d] : 0;
                        if (mg.size[d] == 1) base[d] = 0;
                    }
                    if (inside) {
                        double acc = 0;
                        for (int dz = 0; dz < 2; ++dz)
                            for (int dy = 0; dy < 2; ++dy)
                                for (int dx = 0; dx < 2; ++dx) {
                                    const double w = (dx ? frac[0] : 1 - frac[0]) * (dy ? frac[1] : 1 - frac[1]) *
                                                     (dz ? frac[2] : 1 - frac[2]);
                                    if (w == 0) continue;
                                    acc += w * v[mg.linearIndex(std::min(base[0] + dx, mg.size[0] - 1),
                                                                std::min(base[1] + dy, mg.size[1] - 1),
                                                                std::min(base[2] + dz, mg.size[2] - 1))];
                                }
                        value = static_cast<float>(acc);
                    }
                    out[grid.linearIndex(i, j, k)] = value;
                }
    };
    const int half = grid.size[2] / 2;
    std::thread other(sampleSlices, half, grid.size[2]);
    sampleSlices(0, half);
    other.join();

    auto convert = [&]<typename T>(T lo, T hi) {
        std::vector<T> typed(out.size());
        for (std::size_t n = 0; n < out.size(); ++n)
            typed[n] = static_cast<T>(
                std::clamp(std::round(static_cast<double>(out[n])), static_cast<double>(lo), static_cast<double>(hi)));
        return Volume::create(grid, std::move(typed));
    };
    if (keepPixelType) {
        switch (moving.pixelType()) {
        case PixelType::UInt8:
            return convert(std::uint8_t{0}, std::uint8_t{255});
        case PixelType::Int16:
            return convert(std::int16_t{-32768}, std::int16_t{32767});
        case PixelType::UInt16:
            return convert(std::uint16_t{0}, std::uint16_t{65535});
        case PixelType::Int32:
            return convert(std::int32_t{-2147483647}, std::int32_t{2147483647});
        case PixelType::Float32:
        case PixelType::RGB8:
            break; // RGB: luminance as float
        }
    }
    return Volume::create(grid, std::move(out));
}

} // namespace jumeau::imaging
