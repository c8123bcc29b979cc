#pragma once
// Mesh files: STL (binary, ASCII), OBJ, PLY (ASCII, binary little endian). Meshes are LPS millimetres in memory;
// a file may be written in RAS (Slicer and most 3D tools) and always says which frame and unit it uses: STL
// header / solid name "Jumeau mesh, frame=RAS, units=mm, structure=liver", OBJ and PLY comments
// "frame=RAS units=mm structure=liver". RAS = (-x, -y, z): a rotation, so triangle orientation is kept.

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/Result.h"

namespace jumeau::geometry {

enum class Frame { LPS, RAS };
const char* toString(Frame f);
std::optional<Frame> frameFromString(const std::string& s); // "LPS"/"RAS", case-insensitive

enum class MeshFormat { Stl, Obj, Ply };
// From the extension (.stl, .obj, .ply, case-insensitive).
std::optional<MeshFormat> meshFormatFromPath(const std::filesystem::path& file);

struct MeshWriteOptions {
    Frame frame = Frame::LPS;
    bool binary = true;                          // STL and PLY; OBJ is always text
    std::string name;                            // structure name written into the file
    std::optional<std::array<double, 3>> colour; // RGB [0,1]: PLY vertex colours, OBJ material
};

Result<void> writeMesh(const Mesh& mesh, const std::filesystem::path& file, const MeshWriteOptions& options = {});

struct SceneItem {
    std::string name;
    std::array<double, 3> colour{1, 1, 1};
    Mesh mesh; // LPS mm
};
// Several structures in one file: OBJ with one group and material each (a .mtl beside it), or PLY with per-vertex
// colours. STL has no groups: refused.
Result<void> writeScene(const std::vector<SceneItem>& items, const std::filesystem::path& file,
                        const MeshWriteOptions& options = {});

struct LoadedMesh {
    Mesh mesh;                    // LPS mm (converted back when the file says RAS); STL vertices welded by position
    Frame fileFrame = Frame::LPS; // as the file says; LPS when it does not say
    bool frameDeclared = false;
    std::string name;
};
Result<LoadedMesh> readMesh(const std::filesystem::path& file);

} // namespace jumeau::geometry
