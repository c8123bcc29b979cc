#include "jumeau/imaging/LabelMap.h"

#include <cmath>

#include <algorithm>
#include <cctype>

namespace jumeau::imaging {

std::array<double, 3> hsvColour(double hue, double saturation, double value) {
    const double h = hue * 6.0;
    const double x = 1.0 - std::abs(std::fmod(h, 2.0) - 1.0);
    const double c = value * saturation, m = value - c;
    std::array<double, 3> rgb{};
    switch (static_cast<int>(h)) {
    case 0: rgb = {c, x * c, 0}; break;
    case 1: rgb = {x * c, c, 0}; break;
    case 2: rgb = {0, c, x * c}; break;
    case 3: rgb = {0, x * c, c}; break;
    case 4: rgb = {x * c, 0, c}; break;
    default: rgb = {c, 0, x * c}; break;
    }
    return {rgb[0] + m, rgb[1] + m, rgb[2] + m};
}

const char* toString(StructureCategory c) {
    switch (c) {
    case StructureCategory::Organ: return "organ";
    case StructureCategory::Tumour: return "tumour";
    case StructureCategory::Vessel: return "vessel";
    case StructureCategory::Bone: return "bone";
    case StructureCategory::Body: return "body";
    case StructureCategory::Other: return "other";
    }
    return "other";
}

std::optional<StructureCategory> structureCategoryFromString(const std::string& s) {
    for (auto c : {StructureCategory::Organ, StructureCategory::Tumour, StructureCategory::Vessel, StructureCategory::Bone,
                   StructureCategory::Body, StructureCategory::Other})
        if (s == toString(c)) return c;
    return std::nullopt;
}

LabelMap::LabelMap(Volume labels, std::vector<Structure> structures)
    : m_labels(std::move(labels)), m_structures(std::move(structures)) {
    assert(m_labels.empty() || m_labels.holds<std::uint8_t>() || m_labels.holds<std::uint16_t>());
}

std::uint16_t LabelMap::labelAt(int i, int j, int k) const {
    const std::size_t idx = geometry().linearIndex(i, j, k);
    if (m_labels.holds<std::uint8_t>()) return m_labels.data<std::uint8_t>()[idx];
    return m_labels.data<std::uint16_t>()[idx];
}

const Structure* LabelMap::findByName(const std::string& name) const {
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return s;
    };
    const std::string wanted = lower(name);
    for (const auto& s : m_structures)
        if (lower(s.name) == wanted) return &s;
    return nullptr;
}

const Structure* LabelMap::findByLabel(std::uint16_t label) const {
    for (const auto& s : m_structures)
        if (s.label == label) return &s;
    return nullptr;
}

std::vector<std::size_t> LabelMap::histogram() const {
    std::vector<std::size_t> h(m_labels.holds<std::uint8_t>() ? 256 : 65536, 0);
    const std::size_t n = geometry().voxelCount();
    if (m_labels.holds<std::uint8_t>()) {
        const auto* p = m_labels.data<std::uint8_t>();
        for (std::size_t i = 0; i < n; ++i) ++h[p[i]];
    } else if (m_labels.holds<std::uint16_t>()) {
        const auto* p = m_labels.data<std::uint16_t>();
        for (std::size_t i = 0; i < n; ++i) ++h[p[i]];
    }
    return h;
}

std::size_t LabelMap::voxelCount(std::uint16_t label) const {
    // One label: count it directly instead of building the whole histogram (volumeMl calls this per structure).
    const std::size_t n = geometry().voxelCount();
    if (m_labels.holds<std::uint8_t>()) {
        if (label > 255) return 0;
        const auto* p = m_labels.data<std::uint8_t>();
        return static_cast<std::size_t>(std::count(p, p + n, static_cast<std::uint8_t>(label)));
    }
    if (m_labels.holds<std::uint16_t>()) {
        const auto* p = m_labels.data<std::uint16_t>();
        return static_cast<std::size_t>(std::count(p, p + n, label));
    }
    return 0;
}

} // namespace jumeau::imaging
