// writeDemoCase: the folder layout, truth.json, the DICOM tags (read with DCMTK itself), what our reader makes
// of it, replacement of a previous case and cancellation. A full case takes a few seconds, so each test
// generates as little as it can.

#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "TestData.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/VolumeIO.h"
#include "jumeau/simulation/DemoCase.h"

using namespace jumeau;
using namespace jumeau::simulation;
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Dicom {
    DcmFileFormat file;
    DcmDataset* ds = nullptr;
    std::string str(const DcmTagKey& tag) {
        OFString s;
        return ds->findAndGetOFStringArray(tag, s).good() ? std::string(s.c_str()) : std::string("<missing>");
    }
    double num(const DcmTagKey& tag, unsigned long pos = 0, DcmItem* item = nullptr) {
        Float64 v = std::nan("");
        (item ? item : ds)->findAndGetFloat64(tag, v, pos);
        return v;
    }
};

std::unique_ptr<Dicom> loadDicom(const fs::path& p) {
    auto d = std::make_unique<Dicom>();
    const OFCondition c = d->file.loadFile(p.string().c_str());
    EXPECT_TRUE(c.good()) << p << ": " << c.text();
    d->ds = d->file.getDataset();
    return d;
}

std::size_t countFiles(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return 0;
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

std::set<std::string> listing(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        out.insert(e.path().lexically_relative(dir).generic_string());
    return out;
}

void expectNear(const Vec3& a, const Vec3& b, double tol, const std::string& what) {
    EXPECT_NEAR(a.x, b.x, tol) << what;
    EXPECT_NEAR(a.y, b.y, tol) << what;
    EXPECT_NEAR(a.z, b.z, tol) << what;
}

// What every written case must satisfy; `dir` holds the case described by `truth`.
void checkCase(const fs::path& dir, const DemoCaseTruth& truth) {
    // --- layout
    EXPECT_TRUE(isDemoCase(dir));
    EXPECT_EQ(countFiles(dir / "ct"), 160u);
    EXPECT_EQ(countFiles(dir / "mr"), 56u);
    EXPECT_EQ(countFiles(dir / "us"), 1u);
    EXPECT_TRUE(fs::is_regular_file(dir / "labels" / "labels.seg.nrrd"));
    EXPECT_EQ(truth.ct.files.size(), 160u);
    EXPECT_EQ(truth.us.files.size(), 1u);
    for (const auto& f : truth.ct.files) EXPECT_TRUE(fs::is_regular_file(dir / f)) << f;

    // --- truth.json as specified
    std::ifstream in(dir / "truth.json");
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j.at("seed").get<std::uint64_t>(), truth.seed);
    EXPECT_NE(j.at("convention").get<std::string>().find("anatomy at CT point x appears at T*x"), std::string::npos);
    EXPECT_EQ(j.at("ct").at("size"), nlohmann::json::array({256, 256, 160}));
    EXPECT_EQ(j.at("ct").at("spacing"), nlohmann::json::array({0.8, 0.8, 1.5}));
    EXPECT_EQ(j.at("ct").at("direction").size(), 3u);
    for (const char* m : {"mr", "us"}) {
        const auto& matrix = j.at("transforms").at(m).at("matrix");
        ASSERT_EQ(matrix.size(), 4u);
        EXPECT_EQ(matrix.at(3), nlohmann::json::array({0.0, 0.0, 0.0, 1.0}));
    }
    ASSERT_EQ(j.at("structures").size(), 9u);
    for (const auto& s : j.at("structures")) {
        for (const char* key : {"label", "name", "category", "colour", "volumeMl", "voxelVolumeMl", "method"})
            EXPECT_TRUE(s.contains(key)) << key;
    }
    ASSERT_EQ(j.at("tumours").size(), 3u);
    for (const auto& t : j.at("tumours")) {
        const double r = t.at("radiusMm").get<double>();
        const auto label = t.at("label").get<int>();
        const auto& s = j.at("structures").at(static_cast<std::size_t>(label - 1));
        EXPECT_EQ(s.at("label").get<int>(), label);
        EXPECT_EQ(s.at("method"), "analytic");
        EXPECT_DOUBLE_EQ(s.at("volumeMl").get<double>(), 4.0 / 3.0 * kPi * r * r * r / 1000.0);
    }
    for (const char* m : {"ct", "mr", "us"}) {
        EXPECT_FALSE(j.at("series").at(m).at("seriesUid").get<std::string>().empty());
        EXPECT_FALSE(j.at("series").at(m).at("files").empty());
    }
    auto reread = readDemoCaseTruth(dir);
    ASSERT_TRUE(reread.ok()) << reread.error().describe();
    EXPECT_EQ(reread->seed, truth.seed);
    EXPECT_EQ(reread->ct.seriesUid, truth.ct.seriesUid);
    EXPECT_EQ(reread->us.files, truth.us.files);
    EXPECT_TRUE(reread->us.geometry.sameGrid(truth.us.geometry, 1e-9));
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) EXPECT_DOUBLE_EQ(reread->ctToMr.matrix4()[r][c], truth.ctToMr.matrix4()[r][c]);
    ASSERT_EQ(reread->tumours.size(), 3u);
    EXPECT_EQ(reread->tumours[1].centre, truth.tumours[1].centre);

    // --- DICOM tags, read with DCMTK
    auto ctFirst = loadDicom(dir / truth.ct.files.front());
    auto ctLast = loadDicom(dir / truth.ct.files.back());
    auto mr = loadDicom(dir / truth.mr.files.front());
    auto us = loadDicom(dir / truth.us.files.front());
    for (Dicom* d : {ctFirst.get(), ctLast.get(), mr.get(), us.get()}) {
        EXPECT_EQ(d->str(DCM_StudyInstanceUID), truth.studyUid);
        EXPECT_EQ(d->str(DCM_SpecificCharacterSet), "ISO_IR 192");
        EXPECT_EQ(d->str(DCM_PatientName), "Jumeau^Zoé");
        EXPECT_EQ(d->str(DCM_Manufacturer), "Jumeau phantom");
    }
    EXPECT_EQ(ctFirst->str(DCM_FrameOfReferenceUID), truth.ct.frameOfReferenceUid);
    EXPECT_EQ(ctLast->str(DCM_FrameOfReferenceUID), truth.ct.frameOfReferenceUid);
    EXPECT_EQ(ctFirst->str(DCM_SeriesInstanceUID), ctLast->str(DCM_SeriesInstanceUID));
    EXPECT_NE(ctFirst->str(DCM_SOPInstanceUID), ctLast->str(DCM_SOPInstanceUID));
    const std::set<std::string> frames{truth.ct.frameOfReferenceUid, mr->str(DCM_FrameOfReferenceUID),
                                       us->str(DCM_FrameOfReferenceUID)};
    EXPECT_EQ(frames.size(), 3u) << "CT, MR and US are in three frames of reference";
    EXPECT_EQ(mr->str(DCM_FrameOfReferenceUID), truth.mr.frameOfReferenceUid);
    EXPECT_EQ(j.at("labels").at("frameOfReferenceUid").get<std::string>(), truth.ct.frameOfReferenceUid);

    const Vec3 origin = truth.ctGeometry.origin;
    expectNear({ctFirst->num(DCM_ImagePositionPatient, 0), ctFirst->num(DCM_ImagePositionPatient, 1),
                ctFirst->num(DCM_ImagePositionPatient, 2)},
               origin, 1e-6, "IPP of the first (most inferior) CT slice");
    EXPECT_NEAR(ctLast->num(DCM_ImagePositionPatient, 2), origin.z + 159 * 1.5, 1e-6) << "inferior → superior";
    EXPECT_EQ(ctFirst->str(DCM_ImageOrientationPatient), "1\\0\\0\\0\\1\\0");
    EXPECT_EQ(ctFirst->str(DCM_RescaleIntercept), "-1024");
    EXPECT_EQ(ctFirst->str(DCM_RescaleSlope), "1");
    EXPECT_EQ(ctFirst->str(DCM_WindowCenter), "40\\60\\400");
    EXPECT_EQ(ctFirst->str(DCM_WindowWidth), "400\\160\\1800");
    EXPECT_EQ(ctFirst->str(DCM_InstanceNumber), "1");
    EXPECT_EQ(ctLast->str(DCM_InstanceNumber), "160");
    EXPECT_EQ(mr->str(DCM_Modality), "MR");
    EXPECT_EQ(mr->str(DCM_BitsAllocated), "16");
    EXPECT_EQ(us->str(DCM_NumberOfFrames), "80");
    EXPECT_EQ(us->str(DCM_BitsAllocated), "8");
    DcmItem* frame0 = nullptr;
    DcmItem* position = nullptr;
    ASSERT_TRUE(us->ds->findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame0, 0).good());
    ASSERT_TRUE(frame0->findAndGetSequenceItem(DCM_PlanePositionSequence, position, 0).good());
    expectNear({us->num(DCM_ImagePositionPatient, 0, position), us->num(DCM_ImagePositionPatient, 1, position),
                us->num(DCM_ImagePositionPatient, 2, position)},
               truth.ctToUs.apply(truth.usGridInCt.origin), 1e-6, "US frame 0 = T_us * grid origin");
}

} // namespace

TEST(DemoCase, WriteTwiceReplacesThePreviousCaseWithoutStaleFiles) {
    const fs::path dir = test::outputDir("democase-twice");
    auto first = writeDemoCase(dir, 11);
    ASSERT_TRUE(first.ok()) << first.error().describe();
    const auto firstListing = listing(dir);

    // Files a previous (other) run might have left: they must not survive into the new case.
    std::ofstream(dir / "ct" / "CT9999.dcm") << "stale";
    std::ofstream(dir / "mr" / "old.dcm") << "stale";
    std::ofstream(dir / "us" / "US0002.dcm") << "stale";
    std::ofstream(dir / "labels" / "old.seg.nrrd") << "stale";
    std::ofstream(dir / "notes.txt") << "the user's own file";

    std::vector<double> fractions;
    auto second = writeDemoCase(dir, 12, [&](double f, const std::string&) {
        fractions.push_back(f);
        return true;
    });
    ASSERT_TRUE(second.ok()) << second.error().describe();
    EXPECT_FALSE(fs::exists(dir / "ct" / "CT9999.dcm"));
    EXPECT_FALSE(fs::exists(dir / "mr" / "old.dcm"));
    EXPECT_FALSE(fs::exists(dir / "us" / "US0002.dcm"));
    EXPECT_FALSE(fs::exists(dir / "labels" / "old.seg.nrrd"));
    EXPECT_TRUE(fs::exists(dir / "notes.txt")) << "only the case's own folders are replaced";
    auto secondListing = listing(dir);
    secondListing.erase("notes.txt");
    EXPECT_EQ(secondListing, firstListing) << "same files, no staging folder left behind";
    EXPECT_NE(second->studyUid, first->studyUid);
    EXPECT_NE(second->ct.seriesUid, first->ct.seriesUid);
    EXPECT_NE(second->tumours[0].centre, first->tumours[0].centre) << "the seed jitters the tumours";
    ASSERT_FALSE(fractions.empty());
    EXPECT_TRUE(std::is_sorted(fractions.begin(), fractions.end()));
    EXPECT_DOUBLE_EQ(fractions.back(), 1.0);

    checkCase(dir, *second);

    // Through our own reader: the CT comes back on the truth grid with the labels on it, and the oblique US
    // geometry and the MR geometry are recovered from the files.
    auto loaded = imaging::loadDicomFolder(dir);
    ASSERT_TRUE(loaded.ok()) << loaded.error().describe();
    ASSERT_EQ(loaded->series.size(), 3u);
    for (const auto& s : loaded->series) {
        SCOPED_TRACE(s.info.modality);
        const DemoCaseSeries& expected =
            s.info.modality == "CT" ? second->ct : (s.info.modality == "MR" ? second->mr : second->us);
        EXPECT_EQ(s.info.seriesUid, expected.seriesUid);
        EXPECT_EQ(s.info.studyUid, second->studyUid);
        EXPECT_TRUE(s.volume.geometry().sameGrid(expected.geometry, 1e-3))
            << s.volume.geometry().describe() << " vs " << expected.geometry.describe();
        if (s.info.modality == "CT") {
            const Vec3 idx = s.volume.geometry().lpsToIndex(second->tumours[0].centre);
            const double hu =
                s.volume.valueAt(static_cast<int>(std::lround(idx.x)), static_cast<int>(std::lround(idx.y)),
                                 static_cast<int>(std::lround(idx.z)));
            EXPECT_NEAR(hu, 40, 45) << "rescaled HU at the tumour centre";
        }
    }
    auto labels = imaging::readLabelMap(dir / second->labelFile);
    ASSERT_TRUE(labels.ok()) << labels.error().describe();
    EXPECT_TRUE(labels->geometry().sameGrid(second->ctGeometry, 1e-3));
    EXPECT_NEAR(labels->volumeMl(PhantomLabels::liver), second->structures[1].voxelVolumeMl, 1e-6);
}

TEST(DemoCase, CancelledRunLeavesNothingBehind) {
    const fs::path dir = test::outputDir("democase-cancel");
    std::ofstream(dir / "keep.txt") << "x";
    // Cancel at once, then late (after the CT and labels were staged).
    for (double cancelAt : {0.0, 0.7}) {
        SCOPED_TRACE(cancelAt);
        auto r = writeDemoCase(dir, 1, [cancelAt](double f, const std::string&) { return f < cancelAt; });
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, ErrorCode::Cancelled);
        EXPECT_EQ(listing(dir), std::set<std::string>{"keep.txt"});
    }
}

TEST(DemoCase, RefusesAnOutputThatIsAFile) {
    const fs::path dir = test::outputDir("democase-file");
    std::ofstream(dir / "plain") << "x";
    auto r = writeDemoCase(dir / "plain", 1);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find((dir / "plain").string()), std::string::npos) << r.error().message;
    auto below = writeDemoCase(dir / "plain" / "sub", 1);
    ASSERT_FALSE(below.ok());
    EXPECT_NE(below.error().message.find("plain"), std::string::npos) << below.error().message;
    EXPECT_FALSE(isDemoCase(dir));
    EXPECT_FALSE(readDemoCaseTruth(dir).ok());
}
