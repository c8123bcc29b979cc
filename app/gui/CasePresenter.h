#pragma once
// Holds the open case (and the landmarks placed for registration) and runs the slow work (DICOM loading, demo-case
// generation, surface extraction, registration) on a worker thread, reporting progress and honouring Cancel. No
// widgets here.

#include <QObject>
#include <QString>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/simulation/Case.h"
#include "jumeau/simulation/EditHistory.h"
#include "viz/SurfaceScene.h"

class QThread;

namespace jumeau::gui {

struct LoadedCase {
    simulation::Case data;
    std::vector<viz::StructureSurface> surfaces;
};

// "MR T1 post-contrast": the modality, then the series description unless it already starts with the modality.
std::string seriesDisplayName(const imaging::LoadedSeries& s);

// A landmark placed in the GUI for one series: the same anatomical point in the reference (fixed) and in the series
// (moving), matched by name ("L1", "L2" ...); either point may still be missing while the user places them.
struct LandmarkEntry {
    std::string name;
    std::optional<geometry::Vec3> fixed;  // reference LPS (mm)
    std::optional<geometry::Vec3> moving; // series LPS (mm)
    bool complete() const { return fixed && moving; }
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

    // --- Registration of series onto the reference (issue 5). Indices are the case's series indices (1 ..).
    // Registers series `index` onto the reference on the worker thread (progress, Cancel). Success stores the result
    // in the case as one undoable step ("Register MR (rigid)") and emits registrationChanged, then taskFinished with
    // a one-line summary; failure leaves the previous transform and emits taskFailed, Cancel emits taskCancelled.
    void registerSeries(std::size_t index, imaging::RegistrationOptions options);
    // Installs a registration for series `index` as one undoable step named `stepName`.
    Result<void> setRegistration(std::size_t index, simulation::SeriesRegistration r, const std::string& stepName);
    // Back to the scanner geometry (identity, unregistered); undoable.
    Result<void> resetRegistration(std::size_t index);
    // Moves the series' image in the reference frame by `translateMm` (LPS) and rotates it by `rotateDeg` (about
    // the LPS x, y, z axes through `centreLps`, applied x then y then z): what was shown at reference point p is then
    // shown at R(p - c) + c + t. Undoable. Refused for deformable transforms (re-run or reset them instead).
    Result<void> nudge(std::size_t index, const geometry::Vec3& translateMm, const geometry::Vec3& rotateDeg,
                       const geometry::Vec3& centreLps);

    // Landmarks of series `index` (kept here, not in the case file; cleared when another case is opened).
    const std::vector<LandmarkEntry>& landmarks(std::size_t index) const;
    // Places a point: in the reference (onReference) or in the series. It completes the first pair that lacks
    // that side, else starts a new pair "L<n>". Returns the pair's name.
    std::string placeLandmark(std::size_t index, bool onReference, const geometry::Vec3& lps);
    void removeLandmark(std::size_t index, std::size_t row);
    // The complete pairs, in order: what registration uses.
    std::vector<imaging::LandmarkPair> landmarkPairs(std::size_t index) const;

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
    // The user cancelled a task that reports it separately (registration): nothing changed, nothing failed.
    void taskCancelled(const QString& message);
    void surfacesChanged();
    // A series' transform changed (registration, nudge, reset, undo/redo); -1: possibly every series.
    void registrationChanged(int index);
    void landmarksChanged(int index);

private:
    void run(std::function<Result<LoadedCase>(const ProgressFn&)> work, bool newCase);
    // Runs `work` on the worker thread; the function it returns is then run on the GUI thread.
    void startWorker(std::function<std::function<void()>(const ProgressFn&)> work);
    void afterEdit();
    std::shared_ptr<LoadedCase> m_current;
    std::map<std::size_t, std::vector<LandmarkEntry>> m_landmarks;
    simulation::EditHistory m_history;
    std::shared_ptr<std::atomic<int>> m_surfaceGeneration = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<bool>> m_cancel;
    QThread* m_worker = nullptr;
};

} // namespace jumeau::gui
