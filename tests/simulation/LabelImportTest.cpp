// Importing segmentations made elsewhere into a case: label files and DICOM mask series land on the reference grid
// with names, categories and colours a surgeon recognises; overlapping masks follow the stated precedence and every
// overlap is reported; masks on another grid are resampled with a warning; images and empty or misplaced masks are
// refused with a message naming the file.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>

#include "TestData.h"
#include "jumeau/imaging/Resample.h"
#include "jumeau/imaging/VolumeIO.h"
#include "jumeau/simulation/DemoCase.h"
#include "jumeau/simulation/LabelImport.h"

using namespace jumeau;
using namespace jumeau::simulation;
using imaging::ImageGeometry;
using imaging::StructureCategory;
using imaging::Vec3;
namespace fs = std::filesystem;

namespace {

// A small synthetic case: a 48^3 "CT" on a 1 x 1 x 2 mm grid centred at the origin.
Case syntheticCase() {
    ImageGeometry g;
    g.size = {48, 48, 48};
    g.spacing = {1, 1, 2};
    g.origin = {-23.5, -23.5, -47};
    std::vector<std::int16_t> v(g.voxelCount(), -1000);
    imaging::LoadedSeries s;
    s.info.modality = "CT";
    s.info.patientName = "Synthetic^patient";
    s.volume = imaging::Volume::create(g, std::move(v));
    auto c = caseFromSeries({s}, "synthetic");
    EXPECT_TRUE(c.ok());
    return std::move(*c);
}

template <typename Inside> imaging::Volume maskOn(const ImageGeometry& g, Inside inside, std::uint8_t value = 255) {
    std::vector<std::uint8_t> v(g.voxelCount(), 0);
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                if (inside(g.indexToLps({double(i), double(j), double(k)}))) v[g.linearIndex(i, j, k)] = value;
    return imaging::Volume::create(g, std::move(v));
}

auto ball(Vec3 c, double r) {
    return [=](const Vec3& p) { return distance(p, c) <= r; };
}

std::size_t nonZero(const imaging::Volume& v) {
    std::size_t n = 0;
    for (int k = 0; k < v.geometry().size[2]; ++k)
        for (int j = 0; j < v.geometry().size[1]; ++j)
            for (int i = 0; i < v.geometry().size[0]; ++i) n += v.valueAt(i, j, k) != 0;
    return n;
}

void writeMask(const imaging::Volume& v, const fs::path& file) {
    ASSERT_TRUE(imaging::writeVolume(v, file).ok()) << file;
}

const ImportedStructure* find(const LabelImportResult& r, const std::string& name) {
    for (const auto& s : r.structures)
        if (s.name == name) return &s;
    return nullptr;
}

const LabelOverlap* findOverlap(const LabelImportResult& r, const std::string& lost, const std::string& kept) {
    for (const auto& o : r.overlaps)
        if (o.structure == lost && o.keptBy == kept) return &o;
    return nullptr;
}

bool anyWarning(const LabelImportResult& r, const std::string& words) {
    return std::any_of(r.warnings.begin(), r.warnings.end(),
                       [&](const std::string& w) { return w.find(words) != std::string::npos; });
}

// Every voxel a structure's mask had on the reference grid is either its own in the case or reported as lost.
void expectAccounted(const LabelImportResult& r) {
    for (const auto& s : r.structures) {
        std::size_t lost = 0;
        for (const auto& o : r.overlaps)
            if (o.structure == s.name) lost += o.voxels;
        EXPECT_EQ(s.voxels + lost, s.maskVoxels) << s.name;
    }
}

imaging::LoadedSeries series(imaging::Volume v, const std::string& modality, const std::string& description) {
    imaging::LoadedSeries s;
    s.info.modality = modality;
    s.info.seriesDescription = description;
    s.volume = std::move(v);
    return s;
}

} // namespace

TEST(LabelImport, NamesGiveCategoriesColoursAndPrecedence) {
    for (const char* n : {"livertumor1", "Tumour 2", "liver lesion", "metastasis"})
        EXPECT_EQ(guessCategory(n), StructureCategory::Tumour) << n;
    for (const char* n : {"portalvein", "venoussystem", "artery", "Hepatic veins", "aorta", "IVC", "vena_cava"})
        EXPECT_EQ(guessCategory(n), StructureCategory::Vessel) << n;
    for (const char* n : {"liver", "Left kidney", "spleen", "gallbladder"})
        EXPECT_EQ(guessCategory(n), StructureCategory::Organ) << n;
    EXPECT_EQ(guessCategory("bone"), StructureCategory::Bone);
    EXPECT_EQ(guessCategory("Spine"), StructureCategory::Bone);
    EXPECT_EQ(guessCategory("skin"), StructureCategory::Body);
    EXPECT_EQ(guessCategory("Body"), StructureCategory::Body);
    EXPECT_EQ(guessCategory("liverkyst"), StructureCategory::Other); // a cyst inside the liver is not the liver
    EXPECT_EQ(guessCategory("label 7"), StructureCategory::Other);
    // Arteries red, portal vein violet as in the demo case, liver brown-red, tumours yellow and distinct.
    const auto artery = guessColour("artery", StructureCategory::Vessel);
    EXPECT_GT(artery[0], 0.7);
    EXPECT_LT(artery[2], 0.3);
    EXPECT_EQ(guessColour("portalvein", StructureCategory::Vessel), (std::array<double, 3>{0.45, 0.25, 0.8}));
    EXPECT_EQ(guessColour("liver", StructureCategory::Organ), (std::array<double, 3>{0.87, 0.47, 0.37}));
    EXPECT_NE(guessColour("livertumor1", StructureCategory::Tumour),
              guessColour("livertumor2", StructureCategory::Tumour));
    EXPECT_GT(precedenceRank(StructureCategory::Tumour), precedenceRank(StructureCategory::Vessel));
    EXPECT_GT(precedenceRank(StructureCategory::Vessel), precedenceRank(StructureCategory::Organ));
    EXPECT_GT(precedenceRank(StructureCategory::Organ), precedenceRank(StructureCategory::Body));
}

TEST(LabelImport, FolderOfMasksMergesByPrecedenceAndReportsOverlaps) {
    Case c = syntheticCase();
    const ImageGeometry g = c.reference.volume.geometry();
    const fs::path dir = test::outputDir("label-import-folder");
    fs::create_directories(dir / "structures");
    const auto body = maskOn(g, ball({0, 0, 0}, 22));
    const auto liver = maskOn(g, ball({3, 2, 4}, 14), 1);
    const auto tumour = maskOn(g, ball({8, 2, 4}, 5));
    const auto vein = maskOn(g, [](const Vec3& p) { return std::hypot(p.x - 3, p.y - 2) <= 3 && std::abs(p.z) < 30; });
    writeMask(body, dir / "structures" / "skin.nrrd");
    writeMask(liver, dir / "structures" / "liver.nii.gz");
    writeMask(tumour, dir / "structures" / "livertumor1.mha");
    writeMask(vein, dir / "structures" / "portalvein.nrrd");
    std::ofstream(dir / "structures" / "README.txt") << "masks";

    auto kind = classifyLabelSource(dir / "structures");
    ASSERT_TRUE(kind.ok());
    EXPECT_EQ(*kind, LabelSourceKind::FolderOfMaskSeries);
    auto r = importLabels(c, dir / "structures");
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(c.labels.has_value());
    EXPECT_TRUE(c.labels->geometry().sameGrid(g));
    ASSERT_EQ(r->structures.size(), 4u);
    ASSERT_EQ(c.labels->structures().size(), 4u);

    const auto* s = find(*r, "skin");
    const auto* l = find(*r, "liver");
    const auto* t = find(*r, "livertumor1");
    const auto* v = find(*r, "portalvein");
    ASSERT_TRUE(s && l && t && v);
    EXPECT_EQ(s->category, StructureCategory::Body);
    EXPECT_EQ(l->category, StructureCategory::Organ);
    EXPECT_EQ(t->category, StructureCategory::Tumour);
    EXPECT_EQ(v->category, StructureCategory::Vessel);
    EXPECT_FALSE(l->resampled);

    // Mask counts are the masks' own; in the case, tumour > vessel > organ > body.
    const std::size_t nBody = nonZero(body), nLiver = nonZero(liver), nTumour = nonZero(tumour), nVein = nonZero(vein);
    EXPECT_EQ(s->maskVoxels, nBody);
    EXPECT_EQ(l->maskVoxels, nLiver);
    EXPECT_EQ(t->maskVoxels, nTumour);
    EXPECT_EQ(v->maskVoxels, nVein);
    EXPECT_EQ(t->voxels, nTumour); // nothing outranks a tumour
    std::size_t veinInTumour = 0, liverInTumourOrVein = 0, unionAll = 0;
    for (std::size_t i = 0; i < g.voxelCount(); ++i) {
        const bool b = body.data<std::uint8_t>()[i], lv = liver.data<std::uint8_t>()[i],
                   tu = tumour.data<std::uint8_t>()[i], ve = vein.data<std::uint8_t>()[i];
        veinInTumour += ve && tu;
        liverInTumourOrVein += lv && (tu || ve);
        unionAll += b || lv || tu || ve;
    }
    ASSERT_GT(veinInTumour, 0u);
    EXPECT_EQ(v->voxels, nVein - veinInTumour);
    EXPECT_EQ(l->voxels, nLiver - liverInTumourOrVein);
    EXPECT_EQ(s->voxels + l->voxels + t->voxels + v->voxels, unionAll);
    EXPECT_EQ(c.labels->voxelCount(t->label), nTumour);
    EXPECT_EQ(c.labels->voxelCount(l->label), l->voxels);
    expectAccounted(*r);

    const auto* o = findOverlap(*r, "portalvein", "livertumor1");
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->voxels, veinInTumour);
    EXPECT_NEAR(o->volumeMl, veinInTumour * 2.0 / 1000, 1e-9);
    EXPECT_TRUE(anyWarning(*r, "livertumor1 overlaps portalvein by ")) << r->warnings.front();
    EXPECT_TRUE(anyWarning(*r, "ml; livertumor1 kept there"));
    EXPECT_NE(findOverlap(*r, "liver", "portalvein"), nullptr);
    EXPECT_NE(findOverlap(*r, "skin", "liver"), nullptr);
    EXPECT_EQ(findOverlap(*r, "livertumor1", "liver"), nullptr);

    // A second import keeps what is there: new values, names made unique, equal rank leaves existing voxels alone.
    const std::uint16_t liverLabel = l->label;
    const std::size_t liverVoxels = l->voxels;
    auto again = importLabels(c, dir / "structures" / "liver.nii.gz");
    ASSERT_TRUE(again.ok()) << again.error().message;
    ASSERT_EQ(again->structures.size(), 1u);
    EXPECT_EQ(again->structures[0].name, "liver (2)");
    EXPECT_GT(again->structures[0].label, 4);
    EXPECT_TRUE(anyWarning(*again, "already has a structure named 'liver'"));
    EXPECT_EQ(c.labels->structures().size(), 5u);
    EXPECT_EQ(c.labels->voxelCount(liverLabel), liverVoxels);
    EXPECT_EQ(c.labels->voxelCount(t->label), nTumour);
}

TEST(LabelImport, PhantomLabelsOntoItsCt) {
    const fs::path phantom = test::phantomCase();
    auto ct = imaging::loadDicomFolder(phantom / "ct");
    ASSERT_TRUE(ct.ok()) << ct.error().message;
    auto c = caseFromSeries(std::move(ct->series), (phantom / "ct").string());
    ASSERT_TRUE(c.ok());
    EXPECT_FALSE(c->labels.has_value());
    const fs::path file = phantom / "labels" / "labels.seg.nrrd";
    auto original = imaging::readLabelMap(file);
    ASSERT_TRUE(original.ok());

    auto r = importLabels(*c, file);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(c->labels.has_value());
    EXPECT_TRUE(r->overlaps.empty()); // one label per voxel in a label map: nothing to arbitrate
    EXPECT_FALSE(anyWarning(*r, "resampled"));
    ASSERT_EQ(c->labels->structures().size(), original->structures().size());
    const auto h = original->histogram();
    for (const auto& s : original->structures()) {
        const auto* got = c->labels->findByName(s.name);
        ASSERT_NE(got, nullptr) << s.name;
        EXPECT_EQ(got->category, s.category) << s.name;
        EXPECT_EQ(got->colour, s.colour) << s.name;
        EXPECT_EQ(got->label, s.label) << s.name; // a label map's own values are kept (the case had none)
        EXPECT_EQ(c->labels->voxelCount(got->label), h[s.label]) << s.name;
    }
    // Voxel for voxel the same segmentation, under the new values.
    std::map<std::uint16_t, std::uint16_t> valueOf;
    for (const auto& s : original->structures()) valueOf[s.label] = c->labels->findByName(s.name)->label;
    valueOf[0] = 0;
    const auto& g = original->geometry();
    std::size_t differ = 0;
    for (int k = 0; k < g.size[2]; k += 3)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                differ += valueOf[original->labelAt(i, j, k)] != c->labels->labelAt(i, j, k);
    EXPECT_EQ(differ, 0u);
}

TEST(LabelImport, PhantomCtLabelsOntoTheMrThroughTheKnownTransform) {
    // The MR is the reference; the CT labels are brought over with the ground-truth CT->MR transform, so each
    // tumour must sit where truth.json says the MR shows it.
    const fs::path phantom = test::phantomCase();
    const auto truth = readDemoCaseTruth(phantom);
    ASSERT_TRUE(truth.ok()) << truth.error().describe();
    const geometry::Transform ctToMr = truth->ctToMr;
    auto mr = imaging::loadDicomFolder(phantom / "mr");
    ASSERT_TRUE(mr.ok()) << mr.error().message;
    auto c = caseFromSeries(std::move(mr->series), (phantom / "mr").string());
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->reference.info.modality, "MR");
    LabelImportOptions o;
    o.referenceToSource = ctToMr.inverse(); // MR point -> CT point
    auto r = importLabels(*c, phantom / "labels" / "labels.seg.nrrd", o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(anyWarning(*r, "resampled (nearest, through the given transform)"));
    const auto& g = c->labels->geometry();
    for (const PhantomTumour& t : truth->tumours) {
        const auto* s = c->labels->findByName(t.name);
        ASSERT_NE(s, nullptr);
        Vec3 sum;
        std::size_t n = 0;
        for (int k = 0; k < g.size[2]; ++k)
            for (int j = 0; j < g.size[1]; ++j)
                for (int i = 0; i < g.size[0]; ++i)
                    if (c->labels->labelAt(i, j, k) == s->label) {
                        sum += g.indexToLps({double(i), double(j), double(k)});
                        ++n;
                    }
        ASSERT_GT(n, 0u) << s->name;
        const Vec3 expected = ctToMr.apply(t.centre);
        const double radius = t.radiusMm;
        std::printf("%s: centre in MR off by %.2f mm, volume %.2f ml (sphere %.2f ml)\n", s->name.c_str(),
                    distance(sum / double(n), expected), n * g.voxelVolumeMm3() / 1000,
                    4.0 / 3.0 * 3.14159265 * radius * radius * radius / 1000);
        EXPECT_LT(distance(sum / double(n), expected), 0.5 * std::min({g.spacing.x, g.spacing.y, g.spacing.z, 1.0}))
            << s->name;
    }
}

TEST(LabelImport, MaskOnACoarserGridIsResampledWithAWarning) {
    Case c = syntheticCase();
    const ImageGeometry g = c.reference.volume.geometry();
    const auto fine = maskOn(g, ball({2, -3, 5}, 15));
    // The same anatomy written on a 2 x 2 x 4 mm grid shifted by half a fine voxel, as another tool would.
    ImageGeometry coarse;
    coarse.size = {26, 26, 26};
    coarse.spacing = {2, 2, 4};
    coarse.origin = {-25, -25, -50};
    const auto coarseMask = maskOn(coarse, ball({2, -3, 5}, 15));
    const fs::path dir = test::outputDir("label-import-coarse");
    writeMask(coarseMask, dir / "liver.nii.gz");
    auto r = importLabels(c, dir / "liver.nii.gz");
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->structures.size(), 1u);
    const auto& s = r->structures[0];
    EXPECT_EQ(s.name, "liver");
    EXPECT_TRUE(s.resampled);
    EXPECT_TRUE(anyWarning(*r, "differs from the reference grid")) << r->warnings.front();
    EXPECT_TRUE(anyWarning(*r, "26x26x26")) << r->warnings.front();
    EXPECT_NEAR(s.sourceVolumeMl, nonZero(coarseMask) * 16.0 / 1000, 1e-9);
    // A 15 mm ball sampled at 2x2x4 mm then at 1x1x2 mm: within 5% of the ball sampled directly on the fine grid
    // (the coarse sampling's own error; each step adds boundary noise of either sign), Dice above 0.9.
    const std::size_t direct = nonZero(fine);
    EXPECT_NEAR(double(s.voxels), double(direct), 0.05 * direct);
    std::size_t both = 0;
    for (std::size_t i = 0; i < g.voxelCount(); ++i)
        both += fine.data<std::uint8_t>()[i] && c.labels->labels().data<std::uint8_t>()[i] == s.label;
    EXPECT_GT(2.0 * both / double(direct + s.voxels), 0.9);
}

TEST(LabelImport, ImagesAreRefusedAsMasksNamingTheFile) {
    Case c = syntheticCase();
    const ImageGeometry g = c.reference.volume.geometry();
    const fs::path dir = test::outputDir("label-import-images");
    // A CT (Hounsfield units, negative) as a label file: refused by the reader, file named.
    std::vector<std::int16_t> hu(g.voxelCount());
    for (std::size_t i = 0; i < hu.size(); ++i) hu[i] = static_cast<std::int16_t>(int(i % 2000) - 1000);
    writeMask(imaging::Volume::create(g, std::vector<std::int16_t>(hu)), dir / "ct.nrrd");
    auto r = importLabels(c, dir / "ct.nrrd");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find((dir / "ct.nrrd").string()), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("are not label values"), std::string::npos) << r.error().message;
    // The same image shifted to non-negative values (as some tools store CT): too many distinct values.
    std::vector<std::uint16_t> shifted(hu.size());
    std::transform(hu.begin(), hu.end(), shifted.begin(), [](std::int16_t v) { return std::uint16_t(v + 1024); });
    writeMask(imaging::Volume::create(g, std::move(shifted)), dir / "ct-shifted.mha");
    r = importLabels(c, dir / "ct-shifted.mha");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find((dir / "ct-shifted.mha").string()), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("not a label image: 2000 distinct values"), std::string::npos)
        << r.error().message;
    // A float image with fractional values.
    std::vector<float> f(g.voxelCount(), 0.5f);
    writeMask(imaging::Volume::create(g, std::move(f)), dir / "prob.nii.gz");
    r = importLabels(c, dir / "prob.nii.gz");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("prob.nii.gz"), std::string::npos);
    EXPECT_NE(r.error().message.find("fractional"), std::string::npos) << r.error().message;
    EXPECT_FALSE(c.labels.has_value()); // refused imports leave the case unchanged
}

TEST(LabelImport, CtSeriesFolderOfferedAsAMaskIsRefused) {
    const fs::path phantom = test::phantomCase();
    auto ct = imaging::loadDicomFolder(phantom / "ct");
    ASSERT_TRUE(ct.ok());
    auto c = caseFromSeries(std::move(ct->series), "phantom");
    ASSERT_TRUE(c.ok());
    auto kind = classifyLabelSource(phantom / "ct");
    ASSERT_TRUE(kind.ok());
    EXPECT_EQ(*kind, LabelSourceKind::MaskSeriesFolder);
    auto r = importLabels(*c, phantom / "ct");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find((phantom / "ct").string()), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("not a label image"), std::string::npos) << r.error().message;
    EXPECT_FALSE(c->labels.has_value());
}

TEST(LabelImport, EmptyAndOutsideMasksAreRefused) {
    Case c = syntheticCase();
    const ImageGeometry g = c.reference.volume.geometry();
    const fs::path dir = test::outputDir("label-import-empty");
    writeMask(imaging::Volume::create(g, std::vector<std::uint8_t>(g.voxelCount(), 0)), dir / "empty.nrrd");
    auto r = importLabels(c, dir / "empty.nrrd");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find((dir / "empty.nrrd").string() + ": empty mask (every voxel is 0)"),
              std::string::npos)
        << r.error().message;

    // Far away: a mask 500 mm above the reference.
    ImageGeometry far = g;
    far.origin = g.origin + Vec3{0, 0, 500};
    writeMask(maskOn(far, ball(far.centreLps(), 10)), dir / "far.nrrd");
    r = importLabels(c, dir / "far.nrrd");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("far.nrrd lies entirely outside the reference grid"), std::string::npos)
        << r.error().message;
    EXPECT_FALSE(c.labels.has_value());

    // Half outside: imported, the cut-off part reported.
    ImageGeometry half = g;
    half.origin = g.origin + Vec3{0, 0, 48};
    const auto halfMask = maskOn(half, ball(g.centreLps() + Vec3{0, 0, 47}, 10));
    writeMask(halfMask, dir / "half.nrrd");
    // With skipRefused the bad ones become warnings and the good one is imported.
    LabelImportOptions o;
    o.skipRefused = true;
    r = importLabels(c, {dir / "empty.nrrd", dir / "far.nrrd", dir / "half.nrrd"}, o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->structures.size(), 1u);
    EXPECT_EQ(r->structures[0].name, "half");
    EXPECT_TRUE(anyWarning(*r, "not imported: " + (dir / "empty.nrrd").string()));
    EXPECT_TRUE(anyWarning(*r, "lies outside the reference grid and is cut off"));
    EXPECT_LT(r->structures[0].voxels, nonZero(halfMask));
    EXPECT_GT(r->structures[0].voxels, nonZero(halfMask) / 3);
    // Nothing usable at all: an error even when skipping.
    Case fresh = syntheticCase();
    EXPECT_FALSE(importLabels(fresh, {dir / "empty.nrrd", dir / "far.nrrd"}, o).ok());
    EXPECT_FALSE(importLabels(fresh, dir / "missing.nrrd").ok());
}

TEST(LabelImport, MaskSeriesAreRecognisedAmongImages) {
    ImageGeometry g;
    g.size = {16, 16, 4};
    std::vector<std::int16_t> ct(g.voxelCount());
    std::iota(ct.begin(), ct.end(), -1000);
    std::vector<std::uint8_t> mask(g.voxelCount(), 0), us(g.voxelCount()), empty(g.voxelCount(), 0);
    for (std::size_t i = 0; i < mask.size(); i += 3) mask[i] = 255;
    for (std::size_t i = 0; i < us.size(); ++i) us[i] = static_cast<std::uint8_t>(i * 7);
    std::vector<imaging::LoadedSeries> s{
        series(imaging::Volume::create(g, std::vector<std::uint8_t>(mask)), "CT", "liver"),
        series(imaging::Volume::create(g, std::move(ct)), "CT", "abdomen"),
        series(imaging::Volume::create(g, std::move(us)), "US", "sweep"),
        series(imaging::Volume::create(g, std::move(empty)), "CT", "blank")};
    EXPECT_TRUE(isMaskSeries(s[0]));
    EXPECT_FALSE(isMaskSeries(s[1]));
    EXPECT_FALSE(isMaskSeries(s[2]));
    EXPECT_FALSE(isMaskSeries(s[3])); // all zero: nothing to import as a structure
    EXPECT_EQ(findMaskSeries(s), (std::vector<std::size_t>{0}));
    EXPECT_TRUE(findMaskSeries({s[0], s[0]}).empty()); // only masks: they are the images
    EXPECT_EQ(maskSeriesName(s[0]), "liver");
    imaging::LoadedSeries ircadLike = s[0];
    ircadLike.info.seriesDescription.clear();
    ircadLike.info.patientName = "liver_17^portalvein";
    imaging::LoadedSeries ct17 = s[1];
    ct17.info.patientName = "liver_17^patient";
    EXPECT_EQ(maskSeriesName(ircadLike, &ct17), "portalvein");
}

// IRCAD 3Dircadb1.17: the CT and its 8 expert masks (0/255 "CT" series, one per structure, liver containing the
// tumours and vessels). Opened as a folder, the CT is the reference and the masks are recognised and imported.
TEST(LabelImport, IrcadMasksOntoTheIrcadCt) {
    JUMEAU_REQUIRE_SHARED_DATA(root, "ircad-3dircadb1.17-liver-ct");
    auto loaded = imaging::loadDicomFolder(root);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    ASSERT_EQ(loaded->series.size(), 9u);
    const auto maskIndices = findMaskSeries(loaded->series);
    ASSERT_EQ(maskIndices.size(), 8u);
    std::vector<imaging::LoadedSeries> images, masks;
    for (std::size_t i = 0; i < loaded->series.size(); ++i)
        (std::find(maskIndices.begin(), maskIndices.end(), i) != maskIndices.end() ? masks : images)
            .push_back(std::move(loaded->series[i]));
    auto c = caseFromSeries(std::move(images), root.string());
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->reference.info.patientName, "liver_17^patient");

    auto start = std::chrono::steady_clock::now();
    auto r = importMaskSeries(*c, masks);
    ASSERT_TRUE(r.ok()) << r.error().message;
    std::printf("8 IRCAD mask series merged onto the CT in %.2f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    // The README's voxel counts: each mask arrives whole (same grid, nothing resampled or cut off).
    const std::map<std::string, std::size_t> readme{
        {"liver", 2106497},       {"livertumor1", 96961}, {"livertumor2", 89029}, {"portalvein", 53746},
        {"venoussystem", 124865}, {"artery", 121479},     {"bone", 477406},       {"skin", 15984710}};
    const std::map<std::string, StructureCategory> category{
        {"liver", StructureCategory::Organ},         {"livertumor1", StructureCategory::Tumour},
        {"livertumor2", StructureCategory::Tumour},  {"portalvein", StructureCategory::Vessel},
        {"venoussystem", StructureCategory::Vessel}, {"artery", StructureCategory::Vessel},
        {"bone", StructureCategory::Bone},           {"skin", StructureCategory::Body}};
    ASSERT_EQ(r->structures.size(), 8u);
    for (const auto& s : r->structures) {
        ASSERT_TRUE(readme.count(s.name)) << s.name;
        EXPECT_EQ(s.maskVoxels, readme.at(s.name)) << s.name;
        EXPECT_EQ(s.category, category.at(s.name)) << s.name;
        EXPECT_FALSE(s.resampled) << s.name;
        EXPECT_EQ(c->labels->voxelCount(s.label), s.voxels) << s.name;
        std::printf("%-13s mask %9zu voxels (%7.2f ml), in the case %9zu (%7.2f ml)\n", s.name.c_str(), s.maskVoxels,
                    s.sourceVolumeMl, s.voxels, s.volumeMl);
    }
    for (const auto& o : r->overlaps) std::printf("  %s\n", o.describe().c_str());
    expectAccounted(*r);
    EXPECT_FALSE(anyWarning(*r, "resampled"));
    EXPECT_FALSE(anyWarning(*r, "cut off"));
    // Tumours outrank everything: they keep every voxel unless they overlap each other.
    const auto* t1 = find(*r, "livertumor1");
    const auto* t2 = find(*r, "livertumor2");
    ASSERT_TRUE(t1 && t2);
    EXPECT_EQ(t1->voxels + t2->voxels,
              t1->maskVoxels + t2->maskVoxels -
                  (findOverlap(*r, "livertumor1", "livertumor2") ? findOverlap(*r, "livertumor1", "livertumor2")->voxels
                                                                 : 0) -
                  (findOverlap(*r, "livertumor2", "livertumor1") ? findOverlap(*r, "livertumor2", "livertumor1")->voxels
                                                                 : 0));
    // The liver mask contains the tumours: the liver in the case is its mask minus the tumours and the vessels
    // running through it, each reported.
    const auto* liver = find(*r, "liver");
    ASSERT_NE(liver, nullptr);
    ASSERT_NE(findOverlap(*r, "liver", "livertumor1"), nullptr);
    ASSERT_NE(findOverlap(*r, "liver", "livertumor2"), nullptr);
    EXPECT_NE(findOverlap(*r, "liver", "portalvein"), nullptr);
    EXPECT_TRUE(anyWarning(*r, "livertumor1 overlaps liver by"));
    EXPECT_GT(liver->volumeMl, 1500);
    EXPECT_LT(liver->voxels, liver->maskVoxels - t1->voxels);
    // The skin mask is the filled body: it keeps the rest.
    const auto* skin = find(*r, "skin");
    ASSERT_NE(skin, nullptr);
    std::size_t labelled = 0;
    for (const auto& s : r->structures) labelled += s.voxels;
    EXPECT_EQ(c->labels->geometry().voxelCount() - c->labels->voxelCount(0), labelled);
    EXPECT_EQ(
        skin->voxels, skin->maskVoxels - [&] {
            std::size_t n = 0;
            for (const auto& o : r->overlaps) n += o.structure == "skin" ? o.voxels : 0;
            return n;
        }());

    // The folder of mask series (IRCAD's MASKS_DICOM_RLE) imported directly gives the same case.
    auto fromCt = imaging::loadDicomFolder(root / "PATIENT_DICOM");
    ASSERT_TRUE(fromCt.ok());
    auto c2 = caseFromSeries(std::move(fromCt->series), "ct");
    ASSERT_TRUE(c2.ok());
    start = std::chrono::steady_clock::now();
    auto r2 = importLabels(*c2, root / "MASKS_DICOM_RLE");
    ASSERT_TRUE(r2.ok()) << r2.error().message;
    std::printf("MASKS_DICOM_RLE read and imported in %.2f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    ASSERT_EQ(r2->structures.size(), 8u);
    for (const auto& s : r2->structures) {
        const auto* same = find(*r, s.name);
        ASSERT_NE(same, nullptr) << s.name;
        EXPECT_EQ(s.voxels, same->voxels) << s.name;
    }
}
