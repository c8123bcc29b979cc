// jumeau-cli phantom --out DIR [--seed N]: writes the synthetic abdominal demo case (see simulation/DemoCase.h).

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "CliCommands.h"
#include "jumeau/simulation/DemoCase.h"

namespace jumeau::cli {

namespace {

struct PhantomOptions {
    std::string out;
    std::uint64_t seed = 1;
};

int runPhantom(const PhantomOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    const std::filesystem::path dir(options.out);
    auto truth = simulation::writeDemoCase(dir, options.seed);
    if (!truth) {
        std::cerr << "jumeau-cli phantom: " << truth.error().message << "\n";
        return truth.error().code == ErrorCode::Cancelled ? 130 : 1;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::cout << "Synthetic abdominal phantom, seed " << truth->seed << ", written to " << dir.string() << "\n";
    auto series = [&](const char* what, const simulation::DemoCaseSeries& s) {
        std::cout << "  " << what << ": " << s.files.size() << (s.files.size() == 1 ? " file" : " files") << " in "
                  << (dir / s.files.front()).parent_path().string() << " (" << s.geometry.describe() << ")\n";
    };
    series("CT", truth->ct);
    series("MR", truth->mr);
    series("US", truth->us);
    std::cout << "  labels: " << (dir / truth->labelFile).string() << "\n";
    std::cout << "  truth:  " << (dir / "truth.json").string() << "\n";
    std::cout << "Structures (model volume within the CT field of view, and labelled voxels):\n";
    for (const auto& s : truth->structures) {
        char line[160];
        std::snprintf(line, sizeof line, "  %2u %-14s %9.2f ml  %9.2f ml voxels  (%s)\n", s.structure.label,
                      s.structure.name.c_str(), s.volumeMl, s.voxelVolumeMl, s.method.c_str());
        std::cout << line;
    }
    char done[64];
    std::snprintf(done, sizeof done, "Done in %.1f s\n", seconds);
    std::cout << done;
    return 0;
}

} // namespace

void registerPhantomCommand(CLI::App& app) {
    auto options = std::make_shared<PhantomOptions>();
    CLI::App* cmd = app.add_subcommand(
        "phantom", "Write the synthetic abdominal phantom: CT, MR and US as DICOM, ground-truth labels, truth.json");
    cmd->add_option("--out", options->out, "Output folder (created; previous ct/ mr/ us/ labels/ are replaced)")
        ->required();
    cmd->add_option("--seed", options->seed, "Seed of the noise and of the tumour jitter")->capture_default_str();
    cmd->callback([options] { setExitCode(runPhantom(*options)); });
}

} // namespace jumeau::cli
