#include "gui/MainWindow.h"

#include <QActionGroup>
#include <QApplication>
#include <QDoubleSpinBox>
#include <QToolBar>
#include <QDir>
#include <QDockWidget>
#include <QListWidget>
#include <QFileDialog>
#include <QGridLayout>
#include <QLabel>
#include <QMenuBar>
#include <QProgressBar>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QStatusBar>
#include <QVBoxLayout>
#include <cstdio>

#include "gui/CasePresenter.h"
#include "gui/ExportDialog.h"
#include "gui/ImportDialog.h"
#include "gui/RegistrationPanel.h"
#include "gui/SliceView.h"
#include "gui/SegmentPanel.h"
#include "gui/StructurePanel.h"
#include "gui/SurfaceView.h"
#include "jumeau/imaging/LabelEditing.h"
#include "viz/Snapshot.h"

namespace jumeau::gui {

namespace {
// The centroid (voxel index) of the largest organ, so the first view goes through it; else the grid centre.
std::array<int, 3> initialCrosshair(const LoadedCase& c) {
    const auto& g = c.data.reference.volume.geometry();
    std::array<int, 3> centre{g.size[0] / 2, g.size[1] / 2, g.size[2] / 2};
    if (!c.data.labels) return centre;
    const auto& labels = *c.data.labels;
    const imaging::Structure* organ = nullptr;
    std::size_t best = 0;
    const auto histogram = labels.histogram();
    for (const auto& s : labels.structures())
        if (s.category == imaging::StructureCategory::Organ && histogram[s.label] > best) {
            best = histogram[s.label];
            organ = &s;
        }
    if (!organ) return centre;
    double sum[3] = {0, 0, 0};
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                if (labels.labelAt(i, j, k) == organ->label) { sum[0] += i; sum[1] += j; sum[2] += k; }
    return {static_cast<int>(sum[0] / best), static_cast<int>(sum[1] / best), static_cast<int>(sum[2] / best)};
}
} // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), m_presenter(new CasePresenter(this)) {
    setWindowTitle("Jumeau");
    resize(1280, 900);

    auto* central = new QWidget(this);
    auto* outer = new QVBoxLayout(central);
    outer->setContentsMargins(2, 2, 2, 2);
    m_banner = new QLabel(central);
    m_banner->setObjectName("banner");
    m_banner->setWordWrap(true);
    m_banner->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_banner->setStyleSheet("QLabel { background: #5a1d1d; color: #ffecec; padding: 8px; font-weight: bold; }");
    m_banner->hide();
    outer->addWidget(m_banner);

    auto* grid = new QGridLayout();
    grid->setSpacing(2);
    m_slices[0] = new SliceView(viz::SliceOrientation::Axial, central);
    m_slices[1] = new SliceView(viz::SliceOrientation::Coronal, central);
    m_slices[2] = new SliceView(viz::SliceOrientation::Sagittal, central);
    m_surface = new SurfaceView(central);
    grid->addWidget(m_slices[0], 0, 0);
    grid->addWidget(m_surface, 0, 1);
    grid->addWidget(m_slices[1], 1, 0);
    grid->addWidget(m_slices[2], 1, 1);
    outer->addLayout(grid, 1);
    setCentralWidget(central);

    for (auto* v : m_slices) {
        connect(v, &SliceView::strokeFinished, this, [this, v](std::vector<geometry::Vec3> points, bool erase) {
            paintStroke(v->scene().orientation(), points, erase);
        });
        connect(v, &SliceView::crosshairRequested, this, &MainWindow::setCrosshair);
        connect(v, &SliceView::windowLevelChanged, this, &MainWindow::setWindowLevel);
        connect(v, &SliceView::landmarkClicked, this, &MainWindow::placeLandmark);
    }

    auto* file = menuBar()->addMenu("&File");
    m_openAction = file->addAction("&Open DICOM Folder…", QKeySequence::Open, this, &MainWindow::chooseFolder);
    m_importAction = file->addAction("&Import DICOM…", QKeySequence(Qt::CTRL | Qt::Key_I), this, &MainWindow::importDicom);
    m_importLabelsAction = file->addAction("Import &Segmentation File…", this, [this] { importSegmentationDialog(false); });
    m_importMasksAction = file->addAction("Import &Mask Series Folder…", this, [this] { importSegmentationDialog(true); });
    m_exportAction = file->addAction("&Export Meshes…", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E), this,
                                     &MainWindow::exportMeshesDialog);
    m_demoAction = file->addAction("Open &Demo Case", this, [this] { openDemoCase(CasePresenter::defaultDemoCaseDir()); });
    file->addSeparator();
    file->addAction("&Quit", QKeySequence::Quit, qApp, &QApplication::quit);
    auto* edit = menuBar()->addMenu("&Edit");
    m_undoAction = edit->addAction("&Undo", QKeySequence::Undo, this, [this] {
        if (auto r = m_presenter->undo(); !r) m_status->setText(QString::fromStdString(r.error().message));
    });
    m_redoAction = edit->addAction("&Redo", QKeySequence::Redo, this, [this] {
        if (auto r = m_presenter->redo(); !r) m_status->setText(QString::fromStdString(r.error().message));
    });
    updateEditActions();

    // Segmentation tools: paint / erase the active structure (selected in the Structures list) with a brush whose
    // radius is in millimetres, in whichever slice view the stroke is drawn.
    auto* tools = addToolBar("Tools");
    tools->setObjectName("toolsBar");
    auto* toolGroup = new QActionGroup(this);
    toolGroup->setExclusionPolicy(QActionGroup::ExclusionPolicy::ExclusiveOptional);
    m_paintAction = tools->addAction("Paint");
    m_paintAction->setCheckable(true);
    m_paintAction->setShortcut(QKeySequence(Qt::Key_B));
    m_paintAction->setToolTip("Paint the selected structure with a brush (B); undo with Ctrl+Z");
    m_eraseAction = tools->addAction("Erase");
    m_eraseAction->setCheckable(true);
    m_eraseAction->setShortcut(QKeySequence(Qt::Key_E));
    m_eraseAction->setToolTip("Erase the selected structure with the brush (E)");
    toolGroup->addAction(m_paintAction);
    toolGroup->addAction(m_eraseAction);
    tools->addWidget(new QLabel(" Brush radius ", tools));
    m_brushRadius = new QDoubleSpinBox(tools);
    m_brushRadius->setRange(0.5, 50);
    m_brushRadius->setSingleStep(0.5);
    m_brushRadius->setValue(5);
    m_brushRadius->setSuffix(" mm");
    tools->addWidget(m_brushRadius);
    m_overwriteAction = tools->addAction("Overwrite others");
    m_overwriteAction->setCheckable(true);
    m_overwriteAction->setChecked(true);
    m_overwriteAction->setToolTip("Checked: the brush paints over other structures (a tumour inside the liver). "
                                  "Unchecked: it only paints background and the body outline.");
    connect(toolGroup, &QActionGroup::triggered, this, [this] { applyTool(); });
    connect(m_brushRadius, &QDoubleSpinBox::valueChanged, this, [this] { applyTool(); });

    auto* view = menuBar()->addMenu("&View");
    view->addAction("&Reset Views", this, [this] {
        for (auto* v : m_slices) { v->scene().resetCamera(); v->update(); }
        m_surface->scene().resetCamera();
        m_surface->update();
    });

    // The case's series: double-click shows one in the slice views (the reference carries the segmentation).
    auto* dock = new QDockWidget("Series", this);
    dock->setObjectName("seriesDock");
    dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    m_seriesList = new QListWidget(dock);
    m_seriesList->setMinimumWidth(280);
    m_seriesList->setWordWrap(true);
    dock->setWidget(m_seriesList);
    addDockWidget(Qt::LeftDockWidgetArea, dock);
    connect(m_seriesList, &QListWidget::itemDoubleClicked, this, [this](QListWidgetItem* item) {
        showSeries(static_cast<std::size_t>(m_seriesList->row(item)));
    });

    // The segmentation's structures: visibility (slices and 3D) and 3D opacity.
    auto* structureDock = new QDockWidget("Structures", this);
    structureDock->setObjectName("structureDock");
    structureDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    m_structures = new StructurePanel(structureDock);
    structureDock->setWidget(m_structures);
    addDockWidget(Qt::LeftDockWidgetArea, structureDock);
    auto* segmentDock = new QDockWidget("Segment", this);
    segmentDock->setObjectName("segmentDock");
    segmentDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    m_segment = new SegmentPanel(segmentDock);
    segmentDock->setWidget(m_segment);
    addDockWidget(Qt::LeftDockWidgetArea, segmentDock);
    connect(m_segment, &SegmentPanel::applyRequested, this, &MainWindow::applySegmentTool);
    connect(m_segment, &SegmentPanel::newStructureRequested, this, &MainWindow::addNewStructure);
    connect(m_structures, &StructurePanel::visibilityChanged, this, [this](std::uint16_t label, bool visible) {
        const auto hidden = m_structures->hiddenLabels();
        for (auto* v : m_slices) {
            v->scene().setHiddenLabels(hidden);
            v->update();
        }
        m_surface->scene().setStructureVisible(label, visible);
        m_surface->update();
    });
    connect(m_structures, &StructurePanel::opacityChanged, this, [this](std::uint16_t label, double opacity) {
        m_surface->scene().setStructureOpacity(label, opacity);
        m_surface->update();
    });

    // Fusion and registration of the other series onto the reference, beside the views.
    auto* registrationDock = new QDockWidget("Registration", this);
    registrationDock->setObjectName("registrationDock");
    registrationDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    auto* registrationScroll = new QScrollArea(registrationDock);
    registrationScroll->setWidgetResizable(true);
    registrationScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_registration = new RegistrationPanel(registrationScroll);
    registrationScroll->setWidget(m_registration);
    registrationScroll->setMinimumWidth(360);
    registrationDock->setWidget(registrationScroll);
    addDockWidget(Qt::RightDockWidgetArea, registrationDock);
    connect(m_registration, &RegistrationPanel::seriesChanged, this, &MainWindow::selectedSeriesChanged);
    connect(m_registration, &RegistrationPanel::fusionChanged, this, [this] {
        // Fusion is drawn over the reference: turning it on while another series is shown goes back to it.
        if (m_registration->fusionOn() && m_shownSeries != 0) showSeries(0);
        else refreshFusion();
        refreshMarkers();
    });
    connect(m_registration, &RegistrationPanel::registerRequested, this, &MainWindow::registerSelected);
    connect(m_registration, &RegistrationPanel::resetRequested, this, [this] {
        if (auto r = m_presenter->resetRegistration(m_registration->currentSeries()); !r)
            m_status->setText(QString::fromStdString(r.error().message));
        else
            m_status->setText("Back to the scanner coordinates (Undo restores the registration)");
    });
    connect(m_registration, &RegistrationPanel::nudgeRequested, this, &MainWindow::nudgeSelected);
    connect(m_registration, &RegistrationPanel::landmarkModeToggled, this, [this](bool on) {
        if (on) {
            m_paintAction->setChecked(false);
            m_eraseAction->setChecked(false);
            m_status->setText("Landmarks: click the same point in the reference and in the series (show it from the "
                              "Series list)");
        }
        applyTool();
    });
    connect(m_registration, &RegistrationPanel::deleteLandmarkRequested, this, [this](int row) {
        m_presenter->removeLandmark(m_registration->currentSeries(), static_cast<std::size_t>(row));
    });
    connect(m_presenter, &CasePresenter::registrationChanged, this, [this] {
        refreshFusion();
        refreshRegistrationPanel();
        refreshMarkers();
        updateEditActions();
    });
    connect(m_presenter, &CasePresenter::landmarksChanged, this, [this] {
        refreshRegistrationPanel();
        refreshMarkers();
    });
    connect(m_presenter, &CasePresenter::busyChanged, m_registration, &RegistrationPanel::setBusy);

    m_status = new QLabel("Ready", this);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setMaximumWidth(260);
    m_progress->hide();
    m_cancel = new QPushButton("Cancel", this);
    m_cancel->hide();
    statusBar()->addWidget(m_status, 1);
    statusBar()->addPermanentWidget(m_progress);
    statusBar()->addPermanentWidget(m_cancel);
    connect(m_cancel, &QPushButton::clicked, m_presenter, &CasePresenter::cancel);

    connect(m_presenter, &CasePresenter::progress, this, [this](double f, const QString& msg) {
        m_progress->setValue(static_cast<int>(f * 1000));
        if (!msg.isEmpty()) m_status->setText(msg);
    });
    connect(m_presenter, &CasePresenter::busyChanged, this, [this](bool busy) {
        m_progress->setVisible(busy);
        m_cancel->setVisible(busy);
        m_openAction->setEnabled(!busy);
        m_demoAction->setEnabled(!busy);
        m_importAction->setEnabled(!busy);
        m_exportAction->setEnabled(!busy);
        m_importLabelsAction->setEnabled(!busy);
        m_importMasksAction->setEnabled(!busy);
        if (busy) m_progress->setValue(0);
    });
    connect(m_presenter, &CasePresenter::caseLoaded, this, &MainWindow::showCase);
    connect(m_presenter, &CasePresenter::labelsChanged, this, &MainWindow::refreshLabels);
    connect(m_presenter, &CasePresenter::taskFinished, this, [this](const QString& summary) {
        m_status->setText(summary);
        std::fprintf(stderr, "jumeau: %s\n", summary.toLocal8Bit().constData());
        emit exportFinished(true, summary); // (also the end of an import: one "task finished" signal)
    });
    connect(m_presenter, &CasePresenter::taskFailed, this, [this](const QString& message) {
        m_banner->setText("Failed: " + message);
        m_banner->show();
        m_status->setText("Failed");
        std::fprintf(stderr, "jumeau: failed: %s\n", message.toLocal8Bit().constData());
        emit exportFinished(false, message);
    });
    connect(m_presenter, &CasePresenter::taskCancelled, this, [this](const QString& message) {
        m_status->setText(message);
        emit exportFinished(false, message);
    });
    connect(m_presenter, &CasePresenter::surfacesChanged, this, &MainWindow::refreshSurfaces);
    connect(m_presenter, &CasePresenter::busyChanged, this, [this] { updateEditActions(); });
    connect(m_presenter, &CasePresenter::failed, this, [this](const QString& msg) {
        showProblem(msg);
        emit loadFailed(msg);
    });
}

MainWindow::~MainWindow() = default;

void MainWindow::openPath(const std::filesystem::path& path) {
    m_banner->hide();
    m_status->setText(QString("Opening %1 …").arg(QString::fromStdString(path.string())));
    m_presenter->open(path);
}

void MainWindow::openDemoCase(const std::filesystem::path& dir) {
    m_banner->hide();
    m_status->setText("Opening the demo case …");
    m_presenter->openDemoCase(dir);
}

void MainWindow::chooseFolder() {
    const QString dir = QFileDialog::getExistingDirectory(this, "Open DICOM Folder");
    if (!dir.isEmpty()) openPath(dir.toStdString());
}

QString MainWindow::bannerText() const { return m_banner->text(); }
QString MainWindow::statusText() const { return m_status->text(); }

void MainWindow::showProblem(const QString& message) {
    m_banner->setText("Could not open: " + message);
    m_banner->show();
    m_status->setText("Nothing opened");
    std::fprintf(stderr, "jumeau: %s\n", message.toLocal8Bit().constData());
}

void MainWindow::showCase() {
    const LoadedCase* c = m_presenter->current();
    if (!c) return;
    m_seriesList->clear();
    for (std::size_t i = 0; i < c->data.seriesCount(); ++i) {
        const auto& s = c->data.series(i);
        const auto& size = s.volume.geometry().size;
        QString label = QString("%1  %2\n%3×%4×%5")
                            .arg(QString::fromStdString(s.info.modality),
                                 QString::fromStdString(s.info.seriesDescription.empty() ? "(series)" : s.info.seriesDescription))
                            .arg(size[0])
                            .arg(size[1])
                            .arg(size[2]);
        if (i == 0) label += "  ★ reference";
        auto* item = new QListWidgetItem(label, m_seriesList);
        item->setToolTip(QString::fromStdString(s.info.seriesUid));
    }
    std::vector<std::pair<std::size_t, QString>> others;
    for (std::size_t i = 1; i < c->data.seriesCount(); ++i) {
        const auto& s = c->data.series(i);
        others.emplace_back(i, QString("%1: %2").arg(i).arg(QString::fromStdString(seriesDisplayName(s))));
    }
    m_paddingSeries = 0; // another case or more series: the minimum is computed again
    m_registration->setSeries(others);
    showSeries(0); // after opening or importing, the views show the reference (with its segmentation)
    setCrosshair(initialCrosshair(*c));
    m_surface->scene().setSurfaces(c->surfaces);
    m_surface->update();
    m_structures->setStructures(c->data.labels ? &*c->data.labels : nullptr);
    updateEditActions();
    for (auto* v : m_slices) v->scene().setHiddenLabels({});
    setWindowTitle(QString("Jumeau — %1").arg(QString::fromStdString(c->data.name)));
    const auto& ref = c->data.reference;
    const imaging::LabelMap* labels = c->data.labels ? &*c->data.labels : nullptr;
    QString status = QString("%1 %2 — %3").arg(QString::fromStdString(ref.info.modality),
                                               QString::fromStdString(ref.volume.geometry().describe()),
                                               labels ? QString("%1 structures").arg(labels->structures().size()) : "no segmentation");
    if (c->data.seriesCount() > 1) status += QString(" — %1 series").arg(c->data.seriesCount());
    if (!c->data.warnings.empty()) {
        status += QString(" — %1 warning(s)").arg(c->data.warnings.size());
        for (const auto& w : c->data.warnings) std::fprintf(stderr, "jumeau: warning: %s\n", w.c_str());
    }
    m_status->setText(status);
    emit caseShown();
}

void MainWindow::showSeries(std::size_t index) {
    const LoadedCase* c = m_presenter->current();
    if (!c || index >= c->data.seriesCount()) return;
    const auto& s = c->data.series(index);
    // The label map lives on the reference grid; another series shows it only if it shares that grid exactly.
    const imaging::LabelMap* labels = nullptr;
    if (c->data.labels && c->data.labels->geometry().sameGrid(s.volume.geometry())) labels = &*c->data.labels;
    const bool hasPreset = !s.info.windowPresets.empty();
    const auto wl = viz::defaultWindowLevel(s.volume, s.info.modality, hasPreset ? s.info.windowPresets[0].centre : 0,
                                            hasPreset ? s.info.windowPresets[0].width : 0, hasPreset);
    for (auto* v : m_slices) v->showImage(s.volume, labels, wl);
    m_shownSeries = index;
    // A series shown on its own is where landmark clicks go, so the dock follows it.
    if (index != 0) m_registration->selectSeries(index);
    refreshFusion();
    refreshMarkers();
    for (int row = 0; row < m_seriesList->count(); ++row) {
        QFont f = m_seriesList->item(row)->font();
        f.setBold(static_cast<std::size_t>(row) == index);
        m_seriesList->item(row)->setFont(f);
    }
    if (index != 0) {
        const auto& size = s.volume.geometry().size;
        setCrosshair({size[0] / 2, size[1] / 2, size[2] / 2});
    }
}

void MainWindow::importDicom() {
    ImportDialog dialog(this);
    if (dialog.exec() != QDialog::Accepted) return;
    importSeries(dialog.selectedSeries());
}

void MainWindow::importSeries(std::vector<imaging::SeriesInfo> series) {
    if (series.empty()) return;
    m_banner->hide();
    m_status->setText(QString("Loading %1 series …").arg(series.size()));
    m_presenter->importSeries(std::move(series));
}

void MainWindow::importSegmentationDialog(bool folder) {
    if (!m_presenter->current()) {
        m_status->setText("Open the images first, then import their segmentation");
        return;
    }
    const QString chosen =
        folder ? QFileDialog::getExistingDirectory(this, "Import Mask Series (a folder of DICOM masks, one per structure)")
               : QFileDialog::getOpenFileName(this, "Import Segmentation", QString(),
                                              "Label maps (*.nrrd *.nhdr *.nii *.nii.gz *.mha *.mhd);;All files (*)");
    if (chosen.isEmpty()) return;
    m_banner->hide();
    m_presenter->importLabels(chosen.toStdString());
}

void MainWindow::exportMeshesDialog() {
    const LoadedCase* c = m_presenter->current();
    if (!c || !c->data.labels) {
        m_status->setText("Nothing to export: the case has no segmentation");
        return;
    }
    const auto folder = std::filesystem::path(QDir::homePath().toStdString()) / "jumeau-meshes";
    ExportDialog dialog(*c->data.labels, folder, this);
    if (dialog.exec() != QDialog::Accepted) return;
    exportMeshes(dialog.target(), dialog.options());
}

void MainWindow::exportMeshes(const std::filesystem::path& target, const simulation::MeshExportOptions& options) {
    const LoadedCase* c = m_presenter->current();
    if (!c || !c->data.labels) return;
    if (options.labels.empty()) {
        m_status->setText("Choose at least one structure to export");
        return;
    }
    m_banner->hide();
    const imaging::LabelMap labels = *c->data.labels; // shares the voxels; edits make new maps
    m_presenter->runTask([labels, target, options](const ProgressFn& progress) -> Result<std::string> {
        auto report = simulation::exportMeshes(labels, target, options, progress);
        if (!report) return report.error();
        std::string summary = "Exported " + std::to_string(report->meshes.size()) + " mesh(es) (" +
                              geometry::toString(options.frame) + " mm) to " + target.string();
        std::size_t triangles = 0;
        for (const auto& m : report->meshes) triangles += m.report.triangles;
        summary += ", " + std::to_string(triangles) + " triangles";
        if (report->invalidCount() > 0)
            summary += " — " + std::to_string(report->invalidCount()) + " not valid: " + report->warnings.front();
        else
            summary += ", every mesh closed, manifold and free of self-intersections";
        return summary;
    });
}

void MainWindow::applyTool() {
    if (m_paintAction->isChecked() || m_eraseAction->isChecked()) {
        const QSignalBlocker block(m_registration);
        m_registration->setLandmarkMode(false);
    }
    const auto tool = m_paintAction->isChecked()      ? SliceView::Tool::Paint
                      : m_eraseAction->isChecked()    ? SliceView::Tool::Erase
                      : m_registration->landmarkMode() ? SliceView::Tool::Landmark
                                                      : SliceView::Tool::Navigate;
    for (auto* v : m_slices) v->setTool(tool, m_brushRadius->value());
}

void MainWindow::paintStroke(viz::SliceOrientation view, const std::vector<geometry::Vec3>& pointsLps, bool erase) {
    const LoadedCase* c = m_presenter->current();
    if (!c || pointsLps.empty()) return;
    if (m_shownSeries != 0) {
        m_status->setText("Segmentation is edited on the reference series: show it first (Series list)");
        return;
    }
    imaging::Structure target;
    const std::uint16_t label = m_structures->activeLabel();
    if (c->data.labels && label != 0) {
        if (const auto* s = c->data.labels->findByLabel(label)) target = *s;
    }
    if (target.label == 0) {
        // No segmentation yet: the first stroke creates a structure to paint into.
        target.label = 1;
        target.name = "Segment 1";
        target.colour = {0.95, 0.75, 0.2};
        target.category = imaging::StructureCategory::Other;
    }
    imaging::Brush brush;
    brush.shape = imaging::Brush::Shape::Disc;
    brush.radiusMm = m_brushRadius->value();
    brush.sliceAxis = m_slices[static_cast<int>(view)]->scene().axes().sliceAxis;
    brush.erase = erase;
    const std::string name = std::string(erase ? "Erase " : "Paint ") + target.name + " (" +
                             QString::number(brush.radiusMm, 'g', 3).toStdString() + " mm brush)";
    auto r = m_presenter->editLabels(name, [&](const imaging::LabelMap& current) {
        return imaging::paintStroke(current, pointsLps, brush, target, editableArea(current));
    });
    if (!r) m_status->setText(QString::fromStdString(r.error().message));
    else m_status->setText(QString::fromStdString(name) + QString(": %1 voxels changed").arg(r->changedVoxels));
}

// "Overwrite others" checked: everywhere; else background and the body outline only (it fills everything inside
// the skin), never another organ, tumour or vessel.
imaging::EditableArea MainWindow::editableArea(const imaging::LabelMap& map) const {
    if (m_overwriteAction->isChecked()) return imaging::EditableArea::everywhere();
    for (const auto& s : map.structures())
        if (s.category == imaging::StructureCategory::Body) return imaging::EditableArea::inside(s.label, true);
    return imaging::EditableArea::backgroundOnly();
}

void MainWindow::addNewStructure() {
    const LoadedCase* c = m_presenter->current();
    if (!c) return;
    static const std::array<std::array<double, 3>, 6> palette{
        {{0.95, 0.75, 0.2}, {0.3, 0.8, 0.9}, {0.85, 0.4, 0.85}, {0.5, 0.9, 0.4}, {0.95, 0.5, 0.3}, {0.6, 0.6, 1.0}}};
    int n = 1;
    while (c->data.labels && c->data.labels->findByName("Segment " + std::to_string(n))) ++n;
    imaging::Structure s;
    s.name = "Segment " + std::to_string(n);
    s.colour = palette[static_cast<std::size_t>(n - 1) % palette.size()];
    s.category = imaging::StructureCategory::Other;
    auto r = m_presenter->editLabels("Add " + s.name, [&](const imaging::LabelMap& current) {
        return imaging::addStructure(current, s);
    });
    if (!r) {
        m_status->setText(QString::fromStdString(r.error().message));
        return;
    }
    if (const auto* added = m_presenter->current()->data.labels->findByName(s.name))
        m_structures->selectStructure(added->label);
}

void MainWindow::applySegmentTool() {
    const LoadedCase* c = m_presenter->current();
    if (!c) return;
    if (m_presenter->busy()) {
        m_status->setText("Busy: wait for the current job or cancel it");
        return;
    }
    const std::uint16_t label = m_structures->activeLabel();
    const imaging::Structure* selected = c->data.labels ? c->data.labels->findByLabel(label) : nullptr;
    if (!selected) {
        m_status->setText("Select a structure in the Structures list (or add one with New structure) first");
        return;
    }
    const imaging::Structure target = *selected;
    const imaging::Volume image = c->data.reference.volume;
    const imaging::HuRange range{m_segment->low(), m_segment->high()};
    const double mm = m_segment->mm();
    const auto& g = image.geometry();
    const auto cross = m_slices[0]->scene().crosshair();
    const geometry::Vec3 seed = g.indexToLps({double(cross[0]), double(cross[1]), double(cross[2])});
    const imaging::EditableArea area = editableArea(*c->data.labels);
    const auto mmText = QString::number(mm, 'g', 3).toStdString() + " mm";
    std::string name;
    CasePresenter::BackgroundEdit edit;
    using Op = SegmentPanel::Op;
    switch (m_segment->op()) {
    case Op::Threshold:
        name = "Threshold " + target.name;
        edit = [=](const imaging::LabelMap& m, const ProgressFn& p) { return imaging::threshold(m, image, range, target, area, p); };
        break;
    case Op::Grow:
        name = "Grow " + target.name + " from the crosshair";
        edit = [=](const imaging::LabelMap& m, const ProgressFn& p) {
            imaging::RegionGrowing params;
            params.range = range;
            return imaging::growRegion(m, image, {seed}, params, target, area, p);
        };
        break;
    case Op::Dilate:
    case Op::Erode:
    case Op::Open:
    case Op::Close: {
        const auto op = m_segment->op() == Op::Dilate  ? imaging::Morphology::Dilate
                        : m_segment->op() == Op::Erode ? imaging::Morphology::Erode
                        : m_segment->op() == Op::Open  ? imaging::Morphology::Open
                                                       : imaging::Morphology::Close;
        name = std::string(imaging::toString(op)) + " " + target.name + " by " + mmText;
        edit = [=](const imaging::LabelMap& m, const ProgressFn& p) { return imaging::morphology(m, target.label, op, mm, area, p); };
        break;
    }
    case Op::Margin: {
        name = target.name + " + " + mmText + " margin";
        imaging::Structure margin;
        margin.name = name;
        margin.colour = {target.colour[0] * 0.6 + 0.4, target.colour[1] * 0.6 + 0.4, target.colour[2] * 0.6 + 0.4};
        margin.category = imaging::StructureCategory::Other;
        // A safety margin is measured through whatever surrounds the structure: it may take other structures' voxels.
        edit = [=](const imaging::LabelMap& m, const ProgressFn& p) {
            return imaging::applyMargin(m, target.label, mm, margin, imaging::EditableArea::everywhere(), p);
        };
        name = "Add " + name;
        break;
    }
    case Op::FillHoles:
        name = "Fill holes in " + target.name;
        edit = [=](const imaging::LabelMap& m, const ProgressFn& p) { return imaging::fillHoles(m, target.label, std::nullopt, area, p); };
        break;
    case Op::KeepLargest:
        name = "Keep the largest piece of " + target.name;
        edit = [=](const imaging::LabelMap& m, const ProgressFn& p) { return imaging::keepLargestComponent(m, target.label, false, p); };
        break;
    case Op::FillBetween: {
        const int axis = m_slices[0]->scene().axes().sliceAxis;
        name = "Fill " + target.name + " between slices";
        edit = [=](const imaging::LabelMap& m, const ProgressFn& p) { return imaging::fillBetweenSlices(m, target.label, axis, area, p); };
        break;
    }
    }
    m_banner->hide();
    m_status->setText(QString::fromStdString(name) + " …");
    m_presenter->editLabelsInBackground(name, std::move(edit));
}

void MainWindow::refreshLabels() {
    const LoadedCase* c = m_presenter->current();
    if (!c) return;
    const imaging::LabelMap* labels = c->data.labels ? &*c->data.labels : nullptr;
    if (m_shownSeries == 0)
        for (auto* v : m_slices) {
            v->scene().setLabels(labels);
            v->update();
        }
    m_structures->updateStructures(labels);
    updateEditActions();
}

void MainWindow::refreshSurfaces() {
    const LoadedCase* c = m_presenter->current();
    if (!c) return;
    m_surface->scene().setSurfaces(c->surfaces, false);
    // The list's visibility and opacity choices carry over to the rebuilt surfaces.
    const auto hidden = m_structures->hiddenLabels();
    for (const auto& s : c->surfaces) {
        const auto label = s.structure.label;
        m_surface->scene().setStructureVisible(label, !hidden.count(label));
        if (const double o = m_structures->opacityOf(label); o >= 0) m_surface->scene().setStructureOpacity(label, o);
    }
    m_surface->update();
}

void MainWindow::updateEditActions() {
    const auto& h = m_presenter->history();
    const bool idle = !m_presenter->busy();
    m_undoAction->setEnabled(idle && h.canUndo());
    m_redoAction->setEnabled(idle && h.canRedo());
    m_undoAction->setText(h.canUndo() ? QString("&Undo %1").arg(QString::fromStdString(h.undoName())) : "&Undo");
    m_redoAction->setText(h.canRedo() ? QString("&Redo %1").arg(QString::fromStdString(h.redoName())) : "&Redo");
}

void MainWindow::selectedSeriesChanged() {
    const LoadedCase* c = m_presenter->current();
    const std::size_t index = m_registration->currentSeries();
    if (c && index != 0 && index < c->data.seriesCount()) {
        const auto& s = c->data.series(index);
        const bool hasPreset = !s.info.windowPresets.empty();
        m_registration->setOverlayWindow(viz::defaultWindowLevel(s.volume, s.info.modality,
                                                                 hasPreset ? s.info.windowPresets[0].centre : 0,
                                                                 hasPreset ? s.info.windowPresets[0].width : 0, hasPreset));
    }
    refreshFusion();
    refreshRegistrationPanel();
    refreshMarkers();
}

void MainWindow::refreshFusion() {
    const LoadedCase* c = m_presenter->current();
    const std::size_t index = m_registration->currentSeries();
    std::optional<viz::FusionLayer> layer;
    if (c && m_shownSeries == 0 && m_registration->fusionOn() && index != 0 && index < c->data.seriesCount()) {
        const auto& s = c->data.series(index);
        layer = viz::FusionLayer{s.volume, c->data.registrationOf(index).toSeries, m_registration->fusionSettings(),
                                 s.info.modality.empty() ? std::string("series") : s.info.modality};
        // The series' minimum is padding (around an ultrasound fan, outside a CT reconstruction circle): not image.
        if (m_paddingSeries != index) {
            m_paddingSeries = index;
            m_paddingValue = s.volume.range().first;
        }
        layer->settings.paddingAtOrBelow = m_paddingValue;
    }
    for (auto* v : m_slices) {
        if (!v->scene().hasImage()) continue;
        v->scene().setFusion(layer);
        v->update();
    }
}

void MainWindow::refreshRegistrationPanel() {
    const LoadedCase* c = m_presenter->current();
    const std::size_t index = m_registration->currentSeries();
    if (!c || index == 0 || index >= c->data.seriesCount()) {
        m_registration->showLandmarks({}, {});
        return;
    }
    const auto& s = c->data.series(index);
    const auto r = c->data.registrationOf(index);
    m_registration->showRegistration(QString::fromStdString(seriesDisplayName(s)), r);
    m_registration->showLandmarks(m_presenter->landmarks(index), r.toSeries);
}

void MainWindow::refreshMarkers() {
    const LoadedCase* c = m_presenter->current();
    const std::size_t index = m_registration->currentSeries();
    std::vector<viz::SliceMarker> markers;
    if (c && index != 0 && index < c->data.seriesCount()) {
        const auto& entries = m_presenter->landmarks(index);
        const auto r = c->data.registrationOf(index);
        // Over the fused reference, the series' points are also drawn where the transform puts them (cyan diagonal
        // crosses, "L1'"): a pair that fits shows the cross inside the circle.
        const auto back = r.toSeries.isDeformable() ? std::nullopt : r.toSeries.matrix.inverse();
        for (const auto& e : entries) {
            if (m_shownSeries == 0) {
                if (e.fixed) markers.push_back({e.name, *e.fixed, {1.0, 0.85, 0.1}});
                if (e.moving && back && m_registration->fusionOn())
                    markers.push_back({e.name + "'", back->apply(*e.moving), {0.2, 0.9, 1.0}, true});
            } else if (m_shownSeries == index && e.moving) {
                markers.push_back({e.name, *e.moving, {1.0, 0.85, 0.1}});
            }
        }
    }
    for (auto* v : m_slices) {
        if (!v->scene().hasImage()) continue;
        v->scene().setMarkers(markers);
        v->update();
    }
}

void MainWindow::placeLandmark(const geometry::Vec3& lps) {
    const LoadedCase* c = m_presenter->current();
    if (!c) return;
    const bool onReference = m_shownSeries == 0;
    const std::size_t index = onReference ? m_registration->currentSeries() : m_shownSeries;
    if (index == 0 || index >= c->data.seriesCount()) {
        m_status->setText("Landmarks pair the reference with another series: import one first (File → Import DICOM)");
        return;
    }
    m_registration->selectSeries(index);
    const std::string name = m_presenter->placeLandmark(index, onReference, lps);
    m_status->setText(QString("%1 placed in the %2 at LPS (%3, %4, %5) mm")
                          .arg(QString::fromStdString(name), onReference ? "reference" : "series")
                          .arg(lps.x, 0, 'f', 1)
                          .arg(lps.y, 0, 'f', 1)
                          .arg(lps.z, 0, 'f', 1));
}

void MainWindow::registerSelected(bool fromCurrent) {
    const LoadedCase* c = m_presenter->current();
    const std::size_t index = m_registration->currentSeries();
    if (!c || index == 0 || index >= c->data.seriesCount()) {
        m_status->setText("Choose a series to register (the Registration dock)");
        return;
    }
    if (m_presenter->busy()) {
        m_status->setText("Busy: wait for the current job or cancel it");
        return;
    }
    imaging::RegistrationOptions options = m_registration->options();
    const auto pairs = m_presenter->landmarkPairs(index);
    if (fromCurrent) {
        // The transform shown now is the start; landmarks would take precedence over it in Auto, so they are left
        // out of this run (the dock still shows their errors under the result).
        options.initialisation = imaging::Initialisation::Auto;
        options.initialTransform = c->data.registrationOf(index).toSeries.matrix;
        options.landmarksOnly = false;
    } else {
        options.landmarks = pairs;
        if ((options.initialisation == imaging::Initialisation::Landmarks || options.landmarksOnly) && pairs.size() < 3) {
            m_status->setText(QString("Starting from landmarks needs 3 complete pairs; there are %1").arg(pairs.size()));
            return;
        }
    }
    m_banner->hide();
    m_status->setText("Registering …");
    m_presenter->registerSeries(index, std::move(options));
}

void MainWindow::nudgeSelected(const geometry::Vec3& translateMm, const geometry::Vec3& rotateDeg) {
    const LoadedCase* c = m_presenter->current();
    if (!c) return;
    const auto& g = c->data.reference.volume.geometry();
    const auto cross = m_slices[0]->scene().crosshair();
    // Rotations turn about the crosshair (on the reference grid; the grid centre when another series is shown).
    const geometry::Vec3 centre = m_shownSeries == 0 ? g.indexToLps({double(cross[0]), double(cross[1]), double(cross[2])})
                                                     : g.centreLps();
    if (auto r = m_presenter->nudge(m_registration->currentSeries(), translateMm, rotateDeg, centre); !r)
        m_status->setText(QString::fromStdString(r.error().message));
    else
        m_status->setText(QString::fromStdString(m_presenter->history().undoName()));
}

void MainWindow::setCrosshair(const std::array<int, 3>& index) {
    for (auto* v : m_slices) v->setCrosshair(index);
}

void MainWindow::setWindowLevel(const viz::WindowLevel& wl) {
    for (auto* v : m_slices) v->setWindowLevel(wl);
}

bool MainWindow::saveSnapshots(const std::filesystem::path& dir, QString* error) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const std::pair<VtkWidget*, const char*> views[] = {
        {m_slices[0], "axial.png"}, {m_slices[1], "coronal.png"}, {m_slices[2], "sagittal.png"}, {m_surface, "3d.png"}};
    for (const auto& [view, name] : views) {
        view->renderNow();
        auto saved = viz::savePng(view->renderWindow(), dir / name);
        if (!saved) {
            if (error) *error = QString::fromStdString(saved.error().message);
            return false;
        }
    }
    // The whole window as the X server shows it (menus, status bar and the GL views together): let Qt paint
    // its own widgets first, since grabbing reads what the server has.
    repaint();
    QApplication::processEvents();
    const QPixmap shot = screen()->grabWindow(winId());
    if (!shot.save(QString::fromStdString((dir / "window.png").string()))) {
        if (error) *error = "could not save window.png";
        return false;
    }
    if (!m_registration->grab().save(QString::fromStdString((dir / "registration.png").string()))) {
        if (error) *error = "could not save registration.png";
        return false;
    }
    return true;
}

} // namespace jumeau::gui
