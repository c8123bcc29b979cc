#pragma once
// The segmentation tools that are not the brush: threshold (HU presets), region growing from the crosshair,
// dilate / erode / open / close and margins in mm, hole filling, keeping the largest piece, filling between drawn
// slices — applied to the structure selected in the Structures list, each as one undoable step run in the
// background. "New structure" adds an empty one to paint or threshold into.

#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QPushButton;
class QLabel;

namespace jumeau::gui {

class SegmentPanel : public QWidget {
    Q_OBJECT
public:
    enum class Op { Threshold, Grow, Dilate, Erode, Open, Close, Margin, FillHoles, KeepLargest, FillBetween };

    explicit SegmentPanel(QWidget* parent = nullptr);

    Op op() const;
    void setOp(Op op);
    double low() const;
    double high() const;
    double mm() const;
    void setMm(double mm);
    void setRange(double low, double high);
    QPushButton* applyButton() const { return m_apply; }
    QPushButton* newStructureButton() const { return m_newStructure; }

signals:
    void applyRequested();
    void newStructureRequested();

private:
    void opChanged();

    QComboBox* m_op = nullptr;
    QComboBox* m_preset = nullptr;
    QDoubleSpinBox* m_low = nullptr;
    QDoubleSpinBox* m_high = nullptr;
    QDoubleSpinBox* m_mm = nullptr;
    QLabel* m_hint = nullptr;
    QPushButton* m_apply = nullptr;
    QPushButton* m_newStructure = nullptr;
};

} // namespace jumeau::gui
