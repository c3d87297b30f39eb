#include "commons/pg_array.hpp"

#include <gtest/gtest.h>

namespace commons {
namespace {

TEST(PgArray, QuotesEveryTextElementSoAnyStringRoundTrips) {
    std::vector<std::string> values = {
        "plain", "with \"quotes\"", "back\\slash", "{braces},comma", "NULL", ""};
    auto parsed = ParsePgArray(PgArray(values));
    ASSERT_EQ(parsed.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        ASSERT_TRUE(parsed[i].has_value());
        EXPECT_EQ(*parsed[i], values[i]);
    }
}

TEST(PgArray, FormatsIntegersAndNulls) {
    PgArrayBuilder builder;
    builder.Add(std::int64_t{-5}).AddNull().AddOptional(std::int64_t{9}).AddOptional(std::nullopt);
    EXPECT_EQ(builder.Finish(), "{-5,NULL,9,NULL}");
    EXPECT_EQ(PgArray(std::vector<std::int64_t>{}), "{}");
}

TEST(PgArray, ParsesWhatPostgresPrints) {
    auto parsed = ParsePgArray(R"({a,"b c",NULL,"NULL","x\"y"})");
    ASSERT_EQ(parsed.size(), 5u);
    EXPECT_EQ(*parsed[0], "a");
    EXPECT_EQ(*parsed[1], "b c");
    EXPECT_FALSE(parsed[2].has_value());
    EXPECT_EQ(*parsed[3], "NULL");
    EXPECT_EQ(*parsed[4], "x\"y");
    EXPECT_TRUE(ParsePgArray("{}").empty());
}

TEST(PgArray, RefusesMalformedLiterals) {
    EXPECT_THROW(ParsePgArray(""), std::invalid_argument);
    EXPECT_THROW(ParsePgArray("a,b"), std::invalid_argument);
    EXPECT_THROW(ParsePgArray(R"({"open)"), std::invalid_argument);
}

}  // namespace
}  // namespace commons
