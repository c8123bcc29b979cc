#include "jumeau/imaging/VolumeIO.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>

#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>
#include <itkMetaDataObject.h>
#include <itkMetaImageIOFactory.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIOFactory.h>
#include <itkRGBPixel.h>

#include "ItkImages.h"

namespace jumeau::imaging {

namespace fs = std::filesystem;

namespace {

using ItkRgb = itk::RGBPixel<std::uint8_t>;

void registerItkIo() {
    // Our library is static and ITK's automatic factory registration only happens in executables built with
    // ITK's UseITK machinery, so the three formats we support are registered explicitly, once.
    static std::once_flag once;
    std::call_once(once, [] {
        itk::NrrdImageIOFactory::RegisterOneFactory();
        itk::NiftiImageIOFactory::RegisterOneFactory();
        itk::MetaImageIOFactory::RegisterOneFactory();
    });
}

std::string lowerName(const fs::path& p) {
    std::string s = p.filename().string();
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool isNrrd(const fs::path& p) {
    const std::string n = lowerName(p);
    return n.ends_with(".nrrd") || n.ends_with(".nhdr");
}

bool supportedExtension(const fs::path& p) {
    const std::string n = lowerName(p);
    for (const char* ext : {".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd"})
        if (n.ends_with(ext)) return true;
    return false;
}

template <typename T> struct ItkPixelOf { using type = T; };
template <> struct ItkPixelOf<Rgb8> { using type = ItkRgb; };

template <typename T>
Result<void> writeTyped(const Volume& volume, const fs::path& file, const itk::MetaDataDictionary* dictionary) {
    using Pixel = typename ItkPixelOf<T>::type;
    using Image = itk::Image<Pixel, 3>;
    const ImageGeometry& g = volume.geometry();
    auto image = detail::itkImageOnGrid<Pixel>(g);
    std::vector<Pixel> rgbCopy; // RGB goes through a copy: ITK's RGBPixel is a different class from our Rgb8
    if constexpr (std::is_same_v<T, Rgb8>) {
        const Rgb8* src = volume.data<Rgb8>();
        rgbCopy.resize(g.voxelCount());
        for (std::size_t i = 0; i < rgbCopy.size(); ++i) rgbCopy[i].Set(src[i].r, src[i].g, src[i].b);
        image->GetPixelContainer()->SetImportPointer(rgbCopy.data(), g.voxelCount(), false);
    } else {
        // Scalars: a view of the Volume's buffer, not a copy. ITK only reads it while writing and neither owns
        // nor frees it, so dropping const is safe.
        image->GetPixelContainer()->SetImportPointer(const_cast<Pixel*>(volume.data<T>()), g.voxelCount(), false);
    }
    if (dictionary) image->SetMetaDataDictionary(*dictionary);

    auto writer = itk::ImageFileWriter<Image>::New();
    writer->SetFileName(file.string());
    writer->SetInput(image);
    writer->SetUseCompression(true);
    writer->Update();
    return {};
}

Result<void> writeWithItk(const Volume& volume, const fs::path& file, const itk::MetaDataDictionary* dictionary) {
    if (volume.empty()) return makeError(ErrorCode::InvalidInput, file.string() + ": nothing to write (empty volume)");
    if (!supportedExtension(file))
        return makeError(ErrorCode::Unsupported,
                         file.string() + ": unknown volume format (use .nrrd, .nhdr, .nii, .nii.gz, .mha or .mhd)");
    registerItkIo();
    std::error_code ec;
    if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
    try {
        switch (volume.pixelType()) {
        case PixelType::UInt8:
            return writeTyped<std::uint8_t>(volume, file, dictionary);
        case PixelType::Int16:
            return writeTyped<std::int16_t>(volume, file, dictionary);
        case PixelType::UInt16:
            return writeTyped<std::uint16_t>(volume, file, dictionary);
        case PixelType::Int32:
            return writeTyped<std::int32_t>(volume, file, dictionary);
        case PixelType::Float32:
            return writeTyped<float>(volume, file, dictionary);
        case PixelType::RGB8:
            return writeTyped<Rgb8>(volume, file, dictionary);
        }
    } catch (const itk::ExceptionObject& e) {
        return makeError(ErrorCode::IoError, file.string() + ": writing failed: " + e.GetDescription());
    } catch (const std::exception& e) {
        return makeError(ErrorCode::IoError, file.string() + ": writing failed: " + e.what());
    }
    return makeError(ErrorCode::Internal, "unknown pixel type");
}

struct ReadImage {
    Volume volume;
    itk::MetaDataDictionary dictionary;
};

ImageGeometry geometryOf(const itk::ImageBase<3>& image) {
    ImageGeometry g;
    const auto size = image.GetLargestPossibleRegion().GetSize();
    for (unsigned a = 0; a < 3; ++a) {
        g.size[a] = static_cast<int>(size[a]);
        g.spacing[static_cast<int>(a)] = image.GetSpacing()[a];
        g.origin[static_cast<int>(a)] = image.GetOrigin()[a];
        for (unsigned c = 0; c < 3; ++c) g.direction.m[a][c] = image.GetDirection()[a][c];
    }
    return g;
}

// Reads the file as ITK pixel type P and stores it as our type T (a copy: ITK owns its buffer).
template <typename P, typename T = P> ReadImage readTyped(const itk::ImageIOBase::Pointer& io, const fs::path& file) {
    using Image = itk::Image<P, 3>;
    auto reader = itk::ImageFileReader<Image>::New();
    reader->SetImageIO(io);
    reader->SetFileName(file.string());
    reader->Update();
    typename Image::Pointer image = reader->GetOutput();
    ReadImage out;
    const ImageGeometry g = geometryOf(*image);
    std::vector<T> voxels(g.voxelCount());
    const P* src = image->GetBufferPointer();
    if constexpr (std::is_same_v<P, ItkRgb>) {
        std::transform(src, src + voxels.size(), voxels.begin(), [](const ItkRgb& c) {
            return Rgb8{c[0], c[1], c[2]};
        });
    } else {
        std::transform(src, src + voxels.size(), voxels.begin(), [](P v) { return static_cast<T>(v); });
    }
    out.volume = Volume::create(g, std::move(voxels));
    out.dictionary = image->GetMetaDataDictionary();
    return out;
}

// Integer types beyond Int32 (rare in medical files): exact Int32 when every value fits, else Float32.
ReadImage readWideIntegers(const itk::ImageIOBase::Pointer& io, const fs::path& file) {
    using Image = itk::Image<double, 3>;
    auto reader = itk::ImageFileReader<Image>::New();
    reader->SetImageIO(io);
    reader->SetFileName(file.string());
    reader->Update();
    Image::Pointer image = reader->GetOutput();
    ReadImage out;
    const ImageGeometry g = geometryOf(*image);
    const double* src = image->GetBufferPointer();
    const auto [lo, hi] = std::minmax_element(src, src + g.voxelCount());
    if (g.voxelCount() == 0 ||
        (*lo >= std::numeric_limits<std::int32_t>::min() && *hi <= std::numeric_limits<std::int32_t>::max())) {
        std::vector<std::int32_t> voxels(g.voxelCount());
        std::transform(src, src + voxels.size(), voxels.begin(), [](double v) { return static_cast<std::int32_t>(v); });
        out.volume = Volume::create(g, std::move(voxels));
    } else {
        std::vector<float> voxels(g.voxelCount());
        std::transform(src, src + voxels.size(), voxels.begin(), [](double v) { return static_cast<float>(v); });
        out.volume = Volume::create(g, std::move(voxels));
    }
    out.dictionary = image->GetMetaDataDictionary();
    return out;
}

Result<ReadImage> readWithItk(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return makeError(ErrorCode::NotFound, file.string() + ": no such file");
    registerItkIo();
    try {
        itk::ImageIOBase::Pointer io =
            itk::ImageIOFactory::CreateImageIO(file.string().c_str(), itk::IOFileModeEnum::ReadMode);
        if (!io) return makeError(ErrorCode::Unsupported, file.string() + ": not a NRRD, NIfTI or MetaImage file");
        io->SetFileName(file.string());
        io->ReadImageInformation();
        const unsigned dims = io->GetNumberOfDimensions();
        for (unsigned d = 3; d < dims; ++d)
            if (io->GetDimensions(d) > 1)
                return makeError(ErrorCode::Unsupported,
                                 file.string() + ": " + std::to_string(dims) +
                                     "-D image (time series or multi-layer segmentation) is not supported");
        const auto components = io->GetNumberOfComponents();
        using C = itk::IOComponentEnum;
        const C type = io->GetComponentType();
        if (components == 3 && type == C::UCHAR) return readTyped<ItkRgb, Rgb8>(io, file);
        if (components != 1)
            return makeError(ErrorCode::Unsupported,
                             file.string() + ": " + std::to_string(components) + "-component voxels are not supported");
        switch (type) {
        case C::UCHAR:
            return readTyped<std::uint8_t>(io, file);
        case C::CHAR:
            return readTyped<std::int8_t, std::int16_t>(io, file);
        case C::USHORT:
            return readTyped<std::uint16_t>(io, file);
        case C::SHORT:
            return readTyped<std::int16_t>(io, file);
        case C::INT:
            return readTyped<std::int32_t>(io, file);
        case C::UINT:
        case C::LONG:
        case C::ULONG:
        case C::LONGLONG:
        case C::ULONGLONG:
            return readWideIntegers(io, file);
        case C::FLOAT:
            return readTyped<float>(io, file);
        case C::DOUBLE:
            return readTyped<double, float>(io, file); // Float32 is our widest scalar type
        default:
            break;
        }
        return makeError(ErrorCode::Unsupported, file.string() + ": voxel component type " +
                                                     itk::ImageIOBase::GetComponentTypeAsString(type) +
                                                     " is not supported");
    } catch (const itk::ExceptionObject& e) {
        return makeError(ErrorCode::Corrupt, file.string() + ": " + e.GetDescription());
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::IoError, file.string() + ": not enough memory");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::IoError, file.string() + ": " + e.what());
    }
}

// ---- Slicer .seg.nrrd keys ----------------------------------------------------------------------------------------

constexpr const char* kCategoryTag = "Jumeau.Category:";

std::string colourText(const std::array<double, 3>& c) {
    std::ostringstream s;
    s.precision(9);
    s << c[0] << ' ' << c[1] << ' ' << c[2];
    return s.str();
}

std::optional<std::string> metaString(const itk::MetaDataDictionary& d, const std::string& key) {
    std::string v;
    if (!itk::ExposeMetaData<std::string>(d, key, v)) return std::nullopt;
    return v;
}

// Per label value: inclusive index bounding box (i0 i1 j0 j1 k0 k1), Slicer's Segment<N>_Extent.
template <typename T> std::vector<std::array<int, 6>> extents(const Volume& labels, std::size_t maxLabel) {
    std::vector<std::array<int, 6>> e(maxLabel + 1, {INT_MAX, -1, INT_MAX, -1, INT_MAX, -1});
    const ImageGeometry& g = labels.geometry();
    const T* p = labels.data<T>();
    std::size_t idx = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i, ++idx) {
                const std::size_t v = p[idx];
                if (v == 0 || v > maxLabel) continue;
                auto& b = e[v];
                b = {std::min(b[0], i), std::max(b[1], i), std::min(b[2], j),
                     std::max(b[3], j), std::min(b[4], k), std::max(b[5], k)};
            }
    return e;
}

std::array<double, 3> defaultColour(std::size_t n) {
    // Golden-ratio hues: neighbouring labels get clearly different colours.
    return hsvColour(std::fmod(0.13 + 0.618033988749895 * static_cast<double>(n), 1.0), 0.65, 0.9);
}

} // namespace

Result<void> writeVolume(const Volume& volume, const fs::path& file) {
    return writeWithItk(volume, file, nullptr);
}

Result<Volume> readVolume(const fs::path& file) {
    auto r = readWithItk(file);
    if (!r) return r.error();
    return std::move(r->volume);
}

Result<void> writeLabelMap(const LabelMap& labels, const fs::path& file) {
    const Volume& v = labels.labels();
    if (v.empty()) return makeError(ErrorCode::InvalidInput, file.string() + ": nothing to write (empty label map)");
    if (!v.holds<std::uint8_t>() && !v.holds<std::uint16_t>())
        return makeError(ErrorCode::InvalidInput, file.string() + ": label voxels must be UInt8 or UInt16");
    if (!isNrrd(file)) {
        // NIfTI and MetaImage have no agreed place for a structure table: only the label voxels are written and
        // names, colours and categories are lost (readLabelMap then makes "label N" structures).
        return writeWithItk(v, file, nullptr);
    }
    std::size_t maxLabel = 0;
    for (const auto& s : labels.structures()) maxLabel = std::max<std::size_t>(maxLabel, s.label);
    const auto box = v.holds<std::uint8_t>() ? extents<std::uint8_t>(v, maxLabel) : extents<std::uint16_t>(v, maxLabel);

    // Keys as 3D Slicer writes them for a one-layer .seg.nrrd, so Slicer opens it as a segmentation.
    itk::MetaDataDictionary d;
    const auto put = [&d](const std::string& key, const std::string& value) {
        itk::EncapsulateMetaData<std::string>(d, key, value);
    };
    put("Segmentation_MasterRepresentation", "Binary labelmap");
    put("Segmentation_ContainedRepresentationNames", "Binary labelmap|");
    put("Segmentation_ReferenceImageExtentOffset", "0 0 0");
    for (std::size_t n = 0; n < labels.structures().size(); ++n) {
        const Structure& s = labels.structures()[n];
        const std::string p = "Segment" + std::to_string(n) + "_";
        const auto& b = box[s.label];
        std::ostringstream extent;
        if (b[1] < 0)
            extent << "0 -1 0 -1 0 -1"; // Slicer's empty extent
        else
            extent << b[0] << ' ' << b[1] << ' ' << b[2] << ' ' << b[3] << ' ' << b[4] << ' ' << b[5];
        put(p + "ID", "Segment_" + std::to_string(s.label));
        put(p + "Name", s.name);
        put(p + "NameAutoGenerated", "0");
        put(p + "Color", colourText(s.colour));
        put(p + "ColorAutoGenerated", "0");
        put(p + "LabelValue", std::to_string(s.label));
        put(p + "Layer", "0");
        put(p + "Extent", extent.str());
        put(p + "Tags", std::string(kCategoryTag) + toString(s.category) + "|");
    }
    return writeWithItk(v, file, &d);
}

Result<LabelMap> readLabelMap(const fs::path& file) {
    auto r = readWithItk(file);
    if (!r) return r.error();
    Volume v = std::move(r->volume);
    if (v.pixelType() == PixelType::RGB8)
        return makeError(ErrorCode::InvalidInput, file.string() + ": RGB voxels are not labels");
    if (!v.holds<std::uint8_t>() && !v.holds<std::uint16_t>()) {
        // Label maps saved as int16/int32/float by other tools: accept when every value is a label value.
        const auto [lo, hi] = v.range();
        if (lo < 0 || hi > 65535)
            return makeError(ErrorCode::InvalidInput, file.string() + ": values " + std::to_string(lo) + ".." +
                                                          std::to_string(hi) + " are not label values (0..65535)");
        const Volume f = v.toFloat();
        const float* p = f.data<float>();
        const std::size_t n = f.geometry().voxelCount();
        for (std::size_t i = 0; i < n; ++i)
            if (p[i] != std::floor(p[i]))
                return makeError(ErrorCode::InvalidInput, file.string() + ": fractional values are not label values");
        if (hi <= 255) {
            std::vector<std::uint8_t> out(n);
            std::transform(p, p + n, out.begin(), [](float x) { return static_cast<std::uint8_t>(x); });
            v = Volume::create(f.geometry(), std::move(out));
        } else {
            std::vector<std::uint16_t> out(n);
            std::transform(p, p + n, out.begin(), [](float x) { return static_cast<std::uint16_t>(x); });
            v = Volume::create(f.geometry(), std::move(out));
        }
    }

    std::vector<Structure> structures;
    const itk::MetaDataDictionary& d = r->dictionary;
    for (std::size_t n = 0;; ++n) {
        const std::string p = "Segment" + std::to_string(n) + "_";
        const auto name = metaString(d, p + "Name");
        const auto id = metaString(d, p + "ID");
        if (!name && !id) break;
        if (const auto layer = metaString(d, p + "Layer"); layer && std::stoi(*layer) != 0)
            return makeError(ErrorCode::Unsupported, file.string() + ": multi-layer segmentation is not supported");
        Structure s;
        s.name = name ? *name : *id;
        // Old Slicer files without LabelValue store segment n as value n + 1.
        const auto value = metaString(d, p + "LabelValue");
        try {
            s.label = static_cast<std::uint16_t>(value ? std::stoul(*value) : n + 1);
        } catch (const std::exception&) {
            return makeError(ErrorCode::Corrupt, file.string() + ": bad " + p + "LabelValue \"" + *value + "\"");
        }
        if (const auto colour = metaString(d, p + "Color")) {
            std::istringstream in(*colour);
            std::array<double, 3> c{};
            if (in >> c[0] >> c[1] >> c[2]) s.colour = c;
        } else {
            s.colour = defaultColour(n);
        }
        if (const auto tags = metaString(d, p + "Tags")) {
            const auto at = tags->find(kCategoryTag);
            if (at != std::string::npos) {
                const auto start = at + std::strlen(kCategoryTag);
                const auto category = structureCategoryFromString(tags->substr(start, tags->find('|', start) - start));
                if (category) s.category = *category;
            }
        }
        structures.push_back(std::move(s));
    }
    if (structures.empty()) {
        const LabelMap plain(v, {});
        const auto histogram = plain.histogram();
        for (std::size_t value = 1; value < histogram.size(); ++value) {
            if (histogram[value] == 0) continue;
            Structure s;
            s.label = static_cast<std::uint16_t>(value);
            s.name = "label " + std::to_string(value);
            s.colour = defaultColour(structures.size());
            structures.push_back(std::move(s));
        }
    }
    return LabelMap(std::move(v), std::move(structures));
}

} // namespace jumeau::imaging
