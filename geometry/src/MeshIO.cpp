#include "jumeau/geometry/MeshIO.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

namespace jumeau::geometry {

static_assert(std::endian::native == std::endian::little, "binary STL/PLY IO assumes a little-endian host");

const char* toString(Frame f) {
    return f == Frame::RAS ? "RAS" : "LPS";
}

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

// LPS <-> RAS is the same map both ways: (-x, -y, z), a rotation by 180 degrees about z.
std::array<float, 3> inFrame(const std::array<float, 3>& p, Frame f) {
    return f == Frame::RAS ? std::array<float, 3>{-p[0], -p[1], p[2]} : p;
}

// The words every file carries: "frame=RAS units=mm structure=liver" (structure last: names may hold spaces).
std::string frameTag(const MeshWriteOptions& o, const char* sep) {
    std::string s = std::string("frame=") + toString(o.frame) + sep + "units=mm";
    if (!o.name.empty()) s += std::string(sep) + "structure=" + o.name;
    return s;
}

// Reads "frame=..." and "structure=..." from a header or comment line.
void parseTag(const std::string& line, LoadedMesh& out) {
    const auto f = line.find("frame=");
    if (f != std::string::npos) {
        if (auto fr = frameFromString(line.substr(f + 6, 3))) {
            out.fileFrame = *fr;
            out.frameDeclared = true;
        }
    }
    const auto s = line.find("structure=");
    if (s != std::string::npos) {
        std::string name = line.substr(s + 10);
        name.erase(std::find(name.begin(), name.end(), '\0'), name.end());
        out.name = trim(name);
    }
}

Error ioError(const std::filesystem::path& file, const std::string& what) {
    return makeError(ErrorCode::IoError, file.string() + ": " + what);
}
Error corrupt(const std::filesystem::path& file, const std::string& what) {
    return makeError(ErrorCode::Corrupt, file.string() + ": " + what);
}

std::array<float, 3> faceNormal(const std::array<float, 3>& a, const std::array<float, 3>& b,
                                const std::array<float, 3>& c) {
    const Vec3 n =
        normalized(cross(Vec3{b[0] - a[0], b[1] - a[1], b[2] - a[2]}, Vec3{c[0] - a[0], c[1] - a[1], c[2] - a[2]}));
    return {static_cast<float>(n.x), static_cast<float>(n.y), static_cast<float>(n.z)};
}

template <typename T> void put(std::ostream& os, const T& v) {
    os.write(reinterpret_cast<const char*>(&v), sizeof(T));
}

std::uint8_t toByte(double c) {
    return static_cast<std::uint8_t>(std::lround(std::clamp(c, 0.0, 1.0) * 255.0));
}

Result<void> writeStl(const Mesh& mesh, const std::filesystem::path& file, const MeshWriteOptions& o) {
    std::ofstream os(file, std::ios::binary);
    if (!os) return ioError(file, "cannot open for writing");
    const std::string tag = "Jumeau mesh, " + frameTag(o, ", ");
    if (o.binary) {
        // The 80-byte header must not start with "solid" (readers would take the file for ASCII); ours does not.
        char header[80];
        std::memset(header, ' ', sizeof header);
        std::memcpy(header, tag.data(), std::min<std::size_t>(tag.size(), sizeof header));
        os.write(header, sizeof header);
        put(os, static_cast<std::uint32_t>(mesh.triangles.size()));
        for (const auto& t : mesh.triangles) {
            const auto a = inFrame(mesh.points[t[0]], o.frame), b = inFrame(mesh.points[t[1]], o.frame),
                       c = inFrame(mesh.points[t[2]], o.frame);
            for (const auto& v : {faceNormal(a, b, c), a, b, c}) os.write(reinterpret_cast<const char*>(v.data()), 12);
            put(os, std::uint16_t{0});
        }
    } else {
        os << "solid " << tag << "\n";
        os.precision(9);
        for (const auto& t : mesh.triangles) {
            const auto a = inFrame(mesh.points[t[0]], o.frame), b = inFrame(mesh.points[t[1]], o.frame),
                       c = inFrame(mesh.points[t[2]], o.frame);
            const auto n = faceNormal(a, b, c);
            os << "  facet normal " << n[0] << ' ' << n[1] << ' ' << n[2] << "\n    outer loop\n";
            for (const auto& v : {a, b, c}) os << "      vertex " << v[0] << ' ' << v[1] << ' ' << v[2] << "\n";
            os << "    endloop\n  endfacet\n";
        }
        os << "endsolid " << tag << "\n";
    }
    if (!os) return ioError(file, "write failed");
    return {};
}

Result<void> writeObj(const std::vector<SceneItem>& items, const std::filesystem::path& file, const MeshWriteOptions& o,
                      bool materials) {
    std::ofstream os(file);
    if (!os) return ioError(file, "cannot open for writing");
    os << "# Jumeau mesh\n# " << frameTag(o, " ") << "\n";
    std::filesystem::path mtl = file;
    mtl.replace_extension(".mtl");
    if (materials) os << "mtllib " << mtl.filename().string() << "\n";
    os.precision(9);
    std::size_t offset = 1;
    for (const auto& item : items) {
        const std::string name = item.name.empty() ? std::string("mesh") : item.name;
        os << "o " << name << "\n";
        if (materials) os << "usemtl " << name << "\n";
        for (const auto& p : item.mesh.points) {
            const auto q = inFrame(p, o.frame);
            os << "v " << q[0] << ' ' << q[1] << ' ' << q[2] << "\n";
        }
        for (const auto& t : item.mesh.triangles)
            os << "f " << t[0] + offset << ' ' << t[1] + offset << ' ' << t[2] + offset << "\n";
        offset += item.mesh.points.size();
    }
    if (!os) return ioError(file, "write failed");
    if (materials) {
        std::ofstream ms(mtl);
        if (!ms) return ioError(mtl, "cannot open for writing");
        for (const auto& item : items)
            ms << "newmtl " << (item.name.empty() ? std::string("mesh") : item.name) << "\nKd " << item.colour[0] << ' '
               << item.colour[1] << ' ' << item.colour[2] << "\n";
        if (!ms) return ioError(mtl, "write failed");
    }
    return {};
}

Result<void> writePly(const std::vector<SceneItem>& items, const std::filesystem::path& file, const MeshWriteOptions& o,
                      bool colours) {
    std::ofstream os(file, std::ios::binary);
    if (!os) return ioError(file, "cannot open for writing");
    std::size_t nv = 0, nf = 0;
    for (const auto& item : items) {
        nv += item.mesh.points.size();
        nf += item.mesh.triangles.size();
    }
    os << "ply\nformat " << (o.binary ? "binary_little_endian" : "ascii") << " 1.0\ncomment Jumeau mesh\ncomment "
       << frameTag(o, " ") << "\nelement vertex " << nv << "\nproperty float x\nproperty float y\nproperty float z\n";
    if (colours) os << "property uchar red\nproperty uchar green\nproperty uchar blue\n";
    os << "element face " << nf << "\nproperty list uchar int vertex_indices\nend_header\n";
    os.precision(9);
    for (const auto& item : items) {
        const std::array<std::uint8_t, 3> rgb{toByte(item.colour[0]), toByte(item.colour[1]), toByte(item.colour[2])};
        for (const auto& p : item.mesh.points) {
            const auto q = inFrame(p, o.frame);
            if (o.binary) {
                os.write(reinterpret_cast<const char*>(q.data()), 12);
                if (colours) os.write(reinterpret_cast<const char*>(rgb.data()), 3);
            } else {
                os << q[0] << ' ' << q[1] << ' ' << q[2];
                if (colours) os << ' ' << int(rgb[0]) << ' ' << int(rgb[1]) << ' ' << int(rgb[2]);
                os << "\n";
            }
        }
    }
    int offset = 0;
    for (const auto& item : items) {
        for (const auto& t : item.mesh.triangles) {
            const std::array<std::int32_t, 3> idx{t[0] + offset, t[1] + offset, t[2] + offset};
            if (o.binary) {
                put(os, std::uint8_t{3});
                os.write(reinterpret_cast<const char*>(idx.data()), 12);
            } else {
                os << "3 " << idx[0] << ' ' << idx[1] << ' ' << idx[2] << "\n";
            }
        }
        offset += static_cast<int>(item.mesh.points.size());
    }
    if (!os) return ioError(file, "write failed");
    return {};
}

// ---- reading

std::string readAll(const std::filesystem::path& file, bool& ok) {
    std::ifstream is(file, std::ios::binary);
    ok = static_cast<bool>(is);
    std::ostringstream ss;
    ss << is.rdbuf();
    return ss.str();
}

// STL stores each triangle's own copies of its corners; equal positions are one vertex.
struct Welder {
    std::map<std::array<float, 3>, int> index;
    Mesh mesh;
    int add(const std::array<float, 3>& p) {
        auto [it, inserted] = index.try_emplace(p, static_cast<int>(mesh.points.size()));
        if (inserted) mesh.points.push_back(p);
        return it->second;
    }
};

Result<LoadedMesh> readStl(const std::filesystem::path& file, const std::string& data) {
    LoadedMesh out;
    Welder w;
    bool binary = false;
    if (data.size() >= 84) {
        std::uint32_t n = 0;
        std::memcpy(&n, data.data() + 80, 4);
        binary = data.size() == 84 + 50ull * n;
    }
    if (binary) {
        std::uint32_t n = 0;
        std::memcpy(&n, data.data() + 80, 4);
        parseTag(std::string(data.data(), 80), out);
        for (std::uint32_t i = 0; i < n; ++i) {
            const char* rec = data.data() + 84 + 50ull * i;
            std::array<int, 3> t{};
            for (int c = 0; c < 3; ++c) {
                std::array<float, 3> p;
                std::memcpy(p.data(), rec + 12 + 12 * c, 12);
                t[c] = w.add(p);
            }
            w.mesh.triangles.push_back(t);
        }
    } else {
        if (lower(data.substr(0, 5)) != "solid")
            return corrupt(file, "neither binary STL (size mismatch) nor ASCII STL");
        std::istringstream is(data);
        std::string line;
        std::getline(is, line);
        parseTag(line, out);
        std::array<int, 3> t{};
        int corner = 0;
        while (std::getline(is, line)) {
            std::istringstream ls(line);
            std::string word;
            ls >> word;
            if (word == "vertex") {
                std::array<float, 3> p;
                if (!(ls >> p[0] >> p[1] >> p[2])) return corrupt(file, "bad vertex line: " + trim(line));
                if (corner > 2) return corrupt(file, "facet with more than three vertices");
                t[corner++] = w.add(p);
            } else if (word == "endloop") {
                if (corner != 3) return corrupt(file, "facet without three vertices");
                w.mesh.triangles.push_back(t);
                corner = 0;
            }
        }
    }
    out.mesh = std::move(w.mesh);
    return out;
}

bool parseObjIndex(const std::string& token, std::size_t count, int& index) {
    const std::string first = token.substr(0, token.find('/'));
    try {
        const long v = std::stol(first);
        const long i = v < 0 ? static_cast<long>(count) + v : v - 1;
        if (i < 0 || i >= static_cast<long>(count)) return false;
        index = static_cast<int>(i);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

Result<LoadedMesh> readObj(const std::filesystem::path& file, const std::string& data) {
    LoadedMesh out;
    std::istringstream is(data);
    std::string line, firstObject;
    while (std::getline(is, line)) {
        std::istringstream ls(line);
        std::string word;
        ls >> word;
        if (word == "#") {
            parseTag(line, out);
        } else if (word == "v") {
            std::array<float, 3> p;
            if (!(ls >> p[0] >> p[1] >> p[2])) return corrupt(file, "bad vertex line: " + trim(line));
            out.mesh.points.push_back(p);
        } else if (word == "f") {
            std::vector<int> poly;
            std::string tok;
            while (ls >> tok) {
                int i = 0;
                if (!parseObjIndex(tok, out.mesh.points.size(), i)) return corrupt(file, "bad face index: " + tok);
                poly.push_back(i);
            }
            if (poly.size() < 3) return corrupt(file, "face with fewer than three vertices");
            for (std::size_t k = 1; k + 1 < poly.size(); ++k)
                out.mesh.triangles.push_back({poly[0], poly[k], poly[k + 1]});
        } else if ((word == "o" || word == "g") && firstObject.empty()) {
            std::getline(ls, firstObject);
            firstObject = trim(firstObject);
        }
    }
    if (out.name.empty()) out.name = firstObject;
    return out;
}

struct PlyProperty {
    std::string name, type, countType; // countType set for lists
};
struct PlyElement {
    std::string name;
    std::size_t count = 0;
    std::vector<PlyProperty> props;
};

std::size_t plySize(const std::string& t) {
    if (t == "char" || t == "uchar" || t == "int8" || t == "uint8") return 1;
    if (t == "short" || t == "ushort" || t == "int16" || t == "uint16") return 2;
    if (t == "int" || t == "uint" || t == "int32" || t == "uint32" || t == "float" || t == "float32") return 4;
    if (t == "double" || t == "float64") return 8;
    return 0;
}

double plyValue(const char* p, const std::string& t) {
    auto get = [p]<typename T>(T) {
        T v;
        std::memcpy(&v, p, sizeof v);
        return static_cast<double>(v);
    };
    if (t == "char" || t == "int8") return get(std::int8_t{});
    if (t == "uchar" || t == "uint8") return get(std::uint8_t{});
    if (t == "short" || t == "int16") return get(std::int16_t{});
    if (t == "ushort" || t == "uint16") return get(std::uint16_t{});
    if (t == "int" || t == "int32") return get(std::int32_t{});
    if (t == "uint" || t == "uint32") return get(std::uint32_t{});
    if (t == "float" || t == "float32") return get(float{});
    return get(double{});
}

Result<LoadedMesh> readPly(const std::filesystem::path& file, const std::string& data) {
    LoadedMesh out;
    const auto headerEnd = data.find("end_header");
    if (data.compare(0, 3, "ply") != 0 || headerEnd == std::string::npos) return corrupt(file, "not a PLY file");
    std::size_t bodyStart = data.find('\n', headerEnd);
    if (bodyStart == std::string::npos) return corrupt(file, "PLY header without end");
    ++bodyStart;
    std::istringstream hs(data.substr(0, headerEnd));
    std::string line, format;
    std::vector<PlyElement> elements;
    while (std::getline(hs, line)) {
        std::istringstream ls(line);
        std::string word;
        ls >> word;
        if (word == "format") {
            ls >> format;
        } else if (word == "comment") {
            parseTag(line, out);
        } else if (word == "element") {
            PlyElement e;
            ls >> e.name >> e.count;
            elements.push_back(e);
        } else if (word == "property") {
            if (elements.empty()) return corrupt(file, "PLY property before any element");
            PlyProperty p;
            ls >> p.type;
            if (p.type == "list") ls >> p.countType >> p.type;
            ls >> p.name;
            if (plySize(p.type) == 0 || (!p.countType.empty() && plySize(p.countType) == 0))
                return corrupt(file, "PLY property type not understood: " + trim(line));
            elements.back().props.push_back(p);
        }
    }
    const bool binary = format == "binary_little_endian";
    if (!binary && format != "ascii")
        return makeError(ErrorCode::Unsupported, file.string() + ": PLY format '" + format + "'");

    std::size_t pos = bodyStart;
    std::istringstream as(binary ? std::string() : data.substr(bodyStart));
    auto scalar = [&](const std::string& type, double& v) -> bool {
        if (!binary) return static_cast<bool>(as >> v);
        const std::size_t n = plySize(type);
        if (pos + n > data.size()) return false;
        v = plyValue(data.data() + pos, type);
        pos += n;
        return true;
    };
    for (const auto& e : elements) {
        for (std::size_t i = 0; i < e.count; ++i) {
            std::array<float, 3> p{0, 0, 0};
            for (const auto& prop : e.props) {
                if (!prop.countType.empty()) {
                    double n = 0;
                    if (!scalar(prop.countType, n)) return corrupt(file, "PLY data truncated");
                    std::vector<int> poly;
                    for (int k = 0; k < static_cast<int>(n); ++k) {
                        double v = 0;
                        if (!scalar(prop.type, v)) return corrupt(file, "PLY data truncated");
                        poly.push_back(static_cast<int>(v));
                    }
                    if (e.name == "face" && (prop.name == "vertex_indices" || prop.name == "vertex_index")) {
                        if (poly.size() < 3) return corrupt(file, "PLY face with fewer than three vertices");
                        for (std::size_t k = 1; k + 1 < poly.size(); ++k)
                            out.mesh.triangles.push_back({poly[0], poly[k], poly[k + 1]});
                    }
                } else {
                    double v = 0;
                    if (!scalar(prop.type, v)) return corrupt(file, "PLY data truncated");
                    if (e.name == "vertex" && (prop.name == "x" || prop.name == "y" || prop.name == "z"))
                        p[prop.name[0] - 'x'] = static_cast<float>(v);
                }
            }
            if (e.name == "vertex") out.mesh.points.push_back(p);
        }
    }
    if (!out.mesh.indicesValid()) return corrupt(file, "PLY face refers to a missing vertex");
    return out;
}

} // namespace

std::optional<Frame> frameFromString(const std::string& s) {
    const std::string l = lower(trim(s));
    if (l == "lps") return Frame::LPS;
    if (l == "ras") return Frame::RAS;
    return std::nullopt;
}

std::optional<MeshFormat> meshFormatFromPath(const std::filesystem::path& file) {
    const std::string ext = lower(file.extension().string());
    if (ext == ".stl") return MeshFormat::Stl;
    if (ext == ".obj") return MeshFormat::Obj;
    if (ext == ".ply") return MeshFormat::Ply;
    return std::nullopt;
}

Result<void> writeMesh(const Mesh& mesh, const std::filesystem::path& file, const MeshWriteOptions& options) {
    const auto format = meshFormatFromPath(file);
    if (!format)
        return makeError(ErrorCode::Unsupported, file.string() + ": unknown mesh extension (.stl, .obj, .ply)");
    if (!mesh.indicesValid()) return makeError(ErrorCode::InvalidInput, file.string() + ": mesh has invalid indices");
    if (*format == MeshFormat::Stl) return writeStl(mesh, file, options);
    std::vector<SceneItem> one{{options.name, options.colour.value_or(std::array<double, 3>{1, 1, 1}), mesh}};
    if (*format == MeshFormat::Obj) return writeObj(one, file, options, options.colour.has_value());
    return writePly(one, file, options, options.colour.has_value());
}

Result<void> writeScene(const std::vector<SceneItem>& items, const std::filesystem::path& file,
                        const MeshWriteOptions& options) {
    const auto format = meshFormatFromPath(file);
    if (!format) return makeError(ErrorCode::Unsupported, file.string() + ": unknown mesh extension (.obj, .ply)");
    if (*format == MeshFormat::Stl)
        return makeError(ErrorCode::Unsupported,
                         file.string() + ": STL cannot hold several coloured structures; use OBJ or PLY");
    for (const auto& item : items)
        if (!item.mesh.indicesValid())
            return makeError(ErrorCode::InvalidInput, file.string() + ": mesh '" + item.name + "' has invalid indices");
    if (*format == MeshFormat::Obj) return writeObj(items, file, options, true);
    return writePly(items, file, options, true);
}

Result<LoadedMesh> readMesh(const std::filesystem::path& file) {
    if (!std::filesystem::exists(file)) return makeError(ErrorCode::NotFound, file.string() + ": no such file");
    const auto format = meshFormatFromPath(file);
    if (!format)
        return makeError(ErrorCode::Unsupported, file.string() + ": unknown mesh extension (.stl, .obj, .ply)");
    bool ok = false;
    const std::string data = readAll(file, ok);
    if (!ok) return ioError(file, "cannot read");
    Result<LoadedMesh> r = *format == MeshFormat::Stl   ? readStl(file, data)
                           : *format == MeshFormat::Obj ? readObj(file, data)
                                                        : readPly(file, data);
    if (!r) return r;
    LoadedMesh& m = r.value();
    if (!m.mesh.indicesValid()) return corrupt(file, "face refers to a missing vertex");
    for (auto& p : m.mesh.points) p = inFrame(p, m.fileFrame); // back to LPS
    return r;
}

} // namespace jumeau::geometry
