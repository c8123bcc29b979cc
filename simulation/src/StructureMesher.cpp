#include "jumeau/simulation/StructureMesher.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace jumeau::simulation {

namespace {

// Calls f(linearIndex, value) for every voxel, value as double; false for pixel types without labels.
template <typename F> bool forEachVoxel(const imaging::Volume& v, F&& f) {
    const std::size_t n = v.geometry().voxelCount();
    auto run = [&]<typename T>(const T* data) {
        for (std::size_t i = 0; i < n; ++i) f(i, static_cast<double>(data[i]));
    };
    switch (v.pixelType()) {
    case imaging::PixelType::UInt8:
        run(v.data<std::uint8_t>());
        return true;
    case imaging::PixelType::Int16:
        run(v.data<std::int16_t>());
        return true;
    case imaging::PixelType::UInt16:
        run(v.data<std::uint16_t>());
        return true;
    case imaging::PixelType::Int32:
        run(v.data<std::int32_t>());
        return true;
    case imaging::PixelType::Float32:
        run(v.data<float>());
        return true;
    case imaging::PixelType::RGB8:
        return false;
    }
    return false;
}

} // namespace

Result<std::vector<std::uint16_t>> labelValues(const imaging::Volume& labels, std::size_t maxLabels) {
    if (labels.empty()) return makeError(ErrorCode::InvalidInput, "empty volume");
    std::vector<char> seen(65536, 0);
    std::size_t distinct = 0;
    bool fractional = false, outOfRange = false;
    const bool ok = forEachVoxel(labels, [&](std::size_t, double v) {
        if (v != std::floor(v))
            fractional = true;
        else if (v < 0 || v > 65535)
            outOfRange = true;
        else if (!seen[static_cast<std::size_t>(v)]) {
            seen[static_cast<std::size_t>(v)] = 1;
            ++distinct;
        }
    });
    if (!ok) return makeError(ErrorCode::InvalidInput, "not a label image: colour (RGB) pixels");
    if (fractional) return makeError(ErrorCode::InvalidInput, "not a label image: fractional voxel values");
    if (outOfRange) return makeError(ErrorCode::InvalidInput, "not a label image: negative or > 65535 voxel values");
    if (distinct > maxLabels)
        return makeError(ErrorCode::InvalidInput, "not a label image: " + std::to_string(distinct) +
                                                      " distinct values (an intensity image such as a CT?)");
    std::vector<std::uint16_t> out;
    for (std::size_t v = 1; v < seen.size(); ++v)
        if (seen[v]) out.push_back(static_cast<std::uint16_t>(v));
    return out;
}

Result<geometry::BinaryGrid> binaryGridForLabel(const imaging::Volume& labels, std::uint16_t label,
                                                const std::string& name) {
    const std::string what = name.empty() ? "label " + std::to_string(label) : "structure '" + name + "'";
    if (labels.empty()) return makeError(ErrorCode::InvalidInput, what + ": empty label volume");
    if (label == 0) return makeError(ErrorCode::InvalidInput, what + ": label 0 is the background");
    const imaging::ImageGeometry& g = labels.geometry();
    if (!g.isValid()) return makeError(ErrorCode::InvalidInput, what + ": invalid image geometry " + g.describe());

    // First pass: bounding box of the label.
    std::array<int, 3> lo{g.size[0], g.size[1], g.size[2]}, hi{-1, -1, -1};
    const double target = label;
    const bool ok = forEachVoxel(labels, [&](std::size_t idx, double v) {
        if (v != target) return;
        const int i = static_cast<int>(idx % g.size[0]);
        const int j = static_cast<int>((idx / g.size[0]) % g.size[1]);
        const int k = static_cast<int>(idx / (static_cast<std::size_t>(g.size[0]) * g.size[1]));
        lo = {std::min(lo[0], i), std::min(lo[1], j), std::min(lo[2], k)};
        hi = {std::max(hi[0], i), std::max(hi[1], j), std::max(hi[2], k)};
    });
    if (!ok) return makeError(ErrorCode::InvalidInput, what + ": not a label image (colour pixels)");
    if (hi[0] < 0) return makeError(ErrorCode::InvalidInput, what + ": no voxel has value " + std::to_string(label));

    // Crop with one voxel of margin where the image has it (beyond the image the mesher pads with Outside).
    geometry::BinaryGrid grid;
    grid.name = name.empty() ? "label " + std::to_string(label) : name;
    std::array<int, 3> c0{}, c1{};
    for (int a = 0; a < 3; ++a) {
        c0[a] = std::max(0, lo[a] - 1);
        c1[a] = std::min(g.size[a] - 1, hi[a] + 1);
        grid.size[a] = c1[a] - c0[a] + 1;
    }
    grid.spacing = g.spacing;
    grid.direction = g.direction;
    grid.origin = g.indexToLps(geometry::Vec3{double(c0[0]), double(c0[1]), double(c0[2])});
    grid.voxels.assign(grid.voxelCount(), geometry::Outside);
    std::size_t out = 0;
    for (int k = c0[2]; k <= c1[2]; ++k)
        for (int j = c0[1]; j <= c1[1]; ++j)
            for (int i = c0[0]; i <= c1[0]; ++i, ++out) {
                const double v = labels.valueAt(i, j, k);
                grid.voxels[out] = v == target ? geometry::Inside : (v != 0 ? geometry::Neighbour : geometry::Outside);
            }
    return grid;
}

Result<geometry::MeshingResult> meshStructure(const imaging::LabelMap& labels, std::uint16_t label,
                                              const geometry::MeshingOptions& options, const ProgressFn& progress) {
    const imaging::Structure* s = labels.findByLabel(label);
    auto grid = binaryGridForLabel(labels.labels(), label, s ? s->name : std::string());
    if (!grid) return grid.error();
    return geometry::meshBinaryGrid(grid.value(), options, progress);
}

} // namespace jumeau::simulation
