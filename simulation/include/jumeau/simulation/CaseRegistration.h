#pragma once
// Registering the series of a case onto its reference (the twin's frame) and keeping the result in the case.

#include "jumeau/geometry/Progress.h"
#include "jumeau/geometry/Result.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/simulation/Case.h"

namespace jumeau::simulation {

// Registers series i (1 .. seriesCount()-1) onto the reference (fixed = reference, moving = series i) and stores
// the transform, the method and the quality report in the case (Case::registrationOf(i)). A failed or cancelled
// registration leaves the case as it was and returns the error. When the options give no mask, the whole reference
// image is registered — except for an ultrasound series when the case's segmentation has a liver: then the liver
// (with what lies inside it) is the fixed mask, because outside the organ ultrasound shows surfaces and acoustic
// shadows where CT shows volumes, which pulls an intensity metric off by 1-2 mm (docs/registration.md).
// Landmark-only registrations use no image, hence no mask.
Result<imaging::RegistrationQuality> registerSeries(Case& c, std::size_t i, const imaging::RegistrationOptions& options,
                                                    const ProgressFn& progress = {});

// The liver of the case's segmentation, closed by 5 mm (vessels where they enter it) and its cavities (tumours,
// vessels inside it) filled, as a 0/1 mask on the reference grid; nullopt when the case has no segmentation or no structure named like a liver.
std::optional<imaging::Volume> ultrasoundOrganMask(const Case& c);

// A point of the reference frame in series i's frame, once series i is registered; nullopt when it is
// not.
std::optional<geometry::Vec3> referenceToSeries(const Case& c, std::size_t i, const geometry::Vec3& referenceLps);

} // namespace jumeau::simulation
