#include "gui/ImportDialog.h"

#include <QDialogButtonBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <functional>
#include <map>

#include "gui/ImportPresenter.h"

namespace jumeau::gui {

namespace {
constexpr int kSeriesIndexRole = Qt::UserRole + 1; // on series rows: index into the scan's series

QString q(const std::string& s) { return QString::fromStdString(s); }

QString dicomDate(const std::string& d) {
    return d.size() == 8 ? q(d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2)) : q(d);
}

QString personName(const std::string& pn) {
    QString s = q(pn);
    s.replace('^', ' ');
    return s.simplified().isEmpty() ? QString("(no name)") : s.simplified();
}
} // namespace

ImportDialog::ImportDialog(QWidget* parent) : QDialog(parent), m_presenter(new ImportPresenter(this)) {
    setWindowTitle("Import DICOM");
    resize(960, 560);
    auto* layout = new QVBoxLayout(this);

    auto* top = new QHBoxLayout();
    m_path = new QLineEdit(this);
    m_path->setPlaceholderText("A folder (searched recursively) or a DICOMDIR");
    auto* browseButton = new QPushButton("Browse…", this);
    m_scan = new QPushButton("Scan", this);
    top->addWidget(new QLabel("Folder:", this));
    top->addWidget(m_path, 1);
    top->addWidget(browseButton);
    top->addWidget(m_scan);
    layout->addLayout(top);

    auto* middle = new QHBoxLayout();
    m_tree = new QTreeWidget(this);
    m_tree->setColumnCount(4);
    m_tree->setHeaderLabels({"Patient / study / series", "Modality", "Images", "Date"});
    m_tree->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tree->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    middle->addWidget(m_tree, 1);
    auto* side = new QVBoxLayout();
    m_thumbnail = new QLabel(this);
    m_thumbnail->setFixedSize(200, 200);
    m_thumbnail->setAlignment(Qt::AlignCenter);
    m_thumbnail->setStyleSheet("QLabel { background: black; color: #aaa; }");
    m_details = new QLabel(this);
    m_details->setWordWrap(true);
    m_details->setFixedWidth(200);
    m_details->setTextInteractionFlags(Qt::TextSelectableByMouse);
    side->addWidget(m_thumbnail);
    side->addWidget(m_details);
    side->addStretch(1);
    middle->addLayout(side);
    layout->addLayout(middle, 1);

    auto* bottom = new QHBoxLayout();
    m_skipped = new QLabel(this);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->hide();
    m_cancel = new QPushButton("Cancel scan", this);
    m_cancel->hide();
    bottom->addWidget(m_skipped, 1);
    bottom->addWidget(m_progress);
    bottom->addWidget(m_cancel);
    layout->addLayout(bottom);

    auto* buttons = new QDialogButtonBox(this);
    m_load = buttons->addButton("Load selected", QDialogButtonBox::AcceptRole);
    m_load->setEnabled(false);
    buttons->addButton(QDialogButtonBox::Close);
    layout->addWidget(buttons);

    connect(browseButton, &QPushButton::clicked, this, &ImportDialog::browse);
    connect(m_scan, &QPushButton::clicked, this, [this] { scan(m_path->text()); });
    connect(m_path, &QLineEdit::returnPressed, this, [this] { scan(m_path->text()); });
    connect(m_cancel, &QPushButton::clicked, m_presenter, &ImportPresenter::cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_tree, &QTreeWidget::itemSelectionChanged, this, &ImportDialog::showDetails);
    connect(m_tree, &QTreeWidget::itemDoubleClicked, this, [this] {
        if (!selectedSeries().empty()) accept();
    });
    connect(m_presenter, &ImportPresenter::progress, this, [this](double f, const QString& msg) {
        m_progress->setValue(static_cast<int>(f * 1000));
        m_skipped->setText(msg);
    });
    connect(m_presenter, &ImportPresenter::scanFinished, this, &ImportDialog::populate);
    connect(m_presenter, &ImportPresenter::scanFailed, this, [this](const QString& msg) {
        m_progress->hide();
        m_cancel->hide();
        m_scan->setEnabled(true);
        m_tree->clear();
        m_skipped->setText("<b>Could not scan:</b> " + msg.toHtmlEscaped());
        emit scanShown();
    });
    connect(m_presenter, &ImportPresenter::thumbnailReady, this, [this](std::size_t index) {
        const auto items = m_tree->selectedItems();
        if (items.isEmpty()) return;
        const QVariant v = items.first()->data(0, kSeriesIndexRole);
        if (v.isValid() && v.toULongLong() == index) {
            const QImage img = m_presenter->thumbnail(index);
            if (img.isNull()) m_thumbnail->setText("no preview");
            else m_thumbnail->setPixmap(QPixmap::fromImage(img));
        }
    });
}

ImportDialog::~ImportDialog() = default;

void ImportDialog::browse() {
    const QString dir = QFileDialog::getExistingDirectory(this, "DICOM folder", m_path->text());
    if (!dir.isEmpty()) {
        m_path->setText(dir);
        scan(dir);
    }
}

void ImportDialog::scan(const QString& path) {
    if (path.trimmed().isEmpty() || m_presenter->busy()) return;
    m_path->setText(path);
    m_tree->clear();
    m_thumbnail->clear();
    m_details->clear();
    m_load->setEnabled(false);
    m_scan->setEnabled(false);
    m_progress->setValue(0);
    m_progress->show();
    m_cancel->show();
    m_skipped->setText("Scanning …");
    m_presenter->scan(path.trimmed().toStdString());
}

void ImportDialog::populate() {
    m_progress->hide();
    m_cancel->hide();
    m_scan->setEnabled(true);
    m_tree->clear();
    const auto& scan = m_presenter->result();
    // patient → study → series rows; keys keep scanner order stable.
    std::map<std::string, QTreeWidgetItem*> patients, studies;
    for (std::size_t i = 0; i < scan.series.size(); ++i) {
        const auto& s = scan.series[i];
        const std::string pkey = s.patientId + "\x1f" + s.patientName;
        QTreeWidgetItem*& patient = patients[pkey];
        if (!patient) {
            patient = new QTreeWidgetItem(m_tree, {personName(s.patientName) + (s.patientId.empty() ? "" : "  [" + q(s.patientId) + "]")});
            patient->setExpanded(true);
        }
        QTreeWidgetItem*& study = studies[s.studyUid];
        if (!study) {
            study = new QTreeWidgetItem(patient, {s.studyDescription.empty() ? QString("(study)") : q(s.studyDescription), "", "",
                                                  dicomDate(s.studyDate)});
            study->setExpanded(true);
        }
        const QString images = s.files.size() == 1 ? QString("1 file") : QString("%1").arg(s.files.size());
        auto* item = new QTreeWidgetItem(study, {s.seriesDescription.empty() ? QString("(series)") : q(s.seriesDescription),
                                                 q(s.modality), images, ""});
        item->setData(0, kSeriesIndexRole, QVariant::fromValue<qulonglong>(i));
        item->setToolTip(0, q(s.seriesUid));
    }
    QString skipped = QString("%1 series found").arg(scan.series.size());
    if (!scan.skipped.empty()) {
        skipped += QString(", %1 file(s) skipped").arg(scan.skipped.size());
        QString tip;
        for (std::size_t i = 0; i < scan.skipped.size() && i < 30; ++i)
            tip += q(scan.skipped[i].file.string() + ": " + scan.skipped[i].reason) + "\n";
        m_skipped->setToolTip(tip);
    }
    m_skipped->setText(skipped);
    if (scan.series.empty()) m_skipped->setText(skipped + " — nothing to import here");
    emit scanShown();
}

std::vector<imaging::SeriesInfo> ImportDialog::selectedSeries() const {
    std::vector<imaging::SeriesInfo> out;
    std::vector<bool> taken(m_presenter->result().series.size(), false);
    std::function<void(QTreeWidgetItem*)> collect = [&](QTreeWidgetItem* item) {
        const QVariant v = item->data(0, kSeriesIndexRole);
        if (v.isValid()) {
            const auto i = static_cast<std::size_t>(v.toULongLong());
            if (i < taken.size() && !taken[i]) {
                taken[i] = true;
                out.push_back(m_presenter->result().series[i]);
            }
        }
        for (int c = 0; c < item->childCount(); ++c) collect(item->child(c));
    };
    for (auto* item : m_tree->selectedItems()) collect(item);
    return out;
}

void ImportDialog::showDetails() {
    const auto selected = selectedSeries();
    m_load->setEnabled(!selected.empty());
    const auto items = m_tree->selectedItems();
    if (items.isEmpty()) return;
    const QVariant v = items.first()->data(0, kSeriesIndexRole);
    if (!v.isValid()) {
        m_thumbnail->clear();
        m_details->setText(QString("%1 series selected").arg(selected.size()));
        return;
    }
    const auto index = static_cast<std::size_t>(v.toULongLong());
    const auto& s = m_presenter->result().series[index];
    QString details = QString("<b>%1</b><br>%2 · %3 file(s)<br>body part: %4<br>series %5")
                          .arg(q(s.seriesDescription).toHtmlEscaped(), q(s.modality))
                          .arg(s.files.size())
                          .arg(s.bodyPart.empty() ? QString("—") : q(s.bodyPart))
                          .arg(q(s.seriesUid).replace(".", QString::fromUtf8(".\u200b"))); // let long UIDs wrap
    for (const auto& w : s.warnings) details += "<br><i>" + q(w).toHtmlEscaped() + "</i>";
    m_details->setText(details);
    if (!m_presenter->hasThumbnail(index)) {
        m_thumbnail->setText("preview …");
        m_presenter->requestThumbnail(index);
    } else if (const QImage img = m_presenter->thumbnail(index); img.isNull()) {
        m_thumbnail->setText("no preview");
    } else {
        m_thumbnail->setPixmap(QPixmap::fromImage(img));
    }
}

} // namespace jumeau::gui
