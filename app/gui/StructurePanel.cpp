#include "gui/StructurePanel.h"

#include <QHeaderView>
#include <QPainter>
#include <QPixmap>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>

#include "viz/SurfaceScene.h"

namespace jumeau::gui {

namespace {

constexpr int LabelRole = Qt::UserRole + 1;

QIcon swatch(const std::array<double, 3>& rgb) {
    QPixmap pm(14, 14);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setPen(QColor(20, 20, 20));
    p.setBrush(QColor::fromRgbF(static_cast<float>(rgb[0]), static_cast<float>(rgb[1]), static_cast<float>(rgb[2])));
    p.drawRect(0, 0, 13, 13);
    return QIcon(pm);
}

QString categoryName(imaging::StructureCategory c) {
    switch (c) {
    case imaging::StructureCategory::Organ: return "organ";
    case imaging::StructureCategory::Tumour: return "tumour";
    case imaging::StructureCategory::Vessel: return "vessel";
    case imaging::StructureCategory::Bone: return "bone";
    case imaging::StructureCategory::Body: return "body";
    case imaging::StructureCategory::Other: return "other";
    }
    return "other";
}

} // namespace

StructurePanel::StructurePanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_table = new QTableWidget(0, ColumnCount, this);
    m_table->setObjectName("structureTable");
    m_table->setHorizontalHeaderLabels({"Structure", "ml", "3D"});
    m_table->horizontalHeaderItem(VolumeColumn)->setToolTip("Volume in millilitres (voxel count × voxel volume)");
    m_table->horizontalHeaderItem(OpacityColumn)->setToolTip("Opacity of the structure's surface in the 3D view");
    setMinimumWidth(280);
    m_table->verticalHeader()->hide();
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->horizontalHeader()->setSectionResizeMode(NameColumn, QHeaderView::Stretch);
    for (int c = VolumeColumn; c < ColumnCount; ++c)
        m_table->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    layout->addWidget(m_table);

    connect(m_table, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) {
        if (m_filling || item->column() != NameColumn) return;
        emit visibilityChanged(static_cast<std::uint16_t>(item->data(LabelRole).toUInt()),
                               item->checkState() == Qt::Checked);
    });
}

void StructurePanel::setStructures(const imaging::LabelMap* labels) {
    m_filling = true;
    m_table->setRowCount(0);
    if (labels && !labels->empty()) {
        const auto histogram = labels->histogram();
        const double voxelMl = labels->geometry().voxelVolumeMm3() / 1000.0;
        for (const auto& s : labels->structures()) {
            const int row = m_table->rowCount();
            m_table->insertRow(row);
            auto* name = new QTableWidgetItem(swatch(s.colour), QString::fromStdString(s.name));
            name->setData(LabelRole, static_cast<unsigned>(s.label));
            name->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsUserCheckable);
            name->setCheckState(Qt::Checked);
            name->setToolTip(QString("%1, label %2").arg(categoryName(s.category)).arg(s.label));
            m_table->setItem(row, NameColumn, name);
            const std::size_t count = s.label < histogram.size() ? histogram[s.label] : 0;
            auto* volume = new QTableWidgetItem(QString::number(static_cast<double>(count) * voxelMl, 'f', 1));
            volume->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            volume->setToolTip(QString("%1 voxels").arg(count));
            m_table->setItem(row, VolumeColumn, volume);
            auto* opacity = new QSpinBox(m_table);
            opacity->setRange(0, 100);
            opacity->setSingleStep(5);
            opacity->setSuffix(" %");
            opacity->setValue(static_cast<int>(std::lround(viz::SurfaceScene::defaultOpacity(s.category) * 100)));
            const std::uint16_t label = s.label;
            connect(opacity, &QSpinBox::valueChanged, this,
                    [this, label](int percent) { emit opacityChanged(label, percent / 100.0); });
            m_table->setCellWidget(row, OpacityColumn, opacity);
        }
    }
    m_filling = false;
}

int StructurePanel::rowOf(std::uint16_t label) const {
    for (int row = 0; row < m_table->rowCount(); ++row)
        if (m_table->item(row, NameColumn)->data(LabelRole).toUInt() == label) return row;
    return -1;
}

std::set<std::uint16_t> StructurePanel::hiddenLabels() const {
    std::set<std::uint16_t> hidden;
    for (int row = 0; row < m_table->rowCount(); ++row) {
        const auto* item = m_table->item(row, NameColumn);
        if (item->checkState() != Qt::Checked) hidden.insert(static_cast<std::uint16_t>(item->data(LabelRole).toUInt()));
    }
    return hidden;
}

void StructurePanel::setStructureVisible(std::uint16_t label, bool visible) {
    const int row = rowOf(label);
    if (row >= 0) m_table->item(row, NameColumn)->setCheckState(visible ? Qt::Checked : Qt::Unchecked);
}

void StructurePanel::setStructureOpacity(std::uint16_t label, double opacity) {
    const int row = rowOf(label);
    if (row < 0) return;
    if (auto* spin = qobject_cast<QSpinBox*>(m_table->cellWidget(row, OpacityColumn)))
        spin->setValue(static_cast<int>(std::lround(opacity * 100)));
}

} // namespace jumeau::gui
