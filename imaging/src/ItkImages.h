#pragma once
// Private to imaging/src: an ITK image with a Volume's grid (size, spacing, origin, direction).

#include <itkImage.h>

#include "jumeau/imaging/ImageGeometry.h"

namespace jumeau::imaging::detail {

// A new ITK image whose region, spacing, origin and direction are `g`'s (both direction matrices hold the index
// axes' LPS unit vectors as columns). No pixel buffer yet: the caller allocates it or imports one.
template <typename Pixel> typename itk::Image<Pixel, 3>::Pointer itkImageOnGrid(const ImageGeometry& g) {
    using Image = itk::Image<Pixel, 3>;
    auto image = Image::New();
    typename Image::RegionType region;
    typename Image::SpacingType spacing;
    typename Image::PointType origin;
    typename Image::DirectionType direction;
    for (unsigned a = 0; a < 3; ++a) {
        region.SetSize(a, static_cast<itk::SizeValueType>(g.size[a]));
        spacing[a] = g.spacing[static_cast<int>(a)];
        origin[a] = g.origin[static_cast<int>(a)];
        for (unsigned c = 0; c < 3; ++c) direction(a, c) = g.direction.m[a][c];
    }
    image->SetRegions(region);
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    image->SetDirection(direction);
    return image;
}

} // namespace jumeau::imaging::detail
