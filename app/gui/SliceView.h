#pragma once
// A slice view: wheel scrolls slices, right-drag sets window/level, left-click/drag moves the crosshair — or, with
// the paint or erase tool, paints a stroke with a brush of a radius in mm (the cursor shows the brush), or with the
// landmark tool places a landmark where it is clicked.

#include <array>
#include <memory>
#include <vector>

#include "gui/VtkWidget.h"
#include "viz/SliceScene.h"

namespace jumeau::gui {

class SliceView : public VtkWidget {
    Q_OBJECT
public:
    explicit SliceView(viz::SliceOrientation orientation, QWidget* parent = nullptr);
    ~SliceView() override;

    viz::SliceScene& scene() { return *m_scene; }
    void showImage(const imaging::Volume& volume, const imaging::LabelMap* labels, const viz::WindowLevel& wl);
    void setCrosshair(const std::array<int, 3>& index);
    void setWindowLevel(const viz::WindowLevel& wl);

    enum class Tool { Navigate, Paint, Erase, Landmark };
    void setTool(Tool tool, double brushRadiusMm);
    Tool tool() const { return m_tool; }
    double brushRadiusMm() const { return m_brushRadiusMm; }

signals:
    void crosshairRequested(std::array<int, 3> index);
    // A finished paint/erase stroke: the LPS points (mm) under the mouse, on this view's slice.
    void strokeFinished(std::vector<jumeau::geometry::Vec3> pointsLps, bool erase);
    void windowLevelChanged(jumeau::viz::WindowLevel wl);
    // Landmark tool: a left click at this LPS point (mm) of the shown image, on the current slice.
    void landmarkClicked(jumeau::geometry::Vec3 lps);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void sizeChanged() override;
    void leaveEvent(QEvent* event) override;

private:
    void addStrokePoint(const QPointF& pos);
    void moveBrushCursor(const QPointF& pos);
    void pickAt(const QPointF& pos);
    std::unique_ptr<viz::SliceScene> m_scene;
    Qt::MouseButton m_dragButton = Qt::NoButton;
    QPointF m_lastPos;
    double m_wheelRemainder = 0;
    Tool m_tool = Tool::Navigate;
    double m_brushRadiusMm = 5;
    std::vector<geometry::Vec3> m_stroke;
};

} // namespace jumeau::gui
