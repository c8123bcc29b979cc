#include "gui/SurfaceView.h"

#include <QMouseEvent>
#include <QWheelEvent>
#include <cmath>

#include <vtkRenderWindow.h>
#include <vtkRenderer.h>

namespace jumeau::gui {

SurfaceView::SurfaceView(QWidget* parent) : VtkWidget(parent), m_scene(std::make_unique<viz::SurfaceScene>()) {
    renderWindow()->AddRenderer(m_scene->renderer());
    setObjectName("view3d");
}

SurfaceView::~SurfaceView() = default;

void SurfaceView::wheelEvent(QWheelEvent* event) {
    m_scene->zoom(std::pow(1.1, event->angleDelta().y() / 120.0));
    update();
    event->accept();
}

void SurfaceView::mousePressEvent(QMouseEvent* event) {
    m_rotating = event->button() == Qt::LeftButton;
    m_lastPos = event->position();
}

void SurfaceView::mouseMoveEvent(QMouseEvent* event) {
    if (!m_rotating) return;
    const QPointF d = event->position() - m_lastPos;
    m_lastPos = event->position();
    m_scene->rotate(-d.x() * 0.5, d.y() * 0.5);
    update();
}

void SurfaceView::mouseReleaseEvent(QMouseEvent*) { m_rotating = false; }

void SurfaceView::mouseDoubleClickEvent(QMouseEvent*) {
    m_scene->resetCamera();
    update();
}

} // namespace jumeau::gui
