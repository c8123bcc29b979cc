// The twin keeps each series' transform to its reference frame: register the phantom case's MR onto its CT, then
// map reference points into the MR as truth.json says; unregistered series say so; bad indices are refused.

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "TestData.h"
#include "jumeau/simulation/CaseRegistration.h"

using namespace jumeau;
using namespace jumeau::simulation;

namespace {

geometry::Transform truthTransform(const std::string& which) {
    std::ifstream in(test::phantomCase() / "truth.json");
    const auto j = nlohmann::json::parse(in);
    std::array<std::array<double, 4>, 4> m{};
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c)
            m[r][c] = j.at("transforms").at(which).at("matrix").at(r).at(c).get<double>();
    return geometry::Transform::fromMatrix4(m);
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
