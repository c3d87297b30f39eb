#include "commons/text.hpp"

#include <gtest/gtest.h>

namespace commons {
namespace {

using Pieces = std::vector<std::string_view>;

TEST(Split, KeepsEmptyPieces) {
    EXPECT_EQ(Split("a,b,c", ','), (Pieces{"a", "b", "c"}));
    EXPECT_EQ(Split("a,,b", ','), (Pieces{"a", "", "b"}));
    EXPECT_EQ(Split(",a,", ','), (Pieces{"", "a", ""}));
    EXPECT_EQ(Split("", ','), (Pieces{""}));
    EXPECT_EQ(Split("v1,x v1,y", ' '), (Pieces{"v1,x", "v1,y"}));
}

}  // namespace
}  // namespace commons
