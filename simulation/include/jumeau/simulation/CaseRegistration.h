#pragma once
// Registering the series of a case onto its reference (the twin's frame) and keeping the result in the case.

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/simulation/Case.h"

namespace jumeau::simulation {

// Registers series i (1 .. seriesCount()-1) onto the reference (fixed = reference, moving = series i) and stores
// the transform, the method and the quality report in the case (Case::registrationOf(i)). A failed or cancelled
// registration leaves the case as it was and returns the error. The case's label map, when present and when the
// options give no fixed mask, is not used as a mask: the whole reference image is registered.
Result<imaging::RegistrationQuality> registerSeries(Case& c, std::size_t i, const imaging::RegistrationOptions& options,
                                                    const ProgressFn& progress = {});

// A point of the reference frame in series i's frame, once series i is registered; nullopt when it is
// not.
std::optional<geometry::Vec3> referenceToSeries(const Case& c, std::size_t i, const geometry::Vec3& referenceLps);

} // namespace jumeau::simulation
