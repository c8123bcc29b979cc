#pragma once
// Segmentation: a label volume (UInt8 or UInt16 voxels, 0 = background) and its structure table.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/imaging/Volume.h"

namespace jumeau::imaging {

enum class StructureCategory { Organ, Tumour, Vessel, Bone, Body, Other };

const char* toString(StructureCategory c);
std::optional<StructureCategory> structureCategoryFromString(const std::string& s);

struct Structure {
    std::uint16_t label = 0;
    std::string name;
    std::array<double, 3> colour{1, 1, 1}; // RGB in [0,1]
    StructureCategory category = StructureCategory::Other;
};

// A structure colour from hue (turns, [0, 1)), saturation and value (HSV), as RGB in [0, 1].
std::array<double, 3> hsvColour(double hue, double saturation, double value);

class LabelMap {
public:
    LabelMap() = default;
    LabelMap(Volume labels, std::vector<Structure> structures);

    const Volume& labels() const { return m_labels; }
    const ImageGeometry& geometry() const { return m_labels.geometry(); }
    const std::vector<Structure>& structures() const { return m_structures; }
    bool empty() const { return m_labels.empty(); }

    std::uint16_t labelAt(int i, int j, int k) const;
    const Structure* findByName(const std::string& name) const;   // case-insensitive
    const Structure* findByLabel(std::uint16_t label) const;
    std::size_t voxelCount(std::uint16_t label) const;
    double volumeMl(std::uint16_t label) const { return voxelCount(label) * geometry().voxelVolumeMm3() / 1000.0; }
    // Voxel counts for every label value present (index = label value).
    std::vector<std::size_t> histogram() const;

private:
    Volume m_labels;
    std::vector<Structure> m_structures;
};

} // namespace jumeau::imaging
