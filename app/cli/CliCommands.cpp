#include "CliCommands.h"

namespace jumeau::cli {

namespace {
int g_exitCode = 0;
}

int exitCode() { return g_exitCode; }
void setExitCode(int code) { g_exitCode = code; }

void registerCommands(CLI::App& app) {
    registerPhantomCommand(app);
    registerDicomCommands(app);
    registerMeshCommand(app);
    registerRegisterCommand(app);
    registerLabelsCommand(app);
}

} // namespace jumeau::cli
