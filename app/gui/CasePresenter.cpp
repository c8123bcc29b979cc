#include "gui/CasePresenter.h"

#include <QCoreApplication>
#include <QPointer>
#include <QStandardPaths>
#include <QThread>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "jumeau/simulation/CaseRegistration.h"
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

// A change of one series' registration, undoable with the label edits (one history for the case).
class RegistrationCommand final : public simulation::EditCommand {
public:
    RegistrationCommand(std::string name, std::size_t index, simulation::SeriesRegistration before,
                        simulation::SeriesRegistration after)
        : m_name(std::move(name)), m_index(index), m_before(std::move(before)), m_after(std::move(after)) {}
    const std::string& name() const override { return m_name; }
    Result<void> undo(simulation::Case& c) override { return install(c, m_before); }
    Result<void> redo(simulation::Case& c) override { return install(c, m_after); }
    std::size_t memoryBytes() const override {
        auto bytes = [](const simulation::SeriesRegistration& r) {
            return r.toSeries.deformation ? r.toSeries.deformation->coefficients.size() * sizeof(geometry::Vec3) : 0;
        };
        return sizeof(*this) + m_name.size() + bytes(m_before) + bytes(m_after);
    }

private:
    Result<void> install(simulation::Case& c, const simulation::SeriesRegistration& r) const {
        if (m_index == 0 || m_index >= c.seriesCount())
            return makeError(ErrorCode::InvalidInput, m_name + ": the case no longer has series " + std::to_string(m_index));
        c.setRegistration(m_index, r);
        return {};
    }
    std::string m_name;
    std::size_t m_index;
    simulation::SeriesRegistration m_before, m_after;
};

// What identifies the label map's state cheaply (voxel buffer and structure table): did an undo touch it?
struct LabelState {
    const void* voxels = nullptr;
    std::vector<std::string> table;
    bool operator==(const LabelState&) const = default;
};
LabelState labelState(const simulation::Case& c) {
    LabelState s;
    if (!c.labels) return s;
    s.voxels = c.labels->labels().rawData();
    for (const auto& st : c.labels->structures())
        s.table.push_back(std::to_string(st.label) + "|" + st.name + "|" + std::to_string(st.colour[0]) + "," +
                          std::to_string(st.colour[1]) + "," + std::to_string(st.colour[2]) + "|" +
                          std::to_string(static_cast<int>(st.category)));
    return s;
}

} // namespace

std::string seriesDisplayName(const imaging::LoadedSeries& s) {
    const std::string& d = s.info.seriesDescription;
    if (d.empty()) return s.info.modality;
    if (!s.info.modality.empty() && d.rfind(s.info.modality, 0) == 0) return d;
    return s.info.modality + " " + d;
}

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
    const LabelState before = labelState(m_current->data);
    auto r = m_history.undo(m_current->data);
    if (r) {
        if (!(labelState(m_current->data) == before)) afterEdit();
        emit registrationChanged(-1);
    }
    return r;
}

Result<void> CasePresenter::redo() {
    if (!m_current || m_worker) return makeError(ErrorCode::InvalidInput, "nothing to redo now");
    const LabelState before = labelState(m_current->data);
    auto r = m_history.redo(m_current->data);
    if (r) {
        if (!(labelState(m_current->data) == before)) afterEdit();
        emit registrationChanged(-1);
    }
    return r;
}

void CasePresenter::registerSeries(std::size_t index, imaging::RegistrationOptions options) {
    if (!m_current) {
        emit taskFailed("no case is open");
        return;
    }
    if (index == 0 || index >= m_current->data.seriesCount()) {
        emit taskFailed(QString("choose a series other than the reference to register (the case has %1 series)")
                            .arg(m_current->data.seriesCount()));
        return;
    }
    if (m_worker) {
        emit taskFailed("busy: wait for the current job or cancel it");
        return;
    }
    simulation::Case working = m_current->data; // volumes are shared, not copied
    const std::string what = seriesDisplayName(m_current->data.series(index));
    const std::string stepName = "Register " + what + " (" +
                                 (options.landmarksOnly ? std::string("landmarks only") : imaging::toString(options.mode)) + ")";
    startWorker([this, working = std::move(working), index, options = std::move(options), what,
                 stepName](const ProgressFn& progress) mutable -> std::function<void()> {
        auto quality = std::make_shared<Result<imaging::RegistrationQuality>>(
            simulation::registerSeries(working, index, options, progress));
        auto stored = std::make_shared<simulation::SeriesRegistration>(working.registrationOf(index));
        return [this, quality, stored, index, what, stepName] {
            if (!quality->ok()) {
                const auto& e = quality->error();
                if (e.code == ErrorCode::Cancelled)
                    emit taskCancelled(QString::fromStdString("Registration of " + what +
                                                              " cancelled: the previous transform is kept"));
                else
                    emit taskFailed(QString::fromStdString("Registration failed: " + e.message));
                return;
            }
            if (auto r = setRegistration(index, *stored, stepName); !r) {
                emit taskFailed(QString::fromStdString(r.error().message));
                return;
            }
            const auto& q = quality->value();
            char buf[160];
            std::snprintf(buf, sizeof buf, "%s registered in %.1f s: %s, overlap %.0f%%", what.c_str(), q.seconds,
                          q.converged ? "converged" : "did not converge", 100 * q.overlap);
            std::string summary = buf;
            if (!q.landmarks.empty()) {
                std::snprintf(buf, sizeof buf, ", landmark error %.1f mm RMS (max %.1f mm)", q.landmarkRmsMm, q.landmarkMaxMm);
                summary += buf;
            }
            if (!q.warnings.empty()) summary += "; " + std::to_string(q.warnings.size()) + " warning(s)";
            emit taskFinished(QString::fromStdString(summary));
        };
    });
}

Result<void> CasePresenter::setRegistration(std::size_t index, simulation::SeriesRegistration r, const std::string& stepName) {
    if (!m_current) return makeError(ErrorCode::InvalidInput, "no case is open");
    if (index == 0 || index >= m_current->data.seriesCount())
        return makeError(ErrorCode::InvalidInput, "no series " + std::to_string(index) + " to register in this case");
    auto before = m_current->data.registrationOf(index);
    m_current->data.setRegistration(index, r);
    m_history.push(std::make_unique<RegistrationCommand>(stepName, index, std::move(before), std::move(r)));
    emit registrationChanged(static_cast<int>(index));
    return {};
}

Result<void> CasePresenter::resetRegistration(std::size_t index) {
    if (!m_current || index == 0 || index >= m_current->data.seriesCount())
        return makeError(ErrorCode::InvalidInput, "no series " + std::to_string(index) + " to reset");
    return setRegistration(index, simulation::SeriesRegistration{},
                           "Reset " + seriesDisplayName(m_current->data.series(index)) + " to scanner geometry");
}

Result<void> CasePresenter::nudge(std::size_t index, const geometry::Vec3& translateMm, const geometry::Vec3& rotateDeg,
                                  const geometry::Vec3& centreLps) {
    if (!m_current || index == 0 || index >= m_current->data.seriesCount())
        return makeError(ErrorCode::InvalidInput, "choose a series other than the reference to nudge");
    if (m_worker) return makeError(ErrorCode::InvalidInput, "busy: wait for the current job or cancel it");
    simulation::SeriesRegistration r = m_current->data.registrationOf(index);
    if (r.toSeries.isDeformable())
        return makeError(ErrorCode::Unsupported,
                         "a deformable result cannot be nudged: reset it, or re-run rigid or affine and nudge that");
    constexpr double kDeg = 3.14159265358979323846 / 180.0;
    const geometry::Mat3 rot = geometry::Mat3::rotationXYZ(rotateDeg.x * kDeg, rotateDeg.y * kDeg, rotateDeg.z * kDeg);
    // N moves the shown image: content at p appears at N(p). The reference point x then shows the series at
    // T(N^-1(x)), so the new transform is T * N^-1.
    const geometry::Transform n = geometry::Transform::rigid(rot, centreLps - rot * centreLps + translateMm);
    const auto inverse = n.inverse();
    if (!inverse) return makeError(ErrorCode::Internal, "nudge: singular rotation");
    const bool wasRegistered = r.registered;
    r.toSeries.matrix = r.toSeries.matrix * *inverse;
    r.registered = true;
    const std::string tag = "nudged by hand";
    if (!wasRegistered || r.method.empty()) r.method = "scanner geometry, " + tag;
    else if (r.method.find(tag) == std::string::npos) r.method += ", then " + tag;
    char buf[200];
    std::snprintf(buf, sizeof buf, "Nudge %s by (%.1f, %.1f, %.1f) mm, (%.1f, %.1f, %.1f)°",
                  seriesDisplayName(m_current->data.series(index)).c_str(), translateMm.x, translateMm.y, translateMm.z,
                  rotateDeg.x, rotateDeg.y, rotateDeg.z);
    return setRegistration(index, std::move(r), buf);
}

const std::vector<LandmarkEntry>& CasePresenter::landmarks(std::size_t index) const {
    static const std::vector<LandmarkEntry> none;
    const auto it = m_landmarks.find(index);
    return it == m_landmarks.end() ? none : it->second;
}

std::string CasePresenter::placeLandmark(std::size_t index, bool onReference, const geometry::Vec3& lps) {
    auto& list = m_landmarks[index];
    for (auto& e : list) {
        auto& side = onReference ? e.fixed : e.moving;
        if (!side) {
            side = lps;
            emit landmarksChanged(static_cast<int>(index));
            return e.name;
        }
    }
    int next = 1;
    for (const auto& e : list)
        if (e.name.size() > 1 && e.name[0] == 'L') next = std::max(next, std::atoi(e.name.c_str() + 1) + 1);
    LandmarkEntry e;
    e.name = "L" + std::to_string(next);
    (onReference ? e.fixed : e.moving) = lps;
    list.push_back(e);
    emit landmarksChanged(static_cast<int>(index));
    return e.name;
}

void CasePresenter::removeLandmark(std::size_t index, std::size_t row) {
    auto it = m_landmarks.find(index);
    if (it == m_landmarks.end() || row >= it->second.size()) return;
    it->second.erase(it->second.begin() + static_cast<std::ptrdiff_t>(row));
    emit landmarksChanged(static_cast<int>(index));
}

std::vector<imaging::LandmarkPair> CasePresenter::landmarkPairs(std::size_t index) const {
    std::vector<imaging::LandmarkPair> pairs;
    for (const auto& e : landmarks(index))
        if (e.complete()) pairs.push_back({e.name, *e.fixed, *e.moving});
    return pairs;
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
                if (newCase) {
                    m_history.clear();
                    m_landmarks.clear();
                }
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
