// Meshing speed and validity: our label mesher (marching tetrahedra + constrained smoothing + CGAL checks) against
// VTK's discrete flying edges + windowed sinc (15 iterations, what app/viz drew before) and CGAL make_mesh_3 on the
// same labelled image. `jumeau_bench_mesh --report` times each once and prints ratios and validity (CGAL checks).
// Goal (issue 4): no more than 2x VTK, at least 10x faster than make_mesh_3.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>

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

using namespace jumeau::geometry;

namespace {

// An organ-like blob (three overlapping ellipsoids) with a 2.5 mm vessel through it, 1 mm voxels, 100x90x80.
const BinaryGrid& organ() {
    static const BinaryGrid g = [] {
        BinaryGrid b;
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
                    b.voxels[n] =
                        e(45, 45, 40, 35, 25, 20) || e(70, 40, 45, 20, 30, 18) || e(30, 55, 35, 18, 18, 25) || vessel
                            ? Inside
                            : Outside;
                }
        return b;
    }();
    return g;
}

Mesh jumeauMesh() {
    auto r = meshBinaryGrid(organ());
    return r.ok() ? r->mesh : Mesh{};
}

Mesh vtkMesh() {
    const BinaryGrid& g = organ();
    vtkNew<vtkImageData> image;
    // One voxel of padding so border-touching parts close, as app/viz does.
    image->SetDimensions(g.size[0] + 2, g.size[1] + 2, g.size[2] + 2);
    image->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
    auto* data = static_cast<unsigned char*>(image->GetScalarPointer());
    std::memset(data, 0, static_cast<std::size_t>(g.size[0] + 2) * (g.size[1] + 2) * (g.size[2] + 2));
    std::size_t n = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i, ++n)
                data[(i + 1) + (g.size[0] + 2) * ((j + 1) + static_cast<std::size_t>(g.size[1] + 2) * (k + 1))] =
                    g.voxels[n];
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

Mesh cgalMesh3() {
    const BinaryGrid& g = organ();
    _image* im = _createImage(g.size[0], g.size[1], g.size[2], 1, 1.0, 1.0, 1.0, 1, WK_FIXED, SGN_UNSIGNED);
    std::memcpy(im->data, g.voxels.data(), g.voxels.size());
    CGAL::Image_3 image(im);
    Domain domain = Domain::create_labeled_image_mesh_domain(image);
    // Surface quality comparable to ours (facets within half a voxel, ~1.5 mm); coarse cells since only the boundary
    // is compared; no perturbation/exudation (they improve tetrahedra, not the surface).
    namespace P = CGAL::parameters;
    Criteria criteria(P::facet_angle = 30, P::facet_size = 1.5, P::facet_distance = 0.5, P::cell_radius_edge_ratio = 3,
                      P::cell_size = 8);
    C3t3 c3t3 = CGAL::make_mesh_3<C3t3>(domain, criteria, P::no_perturb(), P::no_exude());
    // CGAL's own extraction of the boundary facets, consistently oriented.
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

void BM_Jumeau(benchmark::State& state) {
    organ();
    for (auto _ : state) benchmark::DoNotOptimize(jumeauMesh());
}
void BM_VtkFlyingEdgesWindowedSinc(benchmark::State& state) {
    organ();
    for (auto _ : state) benchmark::DoNotOptimize(vtkMesh());
}
void BM_CgalMakeMesh3(benchmark::State& state) {
    organ();
    for (auto _ : state) benchmark::DoNotOptimize(cgalMesh3());
}
BENCHMARK(BM_Jumeau)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VtkFlyingEdgesWindowedSinc)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CgalMakeMesh3)->Unit(benchmark::kMillisecond)->Iterations(1);

int report() {
    organ();
    struct Row {
        const char* name;
        std::function<Mesh()> run;
        double seconds = 0;
        MeshReport check;
    };
    std::vector<Row> rows{{"jumeau (tets + constrained Taubin + CGAL checks)", jumeauMesh, 0, {}},
                          {"VTK discrete flying edges + windowed sinc 15", vtkMesh, 0, {}},
                          {"CGAL make_mesh_3 (facet distance 0.5 mm)", cgalMesh3, 0, {}}};
    for (Row& r : rows) {
        const auto t0 = std::chrono::steady_clock::now();
        const Mesh m = r.run();
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        r.check = analyseMesh(m);
        std::printf("%-50s %8.3f s  %s\n", r.name, r.seconds, r.check.describe().c_str());
    }
    const double voxelMl = static_cast<double>(organ().insideCount()) / 1000.0;
    std::printf("voxel volume %.3f ml\n", voxelMl);
    std::printf("jumeau / VTK time: %.2f (goal <= 2)\n", rows[0].seconds / rows[1].seconds);
    std::printf("make_mesh_3 / jumeau time: %.2f (goal >= 10)\n", rows[2].seconds / rows[0].seconds);
    int valid = 0;
    for (const Row& r : rows) valid += r.check.valid();
    std::printf("valid meshes (closed, manifold, outward, no self-intersection): %d of 3\n", valid);
    return rows[0].check.valid() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--report") == 0) return report();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
