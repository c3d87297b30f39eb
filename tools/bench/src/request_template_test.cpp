#include "bench/request_template.hpp"

#include <gtest/gtest.h>

namespace bench {
namespace {

TEST(RequestTemplate, ExpandsTargetHeadersAndBodyPerRequest) {
    auto parsed =
        RequestTemplate::Parse("POST", "/v1/transfers/{{seq}}",
                               {"Authorization: Bearer secret", "Idempotency-Key: {{unique}}"},
                               R"({"id":"txn_{{unique}}","n":{{seq}}})");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    TemplateRun run{1, 2, "abcdefghij"};
    HttpRequest request = parsed.value().Make(run, 41);
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/v1/transfers/41");
    ASSERT_EQ(request.headers.size(), 2u);
    EXPECT_EQ(request.headers[0].name, "Authorization");
    EXPECT_EQ(request.headers[0].value, "Bearer secret");
    EXPECT_EQ(request.headers[1].name, "Idempotency-Key");
    EXPECT_EQ(request.headers[1].value, "abcdefghij41");
    EXPECT_EQ(request.body, R"({"id":"txn_abcdefghij41","n":41})");
}

TEST(RequestTemplate, DrawsIndependentRandomValuesInEachPart) {
    auto parsed = RequestTemplate::Parse("GET", "/{{rand:0:1000000000}}",
                                         {"X-A: {{rand:0:1000000000}}"}, "{{rand:0:1000000000}}");
    ASSERT_TRUE(parsed.ok());
    TemplateRun run{9, 9, "0123456789"};
    int collisions = 0;
    for (std::uint64_t seq = 0; seq < 200; ++seq) {
        HttpRequest request = parsed.value().Make(run, seq);
        collisions += request.target.substr(1) == request.headers[0].value ? 1 : 0;
        collisions += request.headers[0].value == request.body ? 1 : 0;
    }
    EXPECT_EQ(collisions, 0);
}

TEST(RequestTemplate, NamesThePartThatFailed) {
    auto bad_body = RequestTemplate::Parse("POST", "/", {}, "{{oops}}");
    ASSERT_FALSE(bad_body.ok());
    EXPECT_EQ(bad_body.error().rfind("body: unknown placeholder {{oops}}", 0), 0u)
        << bad_body.error();
    auto bad_url = RequestTemplate::Parse("GET", "/{{seq", {}, "");
    ASSERT_FALSE(bad_url.ok());
    EXPECT_EQ(bad_url.error().rfind("URL: unclosed", 0), 0u) << bad_url.error();
    auto bad_header_value = RequestTemplate::Parse("GET", "/", {"X-Id: {{nope}}"}, "");
    ASSERT_FALSE(bad_header_value.ok());
    EXPECT_EQ(bad_header_value.error().rfind("header X-Id: unknown placeholder", 0), 0u);
    auto bad_header = RequestTemplate::Parse("GET", "/", {"Connection: close"}, "");
    ASSERT_FALSE(bad_header.ok());
    EXPECT_EQ(bad_header.error().rfind("--header: header Connection", 0), 0u);
    auto bad_method = RequestTemplate::Parse("G T", "/", {}, "");
    ASSERT_FALSE(bad_method.ok());
    EXPECT_EQ(bad_method.error(), "invalid method \"G T\"");
}

}  // namespace
}  // namespace bench
