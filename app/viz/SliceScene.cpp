#include "viz/SliceScene.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkCellArray.h>
#include <vtkCornerAnnotation.h>
#include <vtkImageActor.h>
#include <vtkImageData.h>
#include <vtkImageMapper3D.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderer.h>
#include <vtkTextActor.h>
#include <vtkTextProperty.h>
#include <vtkCellData.h>
#include <vtkCoordinate.h>
#include <vtkUnsignedCharArray.h>

namespace jumeau::viz {

namespace {

template <typename T> double scalarOf(const T& v) {
    if constexpr (std::is_same_v<T, imaging::Rgb8>) return 0.299 * v.r + 0.587 * v.g + 0.114 * v.b;
    else return static_cast<double>(v);
}

// Fills RGBA rows top-down in screen order into VTK's bottom-up image rows.
template <typename T>
void composeGrey(const T* voxels, const imaging::ImageGeometry& g, const SliceAxes& a, int slice, const WindowLevel& wl,
                 unsigned char* rgba) {
    const double lo = wl.centre - wl.width / 2.0;
    const double scale = wl.width > 0 ? 255.0 / wl.width : 0.0;
    for (int v = 0; v < a.height; ++v) {
        unsigned char* row = rgba + static_cast<std::size_t>(a.height - 1 - v) * a.width * 4;
        for (int u = 0; u < a.width; ++u) {
            const auto idx = screenToIndex(a, u, v, slice);
            const T& val = voxels[g.linearIndex(idx[0], idx[1], idx[2])];
            unsigned char* px = row + u * 4;
            if constexpr (std::is_same_v<T, imaging::Rgb8>) {
                // Colour images (ultrasound Doppler, photos) keep their colours; window/level scales them.
                auto map = [&](double c) { return static_cast<unsigned char>(std::clamp((c - lo) * scale, 0.0, 255.0)); };
                px[0] = map(val.r); px[1] = map(val.g); px[2] = map(val.b);
            } else {
                const auto grey = static_cast<unsigned char>(std::clamp((scalarOf(val) - lo) * scale, 0.0, 255.0));
                px[0] = px[1] = px[2] = grey;
            }
            px[3] = 255;
        }
    }
}

template <typename L>
void blendLabels(const L* labels, const imaging::LabelMap& map, const std::set<std::uint16_t>& hidden,
                 const SliceAxes& a, int slice, double opacity, unsigned char* rgba) {
    const auto& g = map.geometry();
    // Colour lookup by label value, and which labels get a fill (the body only gets an outline).
    std::uint16_t maxLabel = 0;
    for (const auto& s : map.structures()) maxLabel = std::max(maxLabel, s.label);
    std::vector<std::array<double, 3>> colour(maxLabel + 1u, {-1, -1, -1});
    std::vector<bool> fill(maxLabel + 1u, false);
    for (const auto& s : map.structures()) {
        if (hidden.count(s.label)) continue; // stays at -1: not drawn
        colour[s.label] = s.colour;
        fill[s.label] = s.category != imaging::StructureCategory::Body;
    }
    auto labelAt = [&](int u, int v) -> unsigned {
        if (u < 0 || v < 0 || u >= a.width || v >= a.height) return 0;
        const auto idx = screenToIndex(a, u, v, slice);
        return labels[g.linearIndex(idx[0], idx[1], idx[2])];
    };
    for (int v = 0; v < a.height; ++v) {
        unsigned char* row = rgba + static_cast<std::size_t>(a.height - 1 - v) * a.width * 4;
        for (int u = 0; u < a.width; ++u) {
            const unsigned l = labelAt(u, v);
            if (l == 0 || l > maxLabel || colour[l][0] < 0) continue;
            const bool edge = labelAt(u - 1, v) != l || labelAt(u + 1, v) != l || labelAt(u, v - 1) != l || labelAt(u, v + 1) != l;
            const double alpha = edge ? 0.9 : (fill[l] ? opacity : 0.0);
            if (alpha <= 0) continue;
            unsigned char* px = row + u * 4;
            for (int c = 0; c < 3; ++c)
                px[c] = static_cast<unsigned char>(std::lround((1 - alpha) * px[c] + alpha * 255.0 * colour[l][c]));
        }
    }
}

} // namespace

SliceScene::SliceScene(SliceOrientation orientation) : m_orientation(orientation) {
    m_renderer = vtkSmartPointer<vtkRenderer>::New();
    m_renderer->SetBackground(0.0, 0.0, 0.0);
    m_image = vtkSmartPointer<vtkImageData>::New();
    m_imageActor = vtkSmartPointer<vtkImageActor>::New();
    m_imageActor->GetMapper()->SetInputData(m_image);
    m_imageActor->InterpolateOff(); // show voxels as they are: radiologists want to see the grid
    m_imageActor->VisibilityOff();
    m_renderer->AddActor(m_imageActor);

    m_crossPoints = vtkSmartPointer<vtkPoints>::New();
    m_crossPoints->SetNumberOfPoints(4);
    m_crossData = vtkSmartPointer<vtkPolyData>::New();
    m_crossData->SetPoints(m_crossPoints);
    auto lines = vtkSmartPointer<vtkCellArray>::New();
    const vtkIdType l0[2] = {0, 1}, l1[2] = {2, 3};
    lines->InsertNextCell(2, l0);
    lines->InsertNextCell(2, l1);
    m_crossData->SetLines(lines);
    auto mapper = vtkSmartPointer<vtkPolyDataMapper>::New();
    mapper->SetInputData(m_crossData);
    m_crossActor = vtkSmartPointer<vtkActor>::New();
    m_crossActor->SetMapper(mapper);
    m_crossActor->GetProperty()->SetColor(0.3, 0.9, 0.3);
    m_crossActor->GetProperty()->SetOpacity(0.7);
    m_crossActor->GetProperty()->SetLineWidth(1.0);
    m_crossActor->VisibilityOff();
    m_renderer->AddActor(m_crossActor);

    // Brush cursor: a closed polyline circle, placed by setBrushCursor.
    constexpr int brushSegments = 64;
    m_brushPoints = vtkSmartPointer<vtkPoints>::New();
    m_brushPoints->SetNumberOfPoints(brushSegments);
    auto brushData = vtkSmartPointer<vtkPolyData>::New();
    brushData->SetPoints(m_brushPoints);
    auto ring = vtkSmartPointer<vtkCellArray>::New();
    ring->InsertNextCell(brushSegments + 1);
    for (int i = 0; i <= brushSegments; ++i) ring->InsertCellPoint(i % brushSegments);
    brushData->SetLines(ring);
    auto brushMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
    brushMapper->SetInputData(brushData);
    m_brushActor = vtkSmartPointer<vtkActor>::New();
    m_brushActor->SetMapper(brushMapper);
    m_brushActor->GetProperty()->SetColor(1.0, 0.85, 0.2);
    m_brushActor->GetProperty()->SetLineWidth(1.5);
    m_brushActor->VisibilityOff();
    m_renderer->AddActor(m_brushActor);

    // Landmark markers: crosses in circles, coloured per marker (cell colours), labels as text actors.
    m_markerData = vtkSmartPointer<vtkPolyData>::New();
    auto markerMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
    markerMapper->SetInputData(m_markerData);
    markerMapper->SetScalarModeToUseCellData();
    m_markerActor = vtkSmartPointer<vtkActor>::New();
    m_markerActor->SetMapper(markerMapper);
    m_markerActor->GetProperty()->SetLineWidth(2.0);
    m_markerActor->VisibilityOff();
    m_renderer->AddActor(m_markerActor);

    m_corners = vtkSmartPointer<vtkCornerAnnotation>::New();
    m_corners->SetMaximumFontSize(14);
    m_corners->GetTextProperty()->SetColor(0.9, 0.9, 0.6);
    m_renderer->AddViewProp(m_corners);
    for (auto& t : m_edgeLetters) {
        t = vtkSmartPointer<vtkTextActor>::New();
        t->GetTextProperty()->SetFontSize(16);
        t->GetTextProperty()->SetBold(true);
        t->GetTextProperty()->SetColor(1.0, 0.75, 0.3);
        t->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
        t->VisibilityOff();
        m_renderer->AddViewProp(t);
    }
    const double pos[4][2] = {{0.01, 0.5}, {0.97, 0.5}, {0.5, 0.95}, {0.5, 0.01}};
    for (int e = 0; e < 4; ++e) m_edgeLetters[e]->SetPosition(pos[e][0], pos[e][1]);
    // The top letter goes below the two-line position readout of the top-right corner, a fixed number of pixels down
    // from the top centre: at 0.95 of the height it ran into that readout's first line in views narrower than about
    // 500 pixels (the workstation's 2 x 2 layout on a laptop screen).
    auto topCentre = vtkSmartPointer<vtkCoordinate>::New();
    topCentre->SetCoordinateSystemToNormalizedViewport();
    topCentre->SetValue(0.5, 1.0);
    m_edgeLetters[2]->GetPositionCoordinate()->SetCoordinateSystemToDisplay();
    m_edgeLetters[2]->GetPositionCoordinate()->SetReferenceCoordinate(topCentre);
    m_edgeLetters[2]->SetPosition(0, -58);
    m_corners->SetText(2, toString(orientation));
}

SliceScene::~SliceScene() = default;

vtkRenderer* SliceScene::renderer() const { return m_renderer; }

void SliceScene::setImage(const imaging::Volume& volume, const imaging::LabelMap* labels) {
    m_volume = volume;
    m_labels.reset();
    m_fusion.reset(); // an overlay and markers belong to the image they were set for
    m_markers.clear();
    if (labels && !labels->empty() && labels->geometry().size == volume.geometry().size) m_labels = *labels;
    m_axes = sliceAxesFor(volume.geometry(), m_orientation);
    const auto& size = volume.geometry().size;
    m_crosshair = {size[0] / 2, size[1] / 2, size[2] / 2};
    m_image->SetDimensions(m_axes.width, m_axes.height, 1);
    m_image->SetSpacing(m_axes.hSpacing, m_axes.vSpacing, 1.0);
    m_image->SetOrigin(0, 0, 0);
    m_image->AllocateScalars(VTK_UNSIGNED_CHAR, 4);
    m_imageActor->VisibilityOn();
    m_crossActor->VisibilityOn();
    for (int e = 0; e < 4; ++e) {
        m_edgeLetters[e]->SetInput(std::string(1, m_axes.edgeLetters[e]).c_str());
        m_edgeLetters[e]->VisibilityOn();
    }
    rebuildImage();
    updateCrosshair();
    resetCamera();
}

void SliceScene::setWindowLevel(const WindowLevel& wl) {
    m_windowLevel = wl;
    m_windowLevel.width = std::max(1e-3, wl.width);
    if (hasImage()) rebuildImage();
}

void SliceScene::setHiddenLabels(const std::set<std::uint16_t>& hidden) {
    if (hidden == m_hidden) return;
    m_hidden = hidden;
    if (hasImage()) rebuildImage();
}

void SliceScene::setLabelOpacity(double opacity) {
    m_labelOpacity = std::clamp(opacity, 0.0, 1.0);
    if (hasImage()) rebuildImage();
}

void SliceScene::setCrosshair(const std::array<int, 3>& index) {
    if (!hasImage()) return;
    const auto& size = m_volume.geometry().size;
    std::array<int, 3> clamped;
    for (int a = 0; a < 3; ++a) clamped[a] = std::clamp(index[a], 0, size[a] - 1);
    const bool sliceChanged = clamped[m_axes.sliceAxis] != m_crosshair[m_axes.sliceAxis];
    m_crosshair = clamped;
    if (sliceChanged) rebuildImage();
    else updateAnnotations();
    updateCrosshair();
}

void SliceScene::rebuildImage() {
    auto* rgba = static_cast<unsigned char*>(m_image->GetScalarPointer());
    const auto& g = m_volume.geometry();
    const int s = slice();
    switch (m_volume.pixelType()) {
    case imaging::PixelType::UInt8: composeGrey(m_volume.data<std::uint8_t>(), g, m_axes, s, m_windowLevel, rgba); break;
    case imaging::PixelType::Int16: composeGrey(m_volume.data<std::int16_t>(), g, m_axes, s, m_windowLevel, rgba); break;
    case imaging::PixelType::UInt16: composeGrey(m_volume.data<std::uint16_t>(), g, m_axes, s, m_windowLevel, rgba); break;
    case imaging::PixelType::Int32: composeGrey(m_volume.data<std::int32_t>(), g, m_axes, s, m_windowLevel, rgba); break;
    case imaging::PixelType::Float32: composeGrey(m_volume.data<float>(), g, m_axes, s, m_windowLevel, rgba); break;
    case imaging::PixelType::RGB8: composeGrey(m_volume.data<imaging::Rgb8>(), g, m_axes, s, m_windowLevel, rgba); break;
    }
    if (m_fusion) {
        const auto samples = sampleOverlaySlice(g, m_axes, s, m_fusion->volume, m_fusion->toOverlay);
        fuseSlice(m_axes, samples, m_fusion->settings, rgba);
    }
    if (m_labels) {
        const auto& lv = m_labels->labels();
        if (lv.holds<std::uint8_t>()) blendLabels(lv.data<std::uint8_t>(), *m_labels, m_hidden, m_axes, s, m_labelOpacity, rgba);
        else blendLabels(lv.data<std::uint16_t>(), *m_labels, m_hidden, m_axes, s, m_labelOpacity, rgba);
    }
    m_image->Modified();
    updateAnnotations();
    updateMarkers();
}

void SliceScene::setFusion(std::optional<FusionLayer> layer) {
    m_fusion = std::move(layer);
    if (hasImage()) rebuildImage();
}

std::array<unsigned char, 4> SliceScene::composedPixel(int u, int v) const {
    if (!hasImage() || u < 0 || v < 0 || u >= m_axes.width || v >= m_axes.height) return {0, 0, 0, 0};
    const auto* rgba = static_cast<const unsigned char*>(m_image->GetScalarPointer()) + rgbaOffset(m_axes, u, v);
    return {rgba[0], rgba[1], rgba[2], rgba[3]};
}

void SliceScene::setMarkers(std::vector<SliceMarker> markers) {
    m_markers = std::move(markers);
    updateMarkers();
}

std::vector<std::string> SliceScene::visibleMarkers() const { return m_visibleMarkers; }

void SliceScene::updateMarkers() {
    m_visibleMarkers.clear();
    for (auto& t : m_markerLabels) t->VisibilityOff();
    if (!hasImage() || m_markers.empty()) {
        m_markerActor->VisibilityOff();
        return;
    }
    auto points = vtkSmartPointer<vtkPoints>::New();
    auto lines = vtkSmartPointer<vtkCellArray>::New();
    auto colours = vtkSmartPointer<vtkUnsignedCharArray>::New();
    colours->SetNumberOfComponents(3);
    const auto& g = m_volume.geometry();
    // Drawn on the slices within half a slice (and at least 1 mm) of the marker.
    const double nearMm = std::max(0.5 * m_axes.sliceSpacing, 1.0) + 1e-6;
    constexpr int segments = 24;
    const double radius = 3.0, arm = 4.5; // mm on screen
    std::size_t shown = 0;
    for (const auto& m : m_markers) {
        const auto idx = g.lpsToIndex(m.lps);
        if (std::abs(idx[m_axes.sliceAxis] - slice()) * m_axes.sliceSpacing > nearMm) continue;
        const double u = m_axes.hReversed ? m_axes.width - 1 - idx[m_axes.hAxis] : idx[m_axes.hAxis];
        const double v = m_axes.vReversed ? m_axes.height - 1 - idx[m_axes.vAxis] : idx[m_axes.vAxis];
        const double x = u * m_axes.hSpacing, y = (m_axes.height - 1 - v) * m_axes.vSpacing;
        const unsigned char rgb[3] = {static_cast<unsigned char>(255 * m.colour[0]), static_cast<unsigned char>(255 * m.colour[1]),
                                      static_cast<unsigned char>(255 * m.colour[2])};
        if (m.diagonal) {
            const double d = arm * 0.75;
            const vtkIdType a0 = points->InsertNextPoint(x - d, y - d, 0.7), a1 = points->InsertNextPoint(x + d, y + d, 0.7);
            const vtkIdType b0 = points->InsertNextPoint(x - d, y + d, 0.7), b1 = points->InsertNextPoint(x + d, y - d, 0.7);
            const vtkIdType l0[2] = {a0, a1}, l1[2] = {b0, b1};
            lines->InsertNextCell(2, l0);
            lines->InsertNextCell(2, l1);
            for (int c = 0; c < 2; ++c) colours->InsertNextTypedTuple(rgb);
        } else {
            const vtkIdType first = points->GetNumberOfPoints();
            for (int i = 0; i < segments; ++i) {
                const double a = 2 * 3.14159265358979323846 * i / segments;
                points->InsertNextPoint(x + radius * std::cos(a), y + radius * std::sin(a), 0.7);
            }
            lines->InsertNextCell(segments + 1);
            for (int i = 0; i <= segments; ++i) lines->InsertCellPoint(first + i % segments);
            const vtkIdType c0 = points->InsertNextPoint(x - arm, y, 0.7), c1 = points->InsertNextPoint(x + arm, y, 0.7);
            const vtkIdType c2 = points->InsertNextPoint(x, y - arm, 0.7), c3 = points->InsertNextPoint(x, y + arm, 0.7);
            const vtkIdType h[2] = {c0, c1}, vv[2] = {c2, c3};
            lines->InsertNextCell(2, h);
            lines->InsertNextCell(2, vv);
            for (int c = 0; c < 3; ++c) colours->InsertNextTypedTuple(rgb);
        }
        if (shown >= m_markerLabels.size()) {
            auto t = vtkSmartPointer<vtkTextActor>::New();
            t->GetTextProperty()->SetFontSize(14);
            t->GetTextProperty()->SetBold(true);
            t->GetPositionCoordinate()->SetCoordinateSystemToWorld();
            m_renderer->AddViewProp(t);
            m_markerLabels.push_back(t);
        }
        auto& text = m_markerLabels[shown++];
        text->SetInput(m.label.c_str());
        text->GetTextProperty()->SetColor(m.colour[0], m.colour[1], m.colour[2]);
        // Labels above right of circles, below left of diagonal crosses: a pair that fits keeps both readable.
        auto* tp = text->GetTextProperty();
        if (m.diagonal) {
            tp->SetJustificationToRight();
            tp->SetVerticalJustificationToTop();
            text->GetPositionCoordinate()->SetValue(x - radius - 1.0, y - 1.0, 0.7);
        } else {
            tp->SetJustificationToLeft();
            tp->SetVerticalJustificationToBottom();
            text->GetPositionCoordinate()->SetValue(x + radius + 1.0, y + 1.0, 0.7);
        }
        text->VisibilityOn();
        m_visibleMarkers.push_back(m.label);
    }
    m_markerData->SetPoints(points);
    m_markerData->SetLines(lines);
    m_markerData->GetCellData()->SetScalars(colours);
    m_markerData->Modified();
    m_markerActor->SetVisibility(shown > 0);
}

void SliceScene::updateCrosshair() {
    const auto screen = indexToScreen(m_axes, m_crosshair);
    // World coordinates of the image: x = u * hSpacing, y = (height - 1 - v) * vSpacing; lines sit just above it.
    const double x = screen[0] * m_axes.hSpacing;
    const double y = (m_axes.height - 1 - screen[1]) * m_axes.vSpacing;
    const double x0 = -0.5 * m_axes.hSpacing, x1 = (m_axes.width - 0.5) * m_axes.hSpacing;
    const double y0 = -0.5 * m_axes.vSpacing, y1 = (m_axes.height - 0.5) * m_axes.vSpacing;
    m_crossPoints->SetPoint(0, x0, y, 0.5);
    m_crossPoints->SetPoint(1, x1, y, 0.5);
    m_crossPoints->SetPoint(2, x, y0, 0.5);
    m_crossPoints->SetPoint(3, x, y1, 0.5);
    m_crossPoints->Modified();
    m_crossData->Modified();
}

void SliceScene::updateAnnotations() {
    char buf[128];
    std::snprintf(buf, sizeof buf, "Slice %d / %d", slice() + 1, m_axes.sliceCount);
    m_corners->SetText(0, buf);
    std::snprintf(buf, sizeof buf, "W %.0f  L %.0f", m_windowLevel.width, m_windowLevel.centre);
    m_corners->SetText(1, buf);
    std::string title = toString(m_orientation);
    if (m_fusion) {
        title += "\n+ " + m_fusion->name + " " + toString(m_fusion->settings.mode);
        if (m_fusion->settings.mode == FusionMode::Checkerboard) {
            std::snprintf(buf, sizeof buf, " %.0f mm", m_fusion->settings.checkerMm);
        } else {
            std::snprintf(buf, sizeof buf, " %.0f%%", 100 * m_fusion->settings.opacity);
        }
        title += buf;
    }
    m_corners->SetText(2, title.c_str());
    if (hasImage()) {
        const auto& c = m_crosshair;
        const auto p = m_volume.geometry().indexToLps({double(c[0]), double(c[1]), double(c[2])});
        std::snprintf(buf, sizeof buf, "LPS %.1f, %.1f, %.1f mm\nvalue %.0f", p.x, p.y, p.z, m_volume.valueAt(c[0], c[1], c[2]));
        m_corners->SetText(3, buf);
    }
}

std::optional<std::array<int, 3>> SliceScene::pick(int displayX, int displayY) const {
    if (!hasImage()) return std::nullopt;
    m_renderer->SetDisplayPoint(displayX, displayY, 0);
    m_renderer->DisplayToWorld();
    double w[4];
    m_renderer->GetWorldPoint(w);
    if (w[3] != 0) for (int c = 0; c < 3; ++c) w[c] /= w[3];
    const int u = static_cast<int>(std::lround(w[0] / m_axes.hSpacing));
    const int v = m_axes.height - 1 - static_cast<int>(std::lround(w[1] / m_axes.vSpacing));
    if (u < 0 || v < 0 || u >= m_axes.width || v >= m_axes.height) return std::nullopt;
    return screenToIndex(m_axes, u, v, slice());
}

void SliceScene::setLabels(const imaging::LabelMap* labels) {
    m_labels.reset();
    if (labels && !labels->empty() && hasImage() && labels->geometry().size == m_volume.geometry().size)
        m_labels = *labels;
    if (hasImage()) rebuildImage();
}

std::optional<geometry::Vec3> SliceScene::pickLpsExact(int displayX, int displayY) const {
    if (!hasImage()) return std::nullopt;
    m_renderer->SetDisplayPoint(displayX, displayY, 0);
    m_renderer->DisplayToWorld();
    double w[4];
    m_renderer->GetWorldPoint(w);
    if (w[3] != 0)
        for (int c = 0; c < 3; ++c) w[c] /= w[3];
    const double u = w[0] / m_axes.hSpacing;
    const double v = m_axes.height - 1 - w[1] / m_axes.vSpacing;
    if (u < -0.5 || v < -0.5 || u > m_axes.width - 0.5 || v > m_axes.height - 0.5) return std::nullopt;
    geometry::Vec3 idx;
    idx[m_axes.hAxis] = m_axes.hReversed ? m_axes.width - 1 - u : u;
    idx[m_axes.vAxis] = m_axes.vReversed ? m_axes.height - 1 - v : v;
    idx[m_axes.sliceAxis] = slice();
    return m_volume.geometry().indexToLps(idx);
}

std::optional<geometry::Vec3> SliceScene::pickLps(int displayX, int displayY) const {
    const auto idx = pick(displayX, displayY);
    if (!idx) return std::nullopt;
    return m_volume.geometry().indexToLps({double((*idx)[0]), double((*idx)[1]), double((*idx)[2])});
}

void SliceScene::setBrushCursor(std::optional<std::array<int, 2>> display, double radiusMm) {
    if (!display || !hasImage() || radiusMm <= 0) {
        m_brushActor->VisibilityOff();
        return;
    }
    m_renderer->SetDisplayPoint((*display)[0], (*display)[1], 0);
    m_renderer->DisplayToWorld();
    double w[4];
    m_renderer->GetWorldPoint(w);
    if (w[3] != 0)
        for (int c = 0; c < 3; ++c) w[c] /= w[3];
    // World units are millimetres in both screen directions (x = u * hSpacing, y = ... * vSpacing).
    const vtkIdType n = m_brushPoints->GetNumberOfPoints();
    for (vtkIdType i = 0; i < n; ++i) {
        const double a = 2 * 3.14159265358979323846 * static_cast<double>(i) / static_cast<double>(n);
        m_brushPoints->SetPoint(i, w[0] + radiusMm * std::cos(a), w[1] + radiusMm * std::sin(a), 0.6);
    }
    m_brushPoints->Modified();
    m_brushActor->VisibilityOn();
}

bool SliceScene::brushCursorVisible() const { return m_brushActor->GetVisibility() != 0; }

void SliceScene::resetCamera() {
    if (!hasImage()) return;
    vtkCamera* cam = m_renderer->GetActiveCamera();
    cam->ParallelProjectionOn();
    const double cx = (m_axes.width - 1) * m_axes.hSpacing / 2.0;
    const double cy = (m_axes.height - 1) * m_axes.vSpacing / 2.0;
    cam->SetFocalPoint(cx, cy, 0);
    cam->SetPosition(cx, cy, 1000);
    cam->SetViewUp(0, 1, 0);
    // Fit the whole image whatever the viewport's aspect: parallel scale is half the visible height.
    const double halfH = m_axes.height * m_axes.vSpacing / 2.0;
    const double halfW = m_axes.width * m_axes.hSpacing / 2.0;
    double aspect = 1.0;
    if (const int* sz = m_renderer->GetSize(); sz && sz[0] > 0 && sz[1] > 0) aspect = double(sz[0]) / sz[1];
    cam->SetParallelScale(1.05 * std::max(halfH, halfW / aspect));
    m_renderer->ResetCameraClippingRange();
}

WindowLevel defaultWindowLevel(const imaging::Volume& volume, const std::string& modality, double presetCentre,
                               double presetWidth, bool hasPreset) {
    if (hasPreset && presetWidth > 0) return {presetCentre, presetWidth};
    if (modality == "CT") return {40, 400};
    // 1st–99th percentile of a subsample: robust to a few hot voxels.
    const auto& g = volume.geometry();
    std::vector<double> samples;
    const std::size_t n = g.voxelCount();
    const std::size_t step = std::max<std::size_t>(1, n / 200000);
    for (std::size_t i = 0; i < n; i += step) {
        const int x = static_cast<int>(i % g.size[0]);
        const int y = static_cast<int>((i / g.size[0]) % g.size[1]);
        const int z = static_cast<int>(i / (static_cast<std::size_t>(g.size[0]) * g.size[1]));
        samples.push_back(volume.valueAt(x, y, z));
    }
    if (samples.empty()) return {};
    std::sort(samples.begin(), samples.end());
    const double lo = samples[samples.size() / 100], hi = samples[samples.size() * 99 / 100];
    return {(lo + hi) / 2.0, std::max(1.0, hi - lo)};
}

} // namespace jumeau::viz
