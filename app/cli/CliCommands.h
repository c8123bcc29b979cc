#pragma once
#include <CLI/CLI.hpp>

namespace jumeau::cli {

// Each command registers its subcommand and a callback that sets the exit code.
void registerCommands(CLI::App& app);
int exitCode();
void setExitCode(int code);

// One file per command: PhantomCommand.cpp, ...
void registerPhantomCommand(CLI::App& app);
void registerDicomCommands(CLI::App& app); // inspect, convert (DicomCommands.h)
void registerMeshCommand(CLI::App& app);   // MeshCommand.cpp
void registerRegisterCommand(CLI::App& app); // RegisterCommand.cpp
void registerLabelsCommand(CLI::App& app); // LabelsCommand.cpp: labels import|edit|export

} // namespace jumeau::cli
