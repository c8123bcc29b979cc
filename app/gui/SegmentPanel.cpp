#include "gui/SegmentPanel.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

#include "jumeau/imaging/LabelEditing.h"

namespace jumeau::gui {

namespace {
const imaging::ThresholdPreset kPresets[] = {imaging::ThresholdPreset::Bone,  imaging::ThresholdPreset::SoftTissue,
                                             imaging::ThresholdPreset::ContrastVessels, imaging::ThresholdPreset::Fat,
                                             imaging::ThresholdPreset::Lung,  imaging::ThresholdPreset::Air};
}

SegmentPanel::SegmentPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* form = new QFormLayout();
    m_op = new QComboBox(this);
    m_op->addItems({"Threshold", "Grow from crosshair", "Dilate", "Erode", "Open", "Close", "Margin → new structure",
                    "Fill holes", "Keep largest piece", "Fill between slices"});
    form->addRow("Tool", m_op);
    m_preset = new QComboBox(this);
    for (auto p : kPresets) m_preset->addItem(imaging::toString(p));
    m_preset->addItem("custom");
    form->addRow("HU preset", m_preset);
    auto* range = new QHBoxLayout();
    m_low = new QDoubleSpinBox(this);
    m_high = new QDoubleSpinBox(this);
    for (auto* s : {m_low, m_high}) {
        s->setRange(-1100, 4000);
        s->setDecimals(0);
        s->setSuffix(" HU");
        range->addWidget(s);
    }
    form->addRow("Range", range);
    m_mm = new QDoubleSpinBox(this);
    m_mm->setRange(0.5, 50);
    m_mm->setSingleStep(0.5);
    m_mm->setValue(3);
    m_mm->setSuffix(" mm");
    form->addRow("Distance", m_mm);
    layout->addLayout(form);
    m_hint = new QLabel(this);
    m_hint->setWordWrap(true);
    m_hint->setStyleSheet("QLabel { color: #555; }");
    layout->addWidget(m_hint);
    auto* buttons = new QHBoxLayout();
    m_newStructure = new QPushButton("New structure", this);
    m_apply = new QPushButton("Apply", this);
    m_apply->setDefault(true);
    buttons->addWidget(m_newStructure);
    buttons->addStretch(1);
    buttons->addWidget(m_apply);
    layout->addLayout(buttons);
    layout->addStretch(1);

    connect(m_op, &QComboBox::currentIndexChanged, this, &SegmentPanel::opChanged);
    connect(m_preset, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (i >= 0 && i < static_cast<int>(std::size(kPresets))) {
            const auto r = imaging::presetRange(kPresets[i]);
            setRange(r.low, r.high);
        }
    });
    connect(m_apply, &QPushButton::clicked, this, &SegmentPanel::applyRequested);
    connect(m_newStructure, &QPushButton::clicked, this, &SegmentPanel::newStructureRequested);
    const auto soft = imaging::presetRange(imaging::ThresholdPreset::SoftTissue);
    m_preset->setCurrentIndex(1);
    setRange(soft.low, soft.high);
    opChanged();
}

SegmentPanel::Op SegmentPanel::op() const { return static_cast<Op>(m_op->currentIndex()); }
void SegmentPanel::setOp(Op op) { m_op->setCurrentIndex(static_cast<int>(op)); }
double SegmentPanel::low() const { return m_low->value(); }
double SegmentPanel::high() const { return m_high->value(); }
double SegmentPanel::mm() const { return m_mm->value(); }
void SegmentPanel::setMm(double mm) { m_mm->setValue(mm); }
void SegmentPanel::setRange(double low, double high) {
    m_low->setValue(low);
    m_high->setValue(high);
}

void SegmentPanel::opChanged() {
    const Op o = op();
    const bool usesRange = o == Op::Threshold || o == Op::Grow;
    const bool usesMm = o == Op::Dilate || o == Op::Erode || o == Op::Open || o == Op::Close || o == Op::Margin;
    m_preset->setEnabled(usesRange);
    m_low->setEnabled(usesRange);
    m_high->setEnabled(usesRange);
    m_mm->setEnabled(usesMm);
    static const char* hints[] = {
        "The selected structure becomes every voxel of the reference image within the range.",
        "Grows the selected structure from the crosshair through voxels within the range (6-connected).",
        "Grows the selected structure by the distance (mm, exact on anisotropic voxels).",
        "Shrinks the selected structure by the distance.",
        "Erode then dilate: removes thin bridges and specks smaller than the distance.",
        "Dilate then erode: closes gaps and notches smaller than the distance.",
        "A new structure: the shell of the given width around the selected one (e.g. a safety margin).",
        "Fills cavities enclosed by the selected structure.",
        "Keeps only the largest connected piece of the selected structure.",
        "Interpolates the selected structure onto the empty axial slices between slices drawn by hand."};
    m_hint->setText(hints[static_cast<int>(o)]);
}

} // namespace jumeau::gui
