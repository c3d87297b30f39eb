#include "commons/text.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

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

using namespace std::string_view_literals;

TEST(CheckText, AcceptsUtf8OfEveryLength) {
    EXPECT_EQ(CheckText(""), TextProblem::kNone);
    EXPECT_EQ(CheckText("plain ascii"), TextProblem::kNone);
    EXPECT_EQ(CheckText("caf\xC3\xA9"), TextProblem::kNone);       // U+00E9
    EXPECT_EQ(CheckText("\xE2\x82\xAC 5"), TextProblem::kNone);    // U+20AC
    EXPECT_EQ(CheckText("\xED\x9F\xBF"), TextProblem::kNone);      // U+D7FF
    EXPECT_EQ(CheckText("\xEE\x80\x80"), TextProblem::kNone);      // U+E000
    EXPECT_EQ(CheckText("\xF0\x9F\x92\xB3"), TextProblem::kNone);  // U+1F4B3
    EXPECT_EQ(CheckText("\xF4\x8F\xBF\xBF"), TextProblem::kNone);  // U+10FFFF
}

TEST(CheckText, RefusesNulAnywhere) {
    EXPECT_EQ(CheckText("\0"sv), TextProblem::kNul);
    EXPECT_EQ(CheckText("a\0b"sv), TextProblem::kNul);
    EXPECT_EQ(CheckText("ab\0"sv), TextProblem::kNul);
    EXPECT_FALSE(IsStorableText("a\0"sv));
}

TEST(CheckText, RefusesWhatIsNotUtf8) {
    for (std::string_view bad : {"\x80"sv,
                                 "a\xBF"
                                 "b"sv,                       // stray continuation bytes
                                 "\xC3"sv, "\xE2\x82"sv,      // truncated
                                 "\xC0\xAF"sv, "\xC1\xBF"sv,  // overlong 2-byte
                                 "\xE0\x80\xAF"sv,            // overlong 3-byte
                                 "\xF0\x80\x80\xAF"sv,        // overlong 4-byte
                                 "\xED\xA0\x80"sv,            // lone high surrogate U+D800
                                 "\xED\xBF\xBF"sv,            // low surrogate U+DFFF
                                 "\xF4\x90\x80\x80"sv,        // U+110000
                                 "\xF5\x80\x80\x80"sv, "\xFF"sv, "\xC3("sv}) {
        EXPECT_EQ(CheckText(bad), TextProblem::kInvalidUtf8) << testing::PrintToString(bad);
    }
}

TEST(TextProblemMessage, NamesTheProblem) {
    EXPECT_NE(TextProblemMessage(TextProblem::kNul).find("NUL"), std::string_view::npos);
    EXPECT_NE(TextProblemMessage(TextProblem::kInvalidUtf8).find("UTF-8"), std::string_view::npos);
}

TEST(SanitizeText, LeavesStorableShortTextAlone) {
    EXPECT_EQ(SanitizeText("ok \xE2\x82\xAC", 100), "ok \xE2\x82\xAC");
    EXPECT_EQ(SanitizeText("", 0), "");
}

TEST(SanitizeText, ReplacesEachBadByteAndNul) {
    EXPECT_EQ(SanitizeText("a\0b"sv, 100),
              "a\xEF\xBF\xBD"
              "b");
    EXPECT_EQ(SanitizeText("a\xFF\xFEz", 100), "a\xEF\xBF\xBD\xEF\xBF\xBDz");
    EXPECT_EQ(SanitizeText("\xED\xA0\x80", 100), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_TRUE(IsStorableText(SanitizeText("\xC3\0\xE2\x82", 100)));
}

TEST(SanitizeText, CutsOnACharacterBoundary) {
    // "é" is two bytes: a cut at 4 bytes would split the second one.
    EXPECT_EQ(SanitizeText("ab\xC3\xA9\xC3\xA9", 5), "ab\xC3\xA9");
    EXPECT_EQ(SanitizeText("ab\xC3\xA9\xC3\xA9", 4), "ab\xC3\xA9");
    EXPECT_EQ(SanitizeText("abcdef", 3), "abc");
    EXPECT_EQ(SanitizeText("\xF0\x9F\x92\xB3", 3), "");
    // A replacement character that would not fit is left out too.
    EXPECT_EQ(SanitizeText("ab\xFF", 4), "ab");
}

TEST(SanitizeText, OutputIsAlwaysStorableAndBounded) {
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;  // fixed seed: the same inputs every run
    for (int i = 0; i < 5000; ++i) {
        std::string input;
        const std::size_t length = i % 40;
        for (std::size_t j = 0; j < length; ++j) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            input.push_back(static_cast<char>(state >> 56));
        }
        const std::size_t bytes_max = static_cast<std::size_t>(i % 17);
        const std::string out = SanitizeText(input, bytes_max);
        ASSERT_TRUE(IsStorableText(out)) << testing::PrintToString(input);
        ASSERT_LE(out.size(), bytes_max) << testing::PrintToString(input);
    }
}

}  // namespace
}  // namespace commons
