#include "viz/SurfaceScene.h"

#include <algorithm>

#include "jumeau/simulation/StructureMesher.h"

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkCellArray.h>
#include <vtkFlyingEdges3D.h>
#include <vtkFloatArray.h>
#include <vtkImageShrink3D.h>
#include <vtkImageData.h>
#include <vtkLight.h>
#include <vtkMatrix4x4.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataMapper.h>
#include <vtkPolyDataNormals.h>
#include <vtkProperty.h>
#include <vtkRenderer.h>
#include <vtkTransform.h>
#include <vtkTransformPolyDataFilter.h>

namespace jumeau::viz {

namespace {

// index → LPS mm: origin + direction * diag(spacing) * index.
vtkSmartPointer<vtkTransform> indexToLpsTransform(const imaging::ImageGeometry& g) {
    auto m = vtkSmartPointer<vtkMatrix4x4>::New();
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) m->SetElement(r, c, g.direction.m[r][c] * g.spacing[c]);
        m->SetElement(r, 3, g.origin[r]);
    }
    auto t = vtkSmartPointer<vtkTransform>::New();
    t->SetMatrix(m);
    return t;
}

} // namespace

Result<std::vector<StructureSurface>> extractSurfaces(const imaging::LabelMap& labels, const ProgressFn& progress) {
    if (labels.empty()) return std::vector<StructureSurface>{};
    std::vector<StructureSurface> out;
    const auto& structures = labels.structures();
    for (std::size_t n = 0; n < structures.size(); ++n) {
        const auto& s = structures[n];
        const double from = double(n) / double(structures.size()), to = double(n + 1) / double(structures.size());
        if (!reportProgress(progress, from, "surface of " + s.name))
            return makeError(ErrorCode::Cancelled, "surface extraction cancelled");
        if (s.category == imaging::StructureCategory::Body || s.label == 0) continue;
        // The structure's mesh as exported and measured (closed, manifold, free of self-intersections, LPS mm).
        auto meshed = simulation::meshStructure(labels, s.label, {}, [&](double f, const std::string& what) {
            return reportProgress(progress, from + (to - from) * f, s.name + ": " + what);
        });
        if (!meshed) {
            if (meshed.error().code == ErrorCode::Cancelled) return meshed.error();
            continue; // no voxel of this label: nothing to draw
        }
        const geometry::Mesh& mesh = meshed->mesh;
        if (mesh.triangles.empty()) continue;
        auto points = vtkSmartPointer<vtkPoints>::New();
        points->SetDataTypeToFloat();
        points->SetNumberOfPoints(static_cast<vtkIdType>(mesh.points.size()));
        for (std::size_t i = 0; i < mesh.points.size(); ++i)
            points->SetPoint(static_cast<vtkIdType>(i), mesh.points[i][0], mesh.points[i][1], mesh.points[i][2]);
        auto polys = vtkSmartPointer<vtkCellArray>::New();
        polys->AllocateExact(static_cast<vtkIdType>(mesh.triangles.size()), static_cast<vtkIdType>(3 * mesh.triangles.size()));
        for (const auto& t : mesh.triangles) {
            const vtkIdType ids[3] = {t[0], t[1], t[2]};
            polys->InsertNextCell(3, ids);
        }
        auto raw = vtkSmartPointer<vtkPolyData>::New();
        raw->SetPoints(points);
        raw->SetPolys(polys);
        // Triangles are outward already; normals for shading only.
        auto normals = vtkSmartPointer<vtkPolyDataNormals>::New();
        normals->SetInputData(raw);
        normals->SplittingOff();
        normals->ConsistencyOff();
        normals->AutoOrientNormalsOff();
        normals->Update();
        auto poly = vtkSmartPointer<vtkPolyData>::New();
        poly->ShallowCopy(normals->GetOutput());
        out.push_back({s, poly});
    }
    reportProgress(progress, 1.0, "surfaces ready");
    return out;
}

Result<std::vector<StructureSurface>> extractThresholdSurfaces(const imaging::Volume& volume, const std::string& modality,
                                                               const ProgressFn& progress) {
    std::vector<StructureSurface> out;
    if (modality != "CT" || volume.empty() || volume.pixelType() == imaging::PixelType::RGB8) return out;
    // A float copy keeps one code path for Int16/Float32 CT; the subsampled grid keeps it quick.
    const imaging::Volume f = volume.toFloat();
    const auto& g = f.geometry();
    auto image = vtkSmartPointer<vtkImageData>::New();
    image->SetDimensions(g.size[0], g.size[1], g.size[2]);
    auto arr = vtkSmartPointer<vtkFloatArray>::New();
    arr->SetArray(const_cast<float*>(f.data<float>()), static_cast<vtkIdType>(g.voxelCount()), 1);
    image->GetPointData()->SetScalars(arr);
    auto shrink = vtkSmartPointer<vtkImageShrink3D>::New();
    shrink->SetInputData(image);
    shrink->SetShrinkFactors(2, 2, 1);
    shrink->AveragingOn();
    shrink->Update();
    // The shrunk image keeps its points in the input's index space (spacing 2,2,1), so index→LPS still applies.
    auto toLps = indexToLpsTransform(g);
    struct Level { const char* name; double hu; std::array<double, 3> colour; imaging::StructureCategory category; };
    const Level levels[] = {{"bone (≥ 200 HU)", 200, {0.95, 0.92, 0.80}, imaging::StructureCategory::Bone},
                            {"skin (≥ -400 HU)", -400, {0.89, 0.72, 0.60}, imaging::StructureCategory::Body}};
    int n = 0;
    for (const auto& level : levels) {
        if (!reportProgress(progress, n++ / 2.0, std::string("threshold surface: ") + level.name))
            return makeError(ErrorCode::Cancelled, "surface extraction cancelled");
        auto iso = vtkSmartPointer<vtkFlyingEdges3D>::New();
        iso->SetInputConnection(shrink->GetOutputPort());
        iso->SetValue(0, level.hu);
        iso->ComputeNormalsOff();
        iso->ComputeScalarsOff();
        auto transform = vtkSmartPointer<vtkTransformPolyDataFilter>::New();
        transform->SetInputConnection(iso->GetOutputPort());
        transform->SetTransform(toLps);
        auto normals = vtkSmartPointer<vtkPolyDataNormals>::New();
        normals->SetInputConnection(transform->GetOutputPort());
        normals->SplittingOff();
        normals->Update();
        auto poly = vtkSmartPointer<vtkPolyData>::New();
        poly->ShallowCopy(normals->GetOutput());
        if (poly->GetNumberOfCells() == 0) continue;
        imaging::Structure s;
        s.name = level.name;
        s.colour = level.colour;
        s.category = level.category;
        out.push_back({s, poly});
    }
    reportProgress(progress, 1.0, "surfaces ready");
    return out;
}

SurfaceScene::SurfaceScene() {
    m_renderer = vtkSmartPointer<vtkRenderer>::New();
    m_renderer->SetBackground(0.10, 0.11, 0.14);
    m_renderer->SetBackground2(0.25, 0.27, 0.33);
    m_renderer->GradientBackgroundOn();
    m_renderer->SetUseDepthPeeling(1);
    m_renderer->SetMaximumNumberOfPeels(8);
}

SurfaceScene::~SurfaceScene() = default;

vtkRenderer* SurfaceScene::renderer() const { return m_renderer; }

double SurfaceScene::defaultOpacity(imaging::StructureCategory c) {
    switch (c) {
    case imaging::StructureCategory::Organ: return 0.45;
    case imaging::StructureCategory::Body: return 0.1;
    default: return 1.0;
    }
}

void SurfaceScene::clear() {
    for (auto& a : m_actors) m_renderer->RemoveActor(a);
    m_actors.clear();
    m_surfaces.clear();
}

void SurfaceScene::setSurfaces(std::vector<StructureSurface> surfaces, bool resetView) {
    clear();
    m_surfaces = std::move(surfaces);
    for (const auto& s : m_surfaces) {
        auto mapper = vtkSmartPointer<vtkPolyDataMapper>::New();
        mapper->SetInputData(s.polyData);
        mapper->ScalarVisibilityOff();
        auto actor = vtkSmartPointer<vtkActor>::New();
        actor->SetMapper(mapper);
        auto* p = actor->GetProperty();
        p->SetColor(s.structure.colour[0], s.structure.colour[1], s.structure.colour[2]);
        p->SetOpacity(defaultOpacity(s.structure.category));
        p->SetSpecular(0.25);
        p->SetSpecularPower(20);
        p->SetDiffuse(0.8);
        p->SetAmbient(0.15);
        m_renderer->AddActor(actor);
        m_actors.push_back(actor);
    }
    if (resetView) resetCamera();
}

bool SurfaceScene::setStructureVisible(std::uint16_t label, bool visible) {
    bool found = false;
    for (std::size_t i = 0; i < m_surfaces.size(); ++i)
        if (m_surfaces[i].structure.label == label) {
            m_actors[i]->SetVisibility(visible ? 1 : 0);
            found = true;
        }
    return found;
}

bool SurfaceScene::setStructureOpacity(std::uint16_t label, double opacity) {
    bool found = false;
    for (std::size_t i = 0; i < m_surfaces.size(); ++i)
        if (m_surfaces[i].structure.label == label) {
            m_actors[i]->GetProperty()->SetOpacity(std::clamp(opacity, 0.0, 1.0));
            found = true;
        }
    return found;
}

bool SurfaceScene::structureVisible(std::uint16_t label) const {
    for (std::size_t i = 0; i < m_surfaces.size(); ++i)
        if (m_surfaces[i].structure.label == label) return m_actors[i]->GetVisibility() != 0;
    return false;
}

double SurfaceScene::structureOpacity(std::uint16_t label) const {
    for (std::size_t i = 0; i < m_surfaces.size(); ++i)
        if (m_surfaces[i].structure.label == label) return m_actors[i]->GetProperty()->GetOpacity();
    return -1;
}

void SurfaceScene::resetCamera() {
    vtkCamera* cam = m_renderer->GetActiveCamera();
    cam->ParallelProjectionOff();
    cam->SetFocalPoint(0, 0, 0);
    cam->SetPosition(0, -1, 0); // anterior: looking from the patient's front towards posterior (+y)
    cam->SetViewUp(0, 0, 1);    // superior up; patient's left (+x) then appears on screen right
    m_renderer->ResetCamera();
    cam->Zoom(1.2);
    m_renderer->ResetCameraClippingRange();
}

void SurfaceScene::rotate(double azimuthDeg, double elevationDeg) {
    vtkCamera* cam = m_renderer->GetActiveCamera();
    cam->Azimuth(azimuthDeg);
    cam->Elevation(elevationDeg);
    cam->OrthogonalizeViewUp();
    m_renderer->ResetCameraClippingRange();
}

void SurfaceScene::zoom(double factor) {
    m_renderer->GetActiveCamera()->Dolly(factor);
    m_renderer->ResetCameraClippingRange();
}

std::array<double, 2> SurfaceScene::projectToDisplay(const std::array<double, 3>& lps) const {
    m_renderer->SetWorldPoint(lps[0], lps[1], lps[2], 1.0);
    m_renderer->WorldToDisplay();
    double d[3];
    m_renderer->GetDisplayPoint(d);
    return {d[0], d[1]};
}

} // namespace jumeau::viz
