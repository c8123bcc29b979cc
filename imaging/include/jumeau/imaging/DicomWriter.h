#pragma once
// Writes a Volume as valid DICOM with DCMTK (explicit VR little endian, Part 10 files):
//  - CT: CT Image Storage, one file per slice, Int16 HU voxels stored with RescaleIntercept/Slope;
//  - MR: MR Image Storage, one file per slice, UInt16 or Int16 voxels;
//  - US: one multi-frame file (UInt8 voxels), one frame per k-slice, 3D geometry in functional groups.
// Geometry (origin, direction, spacing) is written so that a reader recovers it exactly in LPS mm.

#include <filesystem>
#include <string>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging {

struct DicomStudyInfo {
    std::string patientName = "Phantom^Jumeau"; // DICOM PN form
    std::string patientId = "JUMEAU-0001";
    std::string patientBirthDate = "19700101";
    std::string patientSex = "O";
    std::string studyUid;      // generated when empty
    std::string studyDate = "20260101";
    std::string studyTime = "120000";
    std::string studyDescription;
    std::string accessionNumber;
    std::string studyId = "1";
};

struct DicomSeriesSpec {
    std::string modality = "CT"; // CT, MR or US
    std::string seriesUid;       // generated when empty
    int seriesNumber = 1;
    std::string seriesDescription;
    std::string bodyPart = "ABDOMEN";
    std::string frameOfReferenceUid; // generated when empty; series sharing it share a patient frame
    std::vector<WindowPreset> windowPresets;
    std::string fileStem = "IM"; // files are <stem><number>.dcm
    // General Equipment module.
    std::string manufacturer = "Jumeau";
    std::string manufacturerModelName;
    // CT: Contrast/Bolus module written when not empty (the agent's name, e.g. "Iodinated contrast").
    std::string contrastAgent;
    double kvp = 120;
    // MR acquisition description (MR Image module type 1/2 attributes).
    std::string mrScanningSequence = "GR"; // defined terms: SE, IR, GR, EP, RM
    std::string mrSequenceVariant = "SP";  // defined terms: SK, MTC, SS, TRSS, SP, MP, OSP, NONE
    std::string mrAcquisitionType = "3D";
    double mrRepetitionTimeMs = 4.0;
    double mrEchoTimeMs = 1.9;
    double mrFlipAngleDeg = 10;
    double mrFieldStrengthT = 1.5;
    // US: time between frames (Cine module), transducer centre frequency.
    double usFrameTimeMs = 50;
    double usTransducerFrequencyMHz = 3.5;
};

// Returns the files written. The folder is created if needed.
Result<std::vector<std::filesystem::path>> writeDicomSeries(const Volume& volume, const DicomStudyInfo& study,
                                                            const DicomSeriesSpec& series,
                                                            const std::filesystem::path& folder,
                                                            const ProgressFn& progress = {});

// A new globally unique DICOM UID.
std::string newDicomUid();

} // namespace jumeau::imaging
