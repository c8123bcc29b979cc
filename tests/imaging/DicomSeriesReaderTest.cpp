// DicomSeriesReader on small series fabricated with DCMTK directly (not with our writer, so reader and writer
// cannot share a misunderstanding): slice order, LPS geometry, pixel value policy, broken input.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <random>

#include "SyntheticDicom.h"
#include "TestData.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/DicomWriter.h"

using namespace jumeau;
using namespace jumeau::imaging;
namespace fs = std::filesystem;
using namespace jumeau::test::synth;

TEST(DicomSeriesReader, SlicesOrderedByPositionNotByFileNameOrInstanceNumber) {
    const auto dir = test::outputDir("reader-shuffled");
    // File names run against the position and InstanceNumbers are shuffled: only positions say the order.
    std::vector<int> order{0, 1, 2, 3, 4, 5};
    std::mt19937 rng(7);
    std::shuffle(order.begin(), order.end(), rng);
    for (int k = 0; k < 6; ++k) {
        SliceSpec s;
        s.k = k;
        s.position = Vec3{-20.5, 10.25, 100.0 - 2.5 * (5 - k)};
        s.instance = order[static_cast<std::size_t>(k)] + 1;
        s.intercept = -1024;
        writeSlice(dir / ("IM" + std::to_string(5 - k) + ".dcm"), s);
    }
    const LoadedSeries s = loadOnly(dir);
    const auto& g = s.volume.geometry();
    ASSERT_EQ(g.size, (std::array<int, 3>{4, 3, 6}));
    EXPECT_TRUE(s.volume.holds<std::int16_t>());
    // PixelSpacing 0.7\0.9 is row\column spacing: i (along a row) steps 0.9 mm, j steps 0.7 mm.
    EXPECT_DOUBLE_EQ(g.spacing.x, 0.9);
    EXPECT_DOUBLE_EQ(g.spacing.y, 0.7);
    EXPECT_NEAR(g.spacing.z, 2.5, 1e-9); // from positions, not SliceThickness (5)
    expectNear(g.origin, {-20.5, 10.25, 87.5}, 1e-9);
    EXPECT_EQ(g.direction, Mat3::identity());
    expectPattern(s.volume, -1024);
    EXPECT_EQ(s.info.modality, "CT");
    EXPECT_EQ(s.info.patientName, "Test^Reader");
    EXPECT_EQ(s.info.files.size(), 6u);
    EXPECT_TRUE(s.info.warnings.empty()) << s.info.warnings.front();
}

TEST(DicomSeriesReader, ObliqueSeriesGeometryInLps) {
    const auto dir = test::outputDir("reader-oblique");
    const Mat3 rot = Mat3::rotationXYZ(0.3, -0.2, 0.5);
    const Vec3 row = rot.column(0), col = rot.column(1), normal = rot.column(2);
    const Vec3 first{-101.25, 37.5, 12.125};
    const double step = 1.25;
    for (int k = 0; k < 5; ++k) {
        SliceSpec s;
        s.k = k;
        s.orientation = std::array<Vec3, 2>{row, col};
        s.position = first + normal * (step * k);
        s.instance = 5 - k; // instance numbers against the stacking direction
        writeSlice(dir / ("f" + std::to_string(k) + ".dcm"), s);
    }
    const LoadedSeries s = loadOnly(dir);
    const auto& g = s.volume.geometry();
    ASSERT_EQ(g.size, (std::array<int, 3>{4, 3, 5}));
    expectNear(g.origin, first, 1e-6);
    expectNear(g.axis(0), row, 1e-6);
    expectNear(g.axis(1), col, 1e-6);
    expectNear(g.axis(2), normal, 1e-6);
    EXPECT_NEAR(g.spacing.x, 0.9, 1e-9);
    EXPECT_NEAR(g.spacing.y, 0.7, 1e-9);
    EXPECT_NEAR(g.spacing.z, step, 1e-6);
    EXPECT_TRUE(g.isValid());
    // The DICOM pixel-to-patient formula (PS3.3 C.7.6.2.1.1) for voxel (i=3, j=2) of slice 4.
    const Vec3 expected = first + normal * (4 * step) + row * (0.9 * 3) + col * (0.7 * 2);
    expectNear(g.indexToLps({3, 2, 4}), expected, 1e-6);
    expectPattern(s.volume);
}

TEST(DicomSeriesReader, SortsAlongTheNormalWhenPositionsDecrease) {
    // Normal = row x column = +z here; slices written from high z to low z with InstanceNumber 1 at the top.
    const auto dir = test::outputDir("reader-decreasing");
    for (int n = 0; n < 4; ++n) {
        SliceSpec s;
        s.k = 3 - n;
        s.position = Vec3{0, 0, 50.0 - 3.0 * n};
        s.instance = n + 1;
        writeSlice(dir / ("a" + std::to_string(n) + ".dcm"), s);
    }
    const LoadedSeries s = loadOnly(dir);
    EXPECT_NEAR(s.volume.geometry().origin.z, 41.0, 1e-9);
    EXPECT_NEAR(s.volume.geometry().spacing.z, 3.0, 1e-9);
    expectPattern(s.volume);
}

TEST(DicomSeriesReader, RescalePicksInt16OrFloat32) {
    {
        const auto dir = test::outputDir("reader-float");
        SliceSpec base;
        base.slope = 0.5;
        base.intercept = 0.25;
        writeAxialSeries(dir, 3, 2.0, 0, base);
        const LoadedSeries s = loadOnly(dir);
        EXPECT_TRUE(s.volume.holds<float>()) << toString(s.volume.pixelType());
        expectPattern(s.volume, 0.25, 0.5);
    }
    {
        // Integer rescale beyond Int16 but within 0..65535 (stored 30000 + 10000): UInt16 keeps the values.
        const auto dir = test::outputDir("reader-wide");
        SliceSpec base;
        base.intercept = 10000;
        base.isSigned = false;
        base.stored = [](int i, int j, int k) { return static_cast<std::uint32_t>(30000 + pattern(i, j, k)); };
        writeAxialSeries(dir, 2, 2.0, 0, base);
        const LoadedSeries s = loadOnly(dir);
        EXPECT_TRUE(s.volume.holds<std::uint16_t>()) << toString(s.volume.pixelType());
        expectPattern(s.volume, 40000);
    }
    {
        // MR without rescale, unsigned 16-bit values fitting Int16.
        const auto dir = test::outputDir("reader-mr");
        SliceSpec base;
        base.modality = "MR";
        base.isSigned = false;
        base.slope.reset();
        base.intercept.reset();
        writeAxialSeries(dir, 2, 2.0, 0, base);
        const LoadedSeries s = loadOnly(dir);
        EXPECT_TRUE(s.volume.holds<std::int16_t>()) << toString(s.volume.pixelType());
        expectPattern(s.volume);
    }
    {
        // Signed stored values whose rescale leaves Int16 (31500.. + 1500): the fused rescale would wrap, so the
        // reader decodes again and keeps the exact values as UInt16.
        const auto dir = test::outputDir("reader-int16-overflow");
        SliceSpec base;
        base.intercept = 1500;
        base.stored = [](int i, int j, int k) { return static_cast<std::uint32_t>(31500 + pattern(i, j, k)); };
        writeAxialSeries(dir, 2, 2.0, 0, base);
        const LoadedSeries s = loadOnly(dir);
        EXPECT_TRUE(s.volume.holds<std::uint16_t>()) << toString(s.volume.pixelType());
        expectPattern(s.volume, 33000);
    }
    {
        // Unsigned 16-bit values above 32767 with CT's intercept -1024: neither Int16 nor UInt16 holds the results.
        const auto dir = test::outputDir("reader-uint16-negative");
        SliceSpec base;
        base.intercept = -1024;
        base.isSigned = false;
        base.stored = [](int i, int j, int k) { return static_cast<std::uint32_t>(i == 0 ? 0 : 40000 + pattern(i, j, k)); };
        writeAxialSeries(dir, 2, 2.0, 0, base);
        const LoadedSeries s = loadOnly(dir);
        EXPECT_TRUE(s.volume.holds<float>()) << toString(s.volume.pixelType());
        const auto& g = s.volume.geometry();
        for (int k = 0; k < g.size[2]; ++k)
            for (int j = 0; j < g.size[1]; ++j)
                for (int i = 0; i < g.size[0]; ++i)
                    ASSERT_EQ(s.volume.valueAt(i, j, k), (i == 0 ? 0 : 40000 + pattern(i, j, k)) - 1024.0);
    }
    {
        // Negative slope, integral: Int16 with the sign flipped.
        const auto dir = test::outputDir("reader-negative-slope");
        SliceSpec base;
        base.slope = -2;
        writeAxialSeries(dir, 2, 2.0, 0, base);
        const LoadedSeries s = loadOnly(dir);
        EXPECT_TRUE(s.volume.holds<std::int16_t>());
        expectPattern(s.volume, 0, -2);
    }
}

TEST(DicomSeriesReader, FilesRewrittenAfterTheScanAreReadAgain) {
    // loadSeries reuses the scan's headers only while each file is unchanged: a slice rewritten in between (other
    // values, other rescale) must load as it is now, not as it was scanned.
    const auto dir = test::outputDir("reader-rewritten");
    const auto files = writeAxialSeries(dir, 3, 2.0, 0);
    auto scan = scanDicom(dir);
    ASSERT_TRUE(scan.ok());
    ASSERT_EQ(scan->series.size(), 1u);
    ASSERT_TRUE(scan->series.front().scannedHeaders != nullptr);
    {
        auto unchanged = loadSeries(scan->series.front());
        ASSERT_TRUE(unchanged.ok()) << unchanged.error().describe();
        expectPattern(unchanged->volume);
    }
    SliceSpec changed;
    changed.k = 1;
    changed.position = Vec3{-20.5, 10.25, 2.0};
    changed.instance = 2;
    changed.intercept = 7;
    changed.rows = 3;
    writeSlice(files[1], changed);
    auto reloaded = loadSeries(scan->series.front());
    ASSERT_TRUE(reloaded.ok()) << reloaded.error().describe();
    EXPECT_EQ(reloaded->volume.valueAt(2, 1, 1), pattern(2, 1, 1) + 7.0);
    EXPECT_EQ(reloaded->volume.valueAt(2, 1, 0), pattern(2, 1, 0));
}

TEST(DicomSeriesReader, EightBitUnsignedStaysUInt8) {
    const auto dir = test::outputDir("reader-uint8");
    SliceSpec base;
    base.bitsAllocated = 8;
    base.bitsStored = 8;
    base.isSigned = false;
    base.modality = "US";
    base.slope.reset();
    base.intercept.reset();
    base.stored = [](int i, int j, int k) { return static_cast<std::uint32_t>(100 * k + 10 * j + i); };
    writeAxialSeries(dir, 2, 1.0, 0, base);
    const LoadedSeries s = loadOnly(dir);
    ASSERT_TRUE(s.volume.holds<std::uint8_t>()) << toString(s.volume.pixelType());
    EXPECT_EQ(s.volume.valueAt(3, 2, 1), 123);
}

TEST(DicomSeriesReader, SignExtendsBitsStoredBelowBitsAllocated) {
    // 12-bit signed values in 16-bit words with junk above HighBit (allowed, and seen in the wild).
    const auto dir = test::outputDir("reader-12bit");
    SliceSpec base;
    base.bitsStored = 12;
    base.stored = [](int i, int j, int k) {
        const int v = -pattern(i, j, k) / 2; // down to -1011: needs the sign bit
        return (0xA000u | (static_cast<std::uint32_t>(v) & 0x0FFFu));
    };
    writeAxialSeries(dir, 2, 1.0, 0, base);
    const LoadedSeries s = loadOnly(dir);
    ASSERT_TRUE(s.volume.holds<std::int16_t>());
    for (int k = 0; k < 2; ++k)
        for (int i = 0; i < 4; ++i) EXPECT_EQ(s.volume.valueAt(i, 2, k), -pattern(i, 2, k) / 2);
}

TEST(DicomSeriesReader, Monochrome1IsInverted) {
    const auto dir = test::outputDir("reader-mono1");
    SliceSpec base;
    base.photometric = "MONOCHROME1";
    base.bitsStored = 12;
    base.isSigned = false;
    base.modality = "MR";
    base.slope.reset();
    base.intercept.reset();
    writeAxialSeries(dir, 2, 1.0, 0, base);
    const LoadedSeries s = loadOnly(dir);
    // Inverted over the 12-bit stored range, so larger is brighter as for MONOCHROME2.
    EXPECT_EQ(s.volume.valueAt(0, 0, 0), 4095);
    EXPECT_EQ(s.volume.valueAt(3, 2, 1), 4095 - pattern(3, 2, 1));
}

TEST(DicomSeriesReader, MissingSliceIsInterpolatedAndWarns) {
    // Changed deliberately: a missing slice used to be a blank slot; it is now interpolated between its neighbours
    // (the pattern is linear in k, so the interpolated slice equals the one that is missing).
    const auto dir = test::outputDir("reader-missing");
    for (int k : {0, 1, 2, 4, 5}) {
        SliceSpec s;
        s.k = k;
        s.position = Vec3{0, 0, 10.0 + 2.0 * k};
        s.instance = k + 1;
        s.intercept = -1024;
        writeSlice(dir / ("s" + std::to_string(k) + ".dcm"), s);
    }
    const LoadedSeries s = loadOnly(dir);
    const auto& g = s.volume.geometry();
    ASSERT_EQ(g.size[2], 6);
    EXPECT_NEAR(g.spacing.z, 2.0, 1e-9);
    EXPECT_NEAR(g.origin.z, 10.0, 1e-9);
    EXPECT_TRUE(hasWarning(s.info, "1 missing slice between z=14.0 and z=18.0 mm interpolated"))
        << ::testing::PrintToString(s.info.warnings);
    expectPattern(s.volume, -1024); // real slices exact, the gap interpolated
}

TEST(DicomSeriesReader, HugeGapsAreRefusedWithAReason) {
    // Changed deliberately: a sparse sample of a series (or a stray position) used to be stacked without its gaps,
    // which misplaces every slice after the gap; it is now refused, and the reason names the gap.
    const auto dir = test::outputDir("reader-sparse");
    const double z[] = {0, 2, 4, 300};
    for (int k = 0; k < 4; ++k) {
        SliceSpec s;
        s.k = k;
        s.position = Vec3{0, 0, z[k]};
        writeSlice(dir / ("s" + std::to_string(k) + ".dcm"), s);
    }
    auto folder = loadDicomFolder(dir);
    ASSERT_FALSE(folder.ok());
    EXPECT_NE(folder.error().message.find("147 slices missing among 4 present"), std::string::npos)
        << folder.error().message;
    EXPECT_NE(folder.error().message.find("between z=4.0 and z=300.0 mm"), std::string::npos) << folder.error().message;
    auto scan = scanDicom(dir);
    ASSERT_TRUE(scan.ok());
    ASSERT_EQ(scan->series.size(), 1u);
    auto series = loadSeries(scan->series.front());
    ASSERT_FALSE(series.ok());
    EXPECT_EQ(series.error().code, ErrorCode::InvalidInput);
}

TEST(DicomSeriesReader, ShearedStackIsResampledOntoAnOrthogonalGrid) {
    // Changed deliberately: a sheared stack (each slice shifted 1 mm along y per 2 mm along the normal) used to be
    // stacked along the normal with a warning; it is now resampled. Whole-voxel shifts would be exact, these are
    // 1/0.7 voxel, so the values are interpolated; DicomOddSeriesTest checks positions on a sphere.
    const auto dir = test::outputDir("reader-sheared");
    for (int k = 0; k < 4; ++k) {
        SliceSpec s;
        s.k = k;
        s.position = Vec3{0, 1.0 * k, 2.0 * k};
        writeSlice(dir / ("s" + std::to_string(k) + ".dcm"), s);
    }
    const LoadedSeries s = loadOnly(dir);
    const auto& g = s.volume.geometry();
    EXPECT_NEAR(g.spacing.z, 2.0, 1e-9); // along the normal, not the 2.24 mm step
    EXPECT_EQ(g.direction, Mat3::identity());
    // 3 rows of 0.7 mm plus the 3 mm drift: 3 + ceil(3 / 0.7) = 8 rows.
    EXPECT_EQ(g.size, (std::array<int, 3>{4, 8, 4}));
    EXPECT_TRUE(hasWarning(s.info, "gantry tilt of 26.6\xC2\xB0 resampled onto an orthogonal grid"))
        << ::testing::PrintToString(s.info.warnings);
    // Slice 0 is not shifted: copied exactly; outside every slice the lowest value.
    EXPECT_EQ(s.volume.valueAt(2, 1, 0), pattern(2, 1, 0));
    EXPECT_EQ(s.volume.valueAt(2, 7, 0), 0);
}

TEST(DicomSeriesReader, NonUniformSpacingWarns) {
    const auto dir = test::outputDir("reader-nonuniform");
    const double z[] = {0, 2, 4, 6.3, 8.3};
    for (int k = 0; k < 5; ++k) {
        SliceSpec s;
        s.k = k;
        s.position = Vec3{0, 0, z[k]};
        writeSlice(dir / ("s" + std::to_string(k) + ".dcm"), s);
    }
    const LoadedSeries s = loadOnly(dir);
    EXPECT_EQ(s.volume.geometry().size[2], 5);
    // Least squares through the first slice: sum(k * dz) / sum(k^2) = 62.1 / 30, not the median step 2.
    EXPECT_NEAR(s.volume.geometry().spacing.z, 2.07, 1e-9);
    EXPECT_TRUE(hasWarning(s.info, "non-uniform slice spacing")) << ::testing::PrintToString(s.info.warnings);
}

TEST(DicomSeriesReader, DuplicatePositionsKeepTheFirst) {
    const auto dir = test::outputDir("reader-duplicates");
    writeAxialSeries(dir, 3, 2.0, 0);
    SliceSpec again; // a second "echo" at the position of slice 1, later InstanceNumber
    again.k = 7;
    again.position = Vec3{-20.5, 10.25, 2.0};
    again.instance = 10;
    writeSlice(dir / "echo2.dcm", again);
    const LoadedSeries s = loadOnly(dir);
    EXPECT_EQ(s.volume.geometry().size[2], 3);
    expectPattern(s.volume);
    EXPECT_TRUE(hasWarning(s.info, "share a position")) << ::testing::PrintToString(s.info.warnings);
}

TEST(DicomSeriesReader, SeriesMixingOrientationsIsSplit) {
    const auto dir = test::outputDir("reader-split");
    writeAxialSeries(dir, 3, 2.0, 0);
    for (int k = 0; k < 2; ++k) { // a sagittal localizer in the same series
        SliceSpec s;
        s.k = k;
        s.orientation = std::array<Vec3, 2>{Vec3{0, 1, 0}, Vec3{0, 0, -1}};
        s.position = Vec3{5.0 * k, 0, 0};
        writeSlice(dir / ("sag" + std::to_string(k) + ".dcm"), s);
    }
    SliceSpec big; // and an image of another size
    big.rows = 5;
    big.columns = 6;
    writeSlice(dir / "big.dcm", big);

    auto scan = scanDicom(dir);
    ASSERT_TRUE(scan.ok());
    ASSERT_EQ(scan->series.size(), 3u);
    std::vector<std::size_t> counts;
    for (const auto& s : scan->series) {
        counts.push_back(s.files.size());
        EXPECT_TRUE(hasWarning(s, "split into 3 series")) << ::testing::PrintToString(s.warnings);
    }
    std::sort(counts.begin(), counts.end());
    EXPECT_EQ(counts, (std::vector<std::size_t>{1, 2, 3}));
    auto folder = loadDicomFolder(dir);
    ASSERT_TRUE(folder.ok());
    EXPECT_EQ(folder->series.size(), 3u);
    for (const auto& s : folder->series)
        if (s.volume.geometry().size[2] == 2) {
            expectNear(s.volume.geometry().axis(2), {-1, 0, 0}, 1e-9); // (0,1,0) x (0,0,-1)
            EXPECT_NEAR(s.volume.geometry().origin.x, 5.0, 1e-9);      // smallest projection on the normal
        }
}

TEST(DicomSeriesReader, BigEndianAndImplicitVrDecodeTheSame) {
    for (E_TransferSyntax xfer :
         {EXS_BigEndianExplicit, EXS_LittleEndianImplicit, EXS_RLELossless, EXS_DeflatedLittleEndianExplicit}) {
        const auto dir = test::outputDir("reader-xfer-" + std::to_string(static_cast<int>(xfer)));
        SliceSpec base;
        base.xfer = xfer;
        base.intercept = -1024;
        writeAxialSeries(dir, 3, 1.5, -7.5, base);
        SliceSpec bytes = base; // 8-bit data too: byte order must not shuffle it
        bytes.bitsAllocated = 8;
        bytes.bitsStored = 8;
        bytes.isSigned = false;
        bytes.seriesUid += ".8";
        bytes.slope.reset();
        bytes.intercept.reset();
        bytes.stored = [](int i, int j, int k) { return static_cast<std::uint32_t>(100 * k + 10 * j + i); };
        writeAxialSeries(dir / "u8", 2, 1.5, 0, bytes);

        auto folder = loadDicomFolder(dir);
        ASSERT_TRUE(folder.ok()) << folder.error().describe();
        ASSERT_EQ(folder->series.size(), 2u) << ::testing::PrintToString(folder->skipped.size());
        for (const auto& s : folder->series) {
            if (s.volume.holds<std::uint8_t>()) {
                EXPECT_EQ(s.volume.valueAt(3, 2, 1), 123) << xfer;
            } else {
                EXPECT_NEAR(s.volume.geometry().spacing.z, 1.5, 1e-9);
                expectPattern(s.volume, -1024);
            }
        }
    }
}

TEST(DicomSeriesReader, PatientNameConvertedToUtf8AndWindowPresets) {
    const auto dir = test::outputDir("reader-charset");
    writeAxialSeries(dir, 2, 1.0, 0);
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile((dir / "slice0.dcm").string().c_str()).good());
    DcmDataset* ds = ff.getDataset();
    ds->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
    ds->putAndInsertString(DCM_PatientName, "M\xFCller^J\xFCrgen"); // Latin-1 bytes
    ds->putAndInsertString(DCM_WindowCenter, "40\\-600");
    ds->putAndInsertString(DCM_WindowWidth, "400\\1500");
    ds->putAndInsertString(DCM_WindowCenterWidthExplanation, "ABDOMEN\\LUNG");
    ASSERT_TRUE(ff.saveFile((dir / "slice0.dcm").string().c_str(), EXS_LittleEndianExplicit).good());

    auto scan = scanDicom(dir);
    ASSERT_TRUE(scan.ok());
    ASSERT_EQ(scan->series.size(), 1u);
    // The series takes its metadata from its first slice (slice0 is lowest along the normal).
    const SeriesInfo& info = scan->series.front();
    EXPECT_EQ(info.patientName, "M\xC3\xBCller^J\xC3\xBCrgen");
    ASSERT_EQ(info.windowPresets.size(), 2u);
    EXPECT_EQ(info.windowPresets[1].name, "LUNG");
    EXPECT_DOUBLE_EQ(info.windowPresets[1].centre, -600);
    EXPECT_DOUBLE_EQ(info.windowPresets[1].width, 1500);
}

TEST(DicomSeriesReader, EnhancedMultiFrameUsesFunctionalGroups) {
    const auto dir = test::outputDir("reader-enhanced");
    const Mat3 rot = Mat3::rotationXYZ(-0.1, 0.25, 0.05);
    const Vec3 row = rot.column(0), col = rot.column(1), normal = rot.column(2);
    const Vec3 first{10.5, -20.25, 30.125};
    const std::vector<int> frameK{2, 0, 3, 1}; // frames stored out of spatial order
    SliceSpec s;
    DcmFileFormat ff;
    DcmDataset* ds = ff.getDataset();
    fillCommon(ds, s, UID_EnhancedCTImageStorage);
    ds->putAndInsertString(DCM_NumberOfFrames, "4");
    DcmItem* shared = nullptr;
    ASSERT_TRUE(ds->findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good());
    DcmItem* item = nullptr;
    shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, item, 0);
    item->putAndInsertString(DCM_ImageOrientationPatient, dsList({row.x, row.y, row.z, col.x, col.y, col.z}).c_str());
    shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, item, 0);
    item->putAndInsertString(DCM_PixelSpacing, "0.7\\0.9");
    item->putAndInsertString(DCM_SliceThickness, "3");
    shared->findOrCreateSequenceItem(DCM_PixelValueTransformationSequence, item, 0);
    item->putAndInsertString(DCM_RescaleSlope, "1");
    item->putAndInsertString(DCM_RescaleIntercept, "-1024");
    for (int k : frameK) {
        DcmItem* frame = nullptr;
        ASSERT_TRUE(ds->findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, -2).good());
        frame->findOrCreateSequenceItem(DCM_PlanePositionSequence, item, 0);
        const Vec3 p = first + normal * (2.0 * k);
        item->putAndInsertString(DCM_ImagePositionPatient, dsList({p.x, p.y, p.z}).c_str());
    }
    putPixels(ds, s, frameK);
    save(ff, dir / "enhanced.dcm", EXS_LittleEndianExplicit);

    const LoadedSeries loaded = loadOnly(dir);
    const auto& g = loaded.volume.geometry();
    ASSERT_EQ(g.size, (std::array<int, 3>{4, 3, 4}));
    expectNear(g.origin, first, 1e-6);
    expectNear(g.axis(0), row, 1e-6);
    expectNear(g.axis(2), normal, 1e-6);
    EXPECT_NEAR(g.spacing.z, 2.0, 1e-6);
    EXPECT_NEAR(g.spacing.x, 0.9, 1e-9);
    expectPattern(loaded.volume, -1024);
}

TEST(DicomSeriesReader, CineWithoutGeometryStacksAtOneMillimetre) {
    const auto dir = test::outputDir("reader-cine");
    SliceSpec s;
    s.bitsAllocated = 8;
    s.bitsStored = 8;
    s.isSigned = false;
    s.modality = "US";
    s.stored = [](int i, int j, int k) { return static_cast<std::uint32_t>(100 * k + 10 * j + i); };
    DcmFileFormat ff;
    DcmDataset* ds = ff.getDataset();
    fillCommon(ds, s, UID_UltrasoundMultiframeImageStorage);
    ds->putAndInsertString(DCM_NumberOfFrames, "2");
    DcmItem* region = nullptr;
    ds->findOrCreateSequenceItem(DCM_SequenceOfUltrasoundRegions, region, 0);
    region->putAndInsertUint16(DCM_PhysicalUnitsXDirection, 3);
    region->putAndInsertUint16(DCM_PhysicalUnitsYDirection, 3);
    region->putAndInsertFloat64(DCM_PhysicalDeltaX, 0.02); // cm per pixel
    region->putAndInsertFloat64(DCM_PhysicalDeltaY, 0.03);
    putPixels(ds, s, {0, 1});
    save(ff, dir / "cine.dcm", EXS_LittleEndianExplicit);

    const LoadedSeries loaded = loadOnly(dir);
    const auto& g = loaded.volume.geometry();
    ASSERT_EQ(g.size, (std::array<int, 3>{4, 3, 2}));
    EXPECT_TRUE(loaded.volume.holds<std::uint8_t>());
    EXPECT_NEAR(g.spacing.x, 0.2, 1e-9);
    EXPECT_NEAR(g.spacing.y, 0.3, 1e-9);
    EXPECT_NEAR(g.spacing.z, 1.0, 1e-9);
    EXPECT_EQ(g.direction, Mat3::identity());
    EXPECT_EQ(loaded.volume.valueAt(3, 2, 1), 123);
    EXPECT_TRUE(hasWarning(loaded.info, "no 3D geometry: frames stacked at 1 mm"));
}

TEST(DicomSeriesReader, RgbAndPaletteBecomeRgb8) {
    const auto dir = test::outputDir("reader-colour");
    SliceSpec s;
    s.bitsAllocated = 8;
    s.bitsStored = 8;
    s.isSigned = false;
    s.modality = "US";
    {
        DcmFileFormat ff;
        DcmDataset* ds = ff.getDataset();
        s.seriesUid = "1.2.826.0.1.3680043.10.543.20";
        s.photometric = "RGB";
        fillCommon(ds, s, UID_UltrasoundImageStorage);
        ds->putAndInsertUint16(DCM_SamplesPerPixel, 3);
        ds->putAndInsertUint16(DCM_PlanarConfiguration, 1); // RRRR...GGGG...BBBB
        std::vector<Uint8> planes(36);
        for (int p = 0; p < 12; ++p) {
            planes[static_cast<std::size_t>(p)] = static_cast<Uint8>(p);
            planes[static_cast<std::size_t>(12 + p)] = static_cast<Uint8>(100 + p);
            planes[static_cast<std::size_t>(24 + p)] = static_cast<Uint8>(200 + p);
        }
        ds->putAndInsertUint8Array(DCM_PixelData, planes.data(), 36);
        save(ff, dir / "rgb.dcm", EXS_LittleEndianExplicit);
    }
    {
        DcmFileFormat ff;
        DcmDataset* ds = ff.getDataset();
        s.seriesUid = "1.2.826.0.1.3680043.10.543.21";
        s.photometric = "PALETTE COLOR";
        fillCommon(ds, s, UID_UltrasoundImageStorage);
        const Uint16 descriptor[] = {4, 10, 16}; // 4 entries, first mapped value 10, 16-bit entries
        std::vector<Uint16> red{0x0000, 0x4000, 0x8000, 0xFF00}, green{0xFF00, 0x8000, 0x4000, 0x0000}, blue(4, 0x1200);
        ds->putAndInsertUint16Array(DCM_RedPaletteColorLookupTableDescriptor, descriptor, 3);
        ds->putAndInsertUint16Array(DCM_GreenPaletteColorLookupTableDescriptor, descriptor, 3);
        ds->putAndInsertUint16Array(DCM_BluePaletteColorLookupTableDescriptor, descriptor, 3);
        ds->putAndInsertUint16Array(DCM_RedPaletteColorLookupTableData, red.data(), 4);
        ds->putAndInsertUint16Array(DCM_GreenPaletteColorLookupTableData, green.data(), 4);
        ds->putAndInsertUint16Array(DCM_BluePaletteColorLookupTableData, blue.data(), 4);
        std::vector<Uint8> index(12, 9); // below the first mapped value: clamps to entry 0
        index[1] = 11;
        index[2] = 13;
        index[3] = 200; // above: clamps to the last entry
        ds->putAndInsertUint8Array(DCM_PixelData, index.data(), 12);
        save(ff, dir / "palette.dcm", EXS_LittleEndianExplicit);
    }
    auto folder = loadDicomFolder(dir);
    ASSERT_TRUE(folder.ok()) << folder.error().describe();
    ASSERT_EQ(folder->series.size(), 2u);
    for (const auto& l : folder->series) {
        ASSERT_TRUE(l.volume.holds<Rgb8>());
        const Rgb8* p = l.volume.data<Rgb8>();
        if (l.info.files.front().filename() == "rgb.dcm") {
            EXPECT_EQ(p[5], (Rgb8{5, 105, 205}));
        } else {
            EXPECT_EQ(p[0], (Rgb8{0x00, 0xFF, 0x12}));
            EXPECT_EQ(p[1], (Rgb8{0x40, 0x80, 0x12}));
            EXPECT_EQ(p[2], (Rgb8{0xFF, 0x00, 0x12}));
            EXPECT_EQ(p[3], (Rgb8{0xFF, 0x00, 0x12}));
        }
    }
}

TEST(DicomScan, BadInputIsSkippedWithAReason) {
    const auto dir = test::outputDir("reader-bad");
    writeAxialSeries(dir / "good", 3, 2.0, 0);
    std::ofstream(dir / "notes.txt") << "this is not DICOM\n";
    std::ofstream(dir / "empty.dcm").close();
    {
        std::ofstream out(dir / "random.dcm", std::ios::binary);
        std::mt19937 rng(3);
        for (int i = 0; i < 5000; ++i) out.put(static_cast<char>(rng() & 0xFF));
    }
    // A valid file cut in half (inside the pixel data) and one cut inside its header.
    SliceSpec big;
    big.rows = 64;
    big.columns = 64;
    big.seriesUid = "1.2.826.0.1.3680043.10.543.30";
    writeSlice(dir / "whole.tmp", big);
    std::string bytes;
    {
        std::ifstream in(dir / "whole.tmp", std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    fs::remove(dir / "whole.tmp");
    std::ofstream(dir / "half.dcm", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    std::ofstream(dir / "header-cut.dcm", std::ios::binary) << bytes.substr(0, 300);
    // An RLE file cut inside its fragments.
    SliceSpec rle = big;
    rle.xfer = EXS_RLELossless;
    rle.seriesUid += ".1";
    writeSlice(dir / "rle.tmp", rle);
    {
        std::ifstream in(dir / "rle.tmp", std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    fs::remove(dir / "rle.tmp");
    std::ofstream(dir / "rle-cut.dcm", std::ios::binary) << bytes.substr(0, bytes.size() - 40);

    auto scan = scanDicom(dir);
    ASSERT_TRUE(scan.ok()) << scan.error().describe();
    ASSERT_EQ(scan->series.size(), 1u);
    EXPECT_EQ(scan->series.front().files.size(), 3u);
    std::map<std::string, std::string> reasons;
    for (const auto& s : scan->skipped) reasons[s.file.filename().string()] = s.reason;
    ASSERT_EQ(reasons.size(), 6u) << ::testing::PrintToString(reasons);
    EXPECT_NE(reasons["notes.txt"].find("not a DICOM file"), std::string::npos) << reasons["notes.txt"];
    EXPECT_NE(reasons["empty.dcm"].find("empty file"), std::string::npos) << reasons["empty.dcm"];
    EXPECT_NE(reasons["random.dcm"].find("not a DICOM file"), std::string::npos) << reasons["random.dcm"];
    EXPECT_NE(reasons["half.dcm"].find("truncated"), std::string::npos) << reasons["half.dcm"];
    EXPECT_NE(reasons["header-cut.dcm"].find("truncated"), std::string::npos) << reasons["header-cut.dcm"];
    EXPECT_NE(reasons["rle-cut.dcm"].find("truncated"), std::string::npos) << reasons["rle-cut.dcm"];

    auto folder = loadDicomFolder(dir);
    ASSERT_TRUE(folder.ok());
    EXPECT_EQ(folder->series.size(), 1u);
    EXPECT_EQ(folder->skipped.size(), 6u);
}

TEST(DicomScan, EmptyOrMissingFolders) {
    const auto empty = test::outputDir("reader-empty");
    auto scan = scanDicom(empty);
    ASSERT_TRUE(scan.ok());
    EXPECT_TRUE(scan->series.empty());
    EXPECT_TRUE(scan->skipped.empty());
    auto folder = loadDicomFolder(empty);
    ASSERT_FALSE(folder.ok());
    EXPECT_EQ(folder.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(folder.error().message.find("no DICOM image series found"), std::string::npos);

    std::ofstream(empty / "readme.txt") << "no images here";
    folder = loadDicomFolder(empty);
    ASSERT_FALSE(folder.ok());
    EXPECT_NE(folder.error().message.find("1 files skipped"), std::string::npos) << folder.error().message;
    EXPECT_NE(folder.error().message.find("not a DICOM file"), std::string::npos) << folder.error().message;

    auto missing = scanDicom(empty / "does-not-exist");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
    EXPECT_EQ(loadDicomFolder(empty / "does-not-exist").error().code, ErrorCode::NotFound);
}

TEST(DicomScan, SingleFilePathAndCancellation) {
    const auto dir = test::outputDir("reader-single");
    const auto files = writeAxialSeries(dir, 4, 2.0, 0);
    auto one = loadDicomFolder(files[2]);
    ASSERT_TRUE(one.ok());
    ASSERT_EQ(one->series.size(), 1u);
    EXPECT_EQ(one->series.front().volume.geometry().size[2], 1);
    EXPECT_NEAR(one->series.front().volume.geometry().spacing.z, 5.0, 1e-9); // one slice: SliceThickness

    auto cancelled = loadDicomFolder(dir, [](double, const std::string&) { return false; });
    ASSERT_FALSE(cancelled.ok());
    EXPECT_EQ(cancelled.error().code, ErrorCode::Cancelled);

    auto scan = scanDicom(dir);
    ASSERT_TRUE(scan.ok());
    int calls = 0;
    auto late = loadSeries(scan->series.front(), [&](double f, const std::string&) {
        EXPECT_GE(f, 0.0);
        EXPECT_LE(f, 1.0);
        return ++calls < 3;
    });
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().code, ErrorCode::Cancelled);
}

// Our own writer's output (the phantom and demo case go through it) must come back on the same grid with the same
// voxels: CT as single-frame slices, US as one multi-frame file with functional groups.
TEST(DicomSeriesReader, ReadsWhatOurWriterWrites) {
    ImageGeometry g;
    g.size = {6, 5, 4};
    g.spacing = {0.7, 0.9, 2.5};
    g.origin = {-12.25, 33.5, -101.75};
    g.direction = Mat3::rotationXYZ(0.1, -0.05, 0.2);
    DicomStudyInfo study;
    {
        std::vector<std::int16_t> hu(g.voxelCount());
        for (std::size_t i = 0; i < hu.size(); ++i) hu[i] = static_cast<std::int16_t>(-1024 + static_cast<int>(i) * 37);
        const Volume ct = Volume::create(g, std::move(hu));
        DicomSeriesSpec spec;
        spec.modality = "CT";
        spec.windowPresets = {{40, 400, "ABDOMEN"}};
        const auto dir = test::outputDir("reader-ours-ct");
        auto files = writeDicomSeries(ct, study, spec, dir);
        ASSERT_TRUE(files.ok()) << files.error().describe();
        const LoadedSeries back = loadOnly(dir);
        EXPECT_TRUE(back.volume.geometry().sameGrid(g, 1e-6)) << back.volume.geometry().describe();
        ASSERT_TRUE(back.volume.holds<std::int16_t>());
        EXPECT_TRUE(std::equal(ct.data<std::int16_t>(), ct.data<std::int16_t>() + g.voxelCount(),
                               back.volume.data<std::int16_t>()));
        EXPECT_EQ(back.info.patientName, study.patientName);
        ASSERT_EQ(back.info.windowPresets.size(), 1u);
        EXPECT_EQ(back.info.windowPresets[0].name, "ABDOMEN");
        EXPECT_TRUE(back.info.warnings.empty()) << back.info.warnings.front();
    }
    {
        std::vector<std::uint8_t> echo(g.voxelCount());
        for (std::size_t i = 0; i < echo.size(); ++i) echo[i] = static_cast<std::uint8_t>((i * 13) % 256);
        const Volume us = Volume::create(g, std::move(echo));
        DicomSeriesSpec spec;
        spec.modality = "US";
        const auto dir = test::outputDir("reader-ours-us");
        auto files = writeDicomSeries(us, study, spec, dir);
        ASSERT_TRUE(files.ok()) << files.error().describe();
        const LoadedSeries back = loadOnly(dir);
        EXPECT_TRUE(back.volume.geometry().sameGrid(g, 1e-6)) << back.volume.geometry().describe();
        ASSERT_TRUE(back.volume.holds<std::uint8_t>());
        EXPECT_TRUE(std::equal(us.data<std::uint8_t>(), us.data<std::uint8_t>() + g.voxelCount(),
                               back.volume.data<std::uint8_t>()));
        EXPECT_EQ(back.info.modality, "US");
    }
}
