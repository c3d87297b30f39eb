#include "commons/json_input.hpp"

#include <gtest/gtest.h>

#include <string>

namespace commons {
namespace {

using nlohmann::json;

JsonInputProblem ProblemOf(std::string_view body) {
    auto parsed = ParseJsonInput(body);
    EXPECT_TRUE(std::holds_alternative<JsonInputProblem>(parsed)) << body;
    if (auto* problem = std::get_if<JsonInputProblem>(&parsed)) return *problem;
    return {};
}

TEST(ParseJsonInput, ParsesStorableDocumentsLikeNlohmann) {
    for (const char* body : {R"({"a":"caf\u00e9","b":[1,-2,3.5,"x",{"c":null,"d":true}]})",
                             R"("\ud83d\udcb3")", "[]", "{}", "18446744073709551615"}) {
        auto parsed = ParseJsonInput(body);
        ASSERT_TRUE(std::holds_alternative<json>(parsed)) << body;
        EXPECT_EQ(std::get<json>(parsed), json::parse(body)) << body;
    }
}

TEST(ParseJsonInput, RefusesWhatIsNotOneJsonValue) {
    for (const char* body : {"", "{", "{\"a\":1}x", "{\"a\":1} {}", "nul", "\"\\ud800\"",
                             "\"\xFF\"", "{'a':1}", "[1,]"}) {
        auto problem = ProblemOf(body);
        EXPECT_EQ(problem.code, "invalid_json") << body;
        EXPECT_EQ(problem.param, "") << body;
    }
}

TEST(ParseJsonInput, NamesTheFieldHoldingNul) {
    auto problem = ProblemOf(R"({"metadata":{"k":"a\u0000b"}})");
    EXPECT_EQ(problem.code, "parameter_invalid");
    EXPECT_EQ(problem.param, "metadata.k");
    EXPECT_NE(problem.message.find("metadata.k"), std::string::npos);
    EXPECT_NE(problem.message.find("NUL"), std::string::npos);
}

TEST(ParseJsonInput, NamesArrayElementsByIndex) {
    auto problem = ProblemOf(R"({"entries":[{"currency":"USD"},{"currency":"U\u0000D"}]})");
    EXPECT_EQ(problem.param, "entries[1].currency");
    EXPECT_EQ(ProblemOf(R"({"a":[1,[2,"\u0000"]]})").param, "a[1][1]");
    EXPECT_EQ(ProblemOf(R"(["ok","\u0000"])").param, "[1]");
}

TEST(ParseJsonInput, RefusesABadKeyWithASanitisedPath) {
    auto problem = ProblemOf(R"({"metadata":{"a\u0000":"v"}})");
    EXPECT_EQ(problem.code, "parameter_invalid");
    EXPECT_EQ(problem.param, "metadata.a\xEF\xBF\xBD");
    EXPECT_NO_THROW(json(problem.message).dump());
}

TEST(ParseJsonInput, RefusesDuplicateKeysNamingThem) {
    auto problem = ProblemOf(R"({"amount":1,"currency":"USD","amount":2})");
    EXPECT_EQ(problem.code, "invalid_json");
    EXPECT_EQ(problem.param, "amount");
    EXPECT_NE(problem.message.find("more than once"), std::string::npos);
    EXPECT_EQ(ProblemOf(R"({"m":{"k":"a","k":"b"}})").param, "m.k");
    // The same key in different objects is fine.
    EXPECT_TRUE(std::holds_alternative<json>(ParseJsonInput(R"([{"k":1},{"k":2}])")));
}

TEST(ParseJsonInput, RefusesNumbersBeyondRange) {
    auto problem = ProblemOf(R"({"amount":1e400})");
    EXPECT_EQ(problem.code, "invalid_json");
    EXPECT_EQ(problem.param, "amount");
    EXPECT_EQ(ProblemOf("-1e999").param, "");
}

TEST(ParseJsonInput, RefusesDeepNestingButNotTheLimit) {
    auto nested = [](std::size_t depth) {
        return std::string(depth, '[') + std::string(depth, ']');
    };
    EXPECT_TRUE(std::holds_alternative<json>(ParseJsonInput(nested(kJsonDepthMax))));
    EXPECT_EQ(ProblemOf(nested(kJsonDepthMax + 1)).code, "invalid_json");
    auto problem = ProblemOf(nested(10'000));
    EXPECT_NE(problem.message.find("levels deep"), std::string::npos);
    EXPECT_EQ(ProblemOf(std::string(100'000, '[')).code, "invalid_json");
}

TEST(CheckJsonInput, FindsUnstorableTextInBuiltValues) {
    EXPECT_FALSE(CheckJsonInput(json{{"a", "b"}, {"c", {1, 2}}}));
    json value = {{"name", std::string("\xED\xA0\x80")}};  // a lone surrogate, encoded
    auto problem = CheckJsonInput(value);
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->param, "name");
    EXPECT_NE(problem->message.find("UTF-8"), std::string::npos);
    json deep = json::array();
    for (std::size_t i = 0; i < kJsonDepthMax + 2; ++i) deep = json::array({deep});
    EXPECT_TRUE(CheckJsonInput(deep));
}

TEST(TakesJsonContentType, AcceptsJsonOrNothing) {
    EXPECT_TRUE(TakesJsonContentType(std::nullopt));
    EXPECT_TRUE(TakesJsonContentType("application/json"));
    EXPECT_TRUE(TakesJsonContentType("Application/JSON; charset=utf-8"));
    EXPECT_TRUE(TakesJsonContentType(" application/json ;charset=UTF-8"));
    EXPECT_FALSE(TakesJsonContentType("application/x-www-form-urlencoded"));
    EXPECT_FALSE(TakesJsonContentType("text/plain"));
    EXPECT_FALSE(TakesJsonContentType("application/jsonx"));
    EXPECT_FALSE(TakesJsonContentType(""));
}

}  // namespace
}  // namespace commons
