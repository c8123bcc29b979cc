// Undo/redo of label-map edits on a case: each edit restores byte-identical voxels and the same structure table,
// redo is cleared by a new edit, history memory stays far below whole copies, limits drop the oldest steps.

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "TestData.h"
#include "jumeau/imaging/DicomSeriesReader.h"

#include "jumeau/imaging/LabelEditing.h"
#include "jumeau/simulation/EditHistory.h"

using namespace jumeau;
using namespace jumeau::imaging;
using namespace jumeau::simulation;

namespace {

ImageGeometry grid(std::array<int, 3> size, Vec3 spacing) {
    ImageGeometry g;
    g.size = size;
    g.spacing = spacing;
    return g;
}

// A case whose reference is a synthetic CT: a 120 HU "liver" ball, a 300 HU "vessel" tube, 400 HU "bone" slab.
Case syntheticCase(std::array<int, 3> size = {48, 48, 24}, Vec3 spacing = {0.8, 0.8, 2.0}) {
    const auto g = grid(size, spacing);
    const Vec3 c = g.centreLps();
    std::vector<std::int16_t> v(g.voxelCount(), -1000);
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                const Vec3 p = g.indexToLps({double(i), double(j), double(k)});
                std::int16_t hu = -1000;
                if (geometry::distance(p, c) <= 12) hu = 120;
                if (std::hypot(p.x - c.x - 4, p.y - c.y) <= 2.5) hu = 300;
                if (j < 4) hu = 400;
                v[g.linearIndex(i, j, k)] = hu;
            }
    Case cs;
    cs.name = "synthetic";
    cs.reference.volume = Volume::create(g, std::move(v));
    return cs;
}

Structure structure(const std::string& name, std::uint16_t label = 0) {
    Structure s;
    s.label = label;
    s.name = name;
    s.colour = {0.7, 0.2, 0.2};
    return s;
}

struct Snapshot {
    bool present = false;
    std::vector<unsigned char> bytes;
    std::vector<Structure> table;
};

Snapshot snap(const Case& c) {
    Snapshot s;
    if (!c.labels) return s;
    s.present = true;
    const auto* p = static_cast<const unsigned char*>(c.labels->labels().rawData());
    s.bytes.assign(p, p + c.labels->labels().byteCount());
    s.table = c.labels->structures();
    return s;
}

void expectSame(const Snapshot& s, const Case& c, const std::string& when) {
    ASSERT_EQ(s.present, c.labels.has_value()) << when;
    if (!s.present) return;
    const Snapshot now = snap(c);
    EXPECT_TRUE(now.bytes == s.bytes) << when << ": voxels differ";
    ASSERT_EQ(now.table.size(), s.table.size()) << when;
    for (std::size_t i = 0; i < s.table.size(); ++i) {
        EXPECT_EQ(now.table[i].label, s.table[i].label) << when;
        EXPECT_EQ(now.table[i].name, s.table[i].name) << when;
        EXPECT_EQ(now.table[i].colour, s.table[i].colour) << when;
        EXPECT_EQ(now.table[i].category, s.table[i].category) << when;
    }
}

} // namespace

TEST(EditHistory, EveryEditUndoesAndRedoesExactly) {
    Case c = syntheticCase();
    const Volume& ct = c.reference.volume;
    const Vec3 centre = ct.geometry().centreLps();
    EditHistory h;
    std::vector<Snapshot> states{snap(c)}; // state before step i is states[i]
    std::vector<std::string> names;
    auto step = [&](const std::string& name, const EditHistory::LabelEdit& edit) {
        auto r = h.apply(c, name, edit);
        ASSERT_TRUE(r.ok()) << name << ": " << r.error().message;
        ASSERT_TRUE(r->recorded) << name << " changed nothing";
        states.push_back(snap(c));
        names.push_back(name);
    };
    RegionGrowing rg;
    rg.range = {100, 150};
    Brush brush;
    brush.radiusMm = 3;
    Brush eraser = brush;
    eraser.erase = true;
    step("Threshold bone [200, 3071] HU",
         [&](const LabelMap& m) { return threshold(m, ct, presetRange(ThresholdPreset::Bone), structure("bone")); });
    step("Grow liver from seed", [&](const LabelMap& m) {
        return growRegion(m, ct, {centre + Vec3{-5, 0, 0}}, rg, structure("liver"));
    });
    step("Close liver by 3 mm",
         [&](const LabelMap& m) { return morphology(m, 2, Morphology::Close, 3.0, EditableArea::everywhere()); });
    step("Add structure vessel", [&](const LabelMap& m) { return addStructure(m, structure("vessel")); });
    step("Paint vessel", [&](const LabelMap& m) {
        return paintStroke(m, {centre, centre + Vec3{0, 6, 0}}, brush, structure("vessel"), EditableArea::everywhere());
    });
    step("Erase vessel", [&](const LabelMap& m) { return paintStroke(m, {centre}, eraser, structure("vessel")); });
    step("Dilate liver by 3 mm", [&](const LabelMap& m) { return morphology(m, 2, Morphology::Dilate, 3.0); });
    step("Erode liver by 2 mm", [&](const LabelMap& m) { return morphology(m, 2, Morphology::Erode, 2.0); });
    step("Open liver by 2 mm", [&](const LabelMap& m) { return morphology(m, 2, Morphology::Open, 2.0); });
    step("Liver + 5 mm margin", [&](const LabelMap& m) { return applyMargin(m, 2, 5.0, structure("liver margin")); });
    step("Erase a cavity inside liver", [&](const LabelMap& m) {
        // A cavity first (erased inside), then filled by the next step.
        Brush b;
        b.radiusMm = 2;
        b.erase = true;
        return paintStroke(m, {centre + Vec3{-6, -6, 0}}, b, structure("liver"));
    });
    step("Fill holes of liver (3D)", [&](const LabelMap& m) { return fillHoles(m, 2); });
    step("Keep largest component of bone", [&](const LabelMap& m) {
        Brush b;
        b.radiusMm = 1.5;
        auto island = paintStroke(m, {ct.geometry().indexToLps({44, 44, 2})}, b, structure("bone"));
        if (!island) return island;
        return keepLargestComponent(*island, 1);
    });
    step("Union liver with liver margin", [&](const LabelMap& m) {
        return logicalOperation(m, 2, LogicalOp::Union, {nullptr, 4});
    });
    step("Paint sparse slices", [&](const LabelMap& m) {
        Brush d;
        d.shape = Brush::Shape::Disc;
        d.radiusMm = 4;
        auto a = paintStroke(m, {centre + Vec3{0, 0, -8}}, d, structure("tumour"), EditableArea::everywhere());
        if (!a) return a;
        return paintStroke(*a, {centre + Vec3{0, 0, 8}}, d, structure("tumour"), EditableArea::everywhere());
    });
    step("Fill between slices of tumour", [&](const LabelMap& m) {
        return fillBetweenSlices(m, m.findByName("tumour")->label, 2, EditableArea::everywhere());
    });
    step("Rename liver to right liver", [&](const LabelMap& m) { return renameStructure(m, 2, "right liver"); });
    step("Recolour bone", [&](const LabelMap& m) { return recolourStructure(m, 1, {1, 1, 0.8}); });
    step("Delete vessel", [&](const LabelMap& m) { return deleteStructure(m, 3); });
    step("Delete bone (clears its voxels)", [&](const LabelMap& m) { return deleteStructure(m, 1); });

    EXPECT_EQ(h.undoCount(), names.size());
    EXPECT_EQ(h.undoName(), names.back());
    EXPECT_FALSE(states.front().present); // the case had no segmentation: the first edit created it
    // Undo everything, checking each intermediate state, then redo everything.
    for (std::size_t i = names.size(); i-- > 0;) {
        ASSERT_TRUE(h.undo(c).ok()) << names[i];
        expectSame(states[i], c, "after undoing '" + names[i] + "'");
    }
    EXPECT_FALSE(c.labels.has_value());
    EXPECT_FALSE(h.canUndo());
    EXPECT_FALSE(h.undo(c).ok());
    for (std::size_t i = 0; i < names.size(); ++i) {
        EXPECT_EQ(h.redoName(), names[i]);
        ASSERT_TRUE(h.redo(c).ok()) << names[i];
        expectSame(states[i + 1], c, "after redoing '" + names[i] + "'");
    }
    EXPECT_FALSE(h.redo(c).ok());
}

TEST(EditHistory, NewEditClearsRedoAndNoOpIsNotRecorded) {
    Case c = syntheticCase();
    const Volume& ct = c.reference.volume;
    EditHistory h;
    auto bone = [&](const LabelMap& m) {
        return threshold(m, ct, presetRange(ThresholdPreset::Bone), structure("bone"));
    };
    ASSERT_TRUE(h.apply(c, "Threshold bone", bone).ok());
    ASSERT_TRUE(h.apply(c, "Dilate bone by 1 mm", [](const LabelMap& m) {
                     return morphology(m, 1, Morphology::Dilate, 1.0);
                 }).ok());
    ASSERT_TRUE(h.undo(c).ok());
    EXPECT_TRUE(h.canRedo());
    auto again = h.apply(c, "Threshold bone", bone); // same result as now: nothing changes
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->recorded);
    EXPECT_TRUE(h.canRedo());
    ASSERT_TRUE(h.apply(c, "Erode bone by 1 mm", [](const LabelMap& m) {
                     return morphology(m, 1, Morphology::Erode, 1.0);
                 }).ok());
    EXPECT_FALSE(h.canRedo());
    EXPECT_EQ(h.undoNames(), (std::vector<std::string>{"Erode bone by 1 mm", "Threshold bone"}));
    // A failing edit leaves case and history as they were.
    const Snapshot before = snap(c);
    auto bad = h.apply(c, "Dilate bone by -1 mm",
                       [](const LabelMap& m) { return morphology(m, 1, Morphology::Dilate, -1.0); });
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("Dilate bone by -1 mm"), std::string::npos) << bad.error().message;
    expectSame(before, c, "after a failed edit");
    EXPECT_EQ(h.undoCount(), 2u);
    // A cancelled edit too.
    const ProgressFn cancel = [](double, const std::string&) { return false; };
    auto cancelled = h.apply(c, "Dilate bone by 2 mm",
                             [&](const LabelMap& m) { return morphology(m, 1, Morphology::Dilate, 2.0, {}, cancel); });
    ASSERT_FALSE(cancelled.ok());
    EXPECT_EQ(cancelled.error().code, ErrorCode::Cancelled);
    expectSame(before, c, "after a cancelled edit");
    EXPECT_EQ(h.undoCount(), 2u);
}

TEST(EditHistory, RefusesToUndoWhenTheLabelMapChangedBehindItsBack) {
    Case c = syntheticCase();
    EditHistory h;
    ASSERT_TRUE(h.apply(c, "Threshold bone", [&](const LabelMap& m) {
                     return threshold(m, c.reference.volume, presetRange(ThresholdPreset::Bone), structure("bone"));
                 }).ok());
    const LabelMap edited = deleteStructure(*c.labels, 1).value();
    c.labels = edited; // not through the history
    const Snapshot before = snap(c);
    auto r = h.undo(c);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("changed outside the edit history"), std::string::npos) << r.error().message;
    expectSame(before, c, "after a refused undo");
    EXPECT_TRUE(h.canUndo());
}

TEST(EditHistory, MemoryStaysFarBelowWholeCopiesAndLimitsDropOldestSteps) {
    // 256 x 256 x 60 (3.9 MB of labels): 20 brush strokes and 5 morphology edits.
    Case c = syntheticCase({256, 256, 60}, {0.75, 0.75, 2.0});
    const auto& g = c.reference.volume.geometry();
    const Vec3 centre = g.centreLps();
    EditHistory h;
    ASSERT_TRUE(h.apply(c, "Grow liver", [&](const LabelMap& m) {
                     RegionGrowing rg;
                     rg.range = {100, 150};
                     return growRegion(m, c.reference.volume, {centre + Vec3{-6, 0, 0}}, rg, structure("liver"));
                 }).ok());
    Brush b;
    b.radiusMm = 4;
    for (int s = 0; s < 20; ++s) {
        const Vec3 p = centre + Vec3{-40.0 + 4 * s, 30, 0};
        ASSERT_TRUE(h.apply(c, "Paint " + std::to_string(s), [&](const LabelMap& m) {
                         return paintStroke(m, {p, p + Vec3{0, 10, 0}}, b, structure("vessel"));
                     }).ok());
    }
    for (int s = 1; s <= 5; ++s)
        ASSERT_TRUE(h.apply(c, "Dilate liver by " + std::to_string(s) + " mm", [&](const LabelMap& m) {
                         return morphology(m, 1, Morphology::Dilate, 1.0 * s);
                     }).ok());
    const std::size_t steps = h.undoCount();
    ASSERT_EQ(steps, 26u);
    const std::size_t whole = g.voxelCount(); // one uint8 copy
    const std::size_t mem = h.memoryBytes();
    std::cout << "[ info ] " << steps << " steps on a " << whole / 1e6 << " MB label map: history holds " << mem / 1e3
              << " kB (" << 100.0 * mem / (double(steps) * whole) << "% of whole copies)\n";
    EXPECT_LT(mem, steps * whole / 50); // < 2% of keeping a copy per step

    // The memory cap drops the oldest steps; the newest stays undoable.
    EditHistory::Limits limits;
    limits.maxBytes = mem / 4;
    h.setLimits(limits);
    EXPECT_LE(h.memoryBytes(), limits.maxBytes);
    EXPECT_LT(h.undoCount(), steps);
    EXPECT_EQ(h.droppedSteps(), steps - h.undoCount());
    EXPECT_EQ(h.undoName(), "Dilate liver by 5 mm");
    limits.maxBytes = 1; // below one step: only the newest remains
    limits.maxSteps = 100;
    h.setLimits(limits);
    EXPECT_EQ(h.undoCount(), 1u);
    const Snapshot now = snap(c);
    ASSERT_TRUE(h.undo(c).ok());
    EXPECT_FALSE(snap(c).bytes == now.bytes);
    ASSERT_TRUE(h.redo(c).ok());
    expectSame(now, c, "after undo+redo of the only remaining step");
    // maxSteps alone.
    EditHistory counted({std::size_t{1} << 30, 3});
    for (int s = 0; s < 5; ++s) {
        const Vec3 p = centre + Vec3{-40.0 + 8 * s, -30, 0};
        ASSERT_TRUE(counted
                        .apply(c, "Paint " + std::to_string(s),
                               [&](const LabelMap& m) { return paintStroke(m, {p}, b, structure("vessel")); })
                        .ok());
    }
    EXPECT_EQ(counted.undoCount(), 3u);
    EXPECT_EQ(counted.undoNames().back(), "Paint 2");
}

TEST(EditHistory, RemovingAndReplacingTheSegmentationIsUndoable) {
    Case c = syntheticCase();
    EditHistory h;
    ASSERT_TRUE(h.apply(c, "Threshold bone", [&](const LabelMap& m) {
                     return threshold(m, c.reference.volume, presetRange(ThresholdPreset::Bone), structure("bone"));
                 }).ok());
    const Snapshot bone = snap(c);
    auto removed = h.commit(c, "Remove segmentation", std::nullopt);
    ASSERT_TRUE(removed.ok());
    EXPECT_TRUE(removed->recorded);
    EXPECT_FALSE(c.labels.has_value());
    // A segmentation on another grid (e.g. imported at another resolution) replaces it: kept whole, still undoable.
    auto other = makeEmptyLabelMap(grid({10, 10, 10}, {2, 2, 2}), PixelType::UInt16);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE(h.commit(c, "Import segmentation", *other).ok());
    ASSERT_TRUE(h.undo(c).ok());
    EXPECT_FALSE(c.labels.has_value());
    ASSERT_TRUE(h.undo(c).ok());
    expectSame(bone, c, "after undoing the removal");
    ASSERT_TRUE(h.redo(c).ok());
    ASSERT_TRUE(h.redo(c).ok());
    ASSERT_TRUE(c.labels.has_value());
    EXPECT_EQ(c.labels->geometry().size, (std::array<int, 3>{10, 10, 10}));
    EXPECT_TRUE(c.labels->labels().holds<std::uint16_t>());
    // A case without a reference image cannot start a segmentation.
    Case empty;
    EditHistory h2;
    auto r = h2.apply(empty, "Paint", [](const LabelMap& m) { return Result<LabelMap>(m); });
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("reference image"), std::string::npos);
}

TEST(EditHistory, IrcadLiverDilationOnTheRealGrid) {
    // The expert liver of IRCAD 3Dircadb1.17 (512 x 512 x 119, 31 MB of labels): one 3 mm dilation through the history.
    JUMEAU_REQUIRE_SHARED_DATA(maskDir, "ircad-3dircadb1.17-liver-ct/MASKS_DICOM_RLE/liver");
    auto folder = loadDicomFolder(maskDir);
    ASSERT_TRUE(folder.ok()) << folder.error().message;
    const Volume& mask = folder->series.front().volume;
    ASSERT_TRUE(mask.holds<std::uint8_t>());
    const auto& g = mask.geometry();
    std::vector<std::uint8_t> v(g.voxelCount());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = mask.data<std::uint8_t>()[i] ? 1 : 0;
    Case c;
    c.reference.volume = mask;
    c.labels = LabelMap(Volume::create(g, std::move(v)), {structure("liver", 1)});
    const Snapshot before = snap(c);
    const double liverMl = c.labels->volumeMl(1);
    EditHistory h;
    using Clock = std::chrono::steady_clock;
    auto t0 = Clock::now();
    auto r =
        h.apply(c, "Dilate liver by 3 mm", [](const LabelMap& m) { return morphology(m, 1, Morphology::Dilate, 3.0); });
    const double applySeconds = std::chrono::duration<double>(Clock::now() - t0).count();
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(r->recorded);
    const Snapshot after = snap(c);
    const double dilatedMl = c.labels->volumeMl(1);
    t0 = Clock::now();
    ASSERT_TRUE(h.undo(c).ok());
    const double undoSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
    expectSame(before, c, "after undo");
    t0 = Clock::now();
    ASSERT_TRUE(h.redo(c).ok());
    const double redoSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
    expectSame(after, c, "after redo");
    std::cout << "[ info ] IRCAD liver " << liverMl << " ml -> " << dilatedMl << " ml after 3 mm; " << r->changedVoxels
              << " voxels changed, step holds " << r->stepBytes / 1e3 << " kB (label map " << g.voxelCount() / 1e6
              << " MB); dilate+record " << applySeconds << " s, undo " << undoSeconds << " s, redo " << redoSeconds
              << " s\n";
    // A 3 mm shell around a ~1.9 l liver (surface ~0.1 m^2 with its folds) holds a few hundred ml.
    EXPECT_GT(dilatedMl - liverMl, 150);
    EXPECT_LT(dilatedMl - liverMl, 700);
    EXPECT_LT(r->stepBytes, g.voxelCount() / 20); // under 5% of one whole copy
}
