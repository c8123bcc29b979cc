#pragma once
// The Registration dock: which series to fuse and register, fusion display (blend, checkerboard, colour overlay),
// registration options and buttons, hand nudges, landmark pairs and the quality report in plain words. A widget
// only: it shows what MainWindow gives it and emits what the user asks for; CasePresenter does the work.

#include <QWidget>
#include <optional>
#include <utility>
#include <vector>

#include "gui/CasePresenter.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/simulation/Case.h"
#include "viz/Fusion.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSlider;
class QTableWidget;

namespace jumeau::gui {

class RegistrationPanel : public QWidget {
    Q_OBJECT
public:
    explicit RegistrationPanel(QWidget* parent = nullptr);

    // The case's series other than the reference: (series index, label). Keeps the selection when it is still there.
    void setSeries(const std::vector<std::pair<std::size_t, QString>>& series);
    // Selected series (case index), 0 when there is none.
    std::size_t currentSeries() const;
    void selectSeries(std::size_t index);

    bool fusionOn() const;
    void setFusionOn(bool on);
    viz::FusionSettings fusionSettings() const;
    // The overlay's window/level boxes (set to the series' default when the series changes).
    void setOverlayWindow(const viz::WindowLevel& wl);

    // Mode, metric, initialisation and "landmarks only" as the controls say (landmarks are added by the caller).
    imaging::RegistrationOptions options() const;
    // Landmarks can initialise registration: enables that choice.
    void setLandmarkPairCount(int complete);

    // The selected series' registration and its report.
    void showRegistration(const QString& seriesName, const simulation::SeriesRegistration& r);
    // Landmark pairs with the residual (mm) of each complete pair under `current` (the transform now in the case).
    void showLandmarks(const std::vector<LandmarkEntry>& entries, const imaging::SpatialTransform& current);
    void setBusy(bool busy);
    bool landmarkMode() const;
    void setLandmarkMode(bool on);

    QComboBox* seriesBox() const { return m_series; }
    QCheckBox* fusionBox() const { return m_fusion; }
    QComboBox* fusionModeBox() const { return m_fusionMode; }
    QSlider* opacitySlider() const { return m_opacity; }
    QDoubleSpinBox* checkerSizeBox() const { return m_checkerMm; }
    QComboBox* modeBox() const { return m_mode; }
    QComboBox* metricBox() const { return m_metric; }
    QComboBox* initialisationBox() const { return m_init; }
    QCheckBox* landmarksOnlyBox() const { return m_landmarksOnly; }
    QPushButton* registerButton() const { return m_register; }
    QPushButton* rerunButton() const { return m_rerun; }
    QPushButton* resetButton() const { return m_reset; }
    QPushButton* landmarkButton() const { return m_landmarkButton; }
    QPushButton* deleteLandmarkButton() const { return m_deleteLandmark; }
    QTableWidget* landmarkTable() const { return m_landmarks; }
    QDoubleSpinBox* nudgeStepMm() const { return m_stepMm; }
    QDoubleSpinBox* nudgeStepDeg() const { return m_stepDeg; }
    QLabel* reportLabel() const { return m_report; }
    // The report as plain text (what the surgeon reads beside the views).
    QString reportText() const;

    // Index of the initialisation choices in initialisationBox().
    enum InitChoice { InitAuto, InitScanner, InitCentres, InitMoments, InitLandmarks };

signals:
    void seriesChanged(std::size_t index);
    void fusionChanged();
    // fromCurrent: "Re-run from here" (the current transform is the start).
    void registerRequested(bool fromCurrent);
    void resetRequested();
    void nudgeRequested(jumeau::geometry::Vec3 translateMm, jumeau::geometry::Vec3 rotateDeg);
    void landmarkModeToggled(bool on);
    void deleteLandmarkRequested(int row);

private:
    QComboBox* m_series = nullptr;
    QCheckBox* m_fusion = nullptr;
    QComboBox* m_fusionMode = nullptr;
    QSlider* m_opacity = nullptr;
    QLabel* m_opacityText = nullptr;
    QDoubleSpinBox* m_checkerMm = nullptr;
    QDoubleSpinBox* m_overlayWidth = nullptr;
    QDoubleSpinBox* m_overlayCentre = nullptr;
    QComboBox* m_mode = nullptr;
    QComboBox* m_metric = nullptr;
    QComboBox* m_init = nullptr;
    QCheckBox* m_landmarksOnly = nullptr;
    QPushButton* m_register = nullptr;
    QPushButton* m_rerun = nullptr;
    QPushButton* m_reset = nullptr;
    QDoubleSpinBox* m_stepMm = nullptr;
    QDoubleSpinBox* m_stepDeg = nullptr;
    std::vector<QPushButton*> m_nudgeButtons;
    QPushButton* m_landmarkButton = nullptr;
    QPushButton* m_deleteLandmark = nullptr;
    QTableWidget* m_landmarks = nullptr;
    QLabel* m_report = nullptr;
    int m_completePairs = 0;
    bool m_busy = false;
    void updateEnabled();
};

} // namespace jumeau::gui
