#pragma once
// The DICOM import workflow without widgets: scan a folder in the background (progress, cancel), keep the
// series found, and make thumbnails on demand, also in the background.

#include <QImage>
#include <QObject>
#include <QString>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>

#include "jumeau/imaging/DicomSeriesReader.h"

class QThread;

namespace jumeau::gui {

// A greyscale (or colour) picture of the middle image of a series, at most `size` pixels on a side.
// Decodes one file only; null image when it cannot be decoded.
QImage makeThumbnail(const imaging::SeriesInfo& series, int size);

class ImportPresenter : public QObject {
    Q_OBJECT
public:
    explicit ImportPresenter(QObject* parent = nullptr);
    ~ImportPresenter() override;

    void scan(const std::filesystem::path& path);
    void cancel();
    bool busy() const { return m_scanWorker != nullptr; }
    // The last finished scan (empty before one finished).
    const imaging::DicomScan& result() const { return m_result; }

    // Computes the thumbnail of result().series[index] in the background; thumbnailReady follows.
    void requestThumbnail(std::size_t index);
    QImage thumbnail(std::size_t index) const;
    bool hasThumbnail(std::size_t index) const { return m_thumbnails.count(index) > 0; }

signals:
    void progress(double fraction, const QString& message);
    void scanFinished();
    void scanFailed(const QString& message);
    void thumbnailReady(std::size_t index);

private:
    imaging::DicomScan m_result;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    QThread* m_scanWorker = nullptr;
    std::map<std::size_t, QImage> m_thumbnails;
    std::map<std::size_t, QThread*> m_thumbnailWorkers;
    int m_generation = 0; // thumbnails of an older scan are dropped
};

} // namespace jumeau::gui
