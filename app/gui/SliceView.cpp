#include "gui/SliceView.h"

#include <QMouseEvent>
#include <QWheelEvent>

#include <vtkRenderWindow.h>
#include <vtkRenderer.h>

namespace jumeau::gui {

SliceView::SliceView(viz::SliceOrientation orientation, QWidget* parent)
    : VtkWidget(parent), m_scene(std::make_unique<viz::SliceScene>(orientation)) {
    renderWindow()->AddRenderer(m_scene->renderer());
    setObjectName(QString("%1View").arg(viz::toString(orientation)).toLower());
}

SliceView::~SliceView() = default;

void SliceView::showImage(const imaging::Volume& volume, const imaging::LabelMap* labels, const viz::WindowLevel& wl) {
    m_scene->setWindowLevel(wl);
    m_scene->setImage(volume, labels);
    m_scene->resetCamera();
    update();
}

void SliceView::setCrosshair(const std::array<int, 3>& index) {
    m_scene->setCrosshair(index);
    update();
}

void SliceView::setWindowLevel(const viz::WindowLevel& wl) {
    m_scene->setWindowLevel(wl);
    update();
}

void SliceView::sizeChanged() { m_scene->resetCamera(); }

void SliceView::wheelEvent(QWheelEvent* event) {
    if (!m_scene->hasImage()) return;
    // 120 units per notch; touchpads send smaller steps, accumulated here.
    m_wheelRemainder += event->angleDelta().y() / 120.0;
    const int steps = static_cast<int>(m_wheelRemainder);
    m_wheelRemainder -= steps;
    if (steps == 0) return;
    auto idx = m_scene->crosshair();
    idx[m_scene->axes().sliceAxis] += steps;
    emit crosshairRequested(idx);
    event->accept();
}

void SliceView::setTool(Tool tool, double brushRadiusMm) {
    m_tool = tool;
    m_brushRadiusMm = brushRadiusMm;
    m_stroke.clear();
    const bool brush = tool == Tool::Paint || tool == Tool::Erase;
    setMouseTracking(brush); // the brush cursor follows the mouse without a button held
    if (!brush) m_scene->setBrushCursor(std::nullopt, 0);
    setCursor(tool == Tool::Landmark ? Qt::CrossCursor : Qt::ArrowCursor);
    update();
}

void SliceView::moveBrushCursor(const QPointF& pos) {
    if (m_tool != Tool::Paint && m_tool != Tool::Erase) return;
    const QPoint d = toDisplay(pos);
    m_scene->setBrushCursor(std::array<int, 2>{d.x(), d.y()}, m_brushRadiusMm);
    update();
}

void SliceView::addStrokePoint(const QPointF& pos) {
    const QPoint d = toDisplay(pos);
    if (auto p = m_scene->pickLps(d.x(), d.y())) m_stroke.push_back(*p);
}

void SliceView::leaveEvent(QEvent* event) {
    m_scene->setBrushCursor(std::nullopt, 0);
    update();
    VtkWidget::leaveEvent(event);
}

void SliceView::mousePressEvent(QMouseEvent* event) {
    m_dragButton = event->button();
    m_lastPos = event->position();
    if (m_dragButton == Qt::LeftButton && m_tool == Tool::Landmark) {
        const QPoint d = toDisplay(event->position());
        if (auto p = m_scene->pickLpsExact(d.x(), d.y())) emit landmarkClicked(*p);
        m_dragButton = Qt::NoButton; // one click, one landmark: no drag
    } else if (m_dragButton == Qt::LeftButton && m_tool != Tool::Navigate) {
        m_stroke.clear();
        addStrokePoint(event->position());
        moveBrushCursor(event->position());
    } else if (m_dragButton == Qt::LeftButton) {
        pickAt(event->position());
    }
}

void SliceView::mouseMoveEvent(QMouseEvent* event) {
    const QPointF d = event->position() - m_lastPos;
    m_lastPos = event->position();
    moveBrushCursor(event->position());
    if (m_dragButton == Qt::LeftButton && m_tool != Tool::Navigate) {
        addStrokePoint(event->position());
    } else if (m_dragButton == Qt::LeftButton) {
        pickAt(event->position());
    } else if (m_dragButton == Qt::RightButton && m_scene->hasImage()) {
        // Horizontal drag widens the window, vertical drag moves the level (down = brighter tissue shown darker).
        viz::WindowLevel wl = m_scene->windowLevel();
        const double k = std::max(1.0, wl.width / 200.0);
        wl.width = std::max(1.0, wl.width + d.x() * k);
        wl.centre += d.y() * k;
        emit windowLevelChanged(wl);
    }
}

void SliceView::mouseReleaseEvent(QMouseEvent* event) {
    if (m_dragButton == Qt::LeftButton && event->button() == Qt::LeftButton && m_tool != Tool::Navigate) {
        addStrokePoint(event->position());
        auto stroke = std::move(m_stroke);
        m_stroke.clear();
        if (!stroke.empty()) emit strokeFinished(std::move(stroke), m_tool == Tool::Erase);
    }
    m_dragButton = Qt::NoButton;
}

void SliceView::pickAt(const QPointF& pos) {
    const QPoint d = toDisplay(pos);
    if (auto idx = m_scene->pick(d.x(), d.y())) emit crosshairRequested(*idx);
}

} // namespace jumeau::gui
