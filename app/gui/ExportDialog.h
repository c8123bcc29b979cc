#pragma once
// File → Export Meshes: which structures, file format, frame (RAS for Slicer and most 3D tools, LPS as in DICOM),
// one file per structure or one combined scene, an optional triangle budget, and where to write.

#include <QDialog>
#include <filesystem>

#include "jumeau/imaging/LabelMap.h"
#include "jumeau/simulation/MeshExport.h"

class QListWidget;
class QComboBox;
class QCheckBox;
class QSpinBox;
class QLineEdit;

namespace jumeau::gui {

class ExportDialog : public QDialog {
    Q_OBJECT
public:
    ExportDialog(const imaging::LabelMap& labels, const std::filesystem::path& defaultFolder, QWidget* parent = nullptr);

    simulation::MeshExportOptions options() const;
    // A folder (one file per structure) or the scene file (combined).
    std::filesystem::path target() const;

    QListWidget* structureList() const { return m_structures; }
    QComboBox* formatBox() const { return m_format; }
    QComboBox* frameBox() const { return m_frame; }
    QCheckBox* combinedBox() const { return m_combined; }
    QLineEdit* targetEdit() const { return m_target; }

private:
    void formatChanged();
    void browse();

    QListWidget* m_structures = nullptr;
    QComboBox* m_format = nullptr;
    QComboBox* m_frame = nullptr;
    QCheckBox* m_combined = nullptr;
    QSpinBox* m_triangles = nullptr;
    QLineEdit* m_target = nullptr;
    std::filesystem::path m_folder;
};

} // namespace jumeau::gui
