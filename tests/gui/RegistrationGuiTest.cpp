// The Registration dock on the phantom (CT reference, MR and ultrasound with known transforms in truth.json), under
// Xvfb: fusion shows the right pixels, landmarks placed in both images register the MR onto the CT as truth says,
// Cancel keeps the previous transform, nudges move the series by the amount asked. Views are saved as PNG under
// build/test-output/gui-fusion for a person to look at.
#include <gtest/gtest.h>

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QEventLoop>
#include <QLabel>
#include <QMouseEvent>
#include <QPushButton>
#include <QSlider>
#include <QTableWidget>
#include <QTimer>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "GuiWait.h"
#include "TestData.h"
#include "gui/CasePresenter.h"
#include "gui/MainWindow.h"
#include "gui/RegistrationPanel.h"
#include "gui/SliceView.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/simulation/DemoCase.h"

using namespace jumeau;
namespace fs = std::filesystem;
using geometry::Vec3;

namespace {

using test::settle;
using test::waitForTask;

bool waitForCase(gui::MainWindow& w, int timeoutMs = 180000) {
    QEventLoop loop;
    bool shown = false;
    auto c1 = QObject::connect(&w, &gui::MainWindow::caseShown, &loop, [&] { shown = true; loop.quit(); });
    auto c2 = QObject::connect(&w, &gui::MainWindow::loadFailed, &loop, [&] { loop.quit(); });
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    loop.exec();
    QObject::disconnect(c1);
    QObject::disconnect(c2);
    test::waitUntilIdle(w);
    settle();
    return shown;
}

double maxDifference(const geometry::Transform& a, const geometry::Transform& b, const std::vector<Vec3>& points) {
    double worst = 0;
    for (const auto& p : points) worst = std::max(worst, geometry::distance(a.apply(p), b.apply(p)));
    return worst;
}

class RegistrationGui : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_window = new gui::MainWindow();
        s_window->resize(1600, 1000);
        s_window->show();
        s_window->openPath(test::phantomCase());
        s_loaded = waitForCase(*s_window);
        auto truth = simulation::readDemoCaseTruth(test::phantomCase());
        if (truth) s_ctToMr = truth->ctToMr;
    }
    static void TearDownTestSuite() {
        delete s_window;
        s_window = nullptr;
    }
    void SetUp() override {
        ASSERT_TRUE(s_loaded) << s_window->bannerText().toStdString();
        const auto& c = s_window->presenter().current()->data;
        for (std::size_t i = 1; i < c.seriesCount(); ++i)
            if (c.series(i).info.modality == "MR") m_mr = i;
        ASSERT_NE(m_mr, 0u) << "the phantom case has no MR series";
        m_panel = s_window->registrationPanel();
        m_panel->selectSeries(m_mr);
        settle();
        ASSERT_EQ(m_panel->currentSeries(), m_mr);
    }
    // Points of the CT (LPS) spread over the liver region, where the accuracy matters.
    std::vector<Vec3> checkPoints() const {
        const Vec3 c = s_window->presenter().current()->data.reference.volume.geometry().centreLps();
        return {c, c + Vec3{50, 0, 0}, c + Vec3{-50, 10, 0}, c + Vec3{0, 45, 20}, c + Vec3{0, -40, -30},
                c + Vec3{30, 30, 40}};
    }
    void setTruth() {
        simulation::SeriesRegistration r;
        r.registered = true;
        r.toSeries.matrix = s_ctToMr;
        r.method = "truth.json (test)";
        ASSERT_TRUE(s_window->presenter().setRegistration(m_mr, r, "Set MR to the truth").ok());
        settle();
    }
    static gui::MainWindow* s_window;
    static bool s_loaded;
    static geometry::Transform s_ctToMr;
    std::size_t m_mr = 0;
    gui::RegistrationPanel* m_panel = nullptr;
};
gui::MainWindow* RegistrationGui::s_window = nullptr;
bool RegistrationGui::s_loaded = false;
geometry::Transform RegistrationGui::s_ctToMr;

} // namespace

TEST_F(RegistrationGui, CheckerboardShowsTheCtInOneSquareAndTheMrInTheNext) {
    auto& w = *s_window;
    const auto& c = w.presenter().current()->data;
    const fs::path out = test::outputDir("gui-fusion");
    w.showSeries(0);
    m_panel->fusionModeBox()->setCurrentIndex(1); // checkerboard
    m_panel->checkerSizeBox()->setValue(20);
    m_panel->fusionBox()->setChecked(true);
    settle();
    // Before registration: scanner coordinates (the phantom's MR was "taken" 12/-8/15 mm and a few degrees away).
    ASSERT_TRUE(w.presenter().resetRegistration(m_mr).ok());
    settle();
    QString error;
    ASSERT_TRUE(w.saveSnapshots(out / "scanner-checkerboard", &error)) << error.toStdString();
    setTruth();
    ASSERT_TRUE(w.saveSnapshots(out / "truth-checkerboard", &error)) << error.toStdString();

    auto* axial = w.sliceView(viz::SliceOrientation::Axial);
    auto& scene = axial->scene();
    ASSERT_TRUE(scene.fusion().has_value());
    EXPECT_EQ(scene.fusion()->settings.mode, viz::FusionMode::Checkerboard);
    // Without the structure overlay the composed slice is the fusion alone.
    std::set<std::uint16_t> all;
    for (const auto& s : c.labels->structures()) all.insert(s.label);
    scene.setHiddenLabels(all);
    const auto& ct = c.reference.volume;
    const auto& g = ct.geometry();
    scene.setCrosshair({g.size[0] / 2, g.size[1] / 2, g.size[2] / 2});

    // The MR resampled onto the CT grid by the library (independent of the view's per-slice sampling).
    imaging::SpatialTransform truth;
    truth.matrix = s_ctToMr;
    auto resampled = imaging::resampleOnto(c.series(m_mr).volume, g, truth, std::numeric_limits<double>::quiet_NaN(), false);
    ASSERT_TRUE(resampled.ok()) << resampled.error().describe();
    const auto& a = scene.axes();
    const int k = scene.slice();
    const auto wl = scene.windowLevel();
    const auto overlayWl = scene.fusion()->settings.window;
    std::size_t refPixels = 0, refMatches = 0, mrPixels = 0, mrMatches = 0, mrUnlikeCt = 0;
    for (int v = 0; v < a.height; ++v)
        for (int u = 0; u < a.width; ++u) {
            const auto idx = viz::screenToIndex(a, u, v, k);
            const int shown = scene.composedPixel(u, v)[0];
            const int ctGrey = viz::windowed(ct.valueAt(idx[0], idx[1], idx[2]), wl);
            if (!viz::checkerShowsOverlay(a, u, v, 20)) {
                ++refPixels;
                refMatches += std::abs(shown - ctGrey) <= 1;
            } else {
                const double mr = resampled->valueAt(idx[0], idx[1], idx[2]);
                if (std::isnan(mr)) continue;
                ++mrPixels;
                mrMatches += std::abs(shown - int(viz::windowed(mr, overlayWl))) <= 2;
                mrUnlikeCt += std::abs(shown - ctGrey) > 10;
            }
        }
    std::printf("reference squares: %zu/%zu pixels are the CT; series squares: %zu/%zu are the MR, %zu unlike the CT\n",
                refMatches, refPixels, mrMatches, mrPixels, mrUnlikeCt);
    ASSERT_GT(refPixels, 10000u);
    ASSERT_GT(mrPixels, 10000u);
    EXPECT_EQ(refMatches, refPixels);
    EXPECT_GT(double(mrMatches) / mrPixels, 0.995);
    EXPECT_GT(double(mrUnlikeCt) / mrPixels, 0.2) << "the MR squares look like the CT: is the overlay drawn?";
    // Two neighbouring squares through the middle of the body: the left one is CT, the right one MR.
    const int squarePx = static_cast<int>(20 / a.hSpacing);
    const int u0 = (a.width / 2 / squarePx) * squarePx + squarePx / 2, v0 = (a.height / 2 / squarePx) * squarePx + squarePx / 2;
    const bool leftIsCt = !viz::checkerShowsOverlay(a, u0, v0, 20);
    const int uCt = leftIsCt ? u0 : u0 + squarePx, uMr = leftIsCt ? u0 + squarePx : u0;
    EXPECT_FALSE(viz::checkerShowsOverlay(a, uCt, v0, 20));
    EXPECT_TRUE(viz::checkerShowsOverlay(a, uMr, v0, 20));
    const auto idxCt = viz::screenToIndex(a, uCt, v0, k), idxMr = viz::screenToIndex(a, uMr, v0, k);
    EXPECT_NEAR(scene.composedPixel(uCt, v0)[0], viz::windowed(ct.valueAt(idxCt[0], idxCt[1], idxCt[2]), wl), 1);
    EXPECT_NEAR(scene.composedPixel(uMr, v0)[0],
                viz::windowed(resampled->valueAt(idxMr[0], idxMr[1], idxMr[2]), overlayWl), 2);
    scene.setHiddenLabels({});
    // Scrolling one slice resamples only that slice of the MR: fast enough to follow the mouse wheel.
    {
        const auto t0 = std::chrono::steady_clock::now();
        for (int step = 1; step <= 10; ++step) scene.setCrosshair({g.size[0] / 2, g.size[1] / 2, g.size[2] / 2 + step});
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 10;
        std::printf("axial slice with checkerboard fusion composed in %.1f ms (%d x %d pixels)\n", ms, a.width, a.height);
        EXPECT_LT(ms, 250.0);
    }

    // The other displays, saved for a person to look at: blend 50 % and the colour overlay.
    m_panel->fusionModeBox()->setCurrentIndex(0);
    m_panel->opacitySlider()->setValue(50);
    settle();
    EXPECT_EQ(scene.fusion()->settings.mode, viz::FusionMode::Blend);
    EXPECT_DOUBLE_EQ(scene.fusion()->settings.opacity, 0.5);
    ASSERT_TRUE(w.saveSnapshots(out / "truth-blend", &error)) << error.toStdString();
    m_panel->fusionModeBox()->setCurrentIndex(2);
    m_panel->opacitySlider()->setValue(60);
    settle();
    EXPECT_EQ(scene.fusion()->settings.mode, viz::FusionMode::ColourOverlay);
    ASSERT_TRUE(w.saveSnapshots(out / "truth-colour", &error)) << error.toStdString();

    // The ultrasound sweep (partial field of view, 8-bit) in its scanner coordinates: fused where it has image only.
    std::size_t us = 0;
    for (std::size_t i = 1; i < c.seriesCount(); ++i)
        if (c.series(i).info.modality == "US") us = i;
    ASSERT_NE(us, 0u);
    m_panel->selectSeries(us);
    m_panel->fusionModeBox()->setCurrentIndex(0);
    settle();
    ASSERT_TRUE(scene.fusion().has_value());
    EXPECT_EQ(scene.fusion()->name, "US");
    ASSERT_TRUE(w.saveSnapshots(out / "us-scanner-blend", &error)) << error.toStdString();
    m_panel->selectSeries(m_mr);
    settle();

    // Showing the MR on its own hides the fusion; turning fusion on again goes back to the reference.
    w.showSeries(m_mr);
    settle();
    EXPECT_FALSE(scene.fusion().has_value());
    m_panel->fusionBox()->setChecked(false);
    m_panel->fusionBox()->setChecked(true);
    settle();
    EXPECT_EQ(w.shownSeries(), 0u);
    EXPECT_TRUE(scene.fusion().has_value());
}

TEST_F(RegistrationGui, LandmarksInBothImagesRegisterTheMrAsTruthSays) {
    auto& w = *s_window;
    auto& presenter = w.presenter();
    ASSERT_TRUE(presenter.resetRegistration(m_mr).ok());
    for (std::size_t n = presenter.landmarks(m_mr).size(); n > 0; --n) presenter.removeLandmark(m_mr, 0);
    w.showSeries(0);
    m_panel->fusionModeBox()->setCurrentIndex(1);
    m_panel->fusionBox()->setChecked(true);
    settle();

    // A click in landmark mode places a reference point on the clicked slice; Delete pair removes it.
    m_panel->landmarkButton()->setChecked(true);
    auto* axial = w.sliceView(viz::SliceOrientation::Axial);
    ASSERT_EQ(axial->tool(), gui::SliceView::Tool::Landmark);
    const QPointF at(axial->width() / 2.0, axial->height() / 2.0);
    QMouseEvent press(QEvent::MouseButtonPress, at, axial->mapToGlobal(at), Qt::LeftButton, Qt::LeftButton, Qt::NoModifier);
    QMouseEvent release(QEvent::MouseButtonRelease, at, axial->mapToGlobal(at), Qt::LeftButton, Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(axial, &press);
    QApplication::sendEvent(axial, &release);
    settle();
    ASSERT_EQ(presenter.landmarks(m_mr).size(), 1u);
    const auto& clicked = presenter.landmarks(m_mr)[0];
    ASSERT_TRUE(clicked.fixed.has_value());
    EXPECT_FALSE(clicked.moving.has_value());
    const auto& g = presenter.current()->data.reference.volume.geometry();
    EXPECT_NEAR(g.lpsToIndex(*clicked.fixed).z, axial->scene().slice(), 1e-6); // on the slice shown
    EXPECT_EQ(axial->scene().visibleMarkers(), std::vector<std::string>{"L1"});
    EXPECT_EQ(m_panel->landmarkTable()->rowCount(), 1);
    m_panel->landmarkTable()->selectRow(0);
    m_panel->deleteLandmarkButton()->click();
    settle();
    EXPECT_TRUE(presenter.landmarks(m_mr).empty());
    EXPECT_EQ(m_panel->landmarkTable()->rowCount(), 0);

    // Four pairs placed by call: reference points in the CT, then the same anatomy in the MR shown on its own.
    const Vec3 c = g.centreLps();
    const std::vector<Vec3> fixed{c + Vec3{40, 0, 5}, c + Vec3{-35, 25, 10}, c + Vec3{0, -30, -25}, c + Vec3{15, 20, 35}};
    for (const auto& p : fixed) w.placeLandmark(p);
    w.showSeries(m_mr);
    settle();
    for (const auto& p : fixed) w.placeLandmark(s_ctToMr.apply(p));
    ASSERT_EQ(presenter.landmarkPairs(m_mr).size(), 4u);
    EXPECT_EQ(presenter.landmarkPairs(m_mr)[2].name, "L3");
    EXPECT_EQ(m_panel->landmarkTable()->rowCount(), 4);
    w.showSeries(0); // fusion was on: back over the reference
    m_panel->landmarkButton()->setChecked(false);
    EXPECT_EQ(axial->tool(), gui::SliceView::Tool::Navigate);

    // Rigid, started from the landmarks, through the dock's Register button (background thread).
    m_panel->modeBox()->setCurrentIndex(0);
    m_panel->metricBox()->setCurrentIndex(0);
    m_panel->initialisationBox()->setCurrentIndex(gui::RegistrationPanel::InitLandmarks);
    ASSERT_TRUE(m_panel->registerButton()->isEnabled());
    m_panel->registerButton()->click();
    EXPECT_TRUE(presenter.busy());
    EXPECT_FALSE(m_panel->registerButton()->isEnabled()); // one run at a time
    const auto [ok, message] = waitForTask(w);
    ASSERT_TRUE(ok) << message.toStdString();
    std::printf("%s\n", message.toStdString().c_str());
    const auto r = presenter.current()->data.registrationOf(m_mr);
    ASSERT_TRUE(r.registered);
    ASSERT_TRUE(r.quality.has_value());
    const double worst = maxDifference(r.toSeries.matrix, s_ctToMr, checkPoints());
    std::printf("landmark-started rigid CT->MR: worst distance to truth %.3f mm over %zu points\n", worst,
                checkPoints().size());
    EXPECT_LT(worst, 0.5);
    // The report beside the views: converged, overlap, each landmark's error in mm.
    const QString report = m_panel->reportText();
    std::printf("report:\n%s\n", report.toStdString().c_str());
    EXPECT_TRUE(report.contains("Converged: yes")) << report.toStdString();
    EXPECT_TRUE(report.contains("Overlap")) << report.toStdString();
    EXPECT_TRUE(report.contains("landmarks (4 pairs)")) << report.toStdString();
    for (const char* name : {"L1:", "L2:", "L3:", "L4:"}) EXPECT_TRUE(report.contains(name)) << name;
    ASSERT_EQ(r.quality->landmarks.size(), 4u);
    for (const auto& l : r.quality->landmarks) EXPECT_LT(l.errorMm, 0.6) << l.name;
    for (int row = 0; row < 4; ++row) {
        bool number = false;
        const double e = m_panel->landmarkTable()->item(row, 3)->text().toDouble(&number);
        EXPECT_TRUE(number);
        EXPECT_LT(e, 0.6) << row;
    }
    EXPECT_TRUE(w.undoAction()->text().contains("Register")) << w.undoAction()->text().toStdString();
    // The fusion follows the new transform.
    ASSERT_TRUE(axial->scene().fusion().has_value());
    EXPECT_EQ(axial->scene().fusion()->toOverlay.matrix.matrix4(), r.toSeries.matrix.matrix4());
    QString error;
    ASSERT_TRUE(w.saveSnapshots(test::outputDir("gui-fusion-registered"), &error)) << error.toStdString();
    // Undo: back to the scanner coordinates; redo: the registration again.
    w.undoAction()->trigger();
    settle();
    EXPECT_FALSE(presenter.current()->data.registrationOf(m_mr).registered);
    w.redoAction()->trigger();
    settle();
    EXPECT_EQ(presenter.current()->data.registrationOf(m_mr).toSeries.matrix.matrix4(), r.toSeries.matrix.matrix4());
}

TEST_F(RegistrationGui, CancelKeepsThePreviousTransformAndNudgesMoveBySteps) {
    auto& w = *s_window;
    auto& presenter = w.presenter();
    w.showSeries(0);
    m_panel->fusionBox()->setChecked(true);
    setTruth();
    const geometry::Transform before = presenter.current()->data.registrationOf(m_mr).toSeries.matrix;

    // Cancel in the status bar during the run: the case keeps the transform it had.
    QPushButton* cancel = nullptr;
    for (auto* b : w.findChildren<QPushButton*>())
        if (b->text() == "Cancel") cancel = b;
    ASSERT_NE(cancel, nullptr);
    m_panel->landmarksOnlyBox()->setChecked(false);
    m_panel->initialisationBox()->setCurrentIndex(gui::RegistrationPanel::InitMoments);
    bool cancelled = false;
    std::chrono::steady_clock::time_point clickedAt;
    auto conn = QObject::connect(&presenter, &gui::CasePresenter::progress, cancel, [&] {
        if (!cancelled && cancel->isVisible()) {
            cancelled = true;
            clickedAt = std::chrono::steady_clock::now();
            cancel->click();
        }
    });
    m_panel->registerButton()->click();
    const auto [ok, message] = waitForTask(w);
    QObject::disconnect(conn);
    EXPECT_TRUE(cancelled);
    const double stopSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - clickedAt).count();
    std::printf("registration stopped %.2f s after Cancel\n", stopSeconds);
    EXPECT_LT(stopSeconds, 10.0);
    EXPECT_FALSE(presenter.busy());
    EXPECT_FALSE(ok);
    EXPECT_TRUE(message.contains("cancelled")) << message.toStdString();
    EXPECT_EQ(presenter.current()->data.registrationOf(m_mr).toSeries.matrix.matrix4(), before.matrix4());
    EXPECT_TRUE(m_panel->registerButton()->isEnabled());
    EXPECT_TRUE(w.statusText().contains("previous transform is kept")) << w.statusText().toStdString();
    EXPECT_TRUE(w.bannerText().isEmpty() || !w.bannerText().contains("cancelled")); // a cancel is not a failure

    // Nudge 2 mm towards the patient's left: what the reference point x showed is now shown at x + 2 mm in x.
    const auto points = checkPoints();
    m_panel->nudgeStepMm()->setValue(2);
    auto* left = m_panel->findChild<QPushButton*>("nudge_L");
    ASSERT_NE(left, nullptr);
    left->click();
    settle();
    const geometry::Transform moved = presenter.current()->data.registrationOf(m_mr).toSeries.matrix;
    for (const auto& p : points) EXPECT_LT(geometry::distance(moved.apply(p + Vec3{2, 0, 0}), before.apply(p)), 1e-9);
    EXPECT_EQ(w.sliceView(viz::SliceOrientation::Axial)->scene().fusion()->toOverlay.matrix.matrix4(), moved.matrix4());
    EXPECT_TRUE(m_panel->reportText().contains("nudged by hand")) << m_panel->reportText().toStdString();

    // Rotate 3° in the axial plane about the crosshair.
    const auto& g = presenter.current()->data.reference.volume.geometry();
    const auto cross = w.sliceView(viz::SliceOrientation::Axial)->scene().crosshair();
    const Vec3 centre = g.indexToLps({double(cross[0]), double(cross[1]), double(cross[2])});
    m_panel->nudgeStepDeg()->setValue(3);
    auto* rotate = m_panel->findChild<QPushButton*>("nudge_Ax +");
    ASSERT_NE(rotate, nullptr);
    rotate->click();
    settle();
    const geometry::Transform turned = presenter.current()->data.registrationOf(m_mr).toSeries.matrix;
    const geometry::Mat3 rz = geometry::Mat3::rotationXYZ(0, 0, 3 * 3.14159265358979323846 / 180);
    for (const auto& p : points)
        EXPECT_LT(geometry::distance(turned.apply(rz * (p - centre) + centre), moved.apply(p)), 1e-9);
    EXPECT_NEAR(geometry::distance(turned.apply(centre), moved.apply(centre)), 0, 1e-9); // the centre stays

    // Re-run from here: from the nudged start, the registration comes back to the truth.
    m_panel->initialisationBox()->setCurrentIndex(gui::RegistrationPanel::InitAuto);
    m_panel->rerunButton()->click();
    const auto [rerunOk, rerunMessage] = waitForTask(w);
    ASSERT_TRUE(rerunOk) << rerunMessage.toStdString();
    const auto r = presenter.current()->data.registrationOf(m_mr);
    EXPECT_TRUE(r.quality && r.quality->initialisation.find("landmark") == std::string::npos) << r.quality->initialisation;
    const double worst = maxDifference(r.toSeries.matrix, s_ctToMr, points);
    std::printf("re-run from the nudged transform (2 mm, 3 deg off): worst distance to truth %.3f mm\n", worst);
    EXPECT_LT(worst, 0.5);

    // Undo the run and both nudges: exactly the transform before.
    for (int i = 0; i < 3; ++i) w.undoAction()->trigger();
    settle();
    EXPECT_EQ(presenter.current()->data.registrationOf(m_mr).toSeries.matrix.matrix4(), before.matrix4());
}
