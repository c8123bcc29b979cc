#pragma once
// Small DICOM series fabricated with DCMTK directly (not with our writer, so reader and writer cannot share a
// misunderstanding), shared by the reader tests.

#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/imaging/DicomSeriesReader.h"

namespace jumeau::test::synth {

namespace fs = std::filesystem;
using namespace jumeau::imaging;

// The stored value of voxel (i, j, k) in every synthetic series: order mistakes show as wrong values.
inline int pattern(int i, int j, int k) {
    return 1000 * k + 10 * j + i;
}

// DS values are at most 16 characters: the most precise representation that fits.
inline std::string dsText(double v) {
    char buf[64];
    for (int precision = 16; precision > 4; --precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::string(buf).size() <= 16) break;
    }
    return buf;
}

inline std::string dsList(std::initializer_list<double> values) {
    std::string s;
    for (double v : values) s += (s.empty() ? "" : "\\") + dsText(v);
    return s;
}

struct SliceSpec {
    int rows = 3;
    int columns = 4;
    std::array<double, 2> pixelSpacing{0.7, 0.9}; // DICOM order: between rows \ between columns
    std::optional<Vec3> position = Vec3{0, 0, 0};
    std::optional<std::array<Vec3, 2>> orientation = std::array<Vec3, 2>{Vec3{1, 0, 0}, Vec3{0, 1, 0}};
    int k = 0; // which pattern slice the pixels hold
    int bitsAllocated = 16;
    int bitsStored = 16;
    bool isSigned = true;
    std::optional<double> slope = 1.0;
    std::optional<double> intercept = 0.0;
    std::string photometric = "MONOCHROME2";
    std::optional<int> instance;
    std::string seriesUid = "1.2.826.0.1.3680043.10.543.1";
    std::string modality = "CT";
    E_TransferSyntax xfer = EXS_LittleEndianExplicit;
    // What tells repeated images of one position apart; written only when set.
    std::optional<int> echoNumber;
    std::optional<double> echoTime;
    std::optional<int> acquisitionNumber;
    std::optional<int> temporalPosition;
    std::optional<double> cardiacPhasePercent;
    std::optional<double> triggerTime;
    std::string imageType; // e.g. "ORIGINAL\\PRIMARY\\AXIAL"; not written when empty
    std::optional<double> gantryTilt;
    bool pixelData = true; // false: a header without Pixel Data
    // Stored value of a voxel (default: the pattern); may return words with bits above HighBit set.
    std::function<std::uint32_t(int i, int j, int k)> stored = [](int i, int j, int k) {
        return static_cast<std::uint32_t>(pattern(i, j, k));
    };
};

inline void fillCommon(DcmDataset* ds, const SliceSpec& s, const char* sopClass) {
    char uid[100];
    ds->putAndInsertString(DCM_SOPClassUID, sopClass);
    ds->putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
    ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.10.543.9");
    ds->putAndInsertString(DCM_SeriesInstanceUID, s.seriesUid.c_str());
    ds->putAndInsertString(DCM_FrameOfReferenceUID, "1.2.826.0.1.3680043.10.543.8");
    ds->putAndInsertString(DCM_Modality, s.modality.c_str());
    ds->putAndInsertString(DCM_PatientName, "Test^Reader");
    ds->putAndInsertString(DCM_PatientID, "R-1");
    ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(s.rows));
    ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(s.columns));
    ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
    ds->putAndInsertString(DCM_PhotometricInterpretation, s.photometric.c_str());
    ds->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(s.bitsAllocated));
    ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(s.bitsStored));
    ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(s.bitsStored - 1));
    ds->putAndInsertUint16(DCM_PixelRepresentation, s.isSigned ? 1 : 0);
}

inline void putPixels(DcmDataset* ds, const SliceSpec& s, const std::vector<int>& ks) {
    if (s.bitsAllocated == 8) {
        std::vector<Uint8> bytes;
        for (int k : ks)
            for (int j = 0; j < s.rows; ++j)
                for (int i = 0; i < s.columns; ++i) bytes.push_back(static_cast<Uint8>(s.stored(i, j, k)));
        ds->putAndInsertUint8Array(DCM_PixelData, bytes.data(), static_cast<unsigned long>(bytes.size()));
    } else {
        std::vector<Uint16> words;
        for (int k : ks)
            for (int j = 0; j < s.rows; ++j)
                for (int i = 0; i < s.columns; ++i) words.push_back(static_cast<Uint16>(s.stored(i, j, k)));
        ds->putAndInsertUint16Array(DCM_PixelData, words.data(), static_cast<unsigned long>(words.size()));
    }
}

inline void save(DcmFileFormat& ff, const fs::path& file, E_TransferSyntax xfer) {
    fs::create_directories(file.parent_path());
    if (xfer == EXS_RLELossless) {
        DcmRLEEncoderRegistration::registerCodecs();
        ASSERT_TRUE(ff.getDataset()->chooseRepresentation(EXS_RLELossless, nullptr).good());
    }
    const OFCondition c = ff.saveFile(file.string().c_str(), xfer);
    ASSERT_TRUE(c.good()) << file << ": " << c.text();
}

inline void writeSlice(const fs::path& file, const SliceSpec& s) {
    DcmFileFormat ff;
    DcmDataset* ds = ff.getDataset();
    fillCommon(ds, s, s.modality == "MR" ? UID_MRImageStorage : UID_CTImageStorage);
    if (s.instance) ds->putAndInsertString(DCM_InstanceNumber, std::to_string(*s.instance).c_str());
    if (s.position)
        ds->putAndInsertString(DCM_ImagePositionPatient, dsList({s.position->x, s.position->y, s.position->z}).c_str());
    if (s.orientation) {
        const auto& [r, c] = *s.orientation;
        ds->putAndInsertString(DCM_ImageOrientationPatient, dsList({r.x, r.y, r.z, c.x, c.y, c.z}).c_str());
    }
    ds->putAndInsertString(DCM_PixelSpacing, dsList({s.pixelSpacing[0], s.pixelSpacing[1]}).c_str());
    ds->putAndInsertString(DCM_SliceThickness, "5"); // deliberately not the spacing: spacing comes from positions
    if (s.slope) ds->putAndInsertString(DCM_RescaleSlope, dsText(*s.slope).c_str());
    if (s.intercept) ds->putAndInsertString(DCM_RescaleIntercept, dsText(*s.intercept).c_str());
    if (s.echoNumber) ds->putAndInsertString(DCM_EchoNumbers, std::to_string(*s.echoNumber).c_str());
    if (s.echoTime) ds->putAndInsertString(DCM_EchoTime, dsText(*s.echoTime).c_str());
    if (s.acquisitionNumber)
        ds->putAndInsertString(DCM_AcquisitionNumber, std::to_string(*s.acquisitionNumber).c_str());
    if (s.temporalPosition)
        ds->putAndInsertString(DCM_TemporalPositionIdentifier, std::to_string(*s.temporalPosition).c_str());
    if (s.cardiacPhasePercent)
        ds->putAndInsertFloat32(DCM_NominalPercentageOfCardiacPhase, static_cast<Float32>(*s.cardiacPhasePercent));
    if (s.triggerTime) ds->putAndInsertString(DCM_TriggerTime, dsText(*s.triggerTime).c_str());
    if (!s.imageType.empty()) ds->putAndInsertString(DCM_ImageType, s.imageType.c_str());
    if (s.gantryTilt) ds->putAndInsertString(DCM_GantryDetectorTilt, dsText(*s.gantryTilt).c_str());
    if (s.pixelData) putPixels(ds, s, {s.k});
    save(ff, file, s.xfer);
}

// An axial series of n slices every `step` mm from z0, written in the given file order.
inline std::vector<fs::path> writeAxialSeries(const fs::path& dir, int n, double step, double z0, SliceSpec base = {}) {
    std::vector<fs::path> files;
    for (int k = 0; k < n; ++k) {
        SliceSpec s = base;
        s.k = k;
        s.position = Vec3{-20.5, 10.25, z0 + step * k};
        s.instance = k + 1;
        files.push_back(dir / ("slice" + std::to_string(k) + ".dcm"));
        writeSlice(files.back(), s);
    }
    return files;
}

inline LoadedSeries loadOnly(const fs::path& dir) {
    auto folder = loadDicomFolder(dir);
    EXPECT_TRUE(folder.ok()) << (folder.ok() ? "" : folder.error().describe());
    if (!folder.ok()) return {};
    EXPECT_EQ(folder->series.size(), 1u);
    return folder->series.empty() ? LoadedSeries{} : folder->series.front();
}

inline bool hasWarning(const SeriesInfo& info, const std::string& text) {
    return std::any_of(info.warnings.begin(), info.warnings.end(),
                       [&](const std::string& w) { return w.find(text) != std::string::npos; });
}

inline void expectPattern(const Volume& v, double offset = 0, double scale = 1) {
    const auto& g = v.geometry();
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                ASSERT_DOUBLE_EQ(v.valueAt(i, j, k), pattern(i, j, k) * scale + offset) << i << "," << j << "," << k;
}

inline void expectNear(const Vec3& a, const Vec3& b, double tol) {
    EXPECT_NEAR(a.x, b.x, tol);
    EXPECT_NEAR(a.y, b.y, tol);
    EXPECT_NEAR(a.z, b.z, tol);
}

} // namespace jumeau::test::synth
