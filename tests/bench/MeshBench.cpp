// Meshing speed and validity (issue 4's benchmark): per structure of the phantom case and of the IRCAD 3Dircadb1.17
// case, in the same run, Jumeau's label -> mesh against
//   - VTK vtkDiscreteFlyingEdges3D + vtkWindowedSincPolyDataFilter (15 iterations, what app/viz drew before), and
//   - CGAL make_mesh_3 on a labelled image (Labeled_mesh_domain_3::create_labeled_image_mesh_domain on a CGAL::Image_3
//     of the one structure), facet_size = our mesh's mean edge length, facet_distance = half the smallest voxel
//     size (our surface's bound: within half a voxel of the voxel boundary).
// Every method starts from the same cropped BinaryGrid and is timed from there (image building included). Jumeau and
// VTK run --runs times each (default 3), alternately, and their medians are compared: single runs on this shared
// 2-core machine varied by up to 1.5x from one minute to the next. make_mesh_3 (minutes per structure) runs once.
// The meshes are then checked with CGAL (analyseMesh: closed, manifold, outward, self-intersections).
// Goal: all of Jumeau's valid, at no more than 2x VTK's time, at least 10x faster than make_mesh_3.
//
//   jumeau_bench_mesh --report [--quick] [--only NAME] [--no-mesh3] [--stages] [--runs N] [--mesh3-max-vertices N]
//                              [--phantom DIR] [--ircad DIR]
//   jumeau_bench_mesh --profile N [--only NAME]: Jumeau's meshing alone, N times per case, best time and stages.
// --narrow-masks: the self-intersection broad phase compares boxes 4 at a time (SSE2) even where AVX-512 would do 16.
// --quick: the synthetic organ and the phantom only (the CTest smoke run). Without --report: Google Benchmark on the
// synthetic organ.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <vtkCellArray.h>
#include <vtkDiscreteFlyingEdges3D.h>
#include <vtkImageData.h>
#include <vtkNew.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkUnsignedCharArray.h>
#include <vtkWindowedSincPolyDataFilter.h>

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Image_3.h>
#include <CGAL/Labeled_mesh_domain_3.h>
#include <CGAL/Mesh_complex_3_in_triangulation_3.h>
#include <CGAL/Mesh_criteria_3.h>
#include <CGAL/Mesh_triangulation_3.h>
#include <CGAL/Surface_mesh.h>
#include <CGAL/facets_in_complex_3_to_triangle_mesh.h>
#include <CGAL/make_mesh_3.h>

#include "jumeau/geometry/LabelMesher.h"
#include "jumeau/geometry/MeshAnalysis.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/VolumeIO.h"
#include "jumeau/simulation/StructureMesher.h"

#include "../../geometry/src/SelfIntersection.h" // detail::allowWidePairMasks (--narrow-masks)

using namespace jumeau;
using namespace jumeau::geometry;

namespace {

// An organ-like blob (three overlapping ellipsoids) with a 2.5 mm vessel through it, 1 mm voxels, 100x90x80; the
// vessel leaves the grid (border closing is exercised).
BinaryGrid makeOrgan() {
    BinaryGrid b;
    b.name = "synthetic organ";
    b.size = {100, 90, 80};
    b.voxels.resize(b.voxelCount());
    std::size_t n = 0;
    for (int k = 0; k < b.size[2]; ++k)
        for (int j = 0; j < b.size[1]; ++j)
            for (int i = 0; i < b.size[0]; ++i, ++n) {
                auto e = [&](double cx, double cy, double cz, double a, double bb, double c) {
                    const double x = (i - cx) / a, y = (j - cy) / bb, z = (k - cz) / c;
                    return x * x + y * y + z * z <= 1;
                };
                const bool vessel = std::hypot(i - 50.0 - 0.3 * (k - 40), j - 20.0) <= 2.5;
                b.voxels[n] = e(45, 45, 40, 35, 25, 20) || e(70, 40, 45, 20, 30, 18) || e(30, 55, 35, 18, 18, 25) ||
                                      vessel
                                  ? Inside
                                  : Outside;
            }
    return b;
}

const BinaryGrid& organ() {
    static const BinaryGrid g = makeOrgan();
    return g;
}

// The structure as a 0/1 image with one voxel of 0 all round (so parts touching the grid border close), i fastest.
std::vector<unsigned char> paddedBinary(const BinaryGrid& g) {
    const int nx = g.size[0] + 2, ny = g.size[1] + 2, nz = g.size[2] + 2;
    std::vector<unsigned char> out(static_cast<std::size_t>(nx) * ny * nz, 0);
    std::size_t n = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i, ++n)
                out[(i + 1) + static_cast<std::size_t>(nx) * ((j + 1) + static_cast<std::size_t>(ny) * (k + 1))] =
                    g.voxels[n] == Inside ? 1 : 0;
    return out;
}

// Our mesh, moved out of the result (no copy in the timed region); `keep` gets the rest (stages, warnings).
Mesh jumeauMesh(const BinaryGrid& g, MeshingResult* keep = nullptr) {
    auto r = meshBinaryGrid(g);
    if (!r.ok()) {
        std::fprintf(stderr, "jumeau: %s\n", r.error().describe().c_str());
        return {};
    }
    Mesh m = std::move(r->mesh);
    if (keep) *keep = std::move(r).value();
    return m;
}

Mesh vtkMesh(const BinaryGrid& g) {
    vtkNew<vtkImageData> image;
    image->SetDimensions(g.size[0] + 2, g.size[1] + 2, g.size[2] + 2);
    image->SetSpacing(g.spacing.x, g.spacing.y, g.spacing.z);
    image->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
    const std::vector<unsigned char> voxels = paddedBinary(g);
    std::memcpy(image->GetScalarPointer(), voxels.data(), voxels.size());
    vtkNew<vtkDiscreteFlyingEdges3D> surface;
    surface->SetInputData(image);
    surface->SetValue(0, 1);
    surface->ComputeNormalsOff();
    surface->ComputeGradientsOff();
    surface->ComputeScalarsOff();
    vtkNew<vtkWindowedSincPolyDataFilter> smooth;
    smooth->SetInputConnection(surface->GetOutputPort());
    smooth->SetNumberOfIterations(15);
    smooth->SetPassBand(0.1);
    smooth->NormalizeCoordinatesOn();
    smooth->BoundarySmoothingOff();
    smooth->NonManifoldSmoothingOn();
    smooth->Update();
    vtkPolyData* pd = smooth->GetOutput();
    Mesh m;
    m.points.reserve(static_cast<std::size_t>(pd->GetNumberOfPoints()));
    for (vtkIdType i = 0; i < pd->GetNumberOfPoints(); ++i) {
        double p[3];
        pd->GetPoint(i, p);
        m.points.push_back({static_cast<float>(p[0]), static_cast<float>(p[1]), static_cast<float>(p[2])});
    }
    vtkCellArray* polys = pd->GetPolys();
    polys->InitTraversal();
    vtkIdType npts = 0;
    const vtkIdType* ids = nullptr;
    while (polys->GetNextCell(npts, ids))
        if (npts == 3)
            m.triangles.push_back({static_cast<int>(ids[0]), static_cast<int>(ids[1]), static_cast<int>(ids[2])});
    return m;
}

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Domain = CGAL::Labeled_mesh_domain_3<Kernel>;
using Tr = CGAL::Mesh_triangulation_3<Domain>::type;
using C3t3 = CGAL::Mesh_complex_3_in_triangulation_3<Tr>;
using Criteria = CGAL::Mesh_criteria_3<Tr>;

struct Mesh3Settings {
    double facetSize = 1;
    double facetDistance = 0.5;
    int maxVertices = 0; // 0 = no cap
};

Mesh cgalMesh3(const BinaryGrid& g, const Mesh3Settings& s, bool* capped = nullptr) {
    _image* im = _createImage(static_cast<std::size_t>(g.size[0] + 2), static_cast<std::size_t>(g.size[1] + 2),
                              static_cast<std::size_t>(g.size[2] + 2), 1, g.spacing.x, g.spacing.y, g.spacing.z, 1,
                              WK_FIXED, SGN_UNSIGNED);
    const std::vector<unsigned char> voxels = paddedBinary(g);
    std::memcpy(im->data, voxels.data(), voxels.size());
    CGAL::Image_3 image(im);
    Domain domain = Domain::create_labeled_image_mesh_domain(image);
    // Facets as large as ours and as close to the labelled surface as our bound; coarse cells (only the boundary
    // is compared); no perturbation/exudation (they improve tetrahedra, not the surface).
    namespace P = CGAL::parameters;
    const double maxSpacing = std::max({g.spacing.x, g.spacing.y, g.spacing.z});
    Criteria criteria(P::facet_angle = 30, P::facet_size = s.facetSize, P::facet_distance = s.facetDistance,
                      P::cell_radius_edge_ratio = 3, P::cell_size = 8 * maxSpacing);
    C3t3 c3t3 = s.maxVertices > 0
                    ? CGAL::make_mesh_3<C3t3>(domain, criteria, P::no_perturb(), P::no_exude(),
                                              P::mesh_3_options(P::maximal_number_of_vertices = s.maxVertices))
                    : CGAL::make_mesh_3<C3t3>(domain, criteria, P::no_perturb(), P::no_exude());
    if (capped)
        *capped = s.maxVertices > 0 && c3t3.triangulation().number_of_vertices() >= std::size_t(s.maxVertices);
    CGAL::Surface_mesh<Kernel::Point_3> sm;
    CGAL::facets_in_complex_3_to_triangle_mesh(c3t3, sm);
    Mesh m;
    for (auto v : sm.vertices()) {
        const auto& p = sm.point(v);
        m.points.push_back({static_cast<float>(p.x()), static_cast<float>(p.y()), static_cast<float>(p.z())});
    }
    for (auto f : sm.faces()) {
        std::array<int, 3> t{};
        int k = 0;
        for (auto v : CGAL::vertices_around_face(sm.halfedge(f), sm))
            if (k < 3) t[k++] = static_cast<int>(v.idx());
        m.triangles.push_back(t);
    }
    // Orientation is CGAL's choice; ours is outward (positive volume).
    if (m.signedVolumeMm3() < 0)
        for (auto& t : m.triangles) std::swap(t[1], t[2]);
    return m;
}

double meanEdgeMm(const Mesh& m) {
    double sum = 0;
    std::size_t n = 0;
    for (const auto& t : m.triangles)
        for (int e = 0; e < 3; ++e) {
            const auto& a = m.points[t[e]];
            const auto& b = m.points[t[(e + 1) % 3]];
            sum += std::sqrt(double(a[0] - b[0]) * (a[0] - b[0]) + double(a[1] - b[1]) * (a[1] - b[1]) +
                             double(a[2] - b[2]) * (a[2] - b[2]));
            ++n;
        }
    return n ? sum / double(n) : 0;
}

void BM_Jumeau(benchmark::State& state) {
    organ();
    for (auto _ : state) benchmark::DoNotOptimize(jumeauMesh(organ()));
}
void BM_VtkFlyingEdgesWindowedSinc(benchmark::State& state) {
    organ();
    for (auto _ : state) benchmark::DoNotOptimize(vtkMesh(organ()));
}
BENCHMARK(BM_Jumeau)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VtkFlyingEdgesWindowedSinc)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------------------------
// --report

struct Options {
    bool quick = false, mesh3 = true, stages = false;
    int runs = 3;           // --runs N: Jumeau and VTK N times each, alternately; medians compared
    int profileRepeats = 0; // --profile N: only Jumeau's meshing, N times per case (for perf)
    int mesh3MaxVertices = 2'000'000;
    std::string only;
    std::filesystem::path phantom = JUMEAU_TEST_PHANTOM_DIR;
    std::filesystem::path ircad =
        std::filesystem::path(JUMEAU_SHARED_DATA_DIR) / "ircad-3dircadb1.17-liver-ct" / "MASKS_DICOM_RLE";
};

struct Case {
    std::string name;
    BinaryGrid grid;
};

std::vector<Case> loadCases(const Options& o) {
    std::vector<Case> cases;
    auto want = [&](const std::string& n) { return o.only.empty() || n.find(o.only) != std::string::npos; };
    if (want("synthetic organ")) cases.push_back({"synthetic organ", organ()});
    const auto phantomLabels = o.phantom / "labels" / "labels.seg.nrrd";
    if (std::filesystem::exists(phantomLabels)) {
        auto map = imaging::readLabelMap(phantomLabels);
        if (!map.ok()) {
            std::printf("phantom: %s\n", map.error().describe().c_str());
        } else {
            for (const imaging::Structure& s : map->structures()) {
                const std::string name = "phantom " + s.name;
                if (!want(name)) continue;
                auto grid = simulation::binaryGridForLabel(map->labels(), s.label, s.name);
                if (grid.ok()) cases.push_back({name, std::move(grid).value()});
                else std::printf("%s: %s\n", name.c_str(), grid.error().describe().c_str());
            }
        }
    } else {
        std::printf("phantom case not found (%s): generate it with `jumeau-cli phantom --out DIR --seed 1`\n",
                    phantomLabels.string().c_str());
    }
    if (o.quick) return cases;
    if (!std::filesystem::is_directory(o.ircad)) {
        std::printf("IRCAD masks not found (%s)\n", o.ircad.string().c_str());
        return cases;
    }
    for (const char* structure : {"liver", "portalvein", "venoussystem", "artery", "bone", "skin", "livertumor1",
                                  "livertumor2"}) {
        const std::string name = std::string("IRCAD ") + structure;
        if (!want(name)) continue;
        auto loaded = imaging::loadDicomFolder(o.ircad / structure);
        if (!loaded.ok() || loaded->series.empty()) {
            std::printf("%s: %s\n", name.c_str(), loaded.ok() ? "no series" : loaded.error().describe().c_str());
            continue;
        }
        auto grid = simulation::binaryGridForLabel(loaded->series.front().volume, 255, structure);
        if (grid.ok()) cases.push_back({name, std::move(grid).value()});
        else std::printf("%s: %s\n", name.c_str(), grid.error().describe().c_str());
    }
    return cases;
}

struct Measured {
    double seconds = 0;
    MeshReport check;
    bool ran = false;
};

template <typename F> double secondsOf(F&& run, Mesh* out) {
    const auto t0 = std::chrono::steady_clock::now();
    Mesh mesh = run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (out) *out = std::move(mesh);
    return s;
}

// One run, timed; the mesh checked (outside the timed region) and kept in `out` when given.
template <typename F> Measured timed(F&& run, Mesh* out = nullptr) {
    Measured m;
    Mesh mesh;
    m.seconds = secondsOf(run, &mesh);
    m.check = analyseMesh(mesh);
    m.ran = true;
    if (out) *out = std::move(mesh);
    return m;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

// Two methods run `runs` times each, alternately (so a slow minute of the machine hits both), each mesh checked once
// (the meshing is deterministic); their median times.
template <typename F, typename G>
std::pair<Measured, Measured> timedPair(int runs, F&& first, G&& second, Mesh* firstMesh) {
    std::vector<double> a, b;
    Measured ma, mb;
    for (int i = 0; i < runs; ++i) {
        if (i == 0) {
            ma = timed(first, firstMesh);
            mb = timed(second);
            a.push_back(ma.seconds);
            b.push_back(mb.seconds);
        } else {
            a.push_back(secondsOf(first, nullptr));
            b.push_back(secondsOf(second, nullptr));
        }
    }
    ma.seconds = median(a);
    mb.seconds = median(b);
    return {ma, mb};
}

const char* yn(bool b) { return b ? "yes" : "NO"; }

std::string validity(const Measured& m) {
    if (!m.ran) return "-";
    if (m.check.valid()) return "valid";
    std::string s;
    if (!m.check.closed) s += "open ";
    if (!m.check.manifold) s += "non-manifold ";
    if (!m.check.outwardOriented) s += "not-outward ";
    if (m.check.selfIntersecting) s += "self-intersecting ";
    if (m.check.triangles == 0) s += "empty ";
    if (!s.empty()) s.pop_back();
    return s;
}

// Jumeau's meshing alone, repeated (a profiler then sees the mesher, not the benchmark's own checks).
int profile(const Options& o) {
    for (const Case& c : loadCases(o)) {
        double best = 1e300;
        MeshingResult kept;
        Mesh mesh;
        for (int i = 0; i < o.profileRepeats; ++i)
            best = std::min(best, secondsOf([&] { return jumeauMesh(c.grid, &kept); }, &mesh));
        std::printf("%-24s best of %d: %.3f s, %zu triangles;", c.name.c_str(), o.profileRepeats, best,
                    mesh.triangleCount());
        for (const auto& [stage, seconds] : kept.stageSeconds) std::printf(" %s %.3f", stage.c_str(), seconds);
        std::printf("\n");
    }
    return 0;
}

int report(const Options& o) {
    const std::vector<Case> cases = loadCases(o);
    std::printf("\n%-24s %9s | %8s %9s %-7s | %8s %9s %-24s | %6s | %9s %9s %-20s | %7s\n", "structure", "voxels",
                "jumeau s", "triangles", "valid", "VTK s", "triangles", "valid", "J/VTK", "mesh_3 s", "triangles",
                "valid", "M3/J");
    struct Totals {
        int n = 0, closed = 0, manifold = 0, noSelfIntersection = 0, valid = 0;
        void add(const Measured& m) {
            if (!m.ran) return;
            ++n;
            closed += m.check.closed;
            manifold += m.check.manifold;
            noSelfIntersection += !m.check.selfIntersecting && m.check.triangles > 0;
            valid += m.check.valid();
        }
    } tj, tv, tm;
    double sumJ = 0, sumV = 0, sumJm = 0, sumM = 0;
    bool allJumeauValid = true;
    for (const Case& c : cases) {
        MeshingResult kept;
        Mesh ours;
        const auto [j, v] =
            timedPair(o.runs, [&] { return jumeauMesh(c.grid, &kept); }, [&] { return vtkMesh(c.grid); }, &ours);
        Measured m;
        Mesh3Settings s;
        s.facetSize = meanEdgeMm(ours);
        s.facetDistance = 0.5 * std::min({c.grid.spacing.x, c.grid.spacing.y, c.grid.spacing.z});
        s.maxVertices = o.mesh3MaxVertices;
        bool capped = false;
        if (o.mesh3) m = timed([&] { return cgalMesh3(c.grid, s, &capped); });
        std::printf("%-24s %9zu | %8.3f %9zu %-7s | %8.3f %9zu %-24s | %6.2f | %9.3f%s %9zu %-20s | %7.1f\n",
                    c.name.c_str(), c.grid.insideCount(), j.seconds, j.check.triangles, validity(j).c_str(),
                    v.seconds, v.check.triangles, validity(v).c_str(), j.seconds / v.seconds, m.seconds,
                    capped ? "+" : " ", m.check.triangles, validity(m).c_str(), m.ran ? m.seconds / j.seconds : 0.0);
        if (o.stages) {
            std::printf("    jumeau stages:");
            for (const auto& [stage, seconds] : kept.stageSeconds) std::printf(" %s %.3f", stage.c_str(), seconds);
            std::printf("\n    make_mesh_3: facet_size %.3f mm, facet_distance %.3f mm\n", s.facetSize,
                        s.facetDistance);
        }
        std::fflush(stdout);
        tj.add(j);
        tv.add(v);
        tm.add(m);
        allJumeauValid = allJumeauValid && j.check.valid();
        sumJ += j.seconds;
        sumV += v.seconds;
        if (m.ran) {
            sumJm += j.seconds;
            sumM += m.seconds;
        }
    }
    std::printf("\nTimes start from the same cropped binary grid (image building included). Jumeau and VTK: median "
                "of %d runs each, alternately; make_mesh_3: one run. On a shared machine.\n",
                o.runs);
    std::printf("Total time: jumeau %.2f s, VTK %.2f s (jumeau/VTK %.2f, goal <= 2)", sumJ, sumV,
                sumV > 0 ? sumJ / sumV : 0.0);
    if (sumJm > 0) std::printf(", make_mesh_3 %.2f s (make_mesh_3/jumeau %.1f, goal >= 10)", sumM, sumM / sumJm);
    std::printf("\n");
    auto line = [](const char* name, const Totals& t) {
        std::printf("%-40s %d meshes: %d closed, %d manifold, %d self-intersection-free, %d valid (all + outward)\n",
                    name, t.n, t.closed, t.manifold, t.noSelfIntersection, t.valid);
    };
    line("jumeau", tj);
    line("VTK flying edges + windowed sinc", tv);
    if (tm.n) line("CGAL make_mesh_3", tm);
    std::printf("VTK's meshes are not checked or repaired by VTK: counted as they come. make_mesh_3 times marked + hit "
                "the vertex cap (%d): a lower bound.\n",
                o.mesh3MaxVertices);
    std::printf("all jumeau meshes valid: %s\n", yn(allJumeauValid));
    return allJumeauValid ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    bool doReport = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* flag) -> std::optional<std::string> {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", flag);
                std::exit(2);
            }
            return std::string(argv[++i]);
        };
        if (a == "--report") doReport = true;
        else if (a == "--quick") o.quick = true;
        else if (a == "--no-mesh3") o.mesh3 = false;
        else if (a == "--stages") o.stages = true;
        else if (a == "--narrow-masks") geometry::detail::allowWidePairMasks(false);
        else if (a == "--runs") o.runs = std::max(1, std::atoi(value("--runs")->c_str()));
        else if (a == "--profile") o.profileRepeats = std::max(1, std::atoi(value("--profile")->c_str()));
        else if (a == "--only") o.only = *value("--only");
        else if (a == "--phantom") o.phantom = *value("--phantom");
        else if (a == "--ircad") o.ircad = *value("--ircad");
        else if (a == "--mesh3-max-vertices") o.mesh3MaxVertices = std::atoi(value("--mesh3-max-vertices")->c_str());
    }
    if (o.profileRepeats > 0) return profile(o);
    if (doReport) return report(o);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
