#include "gui/ImportPresenter.h"

#include <QThread>
#include <algorithm>

#include "viz/SliceScene.h"

namespace jumeau::gui {

QImage makeThumbnail(const imaging::SeriesInfo& series, int size) {
    if (series.files.empty()) return {};
    // The middle file: for a single-frame series a middle slice, for a multi-frame file all of its frames.
    imaging::SeriesInfo one = series;
    one.files = {series.files[series.files.size() / 2]};
    auto loaded = imaging::loadSeries(one);
    if (!loaded) return {};
    const imaging::Volume& v = loaded->volume;
    const auto& g = v.geometry();
    const bool hasPreset = !series.windowPresets.empty() && series.windowPresets[0].width > 0;
    const auto wl = viz::defaultWindowLevel(v, series.modality, hasPreset ? series.windowPresets[0].centre : 0,
                                            hasPreset ? series.windowPresets[0].width : 0, hasPreset);
    const int k = g.size[2] / 2;
    QImage img(g.size[0], g.size[1], QImage::Format_RGB888);
    const double lo = wl.centre - wl.width / 2.0;
    auto grey = [&](double x) { return static_cast<int>(std::clamp((x - lo) / wl.width * 255.0, 0.0, 255.0)); };
    for (int j = 0; j < g.size[1]; ++j)
        for (int i = 0; i < g.size[0]; ++i) {
            if (v.holds<imaging::Rgb8>()) {
                const auto c = v.data<imaging::Rgb8>()[g.linearIndex(i, j, k)];
                img.setPixel(i, j, qRgb(grey(c.r), grey(c.g), grey(c.b)));
            } else {
                const int y = grey(v.valueAt(i, j, k));
                img.setPixel(i, j, qRgb(y, y, y));
            }
        }
    // Keep the physical aspect of the pixels.
    const double aspect = (g.size[0] * g.spacing.x) / std::max(1e-6, g.size[1] * g.spacing.y);
    const QSize target = aspect >= 1 ? QSize(size, std::max(1, int(size / aspect))) : QSize(std::max(1, int(size * aspect)), size);
    return img.scaled(target, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
}

ImportPresenter::ImportPresenter(QObject* parent) : QObject(parent) {}

ImportPresenter::~ImportPresenter() {
    cancel();
    if (m_scanWorker) m_scanWorker->wait();
    for (auto& [i, t] : m_thumbnailWorkers) t->wait();
}

void ImportPresenter::cancel() {
    if (m_cancel) m_cancel->store(true);
}

void ImportPresenter::scan(const std::filesystem::path& path) {
    if (m_scanWorker) return;
    ++m_generation;
    m_thumbnails.clear();
    auto cancelFlag = std::make_shared<std::atomic<bool>>(false);
    m_cancel = cancelFlag;
    m_scanWorker = QThread::create([this, path, cancelFlag] {
        auto result = std::make_shared<Result<imaging::DicomScan>>(imaging::scanDicom(path, [this, cancelFlag](double f, const std::string& m) {
            const QString msg = QString::fromStdString(m);
            QMetaObject::invokeMethod(this, [this, f, msg] { emit progress(f, msg); }, Qt::QueuedConnection);
            return !cancelFlag->load();
        }));
        QMetaObject::invokeMethod(
            this,
            [this, result] {
                if (result->ok()) {
                    m_result = std::move(*result).value();
                    emit scanFinished();
                } else {
                    m_result = {};
                    emit scanFailed(QString::fromStdString(result->error().message));
                }
            },
            Qt::QueuedConnection);
    });
    connect(m_scanWorker, &QThread::finished, this, [this] {
        m_scanWorker->deleteLater();
        m_scanWorker = nullptr;
    });
    m_scanWorker->start();
}

void ImportPresenter::requestThumbnail(std::size_t index) {
    if (index >= m_result.series.size() || m_thumbnails.count(index) || m_thumbnailWorkers.count(index)) return;
    const imaging::SeriesInfo info = m_result.series[index];
    const int generation = m_generation;
    QThread* worker = QThread::create([this, info, index, generation] {
        QImage image = makeThumbnail(info, 192);
        QMetaObject::invokeMethod(
            this,
            [this, image, index, generation] {
                if (generation != m_generation) return;
                m_thumbnails[index] = image;
                emit thumbnailReady(index);
            },
            Qt::QueuedConnection);
    });
    m_thumbnailWorkers[index] = worker;
    connect(worker, &QThread::finished, this, [this, index, worker] {
        if (auto it = m_thumbnailWorkers.find(index); it != m_thumbnailWorkers.end() && it->second == worker)
            m_thumbnailWorkers.erase(it);
        worker->deleteLater();
    });
    worker->start();
}

QImage ImportPresenter::thumbnail(std::size_t index) const {
    const auto it = m_thumbnails.find(index);
    return it == m_thumbnails.end() ? QImage() : it->second;
}

} // namespace jumeau::gui
