// How fast and how lean our DICOM series loading is, next to two baselines on the same files:
//   (a) ITK: GDCMSeriesFileNames (scan + sort) + ImageSeriesReader<int16> with GDCMImageIO;
//   (b) a raw read: every byte of the same files read into one buffer, no parsing (what the disk/page cache costs).
// Data: the 119-slice IRCAD CT (../shared/data/ircad-3dircadb1.17-liver-ct/PATIENT_DICOM, when present) and the
// phantom CT (build/test-output/phantom/ct, generated with jumeau-cli when missing).
//
// Two modes:
//   jumeau_bench_dicom [--benchmark_* options]   Google Benchmark runs of each reader on each dataset;
//   jumeau_bench_dicom --report [--runs=N]       one run, warm page cache, that prints medians, the ratios against
//                                                the goals (>= 3x faster than ITK, within 3x of the raw read) and the
//                                                peak RSS of our load (goal <= 1.3x the voxel bytes).
// Goals are reported, never enforced: absolute times on a shared two-core machine are too noisy to fail on.

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImage.h>
#include <itkImageSeriesReader.h>

#include "TestData.h"
#include "jumeau/imaging/DicomSeriesReader.h"

namespace fs = std::filesystem;
using namespace jumeau;

namespace {

struct Dataset {
    std::string name;
    fs::path folder;
    std::vector<fs::path> files; // the series' files, as our scan finds them (the raw read reads these)
    std::uintmax_t fileBytes = 0;
};

std::optional<Dataset> makeDataset(const std::string& name, const fs::path& folder) {
    if (folder.empty() || !fs::is_directory(folder)) return std::nullopt;
    auto scan = imaging::scanDicom(folder);
    if (!scan || scan->series.empty()) {
        std::fprintf(stderr, "%s: no DICOM series in %s\n", name.c_str(), folder.string().c_str());
        return std::nullopt;
    }
    Dataset d{name, folder, scan->series.front().files, 0};
    for (const auto& f : d.files) d.fileBytes += fs::file_size(f);
    return d;
}

std::vector<Dataset> datasets() {
    std::vector<Dataset> out;
    if (auto ircad = makeDataset("Ircad", test::sharedData("ircad-3dircadb1.17-liver-ct/PATIENT_DICOM")))
        out.push_back(std::move(*ircad));
    else
        std::fprintf(stderr, "IRCAD CT not available (../shared/data absent): only the phantom is measured\n");
    if (auto phantom = makeDataset("Phantom", test::phantomCase() / "ct")) out.push_back(std::move(*phantom));
    return out;
}

// ---- the readers ----------------------------------------------------------------------------------------------------

// Ours, as a user calls it on a folder: scan (headers, grouping, sort), then decode.
imaging::Volume jumeauScanAndLoad(const Dataset& d) {
    auto scan = imaging::scanDicom(d.folder);
    if (!scan || scan->series.empty()) throw std::runtime_error("jumeau: scan failed for " + d.folder.string());
    auto loaded = imaging::loadSeries(scan->series.front());
    if (!loaded) throw std::runtime_error("jumeau: " + loaded.error().describe());
    return loaded->volume;
}

using ItkImage = itk::Image<std::int16_t, 3>;

// ITK's usual recipe: GDCM finds and sorts the series' files, the series reader decodes them.
ItkImage::Pointer itkLoad(const Dataset& d) {
    auto names = itk::GDCMSeriesFileNames::New();
    names->SetDirectory(d.folder.string());
    const auto uids = names->GetSeriesUIDs();
    if (uids.empty()) throw std::runtime_error("ITK: no series in " + d.folder.string());
    auto reader = itk::ImageSeriesReader<ItkImage>::New();
    reader->SetImageIO(itk::GDCMImageIO::New());
    reader->SetFileNames(names->GetFileNames(uids.front()));
    reader->Update();
    return reader->GetOutput();
}

// The floor: the same bytes into memory, one read() per file, no parsing. The buffer is allocated (not zeroed)
// per call like the volume our loader allocates, so both pay for first-touch page faults.
std::size_t rawRead(const Dataset& d) {
    std::unique_ptr<char[]> buffer(new char[d.fileBytes]);
    std::size_t at = 0;
    for (const auto& f : d.files) {
        const int fd = ::open(f.c_str(), O_RDONLY);
        if (fd < 0) throw std::runtime_error("cannot open " + f.string());
        for (;;) {
            const ssize_t n = ::read(fd, buffer.get() + at, d.fileBytes - at);
            if (n <= 0) break;
            at += static_cast<std::size_t>(n);
        }
        ::close(fd);
    }
    benchmark::DoNotOptimize(buffer.get());
    return at;
}

// ---- Google Benchmark mode
// --------------------------------------------------------------------------------------------

void registerBenchmarks(const std::vector<Dataset>& all) {
    for (const Dataset& d : all) {
        const auto bytes = static_cast<std::int64_t>(d.fileBytes);
        benchmark::RegisterBenchmark(("JumeauScanAndLoad/" + d.name).c_str(),
                                     [d, bytes](benchmark::State& state) {
                                         for (auto _ : state) benchmark::DoNotOptimize(jumeauScanAndLoad(d).rawData());
                                         state.SetBytesProcessed(state.iterations() * bytes);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("JumeauLoadSeries/" + d.name).c_str(),
                                     [d, bytes](benchmark::State& state) {
                                         auto scan = imaging::scanDicom(d.folder);
                                         if (!scan || scan->series.empty()) {
                                             state.SkipWithError("scan failed");
                                             return;
                                         }
                                         for (auto _ : state) {
                                             auto loaded = imaging::loadSeries(scan->series.front());
                                             if (!loaded) {
                                                 state.SkipWithError(loaded.error().message.c_str());
                                                 return;
                                             }
                                             benchmark::DoNotOptimize(loaded->volume.rawData());
                                         }
                                         state.SetBytesProcessed(state.iterations() * bytes);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("ItkGdcmSeriesReader/" + d.name).c_str(),
                                     [d, bytes](benchmark::State& state) {
                                         for (auto _ : state) benchmark::DoNotOptimize(itkLoad(d)->GetBufferPointer());
                                         state.SetBytesProcessed(state.iterations() * bytes);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("RawRead/" + d.name).c_str(),
                                     [d, bytes](benchmark::State& state) {
                                         for (auto _ : state) benchmark::DoNotOptimize(rawRead(d));
                                         state.SetBytesProcessed(state.iterations() * bytes);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
}

// ---- report mode
// ------------------------------------------------------------------------------------------------------

double cpuSeconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Timing {
    double medianWall = 0, minWall = 0, maxWall = 0, medianCpu = 0;
};

Timing summarise(std::vector<double> wall, std::vector<double> cpu) {
    std::sort(wall.begin(), wall.end());
    std::sort(cpu.begin(), cpu.end());
    return {wall[wall.size() / 2], wall.front(), wall.back(), cpu[cpu.size() / 2]};
}

// Resident set size of this process now, in KiB (VmRSS).
long currentRssKib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

struct PeakRss {
    long baselineKib = 0; // the child's RSS just before the load
    long peakKib = 0;     // its ru_maxrss (as getrusage(RUSAGE_CHILDREN) reports it to the parent)
    bool ok = false;
};

// Runs `work` in a forked child so its peak RSS is its own: the parent's heap (freed buffers of earlier runs) can
// neither hide nor add to it. The child reports its RSS before the work; the parent reads the child's peak from
// getrusage(RUSAGE_CHILDREN) after waiting for it. Called before this process has loaded anything, so the
// children all start from the same small heap and RUSAGE_CHILDREN's running maximum is this child's own.
PeakRss peakRssOf(const std::function<void()>& work) {
    int fds[2];
    if (::pipe(fds) != 0) return {};
    const pid_t pid = ::fork();
    if (pid < 0) return {};
    if (pid == 0) {
        ::close(fds[0]);
        long report[2] = {currentRssKib(), 0};
        try {
            work();
            rusage u{};
            getrusage(RUSAGE_SELF, &u);
            report[1] = u.ru_maxrss;
        } catch (...) {
            report[1] = -1;
        }
        const ssize_t written = ::write(fds[1], report, sizeof report);
        ::_exit(written == static_cast<ssize_t>(sizeof report) ? 0 : 1);
    }
    ::close(fds[1]);
    long report[2] = {0, -1};
    const ssize_t got = ::read(fds[0], report, sizeof report);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    rusage children{};
    getrusage(RUSAGE_CHILDREN, &children);
    PeakRss r;
    r.ok = got == static_cast<ssize_t>(sizeof report) && report[1] > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    r.baselineKib = report[0];
    // The child's own ru_maxrss and the parent's view agree when this child is the largest so far; the parent's
    // view is a running maximum over all children, so the child's own value is the one that belongs to this load.
    r.peakKib = report[1];
    if (r.ok && children.ru_maxrss < report[1]) r.ok = false; // cannot happen unless accounting is broken
    return r;
}

const char* verdict(bool met) {
    return met ? "met" : "MISSED";
}

int runReport(int runs) {
    const std::vector<Dataset> all = datasets();
    if (all.empty()) {
        std::fprintf(stderr, "no data to measure\n");
        return 1;
    }

    // Peak RSS first, before this process loads anything (see peakRssOf).
    struct Memory {
        PeakRss jumeau, itk;
    };
    std::vector<Memory> memory;
    for (const Dataset& d : all)
        memory.push_back({peakRssOf([&] { jumeauScanAndLoad(d); }), peakRssOf([&] { itkLoad(d); })});

    std::printf("DICOM load benchmark: median of %d runs after one warm-up run of each reader (page cache warm),\n"
                "wall time on %ld online CPU(s); jumeau decodes with up to 4 threads, ITK/GDCM and the raw read use "
                "one.\n",
                runs, ::sysconf(_SC_NPROCESSORS_ONLN));
    for (std::size_t n = 0; n < all.size(); ++n) {
        const Dataset& d = all[n];
        // Warm-up: fills the page cache and checks that both readers decode the same voxels (equal work).
        const imaging::Volume ours = jumeauScanAndLoad(d);
        const ItkImage::Pointer theirs = itkLoad(d);
        rawRead(d);
        const auto& g = ours.geometry();
        const bool sameVoxels = ours.holds<std::int16_t>() &&
                                theirs->GetLargestPossibleRegion().GetNumberOfPixels() == g.voxelCount() &&
                                std::equal(ours.data<std::int16_t>(), ours.data<std::int16_t>() + g.voxelCount(),
                                           theirs->GetBufferPointer());

        const imaging::SeriesInfo series = imaging::scanDicom(d.folder)->series.front();
        std::vector<double> wall[4], cpu[4];
        for (int r = 0; r < runs; ++r) {
            // Interleaved so that drift (other jobs on the machine, thermal) hits every reader alike.
            const std::function<void()> work[4] = {
                [&] { benchmark::DoNotOptimize(jumeauScanAndLoad(d).rawData()); },
                [&] { benchmark::DoNotOptimize(imaging::loadSeries(series)->volume.rawData()); },
                [&] { benchmark::DoNotOptimize(itkLoad(d)->GetBufferPointer()); },
                [&] { benchmark::DoNotOptimize(rawRead(d)); },
            };
            for (int w = 0; w < 4; ++w) {
                const double c0 = cpuSeconds();
                const auto t0 = std::chrono::steady_clock::now();
                work[w]();
                wall[w].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                cpu[w].push_back(cpuSeconds() - c0);
            }
        }
        const Timing scanLoad = summarise(wall[0], cpu[0]), load = summarise(wall[1], cpu[1]),
                     itk = summarise(wall[2], cpu[2]), raw = summarise(wall[3], cpu[3]);
        const double voxelMib = static_cast<double>(ours.byteCount()) / (1024.0 * 1024.0);
        std::printf("\n%s CT: %d x %d x %d %s, %zu files, %.1f MiB of files, %.1f MiB of voxels%s\n", d.name.c_str(),
                    g.size[0], g.size[1], g.size[2], imaging::toString(ours.pixelType()), d.files.size(),
                    static_cast<double>(d.fileBytes) / (1024.0 * 1024.0), voxelMib,
                    sameVoxels ? "; ITK decodes the same voxels" : "; WARNING: ITK's voxels differ from ours");
        const auto line = [](const char* what, const Timing& t) {
            std::printf("  %-34s %8.1f ms  (min %.1f, max %.1f; CPU %.1f ms)\n", what, 1e3 * t.medianWall,
                        1e3 * t.minWall, 1e3 * t.maxWall, 1e3 * t.medianCpu);
        };
        line("jumeau scanDicom + loadSeries", scanLoad);
        line("jumeau loadSeries only", load);
        line("ITK GDCMSeriesFileNames + reader", itk);
        line("raw read of the same bytes", raw);
        const double vsItk = itk.medianWall / scanLoad.medianWall;
        const double vsRaw = scanLoad.medianWall / raw.medianWall;
        std::printf("  jumeau vs ITK: %.2fx faster (goal >= 3x): %s\n", vsItk, verdict(vsItk >= 3.0));
        std::printf("  jumeau vs raw read: %.2fx (goal <= 3x): %s\n", vsRaw, verdict(vsRaw <= 3.0));
        const auto rss = [&](const char* who, const PeakRss& m, bool goal) {
            if (!m.ok) {
                std::printf("  peak RSS of %s load: not measured (the child process failed)\n", who);
                return;
            }
            const double grownMib = static_cast<double>(m.peakKib - m.baselineKib) / 1024.0;
            const double ratio = grownMib / voxelMib;
            std::printf("  peak RSS of %s load: +%.1f MiB over the process's %.1f MiB = %.2fx the voxel bytes", who,
                        grownMib, static_cast<double>(m.baselineKib) / 1024.0, ratio);
            if (goal)
                std::printf(" (goal <= 1.3x): %s\n", verdict(ratio <= 1.3));
            else
                std::printf(" (for comparison)\n");
        };
        rss("jumeau", memory[n].jumeau, true);
        rss("ITK", memory[n].itk, false);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    itk::Object::GlobalWarningDisplayOff(); // GDCM's warnings about odd headers are not what is measured here
    bool report = false;
    int runs = 7;
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--report")
            report = true;
        else if (a.rfind("--runs=", 0) == 0)
            runs = std::max(1, std::stoi(a.substr(7)));
        else
            rest.push_back(argv[i]);
    }
    try {
        if (report) return runReport(runs);
        registerBenchmarks(datasets());
        int n = static_cast<int>(rest.size());
        benchmark::Initialize(&n, rest.data());
        if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 1;
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jumeau_bench_dicom: %s\n", e.what());
        return 1;
    }
}
