#include "gui/StructurePanel.h"

#include <QHeaderView>
#include <QPainter>
#include <QPixmap>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
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
    m_shown.clear();
    if (labels && !labels->empty()) {
        m_shown = labels->structures();
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

void StructurePanel::updateStructures(const imaging::LabelMap* labels) {
    const bool sameTable = labels && !labels->empty() && labels->structures().size() == m_shown.size() &&
                           std::equal(m_shown.begin(), m_shown.end(), labels->structures().begin(),
                                      [](const imaging::Structure& a, const imaging::Structure& b) {
                                          return a.label == b.label && a.name == b.name && a.colour == b.colour;
                                      });
    if (!sameTable) {
        const auto hidden = hiddenLabels();
        const std::uint16_t active = activeLabel();
        std::vector<std::pair<std::uint16_t, double>> opacities;
        for (const auto& st : m_shown) opacities.emplace_back(st.label, opacityOf(st.label));
        setStructures(labels);
        for (auto label : hidden) setStructureVisible(label, false);
        for (const auto& [label, opacity] : opacities) setStructureOpacity(label, opacity);
        selectStructure(active);
        return;
    }
    const auto histogram = labels->histogram();
    const double voxelMl = labels->geometry().voxelVolumeMm3() / 1000.0;
    for (const auto& st : labels->structures()) {
        const int row = rowOf(st.label);
        if (row < 0) continue;
        const std::size_t count = st.label < histogram.size() ? histogram[st.label] : 0;
        auto* volume = m_table->item(row, VolumeColumn);
        volume->setText(QString::number(static_cast<double>(count) * voxelMl, 'f', 1));
        volume->setToolTip(QString("%1 voxels").arg(count));
    }
}

std::uint16_t StructurePanel::activeLabel() const {
    const auto rows = m_table->selectionModel()->selectedRows();
    if (!rows.isEmpty())
        return static_cast<std::uint16_t>(m_table->item(rows.front().row(), NameColumn)->data(LabelRole).toUInt());
    for (const auto& st : m_shown)
        if (st.category != imaging::StructureCategory::Body) return st.label;
    return m_shown.empty() ? 0 : m_shown.front().label;
}

void StructurePanel::selectStructure(std::uint16_t label) {
    const int row = rowOf(label);
    if (row >= 0) m_table->selectRow(row);
}

double StructurePanel::opacityOf(std::uint16_t label) const {
    const int row = rowOf(label);
    if (row < 0) return -1;
    const auto* spin = qobject_cast<const QSpinBox*>(m_table->cellWidget(row, OpacityColumn));
    return spin ? spin->value() / 100.0 : -1;
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
