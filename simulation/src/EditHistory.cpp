#include "jumeau/simulation/EditHistory.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace jumeau::simulation {

using imaging::LabelMap;
using imaging::PixelType;
using imaging::Structure;
using imaging::Volume;

namespace {

constexpr std::uint64_t kPrime = 0x100000001b3ULL;

struct Hasher {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    void word(std::uint64_t w) {
        h ^= w;
        h *= kPrime;
        h ^= h >> 29;
    }
    void bytes(const void* data, std::size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        std::size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            std::uint64_t w;
            std::memcpy(&w, p + i, 8);
            word(w);
        }
        std::uint64_t tail = 0;
        std::memcpy(&tail, p + i, n - i);
        word(tail ^ (static_cast<std::uint64_t>(n) << 56));
    }
    void number(double d) {
        std::uint64_t w;
        std::memcpy(&w, &d, 8);
        word(w);
    }
};

bool sameStructure(const Structure& a, const Structure& b) {
    return a.label == b.label && a.name == b.name && a.colour == b.colour && a.category == b.category;
}

bool sameTable(const std::vector<Structure>& a, const std::vector<Structure>& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), sameStructure);
}

std::size_t tableBytes(const std::vector<Structure>& t) {
    std::size_t n = t.capacity() * sizeof(Structure);
    for (const auto& s : t) n += s.name.capacity();
    return n;
}

bool labelVolume(const Volume& v) {
    return v.holds<std::uint8_t>() || v.holds<std::uint16_t>();
}

template <typename T>
void diffRuns(const T* a, const T* b, std::size_t n, std::vector<LabelMapChange::Run>& runs, std::size_t& changed) {
    constexpr std::size_t kBlock = 4096;
    constexpr std::size_t kMaxRun = std::numeric_limits<std::uint32_t>::max();
    std::size_t i = 0;
    while (i < n) {
        if (i + kBlock <= n && std::memcmp(a + i, b + i, kBlock * sizeof(T)) == 0) {
            i += kBlock;
            continue;
        }
        if (a[i] == b[i]) {
            ++i;
            continue;
        }
        std::size_t j = i + 1;
        while (j < n && a[j] == a[i] && b[j] == b[i] && j - i < kMaxRun) ++j;
        runs.push_back({static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j - i),
                        static_cast<std::uint16_t>(a[i]), static_cast<std::uint16_t>(b[i])});
        changed += j - i;
        i = j;
    }
}

template <typename T>
Volume patched(const imaging::ImageGeometry& g, const Volume* current, const std::vector<LabelMapChange::Run>& runs,
               bool toBefore) {
    const std::size_t n = g.voxelCount();
    std::vector<T> out = current ? std::vector<T>(current->data<T>(), current->data<T>() + n) : std::vector<T>(n, T{0});
    for (const auto& r : runs) {
        const T v = static_cast<T>(toBefore ? r.before : r.after);
        std::fill(out.begin() + r.start, out.begin() + r.start + r.length, v);
    }
    return Volume::create(g, std::move(out));
}

} // namespace

std::uint64_t labelMapHash(const std::optional<LabelMap>& labels) {
    Hasher h;
    if (!labels || labels->empty()) {
        h.word(0x6e6f6e65); // "none"
        return h.h;
    }
    const auto& g = labels->geometry();
    for (int a = 0; a < 3; ++a) {
        h.word(static_cast<std::uint64_t>(g.size[a]));
        h.number(g.spacing[a]);
        h.number(g.origin[a]);
        for (int c = 0; c < 3; ++c) h.number(g.direction.m[a][c]);
    }
    h.word(static_cast<std::uint64_t>(labels->labels().pixelType()));
    h.bytes(labels->labels().rawData(), labels->labels().byteCount());
    for (const auto& s : labels->structures()) {
        h.word(s.label);
        h.bytes(s.name.data(), s.name.size());
        for (double c : s.colour) h.number(c);
        h.word(static_cast<std::uint64_t>(s.category));
    }
    return h.h;
}

// ------------------------------------------------------------------ LabelMapChange

LabelMapChange LabelMapChange::between(const std::optional<LabelMap>& before, const std::optional<LabelMap>& after) {
    LabelMapChange c;
    c.m_hadBefore = before && !before->empty();
    c.m_hasAfter = after && !after->empty();
    c.m_hashBefore = labelMapHash(before);
    c.m_hashAfter = labelMapHash(after);
    if (c.m_hadBefore) c.m_tableBefore = before->structures();
    if (c.m_hasAfter) c.m_tableAfter = after->structures();
    c.m_tableChanged = c.m_hadBefore != c.m_hasAfter || !sameTable(c.m_tableBefore, c.m_tableAfter);
    if (!c.m_hadBefore && !c.m_hasAfter) return c;
    const LabelMap& ref = c.m_hasAfter ? *after : *before;
    c.m_geometry = ref.geometry();
    c.m_type = ref.labels().pixelType();
    const bool runsPossible =
        (!c.m_hadBefore || !c.m_hasAfter ||
         (before->geometry().sameGrid(after->geometry(), 0.0) && before->geometry().size == after->geometry().size &&
          before->labels().pixelType() == after->labels().pixelType())) &&
        labelVolume(ref.labels()) && c.m_geometry.voxelCount() < std::numeric_limits<std::uint32_t>::max();
    if (!runsPossible) {
        // The grid or pixel type changed: a new segmentation replaced the old one. Keep both whole.
        c.m_wholeBefore = before;
        c.m_wholeAfter = after;
        c.m_changedVoxels = c.m_geometry.voxelCount();
        return c;
    }
    const std::size_t n = c.m_geometry.voxelCount();
    auto diff = [&](auto tag) {
        using T = decltype(tag);
        const std::vector<T> zeros(c.m_hadBefore && c.m_hasAfter ? 0 : n, T{0});
        const T* a = c.m_hadBefore ? before->labels().data<T>() : zeros.data();
        const T* b = c.m_hasAfter ? after->labels().data<T>() : zeros.data();
        diffRuns(a, b, n, c.m_runs, c.m_changedVoxels);
    };
    if (c.m_type == PixelType::UInt8)
        diff(std::uint8_t{});
    else
        diff(std::uint16_t{});
    c.m_runs.shrink_to_fit();
    return c;
}

bool LabelMapChange::empty() const {
    return m_hadBefore == m_hasAfter && m_changedVoxels == 0 && !m_tableChanged && !m_wholeBefore && !m_wholeAfter;
}

std::size_t LabelMapChange::memoryBytes() const {
    std::size_t n =
        sizeof(*this) + m_runs.capacity() * sizeof(Run) + tableBytes(m_tableBefore) + tableBytes(m_tableAfter);
    if (m_wholeBefore) n += m_wholeBefore->labels().byteCount() + tableBytes(m_wholeBefore->structures());
    if (m_wholeAfter) n += m_wholeAfter->labels().byteCount() + tableBytes(m_wholeAfter->structures());
    return n;
}

Result<void> LabelMapChange::revert(std::optional<LabelMap>& labels) const {
    return restore(labels, true);
}
Result<void> LabelMapChange::reapply(std::optional<LabelMap>& labels) const {
    return restore(labels, false);
}

Result<void> LabelMapChange::restore(std::optional<LabelMap>& labels, bool toBefore) const {
    const std::uint64_t expected = toBefore ? m_hashAfter : m_hashBefore;
    if (labelMapHash(labels) != expected)
        return makeError(
            ErrorCode::InvalidInput,
            std::string("cannot ") + (toBefore ? "undo" : "redo") +
                ": the case's label map is not the one this step left (it was changed outside the edit history)");
    if (m_wholeBefore || m_wholeAfter) {
        labels = toBefore ? m_wholeBefore : m_wholeAfter;
        return {};
    }
    const bool present = toBefore ? m_hadBefore : m_hasAfter;
    if (!present) {
        labels.reset();
        return {};
    }
    const Volume* current = labels && !labels->empty() ? &labels->labels() : nullptr;
    Volume v = m_type == PixelType::UInt8 ? patched<std::uint8_t>(m_geometry, current, m_runs, toBefore)
                                          : patched<std::uint16_t>(m_geometry, current, m_runs, toBefore);
    labels = LabelMap(std::move(v), toBefore ? m_tableBefore : m_tableAfter);
    return {};
}

// ------------------------------------------------------------------ commands

Result<void> LabelMapCommand::undo(Case& c) {
    if (auto ok = m_change.revert(c.labels); !ok)
        return makeError(ok.error().code, "'" + m_name + "': " + ok.error().message);
    return {};
}

Result<void> LabelMapCommand::redo(Case& c) {
    if (auto ok = m_change.reapply(c.labels); !ok)
        return makeError(ok.error().code, "'" + m_name + "': " + ok.error().message);
    return {};
}

// ------------------------------------------------------------------ history

Result<EditSummary> EditHistory::apply(Case& c, const std::string& name, const LabelEdit& edit) {
    if (!edit) return makeError(ErrorCode::InvalidInput, "'" + name + "': no edit given");
    LabelMap current;
    if (c.labels && !c.labels->empty()) {
        current = *c.labels;
    } else {
        const auto& g = c.reference.volume.geometry();
        if (c.reference.volume.empty() || g.empty())
            return makeError(ErrorCode::InvalidInput,
                             "'" + name + "': the case has neither a label map nor a reference image");
        current = LabelMap(Volume::create(g, std::vector<std::uint8_t>(g.voxelCount(), 0)), {});
    }
    auto result = edit(current);
    if (!result) return makeError(result.error().code, "'" + name + "': " + result.error().message);
    return commit(c, name, std::move(result).value());
}

Result<EditSummary> EditHistory::commit(Case& c, const std::string& name, std::optional<LabelMap> after) {
    if (after && !after->empty() && !labelVolume(after->labels()))
        return makeError(ErrorCode::InvalidInput, "'" + name + "': the new label volume holds " +
                                                      std::string(imaging::toString(after->labels().pixelType())) +
                                                      " voxels, not 8/16-bit labels");
    LabelMapChange change = LabelMapChange::between(c.labels, after);
    EditSummary summary;
    summary.changedVoxels = change.changedVoxels();
    summary.tableChanged = change.tableChanged();
    if (change.empty()) return summary;
    c.labels = std::move(after);
    auto command = std::make_unique<LabelMapCommand>(name, std::move(change));
    summary.stepBytes = command->memoryBytes();
    summary.recorded = true;
    push(std::move(command));
    return summary;
}

void EditHistory::push(std::unique_ptr<EditCommand> command) {
    if (!command) return;
    m_redo.clear();
    m_undo.push_back(std::move(command));
    enforceLimits();
}

Result<void> EditHistory::undo(Case& c) {
    if (m_undo.empty()) return makeError(ErrorCode::InvalidInput, "nothing to undo");
    if (auto ok = m_undo.back()->undo(c); !ok) return ok;
    m_redo.push_back(std::move(m_undo.back()));
    m_undo.pop_back();
    return {};
}

Result<void> EditHistory::redo(Case& c) {
    if (m_redo.empty()) return makeError(ErrorCode::InvalidInput, "nothing to redo");
    if (auto ok = m_redo.back()->redo(c); !ok) return ok;
    m_undo.push_back(std::move(m_redo.back()));
    m_redo.pop_back();
    return {};
}

std::vector<std::string> EditHistory::undoNames() const {
    std::vector<std::string> names;
    for (auto it = m_undo.rbegin(); it != m_undo.rend(); ++it) names.push_back((*it)->name());
    return names;
}

std::vector<std::string> EditHistory::redoNames() const {
    std::vector<std::string> names;
    for (auto it = m_redo.rbegin(); it != m_redo.rend(); ++it) names.push_back((*it)->name());
    return names;
}

std::size_t EditHistory::memoryBytes() const {
    std::size_t n = 0;
    for (const auto& cmd : m_undo) n += cmd->memoryBytes();
    for (const auto& cmd : m_redo) n += cmd->memoryBytes();
    return n;
}

void EditHistory::setLimits(Limits limits) {
    m_limits = limits;
    enforceLimits();
}

void EditHistory::clear() {
    m_undo.clear();
    m_redo.clear();
}

void EditHistory::enforceLimits() {
    // Redo steps go first (they are the least likely to be wanted), then the oldest undo steps; the newest undo
    // step always stays so the edit just made can be undone.
    while (!m_redo.empty() && memoryBytes() > m_limits.maxBytes) {
        m_redo.erase(m_redo.begin());
        ++m_dropped;
    }
    while (m_undo.size() > 1 &&
           (memoryBytes() > m_limits.maxBytes || m_undo.size() > std::max<std::size_t>(1, m_limits.maxSteps))) {
        m_undo.pop_front();
        ++m_dropped;
    }
}

} // namespace jumeau::simulation
