#include "jumeau/imaging/DicomWriter.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace jumeau::imaging {

namespace fs = std::filesystem;

std::string newDicomUid() {
    char buffer[100];
    dcmGenerateUniqueIdentifier(buffer, SITE_INSTANCE_UID_ROOT);
    return buffer;
}

namespace {

// DS values are at most 16 characters: keep as many significant digits as fit, so that a reader
// recovers positions and cosines to ~1e-10 relative instead of the 6 digits of a naive "%g".
std::string formatDs(double v) {
    if (std::abs(v) < 1e-12) v = 0; // avoid "-0" and denormal noise in cosines
    for (int precision = 14; precision > 0; --precision) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::char_traits<char>::length(buf) <= 16) return buf;
    }
    return "0";
}

std::string formatDsList(std::initializer_list<double> values) {
    std::string out;
    for (double v : values) {
        if (!out.empty()) out += '\\';
        out += formatDs(v);
    }
    return out;
}

std::string paddedNumber(int n, int width) {
    std::string s = std::to_string(n);
    if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<std::size_t>(width) - s.size(), '0');
    return s;
}

// DCMTK reports failures as OFCondition; collect the first one with the attribute it concerned.
class DatasetWriter {
public:
    explicit DatasetWriter(DcmItem& item) : m_item(item) {}

    void str(const DcmTagKey& tag, const std::string& value) {
        check(m_item.putAndInsertString(tag, value.c_str()), tag);
    }
    void u16(const DcmTagKey& tag, Uint16 value) { check(m_item.putAndInsertUint16(tag, value), tag); }
    void u32(const DcmTagKey& tag, Uint32 value) { check(m_item.putAndInsertUint32(tag, value), tag); }
    void f64(const DcmTagKey& tag, Float64 value) { check(m_item.putAndInsertFloat64(tag, value), tag); }
    void tagValue(const DcmTagKey& tag, const DcmTagKey& value) { check(m_item.putAndInsertTagKey(tag, value), tag); }
    DcmItem* newItem(const DcmTagKey& sequence) {
        DcmItem* item = nullptr;
        check(m_item.findOrCreateSequenceItem(sequence, item, -2), sequence);
        return item;
    }
    void check(const OFCondition& c, const DcmTagKey& tag) {
        if (c.bad() && m_error.empty()) m_error = std::string(c.text()) + " (tag " + tag.toString().c_str() + ")";
    }
    const std::string& error() const { return m_error; }

private:
    DcmItem& m_item;
    std::string m_error;
};

struct PixelLayout {
    Uint16 bitsAllocated = 16;
    Uint16 bitsStored = 16;
    Uint16 pixelRepresentation = 0; // 0 unsigned, 1 two's complement
    double rescaleIntercept = 0;
    bool rescale = false;
};

void writePatientStudy(DatasetWriter& w, const DicomStudyInfo& study, const std::string& studyUid) {
    // UTF-8 everywhere: names with accents (e.g. "Jumeau^Zoé") must survive a round trip.
    w.str(DCM_SpecificCharacterSet, "ISO_IR 192");
    w.str(DCM_PatientName, study.patientName);
    w.str(DCM_PatientID, study.patientId);
    w.str(DCM_PatientBirthDate, study.patientBirthDate);
    w.str(DCM_PatientSex, study.patientSex);
    w.str(DCM_StudyInstanceUID, studyUid);
    w.str(DCM_StudyDate, study.studyDate);
    w.str(DCM_StudyTime, study.studyTime);
    w.str(DCM_ReferringPhysicianName, "");
    w.str(DCM_StudyID, study.studyId);
    w.str(DCM_AccessionNumber, study.accessionNumber);
    if (!study.studyDescription.empty()) w.str(DCM_StudyDescription, study.studyDescription);
}

void writeSeriesEquipment(DatasetWriter& w, const DicomStudyInfo& study, const DicomSeriesSpec& series,
                          const std::string& seriesUid, const std::string& forUid) {
    w.str(DCM_Modality, series.modality);
    w.str(DCM_SeriesInstanceUID, seriesUid);
    w.str(DCM_SeriesNumber, std::to_string(series.seriesNumber));
    w.str(DCM_SeriesDate, study.studyDate);
    w.str(DCM_SeriesTime, study.studyTime);
    if (!series.seriesDescription.empty()) w.str(DCM_SeriesDescription, series.seriesDescription);
    if (!series.bodyPart.empty()) w.str(DCM_BodyPartExamined, series.bodyPart);
    // Patient Position is required (2C) for CT and MR image storage; the phantom lies head first supine.
    if (series.modality != "US") w.str(DCM_PatientPosition, "HFS");
    w.str(DCM_FrameOfReferenceUID, forUid);
    w.str(DCM_PositionReferenceIndicator, "");
    w.str(DCM_Manufacturer, series.manufacturer);
    if (!series.manufacturerModelName.empty()) w.str(DCM_ManufacturerModelName, series.manufacturerModelName);
    w.str(DCM_ContentDate, study.studyDate);
    w.str(DCM_ContentTime, study.studyTime);
    w.str(DCM_AcquisitionDate, study.studyDate);
    w.str(DCM_AcquisitionTime, study.studyTime);
}

void writeWindows(DatasetWriter& w, const std::vector<WindowPreset>& presets) {
    if (presets.empty()) return;
    std::string centres, widths, names;
    for (const auto& p : presets) {
        if (!centres.empty()) {
            centres += '\\';
            widths += '\\';
            names += '\\';
        }
        centres += formatDs(p.centre);
        widths += formatDs(p.width);
        names += p.name.empty() ? std::string("WINDOW") : p.name;
    }
    w.str(DCM_WindowCenter, centres);
    w.str(DCM_WindowWidth, widths);
    w.str(DCM_WindowCenterWidthExplanation, names);
}

void writeImagePixelHeader(DatasetWriter& w, const ImageGeometry& g, const PixelLayout& px) {
    w.u16(DCM_SamplesPerPixel, 1);
    w.str(DCM_PhotometricInterpretation, "MONOCHROME2");
    w.u16(DCM_Rows, static_cast<Uint16>(g.size[1]));
    w.u16(DCM_Columns, static_cast<Uint16>(g.size[0]));
    w.u16(DCM_BitsAllocated, px.bitsAllocated);
    w.u16(DCM_BitsStored, px.bitsStored);
    w.u16(DCM_HighBit, static_cast<Uint16>(px.bitsStored - 1));
    w.u16(DCM_PixelRepresentation, px.pixelRepresentation);
}

// Patient Orientation letters of one axis (LPS: +x L, +y P, +z H), strongest component first, e.g. "LP".
std::string orientationLetters(const Vec3& axis) {
    std::array<std::pair<double, char>, 3> parts{{{std::abs(axis.x), axis.x >= 0 ? 'L' : 'R'},
                                                  {std::abs(axis.y), axis.y >= 0 ? 'P' : 'A'},
                                                  {std::abs(axis.z), axis.z >= 0 ? 'H' : 'F'}}};
    std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string out;
    for (const auto& [magnitude, letter] : parts)
        if (magnitude > 0.1 || out.empty()) out += letter; // ignore the small components of a slight obliquity
    return out;
}

std::string orientationString(const ImageGeometry& g) {
    const Vec3 r = g.axis(0), c = g.axis(1);
    return formatDsList({r.x, r.y, r.z, c.x, c.y, c.z});
}

// DICOM PixelSpacing is "row spacing \ column spacing": the distance between rows (along j) first.
std::string pixelSpacingString(const ImageGeometry& g) {
    return formatDsList({g.spacing.y, g.spacing.x});
}

Vec3 slicePosition(const ImageGeometry& g, int k) {
    return g.indexToLps({0, 0, static_cast<double>(k)});
}

Error ioError(const fs::path& file, const std::string& what) {
    return makeError(ErrorCode::IoError, file.string() + ": " + what);
}

// Converts one k-slice to the stored 16-bit representation.
std::vector<Uint16> storedSlice16(const Volume& v, int k, const PixelLayout& px) {
    const ImageGeometry& g = v.geometry();
    const std::size_t n = static_cast<std::size_t>(g.size[0]) * static_cast<std::size_t>(g.size[1]);
    const std::size_t offset = n * static_cast<std::size_t>(k);
    std::vector<Uint16> out(n);
    auto store = [&](double value) -> Uint16 {
        const double s = std::round(value - px.rescaleIntercept);
        if (px.pixelRepresentation == 1) {
            const double c = std::clamp(s, -32768.0, 32767.0);
            return static_cast<Uint16>(static_cast<Sint16>(c));
        }
        return static_cast<Uint16>(std::clamp(s, 0.0, 65535.0));
    };
    switch (v.pixelType()) {
    case PixelType::Int16: {
        const auto* p = v.data<std::int16_t>() + offset;
        for (std::size_t i = 0; i < n; ++i) out[i] = store(p[i]);
        break;
    }
    case PixelType::UInt16: {
        const auto* p = v.data<std::uint16_t>() + offset;
        for (std::size_t i = 0; i < n; ++i) out[i] = store(p[i]);
        break;
    }
    case PixelType::UInt8: {
        const auto* p = v.data<std::uint8_t>() + offset;
        for (std::size_t i = 0; i < n; ++i) out[i] = store(p[i]);
        break;
    }
    case PixelType::Float32: {
        const auto* p = v.data<float>() + offset;
        for (std::size_t i = 0; i < n; ++i) out[i] = store(p[i]);
        break;
    }
    default:
        break;
    }
    return out;
}

Result<PixelLayout> chooseLayout(const Volume& v, const std::string& modality) {
    PixelLayout px;
    const PixelType t = v.pixelType();
    if (modality == "CT") {
        if (t != PixelType::Int16 && t != PixelType::Float32)
            return makeError(ErrorCode::Unsupported,
                             std::string("CT volumes must hold HU as int16 or float32, not ") + toString(t));
        // Stored = HU - intercept with intercept -1024 (the common scanner convention), lowered when the
        // volume holds values below -1024 so nothing is clipped. Signed storage keeps it simple for readers.
        const auto [lo, hi] = v.range();
        px.rescaleIntercept = std::min(-1024.0, std::floor(lo));
        if (hi - px.rescaleIntercept > 32767)
            return makeError(ErrorCode::Unsupported, "CT value range [" + std::to_string(lo) + ", " +
                                                         std::to_string(hi) + "] does not fit 16-bit storage");
        px.rescale = true;
        px.pixelRepresentation = 1;
        px.bitsAllocated = px.bitsStored = 16;
    } else if (modality == "MR") {
        if (t == PixelType::UInt16 || t == PixelType::UInt8)
            px.pixelRepresentation = 0;
        else if (t == PixelType::Int16)
            px.pixelRepresentation = 1;
        else
            return makeError(ErrorCode::Unsupported,
                             std::string("MR volumes must be uint8, uint16 or int16, not ") + toString(t));
        px.bitsAllocated = px.bitsStored = 16;
    } else if (modality == "US") {
        if (t != PixelType::UInt8)
            return makeError(ErrorCode::Unsupported, std::string("US volumes must be uint8, not ") + toString(t));
        px.bitsAllocated = px.bitsStored = 8;
    } else {
        return makeError(ErrorCode::Unsupported, "modality '" + modality + "' is not written (CT, MR or US)");
    }
    return px;
}

Result<void> saveFile(DcmFileFormat& file, const fs::path& path) {
    const OFCondition c = file.saveFile(path.string().c_str(), EXS_LittleEndianExplicit);
    if (c.bad()) return ioError(path, std::string("cannot write DICOM file: ") + c.text());
    return {};
}

void removeAll(const std::vector<fs::path>& files) {
    std::error_code ec;
    for (const auto& f : files) fs::remove(f, ec);
}

Result<std::vector<fs::path>> writeSingleFrameSeries(const Volume& volume, const DicomStudyInfo& study,
                                                     const DicomSeriesSpec& series, const PixelLayout& px,
                                                     const std::string& studyUid, const std::string& seriesUid,
                                                     const std::string& forUid, const fs::path& folder,
                                                     const ProgressFn& progress) {
    const ImageGeometry& g = volume.geometry();
    const bool ct = series.modality == "CT";
    const Vec3 normal = geometry::cross(g.axis(0), g.axis(1));
    const int width = std::max(4, static_cast<int>(std::to_string(g.size[2]).size()));
    std::vector<fs::path> files;
    for (int k = 0; k < g.size[2]; ++k) {
        if (!reportProgress(progress, static_cast<double>(k) / g.size[2], "writing " + series.modality + " slices")) {
            removeAll(files);
            return makeError(ErrorCode::Cancelled, folder.string() + ": writing cancelled");
        }
        DcmFileFormat file;
        DcmDataset& ds = *file.getDataset();
        DatasetWriter w(ds);
        writePatientStudy(w, study, studyUid);
        writeSeriesEquipment(w, study, series, seriesUid, forUid);
        w.str(DCM_SOPClassUID, ct ? UID_CTImageStorage : UID_MRImageStorage);
        w.str(DCM_SOPInstanceUID, newDicomUid());
        w.str(DCM_ImageType, ct ? "ORIGINAL\\PRIMARY\\AXIAL" : "ORIGINAL\\PRIMARY\\OTHER");
        w.str(DCM_InstanceNumber, std::to_string(k + 1));
        w.str(DCM_AcquisitionNumber, "1");

        // Image Plane module: this is what readers use to rebuild the 3D grid.
        const Vec3 pos = slicePosition(g, k);
        w.str(DCM_ImagePositionPatient, formatDsList({pos.x, pos.y, pos.z}));
        w.str(DCM_ImageOrientationPatient, orientationString(g));
        w.str(DCM_PixelSpacing, pixelSpacingString(g));
        w.str(DCM_SliceThickness, formatDs(g.spacing.z));
        w.str(DCM_SliceLocation, formatDs(geometry::dot(pos, normal)));

        writeImagePixelHeader(w, g, px);
        if (ct) {
            w.str(DCM_RescaleIntercept, formatDs(px.rescaleIntercept));
            w.str(DCM_RescaleSlope, "1");
            w.str(DCM_RescaleType, "HU");
            w.str(DCM_KVP, formatDs(series.kvp));
            if (!series.contrastAgent.empty()) w.str(DCM_ContrastBolusAgent, series.contrastAgent);
        } else {
            w.str(DCM_ScanningSequence, series.mrScanningSequence);
            w.str(DCM_SequenceVariant, series.mrSequenceVariant);
            w.str(DCM_ScanOptions, "");
            w.str(DCM_MRAcquisitionType, series.mrAcquisitionType);
            w.str(DCM_RepetitionTime, formatDs(series.mrRepetitionTimeMs));
            w.str(DCM_EchoTime, formatDs(series.mrEchoTimeMs));
            w.str(DCM_EchoTrainLength, "1");
            w.str(DCM_FlipAngle, formatDs(series.mrFlipAngleDeg));
            w.str(DCM_MagneticFieldStrength, formatDs(series.mrFieldStrengthT));
            w.str(DCM_ImagedNucleus, "1H");
            w.str(DCM_SpacingBetweenSlices, formatDs(g.spacing.z));
        }
        writeWindows(w, series.windowPresets);

        const std::vector<Uint16> pixels = storedSlice16(volume, k, px);
        w.check(ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size())),
                DCM_PixelData);

        const fs::path path = folder / (series.fileStem + paddedNumber(k + 1, width) + ".dcm");
        if (!w.error().empty()) {
            removeAll(files);
            return makeError(ErrorCode::Internal, path.string() + ": cannot build dataset: " + w.error());
        }
        if (auto saved = saveFile(file, path); !saved) {
            removeAll(files);
            return saved.error();
        }
        files.push_back(path);
    }
    reportProgress(progress, 1.0, "written");
    return files;
}

// US: one Ultrasound Multi-frame Image (1.2.840.10008.5.1.4.1.1.3.1) file. That IOD has no 3D geometry, so
// the grid travels in the functional-group attributes of the enhanced IODs: Shared Functional Groups
// (Pixel Measures: PixelSpacing, SliceThickness, SpacingBetweenSlices; Plane Orientation:
// ImageOrientationPatient) and Per-frame Functional Groups (Plane Position: ImagePositionPatient of each
// frame), plus FrameOfReferenceUID. These are standard attributes that our reader (and e.g. Slicer's
// enhanced-US handling) interpret; dciodvfy warns that they are not part of this IOD, which is expected.
// The Ultrasound Region Calibration module (part of the IOD) repeats the in-plane spacing for 2D viewers.
Result<std::vector<fs::path>> writeMultiFrameUs(const Volume& volume, const DicomStudyInfo& study,
                                                const DicomSeriesSpec& series, const PixelLayout& px,
                                                const std::string& studyUid, const std::string& seriesUid,
                                                const std::string& forUid, const fs::path& folder,
                                                const ProgressFn& progress) {
    const ImageGeometry& g = volume.geometry();
    if (!reportProgress(progress, 0.0, "writing US frames"))
        return makeError(ErrorCode::Cancelled, folder.string() + ": writing cancelled");
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    DatasetWriter w(ds);
    writePatientStudy(w, study, studyUid);
    writeSeriesEquipment(w, study, series, seriesUid, forUid);
    w.str(DCM_SOPClassUID, UID_UltrasoundMultiframeImageStorage);
    w.str(DCM_SOPInstanceUID, newDicomUid());
    // Value 4 is the US mode bitmap: 0001 = 2D imaging.
    w.str(DCM_ImageType, "ORIGINAL\\PRIMARY\\ABDOMINAL\\0001");
    w.str(DCM_InstanceNumber, "1");
    w.str(DCM_AcquisitionNumber, "1");
    // Required (2C) because this IOD has no Image Plane module; the functional groups below carry the exact grid.
    w.str(DCM_PatientOrientation, orientationLetters(g.axis(0)) + "\\" + orientationLetters(g.axis(1)));
    w.str(DCM_TransducerData, "3D sweep");
    writeImagePixelHeader(w, g, px);
    w.str(DCM_LossyImageCompression, "00");

    // Multi-frame and Cine modules: frames are ordered along the sweep, one frame time apart.
    w.str(DCM_NumberOfFrames, std::to_string(g.size[2]));
    w.tagValue(DCM_FrameIncrementPointer, DCM_FrameTime);
    w.str(DCM_FrameTime, formatDs(series.usFrameTimeMs));

    // Ultrasound Region Calibration: one 2D tissue region covering the frame, spacing in cm.
    if (DcmItem* region = w.newItem(DCM_SequenceOfUltrasoundRegions)) {
        DatasetWriter r(*region);
        r.u16(DCM_RegionSpatialFormat, 1); // 2D
        r.u16(DCM_RegionDataType, 1);      // tissue
        r.u32(DCM_RegionFlags, 0);
        r.u32(DCM_RegionLocationMinX0, 0);
        r.u32(DCM_RegionLocationMinY0, 0);
        r.u32(DCM_RegionLocationMaxX1, static_cast<Uint32>(g.size[0] - 1));
        r.u32(DCM_RegionLocationMaxY1, static_cast<Uint32>(g.size[1] - 1));
        r.u16(DCM_PhysicalUnitsXDirection, 3); // cm
        r.u16(DCM_PhysicalUnitsYDirection, 3);
        r.f64(DCM_PhysicalDeltaX, g.spacing.x / 10.0);
        r.f64(DCM_PhysicalDeltaY, g.spacing.y / 10.0);
        r.u32(DCM_TransducerFrequency,
              static_cast<Uint32>(std::lround(series.usTransducerFrequencyMHz * 1000.0))); // kHz
        if (!r.error().empty()) w.check(EC_IllegalCall, DCM_SequenceOfUltrasoundRegions);
    }

    if (DcmItem* shared = w.newItem(DCM_SharedFunctionalGroupsSequence)) {
        DatasetWriter s(*shared);
        if (DcmItem* measures = s.newItem(DCM_PixelMeasuresSequence)) {
            DatasetWriter m(*measures);
            m.str(DCM_PixelSpacing, pixelSpacingString(g));
            m.str(DCM_SliceThickness, formatDs(g.spacing.z));
            m.str(DCM_SpacingBetweenSlices, formatDs(g.spacing.z));
            if (!m.error().empty()) w.check(EC_IllegalCall, DCM_PixelMeasuresSequence);
        }
        if (DcmItem* orientation = s.newItem(DCM_PlaneOrientationSequence)) {
            DatasetWriter o(*orientation);
            o.str(DCM_ImageOrientationPatient, orientationString(g));
            if (!o.error().empty()) w.check(EC_IllegalCall, DCM_PlaneOrientationSequence);
        }
        if (!s.error().empty()) w.check(EC_IllegalCall, DCM_SharedFunctionalGroupsSequence);
    }
    for (int k = 0; k < g.size[2]; ++k) {
        DcmItem* frame = w.newItem(DCM_PerFrameFunctionalGroupsSequence);
        if (!frame) break;
        DatasetWriter f(*frame);
        if (DcmItem* position = f.newItem(DCM_PlanePositionSequence)) {
            const Vec3 pos = slicePosition(g, k);
            DatasetWriter p(*position);
            p.str(DCM_ImagePositionPatient, formatDsList({pos.x, pos.y, pos.z}));
            if (!p.error().empty()) w.check(EC_IllegalCall, DCM_PlanePositionSequence);
        }
        if (!f.error().empty()) w.check(EC_IllegalCall, DCM_PerFrameFunctionalGroupsSequence);
    }
    writeWindows(w, series.windowPresets);

    w.check(ds.putAndInsertUint8Array(DCM_PixelData, volume.data<std::uint8_t>(),
                                      static_cast<unsigned long>(g.voxelCount())),
            DCM_PixelData);

    const fs::path path = folder / (series.fileStem + "0001.dcm");
    if (!w.error().empty())
        return makeError(ErrorCode::Internal, path.string() + ": cannot build dataset: " + w.error());
    if (auto saved = saveFile(file, path); !saved) return saved.error();
    reportProgress(progress, 1.0, "written");
    return std::vector<fs::path>{path};
}

} // namespace

Result<std::vector<fs::path>> writeDicomSeries(const Volume& volume, const DicomStudyInfo& study,
                                               const DicomSeriesSpec& series, const fs::path& folder,
                                               const ProgressFn& progress) {
    if (volume.empty() || volume.geometry().empty())
        return makeError(ErrorCode::InvalidInput, folder.string() + ": nothing to write (empty volume)");
    const ImageGeometry& g = volume.geometry();
    if (!g.isValid(1e-6))
        return makeError(ErrorCode::InvalidInput, folder.string() +
                                                      ": geometry is not orthonormal with positive spacing (" +
                                                      g.describe() + ")");
    if (g.size[0] > 65535 || g.size[1] > 65535)
        return makeError(ErrorCode::Unsupported, folder.string() + ": slices larger than 65535 pixels");
    // Readers rebuild the slice axis as row × column direction and sort along it; a left-handed grid would come
    // back with its k axis reversed.
    if (g.direction.determinant() < 0)
        return makeError(ErrorCode::InvalidInput,
                         folder.string() + ": left-handed direction matrix (k axis must be row × column)");

    auto layout = chooseLayout(volume, series.modality);
    if (!layout) return makeError(layout.error().code, folder.string() + ": " + layout.error().message);

    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec || !fs::is_directory(folder, ec))
        return ioError(folder, "cannot create folder" + (ec ? ": " + ec.message() : std::string()));

    const std::string studyUid = study.studyUid.empty() ? newDicomUid() : study.studyUid;
    const std::string seriesUid = series.seriesUid.empty() ? newDicomUid() : series.seriesUid;
    const std::string forUid = series.frameOfReferenceUid.empty() ? newDicomUid() : series.frameOfReferenceUid;

    if (series.modality == "US")
        return writeMultiFrameUs(volume, study, series, *layout, studyUid, seriesUid, forUid, folder, progress);
    return writeSingleFrameSeries(volume, study, series, *layout, studyUid, seriesUid, forUid, folder, progress);
}

} // namespace jumeau::imaging
