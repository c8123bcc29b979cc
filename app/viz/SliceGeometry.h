#pragma once
// How a slice view maps screen pixels to voxels. Views follow radiological convention in patient LPS:
//   axial:    screen right = patient left (+x), screen down = posterior (+y)
//   coronal:  screen right = patient left (+x), screen down = inferior (-z)
//   sagittal: screen right = posterior (+y),    screen down = inferior (-z)
// Each screen axis is served by the index axis closest to that patient axis (volumes are shown in their
// own voxel grid, flipped as needed; an oblique grid is shown un-resampled, labelled by its nearest axes).

#include <array>
#include <string>

#include "jumeau/imaging/ImageGeometry.h"

namespace jumeau::viz {

enum class SliceOrientation { Axial, Coronal, Sagittal };

// Grey-level mapping of a slice: values centre ± width/2 span black to white.
struct WindowLevel {
    double centre = 40;
    double width = 400;
};

const char* toString(SliceOrientation o);

struct SliceAxes {
    int hAxis = 0, vAxis = 1, sliceAxis = 2; // index axes along screen right, screen down, and through the slice
    bool hReversed = false, vReversed = false; // screen coordinate grows while the index shrinks
    int width = 0, height = 0, sliceCount = 0; // in pixels / slices
    double hSpacing = 1, vSpacing = 1, sliceSpacing = 1; // mm
    // Patient-direction letters at the screen's left, right, top and bottom edges.
    std::array<char, 4> edgeLetters{'R', 'L', 'A', 'P'};
};

SliceAxes sliceAxesFor(const imaging::ImageGeometry& g, SliceOrientation o);

// Screen pixel (u right, v down) on slice `slice` → voxel index (i, j, k).
std::array<int, 3> screenToIndex(const SliceAxes& a, int u, int v, int slice);
// Voxel index → screen pixel (u, v) and slice number.
std::array<int, 3> indexToScreen(const SliceAxes& a, const std::array<int, 3>& index);

} // namespace jumeau::viz
