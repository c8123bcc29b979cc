#pragma once
// Importing segmentations made elsewhere into a case: label volume files (.nrrd, .seg.nrrd, .nii, .nii.gz, .mha,
// .mhd), one DICOM mask series (a folder; IRCAD stores one 0/255 "CT" series per structure), a folder of such mask
// series named by structure, or a list of those. Every mask becomes a structure of the case's label map, resampled
// onto the reference grid when its own grid differs, merged with what the case already has.
//
// Precedence where masks overlap (IRCAD's liver mask contains its tumours and vessels): tumour > vessel > other >
// organ > bone > body, by category (guessed from the name when the source has none). A voxel claimed by several
// structures goes to the highest; between equals an existing structure of the case keeps its voxels, and among new
// ones the smaller mask wins (the more specific one: a lesion inside a lesion). "Other" ranks above organs because
// names we do not recognise are mostly details inside or beside an organ (cyst, stone, clip), rarely enclosing
// regions. Every voxel a structure loses this way is reported as an Overlap, and in the warnings.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/geometry/Vec.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Resample.h"
#include "jumeau/simulation/Case.h"

namespace jumeau::simulation {

struct LabelImportOptions {
    // Maps a point of the case's reference (LPS mm) to the labels' LPS frame. Empty: the labels share the
    // reference's frame (same scanner coordinates or DICOM frame of reference), the usual case.
    std::optional<geometry::Transform> referenceToSource;
    // Sampling when the labels' grid differs from the reference grid (see imaging::LabelResampling).
    imaging::LabelResampling resampling = imaging::LabelResampling::Nearest;
    // A source without a structure table having more distinct non-zero values than this is an image, not labels.
    std::size_t maxUnnamedLabels = 64;
    // false: the first source that is refused fails the whole import and the case is left unchanged.
    // true: refused sources become warnings and the rest is imported (opening a folder that holds masks).
    bool skipRefused = false;
};

struct ImportedStructure {
    std::string name;        // as named in the case (" (2)" appended when the name was taken)
    std::uint16_t label = 0; // value in the case's label map
    imaging::StructureCategory category = imaging::StructureCategory::Other;
    std::array<double, 3> colour{1, 1, 1};
    std::string source;         // file or folder it came from (with ": label N" for multi-label files)
    bool resampled = false;     // its grid differed from the reference's
    std::size_t maskVoxels = 0; // voxels of the mask on the reference grid (after resampling), before precedence
    std::size_t voxels = 0;     // voxels it has in the case: maskVoxels minus what it lost to overlaps
    double volumeMl = 0;        // voxels * reference voxel volume
    double sourceVolumeMl = 0;  // volume of the mask on its own grid (differs from maskVoxels' by resampling
                                // and by any part outside the reference)
};

// Voxels of `structure`'s mask that went to `keptBy` (higher precedence), on the reference grid.
struct LabelOverlap {
    std::string structure;
    std::string keptBy;
    std::size_t voxels = 0;
    double volumeMl = 0;
    std::string describe() const; // "liver overlaps portalvein by 23.1 ml; portalvein kept there"
};

// A source skipped under skipRefused.
struct RefusedSource {
    std::size_t index = 0; // importMaskSeries: index into `masks`; importLabels: into the sources after a folder of
                           // structures is expanded into its entries (natural name order)
    std::string source;
    std::string reason; // the error message, naming the source
};

struct LabelImportResult {
    std::vector<ImportedStructure> structures;
    std::vector<LabelOverlap> overlaps;
    std::vector<RefusedSource> refused; // only with skipRefused
    std::vector<std::string> warnings;  // resampling, overlaps, names taken, parts outside the reference, refused
};

// What a path holds, as importLabels reads it.
enum class LabelSourceKind {
    LabelFile,         // .nrrd / .seg.nrrd / .nii / .nii.gz / .mha / .mhd
    MaskSeriesFolder,  // a folder whose files form one DICOM series
    FolderOfMaskSeries // a folder of sub-folders (or label files), each one structure named after it
};
Result<LabelSourceKind> classifyLabelSource(const std::filesystem::path& path);

// Imports every source into c.labels (created on the reference grid when the case has none). Label values: a
// multi-label file keeps its values where they are free in the case; other masks take the smallest free values. On
// error the case is unchanged; the message names the file or folder and the problem. Refused: a file or series that is
// not labels (RGB, fractional or negative values, more than maxUnnamedLabels values without a table: a CT or an
// ultrasound), an empty mask (no non-zero voxel), a mask that does not overlap the reference grid, a folder holding no
// mask.
Result<LabelImportResult> importLabels(Case& c, const std::vector<std::filesystem::path>& sources,
                                       const LabelImportOptions& options = {}, const ProgressFn& progress = {});
Result<LabelImportResult> importLabels(Case& c, const std::filesystem::path& source,
                                       const LabelImportOptions& options = {}, const ProgressFn& progress = {});

// Already loaded DICOM series used as masks (the masks findMaskSeries picked from a folder): each series is one
// structure named after its description (IRCAD: the folder it came from), else its patient-name suffix.
Result<LabelImportResult> importMaskSeries(Case& c, const std::vector<imaging::LoadedSeries>& masks,
                                           const LabelImportOptions& options = {}, const ProgressFn& progress = {});

// A binary 8-bit or 16-bit series (0 and one other value, that value present) that is a mask stored as an image, as
// IRCAD stores its expert segmentations; the same test as chooseReference's.
bool isMaskSeries(const imaging::LoadedSeries& series);
// Indices of the series that are masks, when at least one series is not (so there is an image to be the reference).
std::vector<std::size_t> findMaskSeries(const std::vector<imaging::LoadedSeries>& series);

// The structure name of a mask series: its series description, else the part of PatientName after '^' when it
// differs from the reference's patient name (IRCAD: "liver_17^portalvein" beside "liver_17^patient"), else the
// folder of its first file when that is not the reference's folder, else "mask".
std::string maskSeriesName(const imaging::LoadedSeries& series, const imaging::LoadedSeries* reference = nullptr);

// Category and colour a surgeon would expect for a structure name (liver -> organ, tumor/tumour/lesion -> tumour,
// portal vein/venous system/artery/hepatic vein/aorta -> vessel, bone/spine/rib -> bone, skin/body -> body).
imaging::StructureCategory guessCategory(const std::string& name);
std::array<double, 3> guessColour(const std::string& name, imaging::StructureCategory category);
// Precedence rank where structures overlap (higher wins): tumour 5, vessel 4, other 3, organ 2, bone 1, body 0.
int precedenceRank(imaging::StructureCategory category);

} // namespace jumeau::simulation
