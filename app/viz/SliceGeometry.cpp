#include "viz/SliceGeometry.h"

namespace jumeau::viz {

const char* toString(SliceOrientation o) {
    switch (o) {
    case SliceOrientation::Axial: return "Axial";
    case SliceOrientation::Coronal: return "Coronal";
    case SliceOrientation::Sagittal: return "Sagittal";
    }
    return "?";
}

namespace {
// LPS letters of the + and - direction of each patient axis.
constexpr char kPlus[3] = {'L', 'P', 'S'};
constexpr char kMinus[3] = {'R', 'A', 'I'};
} // namespace

SliceAxes sliceAxesFor(const imaging::ImageGeometry& g, SliceOrientation o) {
    // (patient axis, sign) of screen-right and screen-down, and the patient axis through the slice.
    int hPatient = 0, vPatient = 1, nPatient = 2;
    double hSign = 1, vSign = 1;
    switch (o) {
    case SliceOrientation::Axial: hPatient = 0; vPatient = 1; nPatient = 2; hSign = 1; vSign = 1; break;
    case SliceOrientation::Coronal: hPatient = 0; vPatient = 2; nPatient = 1; hSign = 1; vSign = -1; break;
    case SliceOrientation::Sagittal: hPatient = 1; vPatient = 2; nPatient = 0; hSign = 1; vSign = -1; break;
    }
    const auto closest = g.closestIndexAxes();
    SliceAxes a;
    a.hAxis = closest[hPatient];
    a.vAxis = closest[vPatient];
    a.sliceAxis = closest[nPatient];
    a.hReversed = g.direction.m[hPatient][a.hAxis] * hSign < 0;
    a.vReversed = g.direction.m[vPatient][a.vAxis] * vSign < 0;
    a.width = g.size[a.hAxis];
    a.height = g.size[a.vAxis];
    a.sliceCount = g.size[a.sliceAxis];
    a.hSpacing = g.spacing[a.hAxis];
    a.vSpacing = g.spacing[a.vAxis];
    a.sliceSpacing = g.spacing[a.sliceAxis];
    a.edgeLetters = {hSign > 0 ? kMinus[hPatient] : kPlus[hPatient], hSign > 0 ? kPlus[hPatient] : kMinus[hPatient],
                     vSign > 0 ? kMinus[vPatient] : kPlus[vPatient], vSign > 0 ? kPlus[vPatient] : kMinus[vPatient]};
    return a;
}

std::array<int, 3> screenToIndex(const SliceAxes& a, int u, int v, int slice) {
    std::array<int, 3> idx{};
    idx[a.hAxis] = a.hReversed ? a.width - 1 - u : u;
    idx[a.vAxis] = a.vReversed ? a.height - 1 - v : v;
    idx[a.sliceAxis] = slice;
    return idx;
}

std::array<int, 3> indexToScreen(const SliceAxes& a, const std::array<int, 3>& index) {
    const int u = a.hReversed ? a.width - 1 - index[a.hAxis] : index[a.hAxis];
    const int v = a.vReversed ? a.height - 1 - index[a.vAxis] : index[a.vAxis];
    return {u, v, index[a.sliceAxis]};
}

} // namespace jumeau::viz
