// The reader on odd series (issue 3): series split by echo, phase, time point, acquisition and localizer; missing
// slices and uneven spacing resampled; gantry tilt resampled onto an orthogonal grid; Siemens mosaics unpacked (real
// data compared with dcm2niix's reference NIfTI); unreadable, non-DICOM and pixel-less files skipped with a reason.

#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <numbers>

#include "SyntheticDicom.h"
#include "TestData.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/VolumeIO.h"

using namespace jumeau;
using namespace jumeau::imaging;
using namespace jumeau::test::synth;
namespace fs = std::filesystem;

namespace {

std::vector<SeriesInfo> scanOk(const fs::path& dir) {
    auto scan = scanDicom(dir);
    EXPECT_TRUE(scan.ok()) << (scan.ok() ? "" : scan.error().describe());
    return scan.ok() ? scan->series : std::vector<SeriesInfo>{};
}

LoadedSeries loadOk(const SeriesInfo& info) {
    auto loaded = loadSeries(info);
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().describe());
    return loaded.ok() ? *loaded : LoadedSeries{};
}

std::vector<std::string> labels(const std::vector<SeriesInfo>& series) {
    std::vector<std::string> out;
    for (const auto& s : series) out.push_back(s.partLabel);
    return out;
}

// Centre of mass (LPS mm) of value - background over a volume.
Vec3 centreOfMass(const Volume& v, double background) {
    const auto& g = v.geometry();
    Vec3 sum{0, 0, 0};
    double mass = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                const double w = v.valueAt(i, j, k) - background;
                if (w <= 0) continue;
                sum += g.indexToLps({double(i), double(j), double(k)}) * w;
                mass += w;
            }
    return mass > 0 ? sum / mass : Vec3{};
}

// Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this thread's effective set while it lives, so root sees
// file permissions like anyone else (threads the reader starts meanwhile inherit that). Restored afterwards.
class WithoutDacOverride {
public:
    WithoutDacOverride() {
        if (syscall(SYS_capget, &m_header, m_saved) != 0) return;
        std::memcpy(m_reduced, m_saved, sizeof m_saved);
        m_reduced[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
        m_active = syscall(SYS_capset, &m_header, m_reduced) == 0;
    }
    ~WithoutDacOverride() {
        if (m_active) syscall(SYS_capset, &m_header, m_saved);
    }
    bool active() const { return m_active; }

private:
    __user_cap_header_struct m_header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct m_saved[2]{};
    __user_cap_data_struct m_reduced[2]{};
    bool m_active = false;
};

} // namespace

// ---- splitting ----------------------------------------------------------------------------------------------------

TEST(DicomOddSeries, EchoesAreSplitIntoVolumes) {
    const auto dir = test::outputDir("odd-echoes");
    for (int echo = 1; echo <= 2; ++echo)
        for (int k = 0; k < 4; ++k) {
            SliceSpec s;
            s.modality = "MR";
            s.k = k;
            s.position = Vec3{0, 0, 3.0 * k};
            s.instance = (echo - 1) * 4 + k + 1;
            s.echoNumber = echo;
            s.echoTime = 10.0 * echo;
            s.intercept = echo * 100; // tells the echoes apart in the voxels
            writeSlice(dir / ("e" + std::to_string(echo) + "_" + std::to_string(k) + ".dcm"), s);
        }
    const auto series = scanOk(dir);
    ASSERT_EQ(series.size(), 2u);
    EXPECT_EQ(labels(series), (std::vector<std::string>{"echo 1", "echo 2"}));
    for (int e = 0; e < 2; ++e) {
        EXPECT_EQ(series[e].seriesUid, "1.2.826.0.1.3680043.10.543.1"); // parts keep the series UID
        EXPECT_TRUE(hasWarning(series[e], "split by echo into 2 series; this part: echo " + std::to_string(e + 1)))
            << ::testing::PrintToString(series[e].warnings);
        const LoadedSeries l = loadOk(series[e]);
        ASSERT_EQ(l.volume.geometry().size[2], 4);
        EXPECT_NEAR(l.volume.geometry().spacing.z, 3.0, 1e-9);
        expectPattern(l.volume, 100.0 * (e + 1));
        EXPECT_FALSE(hasWarning(l.info, "share a position"));
        EXPECT_EQ(l.info.partLabel, series[e].partLabel);
    }
}

TEST(DicomOddSeries, CardiacPhasesTimePointsAndTriggerTimesAreSplit) {
    {
        const auto dir = test::outputDir("odd-phases");
        for (double phase : {30.0, 70.0})
            for (int k = 0; k < 3; ++k) {
                SliceSpec s;
                s.k = k;
                s.position = Vec3{0, 0, 2.0 * k};
                s.cardiacPhasePercent = phase;
                s.acquisitionNumber = 1; // the same for every image: must not matter
                writeSlice(dir / ("p" + std::to_string(int(phase)) + "_" + std::to_string(k) + ".dcm"), s);
            }
        const auto series = scanOk(dir);
        EXPECT_EQ(labels(series), (std::vector<std::string>{"phase 30%", "phase 70%"}));
        for (const auto& s : series) EXPECT_EQ(s.files.size(), 3u);
    }
    {
        const auto dir = test::outputDir("odd-timepoints");
        for (int t = 1; t <= 3; ++t)
            for (int k = 0; k < 2; ++k) {
                SliceSpec s;
                s.k = k;
                s.position = Vec3{0, 0, 5.0 * k};
                s.temporalPosition = t;
                writeSlice(dir / ("t" + std::to_string(t) + "_" + std::to_string(k) + ".dcm"), s);
            }
        EXPECT_EQ(labels(scanOk(dir)), (std::vector<std::string>{"time point 1", "time point 2", "time point 3"}));
    }
    {
        // Cine MR with nothing but TriggerTime, drifting from slice to slice within one phase (real scanners do):
        // the n-th image of each position by trigger time is phase n.
        const auto dir = test::outputDir("odd-trigger");
        for (int phase = 0; phase < 3; ++phase)
            for (int k = 0; k < 4; ++k) {
                SliceSpec s;
                s.modality = "MR";
                s.k = k;
                s.position = Vec3{0, 0, 6.0 * k};
                s.triggerTime = 100.0 * phase + 3.0 * k;
                s.intercept = 1000.0 * phase;
                writeSlice(dir / ("c" + std::to_string(phase) + "_" + std::to_string(k) + ".dcm"), s);
            }
        const auto series = scanOk(dir);
        ASSERT_EQ(series.size(), 3u);
        EXPECT_EQ(labels(series),
                  (std::vector<std::string>{"trigger time 4.5 ms", "trigger time 104.5 ms", "trigger time 204.5 ms"}));
        for (int p = 0; p < 3; ++p) expectPattern(loadOk(series[p]).volume, 1000.0 * p);
    }
}

TEST(DicomOddSeries, AcquisitionNumberSplitsOnlyRepeatedPositions) {
    {
        // Many CT scanners give every slice its own AcquisitionNumber: distinct positions, one volume, no warning.
        const auto dir = test::outputDir("odd-acq-per-slice");
        for (int k = 0; k < 5; ++k) {
            SliceSpec s;
            s.k = k;
            s.position = Vec3{0, 0, 1.25 * k};
            s.acquisitionNumber = 17 + k;
            writeSlice(dir / ("s" + std::to_string(k) + ".dcm"), s);
        }
        const auto series = scanOk(dir);
        ASSERT_EQ(series.size(), 1u);
        EXPECT_EQ(series[0].partLabel, "");
        EXPECT_TRUE(series[0].warnings.empty()) << series[0].warnings.front();
        const LoadedSeries l = loadOk(series[0]);
        EXPECT_EQ(l.volume.geometry().size[2], 5);
        EXPECT_TRUE(l.info.warnings.empty()) << l.info.warnings.front();
    }
    {
        // A repeated run (pre and post contrast in one series): two acquisitions over the same positions.
        const auto dir = test::outputDir("odd-acq-repeat");
        for (int a = 1; a <= 2; ++a)
            for (int k = 0; k < 3; ++k) {
                SliceSpec s;
                s.k = k;
                s.position = Vec3{0, 0, 2.0 * k};
                s.acquisitionNumber = a;
                s.intercept = a == 2 ? 50 : 0;
                writeSlice(dir / ("a" + std::to_string(a) + "_" + std::to_string(k) + ".dcm"), s);
            }
        const auto series = scanOk(dir);
        ASSERT_EQ(labels(series), (std::vector<std::string>{"acquisition 1", "acquisition 2"}));
        expectPattern(loadOk(series[1]).volume, 50);
        EXPECT_TRUE(hasWarning(series[1], "split by acquisition into 2 series"));
    }
    {
        // Repeated positions whose AcquisitionNumbers differ per slice cannot be told apart by them: not cut into
        // single slices; the first image at each position is used, with a warning.
        const auto dir = test::outputDir("odd-acq-useless");
        for (int a = 0; a < 2; ++a)
            for (int k = 0; k < 3; ++k) {
                SliceSpec s;
                s.k = k;
                s.position = Vec3{0, 0, 2.0 * k};
                s.acquisitionNumber = 10 * a + k;
                s.instance = 3 * a + k + 1;
                writeSlice(dir / ("u" + std::to_string(a) + "_" + std::to_string(k) + ".dcm"), s);
            }
        const auto series = scanOk(dir);
        ASSERT_EQ(series.size(), 1u);
        const LoadedSeries l = loadOk(series[0]);
        EXPECT_EQ(l.volume.geometry().size[2], 3);
        EXPECT_TRUE(hasWarning(l.info, "share a position"));
    }
}

TEST(DicomOddSeries, LocalizerIsNeverASliceOfTheVolume) {
    const auto dir = test::outputDir("odd-localizer");
    for (int k = 0; k < 4; ++k) {
        SliceSpec s;
        s.k = k;
        s.position = Vec3{0, 0, 2.5 * k};
        s.imageType = "ORIGINAL\\PRIMARY\\AXIAL";
        writeSlice(dir / ("ax" + std::to_string(k) + ".dcm"), s);
    }
    SliceSpec scout; // an axial-looking localizer inside the stack: orientation alone cannot tell it apart
    scout.k = 9;
    scout.position = Vec3{0, 0, 3.0};
    scout.imageType = "ORIGINAL\\PRIMARY\\LOCALIZER";
    writeSlice(dir / "scout.dcm", scout);

    const auto series = scanOk(dir);
    ASSERT_EQ(series.size(), 2u);
    EXPECT_EQ(labels(series), (std::vector<std::string>{"", "localizer"}));
    EXPECT_EQ(series[0].files.size(), 4u);
    EXPECT_EQ(series[1].files.size(), 1u);
    EXPECT_TRUE(hasWarning(series[1], "mixes localizer (scout) images with other images: split into 2 series"));
    const LoadedSeries volume = loadOk(series[0]);
    EXPECT_NEAR(volume.volume.geometry().spacing.z, 2.5, 1e-9); // no 0.5 mm step towards the scout
    expectPattern(volume.volume);
}

TEST(DicomOddSeries, EnhancedFileWithTimePointsIsSplitByFrames) {
    const auto dir = test::outputDir("odd-enhanced-4d");
    SliceSpec s;
    s.modality = "MR";
    DcmFileFormat ff;
    DcmDataset* ds = ff.getDataset();
    fillCommon(ds, s, UID_EnhancedMRImageStorage);
    ds->putAndInsertString(DCM_NumberOfFrames, "6");
    DcmItem* shared = nullptr;
    ASSERT_TRUE(ds->findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good());
    DcmItem* item = nullptr;
    shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, item, 0);
    item->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
    shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, item, 0);
    item->putAndInsertString(DCM_PixelSpacing, "0.7\\0.9");
    // Frames: time point 1 at z = 0, 2, 4 then time point 2 at the same positions, stored interleaved.
    const int frameT[] = {1, 2, 1, 2, 1, 2}, frameK[] = {0, 0, 1, 1, 2, 2};
    std::vector<int> ks;
    for (int f = 0; f < 6; ++f) {
        DcmItem* frame = nullptr;
        ASSERT_TRUE(ds->findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, -2).good());
        frame->findOrCreateSequenceItem(DCM_PlanePositionSequence, item, 0);
        item->putAndInsertString(DCM_ImagePositionPatient, dsList({0, 0, 2.0 * frameK[f]}).c_str());
        frame->findOrCreateSequenceItem(DCM_FrameContentSequence, item, 0);
        item->putAndInsertUint32(DCM_TemporalPositionIndex, static_cast<Uint32>(frameT[f]));
        ks.push_back(frameK[f] + 10 * (frameT[f] - 1)); // time point 2 holds pattern slices 10..12
    }
    putPixels(ds, s, ks);
    save(ff, dir / "enhanced4d.dcm", EXS_LittleEndianExplicit);

    const auto series = scanOk(dir);
    ASSERT_EQ(series.size(), 2u);
    EXPECT_EQ(labels(series), (std::vector<std::string>{"time point 1", "time point 2"}));
    EXPECT_EQ(series[0].frames, (std::vector<int>{0, 2, 4}));
    EXPECT_EQ(series[1].frames, (std::vector<int>{1, 3, 5}));
    for (int t = 0; t < 2; ++t) {
        const LoadedSeries l = loadOk(series[t]);
        ASSERT_EQ(l.volume.geometry().size, (std::array<int, 3>{4, 3, 3}));
        expectPattern(l.volume, 10000.0 * t);
        EXPECT_FALSE(hasWarning(l.info, "share a position"));
    }
}

// ---- spacing --------------------------------------------------------------------------------------------------------

TEST(DicomOddSeries, MissingSlicesAreInterpolatedAndNamed) {
    const auto dir = test::outputDir("odd-missing-two");
    for (int k : {0, 1, 2, 5, 6, 7}) {
        SliceSpec s;
        s.k = k;
        s.position = Vec3{0, 0, -20.0 + 1.5 * k};
        writeSlice(dir / ("m" + std::to_string(k) + ".dcm"), s);
    }
    const LoadedSeries l = loadOk(scanOk(dir).front());
    ASSERT_EQ(l.volume.geometry().size[2], 8);
    EXPECT_NEAR(l.volume.geometry().spacing.z, 1.5, 1e-9);
    EXPECT_TRUE(hasWarning(l.info, "2 missing slices between z=-17.0 and z=-12.5 mm interpolated"))
        << ::testing::PrintToString(l.info.warnings);
    expectPattern(l.volume); // linear in k: the interpolated slices are the missing ones
}

TEST(DicomOddSeries, NonUniformSpacingIsResampled) {
    // 1.0 mm slices, then 1.5 mm slices (a series stitched from two reconstructions). The content is linear in z,
    // so linear interpolation reproduces it exactly at every resampled position.
    const auto dir = test::outputDir("odd-nonuniform");
    const double z[] = {0, 1, 2, 3, 4.5, 6, 7.5, 9};
    for (int n = 0; n < 8; ++n) {
        SliceSpec s;
        s.position = Vec3{5, 5, 40 + z[n]};
        const int zTenths = static_cast<int>(std::lround(z[n] * 10));
        s.stored = [zTenths](int i, int j, int) { return static_cast<std::uint32_t>(100 * zTenths + 10 * j + i); };
        writeSlice(dir / ("n" + std::to_string(n) + ".dcm"), s);
    }
    const LoadedSeries l = loadOk(scanOk(dir).front());
    const auto& g = l.volume.geometry();
    ASSERT_EQ(g.size[2], 10);
    EXPECT_NEAR(g.spacing.z, 1.0, 1e-9);
    EXPECT_NEAR(g.origin.z, 40.0, 1e-9);
    EXPECT_TRUE(hasWarning(l.info, "non-uniform slice spacing 1.0\xE2\x80\x93"
                                   "1.5 mm: resampled to 1.0 mm"))
        << ::testing::PrintToString(l.info.warnings);
    for (int k = 0; k < 10; ++k)
        for (int i = 0; i < 4; ++i) EXPECT_EQ(l.volume.valueAt(i, 2, k), 1000 * k + 20 + i) << k;
}

// ---- gantry tilt ----------------------------------------------------------------------------------------------------

namespace {

// A CT of a ball (radius 12 mm, 1000 HU in air at -1000 HU, anti-aliased edge so its centroid is exact) sampled
// on the tilted slices a gantry tilt gives: the stack is sheared along the column direction.
void writeTiltedBall(const fs::path& dir, const std::array<Vec3, 2>& orientation, const Vec3& step, const Vec3& first,
                     const Vec3& centre, double tiltDegrees) {
    const Vec3 r = orientation[0], c = orientation[1];
    for (int k = 0; k < 30; ++k) {
        SliceSpec s;
        s.rows = 48;
        s.columns = 40;
        s.pixelSpacing = {1.0, 1.0};
        s.orientation = orientation;
        s.position = first + step * k;
        s.intercept = -1000;
        s.gantryTilt = tiltDegrees;
        s.instance = k + 1;
        const Vec3 origin = *s.position;
        s.stored = [=](int i, int j, int) {
            const Vec3 p = origin + r * double(i) + c * double(j);
            const double inside = std::clamp(12.0 + 0.5 - geometry::distance(p, centre), 0.0, 1.0);
            return static_cast<std::uint32_t>(std::lround(2000 * inside));
        };
        writeSlice(dir / ("t" + std::to_string(k) + ".dcm"), s);
    }
}

void expectBallWhereWritten(const fs::path& dir, const Vec3& centre, const std::array<Vec3, 2>& orientation) {
    const auto series = scanOk(dir);
    ASSERT_EQ(series.size(), 1u);
    const LoadedSeries l = loadOk(series[0]);
    const auto& g = l.volume.geometry();
    EXPECT_TRUE(g.isValid(1e-9)) << g.describe();
    expectNear(g.axis(0), orientation[0], 1e-9);
    expectNear(g.axis(1), orientation[1], 1e-9);
    expectNear(g.axis(2), geometry::cross(orientation[0], orientation[1]), 1e-9);
    EXPECT_TRUE(hasWarning(l.info, "gantry tilt of 20.0\xC2\xB0 resampled onto an orthogonal grid"))
        << ::testing::PrintToString(l.info.warnings);
    const Vec3 found = centreOfMass(l.volume, -1000);
    // Within half a voxel (the smallest spacing is 1 mm).
    EXPECT_LT(geometry::distance(found, centre), 0.5) << found.x << " " << found.y << " " << found.z;
    // And the ball is whole: its volume (sum of HU above air / 2000) is that of a 12 mm sphere within 2%.
    double mass = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) mass += (l.volume.valueAt(i, j, k) + 1000) / 2000.0;
    const double ballMm3 = 4.0 / 3.0 * std::numbers::pi * 12.0 * 12.0 * 12.0;
    EXPECT_NEAR(mass * g.voxelVolumeMm3(), ballMm3, 0.02 * ballMm3);
}

} // namespace

TEST(DicomOddSeries, GantryTiltPositionsShiftedInYIsResampled) {
    // Axial orientation, positions stepping 1.5 mm in z and 1.5 * tan(20°) in y per slice, GantryDetectorTilt 20.
    const auto dir = test::outputDir("odd-tilt-y");
    const std::array<Vec3, 2> axial{Vec3{1, 0, 0}, Vec3{0, 1, 0}};
    const double tilt = 20.0 * std::numbers::pi / 180.0;
    const Vec3 centre{-3.25, 14.5, 22.0};
    writeTiltedBall(dir, axial, Vec3{0, 1.5 * std::tan(tilt), 1.5}, Vec3{-22, -10, 0}, centre, 20.0);
    expectBallWhereWritten(dir, centre, axial);
}

TEST(DicomOddSeries, GantryTiltWithTiltedOrientationIsResampled) {
    // The other way scanners write it: the image plane tilted (IOP 1\0\0\0\cos\sin), positions stepping along the
    // table (z) only; relative to the slice normal the stack is sheared by the same 20 degrees.
    const auto dir = test::outputDir("odd-tilt-iop");
    const double tilt = 20.0 * std::numbers::pi / 180.0;
    const std::array<Vec3, 2> tilted{Vec3{1, 0, 0}, Vec3{0, std::cos(tilt), std::sin(tilt)}};
    const Vec3 centre{2.0, 1.0, 30.0};
    writeTiltedBall(dir, tilted, Vec3{0, 0, 1.5}, Vec3{-18, -22, 0}, centre, 20.0);
    expectBallWhereWritten(dir, centre, tilted);
}

// ---- Siemens mosaic -----------------------------------------------------------------------------------------------

namespace {

// A Siemens CSA2 header ("SV10") holding the given elements, as nibabel and dcm2niix read it.
std::vector<std::uint8_t> csaHeader(const std::vector<std::pair<std::string, std::vector<std::string>>>& elements) {
    std::vector<std::uint8_t> b{'S', 'V', '1', '0', 4, 3, 2, 1};
    const auto i32 = [&](std::int32_t v) {
        for (int k = 0; k < 4; ++k)
            b.push_back(static_cast<std::uint8_t>((static_cast<std::uint32_t>(v) >> (8 * k)) & 0xFF));
    };
    i32(static_cast<std::int32_t>(elements.size()));
    i32(77);
    for (const auto& [name, values] : elements) {
        std::string padded = name;
        padded.resize(64, '\0');
        b.insert(b.end(), padded.begin(), padded.end());
        i32(static_cast<std::int32_t>(values.size())); // VM
        b.insert(b.end(), {'D', 'S', 0, 0});
        i32(3);                                        // SyngoDT
        i32(static_cast<std::int32_t>(values.size())); // items
        i32(77);
        for (const auto& v : values) {
            const auto len = static_cast<std::int32_t>(v.size() + 1);
            i32(len), i32(len), i32(77), i32(len);
            b.insert(b.end(), v.begin(), v.end());
            b.push_back(0);
            while (b.size() % 4) b.push_back(0);
        }
    }
    return b;
}

// A mosaic of `count` 4x3 tiles (pattern slice t in tile t), first tile's corner at `first`, slices `step` mm apart
// along `sliceNormal` (the CSA SliceNormalVector).
void writeMosaic(const fs::path& file, int count, const Vec3& first, const Vec3& sliceNormal, double step,
                 bool withCsaCount = true) {
    const int across = static_cast<int>(std::ceil(std::sqrt(double(count))));
    SliceSpec s;
    s.modality = "MR";
    s.rows = 3 * across;
    s.columns = 4 * across;
    s.isSigned = false;
    s.slope.reset();
    s.intercept.reset();
    s.imageType = "ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC";
    const Vec3 r{1, 0, 0}, c{0, 1, 0};
    // IPP of a mosaic: the corner of the whole mosaic as one slice centred on the first tile's centre.
    s.position = first - c * (0.7 * (s.rows - 3) / 2.0) - r * (0.9 * (s.columns - 4) / 2.0);
    s.stored = [count](int i, int j, int) {
        const int t = (j / 3) * static_cast<int>(std::ceil(std::sqrt(double(count)))) + i / 4;
        return static_cast<std::uint32_t>(t < count ? pattern(i % 4, j % 3, t) : 0);
    };
    DcmFileFormat ff;
    DcmDataset* ds = ff.getDataset();
    fillCommon(ds, s, UID_MRImageStorage);
    ds->putAndInsertString(DCM_ImageType, s.imageType.c_str());
    ds->putAndInsertString(DCM_ImagePositionPatient, dsList({s.position->x, s.position->y, s.position->z}).c_str());
    ds->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
    ds->putAndInsertString(DCM_PixelSpacing, "0.7\\0.9");
    ds->putAndInsertString(DCM_SliceThickness, "2");
    ds->putAndInsertString(DCM_SpacingBetweenSlices, dsText(step).c_str());
    ds->putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), "SIEMENS CSA HEADER");
    std::vector<std::pair<std::string, std::vector<std::string>>> csa{
        {"SliceNormalVector", {dsText(sliceNormal.x), dsText(sliceNormal.y), dsText(sliceNormal.z)}}};
    if (withCsaCount) csa.insert(csa.begin(), {"NumberOfImagesInMosaic", {std::to_string(count)}});
    const auto bytes = csaHeader(csa);
    ds->putAndInsertUint8Array(DcmTag(0x0029, 0x1010, EVR_OB), bytes.data(), static_cast<unsigned long>(bytes.size()));
    putPixels(ds, s, {0});
    save(ff, file, EXS_LittleEndianExplicit);
}

} // namespace

TEST(DicomOddSeries, SyntheticMosaicIsUnpacked) {
    const Vec3 first{-10.5, 20.25, 30.0};
    for (const double sign : {1.0, -1.0}) {
        // 7 tiles in a 3x3 grid (the last two empty); the slice normal along +z or, as sagittal mosaics often
        // have it, against row x column.
        const auto dir = test::outputDir(sign > 0 ? "odd-mosaic-up" : "odd-mosaic-down");
        writeMosaic(dir / "mosaic.dcm", 7, first, Vec3{0, 0, sign}, 2.5);
        const auto series = scanOk(dir);
        ASSERT_EQ(series.size(), 1u);
        const LoadedSeries l = loadOk(series[0]);
        const auto& g = l.volume.geometry();
        ASSERT_EQ(g.size, (std::array<int, 3>{4, 3, 7}));
        EXPECT_EQ(g.direction, Mat3::identity());
        EXPECT_NEAR(g.spacing.x, 0.9, 1e-9);
        EXPECT_NEAR(g.spacing.y, 0.7, 1e-9);
        EXPECT_NEAR(g.spacing.z, 2.5, 1e-9);
        // Tile t sits at first + normal * 2.5 t; the volume runs along +z either way.
        expectNear(g.origin, sign > 0 ? first : first - Vec3{0, 0, 15.0}, 1e-6);
        for (int k = 0; k < 7; ++k) EXPECT_EQ(l.volume.valueAt(3, 2, k), pattern(3, 2, sign > 0 ? k : 6 - k)) << k;
        EXPECT_TRUE(hasWarning(l.info, "Siemens mosaic: 7 slices of 4x3 unpacked from the 12x9 mosaic image"))
            << ::testing::PrintToString(l.info.warnings);
    }
    // No count anywhere: loaded as the 2D image it is stored as, with a warning saying why.
    const auto dir = test::outputDir("odd-mosaic-nocount");
    writeMosaic(dir / "mosaic.dcm", 4, first, Vec3{0, 0, 1}, 2.5, false);
    const LoadedSeries l = loadOk(scanOk(dir).front());
    EXPECT_EQ(l.volume.geometry().size, (std::array<int, 3>{8, 6, 1}));
    EXPECT_TRUE(hasWarning(l.info, "Siemens mosaic image not unpacked (the number of images in the mosaic"))
        << ::testing::PrintToString(l.info.warnings);
}

namespace {

// The first 3D volume of a 4D NIfTI-1 file (.nii.gz), written as a 3D .nii: readVolume refuses 4D files, and the
// reference holds two volumes. Header fields at their NIfTI-1 offsets: dim[8] at 40, bitpix at 72, vox_offset at 108.
fs::path firstVolumeOf(const fs::path& niiGz, const fs::path& out) {
    gzFile in = gzopen(niiGz.c_str(), "rb");
    if (!in) return {};
    std::vector<char> bytes;
    char buf[1 << 16];
    for (int n; (n = gzread(in, buf, sizeof buf)) > 0;) bytes.insert(bytes.end(), buf, buf + n);
    gzclose(in);
    if (bytes.size() < 352) return {};
    std::int16_t dim[8], bitpix = 0;
    float voxOffset = 0;
    std::memcpy(dim, bytes.data() + 40, sizeof dim);
    std::memcpy(&bitpix, bytes.data() + 72, 2);
    std::memcpy(&voxOffset, bytes.data() + 108, 4);
    const std::size_t volumeBytes = std::size_t(dim[1]) * dim[2] * dim[3] * (bitpix / 8);
    const auto offset = static_cast<std::size_t>(voxOffset);
    if (bytes.size() < offset + volumeBytes) return {};
    dim[0] = 3;
    for (int d = 4; d < 8; ++d) dim[d] = 1;
    std::memcpy(bytes.data() + 40, dim, sizeof dim);
    std::ofstream(out, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(offset + volumeBytes));
    return out;
}

void expectSameAsReference(const LoadedSeries& ours, const Volume& ref, const std::string& what) {
    const auto& g = ours.volume.geometry();
    const auto& rg = ref.geometry();
    ASSERT_EQ(g.voxelCount(), rg.voxelCount()) << what;
    // Each of our axes is one of the reference's (dcm2niix flips rows, and may order slices the other way), with the
    // same spacing; within 1e-3 (the reference stores float32 geometry).
    for (int a = 0; a < 3; ++a) {
        bool matched = false;
        for (int b = 0; b < 3; ++b)
            if (std::abs(std::abs(geometry::dot(g.axis(a), rg.axis(b))) - 1) < 1e-3) {
                matched = true;
                EXPECT_NEAR(g.spacing[a], rg.spacing[b], 1e-3) << what << " axis " << a;
                EXPECT_EQ(g.size[a], rg.size[b]) << what << " axis " << a;
            }
        EXPECT_TRUE(matched) << what << ": axis " << a << " has no counterpart in the reference";
    }
    // Every voxel centre of ours is a voxel centre of the reference (within 1e-3 mm) holding the same value: the
    // corners prove origin and extent, the values prove the tiles went to the right slices.
    int worstMismatch = 0;
    double worstOffGridMm = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                const Vec3 p = g.indexToLps({double(i), double(j), double(k)});
                const Vec3 q = rg.lpsToIndex(p);
                const Vec3 rounded{std::round(q.x), std::round(q.y), std::round(q.z)};
                worstOffGridMm = std::max(worstOffGridMm, geometry::distance(rg.indexToLps(rounded), p));
                const int ri = int(rounded.x), rj = int(rounded.y), rk = int(rounded.z);
                if (!rg.contains(ri, rj, rk)) {
                    ADD_FAILURE() << what << ": voxel " << i << "," << j << "," << k << " lies outside the reference";
                    return;
                }
                worstMismatch =
                    std::max(worstMismatch, int(std::abs(ours.volume.valueAt(i, j, k) - ref.valueAt(ri, rj, rk))));
            }
    EXPECT_LT(worstOffGridMm, 1e-3) << what;
    EXPECT_EQ(worstMismatch, 0) << what;
}

} // namespace

TEST(DicomOddSeries, RealSiemensMosaicsMatchDcm2niix) {
    JUMEAU_REQUIRE_SHARED_DATA(data, "dcm_qa-siemens-mosaic-orientation");
    const struct {
        const char* folder;
        const char* reference;
    } cases[] = {{"ax/axasc36", "ax_asc_36sl_9"},
                 {"cor/corasc36", "cor_asc_36sl_13"},
                 {"sag/sagasc36", "sag_asc_36sl_19"},
                 {"axmb/AxAsc36mb2a", "fMRI_MB_asc_25"}}; // multiband, JPEG Lossless
    const auto out = test::outputDir("odd-mosaic-real");
    for (const auto& c : cases) {
        const auto series = scanOk(data / c.folder);
        ASSERT_EQ(series.size(), 2u) << c.folder; // two time points, one mosaic file each
        auto found = labels(series);
        std::sort(found.begin(), found.end());
        EXPECT_EQ(found, (std::vector<std::string>{"acquisition 1", "acquisition 2"})) << c.folder;
        const auto first = std::find_if(series.begin(), series.end(),
                                        [](const SeriesInfo& s) { return s.partLabel == "acquisition 1"; });
        ASSERT_NE(first, series.end());
        const LoadedSeries ours = loadOk(*first);
        ASSERT_FALSE(ours.volume.empty()) << c.folder;
        EXPECT_EQ(ours.volume.geometry().size[2], 36) << c.folder;
        EXPECT_TRUE(hasWarning(ours.info, "Siemens mosaic: 36 slices")) << ::testing::PrintToString(ours.info.warnings);
        const fs::path ref3d = firstVolumeOf(data / "ref_dcm2niix" / (std::string(c.reference) + ".nii.gz"),
                                             out / (std::string(c.reference) + ".nii"));
        ASSERT_FALSE(ref3d.empty()) << c.reference;
        auto ref = readVolume(ref3d);
        ASSERT_TRUE(ref.ok()) << ref.error().describe();
        expectSameAsReference(ours, *ref, c.folder);
    }
    // The JPEG 2000 mosaics of the same set: skipped, named, no crash.
    auto scan = scanDicom(data / "axmb/AxInt36mb");
    ASSERT_TRUE(scan.ok());
    EXPECT_TRUE(scan->series.empty());
    ASSERT_EQ(scan->skipped.size(), 2u);
    for (const auto& s : scan->skipped) EXPECT_NE(s.reason.find("JPEG 2000"), std::string::npos) << s.reason;
}

TEST(DicomOddSeries, RealDeflatedFileDecodesLikeDcmtk) {
    // Deflated data sets are inflated by the reader itself (DCMTK's inflate stream cannot skip values): the result
    // must be what DCMTK decodes from the same file, re-saved uncompressed.
    JUMEAU_REQUIRE_SHARED_DATA(file, "pydicom-debian-test-files/test_files/image_dfl.dcm");
    const auto dir = test::outputDir("odd-deflated");
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(file.c_str()).good());
    ASSERT_TRUE(ff.saveFile((dir / "inflated.dcm").c_str(), EXS_LittleEndianExplicit).good());
    auto deflated = loadDicomFolder(file);
    auto plain = loadDicomFolder(dir / "inflated.dcm");
    ASSERT_TRUE(deflated.ok()) << deflated.error().describe();
    ASSERT_TRUE(plain.ok()) << plain.error().describe();
    const Volume& a = deflated->series.at(0).volume;
    const Volume& b = plain->series.at(0).volume;
    ASSERT_TRUE(a.geometry().sameGrid(b.geometry(), 1e-9)) << a.geometry().describe();
    ASSERT_EQ(a.pixelType(), b.pixelType());
    EXPECT_EQ(std::memcmp(a.rawData(), b.rawData(), a.byteCount()), 0);
    EXPECT_GT(a.range().second, a.range().first); // an image, not zeros
}

// ---- bad input ------------------------------------------------------------------------------------------------------

TEST(DicomOddSeries, UnreadableFilesAndFoldersAreSkippedWithAReason) {
    const auto dir = test::outputDir("odd-permissions");
    writeAxialSeries(dir / "good", 3, 2.0, 0);
    writeAxialSeries(dir / "locked-folder", 2, 2.0, 0);
    SliceSpec other;
    other.seriesUid += ".7";
    writeSlice(dir / "locked.dcm", other);
    ASSERT_EQ(::chmod((dir / "locked.dcm").c_str(), 0), 0);
    ASSERT_EQ(::chmod((dir / "locked-folder").c_str(), 0), 0);
    struct Restore { // so test-output can be removed by the next run whatever happens
        fs::path dir;
        ~Restore() {
            ::chmod((dir / "locked.dcm").c_str(), 0644);
            ::chmod((dir / "locked-folder").c_str(), 0755);
        }
    } restore{dir};

    std::optional<WithoutDacOverride> asUser;
    if (::geteuid() == 0) {
        asUser.emplace(); // root reads mode-000 files: drop the capability that allows it while the reader runs
        if (!asUser->active())
            GTEST_SKIP() << "running as root and CAP_DAC_OVERRIDE cannot be dropped: root reads mode-000 files";
    }
    auto folder = loadDicomFolder(dir);
    ASSERT_TRUE(folder.ok()) << folder.error().describe(); // not fatal: the readable series loads
    EXPECT_EQ(folder->series.size(), 1u);
    std::map<std::string, std::string> reasons;
    for (const auto& s : folder->skipped) reasons[s.file.filename().string()] = s.reason;
    EXPECT_EQ(reasons["locked.dcm"], "permission denied: the file cannot be opened for reading");
    EXPECT_EQ(reasons["locked-folder"], "permission denied: the folder cannot be listed");
    for (const auto& s : folder->skipped) EXPECT_EQ(s.code, ErrorCode::IoError) << s.file;
}

TEST(DicomOddSeries, FolderOfJpegsIsNotDicomAndNothingLoads) {
    const auto dir = test::outputDir("odd-jpegs");
    for (int n = 0; n < 3; ++n) {
        // JFIF magic and a little of a header: what a camera or a screenshot export leaves in a "DICOM" folder.
        std::ofstream out(dir / ("photo" + std::to_string(n) + ".dcm"), std::ios::binary);
        const unsigned char jfif[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00};
        out.write(reinterpret_cast<const char*>(jfif), sizeof jfif);
        for (int i = 0; i < 500; ++i) out.put(static_cast<char>((i * 37 + n) & 0xFF));
    }
    auto scan = scanDicom(dir);
    ASSERT_TRUE(scan.ok());
    EXPECT_TRUE(scan->series.empty());
    ASSERT_EQ(scan->skipped.size(), 3u);
    for (const auto& s : scan->skipped) {
        EXPECT_EQ(s.reason, "not a DICOM file (looks like a JPEG image)");
        EXPECT_EQ(s.code, ErrorCode::InvalidInput);
    }
    auto folder = loadDicomFolder(dir);
    ASSERT_FALSE(folder.ok()); // nothing loads: an error, so the CLI exits non-zero
    EXPECT_NE(folder.error().message.find("3x not a DICOM file (looks like a JPEG image)"), std::string::npos)
        << folder.error().message;
}

TEST(DicomOddSeries, MissingPixelDataIsSkipped) {
    const auto dir = test::outputDir("odd-nopixels");
    writeAxialSeries(dir, 2, 2.0, 0);
    SliceSpec headerOnly;
    headerOnly.position = Vec3{0, 0, 50};
    headerOnly.pixelData = false;
    writeSlice(dir / "header-only.dcm", headerOnly);
    auto folder = loadDicomFolder(dir);
    ASSERT_TRUE(folder.ok());
    EXPECT_EQ(folder->series.size(), 1u);
    EXPECT_EQ(folder->series[0].volume.geometry().size[2], 2); // the pixel-less file is no slice (no 48 mm gap)
    ASSERT_EQ(folder->skipped.size(), 1u);
    EXPECT_EQ(folder->skipped[0].file.filename(), "header-only.dcm");
    EXPECT_EQ(folder->skipped[0].reason.rfind("no pixel data", 0), 0u) << folder->skipped[0].reason;
    EXPECT_EQ(folder->skipped[0].code, ErrorCode::InvalidInput);
}
