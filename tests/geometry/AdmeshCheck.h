#pragma once
// Runs the independent `admesh` STL checker on a file and collects what it had to repair.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

namespace jumeau::geometry::testing {

inline bool admeshAvailable() {
    return std::system("admesh --version > /dev/null 2>&1") == 0;
}

// admesh's repair statistics ("Degenerate facets", "Edges fixed", "Facets removed", "Facets added",
// "Facets reversed", "Backwards edges", "Normals fixed", "Total disconnected facets"); empty when admesh failed.
inline std::map<std::string, long> admeshRepairs(const std::filesystem::path& stl) {
    std::map<std::string, long> out;
    const std::string cmd = "admesh '" + stl.string() + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    std::string text;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) text += buf;
    if (pclose(p) != 0) return {};
    std::istringstream is(text);
    std::string line;
    for (const char* key : {"Degenerate facets", "Edges fixed", "Facets removed", "Facets added", "Facets reversed",
                            "Backwards edges", "Normals fixed", "Total disconnected facets"}) {
        is.clear();
        is.seekg(0);
        while (std::getline(is, line)) {
            const auto k = line.find(key);
            if (k == std::string::npos) continue;
            const auto colon = line.find(':', k);
            if (colon == std::string::npos) continue;
            // "Total disconnected facets : 0   0" -> the final count (last number on the line).
            std::istringstream ns(line.substr(colon + 1));
            long v = -1, last = -1;
            while (ns >> v) last = v;
            out[key] = last;
            break;
        }
    }
    return out;
}

} // namespace jumeau::geometry::testing
