#pragma once
// File → Import DICOM: choose a folder (or DICOMDIR), browse patient / study / series with a thumbnail, and
// load the selected series into the case. Scanning runs in the background with progress and Cancel.

#include <QDialog>
#include <vector>

#include "jumeau/imaging/DicomSeriesReader.h"

class QLineEdit;
class QTreeWidget;
class QTreeWidgetItem;
class QLabel;
class QProgressBar;
class QPushButton;

namespace jumeau::gui {

class ImportPresenter;

class ImportDialog : public QDialog {
    Q_OBJECT
public:
    explicit ImportDialog(QWidget* parent = nullptr);
    ~ImportDialog() override;

    void scan(const QString& path);
    ImportPresenter& presenter() { return *m_presenter; }
    QTreeWidget* tree() const { return m_tree; }
    // Series the user selected (a patient or study row selects all of its series).
    std::vector<imaging::SeriesInfo> selectedSeries() const;

signals:
    void scanShown();

private:
    void populate();
    void showDetails();
    void browse();

    ImportPresenter* m_presenter = nullptr;
    QLineEdit* m_path = nullptr;
    QPushButton* m_scan = nullptr;
    QTreeWidget* m_tree = nullptr;
    QLabel* m_thumbnail = nullptr;
    QLabel* m_details = nullptr;
    QLabel* m_skipped = nullptr;
    QProgressBar* m_progress = nullptr;
    QPushButton* m_cancel = nullptr;
    QPushButton* m_load = nullptr;
};

} // namespace jumeau::gui
