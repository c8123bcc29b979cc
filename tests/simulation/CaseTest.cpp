// Opening a case: the demo case comes back with its CT as reference and the label map on the same grid;
// bad paths give errors that name the path.
#include <gtest/gtest.h>

#include <fstream>

#include "TestData.h"
#include "jumeau/simulation/Case.h"
#include "jumeau/imaging/VolumeIO.h"
#include "jumeau/simulation/DemoCase.h"

using namespace jumeau;
namespace fs = std::filesystem;

namespace {
fs::path demoCase() { return test::phantomCase(); }
} // namespace

TEST(Case, OpensTheDemoCaseWithCtReferenceAndLabels) {
    auto c = simulation::openCase(demoCase());
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->reference.info.modality, "CT");
    const auto& g = c->reference.volume.geometry();
    EXPECT_EQ(g.size, (std::array<int, 3>{256, 256, 160}));
    EXPECT_NEAR(g.spacing.x, 0.8, 1e-6);
    EXPECT_NEAR(g.spacing.z, 1.5, 1e-6);
    ASSERT_TRUE(c->labels.has_value());
    EXPECT_TRUE(c->labels->geometry().sameGrid(g));
    ASSERT_NE(c->labels->findByName("liver"), nullptr);
    EXPECT_GT(c->labels->volumeMl(c->labels->findByName("liver")->label), 100.0);
    // Hounsfield units, not stored values: the liver is enhanced soft tissue, air is -1000.
    EXPECT_LT(c->reference.volume.valueAt(0, 0, 0), -900);
    // The MR and the ultrasound sweep come along as the case's other series.
    ASSERT_EQ(c->other.size(), 2u);
    EXPECT_EQ(c->series(1).info.modality, "MR");
    EXPECT_EQ(c->series(2).info.modality, "US");
    EXPECT_EQ(c->seriesCount(), 3u);
}

TEST(Case, CaseFromSeriesPicksTheReferenceAndAddSeriesKeepsIt) {
    auto opened = simulation::openCase(demoCase());
    ASSERT_TRUE(opened.ok());
    // Hand the series over in an order where the CT is not first.
    std::vector<imaging::LoadedSeries> series{opened->other[1], opened->other[0], opened->reference};
    auto c = simulation::caseFromSeries(series, "picked");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->reference.info.modality, "CT");
    EXPECT_EQ(c->other.size(), 2u);
    simulation::addSeries(*c, {opened->other[0]});
    EXPECT_EQ(c->reference.info.seriesUid, opened->reference.info.seriesUid);
    EXPECT_EQ(c->seriesCount(), 4u);
    EXPECT_FALSE(simulation::caseFromSeries({}, "nothing").ok());
}

TEST(Case, CancelStopsLoading) {
    auto c = simulation::openCase(demoCase(), [](double, const std::string&) { return false; });
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ErrorCode::Cancelled);
}

TEST(Case, MissingPathIsNamed) {
    const fs::path p = test::outputDir("case-bad") / "nowhere";
    auto c = simulation::openCase(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ErrorCode::NotFound);
    EXPECT_NE(c.error().message.find(p.string()), std::string::npos);
}

TEST(Case, EmptyAndNonDicomFoldersAreRefusedWithTheirPath) {
    const fs::path root = test::outputDir("case-bad-folders");
    fs::create_directories(root / "empty");
    fs::create_directories(root / "text");
    std::ofstream(root / "text" / "a.dcm") << "this is not DICOM";
    for (const fs::path& p : {root / "empty", root / "text"}) {
        auto c = simulation::openCase(p);
        ASSERT_FALSE(c.ok()) << p;
        EXPECT_NE(c.error().message.find(p.string()), std::string::npos) << c.error().message;
    }
}

TEST(Case, LabelsOnAnotherGridAreRefused) {
    // A demo-case layout whose label map does not match the CT grid must not be overlaid silently.
    const fs::path root = test::outputDir("case-mismatch");
    fs::copy(demoCase() / "ct", root / "ct", fs::copy_options::recursive);
    fs::create_directories(root / "labels");
    imaging::ImageGeometry g;
    g.size = {10, 10, 10};
    std::vector<std::uint8_t> v(g.voxelCount(), 1);
    ASSERT_TRUE(imaging::writeLabelMap(imaging::LabelMap(imaging::Volume::create(g, std::move(v)), {}), root / "labels" / "l.seg.nrrd").ok());
    auto c = simulation::openCase(root);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("differs from the CT grid"), std::string::npos) << c.error().message;
}

TEST(Case, RealCtFolderWithMaskSeriesOpensTheCtWithTheMasksAsItsSegmentation) {
    // IRCAD stores its expert masks as 0/255 "CT" series beside the scan, all on the same grid: opening the folder
    // makes the CT the reference and the 8 masks its label map (named from the series, overlaps resolved).
    JUMEAU_REQUIRE_SHARED_DATA(dir, "ircad-3dircadb1.17-liver-ct");
    auto c = simulation::openCase(dir);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->reference.info.patientName, "liver_17^patient");
    EXPECT_EQ(c->reference.volume.geometry().size, (std::array<int, 3>{512, 512, 119}));
    ASSERT_TRUE(c->labels.has_value());
    EXPECT_EQ(c->labels->structures().size(), 8u);
    EXPECT_EQ(c->other.size(), 0u);
    const auto* liver = c->labels->findByName("liver");
    ASSERT_NE(liver, nullptr);
    EXPECT_EQ(liver->category, imaging::StructureCategory::Organ);
    // The liver mask (1860.6 ml) minus what the tumours and vessels inside it keep (documented in LabelImportTest).
    EXPECT_NEAR(c->labels->volumeMl(liver->label), 1648.0, 1.0);
    EXPECT_FALSE(c->warnings.empty()); // README.txt skipped
}
