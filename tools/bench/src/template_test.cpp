#include "bench/template.hpp"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

namespace bench {
namespace {

TemplateRun TestRun(std::uint64_t seed = 42, std::uint64_t nonce = 7) {
    return TemplateRun{seed, nonce, UniquePrefixFromNonce(nonce)};
}

Template MustParse(std::string_view text) {
    auto parsed = Template::Parse(text);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error());
    return std::move(parsed).value();
}

TEST(Template, KeepsTextWithoutPlaceholders) {
    Template plain = MustParse(R"({"amount": 100, "nested": {"a": [1, 2]}})");
    EXPECT_FALSE(plain.has_placeholders());
    EXPECT_EQ(plain.Expand(TestRun(), 5), R"({"amount": 100, "nested": {"a": [1, 2]}})");
    EXPECT_EQ(MustParse("").Expand(TestRun(), 0), "");
}

TEST(Template, SeqIsTheSequenceNumber) {
    Template seq = MustParse("n={{seq}};again={{seq}}");
    EXPECT_TRUE(seq.has_placeholders());
    EXPECT_EQ(seq.Expand(TestRun(), 0), "n=0;again=0");
    EXPECT_EQ(seq.Expand(TestRun(), 18446744073709551615ULL),
              "n=18446744073709551615;again=18446744073709551615");
}

TEST(Template, UniqueIsTheRunPrefixAndSequenceNumber) {
    TemplateRun run = TestRun();
    Template unique = MustParse("txn_{{unique}}");
    EXPECT_EQ(unique.Expand(run, 12), "txn_" + run.unique_prefix + "12");
    EXPECT_EQ(run.unique_prefix.size(), kUniquePrefixLength);
    EXPECT_TRUE(std::regex_match(run.unique_prefix, std::regex("[0-9a-z]+")));
}

TEST(Template, UniqueNeverRepeatsWithinOrAcrossRuns) {
    Template unique = MustParse("{{unique}}");
    std::set<std::string> seen;
    // Two runs with the same seed but their own nonces, as two invocations of bench would be.
    for (TemplateRun run : {TestRun(1, 1001), TestRun(1, 1002)}) {
        for (std::uint64_t seq = 0; seq < 50'000; ++seq) {
            ASSERT_TRUE(seen.insert(unique.Expand(run, seq)).second) << "seq " << seq;
        }
    }
}

TEST(Template, MakeTemplateRunDrawsFreshPrefixes) {
    TemplateRun a = MakeTemplateRun(3);
    TemplateRun b = MakeTemplateRun(3);
    EXPECT_EQ(a.seed, 3u);
    EXPECT_NE(a.nonce, b.nonce);
    EXPECT_NE(a.unique_prefix, b.unique_prefix);
}

TEST(Template, UuidIsVersion4AndOnePerRequest) {
    Template uuid = MustParse("{{uuid}} {{uuid}}");
    std::string expanded = uuid.Expand(TestRun(), 9);
    std::string first = expanded.substr(0, 36);
    EXPECT_EQ(expanded, first + " " + first);
    EXPECT_TRUE(std::regex_match(
        first, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << first;
}

TEST(Template, UuidDiffersAcrossRequestsAndRuns) {
    Template uuid = MustParse("{{uuid}}");
    std::set<std::string> seen;
    for (TemplateRun run : {TestRun(5, 1), TestRun(5, 2)}) {
        for (std::uint64_t seq = 0; seq < 20'000; ++seq) {
            ASSERT_TRUE(seen.insert(uuid.Expand(run, seq)).second) << "seq " << seq;
        }
    }
}

TEST(Template, FormatsUuidBitsWithVersionAndVariant) {
    EXPECT_EQ(FormatUuidV4(0, 0), "00000000-0000-4000-8000-000000000000");
    EXPECT_EQ(FormatUuidV4(UINT64_MAX, UINT64_MAX), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    EXPECT_EQ(FormatUuidV4(0x0123456789abcdefULL, 0xfedcba9876543210ULL),
              "01234567-89ab-4def-bedc-ba9876543210");
}

TEST(Template, RandCoversItsRangeEvenly) {
    Template die = MustParse("{{rand:1:6}}");
    std::map<std::string, int> counts;
    for (std::uint64_t seq = 0; seq < 60'000; ++seq) ++counts[die.Expand(TestRun(), seq)];
    ASSERT_EQ(counts.size(), 6u);
    for (const auto& [face, count] : counts) {
        EXPECT_TRUE(face >= "1" && face <= "6") << face;
        EXPECT_NEAR(count, 10'000, 500) << face;  // about 5 standard deviations
    }
}

TEST(Template, RandIsReproducibleFromTheSeed) {
    Template rand = MustParse("{{rand:0:1000000000}}");
    for (std::uint64_t seq = 0; seq < 100; ++seq) {
        // Same seed, different nonce: the draw depends on the seed only.
        EXPECT_EQ(rand.Expand(TestRun(11, 1), seq), rand.Expand(TestRun(11, 2), seq));
    }
    int differing = 0;
    for (std::uint64_t seq = 0; seq < 100; ++seq) {
        differing += rand.Expand(TestRun(11), seq) != rand.Expand(TestRun(12), seq) ? 1 : 0;
    }
    EXPECT_GT(differing, 95);
}

TEST(Template, RandDrawsAnewAtEachOccurrenceAndStream) {
    Template pair = MustParse("{{rand:0:1000000}},{{rand:0:1000000}}");
    int same_occurrences = 0;
    int same_streams = 0;
    for (std::uint64_t seq = 0; seq < 1000; ++seq) {
        std::string expanded = pair.Expand(TestRun(), seq, 0);
        auto comma = expanded.find(',');
        same_occurrences += expanded.substr(0, comma) == expanded.substr(comma + 1) ? 1 : 0;
        same_streams += expanded == pair.Expand(TestRun(), seq, 1) ? 1 : 0;
    }
    EXPECT_LT(same_occurrences, 5);
    EXPECT_LT(same_streams, 5);
}

TEST(Template, RandHandlesEdgeRanges) {
    EXPECT_EQ(MustParse("{{rand:7:7}}").Expand(TestRun(), 3), "7");
    EXPECT_EQ(MustParse("{{rand:-3:-3}}").Expand(TestRun(), 3), "-3");
    Template negative = MustParse("{{rand:-2:2}}");
    std::set<std::string> seen;
    for (std::uint64_t seq = 0; seq < 1000; ++seq) seen.insert(negative.Expand(TestRun(), seq));
    EXPECT_EQ(seen, (std::set<std::string>{"-1", "-2", "0", "1", "2"}));
    // The full signed range has no rejection step and must still stay in range.
    Template full = MustParse("{{rand:-9223372036854775808:9223372036854775807}}");
    for (std::uint64_t seq = 0; seq < 100; ++seq) EXPECT_FALSE(full.Expand(TestRun(), seq).empty());
}

TEST(UniformInt, StaysInRangeForEveryKey) {
    for (std::uint64_t key = 0; key < 10'000; ++key) {
        std::int64_t value = UniformInt(key, -5, 1'000'000'007);
        ASSERT_GE(value, -5);
        ASSERT_LE(value, 1'000'000'007);
        ASSERT_EQ(UniformInt(key, INT64_MIN, INT64_MIN), INT64_MIN);
        ASSERT_EQ(UniformInt(key, INT64_MAX, INT64_MAX), INT64_MAX);
    }
}

TEST(Template, RejectsMalformedPlaceholders) {
    struct Case {
        std::string_view text;
        std::string_view message_part;
    };
    for (const Case& bad : {
             Case{"abc {{seq", "unclosed \"{{\" at offset 4"},
             Case{"{{nope}}", "unknown placeholder {{nope}} at offset 0"},
             Case{"{{ seq }}", "unknown placeholder"},
             Case{"{{SEQ}}", "unknown placeholder"},
             Case{"{{rand}}", "unknown placeholder"},
             Case{"{{rand:1}}", "malformed {{rand:1}}"},
             Case{"{{rand:a:b}}", "malformed"},
             Case{"{{rand:1:2:3}}", "malformed"},
             Case{"{{rand:+1:2}}", "malformed"},
             Case{"{{rand:0:9223372036854775808}}", "malformed"},
             Case{"{{rand:5:4}}", "empty range"},
         }) {
        auto parsed = Template::Parse(bad.text);
        ASSERT_FALSE(parsed.ok()) << bad.text;
        EXPECT_NE(parsed.error().find(bad.message_part), std::string::npos)
            << bad.text << " -> " << parsed.error();
    }
}

TEST(Template, SingleBracesAreLiteral) {
    EXPECT_EQ(MustParse("{seq} }} {").Expand(TestRun(), 1), "{seq} }} {");
}

}  // namespace
}  // namespace bench
