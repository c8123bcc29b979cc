// VolumeIO: NRRD / NIfTI / MetaImage round trips keep LPS geometry and voxels; label maps keep their structure
// table in Slicer-compatible .seg.nrrd keys.

#include <gtest/gtest.h>

#include <fstream>

#include "TestData.h"
#include "jumeau/imaging/VolumeIO.h"

using namespace jumeau;
using namespace jumeau::imaging;
namespace fs = std::filesystem;

namespace {

// Oblique and anisotropic, with an origin exactly representable in float32 (NIfTI stores qoffset as float).
ImageGeometry obliqueGeometry() {
    ImageGeometry g;
    g.size = {7, 5, 4};
    g.spacing = {0.7, 0.9, 2.5};
    g.origin = {-12.25, 33.5, -101.75};
    g.direction = Mat3::rotationXYZ(0.3, -0.2, 0.5);
    return g;
}

template <typename T> Volume patternVolume(const ImageGeometry& g, double scale, double offset) {
    std::vector<T> v(g.voxelCount());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(static_cast<double>(i) * scale + offset);
    return Volume::create(g, std::move(v));
}

void expectSameGeometry(const ImageGeometry& a, const ImageGeometry& b, double tol) {
    EXPECT_EQ(a.size, b.size);
    for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(a.spacing[c], b.spacing[c], tol) << "spacing " << c;
        EXPECT_NEAR(a.origin[c], b.origin[c], tol) << "origin " << c;
        for (int r = 0; r < 3; ++r) EXPECT_NEAR(a.direction.m[r][c], b.direction.m[r][c], tol) << r << "," << c;
    }
}

template <typename T> void expectSameVoxels(const Volume& a, const Volume& b) {
    ASSERT_TRUE(b.holds<T>()) << toString(b.pixelType());
    ASSERT_EQ(a.geometry().voxelCount(), b.geometry().voxelCount());
    for (std::size_t i = 0; i < a.geometry().voxelCount(); ++i) ASSERT_EQ(a.data<T>()[i], b.data<T>()[i]) << i;
}

std::string headerText(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string text(4000, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    return text.substr(0, text.find("\n\n")); // NRRD header ends at the first empty line
}

LabelMap sampleLabels() {
    ImageGeometry g = obliqueGeometry();
    std::vector<std::uint8_t> v(g.voxelCount(), 0);
    for (int k = 0; k < 4; ++k)
        for (int j = 1; j < 4; ++j)
            for (int i = 2; i < 5; ++i) v[g.linearIndex(i, j, k)] = 1;
    v[g.linearIndex(6, 4, 3)] = 7;
    return LabelMap(Volume::create(g, std::move(v)), {{1, "Liver", {0.8, 0.4, 0.3}, StructureCategory::Organ},
                                                      {7, "Tumour 1", {0.95, 0.9, 0.125}, StructureCategory::Tumour},
                                                      {3, "Portal vein", {0.2, 0.3, 0.9}, StructureCategory::Vessel}});
}

} // namespace

TEST(VolumeIO, RoundTripKeepsGeometryAndVoxels) {
    const auto dir = test::outputDir("volumeio-roundtrip");
    const ImageGeometry g = obliqueGeometry();
    const Volume i16 = patternVolume<std::int16_t>(g, 7, -1000);
    const Volume f32 = patternVolume<float>(g, 0.37, -3.5);
    const Volume u8 = patternVolume<std::uint8_t>(g, 1, 0);
    for (const char* ext : {".nrrd", ".nii.gz", ".mha"}) {
        SCOPED_TRACE(ext);
        const fs::path file = dir / (std::string("ct") + ext);
        ASSERT_TRUE(writeVolume(i16, file).ok());
        auto back = readVolume(file);
        ASSERT_TRUE(back.ok()) << back.error().describe();
        expectSameGeometry(g, back->geometry(), 1e-5);
        expectSameVoxels<std::int16_t>(i16, *back);

        const fs::path ffile = dir / (std::string("float") + ext);
        ASSERT_TRUE(writeVolume(f32, ffile).ok());
        auto fback = readVolume(ffile);
        ASSERT_TRUE(fback.ok());
        expectSameVoxels<float>(f32, *fback);

        const fs::path bfile = dir / (std::string("bytes") + ext);
        ASSERT_TRUE(writeVolume(u8, bfile).ok());
        auto bback = readVolume(bfile);
        ASSERT_TRUE(bback.ok());
        expectSameVoxels<std::uint8_t>(u8, *bback);
    }
    // NRRD states the space it writes in: LPS, as our geometry.
    EXPECT_NE(headerText(dir / "ct.nrrd").find("space: left-posterior-superior"), std::string::npos);
}

TEST(VolumeIO, RgbRoundTripAndRefusals) {
    const auto dir = test::outputDir("volumeio-misc");
    ImageGeometry g;
    g.size = {3, 2, 1};
    std::vector<Rgb8> px(6);
    for (std::size_t i = 0; i < px.size(); ++i)
        px[i] = {static_cast<std::uint8_t>(i), 100, static_cast<std::uint8_t>(200 + i)};
    const Volume rgb = Volume::create(g, std::move(px));
    ASSERT_TRUE(writeVolume(rgb, dir / "rgb.nrrd").ok());
    auto back = readVolume(dir / "rgb.nrrd");
    ASSERT_TRUE(back.ok()) << back.error().describe();
    expectSameVoxels<Rgb8>(rgb, *back);

    auto unknown = writeVolume(rgb, dir / "rgb.png");
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, ErrorCode::Unsupported);
    EXPECT_EQ(readVolume(dir / "missing.nrrd").error().code, ErrorCode::NotFound);
    std::ofstream(dir / "junk.nrrd") << "NRRD0004\nthis is not a header\n";
    EXPECT_FALSE(readVolume(dir / "junk.nrrd").ok());
    EXPECT_FALSE(writeVolume(Volume{}, dir / "empty.nrrd").ok());
}

TEST(VolumeIO, SegNrrdKeepsTheStructureTable) {
    const auto dir = test::outputDir("volumeio-seg");
    const LabelMap labels = sampleLabels();
    const fs::path file = dir / "labels.seg.nrrd";
    ASSERT_TRUE(writeLabelMap(labels, file).ok());

    // The keys really are in the file, in Slicer's form.
    const std::string header = headerText(file);
    EXPECT_NE(header.find("Segment0_Name:=Liver"), std::string::npos) << header;
    EXPECT_NE(header.find("Segment0_LabelValue:=1"), std::string::npos);
    EXPECT_NE(header.find("Segment0_Layer:=0"), std::string::npos);
    EXPECT_NE(header.find("Segment0_Extent:=2 4 1 3 0 3"), std::string::npos) << header;
    EXPECT_NE(header.find("Segment1_Tags:=Jumeau.Category:tumour|"), std::string::npos);
    EXPECT_NE(header.find("Segment2_Extent:=0 -1 0 -1 0 -1"), std::string::npos); // empty segment
    EXPECT_NE(header.find("Segmentation_MasterRepresentation:=Binary labelmap"), std::string::npos);
    EXPECT_NE(header.find("Segmentation_ContainedRepresentationNames:=Binary labelmap|"), std::string::npos);

    auto back = readLabelMap(file);
    ASSERT_TRUE(back.ok()) << back.error().describe();
    expectSameGeometry(labels.geometry(), back->geometry(), 1e-9);
    expectSameVoxels<std::uint8_t>(labels.labels(), back->labels());
    ASSERT_EQ(back->structures().size(), 3u);
    for (std::size_t n = 0; n < 3; ++n) {
        const Structure& a = labels.structures()[n];
        const Structure& b = back->structures()[n];
        EXPECT_EQ(a.label, b.label);
        EXPECT_EQ(a.name, b.name);
        EXPECT_EQ(a.category, b.category) << a.name;
        for (int c = 0; c < 3; ++c)
            EXPECT_NEAR(a.colour[static_cast<std::size_t>(c)], b.colour[static_cast<std::size_t>(c)], 1e-9);
    }
}

TEST(VolumeIO, UInt16LabelsAndFormatsWithoutATable) {
    const auto dir = test::outputDir("volumeio-labels16");
    ImageGeometry g = obliqueGeometry();
    std::vector<std::uint16_t> v(g.voxelCount(), 0);
    v[3] = 300;
    v[10] = 2;
    const LabelMap labels(Volume::create(g, std::move(v)), {{300, "Artery", {1, 0, 0}, StructureCategory::Vessel},
                                                            {2, "Bone", {0.9, 0.9, 0.8}, StructureCategory::Bone}});
    ASSERT_TRUE(writeLabelMap(labels, dir / "l.seg.nrrd").ok());
    auto seg = readLabelMap(dir / "l.seg.nrrd");
    ASSERT_TRUE(seg.ok());
    EXPECT_TRUE(seg->labels().holds<std::uint16_t>());
    ASSERT_NE(seg->findByName("artery"), nullptr);
    EXPECT_EQ(seg->findByName("artery")->label, 300);
    EXPECT_EQ(seg->findByName("bone")->category, StructureCategory::Bone);

    // NIfTI carries voxels only: the table becomes one "label N" structure per value present.
    ASSERT_TRUE(writeLabelMap(labels, dir / "l.nii.gz").ok());
    auto nii = readLabelMap(dir / "l.nii.gz");
    ASSERT_TRUE(nii.ok()) << nii.error().describe();
    expectSameGeometry(g, nii->geometry(), 1e-5);
    ASSERT_EQ(nii->structures().size(), 2u);
    EXPECT_EQ(nii->structures()[0].label, 2);
    EXPECT_EQ(nii->structures()[0].name, "label 2");
    EXPECT_EQ(nii->structures()[1].label, 300);
    EXPECT_EQ(nii->structures()[1].category, StructureCategory::Other);
    EXPECT_EQ(nii->labelAt(3, 0, 0), 300);

    // A float volume with fractional values is not a label map.
    const Volume f = patternVolume<float>(g, 0.5, 0.25);
    ASSERT_TRUE(writeVolume(f, dir / "f.nrrd").ok());
    auto notLabels = readLabelMap(dir / "f.nrrd");
    ASSERT_FALSE(notLabels.ok());
    EXPECT_EQ(notLabels.error().code, ErrorCode::InvalidInput);
}

TEST(VolumeIO, RealNrrdAndNiftiFiles) {
    JUMEAU_REQUIRE_SHARED_DATA(pyr, "pyradiomics-nrrd-with-labels");
    // brain1: short 256x256x25, 0.781 x 0.781 x 6.5 mm, y axis pointing negative (README).
    auto image = readVolume(pyr / "brain1_image.nrrd");
    ASSERT_TRUE(image.ok()) << image.error().describe();
    EXPECT_EQ(image->geometry().size, (std::array<int, 3>{256, 256, 25}));
    EXPECT_TRUE(image->holds<std::int16_t>());
    EXPECT_NEAR(image->geometry().spacing.y, 0.781, 1e-3);
    EXPECT_LT(image->geometry().axis(1).y, -0.99);
    // Its int32 label map: converted to UInt8 labels, one structure for the lesion.
    auto label = readLabelMap(pyr / "brain1_label.nrrd");
    ASSERT_TRUE(label.ok()) << label.error().describe();
    EXPECT_TRUE(label->labels().holds<std::uint8_t>());
    EXPECT_TRUE(label->geometry().sameGrid(image->geometry(), 1e-4));
    ASSERT_EQ(label->structures().size(), 1u);
    EXPECT_EQ(label->voxelCount(1), 4137u);
    auto prostate = readLabelMap(pyr / "prostate_phantom_subvolume-label.nrrd");
    ASSERT_TRUE(prostate.ok());
    ASSERT_EQ(prostate->structures().size(), 4u); // labels 1, 7, 8, 9
    EXPECT_EQ(prostate->voxelCount(9), 9088u);

    JUMEAU_REQUIRE_SHARED_DATA(ts, "totalsegmentator-example-ct-mr");
    // NIfTI stored RAS: ITK hands it back in LPS, so the first two axes point the opposite way from the file.
    auto ct = readVolume(ts / "example_ct_sm.nii.gz");
    ASSERT_TRUE(ct.ok()) << ct.error().describe();
    EXPECT_EQ(ct->geometry().size, (std::array<int, 3>{122, 101, 30}));
    EXPECT_NEAR(ct->geometry().spacing.x, 3.0, 1e-4);
    auto seg = readLabelMap(ts / "example_seg.nii.gz");
    ASSERT_TRUE(seg.ok());
    EXPECT_TRUE(seg->geometry().sameGrid(ct->geometry(), 1e-3));
    EXPECT_NE(seg->findByLabel(5), nullptr); // liver
}
