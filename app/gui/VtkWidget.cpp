#include "gui/VtkWidget.h"

#include <QGuiApplication>
#include <QResizeEvent>
#include <QtGui/qguiapplication_platform.h>

#include <vtkRenderWindow.h>
#include <vtkRendererCollection.h>

namespace jumeau::gui {

VtkWidget::VtkWidget(QWidget* parent) : QWidget(parent) {
    // A window of its own for OpenGL; Qt must neither paint nor clear it.
    setAttribute(Qt::WA_NativeWindow);
    setAttribute(Qt::WA_PaintOnScreen);
    setAttribute(Qt::WA_NoSystemBackground);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setAutoFillBackground(false);
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(false);
    setMinimumSize(200, 160);
    m_window = vtkSmartPointer<vtkRenderWindow>::New();
    m_window->SetMultiSamples(0);
    m_window->SetAlphaBitPlanes(1); // depth peeling for see-through organs
}

VtkWidget::~VtkWidget() {
    // Release the GL context while the native window still exists.
    if (m_initialized) m_window->Finalize();
}

vtkRenderWindow* VtkWidget::renderWindow() const { return m_window; }

bool VtkWidget::ensureInitialized() {
    if (m_initialized) return true;
    if (!isVisible() || width() <= 0 || height() <= 0) return false;
    auto* x11 = qGuiApp->nativeInterface<QNativeInterface::QX11Application>();
    if (!x11) {
        qWarning("Jumeau needs the X11 (xcb) Qt platform for its VTK views; run under X11 or Xvfb");
        return false;
    }
    m_window->SetDisplayId(x11->display());
    m_window->SetWindowId(reinterpret_cast<void*>(winId()));
    const qreal dpr = devicePixelRatioF();
    m_window->SetSize(static_cast<int>(width() * dpr), static_cast<int>(height() * dpr));
    m_initialized = true;
    return true;
}

void VtkWidget::renderNow() {
    if (!ensureInitialized()) return;
    m_window->Render();
}

void VtkWidget::paintEvent(QPaintEvent*) { renderNow(); }

void VtkWidget::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    if (m_initialized) {
        const qreal dpr = devicePixelRatioF();
        m_window->SetSize(static_cast<int>(width() * dpr), static_cast<int>(height() * dpr));
    }
    sizeChanged();
    update();
}

QPoint VtkWidget::toDisplay(const QPointF& p) const {
    const qreal dpr = devicePixelRatioF();
    return {static_cast<int>(p.x() * dpr), static_cast<int>((height() - p.y()) * dpr) - 1};
}

} // namespace jumeau::gui
