// registerVolumes: checks the input in plain language, chooses a start, then runs ITK's v4 registration level by
// level on a pyramid we build ourselves (binned and smoothed copies), so each level has its own step sizes and
// sample count and can be cancelled; then reports quality. docs/registration.md explains the choices.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>

#include <itkBSplineTransformInitializer.h>
#include <itkBinShrinkImageFilter.h>
#include <itkCommand.h>
#include <itkCorrelationImageToImageMetricv4.h>
#include <itkImage.h>
#include <itkImageMaskSpatialObject.h>
#include <itkImageRegistrationMethodv4.h>
#include <itkLBFGSBOptimizerv4.h>
#include <itkMattesMutualInformationImageToImageMetricv4.h>
#include <itkMeanSquaresImageToImageMetricv4.h>
#include <itkRegistrationParameterScalesFromPhysicalShift.h>
#include <itkRegularStepGradientDescentOptimizerv4.h>
#include <itkSmoothingRecursiveGaussianImageFilter.h>
#include <itkVersorRigid3DTransform.h>

#include "ItkImages.h"
#include "ItkTransforms.h"
#include "RegistrationInternal.h"
#include "jumeau/imaging/Registration.h"

namespace jumeau::imaging {

namespace {

using Image = itk::Image<float, 3>;
using MaskImage = itk::Image<unsigned char, 3>;
using MaskObject = itk::ImageMaskSpatialObject<3>;
using Rigid = itk::VersorRigid3DTransform<double>;
using Metric = itk::ImageToImageMetricv4<Image, Image>;

std::string fmt(double v, int decimals = 1) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(decimals);
    s << v;
    return s.str();
}

std::string percent(double fraction) {
    return std::to_string(static_cast<int>(std::lround(100 * fraction))) + "%";
}

std::string describeSpacing(const ImageGeometry& g) {
    return fmt(g.spacing.x, 2) + " x " + fmt(g.spacing.y, 2) + " x " + fmt(g.spacing.z, 2) + " mm";
}

// ---- Volumes as ITK images ----------------------------------------------------------------------------------

template <typename Pixel> typename itk::Image<Pixel, 3>::Pointer allocate(const ImageGeometry& g) {
    auto image = detail::itkImageOnGrid<Pixel>(g);
    image->Allocate();
    return image;
}

Image::Pointer toItk(const Volume& v) {
    const Volume f = v.pixelType() == PixelType::Float32 ? v : v.toFloat();
    auto image = allocate<float>(v.geometry());
    std::memcpy(image->GetBufferPointer(), f.data<float>(), v.geometry().voxelCount() * sizeof(float));
    return image;
}

ImageGeometry geometryOf(const Image* image) {
    ImageGeometry g;
    const auto size = image->GetLargestPossibleRegion().GetSize();
    for (unsigned a = 0; a < 3; ++a) {
        g.size[a] = static_cast<int>(size[a]);
        g.spacing[static_cast<int>(a)] = image->GetSpacing()[a];
        g.origin[static_cast<int>(a)] = image->GetOrigin()[a];
        for (unsigned c = 0; c < 3; ++c) g.direction.m[a][c] = image->GetDirection()(a, c);
    }
    return g;
}

// A mask on `grid`: the user's mask (any grid) and the padding mask (same grid), both optional.
Volume combineMasks(const ImageGeometry& grid, const Volume* user, const Volume* padding) {
    std::vector<std::uint8_t> m(grid.voxelCount(), 0);
    for (int k = 0; k < grid.size[2]; ++k)
        for (int j = 0; j < grid.size[1]; ++j)
            for (int i = 0; i < grid.size[0]; ++i) {
                const std::size_t n = grid.linearIndex(i, j, k);
                bool in = true;
                if (padding) in = padding->data<std::uint8_t>()[n] != 0;
                if (in && user) in = detail::maskAt(*user, grid.indexToLps({double(i), double(j), double(k)}));
                m[n] = in ? 1 : 0;
            }
    return Volume::create(grid, std::move(m));
}

MaskObject::Pointer toMaskObject(const Volume& mask) {
    auto image = allocate<unsigned char>(mask.geometry());
    const auto* src = mask.data<std::uint8_t>();
    std::memcpy(image->GetBufferPointer(), src, mask.geometry().voxelCount());
    auto object = MaskObject::New();
    object->SetImage(image);
    object->Update();
    return object;
}

// Columns (i, j) at the image's minimum in every slice are padding: outside an ultrasound fan or a CT
// reconstruction circle. Returns a mask of the rest when padding is a noticeable part of the image.
std::optional<Volume> paddingMask(const Volume& v) {
    const ImageGeometry& g = v.geometry();
    const Volume f = v.pixelType() == PixelType::Float32 ? v : v.toFloat();
    const float* p = f.data<float>();
    const std::size_t n = g.voxelCount();
    const float lo = *std::min_element(p, p + n);
    const std::size_t plane = static_cast<std::size_t>(g.size[0]) * g.size[1];
    std::vector<std::uint8_t> column(plane, 0); // 1: not padding
    for (int k = 0; k < g.size[2]; ++k)
        for (std::size_t c = 0; c < plane; ++c)
            if (p[c + plane * k] != lo) column[c] = 1;
    const std::size_t padded = static_cast<std::size_t>(std::count(column.begin(), column.end(), 0));
    if (padded < plane / 20 || padded == plane) return std::nullopt;
    std::vector<std::uint8_t> m(n);
    for (int k = 0; k < g.size[2]; ++k) std::memcpy(m.data() + plane * k, column.data(), plane);
    return Volume::create(g, std::move(m));
}

// Otsu threshold (256 bins over a lattice sample) of the voxels inside `mask`.
double otsuThreshold(const Volume& f, const Volume* mask) {
    const ImageGeometry& g = f.geometry();
    const float* p = f.data<float>();
    std::vector<float> sample;
    int step[3];
    for (int d = 0; d < 3; ++d) step[d] = std::max(1, g.size[d] / 64);
    for (int k = 0; k < g.size[2]; k += step[2])
        for (int j = 0; j < g.size[1]; j += step[1])
            for (int i = 0; i < g.size[0]; i += step[0]) {
                const std::size_t n = g.linearIndex(i, j, k);
                if (mask && mask->data<std::uint8_t>()[n] == 0) continue;
                sample.push_back(p[n]);
            }
    if (sample.empty()) return 0;
    const auto [lo, hi] = std::minmax_element(sample.begin(), sample.end());
    const double a = *lo, b = *hi;
    if (b <= a) return a;
    std::vector<double> hist(256, 0);
    for (float v : sample) hist[std::min(255, static_cast<int>((v - a) / (b - a) * 255.999))] += 1;
    double total = static_cast<double>(sample.size()), sumAll = 0;
    for (int i = 0; i < 256; ++i) sumAll += i * hist[i];
    double wB = 0, sumB = 0, best = -1;
    int bestI = 0;
    for (int i = 0; i < 256; ++i) {
        wB += hist[i];
        if (wB == 0) continue;
        const double wF = total - wB;
        if (wF == 0) break;
        sumB += i * hist[i];
        const double mB = sumB / wB, mF = (sumAll - sumB) / wF;
        const double between = wB * wF * (mB - mF) * (mB - mF);
        if (between > best) {
            best = between;
            bestI = i;
        }
    }
    return a + (bestI + 1) * (b - a) / 256.0;
}

// Centre of mass (LPS) of the voxels above the Otsu threshold: the body rather than the air around it.
std::optional<Vec3> foregroundCentroid(const Volume& f, const Volume* mask) {
    const double t = otsuThreshold(f, mask);
    const ImageGeometry& g = f.geometry();
    const float* p = f.data<float>();
    Vec3 sum;
    double count = 0;
    int step[3];
    for (int d = 0; d < 3; ++d) step[d] = std::max(1, g.size[d] / 96);
    for (int k = 0; k < g.size[2]; k += step[2])
        for (int j = 0; j < g.size[1]; j += step[1])
            for (int i = 0; i < g.size[0]; i += step[0]) {
                const std::size_t n = g.linearIndex(i, j, k);
                if (p[n] <= t || (mask && mask->data<std::uint8_t>()[n] == 0)) continue;
                sum += g.indexToLps({double(i), double(j), double(k)});
                count += 1;
            }
    if (count < 10) return std::nullopt;
    return sum / count;
}

// Centre (LPS) of a mask's set voxels.
std::optional<Vec3> maskCentroid(const Volume& mask) {
    const ImageGeometry& g = mask.geometry();
    const auto* m = mask.data<std::uint8_t>();
    Vec3 sum;
    double count = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                if (m[g.linearIndex(i, j, k)]) {
                    sum += g.indexToLps({double(i), double(j), double(k)});
                    count += 1;
                }
    if (count == 0) return std::nullopt;
    return sum / count;
}

// Volume (mm3) of a field of view restricted to a mask.
double fieldVolume(const Volume& v, const Volume* mask) {
    const ImageGeometry& g = v.geometry();
    if (!mask) return g.voxelCount() * g.voxelVolumeMm3();
    const auto* m = mask->data<std::uint8_t>();
    return static_cast<double>(std::count_if(m, m + g.voxelCount(), [](std::uint8_t x) { return x != 0; })) *
           g.voxelVolumeMm3();
}

// ---- The pyramid -----------------------------------------------------------------------------------------------

// A copy of `image` binned to about `targetMm` voxels (never finer than it is) and smoothed over about half that
// distance; the image itself when it is already that coarse. (Smoothing images that need no binning was tried: it
// cost CT-MR accuracy, 0.06 -> 0.15 mm, and did not help ultrasound.)
Image::Pointer levelImage(const Image::Pointer& image, double targetMm) {
    Image::SizeType size = image->GetLargestPossibleRegion().GetSize();
    itk::BinShrinkImageFilter<Image, Image>::ShrinkFactorsType factors;
    bool shrink = false;
    for (unsigned a = 0; a < 3; ++a) {
        const double f = std::floor(targetMm / image->GetSpacing()[a] + 0.5);
        factors[a] = static_cast<unsigned>(std::clamp(f, 1.0, std::max(1.0, size[a] / 8.0)));
        shrink = shrink || factors[a] > 1;
    }
    if (!shrink) return image;
    auto bin = itk::BinShrinkImageFilter<Image, Image>::New();
    bin->SetInput(image);
    bin->SetShrinkFactors(factors);
    auto smooth = itk::SmoothingRecursiveGaussianImageFilter<Image, Image>::New();
    smooth->SetInput(bin->GetOutput());
    smooth->SetSigma(0.5 * targetMm);
    smooth->Update();
    Image::Pointer out = smooth->GetOutput();
    out->DisconnectPipeline();
    return out;
}

// ---- Observers ---------------------------------------------------------------------------------------------------

class IterationCommand : public itk::Command {
public:
    using Self = IterationCommand;
    using Superclass = itk::Command;
    using Pointer = itk::SmartPointer<Self>;
    itkNewMacro(Self) std::function<void()> onIteration;
    void Execute(itk::Object* caller, const itk::EventObject& event) override {
        Execute(static_cast<const itk::Object*>(caller), event);
    }
    void Execute(const itk::Object*, const itk::EventObject& event) override {
        if (itk::IterationEvent().CheckEvent(&event) && onIteration) onIteration();
    }
};

struct Cancelled {};

// What every level needs to report progress and be cancelled.
struct Progress {
    const ProgressFn* fn = nullptr;
    int totalLevels = 1;
    int levelsDone = 0;
    int iterations = 0;
    std::string stage;
};

struct LevelOutcome {
    double initialMetric = 0, finalMetric = 0;
    int iterations = 0;
    bool converged = false;
    std::string stopReason;
};

Metric::Pointer makeMetric(RegistrationMetric which, int bins) {
    switch (which) {
    case RegistrationMetric::MeanSquares: {
        auto m = itk::MeanSquaresImageToImageMetricv4<Image, Image>::New();
        m->SetUseMovingImageGradientFilter(false);
        m->SetUseFixedImageGradientFilter(false);
        return m;
    }
    case RegistrationMetric::Correlation: {
        auto m = itk::CorrelationImageToImageMetricv4<Image, Image>::New();
        m->SetUseMovingImageGradientFilter(false);
        m->SetUseFixedImageGradientFilter(false);
        return m;
    }
    case RegistrationMetric::Auto:
    case RegistrationMetric::MutualInformation:
        break;
    }
    auto m = itk::MattesMutualInformationImageToImageMetricv4<Image, Image>::New();
    m->SetNumberOfHistogramBins(static_cast<itk::SizeValueType>(bins));
    // Gradients by central differences where sampled, not a whole gradient image per level (memory: 24 bytes a
    // voxel for a 30-million-voxel CT).
    m->SetUseMovingImageGradientFilter(false);
    m->SetUseFixedImageGradientFilter(false);
    return m;
}

std::string metricName(RegistrationMetric which) {
    switch (which) {
    case RegistrationMetric::MeanSquares:
        return "mean squares";
    case RegistrationMetric::Correlation:
        return "normalised correlation";
    case RegistrationMetric::Auto:
    case RegistrationMetric::MutualInformation:
        break;
    }
    return "Mattes mutual information";
}

struct LevelSetup {
    Image::Pointer fixed, moving;
    MaskObject::Pointer fixedMask, movingMask;
    double fixedMaskFraction = 1; // share of the fixed level's voxels inside its mask
    RegistrationMetric metric = RegistrationMetric::MutualInformation;
    int bins = 32;
    int samples = 60000;
    int seed = 121;
    int maxIterations = 200;
    double stepMm = 1, minStepMm = 0.01;
};

template <typename Method> void configureSampling(Method* method, const LevelSetup& s) {
    typename Method::ShrinkFactorsArrayType shrink(1);
    shrink[0] = 1;
    method->SetNumberOfLevels(1);
    method->SetShrinkFactorsPerLevel(shrink);
    typename Method::SmoothingSigmasArrayType sigmas(1);
    sigmas[0] = 0;
    method->SetSmoothingSigmasPerLevel(sigmas);
    const double voxels = static_cast<double>(s.fixed->GetLargestPossibleRegion().GetNumberOfPixels());
    const double wanted = s.samples <= 0 ? voxels : s.samples / std::max(0.01, s.fixedMaskFraction);
    if (wanted >= voxels) {
        method->SetMetricSamplingStrategy(Method::MetricSamplingStrategyEnum::NONE);
    } else {
        method->SetMetricSamplingStrategy(Method::MetricSamplingStrategyEnum::RANDOM);
        method->SetMetricSamplingPercentage(wanted / voxels);
        method->MetricSamplingReinitializeSeed(s.seed);
    }
}

// The level's metric with its masks.
auto levelMetric(const LevelSetup& s) {
    auto metric = makeMetric(s.metric, s.bins);
    if (s.fixedMask) metric->SetFixedImageMask(s.fixedMask);
    if (s.movingMask) metric->SetMovingImageMask(s.movingMask);
    return metric;
}

// Counts the optimizer's iterations into `out` (the first one's metric value as the initial metric), reports
// progress across the levels, and throws Cancelled when the user cancels.
template <typename Optimizer>
void observeIterations(Optimizer* optimizer, LevelOutcome& out, const LevelSetup& s, Progress& progress) {
    auto command = IterationCommand::New();
    command->onIteration = [optimizer, &out, &s, &progress] {
        if (out.iterations == 0) out.initialMetric = optimizer->GetValue();
        ++out.iterations;
        ++progress.iterations;
        const double fraction =
            (progress.levelsDone + std::min(1.0, out.iterations / static_cast<double>(s.maxIterations))) /
            progress.totalLevels;
        if (progress.fn && !reportProgress(*progress.fn, std::min(0.99, fraction),
                                           progress.stage + ", iteration " + std::to_string(out.iterations)))
            throw Cancelled{};
    };
    optimizer->AddObserver(itk::IterationEvent(), command);
}

// Runs a method whose transforms are set: images, metric, optimizer, sampling; then the outcome's metric values and
// stop reason (convergence is the caller's, it depends on the optimizer).
template <typename Method, typename MetricType, typename Optimizer>
void runLevel(Method* method, MetricType* metric, Optimizer* optimizer, const LevelSetup& s, LevelOutcome& out,
              Progress& progress) {
    method->SetFixedImage(s.fixed);
    method->SetMovingImage(s.moving);
    method->SetMetric(metric);
    method->SetOptimizer(optimizer);
    method->InPlaceOn();
    configureSampling(method, s);
    method->Update();
    out.finalMetric = optimizer->GetValue();
    if (out.iterations == 0) out.initialMetric = out.finalMetric;
    out.stopReason = optimizer->GetStopConditionDescription();
    ++progress.levelsDone;
}

// One level of a linear stage (rigid or affine), optimised in place with regular-step gradient descent.
template <typename TransformType>
LevelOutcome runLinearLevel(TransformType* transform, const LevelSetup& s, Progress& progress) {
    using Method = itk::ImageRegistrationMethodv4<Image, Image, TransformType>;
    auto metric = levelMetric(s);
    auto optimizer = itk::RegularStepGradientDescentOptimizerv4<double>::New();
    auto scales = itk::RegistrationParameterScalesFromPhysicalShift<Metric>::New();
    scales->SetMetric(metric);
    optimizer->SetScalesEstimator(scales);
    optimizer->SetDoEstimateLearningRateOnce(false);
    optimizer->SetDoEstimateLearningRateAtEachIteration(false);
    optimizer->SetLearningRate(s.stepMm);
    optimizer->SetMinimumStepLength(s.minStepMm);
    optimizer->SetRelaxationFactor(0.5);
    optimizer->SetGradientMagnitudeTolerance(1e-8);
    optimizer->SetNumberOfIterations(static_cast<itk::SizeValueType>(s.maxIterations));
    optimizer->SetReturnBestParametersAndValue(true);

    LevelOutcome out;
    observeIterations(optimizer.GetPointer(), out, s, progress);

    auto method = Method::New();
    method->SetInitialTransform(transform);
    runLevel(method.GetPointer(), metric.GetPointer(), optimizer.GetPointer(), s, out, progress);
    out.converged =
        optimizer->GetStopCondition() != itk::StopConditionObjectToObjectOptimizerEnum::MAXIMUM_NUMBER_OF_ITERATIONS;
    return out;
}

// ITK's L-BFGS-B takes no parameter scales and says so on stderr whenever the registration framework hands it the
// default (all-ones) scales. Those are exactly what it uses, so we take them without the warning.
class QuietLBFGSB : public itk::LBFGSBOptimizerv4 {
public:
    using Self = QuietLBFGSB;
    using Superclass = itk::LBFGSBOptimizerv4;
    using Pointer = itk::SmartPointer<Self>;
    itkNewMacro(Self)
    void SetScales(const ScalesType& scales) override {
        ScalesType ones(scales.Size());
        ones.Fill(1.0);
        itk::ObjectToObjectOptimizerBaseTemplate<double>::SetScales(ones);
    }
};

// L-BFGS-B iterations per B-spline level. The stop is deliberate (early stopping as the regulariser): with ~10 000
// samples for ~1 500 parameters the fit starts following the sampled voxels' noise instead of the anatomy. Known
// smooth warp (RegistrationTest, 1.59 mm RMS): 25 iterations 0.88 mm RMS (max 3.5), 50 -> 1.18 mm (max 8.3),
// 100 -> 1.99 mm (max 17).
constexpr int kBSplineIterations = 25;

// The deformable stage: a B-spline in the fixed frame, after the linear result (moving initial transform).
LevelOutcome runBSplineLevel(detail::ItkBSpline* bspline, detail::ItkAffine* linear, const LevelSetup& s,
                             Progress& progress) {
    using Method = itk::ImageRegistrationMethodv4<Image, Image, detail::ItkBSpline>;
    auto metric = levelMetric(s);
    auto optimizer = QuietLBFGSB::New();
    const unsigned n = bspline->GetNumberOfParameters();
    itk::LBFGSBOptimizerv4::BoundSelectionType unbounded(n);
    itk::LBFGSBOptimizerv4::BoundValueType bound(n);
    unbounded.Fill(0);
    bound.Fill(0);
    optimizer->SetBoundSelection(unbounded);
    optimizer->SetLowerBound(bound);
    optimizer->SetUpperBound(bound);
    optimizer->SetCostFunctionConvergenceFactor(1e7);
    optimizer->SetGradientConvergenceTolerance(1e-6);
    optimizer->SetNumberOfIterations(static_cast<itk::SizeValueType>(s.maxIterations));
    optimizer->SetMaximumNumberOfFunctionEvaluations(static_cast<itk::SizeValueType>(s.maxIterations + 20));
    optimizer->SetMaximumNumberOfCorrections(7);

    LevelOutcome out;
    observeIterations(optimizer.GetPointer(), out, s, progress);

    auto method = Method::New();
    method->SetMovingInitialTransform(linear);
    method->SetInitialTransform(bspline);
    runLevel(method.GetPointer(), metric.GetPointer(), optimizer.GetPointer(), s, out, progress);
    // Stopping at the planned number of iterations is the design (see kBSplineIterations), not a failure to converge;
    // a lower cap from the options is.
    out.converged = out.iterations < s.maxIterations || s.maxIterations == kBSplineIterations;
    if (out.iterations >= kBSplineIterations)
        out.stopReason = "L-BFGS-B: the planned " + std::to_string(kBSplineIterations) +
                         " iterations (more would fit noise of the sampled voxels)";
    return out;
}

// ---- Checks of the result ------------------------------------------------------------------------------------

// The smallest Jacobian determinant of x -> x + d(x) on a lattice of about 24^3 points of the fixed grid (inside its
// mask when given), by central differences over 1 mm: <= 0 where the deformation folds tissue onto itself.
double minimumJacobianDeterminant(const BSplineDeformation& d, const ImageGeometry& g, const Volume* mask) {
    double lowest = 1e30;
    int step[3];
    for (int a = 0; a < 3; ++a) step[a] = std::max(1, g.size[a] / 24);
    const double h = 1.0;
    for (int k = 0; k < g.size[2]; k += step[2])
        for (int j = 0; j < g.size[1]; j += step[1])
            for (int i = 0; i < g.size[0]; i += step[0]) {
                const Vec3 p = g.indexToLps({double(i), double(j), double(k)});
                if (mask && !detail::maskAt(*mask, p)) continue;
                Vec3 column[3];
                for (int a = 0; a < 3; ++a) {
                    Vec3 e;
                    e[a] = h;
                    column[a] = e / h + (d.displacement(p + e) - d.displacement(p - e)) / (2 * h);
                }
                lowest = std::min(lowest, Mat3::fromColumns(column[0], column[1], column[2]).determinant());
            }
    return lowest;
}

// ---- Input checks --------------------------------------------------------------------------------------------

std::optional<Error> checkVolume(const Volume& v, const std::string& which) {
    if (v.empty()) return makeError(ErrorCode::InvalidInput, "the " + which + " image is empty");
    const ImageGeometry& g = v.geometry();
    if (!g.isValid())
        return makeError(ErrorCode::InvalidInput,
                         "the " + which + " image has an invalid geometry (" + g.describe() + ")");
    for (int d = 0; d < 3; ++d)
        if (g.size[d] < 4)
            return makeError(ErrorCode::InvalidInput,
                             "the " + which + " image is 2D (" + std::to_string(g.size[0]) + " x " +
                                 std::to_string(g.size[1]) + " x " + std::to_string(g.size[2]) +
                                 " voxels): registration needs a volume with at least 4 voxels along every axis");
    if (v.pixelType() == PixelType::Float32) {
        const float* p = v.data<float>();
        for (std::size_t i = 0, n = g.voxelCount(); i < n; ++i)
            if (!std::isfinite(p[i]))
                return makeError(ErrorCode::InvalidInput,
                                 "the " + which + " image holds non-finite values (NaN or infinity)");
    }
    const auto [lo, hi] = v.range();
    if (!(hi > lo))
        return makeError(ErrorCode::InvalidInput, "the " + which + " image is uniform (every voxel is " + fmt(lo, 0) +
                                                      "): there is nothing to align");
    return std::nullopt;
}

std::optional<Error> checkMask(const Volume& mask, const Volume& image, const std::string& which) {
    if (mask.empty()) return makeError(ErrorCode::InvalidInput, "the " + which + " mask is empty (no voxels)");
    if (mask.pixelType() == PixelType::RGB8)
        return makeError(ErrorCode::InvalidInput, "the " + which + " mask is a colour image; a mask is a label volume");
    const auto [lo, hi] = mask.range();
    if (lo == 0 && hi == 0)
        return makeError(ErrorCode::InvalidInput, "the " + which + " mask is empty: no voxel is set");
    // The mask must cover some of its image.
    bool any = false;
    const ImageGeometry& g = image.geometry();
    int step[3];
    for (int d = 0; d < 3; ++d) step[d] = std::max(1, g.size[d] / 48);
    for (int k = 0; k < g.size[2] && !any; k += step[2])
        for (int j = 0; j < g.size[1] && !any; j += step[1])
            for (int i = 0; i < g.size[0] && !any; i += step[0])
                any = detail::maskAt(mask, g.indexToLps({double(i), double(j), double(k)}));
    if (!any)
        return makeError(ErrorCode::InvalidInput, "the " + which + " mask does not cover any part of the " + which +
                                                      " image (is it on another patient's or image's grid?)");
    return std::nullopt;
}

bool sameVoxels(const Volume& a, const Volume& b) {
    if (a.pixelType() != b.pixelType() || !a.geometry().sameGrid(b.geometry(), 1e-6)) return false;
    return a.rawData() == b.rawData() || std::memcmp(a.rawData(), b.rawData(), a.byteCount()) == 0;
}

Transform inverseOf(const Transform& t) {
    auto inv = t.inverse();
    return inv ? *inv : Transform::identity();
}

// Rotation part made orthonormal (nearest rotation, via the landmark fit on the transformed unit frame).
Transform nearestRigid(const Transform& t) {
    std::vector<LandmarkPair> frame;
    const Vec3 pts[4] = {{0, 0, 0}, {100, 0, 0}, {0, 100, 0}, {0, 0, 100}};
    for (const auto& p : pts) frame.push_back({"", p, t.apply(p)});
    auto fit = rigidFromLandmarks(frame);
    return fit ? *fit : t;
}

struct Prepared {
    Volume fixedF, movingF;          // float copies
    std::optional<Volume> fixedMask; // combined masks on each image's grid
    std::optional<Volume> movingMask;
};

} // namespace

Result<RegistrationResult> registerVolumes(const Volume& fixed, const Volume& moving, const RegistrationOptions& o,
                                           const ProgressFn& progressFn) {
    const auto start = std::chrono::steady_clock::now();
    if (auto e = checkVolume(fixed, "fixed")) return *e;
    if (auto e = checkVolume(moving, "moving")) return *e;
    if (o.fixedMask)
        if (auto e = checkMask(*o.fixedMask, fixed, "fixed")) return *e;
    if (o.movingMask)
        if (auto e = checkMask(*o.movingMask, moving, "moving")) return *e;
    if (o.maxIterationsPerLevel < 1 || o.levels < 1 || o.levels > 6 || !(o.coarsestSpacingMm > 0) ||
        !(o.bsplineGridMm > 0) || o.histogramBins < 8)
        return makeError(ErrorCode::InvalidInput, "registration options out of range (levels 1-6, iterations >= 1, "
                                                  "spacings > 0, at least 8 histogram bins)");

    RegistrationResult result;
    RegistrationQuality& q = result.quality;
    q.metric = metricName(o.metric);
    auto finish = [&] { q.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    auto landmarkReport = [&] {
        q.landmarks = landmarkResiduals(result.transform, o.landmarks);
        double sum = 0;
        q.landmarkMaxMm = 0;
        for (const auto& r : q.landmarks) {
            sum += r.errorMm * r.errorMm;
            q.landmarkMaxMm = std::max(q.landmarkMaxMm, r.errorMm);
        }
        q.landmarkRmsMm = q.landmarks.empty() ? 0 : std::sqrt(sum / q.landmarks.size());
    };

    // Spacing far apart: allowed, but the surgeon should know the precision is the coarser image's.
    const ImageGeometry& fg = fixed.geometry();
    const ImageGeometry& mg = moving.geometry();
    double finest = 1e30, coarsest = 0;
    for (int d = 0; d < 3; ++d) {
        finest = std::min({finest, fg.spacing[d], mg.spacing[d]});
        coarsest = std::max({coarsest, fg.spacing[d], mg.spacing[d]});
    }
    if (coarsest > 6 * finest)
        q.warnings.push_back("the voxel sizes differ widely (fixed " + describeSpacing(fg) + ", moving " +
                             describeSpacing(mg) + "): the result is no more precise than the coarser image");

    if (sameVoxels(fixed, moving)) {
        q.warnings.push_back("the fixed and moving images are the same image: the transform is the identity "
                             "(nothing to register)");
        q.converged = true;
        q.stopReason = "identical images";
        q.initialOverlap = q.overlap = 1;
        q.initialisation = "identity";
        landmarkReport();
        finish();
        return result;
    }

    if (!reportProgress(progressFn, 0.0, "preparing images"))
        return makeError(ErrorCode::Cancelled, "registration cancelled");
    Prepared p;
    p.fixedF = fixed.pixelType() == PixelType::Float32 ? fixed : fixed.toFloat();
    p.movingF = moving.pixelType() == PixelType::Float32 ? moving : moving.toFloat();
    {
        auto fixedPad = paddingMask(p.fixedF);
        auto movingPad = paddingMask(p.movingF);
        if (o.fixedMask || fixedPad)
            p.fixedMask = combineMasks(fg, o.fixedMask ? &*o.fixedMask : nullptr, fixedPad ? &*fixedPad : nullptr);
        if (o.movingMask || movingPad)
            p.movingMask = combineMasks(mg, o.movingMask ? &*o.movingMask : nullptr, movingPad ? &*movingPad : nullptr);
        if (p.fixedMask && fieldVolume(fixed, &*p.fixedMask) <= 0)
            return makeError(ErrorCode::InvalidInput, "the fixed mask leaves no voxel of the fixed image to register");
        if (p.movingMask && fieldVolume(moving, &*p.movingMask) <= 0)
            return makeError(ErrorCode::InvalidInput,
                             "the moving mask leaves no voxel of the moving image to register");
    }
    const Volume* fixedMask = p.fixedMask ? &*p.fixedMask : nullptr;
    const Volume* movingMask = p.movingMask ? &*p.movingMask : nullptr;
    const double fixedField = fieldVolume(fixed, fixedMask), movingField = fieldVolume(moving, movingMask);
    const bool partialView = std::min(fixedField, movingField) < 0.5 * std::max(fixedField, movingField);

    // ---- The start.
    Transform init = Transform::identity();
    Initialisation how = o.initialisation;
    if (how == Initialisation::Auto) {
        if (o.landmarks.size() >= 3)
            how = Initialisation::Landmarks;
        else if (o.initialTransform)
            how = Initialisation::Identity; // the given start, below
        else
            how = partialView ? Initialisation::Identity : Initialisation::Moments;
    }
    switch (how) {
    case Initialisation::Landmarks: {
        auto fit = rigidFromLandmarks(o.landmarks);
        if (!fit) return fit.error();
        init = *fit;
        q.initialisation = "landmarks (" + std::to_string(o.landmarks.size()) + " pairs)";
        break;
    }
    case Initialisation::Geometry:
        init.translation = mg.centreLps() - fg.centreLps();
        q.initialisation = "centres of the image grids";
        break;
    case Initialisation::Moments: {
        const auto cf = foregroundCentroid(p.fixedF, fixedMask);
        const auto cm = foregroundCentroid(p.movingF, movingMask);
        if (cf && cm) {
            init.translation = *cm - *cf;
            q.initialisation = "centres of mass of the body";
        } else {
            init.translation = mg.centreLps() - fg.centreLps();
            q.initialisation = "centres of the image grids (no clear foreground for moments)";
        }
        break;
    }
    case Initialisation::Identity:
    case Initialisation::Auto:
        if (o.initialTransform) {
            init = *o.initialTransform;
            q.initialisation = "the given initial transform";
        } else {
            q.initialisation = "scanner coordinates (identity)";
        }
        break;
    }
    result.transform.matrix = init;

    q.initialOverlap = overlapFraction(p.fixedF, p.movingF, result.transform, fixedMask, movingMask);
    if (q.initialOverlap < o.minimumOverlap)
        return makeError(ErrorCode::InvalidInput, "the images overlap by only " + percent(q.initialOverlap) +
                                                      " at the start (" + q.initialisation +
                                                      "): place landmarks first, or nudge the moving image closer");

    if (o.landmarksOnly) {
        if (how != Initialisation::Landmarks)
            return makeError(ErrorCode::InvalidInput, "landmark-only registration needs at least 3 landmark pairs");
        q.converged = true;
        q.stopReason = "least-squares fit of the landmarks";
        q.metric = "landmarks";
        q.overlap = q.initialOverlap;
        landmarkReport();
        finish();
        return result;
    }

    // ---- The intensity stages.
    const RegistrationMetric metric =
        o.metric == RegistrationMetric::Auto ? RegistrationMetric::MutualInformation : o.metric;
    const bool affine = o.mode == RegistrationMode::Affine;
    const bool deformable = o.mode == RegistrationMode::Deformable;
    // A small field of view (ultrasound) is the better reference for sampling: every sample of it lies in the other
    // image. The linear stages then run the other way round and are inverted (exact for rigid and affine).
    const bool swap = fixedField < 0.5 * movingField;
    const Volume& refVol = swap ? p.movingF : p.fixedF;
    const Volume& floatVol = swap ? p.fixedF : p.movingF;
    const Volume* refMask = swap ? movingMask : fixedMask;
    const Volume* floatMask = swap ? fixedMask : movingMask;

    Progress progress;
    progress.fn = progressFn ? &progressFn : nullptr;
    const int linearLevels = o.levels;
    progress.totalLevels = linearLevels + (affine ? std::min(2, o.levels) : 0) + (deformable ? 2 : 0);

    LevelOutcome last;
    try {
        Image::Pointer refImage = toItk(refVol), floatImage = toItk(floatVol);
        MaskObject::Pointer refMaskObject = refMask ? toMaskObject(*refMask) : nullptr;
        MaskObject::Pointer floatMaskObject = floatMask ? toMaskObject(*floatMask) : nullptr;
        const double refMaskFraction =
            refMask
                ? fieldVolume(refVol, refMask) / (refVol.geometry().voxelCount() * refVol.geometry().voxelVolumeMm3())
                : 1.0;
        const Transform start = swap ? inverseOf(init) : init;
        // The rotation centre: the centre of the reference image's (masked) field of view.
        Vec3 centre = refVol.geometry().centreLps();
        if (refMask)
            if (auto c = maskCentroid(*refMask)) centre = *c;

        std::vector<double> spacings;
        for (int l = 0; l < linearLevels; ++l) spacings.push_back(o.coarsestSpacingMm / std::pow(2.0, l));
        std::vector<std::pair<Image::Pointer, Image::Pointer>> pyramid;
        for (double s : spacings) {
            if (!reportProgress(progressFn, 0.0, "preparing the image pyramid")) throw Cancelled{};
            // The finest level uses the images as they are (binning ultrasound to 1 mm there was tried: worse).
            const bool finestLevel = s == spacings.back();
            pyramid.emplace_back(finestLevel ? refImage : levelImage(refImage, s),
                                 finestLevel ? floatImage : levelImage(floatImage, s));
        }
        auto levelSetup = [&](std::size_t l, const std::pair<Image::Pointer, Image::Pointer>& images, double stepMm,
                              double minStepMm) {
            LevelSetup s;
            s.fixed = images.first;
            s.moving = images.second;
            s.fixedMask = refMaskObject;
            s.movingMask = floatMaskObject;
            s.fixedMaskFraction = refMaskFraction;
            s.metric = metric;
            s.bins = o.histogramBins;
            s.samples = o.samplesPerLevel;
            s.seed = o.randomSeed + static_cast<int>(l);
            s.maxIterations = o.maxIterationsPerLevel;
            s.stepMm = stepMm;
            s.minStepMm = minStepMm;
            return s;
        };

        // Rigid stage.
        auto rigid = Rigid::New();
        {
            const Transform r = nearestRigid(start);
            Rigid::MatrixType m;
            Rigid::OutputVectorType offset;
            for (unsigned a = 0; a < 3; ++a) {
                for (unsigned c = 0; c < 3; ++c) m(a, c) = r.linear.m[a][c];
                offset[a] = r.translation[static_cast<int>(a)];
            }
            Rigid::InputPointType c;
            for (unsigned a = 0; a < 3; ++a) c[a] = centre[static_cast<int>(a)];
            rigid->SetCenter(c);
            rigid->SetMatrix(m, 1e-6);
            rigid->SetOffset(offset);
        }
        for (std::size_t l = 0; l < pyramid.size(); ++l) {
            progress.stage = "rigid, level " + std::to_string(l + 1) + " of " + std::to_string(pyramid.size());
            const double step = std::max(0.25, spacings[l] / 2);
            last = runLinearLevel<Rigid>(rigid.GetPointer(), levelSetup(l, pyramid[l], step, step / 50), progress);
            if (l + 1 == pyramid.size()) {
                q.initialMetric = last.initialMetric;
            }
        }
        Transform linear = detail::fromItkLinear(*rigid);

        if (affine) {
            auto aff = detail::ItkAffine::New();
            Rigid::InputPointType c = rigid->GetCenter();
            aff->SetCenter(c);
            aff->SetMatrix(rigid->GetMatrix());
            aff->SetOffset(rigid->GetOffset());
            const std::size_t first = pyramid.size() >= 2 ? pyramid.size() - 2 : 0;
            for (std::size_t l = first; l < pyramid.size(); ++l) {
                progress.stage =
                    "affine, level " + std::to_string(l - first + 1) + " of " + std::to_string(pyramid.size() - first);
                const double step = std::max(0.25, spacings[l] / 4);
                last = runLinearLevel<detail::ItkAffine>(aff.GetPointer(), levelSetup(l, pyramid[l], step, step / 50),
                                                         progress);
            }
            linear = detail::fromItkLinear(*aff);
        }
        result.transform.matrix = swap ? inverseOf(linear) : linear;

        if (deformable) {
            // Always in the original direction: the field lives on the fixed grid.
            Image::Pointer fixedImage = swap ? floatImage : refImage;
            Image::Pointer movingImage = swap ? refImage : floatImage;
            MaskObject::Pointer fixedMaskObject = swap ? floatMaskObject : refMaskObject;
            MaskObject::Pointer movingMaskObject = swap ? refMaskObject : floatMaskObject;
            auto linearItk = detail::toItkAffine(result.transform.matrix);
            auto bspline = detail::ItkBSpline::New();
            {
                auto initializer = itk::BSplineTransformInitializer<detail::ItkBSpline, Image>::New();
                detail::ItkBSpline::MeshSizeType mesh;
                const ImageGeometry g = geometryOf(fixedImage);
                for (int a = 0; a < 3; ++a)
                    mesh[static_cast<unsigned>(a)] =
                        static_cast<unsigned>(std::max(1.0, std::ceil(g.size[a] * g.spacing[a] / o.bsplineGridMm)));
                initializer->SetTransform(bspline);
                initializer->SetImage(fixedImage);
                initializer->SetTransformDomainMeshSize(mesh);
                initializer->InitializeTransform();
                detail::ItkBSpline::ParametersType zero(bspline->GetNumberOfParameters());
                zero.Fill(0);
                bspline->SetParametersByValue(zero);
            }
            // A smooth field with control points tens of millimetres apart needs no finer images than 2 mm: the
            // two levels work at 4 and 2 mm (cost, on two cores, is what limits this stage).
            const double fine = std::max(2.0, o.coarsestSpacingMm / std::pow(2.0, linearLevels - 1));
            const double levels[2] = {2 * fine, fine};
            for (int l = 0; l < 2; ++l) {
                progress.stage = "deformable, level " + std::to_string(l + 1) + " of 2";
                LevelSetup s;
                s.fixed = levelImage(fixedImage, levels[l]);
                s.moving = levelImage(movingImage, levels[l]);
                s.fixedMask = fixedMaskObject;
                s.movingMask = movingMaskObject;
                s.fixedMaskFraction = fixedMask ? fixedField / (fg.voxelCount() * fg.voxelVolumeMm3()) : 1.0;
                s.metric = metric;
                s.bins = o.histogramBins;
                // ITK's v4 metrics build the dense Jacobian (3 x all parameters) at every sample for a B-spline, so
                // the cost is samples x parameters: fewer samples here than in the linear stages.
                s.samples = std::max(o.samplesPerLevel / 6, 4 * static_cast<int>(bspline->GetNumberOfParameters()));
                s.seed = o.randomSeed + 10 + l;
                s.maxIterations = std::min(o.maxIterationsPerLevel, kBSplineIterations);
                last = runBSplineLevel(bspline.GetPointer(), linearItk.GetPointer(), s, progress);
            }
            result.transform.deformation = detail::fromItkBSpline(*bspline);
        }
    } catch (const Cancelled&) {
        return makeError(ErrorCode::Cancelled, "registration cancelled");
    } catch (const itk::ExceptionObject& e) {
        const std::string what = e.GetDescription();
        if (what.find("Too many samples") != std::string::npos ||
            what.find("samples map outside") != std::string::npos || what.find("All samples") != std::string::npos ||
            what.find("valid points") != std::string::npos)
            return makeError(ErrorCode::InvalidInput,
                             "the images drifted apart during registration: too few points of the fixed image fall "
                             "inside the moving image. Place landmarks (or nudge the moving image) so that they start "
                             "closer, or give a mask of the region to align (toolkit detail: " +
                                 what + ")");
        return makeError(ErrorCode::Internal, "registration failed in the toolkit: " + what);
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, std::string("registration failed: ") + e.what());
    }

    q.iterations = progress.iterations;
    q.finalMetric = last.finalMetric;
    if (deformable || affine) q.initialMetric = last.initialMetric;
    q.converged = last.converged;
    q.stopReason = last.stopReason;
    q.overlap = overlapFraction(p.fixedF, p.movingF, result.transform, fixedMask, movingMask);
    landmarkReport();
    if (!q.converged)
        q.warnings.push_back("the optimiser stopped after its iteration limit without converging: check the result "
                             "visually, or start closer (landmarks) and run again");
    if (q.overlap < 0.5)
        q.warnings.push_back("after registration the images overlap by only " + percent(q.overlap) +
                             ": the result is probably wrong; place landmarks first");
    if (!q.landmarks.empty() && q.landmarkMaxMm > 5)
        q.warnings.push_back("a landmark is " + fmt(q.landmarkMaxMm) +
                             " mm from where the registration puts it: "
                             "check that landmark, or the registration");
    if (result.transform.deformation) {
        const double det = minimumJacobianDeterminant(*result.transform.deformation, fg, fixedMask);
        if (det <= 0.1)
            q.warnings.push_back("the deformation " +
                                 std::string(det <= 0 ? "folds tissue onto itself" : "squeezes tissue tenfold") +
                                 " somewhere (smallest local volume ratio " + fmt(det, 2) +
                                 "): anatomy does not do that; check the result visually, or use a coarser grid or "
                                 "the rigid or affine result");
    }
    // A partial view (an ultrasound sweep) registered with no mask: the tissue around the organ weighs in. In
    // ultrasound the abdominal wall and the ribs show as reflecting surfaces with acoustic shadows behind them, in CT
    // as volumes, and the probe presses the wall: on the phantom this pulls the sweep 1-2 mm off (the liver alone
    // gives 0.35 mm). docs/registration.md, "Ultrasound".
    if (partialView && !o.fixedMask && !o.movingMask)
        q.warnings.push_back("the smaller image (an ultrasound sweep?) was registered over its whole field of view: "
                             "the abdominal wall, ribs and their acoustic shadows look different in ultrasound and "
                             "CT and can pull the result 1-2 mm off; give the organ's mask (e.g. the liver label) to "
                             "register the organ itself");
    if (o.mode == RegistrationMode::Affine) {
        const double det = result.transform.matrix.linear.determinant();
        if (det < 0.7 || det > 1.4)
            q.warnings.push_back("the affine result changes volumes by " + percent(det - 1) +
                                 ": more than anatomy between scans usually does");
    }
    finish();
    reportProgress(progressFn, 1.0, "registered");
    return result;
}

} // namespace jumeau::imaging
