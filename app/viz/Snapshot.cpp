#include "viz/Snapshot.h"

#include <cstring>

#include <vtkImageData.h>
#include <vtkPNGWriter.h>
#include <vtkRenderWindow.h>
#include <vtkWindowToImageFilter.h>

namespace jumeau::viz {

namespace {
vtkSmartPointer<vtkWindowToImageFilter> capture(vtkRenderWindow* window) {
    window->Render();
    auto filter = vtkSmartPointer<vtkWindowToImageFilter>::New();
    filter->SetInput(window);
    filter->SetInputBufferTypeToRGB();
    filter->ReadFrontBufferOff(); // the back buffer holds what was just rendered, even when obscured
    filter->ShouldRerenderOn();
    filter->Update();
    return filter;
}
} // namespace

RgbImage grab(vtkRenderWindow* window) {
    auto filter = capture(window);
    vtkImageData* img = filter->GetOutput();
    int dims[3];
    img->GetDimensions(dims);
    RgbImage out;
    out.width = dims[0];
    out.height = dims[1];
    out.rgb.resize(static_cast<std::size_t>(dims[0]) * dims[1] * 3);
    std::memcpy(out.rgb.data(), img->GetScalarPointer(), out.rgb.size());
    return out;
}

Result<void> savePng(vtkRenderWindow* window, const std::filesystem::path& file) {
    auto filter = capture(window);
    auto writer = vtkSmartPointer<vtkPNGWriter>::New();
    writer->SetFileName(file.string().c_str());
    writer->SetInputConnection(filter->GetOutputPort());
    writer->Write();
    if (writer->GetErrorCode() != 0)
        return makeError(ErrorCode::IoError, file.string() + ": could not write PNG");
    return {};
}

} // namespace jumeau::viz
