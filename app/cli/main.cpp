// jumeau-cli: everything the workstation does, headless, for batch work and tests.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>

#include "CliCommands.h"

int main(int argc, char** argv) {
    try {
        CLI::App app{"jumeau-cli: Jumeau surgical planning, headless"};
        app.require_subcommand(1);
        jumeau::cli::registerCommands(app);
        CLI11_PARSE(app, argc, argv);
        return jumeau::cli::exitCode();
    } catch (const std::exception& e) {
        std::cerr << "jumeau-cli: fatal error: " << e.what() << "\n";
        return 70;
    } catch (...) {
        std::cerr << "jumeau-cli: fatal unknown error\n";
        return 70;
    }
}
