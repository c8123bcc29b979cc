// Rigid CT<->MR registration: Jumeau's setup (imaging::registerVolumes: own pyramid 4/2/1 mm, 60 000 random samples
// per level, step sizes per level) against a plain ITK reference setup in the same run (ImageRegistrationMethodv4,
// one resolution, every voxel sampled, Mattes MI with 32 bins, versor rigid, regular-step gradient descent with
// physical-shift scales, centred geometry initialiser). Wall time and target registration error (TRE, over body /
// liver points, against the known transform) of each, and the ratios. Goal (issue 5): within 1 mm TRE at no more
// than a fifth of the reference's time.
//   jumeau_bench_registration [--benchmark_* options]  Google Benchmark runs of Jumeau's setup on the phantom;
//   jumeau_bench_registration --report [--no-ircad]    the comparison on the phantom and the IRCAD-derived pair.
// Pairs: phantom CT (fixed) and MR (moving, truth.json); IRCAD CT and a copy moved by a known rigid transform onto
// a 1.5 x 1.5 x 2 mm grid with intensities remapped MR-like (non-monotonic). Goals are reported, never enforced.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <itkCenteredTransformInitializer.h>
#include <itkImage.h>
#include <itkImageRegistrationMethodv4.h>
#include <itkMattesMutualInformationImageToImageMetricv4.h>
#include <itkRegistrationParameterScalesFromPhysicalShift.h>
#include <itkRegularStepGradientDescentOptimizerv4.h>
#include <itkVersorRigid3DTransform.h>

#include "MovedMrLikeCopy.h"
#include "PhantomTruth.h"
#include "TestData.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/imaging/VolumeIO.h"

using namespace jumeau;
using namespace jumeau::imaging;
namespace fs = std::filesystem;

namespace {

struct Pair {
    std::string name;
    Volume fixed, moving;
    Transform truth;           // fixed -> moving
    std::vector<Vec3> targets; // TRE points in the fixed frame
};

Volume firstSeries(const fs::path& folder) {
    auto loaded = loadDicomFolder(folder);
    if (!loaded || loaded->series.empty()) throw std::runtime_error("cannot load " + folder.string());
    return loaded->series.front().volume;
}

Pair phantomPair() {
    const fs::path dir = test::phantomCase();
    Pair p;
    p.name = "phantom CT->MR";
    p.fixed = firstSeries(dir / "ct");
    p.moving = firstSeries(dir / "mr");
    p.truth = test::phantomTruthTransform(dir, "mr");
    auto labels = readLabelMap(dir / "labels" / "labels.seg.nrrd");
    if (!labels) throw std::runtime_error(labels.error().message);
    const ImageGeometry& g = labels->geometry();
    for (int k = 0; k < g.size[2]; k += 4)
        for (int jj = 0; jj < g.size[1]; jj += 4)
            for (int i = 0; i < g.size[0]; i += 4)
                if (labels->labelAt(i, jj, k) == 2)
                    p.targets.push_back(g.indexToLps({double(i), double(jj), double(k)}));
    return p;
}

std::optional<Pair> ircadPair() {
    const fs::path dir = test::sharedData("ircad-3dircadb1.17-liver-ct/PATIENT_DICOM");
    if (dir.empty()) return std::nullopt;
    Pair p;
    p.name = "IRCAD CT->moved MR-like copy";
    p.fixed = firstSeries(dir);
    auto copy = test::movedMrLikeCopy(p.fixed);
    if (!copy) throw std::runtime_error(copy.error().message);
    p.truth = copy->truth;
    p.moving = copy->moving;
    const ImageGeometry& cg = p.fixed.geometry();
    for (int k = 0; k < cg.size[2]; k += 12)
        for (int j = 0; j < cg.size[1]; j += 12)
            for (int i = 0; i < cg.size[0]; i += 12)
                if (p.fixed.valueAt(i, j, k) > -300)
                    p.targets.push_back(cg.indexToLps({double(i), double(j), double(k)}));
    return p;
}

struct Outcome {
    double seconds = 0, treMaxMm = 0, treMeanMm = 0;
    int iterations = 0;
    bool ok = false;
    std::string note;
};

template <typename Map> void measureTre(Outcome& o, const Pair& p, Map&& map) {
    double sum = 0;
    for (const auto& x : p.targets) {
        const double e = geometry::distance(map(x), p.truth.apply(x));
        o.treMaxMm = std::max(o.treMaxMm, e);
        sum += e;
    }
    o.treMeanMm = p.targets.empty() ? 0 : sum / p.targets.size();
}

Outcome runJumeau(const Pair& p) {
    Outcome o;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = registerVolumes(p.fixed, p.moving, RegistrationOptions{});
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r) {
        o.note = r.error().message;
        return o;
    }
    o.ok = true;
    o.iterations = r->quality.iterations;
    measureTre(o, p, [&](const Vec3& x) { return r->transform.apply(x); });
    return o;
}

using Image = itk::Image<float, 3>;

Image::Pointer toItk(const Volume& v) {
    const Volume f = v.toFloat();
    const ImageGeometry& g = v.geometry();
    auto image = Image::New();
    Image::RegionType region;
    Image::SpacingType spacing;
    Image::PointType origin;
    Image::DirectionType direction;
    for (unsigned a = 0; a < 3; ++a) {
        region.SetSize(a, static_cast<itk::SizeValueType>(g.size[a]));
        spacing[a] = g.spacing[static_cast<int>(a)];
        origin[a] = g.origin[static_cast<int>(a)];
        for (unsigned c = 0; c < 3; ++c) direction(a, c) = g.direction.m[a][c];
    }
    image->SetRegions(region);
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    image->SetDirection(direction);
    image->Allocate();
    std::copy(f.data<float>(), f.data<float>() + g.voxelCount(), image->GetBufferPointer());
    return image;
}

// The plain ITK setup, as the ITK Software Guide's v4 rigid examples write it.
Outcome runReference(const Pair& p, int maxIterations) {
    Outcome o;
    const Image::Pointer fixed = toItk(p.fixed), moving = toItk(p.moving);
    const auto t0 = std::chrono::steady_clock::now();
    using Rigid = itk::VersorRigid3DTransform<double>;
    auto transform = Rigid::New();
    auto init = itk::CenteredTransformInitializer<Rigid, Image, Image>::New();
    init->SetTransform(transform);
    init->SetFixedImage(fixed);
    init->SetMovingImage(moving);
    init->GeometryOn();
    init->InitializeTransform();
    auto metric = itk::MattesMutualInformationImageToImageMetricv4<Image, Image>::New();
    metric->SetNumberOfHistogramBins(32);
    auto optimizer = itk::RegularStepGradientDescentOptimizerv4<double>::New();
    auto scales = itk::RegistrationParameterScalesFromPhysicalShift<itk::ImageToImageMetricv4<Image, Image>>::New();
    scales->SetMetric(metric);
    optimizer->SetScalesEstimator(scales);
    optimizer->SetDoEstimateLearningRateOnce(false);
    optimizer->SetLearningRate(1.0);
    optimizer->SetMinimumStepLength(0.01);
    optimizer->SetRelaxationFactor(0.5);
    optimizer->SetNumberOfIterations(static_cast<itk::SizeValueType>(maxIterations));
    using Method = itk::ImageRegistrationMethodv4<Image, Image, Rigid>;
    auto method = Method::New();
    method->SetFixedImage(fixed);
    method->SetMovingImage(moving);
    method->SetMetric(metric);
    method->SetOptimizer(optimizer);
    method->SetInitialTransform(transform);
    method->InPlaceOn();
    Method::ShrinkFactorsArrayType shrink(1);
    shrink[0] = 1;
    Method::SmoothingSigmasArrayType sigmas(1);
    sigmas[0] = 0;
    method->SetNumberOfLevels(1);
    method->SetShrinkFactorsPerLevel(shrink);
    method->SetSmoothingSigmasPerLevel(sigmas);
    method->SetMetricSamplingStrategy(Method::MetricSamplingStrategyEnum::NONE);
    try {
        method->Update();
    } catch (const itk::ExceptionObject& e) {
        o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        o.note = e.GetDescription();
        return o;
    }
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    o.ok = true;
    o.iterations = static_cast<int>(optimizer->GetCurrentIteration());
    o.note = optimizer->GetStopConditionDescription();
    measureTre(o, p, [&](const Vec3& x) {
        itk::Point<double, 3> q;
        for (unsigned a = 0; a < 3; ++a) q[a] = x[static_cast<int>(a)];
        const auto y = transform->TransformPoint(q);
        return Vec3{y[0], y[1], y[2]};
    });
    return o;
}

void print(const char* who, const Outcome& o) {
    if (!o.ok)
        std::printf("  %-10s FAILED after %.1f s: %s\n", who, o.seconds, o.note.c_str());
    else
        std::printf("  %-10s %7.1f s  %4d iterations  TRE max %.3f mm, mean %.3f mm  %s\n", who, o.seconds,
                    o.iterations, o.treMaxMm, o.treMeanMm, o.note.c_str());
}

int runReport(bool withIrcad, int referenceIterations) {
    std::vector<Pair> pairs;
    pairs.push_back(phantomPair());
    if (withIrcad) {
        if (auto p = ircadPair())
            pairs.push_back(std::move(*p));
        else
            std::printf("IRCAD data absent (../shared/data): only the phantom is measured\n");
    }
    for (const auto& p : pairs) {
        std::printf("%s: fixed %s, moving %s, %zu target points\n", p.name.c_str(),
                    p.fixed.geometry().describe().c_str(), p.moving.geometry().describe().c_str(), p.targets.size());
        const Outcome j = runJumeau(p);
        print("Jumeau", j);
        const Outcome r = runReference(p, referenceIterations);
        print("ITK plain", r);
        if (j.ok && r.ok)
            std::printf(
                "  time ratio Jumeau/reference %.3f (goal <= 0.2): %s; Jumeau TRE max %.3f mm (goal <= 1 mm): %s\n",
                j.seconds / r.seconds, j.seconds <= 0.2 * r.seconds ? "met" : "NOT met", j.treMaxMm,
                j.treMaxMm <= 1.0 ? "met" : "NOT met");
        std::fflush(stdout);
    }
    return 0;
}

void BM_JumeauRigidPhantomCtMr(benchmark::State& state) {
    static const Pair p = phantomPair();
    for (auto _ : state) {
        const Outcome o = runJumeau(p);
        if (!o.ok) state.SkipWithError(o.note.c_str());
        state.counters["treMaxMm"] = o.treMaxMm;
        state.counters["iterations"] = o.iterations;
    }
}
BENCHMARK(BM_JumeauRigidPhantomCtMr)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

} // namespace

int main(int argc, char** argv) {
    bool report = false, ircad = true;
    int referenceIterations = 200;
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--report")
            report = true;
        else if (a == "--no-ircad")
            ircad = false;
        else if (a.rfind("--reference-iterations=", 0) == 0)
            referenceIterations = std::max(1, std::stoi(a.substr(23)));
        else
            rest.push_back(argv[i]);
    }
    try {
        if (report) return runReport(ircad, referenceIterations);
        int n = static_cast<int>(rest.size());
        benchmark::Initialize(&n, rest.data());
        if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 1;
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jumeau_bench_registration: %s\n", e.what());
        return 1;
    }
}
