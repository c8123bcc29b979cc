#pragma once
// Runs the built jumeau-cli as a user would and captures what it says, with a timeout so a hang fails the test
// instead of blocking CTest.

#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace jumeau::test {

struct CliRun {
    int exitCode = -1;     // -1 when killed by a signal or by the timeout
    bool timedOut = false; // killed after the timeout
    int signal = 0;        // the signal that ended it, if any
    std::string out, err;

    // For failure messages: how it ended and what it printed on stderr.
    std::string describe() const;
};

// jumeau-cli with `args`. `asUser`: run under that user id (and group id) instead, which needs root: used to check
// permission handling, since root reads files whatever their mode.
CliRun runCli(const std::vector<std::string>& args, double timeoutSeconds = 180,
              std::optional<uid_t> asUser = std::nullopt);

} // namespace jumeau::test
