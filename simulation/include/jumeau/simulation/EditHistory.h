#pragma once
// Undo/redo of edits to the case (label-map edits and structure-table edits today; plan edits can add their own
// EditCommand). Each step has a user-readable name ("Dilate liver by 3 mm").
//
// A 512x512x119 label map is 31 MB, so a step never keeps whole copies: a LabelMapChange stores the runs of voxels
// that changed (start, length, value before, value after; 12 bytes per run, a run being consecutive voxels along i
// with the same old and new value) plus the structure tables before and after. Undo then redo restores byte-identical
// voxels and the same table. Each step also keeps a 64-bit hash of the label map before and after it, so undo/redo
// refuse (with an error, changing nothing) when the case's label map was changed behind the history's back. Oldest
// steps are dropped when the history exceeds its memory or step limits (the newest step always stays).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/simulation/Case.h"

namespace jumeau::simulation {

// 64-bit hash of a label map's voxels, geometry, pixel type and structure table (absent map: a fixed value).
std::uint64_t labelMapHash(const std::optional<imaging::LabelMap>& labels);

// The difference between two states of a case's label map (either may be absent: no segmentation yet / removed).
class LabelMapChange {
public:
    struct Run {
        std::uint32_t start = 0;  // linear voxel index of the first voxel
        std::uint32_t length = 0; // consecutive voxels
        std::uint16_t before = 0; // label of each before the change
        std::uint16_t after = 0;  // and after it
    };

    static LabelMapChange between(const std::optional<imaging::LabelMap>& before,
                                  const std::optional<imaging::LabelMap>& after);

    // Turn the "after" state into the "before" state (undo) or back (redo). Error, leaving labels untouched, when
    // labels is not the state this change starts from.
    Result<void> revert(std::optional<imaging::LabelMap>& labels) const;
    Result<void> reapply(std::optional<imaging::LabelMap>& labels) const;

    bool empty() const; // nothing changed: same voxels, same table, same presence
    std::size_t changedVoxels() const { return m_changedVoxels; }
    bool tableChanged() const { return m_tableChanged; }
    std::size_t memoryBytes() const;
    const std::vector<Run>& runs() const { return m_runs; }

private:
    Result<void> restore(std::optional<imaging::LabelMap>& labels, bool toBefore) const;

    bool m_hadBefore = false, m_hasAfter = false;
    imaging::ImageGeometry m_geometry; // grid of the runs
    imaging::PixelType m_type = imaging::PixelType::UInt8;
    std::vector<Run> m_runs;
    std::size_t m_changedVoxels = 0;
    std::vector<imaging::Structure> m_tableBefore, m_tableAfter;
    bool m_tableChanged = false;
    // Only when the grid or pixel type itself changed (a label map replaced by one on another grid): whole states.
    std::optional<imaging::LabelMap> m_wholeBefore, m_wholeAfter;
    std::uint64_t m_hashBefore = 0, m_hashAfter = 0;
};

// One undoable step.
class EditCommand {
public:
    virtual ~EditCommand() = default;
    virtual const std::string& name() const = 0;
    virtual Result<void> undo(Case& c) = 0;
    virtual Result<void> redo(Case& c) = 0;
    virtual std::size_t memoryBytes() const = 0;
};

// A change of Case::labels.
class LabelMapCommand final : public EditCommand {
public:
    LabelMapCommand(std::string name, LabelMapChange change) : m_name(std::move(name)), m_change(std::move(change)) {}
    const std::string& name() const override { return m_name; }
    Result<void> undo(Case& c) override;
    Result<void> redo(Case& c) override;
    std::size_t memoryBytes() const override { return m_change.memoryBytes() + m_name.size() + sizeof(*this); }
    const LabelMapChange& change() const { return m_change; }

private:
    std::string m_name;
    LabelMapChange m_change;
};

struct EditSummary {
    bool recorded = false; // false: the edit changed nothing, no step was added
    std::size_t changedVoxels = 0;
    bool tableChanged = false;
    std::size_t stepBytes = 0; // memory of the recorded step
};

class EditHistory {
public:
    struct Limits {
        std::size_t maxBytes = std::size_t{256} << 20; // all steps (undo + redo) together
        std::size_t maxSteps = 100;                    // undo steps
    };
    EditHistory() = default;
    explicit EditHistory(Limits limits) : m_limits(limits) {}

    using LabelEdit = std::function<Result<imaging::LabelMap>(const imaging::LabelMap& current)>;
    // Runs `edit` on the case's label map (an empty UInt8 one on the reference grid when the case has none yet) and
    // records its result as one step named `name`. An edit that fails leaves the case and the history unchanged and
    // returns its error; an edit that changes nothing is not recorded.
    Result<EditSummary> apply(Case& c, const std::string& name, const LabelEdit& edit);
    // Records the change from c.labels to `after` (std::nullopt removes the segmentation) and installs `after`.
    Result<EditSummary> commit(Case& c, const std::string& name, std::optional<imaging::LabelMap> after);
    // An already applied command of another kind (plan edits). Clears redo, applies the limits.
    void push(std::unique_ptr<EditCommand> command);

    Result<void> undo(Case& c);
    Result<void> redo(Case& c);
    bool canUndo() const { return !m_undo.empty(); }
    bool canRedo() const { return !m_redo.empty(); }
    std::string undoName() const { return canUndo() ? m_undo.back()->name() : std::string(); }
    std::string redoName() const { return canRedo() ? m_redo.back()->name() : std::string(); }
    std::vector<std::string> undoNames() const; // newest first
    std::vector<std::string> redoNames() const; // next redo first
    std::size_t undoCount() const { return m_undo.size(); }
    std::size_t redoCount() const { return m_redo.size(); }
    std::size_t memoryBytes() const;
    std::size_t droppedSteps() const { return m_dropped; } // oldest steps dropped by the limits so far
    const Limits& limits() const { return m_limits; }
    void setLimits(Limits limits);
    void clear();

private:
    void enforceLimits();

    Limits m_limits;
    std::deque<std::unique_ptr<EditCommand>> m_undo;  // oldest first
    std::vector<std::unique_ptr<EditCommand>> m_redo; // next redo last
    std::size_t m_dropped = 0;
};

} // namespace jumeau::simulation
