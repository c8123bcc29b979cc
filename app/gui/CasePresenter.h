#pragma once
// Holds the open case and runs the slow work (DICOM loading, demo-case generation, surface extraction) on a
// worker thread, reporting progress and honouring Cancel. No widgets here.

#include <QObject>
#include <QString>
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>

#include "jumeau/geometry/Result.h"
#include "jumeau/simulation/Case.h"
#include "jumeau/simulation/EditHistory.h"
#include "viz/SurfaceScene.h"

class QThread;

namespace jumeau::gui {

struct LoadedCase {
    simulation::Case data;
    std::vector<viz::StructureSurface> surfaces;
};

class CasePresenter : public QObject {
    Q_OBJECT
public:
    explicit CasePresenter(QObject* parent = nullptr);
    ~CasePresenter() override;

    // Opens a DICOM folder or demo-case folder in the background.
    void open(const std::filesystem::path& path);
    // Opens the built-in demo case in `dir`, generating it there first if it is not there yet.
    void openDemoCase(const std::filesystem::path& dir);
    // Loads the given series (from the import dialog) in the background: into the open case, or as a new case.
    void importSeries(std::vector<imaging::SeriesInfo> series);
    void cancel();
    bool busy() const { return m_worker != nullptr; }
    // The case on screen, or null.
    const LoadedCase* current() const { return m_current.get(); }

    // Any other long job on the worker thread (exports ...), with the same progress and Cancel; `done` runs on the
    // GUI thread: taskFinished with the result's summary, or taskFailed with its error.
    void runTask(std::function<Result<std::string>(const ProgressFn&)> work);

    // Imports label maps or mask series (files or folders, see simulation::importLabels) into the open case on the
    // worker thread, as one undoable step; labelsChanged then taskFinished with a summary, or taskFailed.
    void importLabels(const std::filesystem::path& source);

    // Segmentation edits on the open case, undoable (refused while a job runs). On success labelsChanged is emitted
    // at once and the 3D surfaces are rebuilt in the background (surfacesChanged when they are ready).
    Result<simulation::EditSummary> editLabels(const std::string& name, const simulation::EditHistory::LabelEdit& edit);
    // A slow edit (threshold, region growing, morphology on a large map ...) on the worker thread with progress and
    // Cancel; the result becomes one undoable step on the GUI thread (labelsChanged, then taskFinished / taskFailed).
    using BackgroundEdit = std::function<Result<imaging::LabelMap>(const imaging::LabelMap&, const ProgressFn&)>;
    void editLabelsInBackground(const std::string& name, BackgroundEdit edit);
    Result<void> undo();
    Result<void> redo();
    const simulation::EditHistory& history() const { return m_history; }

    // Where the demo case lives for this user (generated once).
    static std::filesystem::path defaultDemoCaseDir();

signals:
    void progress(double fraction, const QString& message);
    void caseLoaded();
    void failed(const QString& message);
    void busyChanged(bool busy);
    void labelsChanged();
    void taskFinished(const QString& summary);
    void taskFailed(const QString& message);
    void surfacesChanged();

private:
    void run(std::function<Result<LoadedCase>(const ProgressFn&)> work, bool newCase);
    // Runs `work` on the worker thread; the function it returns is then run on the GUI thread.
    void startWorker(std::function<std::function<void()>(const ProgressFn&)> work);
    void afterEdit();
    std::shared_ptr<LoadedCase> m_current;
    simulation::EditHistory m_history;
    std::shared_ptr<std::atomic<int>> m_surfaceGeneration = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<bool>> m_cancel;
    QThread* m_worker = nullptr;
};

} // namespace jumeau::gui
