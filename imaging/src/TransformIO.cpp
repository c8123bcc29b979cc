#include "jumeau/imaging/TransformIO.h"

#include <cmath>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include <itkTransformFactory.h>
#include <itkTransformFileReader.h>
#include <itkTransformFileWriter.h>
#include <itkTxtTransformIOFactory.h>

#include "ItkTransforms.h"

namespace jumeau::imaging {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

constexpr const char* kConvention =
    "matrix maps a point of the FIXED image's LPS frame (mm) to the point of the MOVING image's LPS frame showing the "
    "same anatomy (ITK's fixed-to-moving convention); 4x4 row-major. When deformable: moving = matrix * (x + d(x)), d "
    "the cubic B-spline displacement (mm) on the control grid in bspline.";

void registerTransformIo() {
    // Static library: ITK's automatic factory registration does not happen here (see VolumeIO.cpp).
    static std::once_flag once;
    std::call_once(once, [] {
        itk::TxtTransformIOFactory::RegisterOneFactory();
        itk::TransformFactory<detail::ItkAffine>::RegisterTransform();
        itk::TransformFactory<detail::ItkBSpline>::RegisterTransform();
        itk::TransformFactory<detail::ItkComposite>::RegisterTransform();
    });
}

Json vec(const Vec3& v) {
    return Json::array({v.x, v.y, v.z});
}

Json matrixJson(const Transform& t) {
    Json m = Json::array();
    for (const auto& row : t.matrix4()) m.push_back(Json::array({row[0], row[1], row[2], row[3]}));
    return m;
}

Json qualityObject(const RegistrationQuality& q) {
    Json lm = Json::array();
    for (const auto& r : q.landmarks)
        lm.push_back({{"name", r.name},
                      {"fixed", vec(r.fixed)},
                      {"moving", vec(r.moving)},
                      {"mapped", vec(r.mapped)},
                      {"errorMm", r.errorMm}});
    return {{"metric", q.metric},
            {"initialMetric", q.initialMetric},
            {"finalMetric", q.finalMetric},
            {"iterations", q.iterations},
            {"converged", q.converged},
            {"stopReason", q.stopReason},
            {"initialisation", q.initialisation},
            {"initialOverlap", q.initialOverlap},
            {"overlap", q.overlap},
            {"landmarks", lm},
            {"landmarkRmsMm", q.landmarkRmsMm},
            {"landmarkMaxMm", q.landmarkMaxMm},
            {"warnings", q.warnings},
            {"seconds", q.seconds}};
}

Error bad(const fs::path& file, const std::string& what) {
    return makeError(ErrorCode::InvalidInput, file.string() + ": " + what);
}

Result<Vec3> readVec(const Json& j, const fs::path& file, const std::string& what) {
    if (!j.is_array() || j.size() != 3) return bad(file, what + " must be an array of 3 numbers");
    Vec3 v;
    for (int i = 0; i < 3; ++i) {
        if (!j[static_cast<std::size_t>(i)].is_number()) return bad(file, what + " must be an array of 3 numbers");
        v[i] = j[static_cast<std::size_t>(i)].get<double>();
        if (!std::isfinite(v[i])) return bad(file, what + " holds a non-finite number");
    }
    return v;
}

Result<Json> parseFile(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return makeError(ErrorCode::NotFound, file.string() + ": no such file");
    std::ifstream in(file);
    if (!in) return makeError(ErrorCode::IoError, file.string() + ": cannot be read");
    try {
        return Json::parse(in);
    } catch (const std::exception& e) {
        return bad(file, std::string("not valid JSON (") + e.what() + ")");
    }
}

Result<void> writeText(const fs::path& file, const std::string& text) {
    std::error_code ec;
    if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
    std::ofstream out(file);
    if (!out) return makeError(ErrorCode::IoError, file.string() + ": cannot be written");
    out << text;
    out.close();
    if (!out) return makeError(ErrorCode::IoError, file.string() + ": write failed");
    return {};
}

} // namespace

std::string qualityToJson(const RegistrationQuality& q) {
    return qualityObject(q).dump();
}

Result<void> writeTransformJson(const SpatialTransform& t, const fs::path& file, const TransformFileInfo& info) {
    Json j = {
        {"format", "jumeau-transform"}, {"version", 1}, {"convention", kConvention}, {"matrix", matrixJson(t.matrix)}};
    j["mode"] = !info.mode.empty() ? info.mode : (t.deformation ? "deformable" : "affine");
    if (t.deformation) {
        const BSplineDeformation& d = *t.deformation;
        Json dir = Json::array();
        for (const auto& row : d.gridDirection.m) dir.push_back(Json::array({row[0], row[1], row[2]}));
        Json coeffs = Json::array();
        for (const auto& c : d.coefficients) coeffs.push_back(vec(c));
        j["bspline"] = {{"order", 3},
                        {"gridSize", {d.gridSize[0], d.gridSize[1], d.gridSize[2]}},
                        {"gridOrigin", vec(d.gridOrigin)},
                        {"gridSpacing", vec(d.gridSpacing)},
                        {"gridDirection", dir},
                        {"coefficients", coeffs}};
    }
    if (!info.fixed.empty()) j["fixed"] = info.fixed;
    if (!info.moving.empty()) j["moving"] = info.moving;
    if (info.quality) j["quality"] = qualityObject(*info.quality);
    return writeText(file, j.dump(2) + "\n");
}

Result<SpatialTransform> readTransformJson(const fs::path& file) {
    auto parsed = parseFile(file);
    if (!parsed) return parsed.error();
    const Json& j = *parsed;
    if (!j.is_object() || !j.contains("matrix")) return bad(file, "no \"matrix\" (a 4x4 row-major LPS matrix)");
    const Json& m = j.at("matrix");
    if (!m.is_array() || m.size() != 4) return bad(file, "\"matrix\" must be 4 rows of 4 numbers");
    std::array<std::array<double, 4>, 4> a{};
    for (std::size_t r = 0; r < 4; ++r) {
        if (!m[r].is_array() || m[r].size() != 4) return bad(file, "\"matrix\" must be 4 rows of 4 numbers");
        for (std::size_t c = 0; c < 4; ++c) {
            if (!m[r][c].is_number()) return bad(file, "\"matrix\" must be 4 rows of 4 numbers");
            a[r][c] = m[r][c].get<double>();
            if (!std::isfinite(a[r][c])) return bad(file, "\"matrix\" holds a non-finite number");
        }
    }
    if (std::fabs(a[3][0]) > 1e-9 || std::fabs(a[3][1]) > 1e-9 || std::fabs(a[3][2]) > 1e-9 ||
        std::fabs(a[3][3] - 1) > 1e-9)
        return bad(file, "\"matrix\" last row must be 0 0 0 1 (an affine transform)");
    SpatialTransform t;
    t.matrix = Transform::fromMatrix4(a);
    if (std::fabs(t.matrix.linear.determinant()) < 1e-6) return bad(file, "\"matrix\" is singular (not invertible)");
    if (j.contains("bspline") && !j.at("bspline").is_null()) {
        const Json& b = j.at("bspline");
        BSplineDeformation d;
        try {
            for (std::size_t i = 0; i < 3; ++i) d.gridSize[i] = b.at("gridSize").at(i).get<int>();
            auto o = readVec(b.at("gridOrigin"), file, "bspline.gridOrigin");
            auto s = readVec(b.at("gridSpacing"), file, "bspline.gridSpacing");
            if (!o) return o.error();
            if (!s) return s.error();
            d.gridOrigin = *o;
            d.gridSpacing = *s;
            for (std::size_t r = 0; r < 3; ++r)
                for (std::size_t c = 0; c < 3; ++c)
                    d.gridDirection.m[r][c] = b.at("gridDirection").at(r).at(c).get<double>();
            for (const auto& c : b.at("coefficients")) {
                auto v = readVec(c, file, "bspline.coefficients");
                if (!v) return v.error();
                d.coefficients.push_back(*v);
            }
        } catch (const std::exception& e) {
            return bad(file, std::string("\"bspline\" is incomplete (") + e.what() + ")");
        }
        if (!d.valid() || !(d.gridSpacing.x > 0 && d.gridSpacing.y > 0 && d.gridSpacing.z > 0))
            return bad(file,
                       "\"bspline\": gridSize needs at least 4 control points per axis, positive spacing, and one "
                       "coefficient per control point");
        t.deformation = std::move(d);
    }
    return t;
}

Result<void> writeItkTransform(const SpatialTransform& t, const fs::path& file) {
    registerTransformIo();
    std::error_code ec;
    if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
    try {
        auto writer = itk::TransformFileWriterTemplate<double>::New();
        writer->SetFileName(file.string());
        auto affine = detail::toItkAffine(t.matrix);
        if (t.deformation) {
            // Composite transforms apply their last-added transform first: affine(bspline(x)).
            auto composite = detail::ItkComposite::New();
            composite->AddTransform(affine);
            composite->AddTransform(detail::toItkBSpline(*t.deformation));
            writer->SetInput(composite);
            writer->Update();
        } else {
            writer->SetInput(affine);
            writer->Update();
        }
    } catch (const itk::ExceptionObject& e) {
        return makeError(ErrorCode::IoError,
                         file.string() + ": cannot write the transform (" + e.GetDescription() + ")");
    }
    return {};
}

Result<SpatialTransform> readItkTransform(const fs::path& file) {
    registerTransformIo();
    std::error_code ec;
    if (!fs::exists(file, ec)) return makeError(ErrorCode::NotFound, file.string() + ": no such file");
    try {
        auto reader = itk::TransformFileReaderTemplate<double>::New();
        reader->SetFileName(file.string());
        reader->Update();
        const auto* list = reader->GetTransformList();
        if (list->empty()) return bad(file, "holds no transform");
        SpatialTransform out;
        std::vector<itk::TransformBaseTemplate<double>::Pointer> parts;
        for (const auto& t : *list) {
            if (const auto* c = dynamic_cast<const detail::ItkComposite*>(t.GetPointer())) {
                for (unsigned i = 0; i < c->GetNumberOfTransforms(); ++i)
                    parts.push_back(const_cast<detail::ItkComposite*>(c)->GetNthTransform(i).GetPointer());
            } else {
                parts.push_back(t);
            }
        }
        bool haveLinear = false;
        for (const auto& part : parts) {
            if (const auto* lin = dynamic_cast<const detail::ItkLinear*>(part.GetPointer())) {
                if (haveLinear || out.deformation)
                    return bad(file, "only one linear transform followed by at most one B-spline is supported");
                out.matrix = detail::fromItkLinear(*lin);
                haveLinear = true;
            } else if (const auto* b = dynamic_cast<const detail::ItkBSpline*>(part.GetPointer())) {
                if (out.deformation) return bad(file, "more than one B-spline transform");
                out.deformation = detail::fromItkBSpline(*b);
            } else {
                return bad(file, std::string("unsupported transform type ") + part->GetNameOfClass() +
                                     " (supported: linear/affine/rigid transforms and a cubic B-spline)");
            }
        }
        return out;
    } catch (const itk::ExceptionObject& e) {
        return bad(file, std::string("not a readable ITK transform file (") + e.GetDescription() + ")");
    }
}

Result<void> exportTransform(const SpatialTransform& t, const fs::path& file, const TransformFileInfo& info) {
    const std::string ext = file.extension().string();
    if (ext == ".json") return writeTransformJson(t, file, info);
    if (ext == ".tfm" || ext == ".txt") return writeItkTransform(t, file);
    return makeError(ErrorCode::Unsupported, file.string() + ": unknown transform format (use .json, .tfm or .txt)");
}

Result<std::vector<LandmarkPair>> readLandmarks(const fs::path& file) {
    auto parsed = parseFile(file);
    if (!parsed) return parsed.error();
    const Json& j = *parsed;
    const Json* list = nullptr;
    bool ras = false;
    if (j.is_array()) {
        list = &j;
    } else if (j.is_object() && j.contains("landmarks")) {
        list = &j.at("landmarks");
        if (j.contains("frame")) {
            const std::string frame = j.at("frame").is_string() ? j.at("frame").get<std::string>() : "";
            if (frame == "RAS")
                ras = true;
            else if (frame != "LPS")
                return bad(file, "\"frame\" must be \"LPS\" or \"RAS\"");
        }
    }
    if (!list || !list->is_array())
        return bad(file,
                   "expected {\"landmarks\": [{\"name\": ..., \"fixed\": [x, y, z], \"moving\": [x, y, z]}, ...]}");
    std::vector<LandmarkPair> pairs;
    int n = 0;
    for (const auto& e : *list) {
        ++n;
        const std::string where = "landmark " + std::to_string(n);
        if (!e.is_object() || !e.contains("fixed") || !e.contains("moving"))
            return bad(file, where + ": needs \"fixed\" and \"moving\" points");
        auto f = readVec(e.at("fixed"), file, where + " \"fixed\"");
        if (!f) return f.error();
        auto m = readVec(e.at("moving"), file, where + " \"moving\"");
        if (!m) return m.error();
        LandmarkPair p;
        p.name = e.contains("name") && e.at("name").is_string() ? e.at("name").get<std::string>()
                                                                : "landmark " + std::to_string(n);
        p.fixed = *f;
        p.moving = *m;
        if (ras) {
            p.fixed = {-p.fixed.x, -p.fixed.y, p.fixed.z};
            p.moving = {-p.moving.x, -p.moving.y, p.moving.z};
        }
        pairs.push_back(p);
    }
    if (pairs.empty()) return bad(file, "no landmarks");
    return pairs;
}

Result<void> writeLandmarks(const std::vector<LandmarkPair>& pairs, const fs::path& file) {
    Json list = Json::array();
    for (const auto& p : pairs) list.push_back({{"name", p.name}, {"fixed", vec(p.fixed)}, {"moving", vec(p.moving)}});
    return writeText(file, Json{{"frame", "LPS"}, {"landmarks", list}}.dump(2) + "\n");
}

} // namespace jumeau::imaging
