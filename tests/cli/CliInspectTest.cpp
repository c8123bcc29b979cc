// jumeau-cli inspect, end to end: the JSON contract on the phantom (against truth.json), the readable table, single
// files, DICOMDIRs, and bad input (each bad file in `skipped` with a reason; exit 1 only when nothing loads).

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <set>

#include <dcmtk/dcmdata/dctk.h>

#include "CliTestSupport.h"

using namespace jumeau;
using namespace jumeau::test;
namespace fs = std::filesystem;

namespace {

constexpr double kTolMm = 1e-6; // the phantom's DICOM stores positions as 16-character decimal strings

// The reason `skipped` gives for a file, or "<not skipped>".
std::string reasonFor(const Json& doc, const fs::path& file) {
    for (const auto& s : doc.at("skipped"))
        if (fs::path(s.at("file").get<std::string>()) == file) return s.at("reason").get<std::string>();
    return "<not skipped>";
}

void writeBytes(const fs::path& file, const std::string& bytes) {
    std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readBytes(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A real 8x8 grey JPEG (159 bytes, made with ImageMagick): what a folder of photos holds.
const unsigned char kJpeg[] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
    0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x10, 0x0b, 0x0c, 0x0e, 0x0c, 0x0a, 0x10, 0x0e, 0x0d, 0x0e, 0x12,
    0x11, 0x10, 0x13, 0x18, 0x28, 0x1a, 0x18, 0x16, 0x16, 0x18, 0x31, 0x23, 0x25, 0x1d, 0x28, 0x3a, 0x33, 0x3d,
    0x3c, 0x39, 0x33, 0x38, 0x37, 0x40, 0x48, 0x5c, 0x4e, 0x40, 0x44, 0x57, 0x45, 0x37, 0x38, 0x50, 0x6d, 0x51,
    0x57, 0x5f, 0x62, 0x67, 0x68, 0x67, 0x3e, 0x4d, 0x71, 0x79, 0x70, 0x64, 0x78, 0x5c, 0x65, 0x67, 0x63, 0xff,
    0xc0, 0x00, 0x0b, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x14, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0xc4,
    0x00, 0x14, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0x1f, 0xff, 0xd9};

// The bad files of the issue, made in `dir` from phantom CT slices; returns them with a word their reason must hold.
std::vector<std::pair<fs::path, std::string>> makeBadFiles(const fs::path& dir) {
    const fs::path ct = phantomCase() / "ct";
    std::vector<std::pair<fs::path, std::string>> bad;

    writeBytes(dir / "zero.dcm", "");
    bad.push_back({dir / "zero.dcm", "empty"});

    std::mt19937 rng(42);
    std::string noise(4096, '\0');
    for (auto& c : noise) c = static_cast<char>(rng() & 0xff);
    writeBytes(dir / "random.dcm", noise);
    bad.push_back({dir / "random.dcm", "not a DICOM file"});

    const std::string slice = readBytes(ct / "CT0004.dcm");
    writeBytes(dir / "truncated.dcm", slice.substr(0, slice.size() / 2));
    bad.push_back({dir / "truncated.dcm", "truncated"});

    writeBytes(dir / "notes.txt", "Scanned on the night shift; see the PACS for the full study.\n");
    bad.push_back({dir / "notes.txt", "not a DICOM file"});

    writeBytes(dir / "photo.jpg", std::string(reinterpret_cast<const char*>(kJpeg), sizeof kJpeg));
    bad.push_back({dir / "photo.jpg", "JPEG"});

    // A valid DICOM header with its Pixel Data element removed.
    DcmFileFormat ff;
    EXPECT_TRUE(ff.loadFile((ct / "CT0005.dcm").string().c_str()).good());
    delete ff.getDataset()->remove(DCM_PixelData);
    EXPECT_TRUE(ff.saveFile((dir / "nopixels.dcm").string().c_str(), EXS_LittleEndianExplicit).good());
    bad.push_back({dir / "nopixels.dcm", "pixel data"});
    return bad;
}

struct Locking {
    bool enforced = false;      // the CLI will not be able to read a mode-000 file
    std::optional<uid_t> runAs; // root reads anything: the CLI then runs as `nobody`
};

// Whether user `nobody` can run the CLI and list `dir` (not so when the build lives under a private folder, such as
// a 0700 mktemp directory): checked in a child process that drops to that user.
bool nobodyCanUse(const fs::path& dir) {
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        const bool ok = ::setgid(65534) == 0 && ::setuid(65534) == 0 &&
                        ::access(jumeau::test::cliExecutable().c_str(), X_OK) == 0 && ::access(dir.c_str(), R_OK | X_OK) == 0;
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Makes `path` unreadable (mode 000) and says how the CLI must run for that to hold.
Locking lock(const fs::path& path) {
    fs::permissions(path, fs::perms::none);
    if (::geteuid() == 0) {
        if (nobodyCanUse(path.parent_path())) return {true, uid_t{65534}};
        return {false, std::nullopt}; // root reads the locked file: nothing about permissions can be tested here
    }
    return {::access(path.c_str(), R_OK) != 0, std::nullopt}; // readable anyway with e.g. CAP_DAC_OVERRIDE
}

} // namespace

TEST(CliInspect, PhantomJsonFollowsTheContractAndMatchesTruth) {
    const fs::path dir = phantomCase();
    const Json truth = phantomTruth();
    const CliRun run = runCli({"inspect", dir.string(), "--json"});
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    const Json doc = parseJson(run);
    ASSERT_TRUE(doc.is_object());
    // Exactly the two top-level keys, and exactly the contract's keys in every entry.
    EXPECT_EQ(doc.size(), 2u);
    ASSERT_TRUE(doc.at("series").is_array());
    ASSERT_TRUE(doc.at("skipped").is_array());
    const std::set<std::string> keys = {"seriesUid", "studyUid", "patientId", "patientName", "modality",  "description",
                                        "files",     "size",     "spacing",   "origin",      "direction", "warnings"};
    ASSERT_EQ(doc.at("series").size(), 3u) << run.out;
    for (const auto& s : doc.at("series")) {
        std::set<std::string> got;
        for (const auto& [k, v] : s.items()) got.insert(k);
        EXPECT_EQ(got, keys);
        EXPECT_TRUE(s.at("files").is_number_integer());
        EXPECT_TRUE(s.at("warnings").is_array());
        EXPECT_EQ(s.at("studyUid"), truth.at("studyUid"));
    }

    for (const std::string which : {"ct", "mr", "us"}) {
        const Json& t = truth.at("series").at(which);
        const Json s = findSeries(doc, t.at("seriesUid").get<std::string>());
        ASSERT_TRUE(s.is_object()) << which << " series missing";
        const imaging::ImageGeometry g = truthGeometry(truth, which);
        EXPECT_EQ(s.at("modality"), t.at("modality"));
        EXPECT_EQ(s.at("files").get<std::size_t>(), t.at("files").size()) << which;
        for (int a = 0; a < 3; ++a) {
            EXPECT_EQ(s.at("size").at(a).get<int>(), g.size[a]) << which;
            EXPECT_NEAR(s.at("spacing").at(a).get<double>(), g.spacing[a], kTolMm) << which;
            EXPECT_NEAR(s.at("origin").at(a).get<double>(), g.origin[a], kTolMm) << which;
            // direction[a] is the LPS unit vector of index axis a: column a of the truth matrix.
            for (int r = 0; r < 3; ++r)
                EXPECT_NEAR(s.at("direction").at(a).at(r).get<double>(), g.direction.m[r][a], 1e-9)
                    << which << " axis " << a;
        }
        EXPECT_TRUE(s.at("warnings").empty()) << which << ": " << s.at("warnings").dump();
    }
    // The MR and US are not axis-aligned with the CT, but the US is oblique in its own frame: its axes are not
    // the identity. (Guards against printing rows where the contract wants axes.)
    const Json us = findSeries(doc, truth.at("series").at("us").at("seriesUid").get<std::string>());
    EXPECT_GT(std::abs(us.at("direction").at(0).at(1).get<double>()), 0.05);

    // truth.json and the label NRRD are not DICOM: listed, with why.
    EXPECT_NE(reasonFor(doc, dir / "truth.json").find("not a DICOM file"), std::string::npos);
    EXPECT_NE(reasonFor(doc, dir / "labels" / "labels.seg.nrrd").find("not a DICOM file"), std::string::npos);
    EXPECT_EQ(doc.at("skipped").size(), 2u) << doc.at("skipped").dump(1);
}

TEST(CliInspect, PatientNameAndIdComeThroughAsUtf8) {
    // Two phantom slices rewritten in Latin-1 (ISO_IR 100): the JSON must carry UTF-8, and text the reader leaves
    // unconverted must not break the document.
    const fs::path dir = outputDir("cli-inspect-latin1");
    for (const char* name : {"CT0010.dcm", "CT0011.dcm"}) {
        DcmFileFormat ff;
        ASSERT_TRUE(ff.loadFile((phantomCase() / "ct" / name).string().c_str()).good());
        DcmDataset* ds = ff.getDataset();
        ASSERT_TRUE(ds->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100").good());
        ASSERT_TRUE(ds->putAndInsertString(DCM_PatientName, "M\xfcller^J\xf6rg").good());
        ASSERT_TRUE(ds->putAndInsertString(DCM_SeriesDescription, "Leber L\xe4sion").good());
        ASSERT_TRUE(ff.saveFile((dir / name).string().c_str(), EXS_LittleEndianExplicit).good());
    }
    const CliRun run = runCli({"inspect", dir.string(), "--json"});
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    const Json doc = parseJson(run);
    ASSERT_EQ(doc.at("series").size(), 1u);
    const Json& s = doc.at("series").at(0);
    EXPECT_EQ(s.at("patientName").get<std::string>(), "M\xc3\xbcller^J\xc3\xb6rg");
    EXPECT_EQ(s.at("files").get<int>(), 2);
    EXPECT_EQ(s.at("size").at(2).get<int>(), 2);
    // Converted like the name, or at worst with U+FFFD replacing the Latin-1 byte; never raw invalid UTF-8.
    const std::string description = s.at("description").get<std::string>();
    EXPECT_TRUE(description == "Leber L\xc3\xa4sion" || description == "Leber L\xef\xbf\xbdsion") << description;
}

TEST(CliInspect, TableIsReadable) {
    const fs::path dir = phantomCase();
    const Json truth = phantomTruth();
    const CliRun run = runCli({"inspect", dir.string()});
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    EXPECT_NE(run.out.find("3 series loaded, 2 files skipped"), std::string::npos) << run.out;
    for (const std::string which : {"ct", "mr", "us"})
        EXPECT_NE(run.out.find(truth.at("series").at(which).at("seriesUid").get<std::string>()), std::string::npos);
    EXPECT_NE(run.out.find("256 x 256 x 160 voxels"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("0.8 x 0.8 x 1.5 mm"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("(-102, -102, -119.25) LPS mm"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("truth.json: not a DICOM file"), std::string::npos) << run.out;
    EXPECT_TRUE(run.err.empty()) << run.err;
}

TEST(CliInspect, SingleFilesSliceAndMultiFrame) {
    const Json truth = phantomTruth();
    const fs::path dir = phantomCase();
    const CliRun slice = runCli({"inspect", (dir / "ct" / "CT0001.dcm").string(), "--json"});
    ASSERT_EQ(slice.exitCode, 0) << slice.describe();
    const Json one = parseJson(slice);
    ASSERT_EQ(one.at("series").size(), 1u);
    EXPECT_EQ(one.at("series").at(0).at("size"), Json::array({256, 256, 1}));
    EXPECT_EQ(one.at("series").at(0).at("files"), 1);
    EXPECT_NEAR(one.at("series").at(0).at("origin").at(2).get<double>(), -119.25, kTolMm);
    EXPECT_TRUE(one.at("skipped").empty());

    const fs::path usFile = dir / truth.at("series").at("us").at("files").at(0).get<std::string>();
    const CliRun us = runCli({"inspect", usFile.string(), "--json"});
    ASSERT_EQ(us.exitCode, 0) << us.describe();
    const Json multi = parseJson(us);
    ASSERT_EQ(multi.at("series").size(), 1u);
    EXPECT_EQ(multi.at("series").at(0).at("size"), Json::array({200, 160, 80}));
    EXPECT_EQ(multi.at("series").at(0).at("files"), 1);
}

TEST(CliInspect, DicomDirIsFollowed) {
    JUMEAU_REQUIRE_SHARED_DATA(dicomDir, "pydicom-debian-test-files/test_files/dicomdirtests/DICOMDIR");
    const CliRun run = runCli({"inspect", dicomDir.string(), "--json"});
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    const Json doc = parseJson(run);
    EXPECT_GE(doc.at("series").size(), 3u); // CT, MR and CR images of 3 patients (README)
    EXPECT_NE(reasonFor(doc, dicomDir).find("DICOMDIR"), std::string::npos) << doc.at("skipped").dump(1);
}

TEST(CliInspect, BadFilesAreSkippedWithReasonsWhileGoodOnesLoad) {
    const fs::path dir = outputDir("cli-inspect-bad");
    const fs::path ct = phantomCase() / "ct";
    for (const char* name : {"CT0001.dcm", "CT0002.dcm", "CT0003.dcm"}) fs::copy_file(ct / name, dir / name);
    auto bad = makeBadFiles(dir);
    // A named pipe: opening it would block forever. It is not a file, so it is not read (and nothing hangs).
    ASSERT_EQ(::mkfifo((dir / "pipe.dcm").c_str(), 0644), 0);
    // Unreadable: a slice and a subfolder holding another (the next two slices, so that where permissions cannot be
    // enforced they simply extend the series).
    fs::copy_file(ct / "CT0004.dcm", dir / "locked.dcm");
    fs::create_directory(dir / "locked-folder");
    fs::copy_file(ct / "CT0005.dcm", dir / "locked-folder" / "CT0005.dcm");
    const Locking locking = lock(dir / "locked.dcm");
    lock(dir / "locked-folder");
    if (locking.enforced) {
        bad.push_back({dir / "locked.dcm", "permission"});
        bad.push_back({dir / "locked-folder", "permission"});
    }

    const CliRun run = runCli({"inspect", dir.string(), "--json"}, 60, locking.runAs);
    fs::permissions(dir / "locked-folder", fs::perms::owner_all); // so the next run can clear the folder
    ASSERT_FALSE(run.timedOut) << run.describe();
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    const Json doc = parseJson(run);
    ASSERT_EQ(doc.at("series").size(), 1u) << run.out;
    // Where permissions cannot be enforced the two locked slices load with the others.
    const int slices = locking.enforced ? 3 : 5;
    EXPECT_EQ(doc.at("series").at(0).at("files"), slices);
    EXPECT_EQ(doc.at("series").at(0).at("size"), Json::array({256, 256, slices}));
    for (const auto& [file, word] : bad) {
        const std::string reason = reasonFor(doc, file);
        EXPECT_NE(reason.find(word), std::string::npos) << file << ": " << reason;
    }
    EXPECT_EQ(doc.at("skipped").size(), bad.size()) << doc.at("skipped").dump(1);
    if (!locking.enforced)
        std::cout << "[ note ] permissions are not enforced for this user: unreadable files not tested\n";
}

TEST(CliInspect, NothingLoadableExitsOneAndStillListsEveryFile) {
    const fs::path dir = outputDir("cli-inspect-all-bad");
    const auto bad = makeBadFiles(dir);
    const CliRun run = runCli({"inspect", dir.string(), "--json"}, 60);
    ASSERT_FALSE(run.timedOut);
    EXPECT_EQ(run.exitCode, 1) << run.describe();
    EXPECT_NE(run.err.find(dir.string()), std::string::npos) << run.err; // the message names PATH
    const Json doc = parseJson(run);
    EXPECT_TRUE(doc.at("series").empty());
    for (const auto& [file, word] : bad)
        EXPECT_NE(reasonFor(doc, file).find(word), std::string::npos) << file << ": " << reasonFor(doc, file);

    // A folder of JPEGs (the photos someone exported instead of the DICOM): nothing loads, each one says why.
    const fs::path photos = outputDir("cli-inspect-jpegs");
    for (int i = 0; i < 3; ++i)
        writeBytes(photos / ("IMG_000" + std::to_string(i) + ".jpg"),
                   std::string(reinterpret_cast<const char*>(kJpeg), sizeof kJpeg));
    const CliRun jpegs = runCli({"inspect", photos.string(), "--json"}, 60);
    EXPECT_EQ(jpegs.exitCode, 1) << jpegs.describe();
    const Json jdoc = parseJson(jpegs);
    ASSERT_EQ(jdoc.at("skipped").size(), 3u);
    for (const auto& s : jdoc.at("skipped"))
        EXPECT_NE(s.at("reason").get<std::string>().find("JPEG"), std::string::npos);

    // Without --json too: a table saying so, and the message on stderr.
    const CliRun table = runCli({"inspect", dir.string()}, 60);
    EXPECT_EQ(table.exitCode, 1);
    EXPECT_NE(table.out.find("0 series loaded"), std::string::npos) << table.out;
    EXPECT_NE(table.err.find("no image series could be loaded"), std::string::npos) << table.err;
}

TEST(CliInspect, MissingPathAndEmptyFolder) {
    const fs::path missing = outputDir("cli-inspect-missing") / "does-not-exist";
    const CliRun run = runCli({"inspect", missing.string(), "--json"});
    EXPECT_EQ(run.exitCode, 1) << run.describe();
    EXPECT_NE(run.err.find(missing.string()), std::string::npos) << run.err;
    const Json doc = parseJson(run);
    EXPECT_TRUE(doc.at("series").empty());
    ASSERT_EQ(doc.at("skipped").size(), 1u);
    EXPECT_NE(doc.at("skipped").at(0).at("reason").get<std::string>().find("no such file"), std::string::npos);

    const fs::path empty = outputDir("cli-inspect-empty");
    const CliRun none = runCli({"inspect", empty.string(), "--json"});
    EXPECT_EQ(none.exitCode, 1) << none.describe();
    EXPECT_NE(none.err.find(empty.string()), std::string::npos) << none.err;
    EXPECT_EQ(parseJson(none), Json::parse(R"({"series":[],"skipped":[]})"));

    // Usage errors are CLI11's: no PATH.
    EXPECT_NE(runCli({"inspect"}).exitCode, 0);
}
