// DicomWriter: the tags a reader depends on, read back with DCMTK itself (not with our reader, so a shared
// misunderstanding between our writer and our reader cannot hide here).

#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "TestData.h"
#include "jumeau/imaging/DicomWriter.h"

using namespace jumeau;
using namespace jumeau::imaging;
namespace fs = std::filesystem;

namespace {

// An oblique, anisotropic grid: catches swapped PixelSpacing order, swapped orientation vectors and
// positions computed along the wrong axis.
ImageGeometry obliqueGeometry(int nx, int ny, int nz) {
    ImageGeometry g;
    g.size = {nx, ny, nz};
    g.spacing = {0.7, 0.9, 2.5};
    g.origin = {-12.25, 33.5, -101.75};
    g.direction = Mat3::rotationXYZ(0.1, -0.05, 0.2);
    return g;
}

struct Loaded {
    DcmFileFormat file;
    DcmDataset* ds = nullptr;
};

std::unique_ptr<Loaded> load(const fs::path& p) {
    auto l = std::make_unique<Loaded>();
    const OFCondition c = l->file.loadFile(p.string().c_str());
    EXPECT_TRUE(c.good()) << p << ": " << c.text();
    l->ds = l->file.getDataset();
    return l;
}

std::string str(DcmItem* item, const DcmTagKey& tag) {
    OFString s;
    if (item->findAndGetOFStringArray(tag, s).bad()) return "<missing>";
    return s.c_str();
}

double ds(DcmItem* item, const DcmTagKey& tag, unsigned long pos) {
    Float64 v = std::numeric_limits<double>::quiet_NaN();
    EXPECT_TRUE(item->findAndGetFloat64(tag, v, pos).good()) << tag.toString().c_str() << "[" << pos << "]";
    return v;
}

Vec3 vec3(DcmItem* item, const DcmTagKey& tag, int first = 0) {
    return {ds(item, tag, first), ds(item, tag, first + 1), ds(item, tag, first + 2)};
}

void expectNear(const Vec3& a, const Vec3& b, double tol, const std::string& what) {
    EXPECT_NEAR(a.x, b.x, tol) << what;
    EXPECT_NEAR(a.y, b.y, tol) << what;
    EXPECT_NEAR(a.z, b.z, tol) << what;
}

DicomStudyInfo study() {
    DicomStudyInfo s;
    s.patientName = "Jumeau^Zoé";
    s.patientId = "TEST-42";
    s.studyDescription = "Writer test";
    return s;
}

// dciodvfy (dicom3tools) is the reference validator; "Error" lines are IOD violations.
std::string dciodvfyErrors(const fs::path& file) {
    if (std::system("command -v dciodvfy > /dev/null 2>&1") != 0) return "<not installed>";
    const fs::path out = file.string() + ".dciodvfy.txt";
    const std::string cmd = "dciodvfy '" + file.string() + "' > '" + out.string() + "' 2>&1";
    [[maybe_unused]] const int rc = std::system(cmd.c_str());
    std::ifstream in(out);
    std::string line, errors;
    while (std::getline(in, line))
        if (line.find("Error") != std::string::npos) errors += line + "\n";
    return errors;
}

} // namespace

TEST(DicomUid, UniqueAndWellFormed) {
    std::set<std::string> seen;
    for (int i = 0; i < 500; ++i) {
        const std::string uid = newDicomUid();
        ASSERT_LE(uid.size(), 64u);
        ASSERT_FALSE(uid.empty());
        EXPECT_NE(uid.front(), '.');
        EXPECT_EQ(uid.find(".."), std::string::npos);
        for (char c : uid) ASSERT_TRUE((c >= '0' && c <= '9') || c == '.') << uid;
        EXPECT_TRUE(seen.insert(uid).second) << "duplicate UID " << uid;
    }
}

TEST(DicomWriter, CtSeriesTagsAndPixels) {
    const ImageGeometry g = obliqueGeometry(6, 5, 4);
    std::vector<std::int16_t> hu(g.voxelCount());
    for (std::size_t i = 0; i < hu.size(); ++i) hu[i] = static_cast<std::int16_t>(-1024 + static_cast<int>(i) * 37);
    hu[7] = 3071;
    const Volume volume = Volume::create(g, std::vector<std::int16_t>(hu));

    DicomStudyInfo st = study();
    st.studyUid = newDicomUid();
    DicomSeriesSpec spec;
    spec.modality = "CT";
    spec.seriesNumber = 3;
    spec.seriesDescription = "CT test";
    spec.frameOfReferenceUid = newDicomUid();
    spec.manufacturer = "Jumeau phantom";
    spec.contrastAgent = "Iodinated contrast";
    spec.windowPresets = {{40, 400, "ABDOMEN"}, {60, 160, "LIVER"}, {400, 1800, "BONE"}};
    const fs::path dir = test::outputDir("dicomwriter-ct");

    auto files = writeDicomSeries(volume, st, spec, dir);
    ASSERT_TRUE(files.ok()) << files.error().describe();
    ASSERT_EQ(files->size(), 4u);
    EXPECT_EQ(files->front().filename(), "IM0001.dcm");

    const Vec3 normal = geometry::cross(g.axis(0), g.axis(1));
    std::set<std::string> sopUids;
    std::string seriesUid;
    for (int k = 0; k < 4; ++k) {
        auto f = load((*files)[static_cast<std::size_t>(k)]);
        DcmDataset* d = f->ds;
        EXPECT_EQ(str(d, DCM_SOPClassUID), UID_CTImageStorage);
        EXPECT_EQ(str(d, DCM_Modality), "CT");
        EXPECT_EQ(str(d, DCM_SpecificCharacterSet), "ISO_IR 192");
        EXPECT_EQ(str(d, DCM_PatientName), "Jumeau^Zoé");
        EXPECT_EQ(str(d, DCM_Manufacturer), "Jumeau phantom");
        EXPECT_EQ(str(d, DCM_StudyInstanceUID), st.studyUid);
        EXPECT_EQ(str(d, DCM_FrameOfReferenceUID), spec.frameOfReferenceUid);
        EXPECT_EQ(str(d, DCM_InstanceNumber), std::to_string(k + 1));
        EXPECT_EQ(str(d, DCM_SeriesNumber), "3");
        if (k == 0) seriesUid = str(d, DCM_SeriesInstanceUID);
        EXPECT_EQ(str(d, DCM_SeriesInstanceUID), seriesUid);
        EXPECT_NE(seriesUid, "<missing>");
        sopUids.insert(str(d, DCM_SOPInstanceUID));

        // Geometry: slice k sits at origin + k * dz * normal; PixelSpacing is row spacing (j) first.
        expectNear(vec3(d, DCM_ImagePositionPatient), g.origin + normal * (k * g.spacing.z), 1e-9, "IPP");
        expectNear(vec3(d, DCM_ImageOrientationPatient, 0), g.axis(0), 1e-12, "IOP row");
        expectNear(vec3(d, DCM_ImageOrientationPatient, 3), g.axis(1), 1e-12, "IOP column");
        EXPECT_DOUBLE_EQ(ds(d, DCM_PixelSpacing, 0), g.spacing.y);
        EXPECT_DOUBLE_EQ(ds(d, DCM_PixelSpacing, 1), g.spacing.x);
        EXPECT_DOUBLE_EQ(ds(d, DCM_SliceThickness, 0), g.spacing.z);
        EXPECT_EQ(str(d, DCM_Rows), "5");
        EXPECT_EQ(str(d, DCM_Columns), "6");

        // Stored = HU + 1024, signed 16-bit.
        EXPECT_DOUBLE_EQ(ds(d, DCM_RescaleIntercept, 0), -1024);
        EXPECT_DOUBLE_EQ(ds(d, DCM_RescaleSlope, 0), 1);
        EXPECT_EQ(str(d, DCM_PixelRepresentation), "1");
        EXPECT_EQ(str(d, DCM_BitsStored), "16");
        const Uint16* px = nullptr;
        unsigned long count = 0;
        ASSERT_TRUE(d->findAndGetUint16Array(DCM_PixelData, px, &count).good());
        ASSERT_EQ(count, 30u);
        for (std::size_t i = 0; i < count; ++i)
            ASSERT_EQ(static_cast<Sint16>(px[i]), hu[static_cast<std::size_t>(k) * 30 + i] + 1024) << "voxel " << i;

        EXPECT_EQ(str(d, DCM_WindowCenter), "40\\60\\400");
        EXPECT_EQ(str(d, DCM_WindowWidth), "400\\160\\1800");
        EXPECT_EQ(str(d, DCM_WindowCenterWidthExplanation), "ABDOMEN\\LIVER\\BONE");
    }
    EXPECT_EQ(sopUids.size(), 4u);
    const std::string errors = dciodvfyErrors(files->front());
    if (errors != "<not installed>") {
        EXPECT_EQ(errors, "") << "dciodvfy on " << files->front();
    }
}

TEST(DicomWriter, CtInterceptLoweredForValuesBelowAir) {
    ImageGeometry g;
    g.size = {2, 2, 1};
    const Volume v = Volume::create(g, std::vector<std::int16_t>{-2000, -1024, 0, 1000});
    auto files = writeDicomSeries(v, study(), DicomSeriesSpec{}, test::outputDir("dicomwriter-ct-low"));
    ASSERT_TRUE(files.ok()) << files.error().describe();
    auto f = load(files->front());
    const double intercept = ds(f->ds, DCM_RescaleIntercept, 0);
    EXPECT_LE(intercept, -2000);
    const Uint16* px = nullptr;
    ASSERT_TRUE(f->ds->findAndGetUint16Array(DCM_PixelData, px).good());
    EXPECT_EQ(static_cast<Sint16>(px[0]) + intercept, -2000);
    EXPECT_EQ(static_cast<Sint16>(px[3]) + intercept, 1000);
}

TEST(DicomWriter, MrSeriesUnsignedWithoutRescale) {
    const ImageGeometry g = obliqueGeometry(4, 3, 3);
    std::vector<std::uint16_t> v(g.voxelCount());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint16_t>(i * 1000 + 7);
    DicomSeriesSpec spec;
    spec.modality = "MR";
    spec.fileStem = "MR";
    auto files = writeDicomSeries(Volume::create(g, std::vector<std::uint16_t>(v)), study(), spec,
                                  test::outputDir("dicomwriter-mr"));
    ASSERT_TRUE(files.ok()) << files.error().describe();
    ASSERT_EQ(files->size(), 3u);
    EXPECT_EQ((*files)[2].filename(), "MR0003.dcm");
    auto f = load((*files)[2]);
    EXPECT_EQ(str(f->ds, DCM_SOPClassUID), UID_MRImageStorage);
    EXPECT_EQ(str(f->ds, DCM_PixelRepresentation), "0");
    EXPECT_EQ(str(f->ds, DCM_RescaleIntercept), "<missing>");
    EXPECT_EQ(str(f->ds, DCM_ScanningSequence), "GR");
    const Uint16* px = nullptr;
    ASSERT_TRUE(f->ds->findAndGetUint16Array(DCM_PixelData, px).good());
    EXPECT_EQ(px[5], v[24 + 5]);
    // A study UID generated by the writer is still shared by the whole series.
    EXPECT_EQ(str(f->ds, DCM_StudyInstanceUID), str(load((*files)[0])->ds, DCM_StudyInstanceUID));
    const std::string errors = dciodvfyErrors(files->front());
    if (errors != "<not installed>") {
        EXPECT_EQ(errors, "") << "dciodvfy on " << files->front();
    }
}

TEST(DicomWriter, UsMultiFrameWithFunctionalGroups) {
    const ImageGeometry g = obliqueGeometry(7, 5, 6);
    std::vector<std::uint8_t> v(g.voxelCount());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>((i * 13) % 256);
    DicomSeriesSpec spec;
    spec.modality = "US";
    spec.frameOfReferenceUid = newDicomUid();
    auto files = writeDicomSeries(Volume::create(g, std::vector<std::uint8_t>(v)), study(), spec,
                                  test::outputDir("dicomwriter-us"));
    ASSERT_TRUE(files.ok()) << files.error().describe();
    ASSERT_EQ(files->size(), 1u);
    auto f = load(files->front());
    DcmDataset* d = f->ds;
    EXPECT_EQ(str(d, DCM_SOPClassUID), UID_UltrasoundMultiframeImageStorage);
    EXPECT_EQ(str(d, DCM_NumberOfFrames), "6");
    EXPECT_EQ(str(d, DCM_FrameIncrementPointer), "(0018,1063)");
    EXPECT_EQ(str(d, DCM_FrameOfReferenceUID), spec.frameOfReferenceUid);
    EXPECT_EQ(str(d, DCM_BitsAllocated), "8");
    EXPECT_FALSE(str(d, DCM_PatientOrientation).empty());

    DcmItem* shared = nullptr;
    ASSERT_TRUE(d->findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good());
    DcmItem* measures = nullptr;
    ASSERT_TRUE(shared->findAndGetSequenceItem(DCM_PixelMeasuresSequence, measures, 0).good());
    EXPECT_DOUBLE_EQ(ds(measures, DCM_PixelSpacing, 0), g.spacing.y);
    EXPECT_DOUBLE_EQ(ds(measures, DCM_PixelSpacing, 1), g.spacing.x);
    EXPECT_DOUBLE_EQ(ds(measures, DCM_SpacingBetweenSlices, 0), g.spacing.z);
    EXPECT_DOUBLE_EQ(ds(measures, DCM_SliceThickness, 0), g.spacing.z);
    DcmItem* orientation = nullptr;
    ASSERT_TRUE(shared->findAndGetSequenceItem(DCM_PlaneOrientationSequence, orientation, 0).good());
    expectNear(vec3(orientation, DCM_ImageOrientationPatient, 0), g.axis(0), 1e-12, "IOP row");
    expectNear(vec3(orientation, DCM_ImageOrientationPatient, 3), g.axis(1), 1e-12, "IOP column");
    for (int k = 0; k < 6; ++k) {
        DcmItem* frame = nullptr;
        ASSERT_TRUE(d->findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, k).good()) << k;
        DcmItem* position = nullptr;
        ASSERT_TRUE(frame->findAndGetSequenceItem(DCM_PlanePositionSequence, position, 0).good());
        expectNear(vec3(position, DCM_ImagePositionPatient), g.indexToLps({0, 0, double(k)}), 1e-9, "frame IPP");
    }
    const Uint8* px = nullptr;
    unsigned long count = 0;
    ASSERT_TRUE(d->findAndGetUint8Array(DCM_PixelData, px, &count).good());
    ASSERT_EQ(count, v.size());
    EXPECT_TRUE(std::equal(v.begin(), v.end(), px));
    const std::string errors = dciodvfyErrors(files->front());
    if (errors != "<not installed>") {
        EXPECT_EQ(errors, "") << "dciodvfy on " << files->front();
    }
}

TEST(DicomWriter, RejectsWhatItCannotWriteFaithfully) {
    ImageGeometry g;
    g.size = {2, 2, 2};
    const fs::path dir = test::outputDir("dicomwriter-errors");
    const Volume i16 = Volume::create(g, std::vector<std::int16_t>(8, 0));

    DicomSeriesSpec us;
    us.modality = "US";
    auto r = writeDicomSeries(i16, study(), us, dir / "us");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::Unsupported);

    DicomSeriesSpec pet;
    pet.modality = "PT";
    r = writeDicomSeries(i16, study(), pet, dir / "pt");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::Unsupported);

    ImageGeometry left = g;
    left.direction.m[2][2] = -1;
    r = writeDicomSeries(Volume::create(left, std::vector<std::int16_t>(8, 0)), study(), DicomSeriesSpec{}, dir / "l");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);

    EXPECT_FALSE(writeDicomSeries(Volume{}, study(), DicomSeriesSpec{}, dir / "empty").ok());

    // A folder that cannot be created: its parent is a regular file. The message names the path.
    std::ofstream(dir / "plain-file") << "x";
    r = writeDicomSeries(i16, study(), DicomSeriesSpec{}, dir / "plain-file" / "ct");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::IoError);
    EXPECT_NE(r.error().message.find("plain-file"), std::string::npos) << r.error().message;
}

TEST(DicomWriter, CancelRemovesPartialSeries) {
    const ImageGeometry g = obliqueGeometry(3, 3, 5);
    const fs::path dir = test::outputDir("dicomwriter-cancel");
    int calls = 0;
    auto r = writeDicomSeries(Volume::create(g, std::vector<std::int16_t>(g.voxelCount(), 0)), study(),
                              DicomSeriesSpec{}, dir, [&](double, const std::string&) { return ++calls < 3; });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::Cancelled);
    EXPECT_TRUE(fs::is_empty(dir));
}
