// Writes the seed corpus of the DICOM fuzzer: tiny files (a few hundred bytes) covering what the reader's header
// and pixel paths branch on — transfer syntaxes (native little/big endian, implicit VR, deflate, RLE, JPEG lossless,
// JPEG-LS), classic and enhanced multi-frame objects with functional groups, MONOCHROME1, RGB, palette colour, YBR,
// rescale, a Siemens mosaic with its CSA header, a gantry-tilted pair of positions. Generated at run time by
// run_fuzz.sh, so no DICOM file is kept in the repository.
//
// usage: dicom_fuzz_seeds OUTPUT_DIR

#include <dcmtk/config/osconfig.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpeg/djrplol.h>
#include <dcmtk/dcmjpls/djencode.h>
#include <dcmtk/dcmjpls/djrparam.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr int kRows = 6;
constexpr int kColumns = 8;

struct Image {
    std::string sopClass = UID_CTImageStorage;
    std::string modality = "CT";
    std::string photometric = "MONOCHROME2";
    int samples = 1;
    int bitsAllocated = 16;
    int bitsStored = 12;
    bool isSigned = true;
    int frames = 1;
    int rows = kRows;
    int columns = kColumns;
    double z = 0;
    double y = 0;
    std::string orientation = "1\\0\\0\\0\\1\\0";
    std::string imageType = "ORIGINAL\\PRIMARY\\AXIAL";
};

void fill(DcmDataset& ds, const Image& im) {
    char uid[100];
    ds.putAndInsertString(DCM_SOPClassUID, im.sopClass.c_str());
    ds.putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
    ds.putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.10.543.900");
    ds.putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.10.543.901");
    ds.putAndInsertString(DCM_FrameOfReferenceUID, "1.2.826.0.1.3680043.10.543.902");
    ds.putAndInsertString(DCM_Modality, im.modality.c_str());
    ds.putAndInsertString(DCM_PatientName, "Fuzz^Seed");
    ds.putAndInsertString(DCM_ImageType, im.imageType.c_str());
    ds.putAndInsertString(DCM_InstanceNumber, "1");
    ds.putAndInsertString(DCM_AcquisitionNumber, "1");
    ds.putAndInsertString(DCM_EchoNumbers, "1");
    ds.putAndInsertString(DCM_EchoTime, "12.5");
    ds.putAndInsertString(DCM_TriggerTime, "100");
    ds.putAndInsertString(DCM_GantryDetectorTilt, "15");
    ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(im.rows));
    ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(im.columns));
    ds.putAndInsertUint16(DCM_SamplesPerPixel, static_cast<Uint16>(im.samples));
    if (im.samples == 3) ds.putAndInsertUint16(DCM_PlanarConfiguration, 0);
    ds.putAndInsertString(DCM_PhotometricInterpretation, im.photometric.c_str());
    ds.putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(im.bitsAllocated));
    ds.putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(im.bitsStored));
    ds.putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(im.bitsStored - 1));
    ds.putAndInsertUint16(DCM_PixelRepresentation, im.isSigned ? 1 : 0);
    if (im.frames > 1) ds.putAndInsertString(DCM_NumberOfFrames, std::to_string(im.frames).c_str());
    const std::string position = "-10\\" + std::to_string(im.y) + "\\" + std::to_string(im.z);
    ds.putAndInsertString(DCM_ImagePositionPatient, position.c_str());
    ds.putAndInsertString(DCM_ImageOrientationPatient, im.orientation.c_str());
    ds.putAndInsertString(DCM_PixelSpacing, "0.7\\0.9");
    ds.putAndInsertString(DCM_SliceThickness, "2");
    if (im.bitsAllocated == 16) { // 8-bit data without rescale stays 8-bit (another output type to resample)
        ds.putAndInsertString(DCM_RescaleSlope, "1");
        ds.putAndInsertString(DCM_RescaleIntercept, "-1024");
    }
    ds.putAndInsertString(DCM_WindowCenter, "40");
    ds.putAndInsertString(DCM_WindowWidth, "400");
    const std::size_t values =
        static_cast<std::size_t>(im.rows) * static_cast<std::size_t>(im.columns) * im.samples * im.frames;
    if (im.bitsAllocated == 8) {
        std::vector<Uint8> p(values);
        for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<Uint8>(i * 7);
        ds.putAndInsertUint8Array(DCM_PixelData, p.data(), static_cast<unsigned long>(p.size()));
    } else {
        std::vector<Uint16> p(values);
        for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<Uint16>((i * 37) & 0x0FFF);
        ds.putAndInsertUint16Array(DCM_PixelData, p.data(), static_cast<unsigned long>(p.size()));
    }
}

bool save(DcmFileFormat& ff, const fs::path& file, E_TransferSyntax xfer,
          const DcmRepresentationParameter* param = nullptr) {
    if (xfer != EXS_LittleEndianExplicit && xfer != EXS_LittleEndianImplicit && xfer != EXS_BigEndianExplicit &&
        xfer != EXS_DeflatedLittleEndianExplicit && ff.getDataset()->chooseRepresentation(xfer, param).bad())
        return false;
    return ff.saveFile(file.c_str(), xfer).good();
}

bool write(const fs::path& file, const Image& im, E_TransferSyntax xfer = EXS_LittleEndianExplicit) {
    DcmFileFormat ff;
    fill(*ff.getDataset(), im);
    return save(ff, file, xfer);
}

// Enhanced CT: shared and per-frame functional groups (position, orientation, measures, rescale, frame content).
// Frame f sits at positions[f] (x\y\z) in time point timePoints[f].
bool writeEnhanced(const fs::path& file, const std::vector<std::string>& positions, const std::vector<int>& timePoints,
                   Image im = {}) {
    im.sopClass = UID_EnhancedCTImageStorage;
    im.frames = static_cast<int>(positions.size());
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    fill(ds, im);
    ds.findAndDeleteElement(DCM_ImagePositionPatient);
    ds.findAndDeleteElement(DCM_ImageOrientationPatient);
    DcmItem* shared = nullptr;
    DcmItem* item = nullptr;
    ds.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
    shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, item, 0);
    item->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
    shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, item, 0);
    item->putAndInsertString(DCM_PixelSpacing, "0.5\\0.5");
    if (im.bitsAllocated == 16) {
        shared->findOrCreateSequenceItem(DCM_PixelValueTransformationSequence, item, 0);
        item->putAndInsertString(DCM_RescaleSlope, "1");
        item->putAndInsertString(DCM_RescaleIntercept, "-1024");
    }
    for (int f = 0; f < im.frames; ++f) {
        DcmItem* frame = nullptr;
        ds.findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, -2);
        frame->findOrCreateSequenceItem(DCM_PlanePositionSequence, item, 0);
        item->putAndInsertString(DCM_ImagePositionPatient, positions[static_cast<std::size_t>(f)].c_str());
        frame->findOrCreateSequenceItem(DCM_FrameContentSequence, item, 0);
        item->putAndInsertUint32(DCM_TemporalPositionIndex,
                                 static_cast<Uint32>(timePoints[static_cast<std::size_t>(f)]));
    }
    return save(ff, file, EXS_LittleEndianExplicit);
}

bool writePalette(const fs::path& file) {
    Image im;
    im.sopClass = UID_UltrasoundImageStorage;
    im.modality = "US";
    im.photometric = "PALETTE COLOR";
    im.bitsAllocated = 8;
    im.bitsStored = 8;
    im.isSigned = false;
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    fill(ds, im);
    const Uint16 descriptor[] = {4, 0, 16};
    const Uint16 lut[] = {0x0000, 0x4000, 0x8000, 0xFF00};
    ds.putAndInsertUint16Array(DCM_RedPaletteColorLookupTableDescriptor, descriptor, 3);
    ds.putAndInsertUint16Array(DCM_GreenPaletteColorLookupTableDescriptor, descriptor, 3);
    ds.putAndInsertUint16Array(DCM_BluePaletteColorLookupTableDescriptor, descriptor, 3);
    ds.putAndInsertUint16Array(DCM_RedPaletteColorLookupTableData, lut, 4);
    ds.putAndInsertUint16Array(DCM_GreenPaletteColorLookupTableData, lut, 4);
    const Uint16 segmented[] = {0, 2, 0x1000, 0x2000, 1, 2, 0xF000}; // discrete then linear segment
    ds.putAndInsertUint16Array(DCM_SegmentedBluePaletteColorLookupTableData, segmented, 7);
    return save(ff, file, EXS_LittleEndianExplicit);
}

// A Siemens mosaic of 4 tiles (2x2 of 4x3) with a CSA2 header stating the count and the slice normal.
bool writeMosaic(const fs::path& file) {
    Image im;
    im.sopClass = UID_MRImageStorage;
    im.modality = "MR";
    im.imageType = "ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC";
    im.rows = 6;
    im.columns = 8;
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    fill(ds, im);
    ds.putAndInsertString(DCM_SpacingBetweenSlices, "2.5");
    std::vector<std::uint8_t> csa{'S', 'V', '1', '0', 4, 3, 2, 1};
    const auto i32 = [&](std::int32_t v) {
        for (int k = 0; k < 4; ++k)
            csa.push_back(static_cast<std::uint8_t>((static_cast<std::uint32_t>(v) >> (8 * k)) & 0xFF));
    };
    const std::vector<std::pair<std::string, std::vector<std::string>>> elements{
        {"NumberOfImagesInMosaic", {"4"}}, {"SliceNormalVector", {"0", "0", "-1"}}};
    i32(static_cast<std::int32_t>(elements.size()));
    i32(77);
    for (const auto& [name, values] : elements) {
        std::string padded = name;
        padded.resize(64, '\0');
        csa.insert(csa.end(), padded.begin(), padded.end());
        i32(static_cast<std::int32_t>(values.size()));
        csa.insert(csa.end(), {'F', 'D', 0, 0});
        i32(4);
        i32(static_cast<std::int32_t>(values.size()));
        i32(77);
        for (const auto& v : values) {
            const auto len = static_cast<std::int32_t>(v.size() + 1);
            i32(len), i32(len), i32(77), i32(len);
            csa.insert(csa.end(), v.begin(), v.end());
            csa.push_back(0);
            while (csa.size() % 4) csa.push_back(0);
        }
    }
    ds.putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), "SIEMENS CSA HEADER");
    ds.putAndInsertUint8Array(DcmTag(0x0029, 0x1010, EVR_OB), csa.data(), static_cast<unsigned long>(csa.size()));
    ds.putAndInsertString(DcmTag(0x0019, 0x0010, EVR_LO), "SIEMENS MR HEADER");
    ds.putAndInsertUint16(DcmTag(0x0019, 0x100A, EVR_US), 4);
    return save(ff, file, EXS_LittleEndianExplicit);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 64;
    }
    const fs::path out = argv[1];
    fs::create_directories(out);
    DcmRLEEncoderRegistration::registerCodecs();
    DJEncoderRegistration::registerCodecs();
    DJLSEncoderRegistration::registerCodecs();

    int failures = 0;
    const auto check = [&](bool ok, const char* name) {
        if (!ok) {
            std::fprintf(stderr, "dicom_fuzz_seeds: could not write %s\n", name);
            ++failures;
        }
    };
    Image ct;
    check(write(out / "ct-explicit.dcm", ct), "ct-explicit");
    check(write(out / "ct-implicit.dcm", ct, EXS_LittleEndianImplicit), "ct-implicit");
    check(write(out / "ct-bigendian.dcm", ct, EXS_BigEndianExplicit), "ct-bigendian");
    check(write(out / "ct-deflate.dcm", ct, EXS_DeflatedLittleEndianExplicit), "ct-deflate");
    check(write(out / "ct-rle.dcm", ct, EXS_RLELossless), "ct-rle");
    {
        DcmFileFormat ff;
        fill(*ff.getDataset(), ct);
        const DJ_RPLossless lossless;
        check(save(ff, out / "ct-jpeg-lossless.dcm", EXS_JPEGProcess14SV1, &lossless), "ct-jpeg-lossless");
    }
    {
        DcmFileFormat ff;
        fill(*ff.getDataset(), ct);
        const DJLSRepresentationParameter lossless(2, OFTrue);
        check(save(ff, out / "ct-jpegls.dcm", EXS_JPEGLSLossless, &lossless), "ct-jpegls");
    }
    Image tilted = ct; // second slice of a gantry-tilted pair (position shifted in y)
    tilted.z = 2;
    tilted.y = 1;
    check(write(out / "ct-tilted.dcm", tilted), "ct-tilted");
    Image mono1 = ct;
    mono1.photometric = "MONOCHROME1";
    mono1.isSigned = false;
    mono1.imageType = "ORIGINAL\\PRIMARY\\LOCALIZER";
    check(write(out / "mono1-localizer.dcm", mono1), "mono1");
    Image rgb;
    rgb.sopClass = UID_UltrasoundMultiframeImageStorage;
    rgb.modality = "US";
    rgb.photometric = "RGB";
    rgb.samples = 3;
    rgb.bitsAllocated = 8;
    rgb.bitsStored = 8;
    rgb.isSigned = false;
    rgb.frames = 2;
    check(write(out / "us-rgb-2frames.dcm", rgb), "us-rgb");
    check(write(out / "us-rgb-rle.dcm", rgb, EXS_RLELossless), "us-rgb-rle");
    Image ybr = rgb;
    ybr.photometric = "YBR_FULL";
    ybr.frames = 1;
    check(write(out / "us-ybr.dcm", ybr), "us-ybr");
    Image mr;
    mr.sopClass = UID_MRImageStorage;
    mr.modality = "MR";
    mr.bitsStored = 16;
    mr.isSigned = false;
    mr.frames = 3;
    check(write(out / "mr-multiframe.dcm", mr), "mr-multiframe");
    // Two time points over the same two positions (split by frames), and a single stack whose frames drift in y
    // (gantry tilt), leave a two-step gap and change step (resampling along the normal).
    check(writeEnhanced(out / "enhanced-ct-4d.dcm", {"0\\0\\0", "0\\0\\3", "0\\0\\0", "0\\0\\3"}, {1, 1, 2, 2}),
          "enhanced-ct-4d");
    check(writeEnhanced(out / "enhanced-ct-tilted-gaps.dcm",
                        {"0\\0\\0", "0\\0.5\\1", "0\\1\\2", "0\\2\\4", "0\\2.75\\5.5", "0\\3.5\\7"},
                        {1, 1, 1, 1, 1, 1}),
          "enhanced-ct-tilted-gaps");
    // The same tilted, uneven stack in 8-bit grey and in RGB (resampling per pixel type).
    Image grey8;
    grey8.bitsAllocated = 8;
    grey8.bitsStored = 8;
    grey8.isSigned = false;
    Image colour = grey8;
    colour.photometric = "RGB";
    colour.samples = 3;
    for (const auto& [name, base] :
         {std::pair{"enhanced-u8-tilted.dcm", grey8}, std::pair{"enhanced-rgb-tilted.dcm", colour}})
        check(writeEnhanced(out / name, {"0\\0\\0", "0\\1\\1", "0\\2\\2", "0\\3\\3.5"}, {1, 1, 1, 1}, base), name);
    check(writeEnhanced(out / "enhanced-ct-missing.dcm", {"0\\0\\0", "0\\0\\1", "0\\0\\2", "0\\0\\4", "0\\0\\5"},
                        {1, 1, 1, 1, 1}),
          "enhanced-ct-missing");
    check(writePalette(out / "us-palette.dcm"), "us-palette");
    check(writeMosaic(out / "mr-mosaic.dcm"), "mr-mosaic");
    return failures == 0 ? 0 : 1;
}
