#pragma once
// Volume and label-map files made or read by other tools (NRRD, NIfTI, MetaImage), through ITK's IO.
// LabelMaps are written as Slicer-compatible .seg.nrrd (label values + Segment<N>_* keys) so the structure
// table travels with the voxels.

#include <filesystem>

#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging {

// Extension picks the format: .nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd. Geometry written in LPS (NIfTI: ITK
// converts to RAS in the file as the format requires).
Result<void> writeVolume(const Volume& volume, const std::filesystem::path& file);
Result<Volume> readVolume(const std::filesystem::path& file);

Result<void> writeLabelMap(const LabelMap& labels, const std::filesystem::path& file);
// Reads a label volume; the structure table comes from Segment<N>_* keys when present, else one
// "label N" structure per value found.
Result<LabelMap> readLabelMap(const std::filesystem::path& file);

} // namespace jumeau::imaging
