#pragma once
// For the self-intersection tests: run a check with both widths of the broad phase's box masks.

#include <gtest/gtest.h>

#include "../../geometry/src/SelfIntersection.h"

namespace jumeau::geometry::testing {

// Runs `check` with the broad phase comparing boxes 16 at a time (AVX-512, where the processor has it: the default)
// and 4 at a time (SSE2, what other processors use); both must give CGAL's answer.
template <typename F> void withBothMaskWidths(F&& check) {
    for (const bool wide : {true, false}) {
        SCOPED_TRACE(wide ? "16-wide masks where available" : "4-wide masks");
        detail::allowWidePairMasks(wide);
        check();
    }
    detail::allowWidePairMasks(true);
}

} // namespace jumeau::geometry::testing
