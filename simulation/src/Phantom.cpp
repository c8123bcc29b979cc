#include "jumeau/simulation/Phantom.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <functional>
#include <limits>
#include <thread>

namespace jumeau::simulation {

namespace {

constexpr double kPi = 3.14159265358979323846;

inline double sq(double v) {
    return v * v;
}

// ---- Anatomy constants (LPS mm; x → patient's left, y → posterior, z → superior) -----------------------------
// A small adult abdomen. The CT grid of the demo case is centred on the origin and spans ±102 mm in x and y,
// ±120 mm in z: from about L3 up to the lung bases.

// Body wall: elliptic cylinders along z.
constexpr double kBodyA = 95, kBodyB = 75;     // skin
constexpr double kFatA = 85, kFatB = 65;       // inner edge of the subcutaneous fat (10 mm)
constexpr double kCavityA = 77, kCavityB = 57; // inner edge of the muscle wall (8 mm)
constexpr double kTableTop = 81, kTableBottom = 85, kTableHalfWidth = 100;

// Vessels along z.
constexpr Vec3 kAortaCentre{15, 4, 0};
constexpr double kAortaRadius = 10;
constexpr Vec3 kIvcCentre{-22, 8, 0};
constexpr double kIvcRadius = 9;

// Liver: smooth union of ellipsoids (right lobe, left lobe, inferior right tip, central part), clipped by the
// abdominal wall and carved by the IVC, which runs in the liver's posterior groove.
struct Ellipsoid {
    Vec3 centre, radii;
};
constexpr std::array<Ellipsoid, 4> kLiverParts{{{{-40, -2, 40}, {40, 56, 64}},
                                                {{10, -30, 56}, {46, 23, 33}},
                                                {{-48, -15, 0}, {30, 34, 38}},
                                                {{-14, -18, 42}, {30, 30, 38}}}};
constexpr double kLiverBlendMm = 12;

// Spine: vertebral bodies (elliptic cylinders) separated by discs, spinal canal, posterior elements.
constexpr double kVertebraPeriod = 32, kVertebraHeight = 25, kSpinePhase = -118;
constexpr double kVbCentreY = 27, kVbA = 16, kVbB = 13, kCortexMm = 1.5;
constexpr double kCanalY = 49, kCanalRadius = 8, kArchOuterRadius = 13;

// Organs that are anatomy, not structures of the table.
constexpr std::array<Ellipsoid, 2> kKidneys{{{{-44, 32, -48}, {18, 14, 46}}, {{44, 32, -38}, {18, 14, 46}}}};
constexpr double kPerirenalFatMm = 7;
constexpr Ellipsoid kSpleen{{52, 18, 52}, {18, 30, 40}};
constexpr std::array<Ellipsoid, 2> kLungs{{{{-45, 12, 172}, {36, 44, 72}}, {{45, 12, 168}, {36, 44, 72}}}};
constexpr double kDiaphragmMm = 5;
constexpr std::array<Vec3, 2> kPsoas{{{-24, 36, 0}, {24, 36, 0}}}; // centres in x/y, semi-axes 11 x 9, below z 40

// ---- Small geometry helpers ----------------------------------------------------------------------------------

double sdEllipsoid(const Vec3& p, const Vec3& r) {
    // Inigo Quilez's bound: exact on the surface, a good distance estimate near it.
    const double k0 = geometry::norm({p.x / r.x, p.y / r.y, p.z / r.z});
    const double k1 = geometry::norm({p.x / (r.x * r.x), p.y / (r.y * r.y), p.z / (r.z * r.z)});
    if (k1 < 1e-12) return -std::min({r.x, r.y, r.z});
    return k0 * (k0 - 1.0) / k1;
}

double insideEllipsoid(const Vec3& p, const Ellipsoid& e, double grow = 0) {
    return sq((p.x - e.centre.x) / (e.radii.x + grow)) + sq((p.y - e.centre.y) / (e.radii.y + grow)) +
           sq((p.z - e.centre.z) / (e.radii.z + grow));
}

// Polynomial smooth minimum: blends two distance fields over k mm.
double smoothMin(double a, double b, double k) {
    const double h = std::max(k - std::abs(a - b), 0.0) / k;
    return std::min(a, b) - h * h * k * 0.25;
}

// Approximate signed distance to an axis-aligned ellipse in x/y (first-order: value / gradient norm).
double sdEllipse2(double x, double y, double a, double b) {
    const double e = std::sqrt(sq(x / a) + sq(y / b));
    if (e < 1e-9) return -std::min(a, b);
    const double gx = x / (a * a) / e, gy = y / (b * b) / e;
    return (e - 1.0) / std::sqrt(gx * gx + gy * gy);
}

// Cheap test before the liver's distance field: the smooth union swells the union of the parts by at most
// k/4 (3 mm), so a point outside every part grown by margin + 6 mm is not within margin of the liver.
bool nearLiver(const Vec3& p, double margin = 0) {
    for (const auto& part : kLiverParts)
        if (insideEllipsoid(p, part, margin + 6) <= 1) return true;
    return false;
}

double liverDistance(const Vec3& p) {
    double d = std::numeric_limits<double>::max();
    bool first = true;
    for (const auto& part : kLiverParts) {
        const double di = sdEllipsoid(p - part.centre, part.radii);
        d = first ? di : smoothMin(d, di, kLiverBlendMm);
        first = false;
    }
    d = std::max(d, sdEllipse2(p.x, p.y, kCavityA, kCavityB));
    d = std::max(d, kIvcRadius - std::hypot(p.x - kIvcCentre.x, p.y - kIvcCentre.y));
    return d;
}

// Inside the liver, with the distance field evaluated only in the thin shell where the smooth union differs
// from the plain union of its parts (the smooth union contains the union, so inside a part means inside).
bool insideLiver(const Vec3& p) {
    if (!nearLiver(p)) return false;
    if (sq(p.x / kCavityA) + sq(p.y / kCavityB) > 1) return false;
    if (sq(p.x - kIvcCentre.x) + sq(p.y - kIvcCentre.y) < sq(kIvcRadius)) return false;
    for (const auto& part : kLiverParts)
        if (insideEllipsoid(p, part) <= 1) return true;
    return liverDistance(p) < 0;
}

double capsuleDistance(const Vec3& p, const VesselSegment& s) {
    const Vec3 ab = s.b - s.a;
    const double len2 = geometry::dot(ab, ab);
    const double t = len2 > 0 ? std::clamp(geometry::dot(p - s.a, ab) / len2, 0.0, 1.0) : 0.0;
    return geometry::norm(p - (s.a + ab * t));
}

bool insideCapsule(const Vec3& p, const VesselSegment& s) {
    // Cheap reject on the segment's padded box first: most points are far from most segments.
    const double r = s.radiusMm;
    if (p.x < std::min(s.a.x, s.b.x) - r || p.x > std::max(s.a.x, s.b.x) + r) return false;
    if (p.y < std::min(s.a.y, s.b.y) - r || p.y > std::max(s.a.y, s.b.y) + r) return false;
    if (p.z < std::min(s.a.z, s.b.z) - r || p.z > std::max(s.a.z, s.b.z) + r) return false;
    return capsuleDistance(p, s) < r;
}

Box segmentsBox(const std::vector<VesselSegment>& segments) {
    Box b{{1e9, 1e9, 1e9}, {-1e9, -1e9, -1e9}};
    for (const auto& s : segments)
        for (const Vec3& p : {s.a, s.b})
            for (int c = 0; c < 3; ++c) {
                b.lo[c] = std::min(b.lo[c], p[c] - s.radiusMm);
                b.hi[c] = std::max(b.hi[c], p[c] + s.radiusMm);
            }
    return b;
}

// ---- Deterministic random numbers (same stream on every platform and thread count) -----------------------------

std::uint64_t splitMix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

class Rng {
public:
    explicit Rng(std::uint64_t seed) : m_state(splitMix64(seed)) {}
    std::uint64_t next() {
        m_state += 0x9E3779B97F4A7C15ull;
        return splitMix64(m_state);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; } // [0, 1)
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    double normal() {
        // Box–Muller; the spare value is kept so every call costs half a log/sqrt.
        if (m_hasSpare) {
            m_hasSpare = false;
            return m_spare;
        }
        double u = uniform();
        while (u <= 1e-300) u = uniform();
        const double v = uniform();
        const double r = std::sqrt(-2.0 * std::log(u));
        m_spare = r * std::sin(2 * kPi * v);
        m_hasSpare = true;
        return r * std::cos(2 * kPi * v);
    }

private:
    std::uint64_t m_state;
    double m_spare = 0;
    bool m_hasSpare = false;
};

std::uint64_t streamSeed(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
    return splitMix64(splitMix64(seed ^ (stream * 0xD1B54A32D192ED03ull)) + index);
}

// Smooth value noise in [0, 1] for the bowel/mesentery texture (fixed anatomy: not seeded by the case seed).
// Lattice values come from a 64³ periodic table (period 64 cells, far larger than the body at the scales used),
// filled once: a table lookup is several times cheaper than hashing eight lattice points per call.
constexpr int kNoisePeriod = 64;

const std::vector<float>& noiseLattice() {
    static const std::vector<float> table = [] {
        std::vector<float> t(static_cast<std::size_t>(kNoisePeriod) * kNoisePeriod * kNoisePeriod);
        for (std::size_t i = 0; i < t.size(); ++i)
            t[i] = static_cast<float>(static_cast<double>(splitMix64(i) >> 11) * 0x1.0p-53);
        return t;
    }();
    return table;
}

double valueNoise(const Vec3& q) {
    const std::vector<float>& lattice = noiseLattice();
    const double fx = std::floor(q.x), fy = std::floor(q.y), fz = std::floor(q.z);
    const int ix = static_cast<int>(fx) & (kNoisePeriod - 1), iy = static_cast<int>(fy) & (kNoisePeriod - 1),
              iz = static_cast<int>(fz) & (kNoisePeriod - 1);
    auto fade = [](double t) { return t * t * (3 - 2 * t); };
    const double tx = fade(q.x - fx), ty = fade(q.y - fy), tz = fade(q.z - fz);
    double acc = 0;
    for (int c = 0; c < 8; ++c) {
        const int dx = c & 1, dy = (c >> 1) & 1, dz = (c >> 2) & 1;
        const double w = (dx ? tx : 1 - tx) * (dy ? ty : 1 - ty) * (dz ? tz : 1 - tz);
        const std::size_t index =
            static_cast<std::size_t>((ix + dx) & (kNoisePeriod - 1)) +
            kNoisePeriod * (static_cast<std::size_t>((iy + dy) & (kNoisePeriod - 1)) +
                            kNoisePeriod * static_cast<std::size_t>((iz + dz) & (kNoisePeriod - 1)));
        acc += w * lattice[index];
    }
    return acc;
}

float visceraFatFraction(const Vec3& p) {
    const double n = 0.65 * valueNoise(p / 16.0) + 0.35 * valueNoise(p / 7.0 + Vec3{31.7, 17.3, 5.1});
    const double t = std::clamp((n - 0.50) / 0.18, 0.0, 1.0);
    return static_cast<float>(t * t * (3 - 2 * t));
}

// ---- Threads -------------------------------------------------------------------------------------------------

// Runs body(0..count-1) on all cores. Progress is reported (and cancellation checked) only on the calling
// thread, so callers may touch GUI state in their ProgressFn. Returns false when cancelled.
bool parallelFor(int count, const std::function<void(int)>& body, const ProgressFn& progress, double f0, double f1,
                 const std::string& message) {
    std::atomic<int> next{0}, done{0};
    std::atomic<bool> stop{false};
    auto worker = [&] {
        while (!stop.load(std::memory_order_relaxed)) {
            const int k = next.fetch_add(1);
            if (k >= count) return;
            body(k);
            done.fetch_add(1);
        }
    };
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads && static_cast<int>(t) < count; ++t) pool.emplace_back(worker);
    bool cancelled = false;
    while (true) {
        if (!reportProgress(progress, f0 + (f1 - f0) * done.load() / std::max(count, 1), message)) {
            cancelled = true;
            stop = true;
            break;
        }
        const int k = next.fetch_add(1);
        if (k >= count) break;
        body(k);
        done.fetch_add(1);
    }
    for (auto& t : pool) t.join();
    if (cancelled) return false;
    return reportProgress(progress, f1, message);
}

Error cancelledError(const std::string& what) {
    return makeError(ErrorCode::Cancelled, what + " cancelled");
}

// ---- Tissue properties ---------------------------------------------------------------------------------------

constexpr bool isBone(Tissue t) {
    return t == Tissue::CorticalBone || t == Tissue::CancellousBone || t == Tissue::Rib;
}

// Ultrasound echogenicity relative to liver, and attenuation in dB/cm/MHz.
struct Acoustic {
    double echo;
    double attenuation;
};

Acoustic acoustic(Tissue t) {
    switch (t) {
    case Tissue::Fat:
        return {1.5, 0.6};
    case Tissue::Muscle:
        return {0.55, 1.0};
    case Tissue::Viscera:
        return {1.2, 0.7};
    case Tissue::Liver:
        return {1.0, 0.5};
    case Tissue::Tumour:
        return {0.4, 0.6};
    case Tissue::PortalVein:
    case Tissue::HepaticVein:
    case Tissue::Ivc:
    case Tissue::Aorta:
        return {0.03, 0.15};
    case Tissue::Kidney:
        return {0.7, 0.7};
    case Tissue::Spleen:
        return {0.95, 0.5};
    case Tissue::Disc:
        return {0.5, 0.8};
    case Tissue::SpinalCanal:
        return {0.05, 0.02};
    default:
        return {1.0, 0.6};
    }
}

} // namespace

const char* toString(Tissue t) {
    switch (t) {
    case Tissue::Air:
        return "air";
    case Tissue::Table:
        return "table";
    case Tissue::Lung:
        return "lung";
    case Tissue::Fat:
        return "fat";
    case Tissue::Muscle:
        return "muscle";
    case Tissue::Viscera:
        return "viscera";
    case Tissue::Liver:
        return "liver";
    case Tissue::Tumour:
        return "tumour";
    case Tissue::PortalVein:
        return "portal vein";
    case Tissue::HepaticVein:
        return "hepatic vein";
    case Tissue::Ivc:
        return "IVC";
    case Tissue::Aorta:
        return "aorta";
    case Tissue::Kidney:
        return "kidney";
    case Tissue::Spleen:
        return "spleen";
    case Tissue::CorticalBone:
        return "cortical bone";
    case Tissue::CancellousBone:
        return "cancellous bone";
    case Tissue::Rib:
        return "rib";
    case Tissue::Disc:
        return "disc";
    case Tissue::SpinalCanal:
        return "spinal canal";
    case Tissue::Count:
        break;
    }
    return "?";
}

Box fieldOfView(const ImageGeometry& g) {
    assert(g.direction == geometry::Mat3::identity());
    const Vec3 lo = g.indexToLps({-0.5, -0.5, -0.5});
    const Vec3 hi = g.indexToLps({g.size[0] - 0.5, g.size[1] - 0.5, g.size[2] - 0.5});
    return {lo, hi};
}

// ---- The model -----------------------------------------------------------------------------------------------

namespace {

VesselSegment seg(const Vec3& a, const Vec3& b, double r) {
    return {a, b, r};
}

// Portal vein: the trunk rises from the spleno-mesenteric confluence (inferior, medial) to the hilum, then
// right/left branches and segmental branches. Radii 7 → 2.5 mm.
std::vector<VesselSegment> portalVeinSegments() {
    const Vec3 confluence{0, -14, -45}, hilum{-20, -14, 5};
    const Vec3 right{-38, -8, 15}, rightAnterior{-48, -24, 25}, rightPosterior{-58, 8, 18};
    const Vec3 leftTransverse{-6, -26, 22}, umbilical{8, -32, 36};
    return {
        seg(confluence, hilum, 7.0),
        seg(hilum, right, 5.5),
        seg(right, rightAnterior, 4.0),
        seg(rightAnterior, {-54, -32, 6}, 3.0),  // segment V
        seg(rightAnterior, {-50, -22, 52}, 3.0), // segment VIII
        seg({-50, -22, 52}, {-52, -18, 72}, 2.5),
        seg(right, rightPosterior, 4.0),
        seg(rightPosterior, {-64, 2, -8}, 3.0),  // segment VI
        seg(rightPosterior, {-60, 18, 46}, 3.0), // segment VII
        seg({-60, 18, 46}, {-58, 22, 66}, 2.5),
        seg(hilum, leftTransverse, 5.0),
        seg(leftTransverse, umbilical, 4.5),
        seg(umbilical, {26, -27, 54}, 3.0), // segment II
        seg({26, -27, 54}, {38, -28, 60}, 2.5),
        seg(umbilical, {28, -37, 40}, 3.0), // segment III
        seg({28, -37, 40}, {40, -37, 44}, 2.5),
        seg(umbilical, {-8, -40, 46}, 3.0), // segment IV
        seg({-8, -40, 46}, {-14, -42, 62}, 2.5),
    };
}

// Hepatic veins: right, middle and left veins converging superiorly-posteriorly into the IVC at the top of the
// liver. Radii 6 → 2.5 mm. They end on the IVC axis; inside the IVC the IVC wins (it is not labelled).
std::vector<VesselSegment> hepaticVeinSegments() {
    const Vec3 ostium{kIvcCentre.x, kIvcCentre.y, 88};
    return {
        // right hepatic vein
        seg(ostium, {-42, 6, 78}, 6.0),
        seg({-42, 6, 78}, {-60, 0, 56}, 4.5),
        seg({-60, 0, 56}, {-66, -6, 30}, 3.5),
        seg({-66, -6, 30}, {-68, -10, 8}, 2.5),
        seg({-60, 0, 56}, {-68, 12, 38}, 2.5),
        // middle hepatic vein
        seg(ostium, {-24, -10, 76}, 5.5),
        seg({-24, -10, 76}, {-28, -26, 54}, 4.0),
        seg({-28, -26, 54}, {-32, -36, 30}, 3.0),
        seg({-32, -36, 30}, {-34, -40, 10}, 2.5),
        // left hepatic vein
        seg(ostium, {-6, -12, 74}, 5.0),
        seg({-6, -12, 74}, {12, -26, 70}, 3.5),
        seg({12, -26, 70}, {28, -30, 68}, 2.5),
    };
}

// Lower ribs along the body wall: from the transverse processes, running laterally and anteriorly while
// descending. The upper ones reach the anterior costal margin, the lowest are short floating ribs.
std::vector<std::vector<VesselSegment>> makeRibs() {
    struct Rib {
        double zTop, phiEnd;
    };
    const std::array<Rib, 5> ribs{{{128, 2.75}, {103, 2.5}, {78, 2.2}, {53, 1.6}, {28, 1.15}}};
    constexpr double a = 81, b = 61, phi0 = 0.42, drop = 70, radius = 4.5;
    std::vector<std::vector<VesselSegment>> out;
    for (double side : {-1.0, 1.0})
        for (const Rib& r : ribs) {
            std::vector<VesselSegment> rib;
            auto at = [&](double phi) {
                const double t = (phi - phi0) / (kPi - phi0);
                return Vec3{side * a * std::sin(phi), b * std::cos(phi), r.zTop - drop * std::pow(t, 1.3)};
            };
            const int n = static_cast<int>(std::ceil((r.phiEnd - phi0) / 0.15));
            for (int i = 0; i < n; ++i) {
                const double p0 = phi0 + (r.phiEnd - phi0) * i / n, p1 = phi0 + (r.phiEnd - phi0) * (i + 1) / n;
                rib.push_back({at(p0), at(p1), radius});
            }
            out.push_back(std::move(rib));
        }
    return out;
}

struct NominalTumour {
    Vec3 centre;
    double radius;
    bool hyperechoic;
};
constexpr std::array<NominalTumour, 3> kNominalTumours{{
    {{-46, -16, -14}, 14, false}, // right inferior liver (segments V/VI), under the probe of the US sweep
    {{0, -22, 56}, 9, false},     // segment IV, between the middle and left hepatic veins
    {{-44, 24, 8}, 8, true},      // right posterior sector (segment VI/VII), deep in the US fan
}};

} // namespace

void AbdominalPhantom::buildCapsuleGrid() {
    std::vector<CapsuleRef> all;
    for (const auto& s : m_portalVein.segments) all.push_back({s, CapsuleKind::PortalVein});
    for (const auto& s : m_hepaticVeins.segments) all.push_back({s, CapsuleKind::HepaticVein});
    for (const auto& s : m_ribs) all.push_back({s, CapsuleKind::Rib});
    std::vector<VesselSegment> segments;
    for (const auto& r : all) segments.push_back(r.segment);
    m_cellBox = segmentsBox(segments);
    for (int c = 0; c < 3; ++c)
        m_cellCounts[static_cast<std::size_t>(c)] =
            std::max(1, static_cast<int>(std::ceil((m_cellBox.hi[c] - m_cellBox.lo[c]) / m_cellMm)));
    const std::size_t cells = static_cast<std::size_t>(m_cellCounts[0]) * m_cellCounts[1] * m_cellCounts[2];
    std::vector<std::vector<CapsuleRef>> binned(cells);
    for (const auto& r : all) {
        const Box b = segmentsBox({r.segment});
        std::array<int, 3> lo{}, hi{};
        for (int c = 0; c < 3; ++c) {
            const auto uc = static_cast<std::size_t>(c);
            lo[uc] = std::clamp(static_cast<int>(std::floor((b.lo[c] - m_cellBox.lo[c]) / m_cellMm)), 0,
                                m_cellCounts[uc] - 1);
            hi[uc] = std::clamp(static_cast<int>(std::floor((b.hi[c] - m_cellBox.lo[c]) / m_cellMm)), 0,
                                m_cellCounts[uc] - 1);
        }
        for (int k = lo[2]; k <= hi[2]; ++k)
            for (int j = lo[1]; j <= hi[1]; ++j)
                for (int i = lo[0]; i <= hi[0]; ++i)
                    binned[static_cast<std::size_t>(i) +
                           static_cast<std::size_t>(m_cellCounts[0]) *
                               (static_cast<std::size_t>(j) + static_cast<std::size_t>(m_cellCounts[1]) * k)]
                        .push_back(r);
    }
    m_cellStart.assign(cells + 1, 0);
    m_cellItems.clear();
    for (std::size_t c = 0; c < cells; ++c) {
        m_cellStart[c] = static_cast<std::uint32_t>(m_cellItems.size());
        m_cellItems.insert(m_cellItems.end(), binned[c].begin(), binned[c].end());
    }
    m_cellStart[cells] = static_cast<std::uint32_t>(m_cellItems.size());
}

double AbdominalPhantom::liverSignedDistance(const Vec3& p) const {
    return liverDistance(p);
}

Vec3 AbdominalPhantom::anteriorSkinPoint(double xMm, double zMm) {
    const double t = std::clamp(xMm / kBodyA, -1.0, 1.0);
    return {xMm, -kBodyB * std::sqrt(1.0 - t * t), zMm};
}

Vec3 AbdominalPhantom::vertebralBodyPoint() const {
    // Middle of the vertebral body nearest z = 0.
    const double k = std::round((0.0 - kSpinePhase - kVertebraHeight / 2) / kVertebraPeriod);
    return {0, kVbCentreY, kSpinePhase + k * kVertebraPeriod + kVertebraHeight / 2};
}

TissueSample AbdominalPhantom::sampleImpl(const Vec3& p, bool texture) const {
    const double x = p.x, y = p.y;
    const double eBody = sq(x / kBodyA) + sq(y / kBodyB);
    if (eBody > 1) {
        if (y >= kTableTop && y <= kTableBottom && std::abs(x) <= kTableHalfWidth) return {Tissue::Table};
        return {Tissue::Air};
    }
    // Precedence: tumours > vessels > liver > spine > everything else.
    for (std::size_t i = 0; i < m_tumours.size(); ++i) {
        const auto& t = m_tumours[i];
        const Vec3 d = p - t.centre;
        if (geometry::dot(d, d) < t.radiusMm * t.radiusMm) return {Tissue::Tumour, static_cast<std::uint8_t>(i)};
    }
    if (sq(x - kIvcCentre.x) + sq(y - kIvcCentre.y) < sq(kIvcRadius)) return {Tissue::Ivc};
    if (sq(x - m_aortaCentre.x) + sq(y - m_aortaCentre.y) < sq(m_aortaRadius)) return {Tissue::Aorta};
    // The capsules near p (vessels and ribs), from the grid.
    const CapsuleRef* nearBegin = nullptr;
    const CapsuleRef* nearEnd = nullptr;
    if (m_cellBox.contains(p)) {
        std::size_t cell = 0;
        for (int c = 2; c >= 0; --c) {
            const int n = m_cellCounts[static_cast<std::size_t>(c)];
            const int i = std::min(static_cast<int>((p[c] - m_cellBox.lo[c]) / m_cellMm), n - 1);
            cell = cell * static_cast<std::size_t>(n) + static_cast<std::size_t>(i);
        }
        nearBegin = m_cellItems.data() + m_cellStart[cell];
        nearEnd = m_cellItems.data() + m_cellStart[cell + 1];
    }
    // Portal and hepatic veins never touch (the tree design keeps ≥ 3 mm between them), so their order is moot.
    for (const CapsuleRef* r = nearBegin; r != nearEnd; ++r)
        if (r->kind != CapsuleKind::Rib && insideCapsule(p, r->segment))
            return {r->kind == CapsuleKind::PortalVein ? Tissue::PortalVein : Tissue::HepaticVein};
    if (insideLiver(p)) return {Tissue::Liver};

    // Spine.
    if (std::abs(x) < 31 && y > kVbCentreY - kVbB - 0.5 && y < 67) {
        const double w = (p.z - kSpinePhase) / kVertebraPeriod;
        const double u = (w - std::floor(w)) * kVertebraPeriod;
        const bool vertebraLevel = u < kVertebraHeight;
        const double eVb = sq(x / kVbA) + sq((y - kVbCentreY) / kVbB);
        if (eVb <= 1) {
            if (!vertebraLevel) return {Tissue::Disc};
            const bool shell = sq(x / (kVbA - kCortexMm)) + sq((y - kVbCentreY) / (kVbB - kCortexMm)) > 1 ||
                               u < kCortexMm || u > kVertebraHeight - kCortexMm;
            return {shell ? Tissue::CorticalBone : Tissue::CancellousBone};
        }
        const double rc = std::hypot(x, y - kCanalY);
        if (rc < kCanalRadius) return {Tissue::SpinalCanal};
        if (vertebraLevel && u > 3 && u < kVertebraHeight - 3) {
            const double ax = std::abs(x);
            const bool arch = rc < kArchOuterRadius && y > kCanalY - kArchOuterRadius + 4;
            const bool pedicle = ax > 5 && ax < 10 && y > kVbCentreY + 8 && y < kCanalY;
            const bool spinous = ax < 3.5 && y >= kCanalY + 8 && y < 66;
            const bool transverse = ax >= 8 && ax < 30 && std::abs(y - 46) < 3.5;
            if (arch || pedicle || spinous || transverse) return {Tissue::CorticalBone};
        }
    }
    // Ribs live in the body wall.
    for (const CapsuleRef* r = nearBegin; r != nearEnd; ++r)
        if (r->kind == CapsuleKind::Rib && insideCapsule(p, r->segment)) return {Tissue::Rib};

    const double eCavity = sq(x / kCavityA) + sq(y / kCavityB);
    if (eCavity <= 1) {
        if (insideEllipsoid(p, kSpleen) <= 1) return {Tissue::Spleen};
        for (const auto& k : kKidneys) {
            const double e = insideEllipsoid(p, k, kPerirenalFatMm);
            if (e <= 1) return {insideEllipsoid(p, k) <= 1 ? Tissue::Kidney : Tissue::Fat};
        }
        for (const auto& lung : kLungs)
            if (insideEllipsoid(p, lung) <= 1) {
                // Air where the lung is more than a diaphragm's thickness from its wall and from the liver dome.
                const bool air = insideEllipsoid(p, lung, -kDiaphragmMm) <= 1 &&
                                 (!nearLiver(p, kDiaphragmMm) || liverSignedDistance(p) > kDiaphragmMm);
                return {air ? Tissue::Lung : Tissue::Muscle};
            }
        if (p.z < 40)
            for (const auto& c : kPsoas)
                if (sq((x - c.x) / 11) + sq((y - c.y) / 9) <= 1) return {Tissue::Muscle};
        return {Tissue::Viscera, 0, texture ? visceraFatFraction(p) : 0.0f};
    }
    if (sq(x / kFatA) + sq(y / kFatB) > 1) return {Tissue::Fat};
    return {Tissue::Muscle};
}

TissueSample AbdominalPhantom::sample(const Vec3& lps) const {
    return sampleImpl(lps, true);
}

std::uint16_t AbdominalPhantom::labelOf(const TissueSample& s) {
    switch (s.tissue) {
    case Tissue::Air:
    case Tissue::Table:
        return PhantomLabels::background;
    case Tissue::Tumour:
        return static_cast<std::uint16_t>(PhantomLabels::firstTumour + s.tumour);
    case Tissue::Liver:
        return PhantomLabels::liver;
    case Tissue::PortalVein:
        return PhantomLabels::portalVein;
    case Tissue::HepaticVein:
        return PhantomLabels::hepaticVeins;
    case Tissue::Aorta:
        return PhantomLabels::aorta;
    case Tissue::CorticalBone:
    case Tissue::CancellousBone:
        return PhantomLabels::spine;
    default:
        return PhantomLabels::body;
    }
}

float AbdominalPhantom::ctHu(const TissueSample& s) {
    switch (s.tissue) {
    case Tissue::Air:
        return -1000;
    case Tissue::Table:
        return 180;
    case Tissue::Lung:
        return -860;
    case Tissue::Fat:
        return -100;
    case Tissue::Muscle:
        return 50;
    case Tissue::Viscera:
        return 40.0f + s.fatFraction * (-95.0f - 40.0f);
    case Tissue::Liver:
        return 110; // portal-venous phase
    case Tissue::Tumour:
        return 40; // hypodense, hypovascular metastasis
    case Tissue::PortalVein:
        return 190;
    case Tissue::HepaticVein:
        return 180;
    case Tissue::Ivc:
        return 160;
    case Tissue::Aorta:
        return 235;
    case Tissue::Kidney:
        return 170;
    case Tissue::Spleen:
        return 120;
    case Tissue::CorticalBone:
        return 850;
    case Tissue::CancellousBone:
        return 420;
    case Tissue::Rib:
        return 600;
    case Tissue::Disc:
        return 85;
    case Tissue::SpinalCanal:
        return 15;
    case Tissue::Count:
        break;
    }
    return 0;
}

float AbdominalPhantom::mrT1(const TissueSample& s) {
    switch (s.tissue) {
    case Tissue::Air:
    case Tissue::Table:
        return 0;
    case Tissue::Lung:
        return 15;
    case Tissue::Fat:
        return 1150;
    case Tissue::Muscle:
        return 420;
    case Tissue::Viscera:
        return 520.0f + s.fatFraction * (1150.0f - 520.0f);
    case Tissue::Liver:
        return 700;
    case Tissue::Tumour:
        return 250;
    case Tissue::PortalVein:
        return 1250;
    case Tissue::HepaticVein:
        return 1150;
    case Tissue::Ivc:
        return 1050;
    case Tissue::Aorta:
        return 1350;
    case Tissue::Kidney:
        return 800;
    case Tissue::Spleen:
        return 560;
    case Tissue::CorticalBone:
        return 40;
    case Tissue::CancellousBone:
        return 650; // fatty marrow is bright on T1
    case Tissue::Rib:
        return 250;
    case Tissue::Disc:
        return 350;
    case Tissue::SpinalCanal:
        return 180;
    case Tissue::Count:
        break;
    }
    return 0;
}

std::vector<imaging::Structure> AbdominalPhantom::structures() const {
    using imaging::StructureCategory;
    // Colours follow liver-surgery planning habits: liver brownish red, portal vein violet-blue, hepatic veins
    // blue, arteries red, tumours yellow/green, bone ivory, body skin tone.
    std::vector<imaging::Structure> out{
        {PhantomLabels::body, "Body", {0.89, 0.72, 0.60}, StructureCategory::Body},
        {PhantomLabels::liver, "Liver", {0.87, 0.47, 0.37}, StructureCategory::Organ},
    };
    const std::array<std::array<double, 3>, 3> tumourColours{
        {{0.95, 0.85, 0.20}, {0.45, 0.82, 0.35}, {0.80, 0.92, 0.25}}};
    for (std::size_t i = 0; i < m_tumours.size(); ++i)
        out.push_back({m_tumours[i].label, m_tumours[i].name, tumourColours[i % 3], StructureCategory::Tumour});
    out.push_back({PhantomLabels::portalVein, "Portal vein", {0.45, 0.25, 0.80}, StructureCategory::Vessel});
    out.push_back({PhantomLabels::hepaticVeins, "Hepatic veins", {0.15, 0.45, 0.90}, StructureCategory::Vessel});
    out.push_back({PhantomLabels::aorta, "Aorta", {0.85, 0.15, 0.15}, StructureCategory::Vessel});
    out.push_back({PhantomLabels::spine, "Spine", {0.95, 0.92, 0.80}, StructureCategory::Bone});
    return out;
}

std::optional<double> AbdominalPhantom::analyticVolumeMl(std::uint16_t label, const Box& fov) const {
    for (const auto& t : m_tumours)
        if (t.label == label) {
            const Vec3 r{t.radiusMm, t.radiusMm, t.radiusMm};
            if (!fov.contains(t.centre - r) || !fov.contains(t.centre + r)) return std::nullopt;
            return 4.0 / 3.0 * kPi * t.radiusMm * t.radiusMm * t.radiusMm / 1000.0;
        }
    if (label == PhantomLabels::aorta) {
        // A straight cylinder along z; nothing of higher precedence touches it (checked by the tests).
        const Vec3 c = m_aortaCentre;
        if (c.x - m_aortaRadius < fov.lo.x || c.x + m_aortaRadius > fov.hi.x || c.y - m_aortaRadius < fov.lo.y ||
            c.y + m_aortaRadius > fov.hi.y)
            return std::nullopt;
        return kPi * m_aortaRadius * m_aortaRadius * (fov.hi.z - fov.lo.z) / 1000.0;
    }
    return std::nullopt;
}

AbdominalPhantom AbdominalPhantom::create(std::uint64_t seed) {
    AbdominalPhantom ph;
    ph.m_seed = seed;
    ph.m_aortaCentre = kAortaCentre;
    ph.m_aortaRadius = kAortaRadius;
    ph.m_portalVein = {PhantomLabels::portalVein, "Portal vein", portalVeinSegments()};
    ph.m_hepaticVeins = {PhantomLabels::hepaticVeins, "Hepatic veins", hepaticVeinSegments()};
    for (auto& rib : makeRibs()) ph.m_ribs.insert(ph.m_ribs.end(), rib.begin(), rib.end());
    ph.buildCapsuleGrid();

    // Distance from a point to the nearest vessel wall (negative inside a vessel), IVC and aorta included.
    auto vesselClearance = [&ph](const Vec3& p) {
        double d = std::hypot(p.x - kIvcCentre.x, p.y - kIvcCentre.y) - kIvcRadius;
        d = std::min(d, std::hypot(p.x - kAortaCentre.x, p.y - kAortaCentre.y) - kAortaRadius);
        for (const auto* tree : {&ph.m_portalVein, &ph.m_hepaticVeins})
            for (const auto& s : tree->segments) d = std::min(d, capsuleDistance(p, s) - s.radiusMm);
        return d;
    };
    // A tumour must lie in liver parenchyma: its whole sphere inside the liver (so 4/3 π r³ is its exact label
    // volume) and clear of every vessel and of the other tumours.
    auto acceptable = [&](const Vec3& c, double r, std::size_t index) {
        if (vesselClearance(c) < r + 2.0) return false;
        for (std::size_t i = 0; i < index; ++i)
            if (geometry::distance(c, ph.m_tumours[i].centre) < r + ph.m_tumours[i].radiusMm + 3.0) return false;
        // Fibonacci sphere of directions, just outside the tumour surface.
        constexpr int n = 400;
        const double golden = kPi * (3.0 - std::sqrt(5.0));
        for (int i = 0; i < n; ++i) {
            const double z = 1.0 - 2.0 * (i + 0.5) / n, rho = std::sqrt(1 - z * z), phi = golden * i;
            const Vec3 q = c + Vec3{rho * std::cos(phi), rho * std::sin(phi), z} * (r + 1.5);
            if (ph.liverSignedDistance(q) >= 0) return false;
        }
        return true;
    };

    Rng rng(streamSeed(seed, 1, 0));
    for (std::size_t i = 0; i < kNominalTumours.size(); ++i) {
        const auto& nominal = kNominalTumours[i];
        PhantomTumour t;
        t.label = static_cast<std::uint16_t>(PhantomLabels::firstTumour + i);
        t.name = "Tumour " + std::to_string(i + 1);
        t.hyperechoic = nominal.hyperechoic;
        t.centre = nominal.centre;
        t.radiusMm = nominal.radius;
        // Jitter by the seed; keep the first draw that satisfies the anatomy (the nominal one always does).
        for (int attempt = 0; attempt < 64; ++attempt) {
            const Vec3 c = nominal.centre + Vec3{rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3)};
            const double r = nominal.radius + rng.uniform(-1, 1);
            if (acceptable(c, r, i)) {
                t.centre = c;
                t.radiusMm = r;
                break;
            }
        }
        ph.m_tumours.push_back(t);
    }

    // The liver point with the largest clearance from surface, vessels and tumours, on a 3 mm lattice.
    double best = -1;
    for (double z = -20; z <= 100; z += 3)
        for (double y = -50; y <= 40; y += 3)
            for (double x = -75; x <= 45; x += 3) {
                const Vec3 p{x, y, z};
                double c = -ph.liverSignedDistance(p);
                if (c <= best) continue;
                c = std::min(c, vesselClearance(p));
                for (const auto& t : ph.m_tumours) c = std::min(c, geometry::distance(p, t.centre) - t.radiusMm);
                if (c > best) {
                    best = c;
                    ph.m_liverParenchyma = p;
                }
            }
    return ph;
}

// ---- CT ------------------------------------------------------------------------------------------------------

namespace {

// A sample's class for partial-volume detection: tissue and tumour index in one byte.
inline std::uint8_t encode(const TissueSample& s) {
    return static_cast<std::uint8_t>(static_cast<int>(s.tissue) | (s.tumour << 5));
}
inline TissueSample decode(std::uint8_t c) {
    return {static_cast<Tissue>(c & 31), static_cast<std::uint8_t>(c >> 5)};
}

// Correlated Gaussian noise of standard deviation sigma on an nx × ny slice: white noise smoothed by a
// [1 2 1]/4 kernel in each direction (the variance of that kernel is 3/8 per axis, hence the scale).
void addCtNoise(std::vector<float>& slice, int nx, int ny, double sigma, Rng& rng) {
    if (sigma <= 0) return;
    std::vector<float> white(slice.size()), tmp(slice.size());
    for (auto& w : white) w = static_cast<float>(rng.normal());
    auto at = [&](const std::vector<float>& v, int i, int j) {
        i = std::clamp(i, 0, nx - 1);
        j = std::clamp(j, 0, ny - 1);
        return v[static_cast<std::size_t>(j) * nx + i];
    };
    for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i)
            tmp[static_cast<std::size_t>(j) * nx + i] =
                0.25f * at(white, i - 1, j) + 0.5f * at(white, i, j) + 0.25f * at(white, i + 1, j);
    const float scale = static_cast<float>(sigma / 0.375);
    for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i)
            slice[static_cast<std::size_t>(j) * nx + i] +=
                scale * (0.25f * at(tmp, i, j - 1) + 0.5f * at(tmp, i, j) + 0.25f * at(tmp, i, j + 1));
}

} // namespace

Result<CtRaster> rasteriseCt(const AbdominalPhantom& phantom, const ImageGeometry& grid, const CtRasterOptions& options,
                             const ProgressFn& progress) {
    if (grid.empty() || !grid.isValid())
        return makeError(ErrorCode::InvalidInput, "phantom CT grid is empty or invalid: " + grid.describe());
    const int nx = grid.size[0], ny = grid.size[1], nz = grid.size[2];
    const int s = std::clamp(options.subSamples, 1, 8);
    const std::uint64_t full = static_cast<std::uint64_t>(s) * s * s; // sub-samples per voxel

    // Pass 1: classify the voxel corners. A voxel whose eight corners agree is taken as uniform: the thinnest
    // structure (2.5 mm vessel radius) cannot pass between the corners of a voxel whose diagonal is shorter than
    // its radius (the demo grid's is 1.9 mm). Coarser grids also check the centre, so labels stay exact there;
    // their volumes may then miss thin vessels that slip between the samples.
    const bool checkCentre = geometry::norm(grid.spacing) > 2.5;
    const std::size_t cx = static_cast<std::size_t>(nx) + 1, cy = static_cast<std::size_t>(ny) + 1;
    std::vector<std::uint8_t> corners(cx * cy * (static_cast<std::size_t>(nz) + 1));
    const bool ok1 = parallelFor(
        nz + 1,
        [&](int kc) {
            std::uint8_t* out = corners.data() + cx * cy * static_cast<std::size_t>(kc);
            for (std::size_t j = 0; j < cy; ++j)
                for (std::size_t i = 0; i < cx; ++i) {
                    const Vec3 p = grid.indexToLps({i - 0.5, j - 0.5, kc - 0.5});
                    out[j * cx + i] = encode(phantom.classify(p));
                }
        },
        progress, 0.0, 0.4, "classifying the phantom");
    if (!ok1) return cancelledError("phantom CT");

    std::array<std::uint16_t, 256> labelOfCode{};
    std::array<float, 256> huOfCode{};
    for (int c = 0; c < 256; ++c) {
        const TissueSample t = decode(static_cast<std::uint8_t>(c));
        if (static_cast<int>(t.tissue) >= static_cast<int>(Tissue::Count)) continue;
        labelOfCode[c] = AbdominalPhantom::labelOf(t);
        huOfCode[c] = AbdominalPhantom::ctHu(t);
    }

    // Pass 2: per voxel HU (partial volume where a boundary crosses), label at the centre, volume counts.
    std::vector<std::int16_t> hu(grid.voxelCount());
    std::vector<std::uint8_t> labels(grid.voxelCount());
    std::vector<std::array<std::uint64_t, PhantomLabels::count>> counts(static_cast<std::size_t>(nz));
    const bool ok2 = parallelFor(
        nz,
        [&](int k) {
            auto& count = counts[static_cast<std::size_t>(k)];
            count.fill(0);
            std::vector<float> slice(static_cast<std::size_t>(nx) * ny);
            const std::uint8_t* c0 = corners.data() + cx * cy * static_cast<std::size_t>(k);
            const std::uint8_t* c1 = c0 + cx * cy;
            std::uint8_t* labelOut = labels.data() + static_cast<std::size_t>(nx) * ny * k;
            for (int j = 0; j < ny; ++j)
                for (int i = 0; i < nx; ++i) {
                    const std::size_t a = static_cast<std::size_t>(j) * cx + i;
                    const std::array<std::uint8_t, 8> c{c0[a], c0[a + 1], c0[a + cx], c0[a + cx + 1],
                                                        c1[a], c1[a + 1], c1[a + cx], c1[a + cx + 1]};
                    const std::size_t v = static_cast<std::size_t>(j) * nx + i;
                    const Vec3 centre = grid.indexToLps({double(i), double(j), double(k)});
                    const std::uint8_t centreCode = checkCentre ? encode(phantom.classify(centre)) : c[0];
                    const bool uniform = centreCode == c[0] &&
                                         std::all_of(c.begin(), c.end(), [&](std::uint8_t x) { return x == c[0]; });
                    if (uniform) {
                        const TissueSample t = decode(c[0]);
                        slice[v] = t.tissue == Tissue::Viscera
                                       ? AbdominalPhantom::ctHu({Tissue::Viscera, 0, visceraFatFraction(centre)})
                                       : huOfCode[c[0]];
                        labelOut[v] = static_cast<std::uint8_t>(labelOfCode[c[0]]);
                        count[labelOfCode[c[0]]] += full;
                        continue;
                    }
                    const bool labelMixed = labelOfCode[centreCode] != labelOfCode[c[0]] ||
                                            std::any_of(c.begin(), c.end(), [&](std::uint8_t x) {
                                                return labelOfCode[x] != labelOfCode[c[0]];
                                            });
                    labelOut[v] = static_cast<std::uint8_t>(labelMixed ? phantom.labelAt(centre) : labelOfCode[c[0]]);
                    // Label boundaries get the fine sub-sampling (they define the model volumes); boundaries between
                    // tissues of one label only need a 2³ partial-volume average.
                    const int n = labelMixed ? s : std::min(s, 2);
                    // At the skin (corners only air and subcutaneous fat: nothing else comes within a voxel of the
                    // body surface) the body ellipse alone classifies the sub-samples; that is a large share of
                    // the boundary voxels, and the full model is much slower.
                    const bool skin = std::all_of(c.begin(), c.end(), [](std::uint8_t x) {
                        return x == encode({Tissue::Air}) || x == encode({Tissue::Fat});
                    });
                    double sum = 0;
                    for (int dz = 0; dz < n; ++dz)
                        for (int dy = 0; dy < n; ++dy)
                            for (int dx = 0; dx < n; ++dx) {
                                const Vec3 q = grid.indexToLps(
                                    {i + (dx + 0.5) / n - 0.5, j + (dy + 0.5) / n - 0.5, k + (dz + 0.5) / n - 0.5});
                                const TissueSample t =
                                    skin ? TissueSample{sq(q.x / kBodyA) + sq(q.y / kBodyB) > 1 ? Tissue::Air
                                                                                                : Tissue::Fat}
                                         : phantom.sample(q);
                                sum += AbdominalPhantom::ctHu(t);
                                if (labelMixed) ++count[AbdominalPhantom::labelOf(t)];
                            }
                    if (!labelMixed) count[labelOfCode[c[0]]] += full;
                    slice[v] = static_cast<float>(sum / (n * n * n));
                }
            Rng rng(streamSeed(options.noiseSeed, 2, static_cast<std::uint64_t>(k)));
            addCtNoise(slice, nx, ny, options.noiseSigmaHu, rng);
            std::int16_t* out = hu.data() + static_cast<std::size_t>(nx) * ny * k;
            for (std::size_t v = 0; v < slice.size(); ++v)
                out[v] = static_cast<std::int16_t>(std::lround(std::clamp(slice[v], -1024.0f, 3071.0f)));
        },
        progress, 0.4, 1.0, "rasterising the phantom CT");
    if (!ok2) return cancelledError("phantom CT");

    CtRaster r;
    r.ct = imaging::Volume::create(grid, std::move(hu));
    r.labels = imaging::LabelMap(imaging::Volume::create(grid, std::move(labels)), phantom.structures());
    const auto histogram = r.labels.histogram();
    const double voxelMl = grid.voxelVolumeMm3() / 1000.0;
    // Closed forms are stated for the box of an axis-aligned grid; an oblique grid gets supersampled values only.
    const bool axisAligned = grid.direction == geometry::Mat3::identity();
    const Box fov = axisAligned ? fieldOfView(grid) : Box{};
    for (const auto& st : r.labels.structures()) {
        StructureVolume sv;
        sv.label = st.label;
        std::uint64_t total = 0;
        for (const auto& c : counts) total += c[st.label];
        sv.supersampledMl = static_cast<double>(total) / static_cast<double>(full) * voxelMl;
        sv.voxelMl = static_cast<double>(histogram[st.label]) * voxelMl;
        const auto analytic = axisAligned ? phantom.analyticVolumeMl(st.label, fov) : std::nullopt;
        sv.analytic = analytic.has_value();
        sv.modelMl = analytic ? *analytic : sv.supersampledMl;
        r.volumes.push_back(sv);
    }
    return r;
}

// ---- MR ------------------------------------------------------------------------------------------------------

Result<imaging::Volume> rasteriseMr(const AbdominalPhantom& phantom, const ImageGeometry& mrGrid,
                                    const Transform& ctToMr, const MrRasterOptions& options,
                                    const ProgressFn& progress) {
    if (mrGrid.empty() || !mrGrid.isValid())
        return makeError(ErrorCode::InvalidInput, "phantom MR grid is empty or invalid: " + mrGrid.describe());
    const auto mrToCt = ctToMr.inverse();
    if (!mrToCt) return makeError(ErrorCode::InvalidInput, "phantom MR transform is not invertible");
    const int nx = mrGrid.size[0], ny = mrGrid.size[1], nz = mrGrid.size[2];
    const Vec3 centre = mrGrid.centreLps();
    const Vec3 halfExtent{nx * mrGrid.spacing.x / 2, ny * mrGrid.spacing.y / 2, nz * mrGrid.spacing.z / 2};
    // Slice profile: the anatomy across the slice thickness, in the CT frame.
    const Vec3 across = mrToCt->applyToVector(mrGrid.axis(2)) * (mrGrid.spacing.z / 3.0);

    std::vector<std::uint16_t> voxels(mrGrid.voxelCount());
    const bool ok = parallelFor(
        nz,
        [&](int k) {
            Rng rng(streamSeed(options.noiseSeed, 3, static_cast<std::uint64_t>(k)));
            std::uint16_t* out = voxels.data() + static_cast<std::size_t>(nx) * ny * k;
            for (int j = 0; j < ny; ++j)
                for (int i = 0; i < nx; ++i) {
                    const Vec3 q = mrGrid.indexToLps({double(i), double(j), double(k)});
                    const Vec3 p = mrToCt->apply(q); // the anatomy this MR voxel shows
                    const double signal = (AbdominalPhantom::mrT1(phantom.sample(p - across)) +
                                           AbdominalPhantom::mrT1(phantom.sample(p)) +
                                           AbdominalPhantom::mrT1(phantom.sample(p + across))) /
                                          3.0;
                    // Receive-coil bias: smooth, defined in the scanner (MR) frame.
                    const Vec3 u{(q.x - centre.x) / halfExtent.x, (q.y - centre.y) / halfExtent.y,
                                 (q.z - centre.z) / halfExtent.z};
                    const double bias = std::exp(options.biasAmplitude * (0.9 * u.x - 0.6 * u.y + 0.5 * u.z -
                                                                          0.7 * (u.x * u.x + u.y * u.y) + 0.35));
                    // Rician noise: magnitude of the complex signal plus complex Gaussian noise.
                    const double re = signal * bias + options.noiseSigma * rng.normal();
                    const double im = options.noiseSigma * rng.normal();
                    out[static_cast<std::size_t>(j) * nx + i] =
                        static_cast<std::uint16_t>(std::lround(std::clamp(std::hypot(re, im), 0.0, 4095.0)));
                }
        },
        progress, 0.0, 1.0, "rasterising the phantom MR");
    if (!ok) return cancelledError("phantom MR");
    return imaging::Volume::create(mrGrid, std::move(voxels));
}

// ---- Ultrasound ----------------------------------------------------------------------------------------------

bool UsSweep::insideFan(double i, double j) const {
    const double lateral = (i - apexColumn) * gridInCt.spacing.x;
    const double depth = j * gridInCt.spacing.y;
    if (depth < 0) return false;
    const double r = std::hypot(lateral, depth);
    return r <= fanRadiusMm && std::abs(std::atan2(lateral, depth)) <= fanHalfAngleDeg * kPi / 180.0;
}

namespace {

void gaussianBlur1D(std::vector<float>& data, int n, int stride, int count, int countStride, double sigma) {
    const int radius = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
    std::vector<float> w(static_cast<std::size_t>(2 * radius + 1));
    float sum = 0;
    for (int t = -radius; t <= radius; ++t)
        sum += w[static_cast<std::size_t>(t + radius)] = static_cast<float>(std::exp(-0.5 * t * t / (sigma * sigma)));
    for (auto& x : w) x /= sum;
    std::vector<float> line(static_cast<std::size_t>(n));
    for (int c = 0; c < count; ++c) {
        float* base = data.data() + static_cast<std::size_t>(c) * countStride;
        for (int i = 0; i < n; ++i) line[static_cast<std::size_t>(i)] = base[static_cast<std::size_t>(i) * stride];
        for (int i = 0; i < n; ++i) {
            float acc = 0;
            for (int t = -radius; t <= radius; ++t)
                acc += w[static_cast<std::size_t>(t + radius)] *
                       line[static_cast<std::size_t>(std::clamp(i + t, 0, n - 1))];
            base[static_cast<std::size_t>(i) * stride] = acc;
        }
    }
}

} // namespace

Result<imaging::Volume> rasteriseUs(const AbdominalPhantom& phantom, const UsSweep& sweep, const ProgressFn& progress) {
    const ImageGeometry& g = sweep.gridInCt;
    if (g.empty() || !g.isValid())
        return makeError(ErrorCode::InvalidInput, "phantom US grid is empty or invalid: " + g.describe());
    const int nx = g.size[0], ny = g.size[1], nz = g.size[2];
    // Beam-formed samples along rays (polar grid), then scan-converted to the frame's pixels, as a scanner does.
    const double halfAngle = sweep.fanHalfAngleDeg * kPi / 180.0;
    const double dr = 0.3;
    const int rays = 200;
    const int depthSamples = static_cast<int>(std::ceil(sweep.fanRadiusMm / dr)) + 2;
    const Vec3 lateralAxis = g.axis(0), depthAxis = g.axis(1);
    const double f = sweep.frequencyMHz;
    // Per depth step: time-gain compensation of liver-like attenuation (0.5 dB/cm/MHz, both ways) minus the
    // round-trip attenuation of the tissue crossed, as an amplitude factor.
    std::array<double, static_cast<std::size_t>(Tissue::Count)> gainStep{};
    for (std::size_t t = 0; t < gainStep.size(); ++t) {
        const double lossDb = 2 * acoustic(static_cast<Tissue>(t)).attenuation * f * dr / 10.0;
        const double tgcDb = 2 * 0.5 * f * dr / 10.0;
        gainStep[t] = std::pow(10.0, (tgcDb - lossDb) / 20.0);
    }

    std::vector<std::uint8_t> voxels(g.voxelCount(), 0);
    const bool ok = parallelFor(
        nz,
        [&](int k) {
            Rng rng(streamSeed(sweep.speckleSeed, 4, static_cast<std::uint64_t>(k)));
            const std::size_t polarSize = static_cast<std::size_t>(rays) * depthSamples;
            // Speckle: complex Gaussian scatter field blurred by the pulse (axial) and beam (lateral) profiles;
            // its magnitude is Rayleigh distributed, with the grain of a real B-mode image.
            // The white field may be uniform rather than Gaussian: the blur sums a dozen samples, which makes it
            // Gaussian to a good approximation, and uniform draws cost a fraction of Box–Muller.
            std::vector<float> re(polarSize), im(polarSize);
            for (std::size_t t = 0; t < polarSize; ++t) {
                re[t] = static_cast<float>(rng.uniform(-1, 1));
                im[t] = static_cast<float>(rng.uniform(-1, 1));
            }
            for (auto* field : {&re, &im}) {
                gaussianBlur1D(*field, depthSamples, 1, rays, depthSamples, 1.1); // pulse length, ~0.3 mm
                gaussianBlur1D(*field, rays, depthSamples, depthSamples, 1, 1.2); // beam width
            }
            double meanPower = 0;
            for (std::size_t t = 0; t < polarSize; ++t) meanPower += re[t] * re[t] + im[t] * im[t];
            const double speckleNorm = 1.0 / std::sqrt(meanPower / polarSize);

            std::vector<float> gray(polarSize);
            const Vec3 apex = sweep.apex(k);
            for (int m = 0; m < rays; ++m) {
                const double theta = -halfAngle + 2 * halfAngle * m / (rays - 1);
                const Vec3 dir = lateralAxis * std::sin(theta) + depthAxis * std::cos(theta);
                double gain = 1;          // TGC minus round-trip attenuation so far, as an amplitude factor
                bool shadowed = false;    // past a strong reflector (bone, gas) nearly nothing comes back
                int reflectorSamples = 0; // remaining samples of the reflector's bright surface echo
                const int surfaceSamples = std::max(1, static_cast<int>(std::lround(1.0 / dr))); // ~1 mm
                Tissue previous = Tissue::Fat;
                for (int n = 0; n < depthSamples; ++n) {
                    const Vec3 p = apex + dir * (n * dr);
                    const TissueSample t = phantom.sample(p);
                    if (!shadowed && (isBone(t.tissue) || t.tissue == Tissue::Lung || t.tissue == Tissue::Air)) {
                        shadowed = true;
                        reflectorSamples = surfaceSamples;
                    }
                    double echo;
                    double transmission = 1;
                    if (reflectorSamples > 0) {
                        --reflectorSamples;
                        echo = 6.0;
                    } else if (shadowed) {
                        echo = acoustic(t.tissue).echo;
                        transmission = 0.01; // -40 dB: the acoustic shadow
                    } else {
                        const Acoustic a = acoustic(t.tissue);
                        echo = a.echo;
                        if (t.tissue == Tissue::Viscera) echo = 1.1 + 0.5 * t.fatFraction;
                        if (t.tissue == Tissue::Tumour) {
                            echo = phantom.tumours()[t.tumour].hyperechoic ? 1.9 : 0.4;
                        } else if (t.tissue == Tissue::Liver) {
                            // Hypoechoic halo around every tumour (2 mm rim).
                            for (const auto& tu : phantom.tumours()) {
                                const double d = geometry::distance(p, tu.centre) - tu.radiusMm;
                                if (d >= 0 && d < 2.0) echo = 0.25;
                            }
                        }
                        // Specular echo at interfaces; portal vein walls are echogenic, hepatic vein walls are not.
                        if (n > 0 && t.tissue != previous && t.tissue != Tissue::HepaticVein &&
                            previous != Tissue::HepaticVein)
                            echo += (t.tissue == Tissue::PortalVein || previous == Tissue::PortalVein) ? 2.5 : 1.2;
                        gain *= gainStep[static_cast<std::size_t>(t.tissue)];
                    }
                    previous = t.tissue;
                    const double amplitude = echo * transmission * gain;
                    const std::size_t idx = static_cast<std::size_t>(m) * depthSamples + n;
                    const double speckle = std::hypot(re[idx], im[idx]) * speckleNorm;
                    const double noise = 0.03 * rng.uniform(); // electronic noise floor
                    // Log compression: 50 dB of dynamic range onto 0..255, liver around mid-grey.
                    const double db = 20 * std::log10(amplitude * speckle + noise + 1e-6);
                    gray[idx] = static_cast<float>(std::clamp(255.0 * (db + 25.0) / 50.0, 0.0, 255.0));
                }
            }
            // Scan conversion: bilinear in (angle, radius); zero outside the sector.
            std::uint8_t* out = voxels.data() + static_cast<std::size_t>(nx) * ny * k;
            for (int j = 0; j < ny; ++j)
                for (int i = 0; i < nx; ++i) {
                    if (!sweep.insideFan(i, j)) continue;
                    const double lateral = (i - sweep.apexColumn) * g.spacing.x, depth = j * g.spacing.y;
                    const double r = std::hypot(lateral, depth), theta = std::atan2(lateral, depth);
                    const double fm = (theta + halfAngle) / (2 * halfAngle) * (rays - 1), fn = r / dr;
                    const int m0 = std::clamp(static_cast<int>(fm), 0, rays - 2),
                              n0 = std::clamp(static_cast<int>(fn), 0, depthSamples - 2);
                    const double wm = std::clamp(fm - m0, 0.0, 1.0), wn = std::clamp(fn - n0, 0.0, 1.0);
                    auto at = [&](int m, int n) { return gray[static_cast<std::size_t>(m) * depthSamples + n]; };
                    const double v = (1 - wm) * ((1 - wn) * at(m0, n0) + wn * at(m0, n0 + 1)) +
                                     wm * ((1 - wn) * at(m0 + 1, n0) + wn * at(m0 + 1, n0 + 1));
                    out[static_cast<std::size_t>(j) * nx + i] =
                        static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
                }
        },
        progress, 0.0, 1.0, "rasterising the phantom ultrasound");
    if (!ok) return cancelledError("phantom US");
    return imaging::Volume::create(g, std::move(voxels));
}

} // namespace jumeau::simulation
