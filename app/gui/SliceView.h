#pragma once
// A slice view: wheel scrolls slices, right-drag sets window/level, left-click/drag moves the crosshair.

#include <array>
#include <memory>

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

signals:
    void crosshairRequested(std::array<int, 3> index);
    void windowLevelChanged(jumeau::viz::WindowLevel wl);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void sizeChanged() override;

private:
    void pickAt(const QPointF& pos);
    std::unique_ptr<viz::SliceScene> m_scene;
    Qt::MouseButton m_dragButton = Qt::NoButton;
    QPointF m_lastPos;
    double m_wheelRemainder = 0;
};

} // namespace jumeau::gui
