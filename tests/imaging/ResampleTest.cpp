// Resampling volumes and label maps between grids: a structure keeps its volume and position (LPS) when moved from
// an oblique anisotropic grid onto an axial one, whole-voxel shifts and identical grids are exact, a coarse round
// trip keeps labels, and linear interpolation agrees with ITK's ResampleImageFilter on oblique grids.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>

#include <itkAffineTransform.h>
#include <itkImage.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

#include "jumeau/imaging/Resample.h"

using namespace jumeau;
using namespace jumeau::imaging;

namespace {

constexpr double kPi = std::numbers::pi;

ImageGeometry obliqueAnisotropic() {
    ImageGeometry g;
    g.size = {96, 80, 36};
    g.spacing = {0.7, 0.9, 2.0};
    g.direction = Mat3::rotationXYZ(20 * kPi / 180, -15 * kPi / 180, 30 * kPi / 180);
    // Grid centred near (10, -20, 30) so that direction or origin mistakes move the structure visibly.
    const Vec3 half{(g.size[0] - 1) * 0.35, (g.size[1] - 1) * 0.45, (g.size[2] - 1) * 1.0};
    g.origin = Vec3{10, -20, 30} - g.direction * half;
    return g;
}

ImageGeometry axial(const Vec3& centre, std::array<int, 3> size, Vec3 spacing) {
    ImageGeometry g;
    g.size = size;
    g.spacing = spacing;
    g.origin =
        centre - Vec3{(size[0] - 1) * spacing.x / 2, (size[1] - 1) * spacing.y / 2, (size[2] - 1) * spacing.z / 2};
    return g;
}

// Voxels whose centre lies in the ball get `label`.
LabelMap sphereLabels(const ImageGeometry& g, const Vec3& centre, double radius, std::uint8_t label = 1) {
    std::vector<std::uint8_t> v(g.voxelCount(), 0);
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                if (distance(g.indexToLps({double(i), double(j), double(k)}), centre) <= radius)
                    v[g.linearIndex(i, j, k)] = label;
    Structure s;
    s.label = label;
    s.name = "sphere";
    s.colour = {0.9, 0.8, 0.2};
    s.category = StructureCategory::Tumour;
    return LabelMap(Volume::create(g, std::move(v)), {s});
}

struct Moments {
    std::size_t count = 0;
    Vec3 centroid;
};

Moments moments(const LabelMap& m, std::uint16_t label) {
    const ImageGeometry& g = m.geometry();
    Moments r;
    Vec3 sum;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                if (m.labelAt(i, j, k) == label) {
                    ++r.count;
                    sum += g.indexToLps({double(i), double(j), double(k)});
                }
    if (r.count) r.centroid = sum / static_cast<double>(r.count);
    return r;
}

Volume randomFloat(const ImageGeometry& g, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1000.f, 1000.f);
    std::vector<float> v(g.voxelCount());
    for (auto& x : v) x = d(rng);
    return Volume::create(g, std::move(v));
}

} // namespace

TEST(Resample, ObliqueAnisotropicSphereOntoAxialGridKeepsVolumeAndCentre) {
    const ImageGeometry source = obliqueAnisotropic();
    const Vec3 centre{12.3, -17.9, 27.4};
    const double radius = 18.0;
    const LabelMap labels = sphereLabels(source, centre, radius, 7);
    const ImageGeometry target = axial({10, -20, 30}, {90, 90, 60}, {0.8, 0.8, 1.5});

    for (auto method : {LabelResampling::Nearest, LabelResampling::Majority}) {
        ResampleOptions o;
        o.labelResampling = method;
        auto r = resampleLabelMap(labels, target, o);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_EQ(r->structures().size(), 1u);
        EXPECT_EQ(r->structures()[0].name, "sphere");
        EXPECT_EQ(r->structures()[0].category, StructureCategory::Tumour);
        const Moments before = moments(labels, 7), after = moments(*r, 7);
        const double sourceMl = before.count * source.voxelVolumeMm3() / 1000;
        const double targetMl = after.count * target.voxelVolumeMm3() / 1000;
        const double analyticMl = 4.0 / 3.0 * kPi * radius * radius * radius / 1000;
        std::printf("%s: source %.3f ml, resampled %.3f ml, analytic %.3f ml, centre moved %.3f mm\n",
                    method == LabelResampling::Nearest ? "nearest" : "majority", sourceMl, targetMl, analyticMl,
                    distance(after.centroid, before.centroid));
        // Each target voxel takes the source cell its centre (or most of it) falls in, so the resampled region
        // differs from the source's only in the ~4 pi r^2 / 0.8^2 = 6400 boundary voxels, with errors of either
        // sign; their sum stays within a few tenths of a percent. 1% would still catch a spacing or direction
        // mix-up (the source voxel is 1.26 mm3, the target's 0.96 mm3) or a half-voxel shift.
        EXPECT_NEAR(targetMl, sourceMl, 0.01 * sourceMl);
        EXPECT_LT(distance(after.centroid, before.centroid), 0.5 * 0.8); // half the smallest target voxel
        EXPECT_LT(distance(after.centroid, centre), 0.5 * 0.8);
        EXPECT_EQ(r->geometry().size, target.size);
        // Nothing but the sphere's label and background.
        const auto h = r->histogram();
        for (std::size_t v = 1; v < h.size(); ++v) {
            if (v != 7) {
                EXPECT_EQ(h[v], 0u) << "value " << v;
            }
        }
    }
}

TEST(Resample, IntegerShiftsAndFlipsAreExact) {
    ImageGeometry source = obliqueAnisotropic();
    source.size = {20, 17, 9};
    const Volume image = randomFloat(source, 5);
    // Target: same axes and spacing, origin 3 voxels along i and -2 along k, a different size, and axis j flipped.
    ImageGeometry target = source;
    target.size = {15, 17, 12};
    target.origin = source.indexToLps({3, 16, -2});
    const Vec3 j = source.axis(1);
    for (int r = 0; r < 3; ++r) target.direction.m[r][1] = -j[r];
    for (auto interp : {Interpolation::Nearest, Interpolation::Linear}) {
        ResampleOptions o;
        o.interpolation = interp;
        o.outsideValue = -5000;
        auto r = resampleVolume(image, target, o);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_TRUE(r->holds<float>());
        std::size_t inside = 0;
        for (int k = 0; k < target.size[2]; ++k)
            for (int jj = 0; jj < target.size[1]; ++jj)
                for (int i = 0; i < target.size[0]; ++i) {
                    const int si = i + 3, sj = 16 - jj, sk = k - 2;
                    const float got = r->data<float>()[target.linearIndex(i, jj, k)];
                    if (source.contains(si, sj, sk)) {
                        ASSERT_EQ(got, image.data<float>()[source.linearIndex(si, sj, sk)])
                            << i << "," << jj << "," << k;
                        ++inside;
                    } else {
                        ASSERT_EQ(got, -5000.f) << i << "," << jj << "," << k;
                    }
                }
        EXPECT_EQ(inside, 15u * 17u * 9u);
    }
}

TEST(Resample, IdenticalGridReturnsTheSameVoxels) {
    const ImageGeometry g = obliqueAnisotropic();
    const LabelMap labels = sphereLabels(g, {12, -18, 28}, 10, 3);
    auto r = resampleLabelMap(labels, g);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->labels().rawData(), labels.labels().rawData()); // shared, not even copied
    EXPECT_EQ(r->structures().size(), 1u);
    const Volume image = randomFloat(g, 9);
    auto v = resampleVolume(image, g);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->rawData(), image.rawData());
    // An identity transform given explicitly is the same grid too.
    ResampleOptions o;
    o.targetToSource = geometry::Transform::identity();
    auto w = resampleVolume(image, g, o);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->rawData(), image.rawData());
}

TEST(Resample, LabelsSurviveARoundTripThroughACoarserGrid) {
    // Fine 0.5 mm grid with three structures; coarse 1.5 mm grid offset by a third of a coarse voxel; back to fine.
    const ImageGeometry fine = axial({0, 0, 0}, {120, 120, 120}, {0.5, 0.5, 0.5});
    std::vector<std::uint8_t> v(fine.voxelCount(), 0);
    for (int k = 0; k < 120; ++k)
        for (int j = 0; j < 120; ++j)
            for (int i = 0; i < 120; ++i) {
                const Vec3 p = fine.indexToLps({double(i), double(j), double(k)});
                if (distance(p, {-8, 3, 2}) <= 14) v[fine.linearIndex(i, j, k)] = 2;
                if (distance(p, {-8, 3, 2}) <= 6) v[fine.linearIndex(i, j, k)] = 5;        // inside 2
                if (std::hypot(p.x - 14, p.y + 10) <= 3) v[fine.linearIndex(i, j, k)] = 9; // a 6 mm tube along z
            }
    std::vector<Structure> table{{2, "organ", {1, 0, 0}, StructureCategory::Organ},
                                 {5, "lesion", {1, 1, 0}, StructureCategory::Tumour},
                                 {9, "vessel", {0, 0, 1}, StructureCategory::Vessel}};
    const LabelMap labels(Volume::create(fine, std::move(v)), table);
    const ImageGeometry coarse = axial({0.75, 0.75, 0.75}, {41, 41, 41}, {1.5, 1.5, 1.5});

    for (auto method : {LabelResampling::Nearest, LabelResampling::Majority}) {
        ResampleOptions down;
        down.labelResampling = method;
        auto c = resampleLabelMap(labels, coarse, down);
        ASSERT_TRUE(c.ok()) << c.error().message;
        auto back = resampleLabelMap(*c, fine);
        ASSERT_TRUE(back.ok()) << back.error().message;
        ASSERT_EQ(back->structures().size(), 3u);
        EXPECT_EQ(back->structures()[2].name, "vessel");
        EXPECT_EQ(back->structures()[1].category, StructureCategory::Tumour);
        for (std::uint16_t label : {2, 5, 9}) {
            const std::size_t a = labels.voxelCount(label), b = back->voxelCount(label);
            std::size_t both = 0;
            for (std::size_t i = 0; i < fine.voxelCount(); ++i)
                both +=
                    labels.labels().data<std::uint8_t>()[i] == label && back->labels().data<std::uint8_t>()[i] == label;
            const double dice = 2.0 * both / double(a + b);
            std::printf("%s label %u: %zu -> %zu voxels, Dice %.4f\n",
                        method == LabelResampling::Nearest ? "nearest" : "majority", label, a, b, dice);
            // Boundary voxels of a 1.5 mm grid are 3 fine voxels thick. The spheres keep their volume within 2%;
            // the 3 mm-radius tube is a disc of radius 2 coarse voxels in each slice, whose lattice count swings by
            // +-1.5 voxels of 12.6 with the grid's phase: up to 15%.
            EXPECT_GT(dice, label == 9 ? 0.85 : 0.9) << "label " << label;
            EXPECT_NEAR(double(b), double(a), (label == 9 ? 0.15 : 0.02) * double(a)) << "label " << label;
        }
    }
}

TEST(Resample, MajorityBeatsNearestOnASpeckledMaskGoingCoarse) {
    // A hand-drawn or thresholded mask has speckle: 10% of an organ's voxels missing at random. Going to a 3x
    // coarser grid, nearest copies whatever the centre voxel is (a hole becomes a 27-voxel hole), majority votes.
    const ImageGeometry fine = axial({0, 0, 0}, {90, 90, 90}, {0.5, 0.5, 0.5});
    std::mt19937 rng(3);
    std::bernoulli_distribution hole(0.1);
    std::vector<std::uint8_t> v(fine.voxelCount(), 0);
    std::size_t inside = 0;
    for (int k = 0; k < 90; ++k)
        for (int j = 0; j < 90; ++j)
            for (int i = 0; i < 90; ++i)
                if (distance(fine.indexToLps({double(i), double(j), double(k)}), {1, -2, 0.5}) <= 17) {
                    ++inside;
                    if (!hole(rng)) v[fine.linearIndex(i, j, k)] = 4;
                }
    const LabelMap labels(Volume::create(fine, std::move(v)), {{4, "liver", {1, 0, 0}, StructureCategory::Organ}});
    const ImageGeometry coarse = axial({0.1, 0.2, -0.3}, {30, 30, 30}, {1.5, 1.5, 1.5});
    std::size_t wrong[2] = {0, 0}, kept[2] = {0, 0};
    for (int m = 0; m < 2; ++m) {
        ResampleOptions o;
        o.labelResampling = m == 0 ? LabelResampling::Nearest : LabelResampling::Majority;
        auto c = resampleLabelMap(labels, coarse, o);
        ASSERT_TRUE(c.ok());
        auto back = resampleLabelMap(*c, fine);
        ASSERT_TRUE(back.ok());
        kept[m] = back->voxelCount(4);
        for (std::size_t i = 0; i < fine.voxelCount(); ++i)
            wrong[m] += labels.labels().data<std::uint8_t>()[i] != back->labels().data<std::uint8_t>()[i];
    }
    std::printf("speckled organ (%zu voxels, %zu labelled): back from 1.5 mm, nearest %zu labelled / %zu wrong, "
                "majority %zu labelled / %zu wrong\n",
                inside, labels.voxelCount(4), kept[0], wrong[0], kept[1], wrong[1]);
    // Majority fills the speckle (about the 10% holes come back labelled), nearest enlarges each hole it hits.
    EXPECT_LT(wrong[1], wrong[0] * 3 / 4);
    EXPECT_NEAR(double(kept[1]), double(inside), 0.03 * inside);
    EXPECT_NEAR(double(kept[0]), double(labels.voxelCount(4)), 0.03 * inside);
}

TEST(Resample, TransformMapsTargetPointsToSourcePoints) {
    const ImageGeometry g = axial({0, 0, 0}, {60, 60, 60}, {1, 1, 1});
    const LabelMap labels = sphereLabels(g, {5, 0, 0}, 8, 1);
    ResampleOptions o;
    o.targetToSource = geometry::Transform::rigid(Mat3::identity(), {10.25, 0, 0});
    auto r = resampleLabelMap(labels, g, o);
    ASSERT_TRUE(r.ok());
    // Target point x shows the source at x + 10.25: the sphere at source x = 5 appears near x = -5.25.
    const Moments m = moments(*r, 1);
    EXPECT_NEAR(m.centroid.x, -5.25, 0.5);
    EXPECT_NEAR(m.centroid.y, 0, 0.1);
    EXPECT_GT(m.count, 0u);
}

TEST(Resample, LinearAgreesWithItkOnObliqueGridsWithATransform) {
    ImageGeometry source = obliqueAnisotropic();
    source.size = {40, 36, 20};
    // A smooth image (random values would make the comparison sensitive only to weights, not to positions).
    std::vector<float> values(source.voxelCount());
    for (int k = 0; k < source.size[2]; ++k)
        for (int j = 0; j < source.size[1]; ++j)
            for (int i = 0; i < source.size[0]; ++i) {
                const Vec3 p = source.indexToLps({double(i), double(j), double(k)});
                values[source.linearIndex(i, j, k)] = float(100 * std::sin(p.x / 7) + 50 * std::cos(p.y / 5) + p.z);
            }
    const Volume image = Volume::create(source, std::move(values));
    const ImageGeometry target = axial(source.centreLps(), {50, 45, 30}, {0.6, 0.8, 1.1});
    const geometry::Transform t = geometry::Transform::rigid(Mat3::rotationXYZ(0.05, -0.1, 0.15), {3, -2, 1.5});
    ResampleOptions o;
    o.targetToSource = t;
    o.outsideValue = -999;
    auto ours = resampleVolume(image, target, o);
    ASSERT_TRUE(ours.ok()) << ours.error().message;

    using Image = itk::Image<float, 3>;
    auto in = Image::New();
    Image::RegionType region;
    Image::SpacingType spacing;
    Image::PointType origin;
    Image::DirectionType direction;
    for (unsigned a = 0; a < 3; ++a) {
        region.SetSize(a, static_cast<itk::SizeValueType>(source.size[a]));
        spacing[a] = source.spacing[int(a)];
        origin[a] = source.origin[int(a)];
        for (unsigned c = 0; c < 3; ++c) direction[a][c] = source.direction.m[a][c];
    }
    in->SetRegions(region);
    in->SetSpacing(spacing);
    in->SetOrigin(origin);
    in->SetDirection(direction);
    in->Allocate();
    std::copy(image.data<float>(), image.data<float>() + source.voxelCount(), in->GetBufferPointer());
    auto affine = itk::AffineTransform<double, 3>::New();
    itk::AffineTransform<double, 3>::MatrixType matrix;
    itk::AffineTransform<double, 3>::OutputVectorType offset;
    for (unsigned r = 0; r < 3; ++r) {
        for (unsigned c = 0; c < 3; ++c) matrix[r][c] = t.linear.m[r][c];
        offset[r] = t.translation[int(r)];
    }
    affine->SetMatrix(matrix);
    affine->SetOffset(offset);
    auto resample = itk::ResampleImageFilter<Image, Image>::New();
    resample->SetInput(in);
    resample->SetTransform(affine);
    resample->SetInterpolator(itk::LinearInterpolateImageFunction<Image, double>::New());
    resample->SetDefaultPixelValue(-999);
    Image::SizeType outSize;
    Image::SpacingType outSpacing;
    Image::PointType outOrigin;
    for (unsigned a = 0; a < 3; ++a) {
        outSize[a] = static_cast<itk::SizeValueType>(target.size[a]);
        outSpacing[a] = target.spacing[int(a)];
        outOrigin[a] = target.origin[int(a)];
    }
    resample->SetSize(outSize);
    resample->SetOutputSpacing(outSpacing);
    resample->SetOutputOrigin(outOrigin);
    resample->Update();
    const float* itkOut = resample->GetOutput()->GetBufferPointer();

    std::size_t compared = 0, outsideBoth = 0, disagreeOnInside = 0;
    double maxDiff = 0;
    for (std::size_t i = 0; i < target.voxelCount(); ++i) {
        const float a = ours->data<float>()[i], b = itkOut[i];
        if (a == -999.f && b == -999.f) {
            ++outsideBoth;
        } else if (a == -999.f || b == -999.f) {
            ++disagreeOnInside; // only possible for points exactly on the half-voxel border
        } else {
            ++compared;
            maxDiff = std::max(maxDiff, double(std::abs(a - b)));
        }
    }
    std::printf("compared %zu voxels with ITK (max |diff| %.2e), %zu outside in both, %zu on the border\n", compared,
                maxDiff, outsideBoth, disagreeOnInside);
    EXPECT_GT(compared, target.voxelCount() / 4);
    EXPECT_GT(outsideBoth, 0u);
    EXPECT_LE(disagreeOnInside, target.voxelCount() / 1000);
    EXPECT_LT(maxDiff, 1e-3);
}

TEST(Resample, Int16ImageIsRoundedAndOutsideClamped) {
    ImageGeometry g = axial({0, 0, 0}, {4, 1, 1}, {1, 1, 1});
    const Volume v = Volume::create(g, std::vector<std::int16_t>{0, 3, -1000, 1000});
    ImageGeometry half = g;
    half.size = {8, 1, 1};
    half.spacing = {0.5, 1, 1};
    half.origin = g.origin + Vec3{-0.25, 0, 0};
    ResampleOptions o;
    o.outsideValue = -1e9; // clamped to -32768
    auto r = resampleVolume(v, half, o);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->holds<std::int16_t>());
    const std::int16_t* p = r->data<std::int16_t>();
    // Points at x = -0.25, 0.25, 0.75, ...: the first is clamped to voxel 0, then 1/4 and 3/4 of the way.
    EXPECT_EQ(p[0], 0);
    EXPECT_EQ(p[1], 1);    // 0.75*0 + 0.25*3
    EXPECT_EQ(p[2], 2);    // 0.25*0 + 0.75*3 = 2.25
    EXPECT_EQ(p[3], -248); // 0.75*3 + 0.25*-1000 = -247.75
    EXPECT_EQ(p[7], 1000); // past the last centre, within its half voxel
    ImageGeometry shifted = g;
    shifted.origin = g.origin + Vec3{10, 0, 0};
    auto out = resampleVolume(v, shifted, o);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->data<std::int16_t>()[0], -32768);
}

TEST(Resample, BadInputAndCancelAreReported) {
    const ImageGeometry g = axial({0, 0, 0}, {64, 64, 64}, {1, 1, 1});
    auto empty = resampleVolume(Volume(), g);
    ASSERT_FALSE(empty.ok());
    EXPECT_NE(empty.error().message.find("empty"), std::string::npos);
    const Volume image = randomFloat(g, 1);
    ImageGeometry bad = g;
    bad.spacing = {1, 0, 1};
    auto invalid = resampleVolume(image, bad);
    ASSERT_FALSE(invalid.ok());
    EXPECT_NE(invalid.error().message.find("target grid is not valid"), std::string::npos) << invalid.error().message;
    ResampleOptions singular;
    geometry::Transform flat;
    flat.linear.m[2][2] = 0;
    singular.targetToSource = flat;
    EXPECT_FALSE(resampleVolume(image, g, singular).ok());
    ImageGeometry moved = g;
    moved.origin = {0.5, 0, 0};
    auto cancelled = resampleVolume(image, moved, {}, [](double, const std::string&) { return false; });
    ASSERT_FALSE(cancelled.ok());
    EXPECT_EQ(cancelled.error().code, ErrorCode::Cancelled);
}
