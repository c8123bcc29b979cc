#include <gtest/gtest.h>

#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Volume.h"

using namespace jumeau::imaging;

namespace {
ImageGeometry small() {
    ImageGeometry g;
    g.size = {4, 3, 2};
    g.spacing = {2, 2, 5};
    return g;
}
} // namespace

TEST(Volume, SharedImmutableBuffer) {
    std::vector<std::int16_t> v(24);
    for (int i = 0; i < 24; ++i) v[i] = static_cast<std::int16_t>(i * 10 - 100);
    const Volume a = Volume::create(small(), std::move(v));
    const Volume b = a; // copies share the buffer
    EXPECT_EQ(a.data<std::int16_t>(), b.data<std::int16_t>());
    EXPECT_TRUE(a.holds<std::int16_t>());
    EXPECT_FALSE(a.holds<float>());
    EXPECT_EQ(a.byteCount(), 48u);
    EXPECT_EQ(a.valueAt(1, 2, 1), (1 + 4 * (2 + 3 * 1)) * 10 - 100);
    const auto [lo, hi] = a.range();
    EXPECT_EQ(lo, -100);
    EXPECT_EQ(hi, 130);
    const Volume f = a.toFloat();
    EXPECT_TRUE(f.holds<float>());
    EXPECT_FLOAT_EQ(f.data<float>()[5], -50.f);
}

TEST(LabelMap, StructureTableAndVolumes) {
    std::vector<std::uint8_t> v(24, 0);
    v[0] = 1; v[1] = 1; v[2] = 2;
    const LabelMap lm(Volume::create(small(), std::move(v)),
                      {{1, "Liver", {0.8, 0.4, 0.3}, StructureCategory::Organ},
                       {2, "Tumour 1", {0.9, 0.9, 0.2}, StructureCategory::Tumour}});
    EXPECT_EQ(lm.voxelCount(1), 2u);
    EXPECT_EQ(lm.voxelCount(2), 1u);
    EXPECT_NEAR(lm.volumeMl(1), 2 * 20 / 1000.0, 1e-12);
    ASSERT_NE(lm.findByName("liver"), nullptr);
    EXPECT_EQ(lm.findByName("LIVER")->label, 1);
    EXPECT_EQ(lm.findByLabel(2)->category, StructureCategory::Tumour);
    EXPECT_EQ(lm.findByLabel(7), nullptr);
    EXPECT_EQ(lm.labelAt(2, 0, 0), 2);
}

TEST(LabelMap, CategoryNamesRoundTrip) {
    for (auto c : {StructureCategory::Organ, StructureCategory::Tumour, StructureCategory::Vessel, StructureCategory::Bone,
                   StructureCategory::Body, StructureCategory::Other})
        EXPECT_EQ(structureCategoryFromString(toString(c)), c);
    EXPECT_FALSE(structureCategoryFromString("spleenish").has_value());
}
