#include "jumeau/simulation/CaseRegistration.h"

#include <string>

namespace jumeau::simulation {

Result<imaging::RegistrationQuality> registerSeries(Case& c, std::size_t i, const imaging::RegistrationOptions& options,
                                                    const ProgressFn& progress) {
    if (i == 0)
        return makeError(ErrorCode::InvalidInput,
                         c.name + ": series 0 is the reference; register another series onto it");
    if (i >= c.seriesCount())
        return makeError(ErrorCode::InvalidInput, c.name + ": no series " + std::to_string(i) + " (the case has " +
                                                      std::to_string(c.seriesCount()) + ")");
    const imaging::LoadedSeries& s = c.series(i);
    const std::string what = s.info.modality + " " + s.info.seriesDescription;
    auto result = imaging::registerVolumes(c.reference.volume, s.volume, options, progress);
    if (!result) return makeError(result.error().code, what + ": " + result.error().message);

    SeriesRegistration r;
    r.registered = true;
    r.toSeries = result->transform;
    r.method = std::string(options.landmarksOnly ? "landmarks" : imaging::toString(options.mode)) + ", " +
               result->quality.metric + ", start: " + result->quality.initialisation;
    r.quality = result->quality;
    c.setRegistration(i, std::move(r));
    return result->quality;
}

std::optional<geometry::Vec3> referenceToSeries(const Case& c, std::size_t i, const geometry::Vec3& p) {
    if (i >= c.seriesCount()) return std::nullopt;
    const SeriesRegistration r = c.registrationOf(i);
    if (!r.registered) return std::nullopt;
    return r.toSeries.apply(p);
}

} // namespace jumeau::simulation
