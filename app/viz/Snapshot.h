#pragma once
// Pixels of what a render window shows: saved as PNG (test output, screenshots) or read back for checks.

#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "jumeau/geometry/Result.h"

class vtkRenderWindow;

namespace jumeau::viz {

struct RgbImage {
    int width = 0, height = 0;          // pixels
    std::vector<std::uint8_t> rgb;      // rows bottom-up (VTK/OpenGL order), 3 bytes per pixel
    std::array<std::uint8_t, 3> at(int x, int y) const { // x right, y up from bottom-left
        const std::size_t o = (static_cast<std::size_t>(y) * width + x) * 3;
        return {rgb[o], rgb[o + 1], rgb[o + 2]};
    }
};

RgbImage grab(vtkRenderWindow* window);
Result<void> savePng(vtkRenderWindow* window, const std::filesystem::path& file);

} // namespace jumeau::viz
