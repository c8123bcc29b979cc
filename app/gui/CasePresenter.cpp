#include "gui/CasePresenter.h"

#include <QStandardPaths>
#include <QThread>

#include "jumeau/simulation/DemoCase.h"

namespace jumeau::gui {

namespace fs = std::filesystem;

namespace {

// Surfaces for the 3D view: the label map's structures, or threshold surfaces for an unsegmented CT.
Result<std::vector<viz::StructureSurface>> surfacesFor(const simulation::Case& c, const ProgressFn& progress) {
    if (c.labels) return viz::extractSurfaces(*c.labels, progress);
    return viz::extractThresholdSurfaces(c.reference.volume, c.reference.info.modality, progress);
}

Result<LoadedCase> loadCase(const fs::path& path, const ProgressFn& progress) {
    auto opened = simulation::openCase(path, [&](double f, const std::string& m) { return reportProgress(progress, 0.8 * f, m); });
    if (!opened) return opened.error();
    LoadedCase loaded{std::move(*opened), {}};
    auto surfaces = surfacesFor(loaded.data, [&](double f, const std::string& m) { return reportProgress(progress, 0.8 + 0.2 * f, m); });
    if (!surfaces) return surfaces.error();
    loaded.surfaces = std::move(*surfaces);
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

void CasePresenter::importSeries(std::vector<imaging::SeriesInfo> series) {
    std::shared_ptr<const LoadedCase> current = m_current;
    run([current, series = std::move(series)](const ProgressFn& progress) -> Result<LoadedCase> {
        std::vector<imaging::LoadedSeries> loaded;
        std::vector<std::string> problems;
        const double share = (current ? 1.0 : 0.8) / std::max<std::size_t>(1, series.size());
        for (std::size_t i = 0; i < series.size(); ++i) {
            auto one = imaging::loadSeries(series[i], [&](double f, const std::string& m) {
                return reportProgress(progress, share * (i + f), m);
            });
            if (one) loaded.push_back(std::move(*one));
            else if (one.error().code == ErrorCode::Cancelled) return one.error();
            else problems.push_back(series[i].seriesDescription + " (" + series[i].seriesUid + "): " + one.error().message);
        }
        if (loaded.empty()) {
            std::string msg = "none of the selected series could be loaded";
            for (const auto& p : problems) msg += "; " + p;
            return makeError(ErrorCode::InvalidInput, msg);
        }
        if (current) {
            LoadedCase next = *current; // volumes and surfaces are shared, not copied
            simulation::addSeries(next.data, std::move(loaded));
            for (auto& p : problems) next.data.warnings.push_back("not loaded: " + p);
            return next;
        }
        const std::string source = series.front().files.empty() ? std::string("import") : series.front().files.front().parent_path().string();
        auto made = simulation::caseFromSeries(std::move(loaded), source);
        if (!made) return made.error();
        LoadedCase next{std::move(*made), {}};
        for (auto& p : problems) next.data.warnings.push_back("not loaded: " + p);
        auto surfaces = surfacesFor(next.data, [&](double f, const std::string& m) { return reportProgress(progress, 0.8 + 0.2 * f, m); });
        if (!surfaces) return surfaces.error();
        next.surfaces = std::move(*surfaces);
        return next;
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
