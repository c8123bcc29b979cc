// jumeau-cli convert, end to end: every output format read back with ITK (imaging::readVolume) has the loaded
// volume's geometry and voxels; series selection (UID, UID#N for split series) and its errors; exit statuses.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include <dcmtk/dcmdata/dctk.h>

#include "CliTestSupport.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/VolumeIO.h"

using namespace jumeau;
using namespace jumeau::test;
namespace fs = std::filesystem;

namespace {

// Our reader's volume of one phantom series, loaded here in the test process: what convert must have written.
imaging::Volume loadPhantomSeries(const std::string& uid) {
    auto scan = imaging::scanDicom(phantomCase());
    EXPECT_TRUE(scan.ok());
    if (!scan) return {};
    for (const auto& s : scan->series)
        if (s.seriesUid == uid) {
            auto loaded = imaging::loadSeries(s);
            EXPECT_TRUE(loaded.ok()) << loaded.error().describe();
            return loaded ? loaded->volume : imaging::Volume();
        }
    ADD_FAILURE() << "no series " << uid << " in the phantom";
    return {};
}

bool sameVoxels(const imaging::Volume& a, const imaging::Volume& b) {
    return a.pixelType() == b.pixelType() && a.byteCount() == b.byteCount() &&
           std::equal(static_cast<const std::uint8_t*>(a.rawData()),
                      static_cast<const std::uint8_t*>(a.rawData()) + a.byteCount(),
                      static_cast<const std::uint8_t*>(b.rawData()));
}

double maxDifference(const imaging::ImageGeometry& a, const imaging::ImageGeometry& b, bool directions) {
    double d = 0;
    for (int i = 0; i < 3; ++i) {
        if (directions) {
            for (int c = 0; c < 3; ++c) d = std::max(d, std::abs(a.direction.m[i][c] - b.direction.m[i][c]));
        } else {
            d = std::max({d, std::abs(a.spacing[i] - b.spacing[i]), std::abs(a.origin[i] - b.origin[i])});
        }
    }
    return d;
}

// Copies of three phantom CT slices plus one MR slice relabelled with the CT's SeriesInstanceUID: one UID, two
// image sizes, so the reader splits it into UID#1 and UID#2.
fs::path makeSplitSeries(const std::string& ctUid) {
    const fs::path dir = outputDir("cli-convert-split");
    for (const char* name : {"CT0001.dcm", "CT0002.dcm", "CT0003.dcm"})
        fs::copy_file(phantomCase() / "ct" / name, dir / name);
    DcmFileFormat ff;
    EXPECT_TRUE(ff.loadFile((phantomCase() / "mr" / "MR0001.dcm").string().c_str()).good());
    EXPECT_TRUE(ff.getDataset()->putAndInsertString(DCM_SeriesInstanceUID, ctUid.c_str()).good());
    EXPECT_TRUE(ff.saveFile((dir / "MR0001.dcm").string().c_str(), EXS_LittleEndianExplicit).good());
    return dir;
}

} // namespace

TEST(CliConvert, EveryFormatRoundTripsGeometryAndVoxels) {
    const Json truth = phantomTruth();
    const fs::path out = outputDir("cli-convert");
    struct Case {
        std::string which, ext;
    };
    // CT in the three formats; the oblique multi-frame ultrasound (UInt8) through NIfTI and MetaImage; the MR in NRRD.
    const std::vector<Case> cases = {{"ct", ".nrrd"},   {"ct", ".nii.gz"}, {"ct", ".mha"},
                                     {"us", ".nii.gz"}, {"us", ".mha"},    {"mr", ".nrrd"}};
    for (const auto& [which, ext] : cases) {
        const std::string uid = truth.at("series").at(which).at("seriesUid").get<std::string>();
        const fs::path file = out / (which + ext);
        const CliRun run = runCli({"convert", phantomCase().string(), "--series", uid, "--out", file.string()});
        ASSERT_EQ(run.exitCode, 0) << which << ext << ": " << run.describe();
        EXPECT_NE(run.out.find("Wrote " + file.string()), std::string::npos) << run.out;

        auto written = imaging::readVolume(file);
        ASSERT_TRUE(written.ok()) << file << ": " << written.error().describe();
        const imaging::Volume loaded = loadPhantomSeries(uid);
        const auto& g = written->geometry();
        EXPECT_EQ(g.size, loaded.geometry().size) << which << ext;
        // NIfTI stores its affine in 32-bit floats: 1e-5 relative, so 1e-4 mm over a 300 mm field.
        const bool nifti = ext == ".nii.gz";
        EXPECT_LE(maxDifference(g, loaded.geometry(), false), nifti ? 1e-4 : 1e-9) << which << ext;
        EXPECT_LE(maxDifference(g, loaded.geometry(), true), nifti ? 1e-6 : 1e-12) << which << ext;
        // ... and the phantom's own truth (written into DICOM as decimal strings).
        EXPECT_TRUE(g.sameGrid(truthGeometry(truth, which), nifti ? 1e-4 : 1e-6)) << which << ext;
        EXPECT_TRUE(sameVoxels(*written, loaded)) << which << ext << ": " << imaging::toString(written->pixelType())
                                                  << " vs " << imaging::toString(loaded.pixelType());
    }
}

TEST(CliConvert, OneSeriesNeedsNoSelection) {
    const fs::path file = outputDir("cli-convert-one") / "ct.nrrd";
    const CliRun run = runCli({"convert", (phantomCase() / "ct").string(), "--out", file.string()});
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    auto written = imaging::readVolume(file);
    ASSERT_TRUE(written.ok());
    EXPECT_EQ(written->geometry().size, (std::array<int, 3>{256, 256, 160}));
}

TEST(CliConvert, SeveralSeriesWithoutSelectionExitTwoListingThem) {
    const Json truth = phantomTruth();
    const fs::path file = outputDir("cli-convert-ambiguous") / "which.nrrd";
    const CliRun run = runCli({"convert", phantomCase().string(), "--out", file.string()});
    EXPECT_EQ(run.exitCode, 2) << run.describe();
    EXPECT_FALSE(fs::exists(file));
    EXPECT_NE(run.err.find("holds 3 series"), std::string::npos) << run.err;
    for (const std::string which : {"ct", "mr", "us"})
        EXPECT_NE(run.err.find(truth.at("series").at(which).at("seriesUid").get<std::string>()), std::string::npos)
            << which << ": " << run.err;
    // What each one is: modality, description and size.
    EXPECT_NE(run.err.find("CT"), std::string::npos);
    EXPECT_NE(run.err.find("256 x 256 x 160"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("200 x 160 x 80"), std::string::npos) << run.err;
}

TEST(CliConvert, WrongRequestsExitTwoBeforeWriting) {
    const Json truth = phantomTruth();
    const fs::path out = outputDir("cli-convert-wrong");
    const std::string ctUid = truth.at("series").at("ct").at("seriesUid").get<std::string>();

    const CliRun png =
        runCli({"convert", phantomCase().string(), "--series", ctUid, "--out", (out / "ct.png").string()});
    EXPECT_EQ(png.exitCode, 2) << png.describe();
    EXPECT_NE(png.err.find("unknown output format"), std::string::npos) << png.err;
    EXPECT_NE(png.err.find(".nrrd, .nii.gz or .mha"), std::string::npos) << png.err;
    EXPECT_FALSE(fs::exists(out / "ct.png"));

    const CliRun noSuch =
        runCli({"convert", phantomCase().string(), "--series", "1.2.3.4", "--out", (out / "x.nrrd").string()});
    EXPECT_EQ(noSuch.exitCode, 2) << noSuch.describe();
    EXPECT_NE(noSuch.err.find("no series 1.2.3.4"), std::string::npos) << noSuch.err;
    EXPECT_NE(noSuch.err.find(ctUid), std::string::npos) << noSuch.err; // the ones that exist are listed
    EXPECT_FALSE(fs::exists(out / "x.nrrd"));

    // A part number where the series is not split: only #1 exists.
    EXPECT_EQ(runCli({"convert", phantomCase().string(), "--series", ctUid + "#2", "--out", (out / "y.nrrd").string()})
                  .exitCode,
              2);
    EXPECT_EQ(runCli({"convert", phantomCase().string(), "--series", ctUid + "#1", "--out", (out / "z.nrrd").string()})
                  .exitCode,
              0);

    EXPECT_NE(runCli({"convert", phantomCase().string()}).exitCode, 0); // --out is required (CLI11)
}

TEST(CliConvert, SplitSeriesPartsAreSelectedWithHashN) {
    const std::string uid = phantomTruth().at("series").at("ct").at("seriesUid").get<std::string>();
    const fs::path dir = makeSplitSeries(uid);
    const fs::path out = outputDir("cli-convert-split-out");

    // inspect lists both parts under the one UID, in the order UID#1, UID#2 name them.
    const CliRun inspect = runCli({"inspect", dir.string(), "--json"});
    ASSERT_EQ(inspect.exitCode, 0) << inspect.describe();
    const Json listed = parseJson(inspect);
    std::vector<Json> parts;
    for (const auto& s : listed.at("series"))
        if (s.at("seriesUid") == uid) parts.push_back(s);
    ASSERT_EQ(parts.size(), 2u) << inspect.out;

    const CliRun plain = runCli({"convert", dir.string(), "--series", uid, "--out", (out / "a.nrrd").string()});
    EXPECT_EQ(plain.exitCode, 2) << plain.describe();
    EXPECT_NE(plain.err.find(uid + "#1"), std::string::npos) << plain.err;
    EXPECT_NE(plain.err.find(uid + "#2"), std::string::npos) << plain.err;
    EXPECT_FALSE(fs::exists(out / "a.nrrd"));

    for (std::size_t n = 1; n <= 2; ++n) {
        const fs::path file = out / ("part" + std::to_string(n) + ".mha");
        const CliRun run =
            runCli({"convert", dir.string(), "--series", uid + "#" + std::to_string(n), "--out", file.string()});
        ASSERT_EQ(run.exitCode, 0) << run.describe();
        auto written = imaging::readVolume(file);
        ASSERT_TRUE(written.ok()) << written.error().describe();
        const auto& g = written->geometry();
        const Json& expected = parts[n - 1];
        for (int a = 0; a < 3; ++a) {
            EXPECT_EQ(g.size[a], expected.at("size").at(a).get<int>()) << "part " << n;
            EXPECT_NEAR(g.origin[a], expected.at("origin").at(a).get<double>(), 1e-9) << "part " << n;
        }
    }
    EXPECT_EQ(runCli({"convert", dir.string(), "--series", uid + "#3", "--out", (out / "b.nrrd").string()}).exitCode,
              2);
    EXPECT_EQ(runCli({"convert", dir.string(), "--series", uid + "#0", "--out", (out / "c.nrrd").string()}).exitCode,
              2);

    // The help names the selector.
    const CliRun help = runCli({"convert", "--help"});
    EXPECT_EQ(help.exitCode, 0);
    EXPECT_NE(help.out.find("UID#N"), std::string::npos) << help.out;
}

TEST(CliConvert, NothingLoadableExitsOne) {
    const fs::path dir = outputDir("cli-convert-nothing");
    std::ofstream(dir / "notes.txt") << "not an image\n";
    const CliRun run = runCli({"convert", dir.string(), "--out", (dir / "x.nrrd").string()});
    EXPECT_EQ(run.exitCode, 1) << run.describe();
    EXPECT_NE(run.err.find(dir.string()), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("not a DICOM file"), std::string::npos) << run.err;
    EXPECT_FALSE(fs::exists(dir / "x.nrrd"));

    const CliRun missing = runCli({"convert", (dir / "nope").string(), "--out", (dir / "y.nrrd").string()});
    EXPECT_EQ(missing.exitCode, 1) << missing.describe();
    EXPECT_NE(missing.err.find((dir / "nope").string()), std::string::npos) << missing.err;
}
