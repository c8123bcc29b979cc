#include "gui/RegistrationPanel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QStandardItemModel>
#include <QTableWidget>
#include <QTextDocument>
#include <QVBoxLayout>

namespace jumeau::gui {

namespace {
QString lpsText(const geometry::Vec3& p) {
    return QString("%1, %2, %3").arg(p.x, 0, 'f', 1).arg(p.y, 0, 'f', 1).arg(p.z, 0, 'f', 1);
}
QString escaped(const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); }
} // namespace

RegistrationPanel::RegistrationPanel(QWidget* parent) : QWidget(parent) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(4, 4, 4, 4);

    auto* top = new QFormLayout();
    // Compact controls: the dock sits beside the views and must not push them aside.
    auto compact = [](QComboBox* box) {
        box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        box->setMinimumContentsLength(10);
    };
    m_series = new QComboBox(this);
    compact(m_series);
    m_series->setToolTip("The series to fuse over the reference, register onto it and place landmarks in");
    top->addRow("Series", m_series);
    outer->addLayout(top);

    // --- Fusion
    auto* fusionGroup = new QGroupBox("Fusion over the reference", this);
    auto* fusionForm = new QFormLayout(fusionGroup);
    m_fusion = new QCheckBox("Show the series over the reference", fusionGroup);
    fusionForm->addRow(m_fusion);
    m_fusionMode = new QComboBox(fusionGroup);
    m_fusionMode->addItems({"Blend", "Checkerboard", "Colour overlay"});
    compact(m_fusionMode);
    fusionForm->addRow("Display", m_fusionMode);
    auto* opacityRow = new QHBoxLayout();
    m_opacity = new QSlider(Qt::Horizontal, fusionGroup);
    m_opacity->setRange(0, 100);
    m_opacity->setValue(50);
    m_opacity->setToolTip("Blend: share of the series (0% reference only, 100% series only). Colour overlay: opacity");
    m_opacityText = new QLabel("50 %", fusionGroup);
    m_opacityText->setMinimumWidth(40);
    opacityRow->addWidget(m_opacity, 1);
    opacityRow->addWidget(m_opacityText);
    fusionForm->addRow("Opacity", opacityRow);
    m_checkerMm = new QDoubleSpinBox(fusionGroup);
    m_checkerMm->setRange(2, 200);
    m_checkerMm->setValue(20);
    m_checkerMm->setSuffix(" mm");
    fusionForm->addRow("Squares", m_checkerMm);
    auto* wlRow = new QHBoxLayout();
    m_overlayWidth = new QDoubleSpinBox(fusionGroup);
    m_overlayWidth->setRange(1, 100000);
    m_overlayWidth->setDecimals(0);
    m_overlayWidth->setPrefix("W ");
    m_overlayCentre = new QDoubleSpinBox(fusionGroup);
    m_overlayCentre->setRange(-100000, 100000);
    m_overlayCentre->setDecimals(0);
    m_overlayCentre->setPrefix("L ");
    wlRow->addWidget(m_overlayWidth);
    wlRow->addWidget(m_overlayCentre);
    fusionForm->addRow("Series window", wlRow);
    outer->addWidget(fusionGroup);

    // --- Registration
    auto* regGroup = new QGroupBox("Register onto the reference", this);
    auto* regForm = new QFormLayout(regGroup);
    m_mode = new QComboBox(regGroup);
    m_mode->addItems({"Rigid", "Affine", "Deformable"});
    compact(m_mode);
    regForm->addRow("Transform", m_mode);
    m_metric = new QComboBox(regGroup);
    m_metric->addItems({"Automatic (mutual information)", "Mutual information", "Mean squares (same modality)",
                        "Correlation (same modality)"});
    compact(m_metric);
    regForm->addRow("Similarity", m_metric);
    m_init = new QComboBox(regGroup);
    m_init->addItems({"Automatic", "Scanner coordinates", "Image centres", "Centres of mass", "Landmarks"});
    compact(m_init);
    regForm->addRow("Start from", m_init);
    m_landmarksOnly = new QCheckBox("Landmark fit only (no image refinement)", regGroup);
    regForm->addRow(m_landmarksOnly);
    auto* buttons = new QGridLayout();
    m_register = new QPushButton("Register", regGroup);
    m_register->setToolTip("Runs in the background; Cancel (status bar) stops it and keeps the previous transform");
    m_rerun = new QPushButton("Re-run from here", regGroup);
    m_rerun->setToolTip("Register again, starting from the transform shown now (e.g. after nudging)");
    m_reset = new QPushButton("Reset to scanner coordinates", regGroup);
    m_reset->setToolTip("Forget the registration: the series is placed by its scanner coordinates again (undoable)");
    buttons->addWidget(m_register, 0, 0);
    buttons->addWidget(m_rerun, 0, 1);
    buttons->addWidget(m_reset, 1, 0, 1, 2);
    regForm->addRow(buttons);
    outer->addWidget(regGroup);

    // --- Report
    auto* reportGroup = new QGroupBox("How well the series fits", this);
    auto* reportLayout = new QVBoxLayout(reportGroup);
    m_report = new QLabel(reportGroup);
    m_report->setObjectName("registrationReport");
    m_report->setWordWrap(true);
    m_report->setTextFormat(Qt::RichText);
    m_report->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_report->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    reportLayout->addWidget(m_report);
    outer->addWidget(reportGroup);
    // --- Nudge
    auto* nudgeGroup = new QGroupBox("Nudge the series by hand", this);
    auto* nudgeGrid = new QGridLayout(nudgeGroup);
    m_stepMm = new QDoubleSpinBox(nudgeGroup);
    m_stepMm->setRange(0.1, 50);
    m_stepMm->setValue(1);
    m_stepMm->setSuffix(" mm");
    m_stepDeg = new QDoubleSpinBox(nudgeGroup);
    m_stepDeg->setRange(0.1, 45);
    m_stepDeg->setValue(1);
    m_stepDeg->setSuffix(" °");
    nudgeGrid->addWidget(new QLabel("Move", nudgeGroup), 0, 0);
    nudgeGrid->addWidget(m_stepMm, 0, 1, 1, 2);
    nudgeGrid->addWidget(new QLabel("Rotate", nudgeGroup), 0, 3);
    nudgeGrid->addWidget(m_stepDeg, 0, 4, 1, 2);
    // Translations towards the patient's Right/Left, Anterior/Posterior, Superior/Inferior (LPS signs).
    const struct {
        const char* text;
        const char* tip;
        geometry::Vec3 t, r;
    } moves[] = {
        {"R", "Move the series towards the patient's right", {-1, 0, 0}, {}},
        {"L", "Move the series towards the patient's left", {1, 0, 0}, {}},
        {"A", "Move the series anterior", {0, -1, 0}, {}},
        {"P", "Move the series posterior", {0, 1, 0}, {}},
        {"S", "Move the series superior (head)", {0, 0, 1}, {}},
        {"I", "Move the series inferior (feet)", {0, 0, -1}, {}},
        {"Ax −", "Rotate in the axial plane (about the S-I axis through the crosshair)", {}, {0, 0, -1}},
        {"Ax +", "Rotate in the axial plane (about the S-I axis through the crosshair)", {}, {0, 0, 1}},
        {"Cor −", "Rotate in the coronal plane (about the A-P axis through the crosshair)", {}, {0, -1, 0}},
        {"Cor +", "Rotate in the coronal plane (about the A-P axis through the crosshair)", {}, {0, 1, 0}},
        {"Sag −", "Rotate in the sagittal plane (about the R-L axis through the crosshair)", {}, {-1, 0, 0}},
        {"Sag +", "Rotate in the sagittal plane (about the R-L axis through the crosshair)", {}, {1, 0, 0}},
    };
    for (int i = 0; i < 12; ++i) {
        auto* b = new QPushButton(moves[i].text, nudgeGroup);
        b->setToolTip(moves[i].tip);
        b->setObjectName(QString("nudge_%1").arg(moves[i].text));
        b->setMinimumWidth(30);
        b->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
        const geometry::Vec3 t = moves[i].t, r = moves[i].r;
        connect(b, &QPushButton::clicked, this, [this, t, r] {
            emit nudgeRequested(t * m_stepMm->value(), r * m_stepDeg->value());
        });
        nudgeGrid->addWidget(b, 1 + i / 6, i % 6);
        m_nudgeButtons.push_back(b);
    }
    outer->addWidget(nudgeGroup);

    // --- Landmarks
    auto* lmGroup = new QGroupBox("Landmarks", this);
    auto* lmLayout = new QVBoxLayout(lmGroup);
    auto* lmHelp = new QLabel("Click the same point in the reference and in the series (shown from the Series list). "
                              "Pairs match by order (L1, L2 …); 3 pairs can start the registration.",
                              lmGroup);
    lmHelp->setWordWrap(true);
    lmLayout->addWidget(lmHelp);
    auto* lmButtons = new QHBoxLayout();
    m_landmarkButton = new QPushButton("Place landmarks", lmGroup);
    m_landmarkButton->setObjectName("placeLandmarks");
    m_landmarkButton->setCheckable(true);
    m_landmarkButton->setToolTip("While on, a click in a slice view places a landmark in the image shown there");
    m_deleteLandmark = new QPushButton("Delete pair", lmGroup);
    lmButtons->addWidget(m_landmarkButton);
    lmButtons->addWidget(m_deleteLandmark);
    lmLayout->addLayout(lmButtons);
    m_landmarks = new QTableWidget(0, 4, lmGroup);
    m_landmarks->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_landmarks->setSelectionMode(QAbstractItemView::SingleSelection);
    m_landmarks->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_landmarks->verticalHeader()->hide();
    m_landmarks->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_landmarks->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_landmarks->horizontalHeader()->setSectionResizeMode(3, QHeaderView::ResizeToContents);
    m_landmarks->setHorizontalHeaderLabels({"Name", "Reference", "Series", "Error mm"});
    m_landmarks->setToolTip("LPS coordinates (mm) of each point; the error is the distance between the series point "
                            "and where the current transform puts the reference point");
    m_landmarks->setMinimumHeight(110);
    lmLayout->addWidget(m_landmarks);
    outer->addWidget(lmGroup);

    outer->addStretch(1);

    connect(m_series, &QComboBox::currentIndexChanged, this, [this] {
        updateEnabled();
        emit seriesChanged(currentSeries());
    });
    connect(m_fusion, &QCheckBox::toggled, this, [this] { emit fusionChanged(); });
    connect(m_fusionMode, &QComboBox::currentIndexChanged, this, [this] {
        updateEnabled();
        emit fusionChanged();
    });
    connect(m_opacity, &QSlider::valueChanged, this, [this](int v) {
        m_opacityText->setText(QString("%1 %").arg(v));
        emit fusionChanged();
    });
    connect(m_checkerMm, &QDoubleSpinBox::valueChanged, this, [this] { emit fusionChanged(); });
    connect(m_overlayWidth, &QDoubleSpinBox::valueChanged, this, [this] { emit fusionChanged(); });
    connect(m_overlayCentre, &QDoubleSpinBox::valueChanged, this, [this] { emit fusionChanged(); });
    connect(m_init, &QComboBox::currentIndexChanged, this, [this] { updateEnabled(); });
    connect(m_register, &QPushButton::clicked, this, [this] { emit registerRequested(false); });
    connect(m_rerun, &QPushButton::clicked, this, [this] { emit registerRequested(true); });
    connect(m_reset, &QPushButton::clicked, this, [this] { emit resetRequested(); });
    connect(m_landmarkButton, &QPushButton::toggled, this, [this](bool on) { emit landmarkModeToggled(on); });
    connect(m_deleteLandmark, &QPushButton::clicked, this, [this] {
        const int row = m_landmarks->currentRow();
        if (row >= 0) emit deleteLandmarkRequested(row);
    });
    connect(m_landmarks, &QTableWidget::itemSelectionChanged, this, [this] { updateEnabled(); });
    m_report->setText("Open a case with a second series (File → Import DICOM) to fuse and register it.");
    updateEnabled();
}

void RegistrationPanel::setSeries(const std::vector<std::pair<std::size_t, QString>>& series) {
    const std::size_t keep = currentSeries();
    {
        const QSignalBlocker block(m_series);
        m_series->clear();
        for (const auto& [index, label] : series) m_series->addItem(label, QVariant::fromValue<qulonglong>(index));
        const int row = m_series->findData(QVariant::fromValue<qulonglong>(keep));
        m_series->setCurrentIndex(row >= 0 ? row : (m_series->count() > 0 ? 0 : -1));
    }
    updateEnabled();
    emit seriesChanged(currentSeries());
}

std::size_t RegistrationPanel::currentSeries() const {
    if (m_series->currentIndex() < 0) return 0;
    return static_cast<std::size_t>(m_series->currentData().toULongLong());
}

void RegistrationPanel::selectSeries(std::size_t index) {
    const int row = m_series->findData(QVariant::fromValue<qulonglong>(index));
    if (row >= 0) m_series->setCurrentIndex(row);
}

bool RegistrationPanel::fusionOn() const { return m_fusion->isChecked() && currentSeries() != 0; }
void RegistrationPanel::setFusionOn(bool on) { m_fusion->setChecked(on); }

viz::FusionSettings RegistrationPanel::fusionSettings() const {
    viz::FusionSettings s;
    s.mode = m_fusionMode->currentIndex() == 1   ? viz::FusionMode::Checkerboard
             : m_fusionMode->currentIndex() == 2 ? viz::FusionMode::ColourOverlay
                                                 : viz::FusionMode::Blend;
    s.opacity = m_opacity->value() / 100.0;
    s.checkerMm = m_checkerMm->value();
    s.window = {m_overlayCentre->value(), m_overlayWidth->value()};
    return s;
}

void RegistrationPanel::setOverlayWindow(const viz::WindowLevel& wl) {
    const QSignalBlocker b1(m_overlayWidth), b2(m_overlayCentre);
    m_overlayWidth->setValue(wl.width);
    m_overlayCentre->setValue(wl.centre);
}

imaging::RegistrationOptions RegistrationPanel::options() const {
    imaging::RegistrationOptions o;
    o.mode = m_mode->currentIndex() == 1   ? imaging::RegistrationMode::Affine
             : m_mode->currentIndex() == 2 ? imaging::RegistrationMode::Deformable
                                           : imaging::RegistrationMode::Rigid;
    switch (m_metric->currentIndex()) {
    case 1: o.metric = imaging::RegistrationMetric::MutualInformation; break;
    case 2: o.metric = imaging::RegistrationMetric::MeanSquares; break;
    case 3: o.metric = imaging::RegistrationMetric::Correlation; break;
    default: o.metric = imaging::RegistrationMetric::Auto; break;
    }
    switch (m_init->currentIndex()) {
    case InitScanner: o.initialisation = imaging::Initialisation::Identity; break;
    case InitCentres: o.initialisation = imaging::Initialisation::Geometry; break;
    case InitMoments: o.initialisation = imaging::Initialisation::Moments; break;
    case InitLandmarks: o.initialisation = imaging::Initialisation::Landmarks; break;
    default: o.initialisation = imaging::Initialisation::Auto; break;
    }
    o.landmarksOnly = m_landmarksOnly->isChecked();
    return o;
}

void RegistrationPanel::setLandmarkPairCount(int complete) {
    m_completePairs = complete;
    updateEnabled();
}

void RegistrationPanel::setBusy(bool busy) {
    m_busy = busy;
    updateEnabled();
}

bool RegistrationPanel::landmarkMode() const { return m_landmarkButton->isChecked(); }
void RegistrationPanel::setLandmarkMode(bool on) { m_landmarkButton->setChecked(on); }

void RegistrationPanel::updateEnabled() {
    const bool has = currentSeries() != 0;
    const bool enoughLandmarks = m_completePairs >= 3;
    // The landmark start needs 3 pairs; the box says so rather than failing later.
    if (auto* model = qobject_cast<QStandardItemModel*>(m_init->model()); model && model->item(InitLandmarks))
        model->item(InitLandmarks)->setEnabled(enoughLandmarks);
    m_landmarksOnly->setEnabled(enoughLandmarks);
    if (!enoughLandmarks && m_landmarksOnly->isChecked()) m_landmarksOnly->setChecked(false);
    const bool idle = has && !m_busy;
    m_register->setEnabled(idle && (m_init->currentIndex() != InitLandmarks || enoughLandmarks));
    m_rerun->setEnabled(idle);
    m_reset->setEnabled(idle);
    for (auto* b : m_nudgeButtons) b->setEnabled(idle);
    m_landmarkButton->setEnabled(has);
    m_deleteLandmark->setEnabled(has && m_landmarks->currentRow() >= 0);
    // Without a second series there is nothing to fuse or register: the controls say so by being off.
    for (QWidget* w : std::initializer_list<QWidget*>{m_series, m_fusion, m_fusionMode, m_overlayWidth,
                                                      m_overlayCentre, m_mode, m_metric, m_init, m_stepMm, m_stepDeg})
        w->setEnabled(has);
    m_checkerMm->setEnabled(has && m_fusionMode->currentIndex() == 1);
    m_opacity->setEnabled(has && m_fusionMode->currentIndex() != 1);
}

void RegistrationPanel::showRegistration(const QString& seriesName, const simulation::SeriesRegistration& r) {
    QString html = QString("<b>%1</b>: ").arg(seriesName.toHtmlEscaped());
    m_report->setToolTip(QString());
    if (!r.registered) {
        html += "<span style='color:#d08000'><b>not registered.</b></span> It is placed by its scanner coordinates "
                "only; they match the reference only when both were taken in the same session without the patient "
                "moving. Check the fusion before relying on it, or register it.";
        m_report->setText(html);
        return;
    }
    const bool nudged = r.method.find("nudged by hand") != std::string::npos;
    html += "registered (" + escaped(r.method) + ").";
    if (!r.quality) {
        html += "<br>The transform was set by hand: no automatic report. Check the fusion (checkerboard edges, "
                "landmark errors below).";
        m_report->setText(html);
        return;
    }
    const auto& q = *r.quality;
    if (nudged)
        html += "<br><span style='color:#d08000'>Nudged by hand after this report: the figures below describe the "
                "registration result, not the alignment shown now.</span>";
    const bool worrying = !q.converged || !q.warnings.empty() || q.landmarkMaxMm > 3;
    html += worrying ? "<br><span style='color:#e04040'><b>Check carefully before planning on it.</b></span>"
                     : "<br><span style='color:#30a030'><b>No problem detected.</b></span> Still check the fusion.";
    html += q.converged ? "<br>Converged: <b>yes</b> — the search settled on its best fit"
                        : "<br>Converged: <b>no</b> — the search stopped at its iteration limit before settling";
    // The optimiser's own words, for whoever wants them.
    m_report->setToolTip(q.stopReason.empty() ? QString() : "Optimiser: " + QString::fromStdString(q.stopReason));
    html += QString("<br>Similarity (%1): %2 at the start, %3 at the end (lower is better)")
                .arg(escaped(q.metric))
                .arg(q.initialMetric, 0, 'g', 4)
                .arg(q.finalMetric, 0, 'g', 4);
    html += QString("<br>Iterations: %1 in %2 s; start: %3")
                .arg(q.iterations)
                .arg(q.seconds, 0, 'f', 1)
                .arg(escaped(q.initialisation));
    html += QString("<br>Overlap of the two images: %1 % before, %2 % after")
                .arg(100 * q.initialOverlap, 0, 'f', 0)
                .arg(100 * q.overlap, 0, 'f', 0);
    if (!q.landmarks.empty()) {
        html += QString("<br>Landmark error: %1 mm RMS, worst %2 mm").arg(q.landmarkRmsMm, 0, 'f', 2).arg(q.landmarkMaxMm, 0, 'f', 2);
        for (const auto& l : q.landmarks)
            html += QString("<br>&nbsp;&nbsp;%1: %2 mm").arg(escaped(l.name)).arg(l.errorMm, 0, 'f', 2);
    } else {
        html += "<br>No landmarks: place some to measure the error at points you trust.";
    }
    for (const auto& w : q.warnings) html += "<br><span style='color:#e04040'>⚠ " + escaped(w) + "</span>";
    m_report->setText(html);
}

void RegistrationPanel::showLandmarks(const std::vector<LandmarkEntry>& entries, const imaging::SpatialTransform& current) {
    const int selected = m_landmarks->currentRow();
    m_landmarks->setRowCount(static_cast<int>(entries.size()));
    int complete = 0;
    for (int row = 0; row < static_cast<int>(entries.size()); ++row) {
        const auto& e = entries[static_cast<std::size_t>(row)];
        const QString error = e.complete() ? QString::number(geometry::distance(current.apply(*e.fixed), *e.moving), 'f', 2) : "–";
        complete += e.complete();
        const QString cells[4] = {QString::fromStdString(e.name), e.fixed ? lpsText(*e.fixed) : "(place in reference)",
                                  e.moving ? lpsText(*e.moving) : "(place in series)", error};
        for (int c = 0; c < 4; ++c) {
            auto* item = m_landmarks->item(row, c);
            if (!item) m_landmarks->setItem(row, c, item = new QTableWidgetItem());
            item->setText(cells[c]);
        }
    }
    if (selected >= 0 && selected < m_landmarks->rowCount()) m_landmarks->selectRow(selected);
    setLandmarkPairCount(complete);
}

QString RegistrationPanel::reportText() const {
    QTextDocument doc;
    doc.setHtml(m_report->text());
    return doc.toPlainText();
}

} // namespace jumeau::gui
