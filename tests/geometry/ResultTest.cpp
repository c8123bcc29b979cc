#include <gtest/gtest.h>

#include "jumeau/geometry/Result.h"

using namespace jumeau;

namespace {
Result<int> parsePositive(int v) {
    if (v <= 0) return makeError(ErrorCode::InvalidInput, "value " + std::to_string(v) + " is not positive");
    return v;
}
} // namespace

TEST(Result, CarriesValueOrError) {
    auto ok = parsePositive(3);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(*ok, 3);
    auto bad = parsePositive(-2);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::InvalidInput);
    EXPECT_EQ(bad.error().describe(), "invalid input: value -2 is not positive");
}

TEST(Result, VoidResult) {
    Result<void> fine;
    EXPECT_TRUE(fine.ok());
    Result<void> failed = makeError(ErrorCode::NotFound, "/nope");
    EXPECT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, ErrorCode::NotFound);
}
