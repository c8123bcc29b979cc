#pragma once
// Private to imaging/src: SpatialTransform <-> ITK transforms (registration results, .tfm files).

#include <itkAffineTransform.h>
#include <itkBSplineTransform.h>
#include <itkCompositeTransform.h>
#include <itkMatrixOffsetTransformBase.h>

#include "jumeau/imaging/Registration.h"

namespace jumeau::imaging::detail {

using ItkLinear = itk::MatrixOffsetTransformBase<double, 3, 3>;
using ItkAffine = itk::AffineTransform<double, 3>;
using ItkBSpline = itk::BSplineTransform<double, 3, 3>;
using ItkComposite = itk::CompositeTransform<double, 3>;

inline Transform fromItkLinear(const ItkLinear& t) {
    Transform out;
    const auto& m = t.GetMatrix();
    const auto& o = t.GetOffset();
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) out.linear.m[r][c] = m(r, c);
        out.translation[r] = o[r];
    }
    return out;
}

inline ItkAffine::Pointer toItkAffine(const Transform& t) {
    auto a = ItkAffine::New();
    ItkAffine::MatrixType m;
    ItkAffine::OutputVectorType o;
    for (unsigned r = 0; r < 3; ++r) {
        for (unsigned c = 0; c < 3; ++c) m(r, c) = t.linear.m[r][c];
        o[r] = t.translation[static_cast<int>(r)];
    }
    a->SetMatrix(m);
    a->SetOffset(o);
    return a;
}

inline BSplineDeformation fromItkBSpline(const ItkBSpline& b) {
    BSplineDeformation d;
    const auto coeffs = b.GetCoefficientImages();
    const auto& img = coeffs[0];
    const auto size = img->GetLargestPossibleRegion().GetSize();
    for (unsigned a = 0; a < 3; ++a) {
        d.gridSize[a] = static_cast<int>(size[a]);
        d.gridOrigin[static_cast<int>(a)] = img->GetOrigin()[a];
        d.gridSpacing[static_cast<int>(a)] = img->GetSpacing()[a];
        for (unsigned c = 0; c < 3; ++c) d.gridDirection.m[a][c] = img->GetDirection()(a, c);
    }
    const std::size_t n = img->GetLargestPossibleRegion().GetNumberOfPixels();
    d.coefficients.resize(n);
    for (unsigned a = 0; a < 3; ++a) {
        const double* p = coeffs[a]->GetBufferPointer();
        for (std::size_t i = 0; i < n; ++i) d.coefficients[i][static_cast<int>(a)] = p[i];
    }
    return d;
}

// A BSplineTransform with the same coefficient grid and values.
inline ItkBSpline::Pointer toItkBSpline(const BSplineDeformation& d) {
    auto b = ItkBSpline::New();
    ItkBSpline::PhysicalDimensionsType dims;
    ItkBSpline::MeshSizeType mesh;
    ItkBSpline::OriginType origin;
    ItkBSpline::DirectionType direction;
    for (unsigned a = 0; a < 3; ++a)
        for (unsigned c = 0; c < 3; ++c) direction(a, c) = d.gridDirection.m[a][c];
    for (unsigned a = 0; a < 3; ++a) {
        mesh[a] = static_cast<unsigned>(d.gridSize[a] - 3);
        dims[a] = d.gridSpacing[static_cast<int>(a)] * mesh[a];
    }
    // The transform domain starts one control-point spacing inside the coefficient grid (cubic splines).
    Vec3 domainOrigin = d.gridOrigin + d.gridDirection * Vec3{d.gridSpacing.x, d.gridSpacing.y, d.gridSpacing.z};
    for (unsigned a = 0; a < 3; ++a) origin[a] = domainOrigin[static_cast<int>(a)];
    b->SetTransformDomainOrigin(origin);
    b->SetTransformDomainPhysicalDimensions(dims);
    b->SetTransformDomainMeshSize(mesh);
    b->SetTransformDomainDirection(direction);
    ItkBSpline::ParametersType params(b->GetNumberOfParameters());
    const std::size_t n = d.coefficients.size();
    for (unsigned a = 0; a < 3; ++a)
        for (std::size_t i = 0; i < n; ++i) params[a * n + i] = d.coefficients[i][static_cast<int>(a)];
    b->SetParametersByValue(params);
    return b;
}

} // namespace jumeau::imaging::detail
