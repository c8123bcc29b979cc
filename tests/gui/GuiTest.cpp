// The workstation on the phantom under Xvfb: views are grabbed to PNG (kept in build/test-output/gui) and
// checked for content a user relies on: CT grey levels in the slices, the liver (with vessels and tumours
// inside) where it projects in 3D, linked crosshair and window/level, and clean failure on bad input.
#include <gtest/gtest.h>

#include <QApplication>
#include <QEventLoop>
#include <QMouseEvent>
#include <QTimer>
#include <QWheelEvent>
#include <fstream>
#include <set>

#include <vtkPolyData.h>
#include <vtkRenderWindow.h>

#include "GuiWait.h"
#include "TestData.h"
#include "gui/CasePresenter.h"
#include "gui/ExportDialog.h"
#include "gui/ImportDialog.h"
#include <QCheckBox>
#include <QComboBox>
#include <QLineEdit>
#include "jumeau/geometry/MeshIO.h"
#include "gui/ImportPresenter.h"
#include <QListWidget>
#include <QTreeWidget>
#include "gui/MainWindow.h"
#include "gui/SliceView.h"
#include "gui/SegmentPanel.h"
#include "gui/StructurePanel.h"
#include <QAction>
#include <QStatusBar>
#include <QDoubleSpinBox>
#include "gui/SurfaceView.h"
#include "jumeau/simulation/StructureMesher.h"
#include <QSpinBox>
#include <QTableWidget>
#include "viz/Snapshot.h"
#include "jumeau/simulation/DemoCase.h"

using namespace jumeau;
namespace fs = std::filesystem;

namespace {

// Spins the event loop until the window shows a case or reports a failure (or time runs out).
enum class Outcome { Shown, Failed, TimedOut };
Outcome waitForLoad(gui::MainWindow& w, int timeoutMs = 180000) {
    QEventLoop loop;
    Outcome outcome = Outcome::TimedOut;
    auto c1 = QObject::connect(&w, &gui::MainWindow::caseShown, &loop, [&] { outcome = Outcome::Shown; loop.quit(); });
    auto c2 = QObject::connect(&w, &gui::MainWindow::loadFailed, &loop, [&] { outcome = Outcome::Failed; loop.quit(); });
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    loop.exec();
    QObject::disconnect(c1);
    QObject::disconnect(c2);
    // Let the worker thread finish and layouts settle.
    test::waitUntilIdle(w);
    QApplication::processEvents();
    return outcome;
}

using test::settle;
using test::waitForTask;

fs::path phantomDir() { return test::phantomCase(); }

bool isLiverColoured(const std::array<std::uint8_t, 3>& p) {
    // Liver brown-red seen through its own transparency over the dark background: red clearly dominant.
    return p[0] > 70 && p[0] > p[1] * 1.25 && p[0] > p[2] * 1.25;
}

class WorkstationTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_window = new gui::MainWindow();
        s_window->resize(1400, 1000);
        s_window->show();
        s_window->openPath(phantomDir());
        s_outcome = waitForLoad(*s_window);
        settle();
    }
    static void TearDownTestSuite() {
        delete s_window;
        s_window = nullptr;
    }
    static gui::MainWindow* s_window;
    static Outcome s_outcome;
};
gui::MainWindow* WorkstationTest::s_window = nullptr;
Outcome WorkstationTest::s_outcome = Outcome::TimedOut;

} // namespace

TEST_F(WorkstationTest, OpensThePhantomAndSavesEveryView) {
    ASSERT_EQ(s_outcome, Outcome::Shown) << s_window->bannerText().toStdString();
    ASSERT_NE(s_window->presenter().current(), nullptr);
    EXPECT_TRUE(s_window->presenter().current()->data.labels.has_value());
    const fs::path out = test::outputDir("gui");
    QString error;
    ASSERT_TRUE(s_window->saveSnapshots(out, &error)) << error.toStdString();
    for (const char* f : {"axial.png", "coronal.png", "sagittal.png", "3d.png", "window.png"})
        EXPECT_GT(fs::file_size(out / f), 1000u) << f;
}

TEST_F(WorkstationTest, AxialViewShowsCtGreyLevels) {
    ASSERT_EQ(s_outcome, Outcome::Shown);
    auto* view = s_window->sliceView(viz::SliceOrientation::Axial);
    view->renderNow();
    const viz::RgbImage img = viz::grab(view->renderWindow());
    ASSERT_GT(img.width, 100);
    std::set<int> greys;
    std::size_t bright = 0, total = 0;
    for (int y = 0; y < img.height; y += 2)
        for (int x = 0; x < img.width; x += 2) {
            const auto p = img.at(x, y);
            ++total;
            if (p[0] > 20 || p[1] > 20 || p[2] > 20) ++bright;
            if (p[0] == p[1] && p[1] == p[2]) greys.insert(p[0]);
        }
    // Soft tissue, fat, liver and bone give many distinct grey levels, and the body fills much of the view.
    EXPECT_GT(greys.size(), 40u);
    EXPECT_GT(double(bright) / total, 0.25);
}

TEST_F(WorkstationTest, ThreeDViewShowsTheLiverWhereItProjects) {
    ASSERT_EQ(s_outcome, Outcome::Shown);
    auto* view = s_window->surfaceView();
    view->scene().resetCamera();
    view->renderNow();
    const auto& surfaces = view->scene().surfaces();
    const viz::StructureSurface* liver = nullptr;
    bool hasVessel = false, hasTumour = false;
    for (const auto& s : surfaces) {
        if (QString::fromStdString(s.structure.name).compare("liver", Qt::CaseInsensitive) == 0) liver = &s;
        hasVessel |= s.structure.category == imaging::StructureCategory::Vessel;
        hasTumour |= s.structure.category == imaging::StructureCategory::Tumour;
    }
    ASSERT_NE(liver, nullptr);
    EXPECT_TRUE(hasVessel);
    EXPECT_TRUE(hasTumour);
    // What the 3D view draws is the structure's mesh as exported and measured: the same triangles, a closed
    // surface whose enclosed volume is the voxel volume.
    const auto& labels = *s_window->presenter().current()->data.labels;
    auto meshed = simulation::meshStructure(labels, liver->structure.label);
    ASSERT_TRUE(meshed.ok()) << meshed.error().describe();
    EXPECT_EQ(liver->polyData->GetNumberOfPolys(), static_cast<vtkIdType>(meshed->mesh.triangleCount()));
    EXPECT_EQ(liver->polyData->GetNumberOfPoints(), static_cast<vtkIdType>(meshed->mesh.points.size()));
    EXPECT_TRUE(meshed->report.valid()) << meshed->report.describe();
    EXPECT_NEAR(meshed->report.volumeMl, labels.volumeMl(liver->structure.label),
                0.01 * labels.volumeMl(liver->structure.label));

    // Where the liver's surface points project, count liver-coloured pixels; away from it, there are none.
    const viz::RgbImage img = viz::grab(view->renderWindow());
    vtkPoints* pts = liver->polyData->GetPoints();
    std::size_t inside = 0, liverColoured = 0;
    double minX = 1e9, maxX = -1e9;
    for (vtkIdType i = 0; i < pts->GetNumberOfPoints(); i += 7) {
        double p[3];
        pts->GetPoint(i, p);
        const auto d = view->scene().projectToDisplay({p[0], p[1], p[2]});
        const int x = static_cast<int>(d[0]), y = static_cast<int>(d[1]);
        if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
        minX = std::min(minX, d[0]);
        maxX = std::max(maxX, d[0]);
        ++inside;
        if (isLiverColoured(img.at(x, y))) ++liverColoured;
    }
    ASSERT_GT(inside, 100u) << "the liver does not project into the 3D view";
    EXPECT_GT(double(liverColoured) / inside, 0.6) << liverColoured << " of " << inside;
    // Anterior view: the liver (patient's right) is on the screen's left of the spine (midline).
    const viz::StructureSurface* spine = nullptr;
    for (const auto& s : surfaces)
        if (s.structure.category == imaging::StructureCategory::Bone) spine = &s;
    ASSERT_NE(spine, nullptr);
    double b[6];
    spine->polyData->GetBounds(b);
    const auto spineCentre = view->scene().projectToDisplay({(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2});
    EXPECT_LT((minX + maxX) / 2, spineCentre[0]);
    // The view's corners are background, not liver.
    EXPECT_FALSE(isLiverColoured(img.at(2, 2)));
    EXPECT_FALSE(isLiverColoured(img.at(img.width - 3, img.height - 3)));
}

TEST_F(WorkstationTest, WheelScrollsAndCrosshairIsLinked) {
    ASSERT_EQ(s_outcome, Outcome::Shown);
    auto* axial = s_window->sliceView(viz::SliceOrientation::Axial);
    auto* coronal = s_window->sliceView(viz::SliceOrientation::Coronal);
    const auto before = axial->scene().crosshair();
    const QPointF centre(axial->width() / 2.0, axial->height() / 2.0);
    QWheelEvent wheel(centre, axial->mapToGlobal(centre), QPoint(), QPoint(0, 3 * 120), Qt::NoButton, Qt::NoModifier,
                      Qt::NoScrollPhase, false);
    QApplication::sendEvent(axial, &wheel);
    settle();
    const auto after = axial->scene().crosshair();
    EXPECT_EQ(after[2], before[2] + 3);
    EXPECT_EQ(coronal->scene().crosshair(), after); // the other views follow

    // A left click in the axial view moves the crosshair in-plane, keeping the slice.
    const QPointF target(axial->width() * 0.4, axial->height() * 0.45);
    QMouseEvent press(QEvent::MouseButtonPress, target, axial->mapToGlobal(target), Qt::LeftButton, Qt::LeftButton, Qt::NoModifier);
    QMouseEvent release(QEvent::MouseButtonRelease, target, axial->mapToGlobal(target), Qt::LeftButton, Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(axial, &press);
    QApplication::sendEvent(axial, &release);
    settle();
    const auto clicked = axial->scene().crosshair();
    EXPECT_EQ(clicked[2], after[2]);
    EXPECT_NE(clicked, after);
    EXPECT_EQ(s_window->sliceView(viz::SliceOrientation::Sagittal)->scene().crosshair(), clicked);
    EXPECT_EQ(coronal->scene().slice(), clicked[1]);
}

TEST_F(WorkstationTest, RightDragChangesWindowLevelInEveryView) {
    ASSERT_EQ(s_outcome, Outcome::Shown);
    auto* axial = s_window->sliceView(viz::SliceOrientation::Axial);
    const auto before = axial->scene().windowLevel();
    const QPointF a(100, 100), b(160, 130);
    QMouseEvent press(QEvent::MouseButtonPress, a, axial->mapToGlobal(a), Qt::RightButton, Qt::RightButton, Qt::NoModifier);
    QMouseEvent move(QEvent::MouseMove, b, axial->mapToGlobal(b), Qt::NoButton, Qt::RightButton, Qt::NoModifier);
    QMouseEvent release(QEvent::MouseButtonRelease, b, axial->mapToGlobal(b), Qt::RightButton, Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(axial, &press);
    QApplication::sendEvent(axial, &move);
    QApplication::sendEvent(axial, &release);
    settle();
    const auto after = axial->scene().windowLevel();
    EXPECT_GT(after.width, before.width);
    EXPECT_GT(after.centre, before.centre);
    EXPECT_DOUBLE_EQ(s_window->sliceView(viz::SliceOrientation::Sagittal)->scene().windowLevel().width, after.width);
}

TEST(WorkstationBadInput, MissingEmptyAndNonDicomFoldersGiveAMessageNotACrash) {
    const fs::path root = test::outputDir("gui-bad-input");
    fs::create_directories(root / "empty");
    fs::create_directories(root / "notdicom");
    { std::ofstream(root / "notdicom" / "notes.txt") << "not an image"; }
    gui::MainWindow w;
    w.show();
    for (const fs::path& p : {root / "missing", root / "empty", root / "notdicom"}) {
        w.openPath(p);
        ASSERT_EQ(waitForLoad(w, 60000), Outcome::Failed) << p;
        EXPECT_TRUE(w.bannerText().contains(QString::fromStdString(p.filename().string()))) << w.bannerText().toStdString();
        EXPECT_EQ(w.presenter().current(), nullptr);
    }
    // The window still works: the phantom opens afterwards.
    w.openPath(phantomDir());
    EXPECT_EQ(waitForLoad(w), Outcome::Shown);
}

TEST(ImportDialog, BrowsesThePhantomAndLoadsSelectedSeriesIntoTheOpenCase) {
    gui::MainWindow w;
    w.show();
    w.openPath(phantomDir() / "ct");
    ASSERT_EQ(waitForLoad(w), Outcome::Shown);
    ASSERT_EQ(w.presenter().current()->data.seriesCount(), 1u);

    gui::ImportDialog dialog(&w);
    dialog.show();
    {
        QEventLoop loop;
        QObject::connect(&dialog, &gui::ImportDialog::scanShown, &loop, &QEventLoop::quit);
        QTimer::singleShot(60000, &loop, &QEventLoop::quit);
        dialog.scan(QString::fromStdString(phantomDir().string()));
        loop.exec();
    }
    // One patient (UTF-8 name), one study, three series: CT, MR and the ultrasound sweep.
    QTreeWidget* tree = dialog.tree();
    ASSERT_EQ(tree->topLevelItemCount(), 1);
    QTreeWidgetItem* patient = tree->topLevelItem(0);
    EXPECT_TRUE(patient->text(0).contains(QString::fromUtf8("Zoé"))) << patient->text(0).toStdString();
    ASSERT_EQ(patient->childCount(), 1);
    QTreeWidgetItem* study = patient->child(0);
    ASSERT_EQ(study->childCount(), 3);
    QTreeWidgetItem* mr = nullptr;
    QStringList modalities;
    for (int i = 0; i < study->childCount(); ++i) {
        modalities << study->child(i)->text(1);
        if (study->child(i)->text(1) == "MR") mr = study->child(i);
    }
    modalities.sort();
    EXPECT_EQ(modalities, (QStringList{"CT", "MR", "US"}));
    ASSERT_NE(mr, nullptr);
    EXPECT_FALSE(dialog.presenter().result().skipped.empty()); // truth.json and the label NRRD are not DICOM

    // Selecting the MR shows its thumbnail (computed in the background).
    {
        QEventLoop loop;
        QObject::connect(&dialog.presenter(), &gui::ImportPresenter::thumbnailReady, &loop, &QEventLoop::quit);
        QTimer::singleShot(30000, &loop, &QEventLoop::quit);
        mr->setSelected(true);
        loop.exec();
    }
    const auto selected = dialog.selectedSeries();
    ASSERT_EQ(selected.size(), 1u);
    EXPECT_EQ(selected[0].modality, "MR");
    bool found = false;
    for (std::size_t i = 0; i < dialog.presenter().result().series.size(); ++i)
        if (dialog.presenter().result().series[i].modality == "MR") {
            const QImage thumb = dialog.presenter().thumbnail(i);
            ASSERT_FALSE(thumb.isNull());
            EXPECT_LE(std::max(thumb.width(), thumb.height()), 192);
            EXPECT_GT(thumb.width(), 100);
            found = true;
        }
    EXPECT_TRUE(found);
    settle();
    dialog.grab().save(QString::fromStdString((test::outputDir("gui-import") / "import-dialog.png").string()));
    // Selecting the study selects all of its series.
    mr->setSelected(false);
    study->setSelected(true);
    EXPECT_EQ(dialog.selectedSeries().size(), 3u);

    // Loading the MR adds it to the open case; the CT stays the reference.
    w.importSeries(selected);
    ASSERT_EQ(waitForLoad(w), Outcome::Shown);
    const auto& c = w.presenter().current()->data;
    ASSERT_EQ(c.seriesCount(), 2u);
    EXPECT_EQ(c.reference.info.modality, "CT");
    EXPECT_EQ(c.series(1).info.modality, "MR");
    EXPECT_EQ(w.seriesList()->count(), 2);
    w.showSeries(1);
    settle();
    EXPECT_EQ(w.sliceView(viz::SliceOrientation::Axial)->scene().axes().width, 192); // the MR grid
    w.showSeries(0);
    EXPECT_EQ(w.sliceView(viz::SliceOrientation::Axial)->scene().axes().width, 256);
}

TEST_F(WorkstationTest, StructureListShowsVolumesAndControlsVisibilityAndOpacity) {
    ASSERT_EQ(s_outcome, Outcome::Shown);
    const auto& labels = *s_window->presenter().current()->data.labels;
    auto* panel = s_window->structurePanel();
    auto* table = panel->table();
    ASSERT_EQ(table->rowCount(), static_cast<int>(labels.structures().size()));
    const imaging::Structure* liver = labels.findByName("liver");
    ASSERT_NE(liver, nullptr);
    for (const auto& st : labels.structures()) {
        const int row = panel->rowOf(st.label);
        ASSERT_GE(row, 0) << st.name;
        EXPECT_EQ(table->item(row, gui::StructurePanel::NameColumn)->text().toStdString(), st.name);
        EXPECT_NEAR(table->item(row, gui::StructurePanel::VolumeColumn)->text().toDouble(), labels.volumeMl(st.label), 0.05)
            << st.name;
    }
    // The listed volumes are the phantom's known ones: truth.json's voxel volumes, close to the model volumes.
    auto truth = simulation::readDemoCaseTruth(phantomDir());
    ASSERT_TRUE(truth.ok()) << truth.error().describe();
    for (const auto& t : truth->structures) {
        const int row = panel->rowOf(t.structure.label);
        ASSERT_GE(row, 0) << t.structure.name;
        const double listed = table->item(row, gui::StructurePanel::VolumeColumn)->text().toDouble();
        EXPECT_NEAR(listed, t.voxelVolumeMl, 0.05) << t.structure.name;
        if (t.structure.name == "liver") {
            EXPECT_NEAR(listed, t.volumeMl, 0.03 * t.volumeMl);
        }
    }

    // Hiding the liver changes the axial overlay and hides its 3D surface; showing it again restores the image.
    // Through the axial slice with the most liver (other tests may have moved the crosshair).
    const auto& g = labels.geometry();
    int bestK = 0;
    std::size_t bestCount = 0;
    for (int k = 0; k < g.size[2]; ++k) {
        std::size_t n = 0;
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) n += labels.labelAt(i, j, k) == liver->label;
        if (n > bestCount) {
            bestCount = n;
            bestK = k;
        }
    }
    auto* axial = s_window->sliceView(viz::SliceOrientation::Axial);
    axial->setCrosshair({g.size[0] / 2, g.size[1] / 2, bestK});
    settle();
    axial->renderNow();
    const viz::RgbImage before = viz::grab(axial->renderWindow());
    panel->setStructureVisible(liver->label, false);
    settle();
    EXPECT_TRUE(axial->scene().hiddenLabels().count(liver->label));
    EXPECT_FALSE(s_window->surfaceView()->scene().structureVisible(liver->label));
    axial->renderNow();
    const viz::RgbImage hidden = viz::grab(axial->renderWindow());
    ASSERT_EQ(hidden.rgb.size(), before.rgb.size());
    std::size_t changed = 0;
    for (std::size_t i = 0; i < before.rgb.size(); i += 3)
        if (before.rgb[i] != hidden.rgb[i] || before.rgb[i + 1] != hidden.rgb[i + 1] || before.rgb[i + 2] != hidden.rgb[i + 2])
            ++changed;
    EXPECT_GT(changed, 2000u) << "hiding the liver should remove its overlay from the axial slice through it";
    panel->setStructureVisible(liver->label, true);
    settle();
    EXPECT_TRUE(s_window->surfaceView()->scene().structureVisible(liver->label));
    axial->renderNow();
    EXPECT_EQ(viz::grab(axial->renderWindow()).rgb, before.rgb);

    // The opacity box drives the 3D surface's opacity.
    panel->setStructureOpacity(liver->label, 0.2);
    settle();
    EXPECT_NEAR(s_window->surfaceView()->scene().structureOpacity(liver->label), 0.2, 1e-9);
    panel->setStructureOpacity(liver->label, viz::SurfaceScene::defaultOpacity(liver->category));
    settle();
}

namespace {
std::vector<std::uint8_t> labelBytes(const imaging::LabelMap& m) {
    const auto* p = static_cast<const std::uint8_t*>(m.labels().rawData());
    return {p, p + m.labels().byteCount()};
}
bool waitForSurfaces(gui::CasePresenter& presenter, int timeoutMs = 120000) {
    QEventLoop loop;
    bool done = false;
    auto c = QObject::connect(&presenter, &gui::CasePresenter::surfacesChanged, &loop, [&] { done = true; loop.quit(); });
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    loop.exec();
    QObject::disconnect(c);
    return done;
}
} // namespace

TEST_F(WorkstationTest, BrushPaintsTheSelectedStructureAndUndoRestoresExactly) {
    ASSERT_EQ(s_outcome, Outcome::Shown);
    auto& presenter = s_window->presenter();
    const auto& labels0 = *presenter.current()->data.labels;
    const imaging::Structure* tumour = labels0.findByName("Tumour 2");
    ASSERT_NE(tumour, nullptr);
    const std::uint16_t label = tumour->label;
    const auto before = labelBytes(labels0);
    const std::size_t countBefore = labels0.voxelCount(label);
    s_window->structurePanel()->selectStructure(label);
    s_window->brushRadius()->setValue(4);

    // A two-point stroke in the axial view through the image centre: a 4 mm disc swept 10 mm, on one slice.
    const auto& g = labels0.geometry();
    const auto a = g.indexToLps({g.size[0] / 2.0, g.size[1] / 2.0, g.size[2] / 2.0});
    s_window->paintStroke(viz::SliceOrientation::Axial, {a, a + geometry::Vec3{10, 0, 0}}, false);
    const auto& labels1 = *presenter.current()->data.labels;
    const std::size_t painted = labels1.voxelCount(label) - countBefore;
    std::printf("painted %zu voxels (before %zu); status: %s\n", painted, countBefore,
                s_window->statusText().toStdString().c_str());
    // Area of the swept disc: pi r^2 + 2 r * 10 mm = 130 mm^2, over 0.8 x 0.8 mm pixels ≈ 203 voxels (the brush
    // paints over the liver and body by default: "Overwrite others" is checked).
    EXPECT_GT(painted, 60u);
    EXPECT_LT(painted, 260u);
    EXPECT_TRUE(s_window->undoAction()->isEnabled());
    EXPECT_TRUE(s_window->undoAction()->text().contains("Tumour 2")) << s_window->undoAction()->text().toStdString();
    const auto after = labelBytes(labels1);
    EXPECT_NE(after, before);
    // The list shows the new volume at once; the 3D surfaces follow from the background rebuild.
    const int row = s_window->structurePanel()->rowOf(label);
    EXPECT_NEAR(s_window->structurePanel()->table()->item(row, gui::StructurePanel::VolumeColumn)->text().toDouble(),
                labels1.volumeMl(label), 0.05);
    EXPECT_TRUE(waitForSurfaces(presenter));

    s_window->undoAction()->trigger();
    EXPECT_EQ(labelBytes(*presenter.current()->data.labels), before);
    EXPECT_TRUE(s_window->redoAction()->isEnabled());
    s_window->redoAction()->trigger();
    EXPECT_EQ(labelBytes(*presenter.current()->data.labels), after);
    s_window->undoAction()->trigger();
    EXPECT_EQ(labelBytes(*presenter.current()->data.labels), before);

    // The same with the mouse: the Paint tool, a drag in the axial view shows the brush cursor and paints.
    auto* axial = s_window->sliceView(viz::SliceOrientation::Axial);
    s_window->paintAction()->trigger();
    ASSERT_EQ(axial->tool(), gui::SliceView::Tool::Paint);
    const QPointF p0(axial->width() / 2.0, axial->height() / 2.0), p1 = p0 + QPointF(20, 0);
    QMouseEvent press(QEvent::MouseButtonPress, p0, axial->mapToGlobal(p0), Qt::LeftButton, Qt::LeftButton, Qt::NoModifier);
    QMouseEvent move(QEvent::MouseMove, p1, axial->mapToGlobal(p1), Qt::NoButton, Qt::LeftButton, Qt::NoModifier);
    QMouseEvent release(QEvent::MouseButtonRelease, p1, axial->mapToGlobal(p1), Qt::LeftButton, Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(axial, &press);
    QApplication::sendEvent(axial, &move);
    EXPECT_TRUE(axial->scene().brushCursorVisible());
    QApplication::sendEvent(axial, &release);
    settle();
    EXPECT_GT(presenter.current()->data.labels->voxelCount(label), countBefore);
    axial->renderNow();
    ASSERT_TRUE(viz::savePng(axial->renderWindow(), test::outputDir("gui-paint") / "axial-painted.png").ok());
    s_window->paintAction()->trigger(); // back to navigation
    EXPECT_EQ(axial->tool(), gui::SliceView::Tool::Navigate);
    s_window->undoAction()->trigger();
    EXPECT_EQ(labelBytes(*presenter.current()->data.labels), before);
    waitForSurfaces(presenter);
}

TEST_F(WorkstationTest, ExportDialogWritesValidMeshesInTheChosenFrame) {
    ASSERT_EQ(s_outcome, Outcome::Shown);
    const auto& labels = *s_window->presenter().current()->data.labels;
    const fs::path out = test::outputDir("gui-export");
    gui::ExportDialog dialog(labels, out, s_window);
    // Defaults: every structure but the body, binary STL in RAS, one file per structure, into the given folder.
    ASSERT_EQ(dialog.structureList()->count(), static_cast<int>(labels.structures().size()));
    const auto defaults = dialog.options();
    EXPECT_EQ(defaults.labels.size(), labels.structures().size() - 1);
    EXPECT_EQ(defaults.frame, geometry::Frame::RAS);
    EXPECT_FALSE(defaults.combined);
    EXPECT_EQ(dialog.target(), out);
    // A combined scene needs OBJ or PLY: the box is disabled for STL, and choosing it turns the target into a file.
    EXPECT_FALSE(dialog.combinedBox()->isEnabled());
    dialog.formatBox()->setCurrentIndex(2); // OBJ
    dialog.combinedBox()->setChecked(true);
    EXPECT_EQ(dialog.target(), out / "scene.obj");
    dialog.combinedBox()->setChecked(false);
    EXPECT_EQ(dialog.target(), out);
    dialog.formatBox()->setCurrentIndex(0);
    dialog.frameBox()->setCurrentIndex(1); // LPS
    // Only the tumours.
    for (int row = 0; row < dialog.structureList()->count(); ++row) {
        auto* item = dialog.structureList()->item(row);
        item->setCheckState(item->text().startsWith("Tumour") ? Qt::Checked : Qt::Unchecked);
    }
    dialog.show();
    settle();
    dialog.grab().save(QString::fromStdString((out / "export-dialog.png").string()));
    const auto options = dialog.options();
    ASSERT_EQ(options.labels.size(), 3u);

    // Waits for the export and for the worker to hand back (the next test's tool is refused while it is busy).
    s_window->exportMeshes(dialog.target(), options);
    const auto [ok, message] = waitForTask(*s_window);
    ASSERT_TRUE(ok) << message.toStdString();
    EXPECT_TRUE(message.contains("every mesh closed")) << message.toStdString();
    EXPECT_TRUE(s_window->statusText().contains("Exported 3")) << s_window->statusText().toStdString();
    for (const char* name : {"Tumour 1.stl", "Tumour 2.stl", "Tumour 3.stl"}) {
        auto mesh = geometry::readMesh(out / name);
        ASSERT_TRUE(mesh.ok()) << name << ": " << mesh.error().describe();
        EXPECT_EQ(mesh->fileFrame, geometry::Frame::LPS) << name;
        EXPECT_GT(mesh->mesh.triangles.size(), 50u) << name;
    }
}

TEST_F(WorkstationTest, SegmentToolsRunInTheBackgroundAndUndo) {
    ASSERT_EQ(s_outcome, Outcome::Shown);
    // A tool is refused while an earlier job still holds the worker.
    ASSERT_TRUE(test::waitUntilIdle(*s_window));
    auto& presenter = s_window->presenter();
    const auto before = labelBytes(*presenter.current()->data.labels);
    const auto* tumour = presenter.current()->data.labels->findByName("Tumour 1");
    ASSERT_NE(tumour, nullptr);
    const std::uint16_t label = tumour->label;
    const double volume0 = presenter.current()->data.labels->volumeMl(label);
    s_window->structurePanel()->selectStructure(label);
    s_window->overwriteAction()->setChecked(true);

    // Dilate by 2 mm: a sphere of ~13.5 mm radius grows by roughly 4πr²·2 mm ≈ 4.6 ml.
    s_window->segmentPanel()->setOp(gui::SegmentPanel::Op::Dilate);
    s_window->segmentPanel()->setMm(2);
    s_window->applySegmentTool();
    auto [ok, message] = waitForTask(*s_window);
    ASSERT_TRUE(ok) << message.toStdString();
    const double volume1 = presenter.current()->data.labels->volumeMl(label);
    const double r = std::cbrt(3 * volume0 * 1000 / (4 * 3.14159265358979));
    const double expected = 4.0 / 3.0 * 3.14159265358979 * std::pow(r + 2, 3) / 1000;
    EXPECT_NEAR(volume1, expected, 0.1 * expected) << message.toStdString();
    EXPECT_TRUE(s_window->undoAction()->text().contains("Tumour 1")) << s_window->undoAction()->text().toStdString();

    // A 10 mm safety margin as a new structure: listed, and the tumour keeps its voxels.
    s_window->segmentPanel()->setOp(gui::SegmentPanel::Op::Margin);
    s_window->segmentPanel()->setMm(10);
    s_window->applySegmentTool();
    std::tie(ok, message) = waitForTask(*s_window);
    ASSERT_TRUE(ok) << message.toStdString();
    const auto& labels = *presenter.current()->data.labels;
    const auto* margin = labels.findByName("Tumour 1 + 10 mm margin");
    ASSERT_NE(margin, nullptr);
    EXPECT_GE(s_window->structurePanel()->rowOf(margin->label), 0);
    EXPECT_NEAR(labels.volumeMl(label), volume1, 1e-9);
    EXPECT_GT(labels.volumeMl(margin->label), 3 * volume1);

    // Both undone: byte-identical to the start.
    s_window->undoAction()->trigger();
    s_window->undoAction()->trigger();
    settle();
    EXPECT_EQ(labelBytes(*presenter.current()->data.labels), before);
    waitForSurfaces(presenter);
}

TEST(Workstation, ImportedSegmentationShowsAndUndoes) {
    // The phantom's CT alone (no segmentation), then its label file imported: structures listed, undo removes them.
    gui::MainWindow w;
    w.resize(1200, 800);
    w.show();
    w.openPath(phantomDir() / "ct");
    ASSERT_EQ(waitForLoad(w), Outcome::Shown) << w.bannerText().toStdString();
    ASSERT_FALSE(w.presenter().current()->data.labels.has_value());
    EXPECT_EQ(w.structurePanel()->table()->rowCount(), 0);

    w.presenter().importLabels(phantomDir() / "labels" / "labels.seg.nrrd");
    const auto [ok, message] = waitForTask(w);
    ASSERT_TRUE(ok) << message.toStdString();
    EXPECT_TRUE(message.contains("Imported 9")) << message.toStdString();
    ASSERT_TRUE(w.presenter().current()->data.labels.has_value());
    EXPECT_EQ(w.structurePanel()->table()->rowCount(), 9);
    EXPECT_TRUE(w.undoAction()->isEnabled());
    EXPECT_TRUE(w.undoAction()->text().contains("labels.seg.nrrd")) << w.undoAction()->text().toStdString();

    w.undoAction()->trigger();
    settle();
    EXPECT_FALSE(w.presenter().current()->data.labels.has_value());
    EXPECT_EQ(w.structurePanel()->table()->rowCount(), 0);
    w.redoAction()->trigger();
    settle();
    EXPECT_EQ(w.structurePanel()->table()->rowCount(), 9);
    waitForSurfaces(w.presenter());
}

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    qputenv("QT_QPA_PLATFORM", "xcb");
    QApplication app(argc, argv);
    return RUN_ALL_TESTS();
}
