#pragma once
// Fusion of a second series (the overlay: MR, ultrasound, a later CT) over the reference in a slice view, so the
// surgeon sees how well it landed. Only the displayed slice is resampled: every pixel of the reference slice is
// mapped through the series' transform (reference LPS → overlay LPS, Registration.h's convention) and the overlay is
// read there by trilinear interpolation. Pure functions on our own types (no VTK): SliceScene calls them and the
// tests check them against known transforms.

#include <array>
#include <limits>
#include <optional>
#include <vector>

#include "jumeau/imaging/Registration.h"
#include "jumeau/imaging/Volume.h"
#include "viz/SliceGeometry.h"

namespace jumeau::viz {

enum class FusionMode {
    Blend,        // overlay grey mixed with the reference grey: opacity 0 = reference only, 1 = overlay only
    Checkerboard, // squares of the slice alternate: reference, overlay (edges show any misalignment)
    ColourOverlay // the overlay in a hot colour map over the grey reference, at `opacity`
};

const char* toString(FusionMode m);

struct FusionSettings {
    FusionMode mode = FusionMode::Blend;
    double opacity = 0.5;   // Blend: share of the overlay; ColourOverlay: opacity of the colours (0..1)
    double checkerMm = 20;  // side of a checkerboard square in the slice plane (mm)
    WindowLevel window;     // the overlay's own grey mapping
    // Overlay values at or below this are padding, not image (outside an ultrasound fan, outside a CT's
    // reconstruction circle) and are treated as outside the overlay; SliceScene's caller sets it to the series'
    // minimum.
    double paddingAtOrBelow = -std::numeric_limits<double>::infinity();
};

// Trilinear value of `volume` at the LPS point (mm); nullopt outside its voxels (beyond half a voxel past the
// centres of the border voxels). RGB volumes give their luminance.
std::optional<double> sampleTrilinear(const imaging::Volume& volume, const geometry::Vec3& lps);

// The overlay's values on one displayed slice of the reference grid: element v * axes.width + u (screen pixel u
// right, v down, as SliceGeometry's screenToIndex) holds `overlay` at toOverlay(reference LPS of that pixel), NaN
// where that point falls outside the overlay. Linear transforms are stepped incrementally across the slice;
// deformable ones are evaluated per pixel.
std::vector<float> sampleOverlaySlice(const imaging::ImageGeometry& referenceGrid, const SliceAxes& axes, int slice,
                                      const imaging::Volume& overlay, const imaging::SpatialTransform& toOverlay);

// True where the checkerboard shows the overlay: squares of squareMm in the slice plane counted from the image's
// top-left corner, which shows the reference.
bool checkerShowsOverlay(const SliceAxes& axes, int u, int v, double squareMm);

// A value through a window: 0..255.
unsigned char windowed(double value, const WindowLevel& wl);

// Hot colour map: black → red → yellow → white for t in [0, 1].
std::array<unsigned char, 3> hotColour(double t);

// Fuses the overlay samples (from sampleOverlaySlice) into the reference RGBA slice in place. `rgba` is laid out as
// SliceScene composes it for VTK: screen row v is image row axes.height - 1 - v (bottom row first), 4 bytes a pixel.
// Blend and colour overlay leave pixels outside the overlay (or padding) as they are; the checkerboard shows them
// black (there is no overlay image there). In the colour overlay, values below the overlay's window are transparent and the lower
// half of the window fades in (opacity × 2t for t < 1/2 of the window), so faint signal does not hide the reference.
void fuseSlice(const SliceAxes& axes, const std::vector<float>& overlay, const FusionSettings& settings,
               unsigned char* rgba);

// Offset of screen pixel (u, v) in such an RGBA buffer.
inline std::size_t rgbaOffset(const SliceAxes& axes, int u, int v) {
    return (static_cast<std::size_t>(axes.height - 1 - v) * static_cast<std::size_t>(axes.width) +
            static_cast<std::size_t>(u)) * 4;
}

} // namespace jumeau::viz
