#pragma once
// The 3D view: left-drag rotates, wheel zooms, double-click resets to the anterior view.

#include <memory>

#include "gui/VtkWidget.h"
#include "viz/SurfaceScene.h"

namespace jumeau::gui {

class SurfaceView : public VtkWidget {
    Q_OBJECT
public:
    explicit SurfaceView(QWidget* parent = nullptr);
    ~SurfaceView() override;
    viz::SurfaceScene& scene() { return *m_scene; }

protected:
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;

private:
    std::unique_ptr<viz::SurfaceScene> m_scene;
    bool m_rotating = false;
    QPointF m_lastPos;
};

} // namespace jumeau::gui
