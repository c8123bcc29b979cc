// The twin keeps each series' transform to its reference frame: register the phantom case's MR onto its CT, then
// map reference points into the MR as truth.json says; unregistered series say so; bad indices are refused.

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "TestData.h"
#include "jumeau/simulation/CaseRegistration.h"
#include "jumeau/simulation/DemoCase.h"

using namespace jumeau;
using namespace jumeau::simulation;

namespace {

geometry::Transform truthTransform(const std::string& which) {
    const auto truth = readDemoCaseTruth(test::phantomCase());
    if (!truth) throw std::runtime_error(truth.error().describe());
    return which == "us" ? truth->ctToUs : truth->ctToMr;
}

std::size_t indexOfModality(const Case& c, const std::string& modality) {
    for (std::size_t i = 1; i < c.seriesCount(); ++i)
        if (c.series(i).info.modality == modality) return i;
    return 0;
}

} // namespace

TEST(CaseRegistration, MrOfThePhantomCaseIsRegisteredOntoTheReferenceAndKeptInTheCase) {
    auto opened = openCase(test::phantomCase());
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    Case c = std::move(*opened);
    const std::size_t mr = indexOfModality(c, "MR");
    const std::size_t us = indexOfModality(c, "US");
    ASSERT_NE(mr, 0u);
    ASSERT_NE(us, 0u);
    ASSERT_EQ(c.registrations.size(), c.other.size());
    EXPECT_FALSE(c.registrationOf(mr).registered);
    EXPECT_TRUE(c.registrationOf(0).registered) << "the reference is its own frame";
    EXPECT_FALSE(referenceToSeries(c, mr, {0, 0, 0}).has_value());

    auto q = registerSeries(c, mr, imaging::RegistrationOptions{});
    ASSERT_TRUE(q.ok()) << q.error().describe();
    const SeriesRegistration r = c.registrationOf(mr);
    ASSERT_TRUE(r.registered);
    ASSERT_TRUE(r.quality.has_value());
    EXPECT_TRUE(r.quality->converged);
    EXPECT_NE(r.method.find("rigid"), std::string::npos) << r.method;
    EXPECT_FALSE(r.toSeries.isDeformable());
    EXPECT_FALSE(c.registrationOf(us).registered) << "registering the MR leaves the ultrasound as it was";

    const geometry::Transform truth = truthTransform("mr");
    for (const geometry::Vec3& p :
         {geometry::Vec3{-40, 20, 10}, geometry::Vec3{30, -20, 40}, geometry::Vec3{0, 50, -50}}) {
        const auto mapped = referenceToSeries(c, mr, p);
        ASSERT_TRUE(mapped.has_value());
        EXPECT_LT(geometry::distance(*mapped, truth.apply(p)), 0.5);
    }

    // A series added later (the twin's timeline) starts unregistered, the earlier registration stays.
    addSeries(c, {c.other.at(mr - 1)});
    EXPECT_EQ(c.registrations.size(), c.other.size());
    EXPECT_FALSE(c.registrationOf(c.seriesCount() - 1).registered);
    EXPECT_TRUE(c.registrationOf(mr).registered);
}

// Intra-operative ultrasound lands on the twin through the liver: from approximate landmarks (each off by about
// 1.5 mm), the case registers the sweep with the reference's liver as the fixed mask on its own, within the
// issue's 1.5 mm of truth.
TEST(CaseRegistration, UltrasoundIsRegisteredOnTheLiverOfTheReferenceSegmentation) {
    auto opened = openCase(test::phantomCase());
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    Case c = std::move(*opened);
    const std::size_t us = indexOfModality(c, "US");
    ASSERT_NE(us, 0u);
    const auto organ = ultrasoundOrganMask(c);
    ASSERT_TRUE(organ.has_value());
    double organMl = 0;
    const auto& g = organ->geometry();
    for (std::size_t v = 0; v < g.voxelCount(); ++v) organMl += organ->data<std::uint8_t>()[v];
    organMl *= g.spacing[0] * g.spacing[1] * g.spacing[2] / 1000.0;
    // The phantom liver is 663 ml without the tumours and vessels inside it; the mask takes those in.
    EXPECT_GT(organMl, 663.0);
    EXPECT_LT(organMl, 760.0);

    const geometry::Transform truth = truthTransform("us");
    imaging::RegistrationOptions o;
    int n = 0;
    for (const geometry::Vec3& x : {geometry::Vec3{-60, -20, 0}, geometry::Vec3{0, -30, 40}, geometry::Vec3{-30, 10, 60},
                                    geometry::Vec3{-50, 0, -20}}) {
        const double e = 1.5 / std::sqrt(3.0);
        const geometry::Vec3 off{n % 2 ? e : -e, n % 3 ? e : -e, n % 2 ? -e : e};
        o.landmarks.push_back({"L" + std::to_string(++n), x, truth.apply(x) + off});
    }
    auto q = registerSeries(c, us, o);
    ASSERT_TRUE(q.ok()) << q.error().describe();
    const SeriesRegistration r = c.registrationOf(us);
    EXPECT_NE(r.method.find("on the liver"), std::string::npos) << r.method;
    // Checked where the sweep shows anatomy: reference points whose true position is a non-zero ultrasound voxel.
    const imaging::Volume& sweep = c.series(us).volume;
    const auto& cg = c.reference.volume.geometry();
    const auto& ug = sweep.geometry();
    int checked = 0;
    double worst = 0;
    for (int k = 0; k < cg.size[2]; k += 8)
        for (int j = 0; j < cg.size[1]; j += 8)
            for (int i = 0; i < cg.size[0]; i += 8) {
                const geometry::Vec3 x = cg.indexToLps({double(i), double(j), double(k)});
                const geometry::Vec3 u = ug.lpsToIndex(truth.apply(x));
                const int a = static_cast<int>(std::lround(u.x)), b = static_cast<int>(std::lround(u.y)),
                          d = static_cast<int>(std::lround(u.z));
                if (!ug.contains(a, b, d) || sweep.valueAt(a, b, d) <= 0) continue;
                const auto mapped = referenceToSeries(c, us, x);
                ASSERT_TRUE(mapped.has_value());
                worst = std::max(worst, geometry::distance(*mapped, truth.apply(x)));
                ++checked;
            }
    std::printf("ultrasound on the liver: worst error %.2f mm over %d points (%s)\n", worst, checked, r.method.c_str());
    EXPECT_GT(checked, 100);
    EXPECT_LT(worst, 1.5) << r.method << " (" << checked << " points)";
}

TEST(CaseRegistration, BadSeriesIndexOrFailedRegistrationLeavesTheCaseAsItWas) {
    auto opened = openCase(test::phantomCase());
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    Case c = std::move(*opened);
    auto zero = registerSeries(c, 0, {});
    ASSERT_FALSE(zero.ok());
    EXPECT_NE(zero.error().message.find("reference"), std::string::npos) << zero.error().message;
    auto far = registerSeries(c, c.seriesCount(), {});
    ASSERT_FALSE(far.ok());
    EXPECT_NE(far.error().message.find("no series"), std::string::npos) << far.error().message;

    // Landmark-only with two pairs: refused, and nothing is stored.
    const std::size_t mr = indexOfModality(c, "MR");
    imaging::RegistrationOptions o;
    o.landmarksOnly = true;
    o.landmarks = {{"a", {0, 0, 0}, {1, 0, 0}}, {"b", {10, 0, 0}, {11, 0, 0}}};
    auto failed = registerSeries(c, mr, o);
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.error().message.find("MR"), std::string::npos) << failed.error().message;
    EXPECT_FALSE(c.registrationOf(mr).registered);
}
