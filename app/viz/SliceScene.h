#pragma once
// One 2D slice view of the reference volume with its label overlay and the linked crosshair, drawn by VTK.
// The slice image is composed on the CPU (window/level, a fused second series (viz/Fusion.h), structure colours,
// outlines) into an RGBA image shown by a vtkImageActor under a parallel camera, in millimetres so pixels keep their
// physical aspect. Landmark markers and their labels are VTK lines and texts above it.

#include <array>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <vtkSmartPointer.h>

#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Volume.h"
#include "viz/Fusion.h"
#include "viz/SliceGeometry.h"

class vtkRenderer;
class vtkImageData;
class vtkImageActor;
class vtkActor;
class vtkPoints;
class vtkPolyData;
class vtkCornerAnnotation;
class vtkTextActor;

namespace jumeau::viz {

// A second series fused over the displayed (reference) image: resampled onto each displayed slice through
// `toOverlay` (displayed image's LPS → overlay's LPS).
struct FusionLayer {
    imaging::Volume volume;
    imaging::SpatialTransform toOverlay;
    FusionSettings settings;
    std::string name; // shown in the view's corner, e.g. "MR T2 axial"
};

// A point drawn in the slice views (a landmark) with its label, on slices near it: a cross in a circle (label above
// right), or a diagonal cross (label below right) for a second point that should fall on the first.
struct SliceMarker {
    std::string label;
    geometry::Vec3 lps;
    std::array<double, 3> colour{1.0, 0.9, 0.2};
    bool diagonal = false;
};

class SliceScene {
public:
    explicit SliceScene(SliceOrientation orientation);
    ~SliceScene();
    SliceScene(const SliceScene&) = delete;
    SliceScene& operator=(const SliceScene&) = delete;

    vtkRenderer* renderer() const;
    SliceOrientation orientation() const { return m_orientation; }
    const SliceAxes& axes() const { return m_axes; }

    // Shows `volume` (and `labels` on the same grid, may be null). Keeps shared references to both.
    void setImage(const imaging::Volume& volume, const imaging::LabelMap* labels);
    bool hasImage() const { return !m_volume.empty(); }

    void setWindowLevel(const WindowLevel& wl);
    WindowLevel windowLevel() const { return m_windowLevel; }
    void setLabelOpacity(double opacity);
    // Structures (by label value) left out of the overlay, as the structure list's visibility boxes say.
    void setHiddenLabels(const std::set<std::uint16_t>& hidden);
    const std::set<std::uint16_t>& hiddenLabels() const { return m_hidden; }

    // The crosshair's voxel index; the view shows the slice through it.
    void setCrosshair(const std::array<int, 3>& index);
    const std::array<int, 3>& crosshair() const { return m_crosshair; }
    int slice() const { return m_crosshair[m_axes.sliceAxis]; }

    // Replaces the label overlay (same grid as the image; null or another grid: none), keeping slice and camera.
    void setLabels(const imaging::LabelMap* labels);

    // Display pixel (VTK convention: origin bottom-left) → voxel index on the current slice, if inside the image.
    std::optional<std::array<int, 3>> pick(int displayX, int displayY) const;
    // The same as an LPS point (mm) on the current slice: the brush paints there.
    std::optional<geometry::Vec3> pickLps(int displayX, int displayY) const;
    // The exact point under the display pixel on the current slice plane (not snapped to the voxel centre in the
    // plane): landmarks are placed there.
    std::optional<geometry::Vec3> pickLpsExact(int displayX, int displayY) const;

    // Fusion over the image (nullopt: none). The overlay is resampled for the current slice at once and again
    // whenever the slice changes.
    void setFusion(std::optional<FusionLayer> layer);
    const std::optional<FusionLayer>& fusion() const { return m_fusion; }
    // The composed slice pixel (RGBA) at screen pixel (u right, v down): what the view shows, before VTK draws.
    std::array<unsigned char, 4> composedPixel(int u, int v) const;

    // Markers (LPS mm in the displayed image's frame); those within about a slice of the current one are drawn.
    void setMarkers(std::vector<SliceMarker> markers);
    // Labels of the markers drawn on the current slice.
    std::vector<std::string> visibleMarkers() const;
    // A circle of radius `radiusMm` (in the slice plane) centred under the display pixel: the brush cursor.
    // nullopt hides it.
    void setBrushCursor(std::optional<std::array<int, 2>> display, double radiusMm);
    bool brushCursorVisible() const;
    void resetCamera();

private:
    void rebuildImage();
    void updateCrosshair();
    void updateAnnotations();
    void updateMarkers();

    SliceOrientation m_orientation;
    SliceAxes m_axes;
    imaging::Volume m_volume;
    std::optional<imaging::LabelMap> m_labels;
    WindowLevel m_windowLevel;
    double m_labelOpacity = 0.4;
    std::set<std::uint16_t> m_hidden;
    std::array<int, 3> m_crosshair{0, 0, 0};
    std::optional<FusionLayer> m_fusion;
    std::vector<SliceMarker> m_markers;
    std::vector<std::string> m_visibleMarkers;

    vtkSmartPointer<vtkRenderer> m_renderer;
    vtkSmartPointer<vtkImageData> m_image;
    vtkSmartPointer<vtkImageActor> m_imageActor;
    vtkSmartPointer<vtkPoints> m_crossPoints;
    vtkSmartPointer<vtkPolyData> m_crossData;
    vtkSmartPointer<vtkActor> m_crossActor;
    vtkSmartPointer<vtkPoints> m_brushPoints;
    vtkSmartPointer<vtkActor> m_brushActor;
    vtkSmartPointer<vtkPolyData> m_markerData;
    vtkSmartPointer<vtkActor> m_markerActor;
    std::vector<vtkSmartPointer<vtkTextActor>> m_markerLabels;
    vtkSmartPointer<vtkCornerAnnotation> m_corners;
    std::array<vtkSmartPointer<vtkTextActor>, 4> m_edgeLetters;
};

// Initial window/level for a series: the file's first preset, else CT abdomen 40/400 for CT, else 1–99% range.
WindowLevel defaultWindowLevel(const imaging::Volume& volume, const std::string& modality,
                               double presetCentre, double presetWidth, bool hasPreset);

} // namespace jumeau::viz
