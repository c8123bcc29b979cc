#include "gui/CasePresenter.h"

#include <QCoreApplication>
#include <QPointer>
#include <QStandardPaths>
#include <QThread>
#include <thread>

#include "jumeau/simulation/DemoCase.h"
#include "jumeau/imaging/LabelEditing.h"
#include "jumeau/simulation/LabelImport.h"

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
    ++*m_surfaceGeneration; // background surface rebuilds stop early and are dropped
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
    run([path](const ProgressFn& progress) { return loadCase(path, progress); }, true);
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
    }, true);
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
    }, !current);
}

Result<simulation::EditSummary> CasePresenter::editLabels(const std::string& name,
                                                          const simulation::EditHistory::LabelEdit& edit) {
    if (!m_current) return makeError(ErrorCode::InvalidInput, "no case is open");
    if (m_worker) return makeError(ErrorCode::InvalidInput, "the case is busy (loading): edit when it has finished");
    auto summary = m_history.apply(m_current->data, name, edit);
    if (summary && summary->recorded) afterEdit();
    return summary;
}

Result<void> CasePresenter::undo() {
    if (!m_current || m_worker) return makeError(ErrorCode::InvalidInput, "nothing to undo now");
    auto r = m_history.undo(m_current->data);
    if (r) afterEdit();
    return r;
}

Result<void> CasePresenter::redo() {
    if (!m_current || m_worker) return makeError(ErrorCode::InvalidInput, "nothing to redo now");
    auto r = m_history.redo(m_current->data);
    if (r) afterEdit();
    return r;
}

// Labels changed: tell the views now; rebuild the 3D surfaces on a background thread (a second edit before they
// are ready supersedes them: only the newest generation is applied).
void CasePresenter::afterEdit() {
    emit labelsChanged();
    const int generation = ++*m_surfaceGeneration;
    auto counter = m_surfaceGeneration;
    std::optional<imaging::LabelMap> labels = m_current->data.labels; // shares the voxels, immutable
    QPointer<CasePresenter> self(this);
    std::thread([self, counter, generation, labels = std::move(labels)] {
        if (!labels) return;
        auto surfaces = viz::extractSurfaces(*labels, [&](double, const std::string&) {
            return counter->load() == generation; // superseded: stop early
        });
        if (!surfaces || counter->load() != generation) return;
        auto result = std::make_shared<std::vector<viz::StructureSurface>>(std::move(*surfaces));
        // Posted to the application object (it outlives the presenter); `self` is only looked at on its thread.
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, counter, generation, result] {
                if (!self || !self->m_current || counter->load() != generation) return;
                self->m_current->surfaces = std::move(*result);
                emit self->surfacesChanged();
            },
            Qt::QueuedConnection);
    }).detach();
}

void CasePresenter::cancel() {
    if (m_cancel) m_cancel->store(true);
}

void CasePresenter::run(std::function<Result<LoadedCase>(const ProgressFn&)> work, bool newCase) {
    startWorker([this, work = std::move(work), newCase](const ProgressFn& progress) -> std::function<void()> {
        auto result = std::make_shared<Result<LoadedCase>>(work(progress));
        return [this, result, newCase] {
            if (result->ok()) {
                m_current = std::make_shared<LoadedCase>(std::move(*result).value());
                // A series added to the open case keeps its segmentation, and so its undo history.
                if (newCase) m_history.clear();
                ++*m_surfaceGeneration; // surfaces of an earlier edit must not land on this case
                emit caseLoaded();
            } else {
                emit failed(QString::fromStdString(result->error().message));
            }
        };
    });
}

void CasePresenter::runTask(std::function<Result<std::string>(const ProgressFn&)> work) {
    startWorker([this, work = std::move(work)](const ProgressFn& progress) -> std::function<void()> {
        auto result = std::make_shared<Result<std::string>>(work(progress));
        return [this, result] {
            if (result->ok()) emit taskFinished(QString::fromStdString(result->value()));
            else emit taskFailed(QString::fromStdString(result->error().message));
        };
    });
}

void CasePresenter::editLabelsInBackground(const std::string& name, BackgroundEdit edit) {
    if (!m_current) {
        emit taskFailed("no case is open");
        return;
    }
    std::optional<imaging::LabelMap> start = m_current->data.labels;
    if (!start) {
        // No segmentation yet: start from an empty one on the reference grid, as the history does for brush edits.
        auto empty = imaging::makeEmptyLabelMap(m_current->data.reference.volume.geometry());
        if (!empty) {
            emit taskFailed(QString::fromStdString(empty.error().message));
            return;
        }
        start = std::move(*empty);
    }
    startWorker([this, name, edit = std::move(edit), start = std::move(*start)](const ProgressFn& progress)
                    -> std::function<void()> {
        auto result = std::make_shared<Result<imaging::LabelMap>>(edit(start, progress));
        return [this, name, result] {
            if (!result->ok()) {
                emit taskFailed(QString::fromStdString(name + ": " + result->error().message));
                return;
            }
            if (!m_current) return;
            auto committed = m_history.commit(m_current->data, name, std::move(result->value()));
            if (!committed) {
                emit taskFailed(QString::fromStdString(name + ": " + committed.error().message));
                return;
            }
            if (committed->recorded) afterEdit();
            emit taskFinished(QString::fromStdString(name + ": " + std::to_string(committed->changedVoxels) +
                                                     " voxels changed"));
        };
    });
}

void CasePresenter::importLabels(const std::filesystem::path& source) {
    if (!m_current) {
        emit taskFailed("no case is open: open the images first, then import their segmentation");
        return;
    }
    simulation::Case working = m_current->data; // volumes and labels are shared, not copied
    startWorker([this, working = std::move(working), source](const ProgressFn& progress) mutable -> std::function<void()> {
        auto imported = std::make_shared<Result<simulation::LabelImportResult>>(
            simulation::importLabels(working, source, {}, progress));
        auto labels = std::make_shared<std::optional<imaging::LabelMap>>(std::move(working.labels));
        return [this, imported, labels, source] {
            if (!imported->ok()) {
                emit taskFailed(QString::fromStdString((*imported).error().message));
                return;
            }
            if (!m_current) return;
            const auto& r = imported->value();
            auto committed = m_history.commit(m_current->data, "Import " + source.filename().string(), *labels);
            if (!committed) {
                emit taskFailed(QString::fromStdString(committed.error().message));
                return;
            }
            for (const auto& w : r.warnings) m_current->data.warnings.push_back(w);
            afterEdit();
            std::string summary = "Imported " + std::to_string(r.structures.size()) + " structure(s) from " +
                                  source.string();
            for (const auto& o : r.overlaps) summary += "; " + o.describe();
            if (!r.warnings.empty()) summary += "; " + std::to_string(r.warnings.size()) + " warning(s): " + r.warnings.front();
            emit taskFinished(QString::fromStdString(summary));
        };
    });
}

void CasePresenter::startWorker(std::function<std::function<void()>(const ProgressFn&)> work) {
    if (m_worker) return; // one job at a time; the GUI disables its actions while busy
    auto cancelFlag = std::make_shared<std::atomic<bool>>(false);
    m_cancel = cancelFlag;
    m_worker = QThread::create([this, work = std::move(work), cancelFlag]() {
        const ProgressFn progress = [this, cancelFlag](double f, const std::string& m) {
            const QString msg = QString::fromStdString(m);
            QMetaObject::invokeMethod(this, [this, f, msg] { emit this->progress(f, msg); }, Qt::QueuedConnection);
            return !cancelFlag->load();
        };
        auto finish = work(progress);
        QMetaObject::invokeMethod(this, std::move(finish), Qt::QueuedConnection);
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
