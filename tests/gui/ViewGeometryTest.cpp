// Slice-view orientation: radiological convention in patient LPS, whatever the acquisition's index order.
#include <gtest/gtest.h>

#include "viz/SliceGeometry.h"

using namespace jumeau;
using viz::SliceOrientation;

namespace {
imaging::ImageGeometry axialGrid() {
    imaging::ImageGeometry g;
    g.size = {40, 30, 20};
    g.spacing = {0.8, 0.9, 1.5};
    return g;
}
} // namespace

TEST(SliceGeometry, AxialShowsPatientRightOnScreenLeftAnteriorUp) {
    const auto a = viz::sliceAxesFor(axialGrid(), SliceOrientation::Axial);
    EXPECT_EQ(a.hAxis, 0);
    EXPECT_EQ(a.vAxis, 1);
    EXPECT_EQ(a.sliceAxis, 2);
    EXPECT_FALSE(a.hReversed);
    EXPECT_FALSE(a.vReversed);
    EXPECT_EQ(a.width, 40);
    EXPECT_EQ(a.height, 30);
    EXPECT_DOUBLE_EQ(a.vSpacing, 0.9);
    EXPECT_EQ(a.edgeLetters[0], 'R');
    EXPECT_EQ(a.edgeLetters[1], 'L');
    EXPECT_EQ(a.edgeLetters[2], 'A');
    EXPECT_EQ(a.edgeLetters[3], 'P');
}

TEST(SliceGeometry, CoronalPutsSuperiorAtTheTop) {
    const auto a = viz::sliceAxesFor(axialGrid(), SliceOrientation::Coronal);
    EXPECT_EQ(a.hAxis, 0);
    EXPECT_EQ(a.vAxis, 2);
    EXPECT_EQ(a.sliceAxis, 1);
    EXPECT_TRUE(a.vReversed); // k grows superior, screen rows grow downwards
    // Top-left screen pixel is the most superior slice, patient's right.
    const auto idx = viz::screenToIndex(a, 0, 0, 7);
    EXPECT_EQ(idx[0], 0);
    EXPECT_EQ(idx[1], 7);
    EXPECT_EQ(idx[2], 19);
    EXPECT_EQ(a.edgeLetters[2], 'S');
    EXPECT_EQ(a.edgeLetters[3], 'I');
}

TEST(SliceGeometry, SagittalShowsAnteriorOnTheLeft) {
    const auto a = viz::sliceAxesFor(axialGrid(), SliceOrientation::Sagittal);
    EXPECT_EQ(a.hAxis, 1);
    EXPECT_EQ(a.vAxis, 2);
    EXPECT_EQ(a.sliceAxis, 0);
    EXPECT_EQ(a.edgeLetters[0], 'A');
    EXPECT_EQ(a.edgeLetters[1], 'P');
}

TEST(SliceGeometry, FeetFirstAndFlippedRowsAreShownTheRightWayRound) {
    // Rows run towards the patient's right (-x), columns anterior (-y): both flipped vs. the usual axial.
    imaging::ImageGeometry g = axialGrid();
    g.direction = imaging::Mat3::fromColumns({-1, 0, 0}, {0, -1, 0}, {0, 0, 1});
    const auto a = viz::sliceAxesFor(g, SliceOrientation::Axial);
    EXPECT_TRUE(a.hReversed);
    EXPECT_TRUE(a.vReversed);
    // Screen-left column (patient's right) is the last index along i, since i runs towards the right.
    EXPECT_EQ(viz::screenToIndex(a, 0, 0, 3)[0], 39);
}

TEST(SliceGeometry, CoronalAcquisitionUsesTheRightIndexAxes) {
    imaging::ImageGeometry g = axialGrid();
    g.direction = imaging::Mat3::fromColumns({1, 0, 0}, {0, 0, -1}, {0, 1, 0}); // coronal slices
    const auto axial = viz::sliceAxesFor(g, SliceOrientation::Axial);
    EXPECT_EQ(axial.sliceAxis, 1);
    EXPECT_EQ(axial.vAxis, 2);
    const auto coronal = viz::sliceAxesFor(g, SliceOrientation::Coronal);
    EXPECT_EQ(coronal.sliceAxis, 2);
    EXPECT_EQ(coronal.vAxis, 1);
    EXPECT_FALSE(coronal.vReversed); // j already runs towards the feet
}

TEST(SliceGeometry, ScreenIndexRoundTrip) {
    imaging::ImageGeometry g = axialGrid();
    g.direction = imaging::Mat3::fromColumns({-1, 0, 0}, {0, 0, -1}, {0, 1, 0});
    for (auto o : {SliceOrientation::Axial, SliceOrientation::Coronal, SliceOrientation::Sagittal}) {
        const auto a = viz::sliceAxesFor(g, o);
        const std::array<int, 3> idx{5, 17, 9};
        const auto s = viz::indexToScreen(a, idx);
        EXPECT_EQ(viz::screenToIndex(a, s[0], s[1], s[2]), idx) << viz::toString(o);
    }
}
