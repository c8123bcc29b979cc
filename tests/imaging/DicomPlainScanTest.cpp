// The scan's plain fast path (imaging/src/DicomPlainParse.h) against its DCMTK path, file by file: both must say
// the same of every file — the same skip reason, or the same header to the last field — and the fast path must
// really be taken for the ordinary slices it exists for (and declined where it must not guess).

#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cmath>
#include <fstream>

#include "DicomHeader.h"
#include "SyntheticDicom.h"
#include "TestData.h"

namespace jumeau::test {
namespace {

namespace fs = std::filesystem;
using namespace imaging;
using imaging::dicom::DicomHeader;
using imaging::dicom::FrameInfo;
using imaging::dicom::ScannedFile;

// Restores the default (plain scan on) however a test ends.
struct PlainScanSwitch {
    ~PlainScanSwitch() { dicom::setPlainScan(true); }
};

ScannedFile scanWith(const fs::path& file, bool plain) {
    dicom::setPlainScan(plain);
    ScannedFile s = dicom::scanFile(file);
    dicom::setPlainScan(true);
    return s;
}

// DS text is parsed by DCMTK's own atof on one path and std::from_chars on the other: equal to rounding.
bool same(double a, double b) {
    return a == b || std::abs(a - b) <= 1e-12 * std::max(std::abs(a), std::abs(b));
}
bool same(const std::optional<double>& a, const std::optional<double>& b) {
    return a.has_value() == b.has_value() && (!a || same(*a, *b));
}
bool same(const Vec3& a, const Vec3& b) {
    return same(a.x, b.x) && same(a.y, b.y) && same(a.z, b.z);
}

void expectSameFrame(const FrameInfo& a, const FrameInfo& b, const std::string& where) {
    EXPECT_EQ(a.position.has_value(), b.position.has_value()) << where;
    if (a.position && b.position) {
        EXPECT_TRUE(same(*a.position, *b.position)) << where;
    }
    EXPECT_EQ(a.orientation.has_value(), b.orientation.has_value()) << where;
    if (a.orientation && b.orientation) {
        EXPECT_TRUE(same((*a.orientation)[0], (*b.orientation)[0]) && same((*a.orientation)[1], (*b.orientation)[1]))
            << where;
    }
    EXPECT_EQ(a.pixelSpacing.has_value(), b.pixelSpacing.has_value()) << where;
    if (a.pixelSpacing && b.pixelSpacing) {
        EXPECT_TRUE(same((*a.pixelSpacing)[0], (*b.pixelSpacing)[0]) && same((*a.pixelSpacing)[1], (*b.pixelSpacing)[1]))
            << where;
    }
    EXPECT_TRUE(same(a.rescaleSlope, b.rescaleSlope)) << where;
    EXPECT_TRUE(same(a.rescaleIntercept, b.rescaleIntercept)) << where;
    EXPECT_TRUE(same(a.echoTime, b.echoTime)) << where;
    EXPECT_EQ(a.temporalPosition, b.temporalPosition) << where;
    EXPECT_TRUE(same(a.cardiacPhasePercent, b.cardiacPhasePercent)) << where;
    EXPECT_TRUE(same(a.triggerTime, b.triggerTime)) << where;
}

// Everything a header says, compared field by field (plainParse aside: it says which path ran).
void expectSameHeader(const DicomHeader& a, const DicomHeader& b, const std::string& where) {
    EXPECT_EQ(a.transferSyntaxUid, b.transferSyntaxUid) << where;
    EXPECT_EQ(a.deflated, b.deflated) << where;
    EXPECT_EQ(a.sopClassUid, b.sopClassUid) << where;
    EXPECT_EQ(a.patientName, b.patientName) << where;
    EXPECT_EQ(a.patientId, b.patientId) << where;
    EXPECT_EQ(a.patientBirthDate, b.patientBirthDate) << where;
    EXPECT_EQ(a.patientSex, b.patientSex) << where;
    EXPECT_EQ(a.studyUid, b.studyUid) << where;
    EXPECT_EQ(a.studyDate, b.studyDate) << where;
    EXPECT_EQ(a.studyDescription, b.studyDescription) << where;
    EXPECT_EQ(a.seriesUid, b.seriesUid) << where;
    EXPECT_EQ(a.modality, b.modality) << where;
    EXPECT_EQ(a.seriesDescription, b.seriesDescription) << where;
    EXPECT_EQ(a.bodyPart, b.bodyPart) << where;
    EXPECT_EQ(a.frameOfReferenceUid, b.frameOfReferenceUid) << where;
    EXPECT_EQ(a.seriesNumber, b.seriesNumber) << where;
    EXPECT_EQ(a.instanceNumber, b.instanceNumber) << where;
    EXPECT_EQ(a.acquisitionNumber, b.acquisitionNumber) << where;
    EXPECT_EQ(a.echoNumber, b.echoNumber) << where;
    EXPECT_EQ(a.imageType, b.imageType) << where;
    EXPECT_EQ(a.isLocalizer, b.isLocalizer) << where;
    EXPECT_TRUE(same(a.gantryTilt, b.gantryTilt)) << where;
    const auto &fa = a.format, &fb = b.format;
    EXPECT_TRUE(fa.sameLayout(fb) && fa.frames == fb.frames && fa.bitsStored == fb.bitsStored &&
                fa.highBit == fb.highBit && fa.isSigned == fb.isSigned &&
                fa.planarConfiguration == fb.planarConfiguration)
        << where;
    EXPECT_EQ(a.pixels.encapsulated, b.pixels.encapsulated) << where;
    EXPECT_EQ(a.pixels.bigEndian, b.pixels.bigEndian) << where;
    EXPECT_EQ(a.pixels.wordValues, b.pixels.wordValues) << where;
    EXPECT_EQ(a.pixels.valueOffset, b.pixels.valueOffset) << where;
    EXPECT_EQ(a.pixels.valueLength, b.pixels.valueLength) << where;
    EXPECT_EQ(a.pixels.fragments, b.pixels.fragments) << where;
    expectSameFrame(a.image, b.image, where);
    ASSERT_EQ(a.perFrame.size(), b.perFrame.size()) << where;
    for (std::size_t i = 0; i < a.perFrame.size(); ++i)
        expectSameFrame(a.perFrame[i], b.perFrame[i], where + " frame " + std::to_string(i));
    ASSERT_EQ(a.gridFrameOffsets.size(), b.gridFrameOffsets.size()) << where;
    for (std::size_t i = 0; i < a.gridFrameOffsets.size(); ++i)
        EXPECT_TRUE(same(a.gridFrameOffsets[i], b.gridFrameOffsets[i])) << where;
    EXPECT_TRUE(same(a.sliceThickness, b.sliceThickness)) << where;
    EXPECT_TRUE(same(a.spacingBetweenSlices, b.spacingBetweenSlices)) << where;
    EXPECT_EQ(a.ultrasoundSpacing.has_value(), b.ultrasoundSpacing.has_value()) << where;
    ASSERT_EQ(a.windowPresets.size(), b.windowPresets.size()) << where;
    for (std::size_t i = 0; i < a.windowPresets.size(); ++i) {
        EXPECT_TRUE(same(a.windowPresets[i].centre, b.windowPresets[i].centre)) << where;
        EXPECT_TRUE(same(a.windowPresets[i].width, b.windowPresets[i].width)) << where;
        EXPECT_EQ(a.windowPresets[i].name, b.windowPresets[i].name) << where;
    }
    EXPECT_EQ(a.palette.has_value(), b.palette.has_value()) << where;
    EXPECT_EQ(a.hasModalityLutSequence, b.hasModalityLutSequence) << where;
    EXPECT_EQ(a.isMosaic, b.isMosaic) << where;
    EXPECT_EQ(a.mosaic.has_value(), b.mosaic.has_value()) << where;
}

// Scans `file` both ways and compares; returns whether the plain path was taken.
bool expectBothPathsAgree(const fs::path& file) {
    const ScannedFile plain = scanWith(file, true), dcmtk = scanWith(file, false);
    const std::string where = file.string();
    EXPECT_EQ(plain.header.has_value(), dcmtk.header.has_value()) << where;
    EXPECT_EQ(plain.skipReason, dcmtk.skipReason) << where;
    EXPECT_EQ(plain.skipCode, dcmtk.skipCode) << where;
    EXPECT_EQ(plain.dicomDirReferences.has_value(), dcmtk.dicomDirReferences.has_value()) << where;
    if (plain.header && dcmtk.header) {
        EXPECT_FALSE(dcmtk.header->plainParse) << where;
        expectSameHeader(*plain.header, *dcmtk.header, where);
    }
    return plain.header && plain.header->plainParse;
}

fs::path freshDir(const std::string& name) {
    return outputDir("plain-scan-" + name);
}

TEST(DicomPlainScan, OrdinarySlicesTakeTheFastPathAndAgreeWithDcmtk) {
    PlainScanSwitch restore;
    const fs::path dir = freshDir("ordinary");
    struct Variant {
        std::string name;
        synth::SliceSpec spec;
    };
    std::vector<Variant> variants;
    synth::SliceSpec base;
    base.position = Vec3{-20.5, 10.25, 7.5};
    base.instance = 3;
    variants.push_back({"explicit", base});
    synth::SliceSpec implicitVr = base;
    implicitVr.xfer = EXS_LittleEndianImplicit;
    implicitVr.echoNumber = 2;
    implicitVr.echoTime = 12.5;
    implicitVr.cardiacPhasePercent = 37.5; // FL, read by dictionary VR in implicit VR
    variants.push_back({"implicit", implicitVr});
    synth::SliceSpec rle = base;
    rle.xfer = EXS_RLELossless; // encapsulated pixel data, explicit little endian data set
    variants.push_back({"rle", rle});
    synth::SliceSpec mr = base;
    mr.modality = "MR";
    mr.imageType = "ORIGINAL\\PRIMARY\\M\\ND";
    mr.temporalPosition = 4;
    mr.triggerTime = 250;
    mr.acquisitionNumber = 7;
    mr.gantryTilt = -12.5;
    mr.slope.reset();
    mr.intercept.reset();
    variants.push_back({"mr", mr});
    for (const Variant& v : variants) {
        const fs::path file = dir / (v.name + ".dcm");
        synth::writeSlice(file, v.spec);
        EXPECT_TRUE(expectBothPathsAgree(file)) << v.name << ": the plain path was not taken";
    }
    // A whole series loads identically either way.
    synth::SliceSpec s;
    synth::writeAxialSeries(dir / "series", 4, 2.5, -10, s);
    const LoadedSeries viaPlain = synth::loadOnly(dir / "series");
    dicom::setPlainScan(false);
    const LoadedSeries viaDcmtk = synth::loadOnly(dir / "series");
    dicom::setPlainScan(true);
    ASSERT_FALSE(viaPlain.volume.empty());
    EXPECT_EQ(viaPlain.volume.geometry().size, viaDcmtk.volume.geometry().size);
    EXPECT_TRUE(same(viaPlain.volume.geometry().origin, viaDcmtk.volume.geometry().origin));
    synth::expectPattern(viaPlain.volume);
}

// Files the plain parse must not guess at: it declines, DCMTK reads them, and the results are DCMTK's.
TEST(DicomPlainScan, DeclinesWhatNeedsDcmtkAndStillAgrees) {
    PlainScanSwitch restore;
    const fs::path dir = freshDir("declined");
    const auto write = [&](const std::string& name, const std::function<void(DcmDataset&)>& edit,
                           E_EncodingType sequences = EET_ExplicitLength) {
        DcmFileFormat ff;
        synth::SliceSpec s;
        synth::fillCommon(ff.getDataset(), s, UID_CTImageStorage);
        ff.getDataset()->putAndInsertString(DCM_ImagePositionPatient, "0\\0\\0");
        ff.getDataset()->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
        ff.getDataset()->putAndInsertString(DCM_PixelSpacing, "0.7\\0.9");
        synth::putPixels(ff.getDataset(), s, {0});
        edit(*ff.getDataset());
        const fs::path file = dir / (name + ".dcm");
        EXPECT_TRUE(ff.saveFile(file.c_str(), EXS_LittleEndianExplicit, sequences).good()) << name;
        return file;
    };
    // Latin-1 and UTF-8 names are converted exactly as DCMTK's converter does (plain path) ...
    const fs::path latin1 = write("latin1", [](DcmDataset& ds) {
        ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
        ds.putAndInsertString(DCM_PatientName, "M\xfcller^J\xfcrgen");
    });
    EXPECT_TRUE(expectBothPathsAgree(latin1));
    EXPECT_EQ(dicom::scanFile(latin1).header->patientName, "M\xc3\xbcller^J\xc3\xbcrgen");
    EXPECT_TRUE(expectBothPathsAgree(write("utf8", [](DcmDataset& ds) {
        ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
        ds.putAndInsertString(DCM_PatientName, "Jumeau^Zo\xc3\xa9");
    })));
    // ... other character sets are left to DCMTK's converter (Cyrillic here).
    const fs::path cyrillic = write("cyrillic", [](DcmDataset& ds) {
        ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 144");
        ds.putAndInsertString(DCM_PatientName, "\xbb\xee\xda" "a^\xbb\xee\xda" "a");
    });
    EXPECT_FALSE(expectBothPathsAgree(cyrillic));
    // Padded components inside a multi-valued string: DCMTK's VR-specific normalisation decides.
    EXPECT_FALSE(expectBothPathsAgree(
        write("padded", [](DcmDataset& ds) { ds.putAndInsertString(DCM_ImageType, "ORIGINAL \\ PRIMARY\\AXIAL"); })));
    // A number the plain parse cannot read exactly.
    EXPECT_FALSE(expectBothPathsAgree(
        write("oddnumber", [](DcmDataset& ds) { ds.putAndInsertString(DCM_SliceThickness, "2.5mm"); })));
    // Ultrasound regions (a sequence the scan reads): DCMTK.
    EXPECT_FALSE(expectBothPathsAgree(write(
        "usregions",
        [](DcmDataset& ds) {
            DcmItem* region = nullptr;
            ds.findOrCreateSequenceItem(DCM_SequenceOfUltrasoundRegions, region, -2);
            region->putAndInsertUint16(DCM_PhysicalUnitsXDirection, 3);
            region->putAndInsertUint16(DCM_PhysicalUnitsYDirection, 3);
            region->putAndInsertFloat64(DCM_PhysicalDeltaX, 0.02);
            region->putAndInsertFloat64(DCM_PhysicalDeltaY, 0.03);
        },
        EET_UndefinedLength)));
    // Sequences the scan does not read are skipped — of defined and undefined length, nested — and the fast path
    // still runs.
    const auto nested = [](DcmDataset& ds) {
        DcmItem* item = nullptr;
        ds.findOrCreateSequenceItem(DCM_ReferencedImageSequence, item, -2);
        item->putAndInsertString(DCM_ReferencedSOPInstanceUID, "1.2.3.4");
        DcmItem* inner = nullptr;
        item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, inner, -2);
        inner->putAndInsertString(DCM_CodeValue, "121311");
        ds.putAndInsertString(DCM_SeriesDescription, "after the sequence");
    };
    EXPECT_TRUE(expectBothPathsAgree(write("sequence-undefined", nested, EET_UndefinedLength)));
    EXPECT_TRUE(expectBothPathsAgree(write("sequence-defined", nested, EET_ExplicitLength)));
    EXPECT_EQ(dicom::scanFile(dir / "sequence-undefined.dcm").header->seriesDescription, "after the sequence");
}

// Broken files give DCMTK's skip reasons whichever path runs first.
TEST(DicomPlainScan, BrokenFilesAreReportedAsDcmtkReportsThem) {
    PlainScanSwitch restore;
    const fs::path dir = freshDir("broken");
    synth::SliceSpec s;
    s.rows = 64;
    s.columns = 64;
    synth::writeSlice(dir / "whole.dcm", s);
    std::ifstream in(dir / "whole.dcm", std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    for (const std::size_t keep : {std::size_t{100}, std::size_t{140}, std::size_t{300}, bytes.size() / 2,
                                   bytes.size() - 2}) {
        const fs::path file = dir / ("cut" + std::to_string(keep) + ".dcm");
        std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(keep));
        expectBothPathsAgree(file);
        EXPECT_FALSE(dicom::scanFile(file).header) << file << " was read as an image";
    }
}

// Every file of the shared real data: the same answer from both paths (and the fast path taken where the file is
// plain: the IRCAD CT slices are).
TEST(DicomPlainScan, EveryRealFileGivesTheSameAnswerBothWays) {
    PlainScanSwitch restore;
    JUMEAU_REQUIRE_SHARED_DATA(root, "");
    int files = 0, plain = 0;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (!entry.is_regular_file()) continue;
        ++files;
        if (expectBothPathsAgree(entry.path())) ++plain;
        if (::testing::Test::HasFailure()) return;
    }
    std::printf("%d files, %d read by the plain parse\n", files, plain);
    EXPECT_GT(plain, 100);
    const ScannedFile ircad = dicom::scanFile(root / "ircad-3dircadb1.17-liver-ct/PATIENT_DICOM/image_0");
    ASSERT_TRUE(ircad.header);
    EXPECT_TRUE(ircad.header->plainParse);
}

TEST(DicomPlainScan, PhantomCaseTakesTheFastPath) {
    PlainScanSwitch restore;
    for (const char* part : {"ct", "mr", "us"}) {
        const fs::path dir = phantomCase() / part;
        if (!fs::exists(dir)) GTEST_SKIP() << "no phantom case at " << dir;
        int files = 0, plain = 0;
        for (const auto& entry : fs::directory_iterator(dir)) {
            ++files;
            if (expectBothPathsAgree(entry.path())) ++plain;
        }
        EXPECT_GT(files, 0) << part;
        if (std::string(part) == "ct") {
            EXPECT_EQ(plain, files);
        }
    }
}

} // namespace
} // namespace jumeau::test
