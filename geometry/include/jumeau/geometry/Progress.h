#pragma once
// Progress reporting with cancellation for long work: the callback receives a fraction in [0,1] and a short
// message; it returns false to ask the work to stop (the work then returns ErrorCode::Cancelled).

#include <functional>
#include <string>

namespace jumeau {

using ProgressFn = std::function<bool(double fraction, const std::string& message)>;

// Calls fn when set; returns false when the caller asked to cancel.
inline bool reportProgress(const ProgressFn& fn, double fraction, const std::string& message = {}) {
    return fn ? fn(fraction, message) : true;
}

} // namespace jumeau
