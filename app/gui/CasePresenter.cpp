#include "gui/CasePresenter.h"

#include <QStandardPaths>
#include <QThread>

#include "jumeau/simulation/DemoCase.h"

namespace jumeau::gui {

namespace fs = std::filesystem;

namespace {

Result<LoadedCase> loadCase(const fs::path& path, const ProgressFn& progress) {
    auto opened = simulation::openCase(path, [&](double f, const std::string& m) { return reportProgress(progress, 0.8 * f, m); });
    if (!opened) return opened.error();
    LoadedCase loaded{std::move(*opened), {}};
    if (loaded.data.labels) {
        auto surfaces = viz::extractSurfaces(*loaded.data.labels, [&](double f, const std::string& m) {
            return reportProgress(progress, 0.8 + 0.2 * f, m);
        });
        if (!surfaces) return surfaces.error();
        loaded.surfaces = std::move(*surfaces);
    } else {
        auto surfaces = viz::extractThresholdSurfaces(loaded.data.reference.volume, loaded.data.reference.info.modality,
                                                      [&](double f, const std::string& m) {
                                                          return reportProgress(progress, 0.8 + 0.2 * f, m);
                                                      });
        if (!surfaces) return surfaces.error();
        loaded.surfaces = std::move(*surfaces);
    }
    return loaded;
}

} // namespace

CasePresenter::CasePresenter(QObject* parent) : QObject(parent) {}

CasePresenter::~CasePresenter() {
    if (m_worker) {
        cancel();
        m_worker->wait();
    }
}

fs::path CasePresenter::defaultDemoCaseDir() {
    const QString base = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation);
    return fs::path(base.toStdString()) / "demo-case";
}

void CasePresenter::open(const fs::path& path) {
    run([path](const ProgressFn& progress) { return loadCase(path, progress); });
}

void CasePresenter::openDemoCase(const fs::path& dir) {
    run([dir](const ProgressFn& progress) -> Result<LoadedCase> {
        if (!simulation::isDemoCase(dir)) {
            auto written = simulation::writeDemoCase(dir, 1, [&](double f, const std::string& m) {
                return reportProgress(progress, 0.5 * f, "generating the demo case: " + m);
            });
            if (!written) return written.error();
        }
        return loadCase(dir, [&](double f, const std::string& m) { return reportProgress(progress, 0.5 + 0.5 * f, m); });
    });
}

void CasePresenter::cancel() {
    if (m_cancel) m_cancel->store(true);
}

void CasePresenter::run(std::function<Result<LoadedCase>(const ProgressFn&)> work) {
    if (m_worker) return; // one job at a time; the GUI disables Open while busy
    auto cancelFlag = std::make_shared<std::atomic<bool>>(false);
    m_cancel = cancelFlag;
    m_worker = QThread::create([this, work = std::move(work), cancelFlag]() {
        const ProgressFn progress = [this, cancelFlag](double f, const std::string& m) {
            const QString msg = QString::fromStdString(m);
            QMetaObject::invokeMethod(this, [this, f, msg] { emit this->progress(f, msg); }, Qt::QueuedConnection);
            return !cancelFlag->load();
        };
        auto result = std::make_shared<Result<LoadedCase>>(work(progress));
        QMetaObject::invokeMethod(
            this,
            [this, result] {
                if (result->ok()) {
                    m_current = std::make_shared<LoadedCase>(std::move(*result).value());
                    emit caseLoaded();
                } else {
                    emit failed(QString::fromStdString(result->error().message));
                }
            },
            Qt::QueuedConnection);
    });
    connect(m_worker, &QThread::finished, this, [this] {
        m_worker->deleteLater();
        m_worker = nullptr;
        emit busyChanged(false);
    });
    emit busyChanged(true);
    m_worker->start();
}

} // namespace jumeau::gui
