#pragma once
// The workstation window: axial, coronal and sagittal slice views and the 3D view in a 2×2 grid, a linked
// crosshair, File menu, progress with Cancel, and a message banner for problems.

#include <QMainWindow>
#include <array>
#include <filesystem>

#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/LabelEditing.h"
#include "jumeau/simulation/MeshExport.h"
#include "viz/SliceScene.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QAction;
class QListWidget;
class QDoubleSpinBox;
class QActionGroup;

namespace jumeau::gui {

class CasePresenter;
class SliceView;
class StructurePanel;
class SegmentPanel;
class SurfaceView;
class RegistrationPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    void openPath(const std::filesystem::path& path);
    void openDemoCase(const std::filesystem::path& dir);
    // File → Import DICOM (the dialog); importSeries is what it calls with the user's choice.
    void importDicom();
    void importSeries(std::vector<imaging::SeriesInfo> series);
    // Shows series `index` of the case (0 = reference) in the slice views.
    void showSeries(std::size_t index);
    std::size_t shownSeries() const { return m_shownSeries; }
    QListWidget* seriesList() const { return m_seriesList; }
    StructurePanel* structurePanel() const { return m_structures; }
    SegmentPanel* segmentPanel() const { return m_segment; }
    // The Segment panel's tool on the selected structure (background job, one undoable step).
    void applySegmentTool();
    // Adds an empty structure ("Segment N") and selects it; undoable.
    void addNewStructure();
    QAction* undoAction() const { return m_undoAction; }
    QAction* redoAction() const { return m_redoAction; }
    QAction* paintAction() const { return m_paintAction; }
    QAction* eraseAction() const { return m_eraseAction; }
    QDoubleSpinBox* brushRadius() const { return m_brushRadius; }
    // Checked (the default): the brush paints over other structures, as a tumour drawn inside the liver must.
    QAction* overwriteAction() const { return m_overwriteAction; }
    // File → Import Segmentation File (.nrrd/.seg.nrrd/.nii.gz/.mha) or Mask Series Folder (IRCAD-style DICOM
    // masks, one series per structure): into the open case's segmentation, undoable.
    void importSegmentationDialog(bool folder);
    // File → Export Meshes (the dialog); exportMeshes is what it calls: meshing runs on the worker thread.
    void exportMeshesDialog();
    void exportMeshes(const std::filesystem::path& target, const simulation::MeshExportOptions& options);
    // Paints (or erases) a stroke of the active structure with the brush, as a stroke in `view` does; undoable.
    void paintStroke(viz::SliceOrientation view, const std::vector<geometry::Vec3>& pointsLps, bool erase);

    // --- Fusion and registration (the Registration dock).
    RegistrationPanel* registrationPanel() const { return m_registration; }
    // What a click in landmark mode does: places a landmark at this LPS point of the image shown in the slice views
    // (the reference, fused or not: a reference point of the dock's series; a series shown from the Series list: a
    // point of that series).
    void placeLandmark(const geometry::Vec3& lps);
    // Registers the dock's series with the dock's options (fromCurrent: starting from the transform shown now).
    void registerSelected(bool fromCurrent);
    // Moves / rotates the dock's series by hand (rotation about the crosshair), as the nudge buttons do.
    void nudgeSelected(const geometry::Vec3& translateMm, const geometry::Vec3& rotateDeg);

    CasePresenter& presenter() { return *m_presenter; }
    SliceView* sliceView(viz::SliceOrientation o) const { return m_slices[static_cast<int>(o)]; }
    SurfaceView* surfaceView() const { return m_surface; }
    QString bannerText() const;
    QString statusText() const;
    // Saves axial.png, coronal.png, sagittal.png, 3d.png, window.png and registration.png (the dock) into `dir`.
    bool saveSnapshots(const std::filesystem::path& dir, QString* error = nullptr);

signals:
    void caseShown();
    void loadFailed(const QString& message);
    void exportFinished(bool ok, const QString& message);

private:
    void showCase();
    void showProblem(const QString& message);
    void setCrosshair(const std::array<int, 3>& index);
    void setWindowLevel(const viz::WindowLevel& wl);
    void chooseFolder();
    void applyTool();
    void refreshLabels();
    void refreshSurfaces();
    void updateEditActions();
    imaging::EditableArea editableArea(const imaging::LabelMap& map) const;
    void refreshFusion();
    void refreshRegistrationPanel();
    void refreshMarkers();
    void selectedSeriesChanged();

    CasePresenter* m_presenter = nullptr;
    std::array<SliceView*, 3> m_slices{};
    SurfaceView* m_surface = nullptr;
    QLabel* m_banner = nullptr;
    QLabel* m_status = nullptr;
    QProgressBar* m_progress = nullptr;
    QPushButton* m_cancel = nullptr;
    QAction* m_openAction = nullptr;
    QAction* m_demoAction = nullptr;
    QAction* m_importAction = nullptr;
    QAction* m_exportAction = nullptr;
    QAction* m_importLabelsAction = nullptr;
    QAction* m_importMasksAction = nullptr;
    QListWidget* m_seriesList = nullptr;
    StructurePanel* m_structures = nullptr;
    SegmentPanel* m_segment = nullptr;
    QAction* m_undoAction = nullptr;
    QAction* m_redoAction = nullptr;
    QAction* m_paintAction = nullptr;
    QAction* m_eraseAction = nullptr;
    QDoubleSpinBox* m_brushRadius = nullptr;
    QAction* m_overwriteAction = nullptr;
    std::size_t m_shownSeries = 0;
    RegistrationPanel* m_registration = nullptr;
    std::size_t m_paddingSeries = 0; // the series whose minimum m_paddingValue holds (0: none yet)
    double m_paddingValue = 0;
};

} // namespace jumeau::gui
