#pragma once
// The 3D view: one surface per structure of the label map, coloured by the structure table, in LPS mm.
// The surfaces are the structures' meshes (simulation::meshStructure: closed, manifold, free of self-intersections,
// the ones exported and measured), not a separate display pipeline. Extraction runs on a worker thread; actors are
// made on the GUI thread. Threshold previews of an unsegmented CT still use VTK's flying edges.

#include <array>
#include <optional>
#include <string>
#include <vector>

#include <vtkSmartPointer.h>

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/LabelMap.h"
#include "jumeau/imaging/Volume.h"

class vtkRenderer;
class vtkPolyData;
class vtkActor;

namespace jumeau::viz {

struct StructureSurface {
    imaging::Structure structure;
    vtkSmartPointer<vtkPolyData> polyData; // LPS mm, with normals
};

// Surfaces for every structure except the body outline (which would hide everything inside it).
// Thread-safe: touches only its own VTK objects.
Result<std::vector<StructureSurface>> extractSurfaces(const imaging::LabelMap& labels, const ProgressFn& progress = {});

// For an image without segmentation: threshold surfaces a surgeon expects to see at once (CT: bone at
// 200 HU and the skin at -400 HU, on a 2× subsampled grid for speed). Empty for non-CT images.
Result<std::vector<StructureSurface>> extractThresholdSurfaces(const imaging::Volume& volume, const std::string& modality,
                                                               const ProgressFn& progress = {});

class SurfaceScene {
public:
    SurfaceScene();
    ~SurfaceScene();
    SurfaceScene(const SurfaceScene&) = delete;
    SurfaceScene& operator=(const SurfaceScene&) = delete;

    vtkRenderer* renderer() const;
    // Replaces the surfaces; resetView false keeps the camera (surfaces rebuilt after an edit).
    void setSurfaces(std::vector<StructureSurface> surfaces, bool resetView = true);
    void clear();
    const std::vector<StructureSurface>& surfaces() const { return m_surfaces; }
    // Opacity used for a structure category: organs see-through so vessels and tumours inside show.
    static double defaultOpacity(imaging::StructureCategory c);

    // Per structure (label value): shown or not, and its opacity in [0, 1]. False when no surface has that label.
    bool setStructureVisible(std::uint16_t label, bool visible);
    bool setStructureOpacity(std::uint16_t label, double opacity);
    bool structureVisible(std::uint16_t label) const;
    double structureOpacity(std::uint16_t label) const; // -1 when no surface has that label

    // Anterior view, patient's head up, whole scene in view.
    void resetCamera();
    void rotate(double azimuthDeg, double elevationDeg);
    void zoom(double factor);
    // Display coordinates (pixels, origin bottom-left) of an LPS point in the current camera.
    std::array<double, 2> projectToDisplay(const std::array<double, 3>& lps) const;

private:
    vtkSmartPointer<vtkRenderer> m_renderer;
    std::vector<StructureSurface> m_surfaces;
    std::vector<vtkSmartPointer<vtkActor>> m_actors;
};

} // namespace jumeau::viz
