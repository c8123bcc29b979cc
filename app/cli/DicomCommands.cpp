#include "DicomCommands.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace jumeau::cli {

namespace {

// Nine significant digits: 10 nm at a metre, and 4.000000000000001 (a position difference) reads as 4. The JSON
// output carries the full doubles for tools.
std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

} // namespace

void registerDicomCommands(CLI::App& app) {
    registerInspectCommand(app);
    registerConvertCommand(app);
}

std::string seriesSelector(const std::vector<imaging::SeriesInfo>& series, std::size_t index) {
    const std::string& uid = series[index].seriesUid;
    std::size_t parts = 0, part = 0;
    for (std::size_t i = 0; i < series.size(); ++i) {
        if (series[i].seriesUid != uid) continue;
        ++parts;
        if (i == index) part = parts;
    }
    return parts > 1 ? uid + "#" + std::to_string(part) : uid;
}

std::vector<std::size_t> selectSeries(const std::vector<imaging::SeriesInfo>& series, const std::string& selector) {
    std::string uid = selector;
    std::size_t wantedPart = 0; // 0: every part
    if (const auto hash = selector.rfind('#'); hash != std::string::npos) {
        const std::string digits = selector.substr(hash + 1);
        if (!digits.empty() && digits.size() < 6 &&
            std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
            uid = selector.substr(0, hash);
            wantedPart = static_cast<std::size_t>(std::stoul(digits));
            if (wantedPart == 0) return {}; // parts count from 1
        }
    }
    std::vector<std::size_t> all;
    for (std::size_t i = 0; i < series.size(); ++i)
        if (series[i].seriesUid == uid) all.push_back(i);
    if (wantedPart == 0) return all;
    if (wantedPart > all.size()) return {};
    return {all[wantedPart - 1]};
}

std::string formatSize(const imaging::ImageGeometry& g) {
    return std::to_string(g.size[0]) + " x " + std::to_string(g.size[1]) + " x " + std::to_string(g.size[2]);
}

std::string formatSpacing(const imaging::ImageGeometry& g) {
    return number(g.spacing.x) + " x " + number(g.spacing.y) + " x " + number(g.spacing.z);
}

std::string formatPoint(const imaging::Vec3& p) {
    return "(" + number(p.x) + ", " + number(p.y) + ", " + number(p.z) + ")";
}

} // namespace jumeau::cli
