#pragma once
// A native child QWidget that a vtkRenderWindow draws into (X11 window id + display), without VTK's Qt 5
// module. Qt paints nothing here; VTK renders on paint and resize.

#include <QWidget>
#include <vtkSmartPointer.h>

class vtkRenderWindow;

namespace jumeau::gui {

class VtkWidget : public QWidget {
    Q_OBJECT
public:
    explicit VtkWidget(QWidget* parent = nullptr);
    ~VtkWidget() override;

    vtkRenderWindow* renderWindow() const;
    // Renders now (used by snapshots and after scene changes).
    void renderNow();
    QPaintEngine* paintEngine() const override { return nullptr; }

protected:
    void paintEvent(QPaintEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    // Display coordinates for VTK (device pixels, origin bottom-left) of a widget position.
    QPoint toDisplay(const QPointF& widgetPos) const;
    virtual void sizeChanged() {}

private:
    bool ensureInitialized();
    vtkSmartPointer<vtkRenderWindow> m_window;
    bool m_initialized = false;
};

} // namespace jumeau::gui
