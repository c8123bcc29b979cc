#include "jumeau/simulation/CaseRegistration.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "jumeau/imaging/LabelEditing.h"

namespace jumeau::simulation {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return s;
}

// The liver structure of a segmentation: named "liver", else a name containing "liver" that is not a tumour.
std::optional<imaging::Structure> liverStructure(const imaging::LabelMap& map) {
    std::optional<imaging::Structure> candidate;
    for (const imaging::Structure& s : map.structures()) {
        const std::string n = lower(s.name);
        if (n == "liver") return s;
        if (!candidate && n.find("liver") != std::string::npos && n.find("tumo") == std::string::npos) candidate = s;
    }
    return candidate;
}

} // namespace

std::optional<imaging::Volume> ultrasoundOrganMask(const Case& c) {
    if (!c.labels) return std::nullopt;
    const auto liver = liverStructure(*c.labels);
    if (!liver) return std::nullopt;
    // Tumours and vessels inside the liver are other structures. Closing the liver by 5 mm takes in the vessels
    // where they enter it (the sharpest features an ultrasound of the liver shows), filling its cavities takes in
    // the tumours and vessels inside; without the closing the phantom sweep landed 3.9 mm off, with it 0.74 mm
    // (3 mm: 1.1 mm, 8 mm: 0.96 mm). CaseRegistrationTest measures it.
    imaging::LabelMap map = *c.labels;
    if (auto closed = imaging::morphology(map, liver->label, imaging::Morphology::Close, 5.0,
                                          imaging::EditableArea::everywhere()))
        map = std::move(*closed);
    if (auto filled = imaging::fillHoles(map, liver->label, std::nullopt, imaging::EditableArea::everywhere()))
        map = std::move(*filled);
    const imaging::ImageGeometry& g = map.geometry();
    std::vector<std::uint8_t> mask(g.voxelCount(), 0);
    std::size_t inside = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                if (map.labelAt(i, j, k) == liver->label) {
                    mask[g.linearIndex(i, j, k)] = 1;
                    ++inside;
                }
    if (inside == 0) return std::nullopt;
    return imaging::Volume::create(g, std::move(mask));
}

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
    imaging::RegistrationOptions o = options;
    bool onLiver = false;
    if (s.info.modality == "US" && !o.fixedMask && !o.movingMask && !o.landmarksOnly)
        if (auto organ = ultrasoundOrganMask(c)) {
            o.fixedMask = std::move(*organ);
            onLiver = true;
        }
    auto result = imaging::registerVolumes(c.reference.volume, s.volume, o, progress);
    if (!result) return makeError(result.error().code, what + ": " + result.error().message);

    SeriesRegistration r;
    r.registered = true;
    r.toSeries = result->transform;
    r.method = std::string(options.landmarksOnly ? "landmarks" : imaging::toString(options.mode)) + ", " +
               result->quality.metric + ", start: " + result->quality.initialisation +
               (onLiver ? ", on the liver (the reference's liver, closed by 5 mm, as the fixed mask)" : "");
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
