#include "gui/ExportDialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace jumeau::gui {

namespace {
constexpr int LabelRole = Qt::UserRole + 1;
enum FormatIndex { StlBinary = 0, StlAscii, Obj, Ply };
} // namespace

ExportDialog::ExportDialog(const imaging::LabelMap& labels, const std::filesystem::path& defaultFolder, QWidget* parent)
    : QDialog(parent), m_folder(defaultFolder) {
    setWindowTitle("Export Meshes");
    auto* layout = new QVBoxLayout(this);
    m_structures = new QListWidget(this);
    m_structures->setObjectName("exportStructures");
    for (const auto& s : labels.structures()) {
        auto* item = new QListWidgetItem(QString::fromStdString(s.name), m_structures);
        item->setData(LabelRole, static_cast<unsigned>(s.label));
        item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
        // The body outline would enclose everything else: off unless asked for.
        item->setCheckState(s.category == imaging::StructureCategory::Body ? Qt::Unchecked : Qt::Checked);
    }
    layout->addWidget(m_structures, 1);

    auto* form = new QFormLayout();
    m_format = new QComboBox(this);
    m_format->addItems({"STL (binary)", "STL (ASCII)", "OBJ", "PLY (with colours)"});
    form->addRow("Format", m_format);
    m_frame = new QComboBox(this);
    m_frame->addItem("RAS — Slicer and most 3D tools");
    m_frame->addItem("LPS — DICOM patient coordinates");
    form->addRow("Frame (mm)", m_frame);
    m_combined = new QCheckBox("One combined scene file", this);
    m_combined->setToolTip("OBJ (a group and material per structure) or PLY (vertex colours); STL has no groups");
    form->addRow("", m_combined);
    m_triangles = new QSpinBox(this);
    m_triangles->setRange(0, 10'000'000);
    m_triangles->setSingleStep(10'000);
    m_triangles->setSpecialValueText("full resolution");
    m_triangles->setSuffix(" triangles");
    form->addRow("Per structure", m_triangles);
    auto* targetRow = new QHBoxLayout();
    m_target = new QLineEdit(QString::fromStdString(defaultFolder.string()), this);
    auto* browseButton = new QPushButton("Browse…", this);
    targetRow->addWidget(m_target, 1);
    targetRow->addWidget(browseButton);
    form->addRow("Save to", targetRow);
    layout->addLayout(form);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText("Export");
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(browseButton, &QPushButton::clicked, this, &ExportDialog::browse);
    connect(m_format, &QComboBox::currentIndexChanged, this, &ExportDialog::formatChanged);
    connect(m_combined, &QCheckBox::toggled, this, &ExportDialog::formatChanged);
    formatChanged();
}

void ExportDialog::formatChanged() {
    const int f = m_format->currentIndex();
    const bool stl = f == StlBinary || f == StlAscii;
    if (stl) m_combined->setChecked(false);
    m_combined->setEnabled(!stl);
    // A combined scene is a file, the per-structure export a folder: keep the path in step with the choice.
    std::filesystem::path path = m_target->text().toStdString();
    const bool isFile = path.has_extension();
    if (m_combined->isChecked()) {
        const char* ext = f == Obj ? ".obj" : ".ply";
        path = (isFile ? path.parent_path() : path) / (std::string("scene") + ext);
    } else if (isFile) {
        path = path.parent_path();
    }
    m_target->setText(QString::fromStdString(path.string()));
}

void ExportDialog::browse() {
    QString chosen;
    if (m_combined->isChecked())
        chosen = QFileDialog::getSaveFileName(this, "Export Scene", m_target->text(), "Meshes (*.obj *.ply)");
    else
        chosen = QFileDialog::getExistingDirectory(this, "Export Meshes to Folder", m_target->text());
    if (!chosen.isEmpty()) m_target->setText(chosen);
}

simulation::MeshExportOptions ExportDialog::options() const {
    simulation::MeshExportOptions o;
    for (int row = 0; row < m_structures->count(); ++row) {
        const auto* item = m_structures->item(row);
        if (item->checkState() == Qt::Checked)
            o.labels.push_back(static_cast<std::uint16_t>(item->data(LabelRole).toUInt()));
    }
    switch (m_format->currentIndex()) {
    case StlAscii: o.binary = false; break;
    case Obj: o.format = geometry::MeshFormat::Obj; break;
    case Ply: o.format = geometry::MeshFormat::Ply; break;
    default: break;
    }
    o.frame = m_frame->currentIndex() == 0 ? geometry::Frame::RAS : geometry::Frame::LPS;
    o.combined = m_combined->isChecked();
    o.targetTriangles = static_cast<std::size_t>(m_triangles->value());
    return o;
}

std::filesystem::path ExportDialog::target() const { return m_target->text().toStdString(); }

} // namespace jumeau::gui
