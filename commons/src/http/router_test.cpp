#include "commons/http/router.hpp"

#include <gtest/gtest.h>

namespace commons::http {
namespace {

Handler Named(std::string name) {
    return [name](Request&) { return Response::Text(200, name, "text/plain"); };
}

std::string Invoke(const RouteMatch& match) {
    Request request;
    return match.route->handler(request).body;
}

TEST(Router, MatchesLiteralPath) {
    Router router;
    router.Add(Method::kGet, "/health", Named("health"));
    auto match = router.Find(Method::kGet, "/health");
    ASSERT_EQ(match.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(Invoke(match), "health");
    EXPECT_EQ(match.route->path_template, "/health");
}

TEST(Router, ExtractsAndDecodesPathParameters) {
    Router router;
    router.Add(Method::kGet, "/v1/accounts/{id}/entries/{entry}", Named("entries"));
    auto match = router.Find(Method::kGet, "/v1/accounts/acct%201/entries/e2");
    ASSERT_EQ(match.kind, RouteMatch::Kind::kFound);
    ASSERT_EQ(match.params.size(), 2u);
    EXPECT_EQ(match.params[0], (std::pair<std::string, std::string>{"id", "acct 1"}));
    EXPECT_EQ(match.params[1], (std::pair<std::string, std::string>{"entry", "e2"}));
}

TEST(Router, PrefersLiteralSegmentOverParameter) {
    Router router;
    router.Add(Method::kGet, "/v1/accounts/{id}", Named("by-id"));
    router.Add(Method::kGet, "/v1/accounts/export", Named("export"));
    EXPECT_EQ(Invoke(router.Find(Method::kGet, "/v1/accounts/export")), "export");
    EXPECT_EQ(Invoke(router.Find(Method::kGet, "/v1/accounts/acct_1")), "by-id");
}

TEST(Router, ReportsMethodNotAllowedWithAllowedMethods) {
    Router router;
    router.Add(Method::kGet, "/v1/accounts/{id}", Named("get"));
    router.Add(Method::kPost, "/v1/accounts/{id}", Named("post"));
    auto match = router.Find(Method::kDelete, "/v1/accounts/a");
    EXPECT_EQ(match.kind, RouteMatch::Kind::kMethodNotAllowed);
    EXPECT_EQ(match.allowed, (std::vector<Method>{Method::kGet, Method::kPost}));
}

TEST(Router, HeadFallsBackToGetButPrefersItsOwnRoute) {
    Router router;
    router.Add(Method::kGet, "/a", Named("get-a"));
    router.Add(Method::kGet, "/b", Named("get-b"));
    router.Add(Method::kHead, "/b", Named("head-b"));
    router.Add(Method::kPost, "/c", Named("post-c"));
    EXPECT_EQ(Invoke(router.Find(Method::kHead, "/a")), "get-a");
    EXPECT_EQ(Invoke(router.Find(Method::kHead, "/b")), "head-b");
    EXPECT_EQ(router.Find(Method::kHead, "/c").kind, RouteMatch::Kind::kMethodNotAllowed);
}

TEST(Router, ReportsNotFoundForUnknownPathsAndSegmentCounts) {
    Router router;
    router.Add(Method::kGet, "/v1/accounts/{id}", Named("get"));
    EXPECT_EQ(router.Find(Method::kGet, "/v1/accounts").kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(router.Find(Method::kGet, "/v1/accounts/a/b").kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(router.Find(Method::kGet, "/v2/accounts/a").kind, RouteMatch::Kind::kNotFound);
}

TEST(Router, RejectsEmptyOrUndecodableParameter) {
    Router router;
    router.Add(Method::kGet, "/v1/accounts/{id}", Named("get"));
    EXPECT_EQ(router.Find(Method::kGet, "/v1/accounts/").kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(router.Find(Method::kGet, "/v1/accounts/%zz").kind, RouteMatch::Kind::kNotFound);
}

TEST(Router, RefusesParametersThatAreNotStorableText) {
    Router router;
    router.Add(Method::kGet, "/v1/accounts/{id}", Named("get"));
    EXPECT_EQ(router.Find(Method::kGet, "/v1/accounts/a%00b").kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(router.Find(Method::kGet, "/v1/accounts/%ED%A0%80").kind,
              RouteMatch::Kind::kNotFound);
    EXPECT_EQ(router.Find(Method::kGet, "/v1/accounts/%FF").kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(router.Find(Method::kGet, "/v1/accounts/caf%C3%A9").kind, RouteMatch::Kind::kFound);
}

TEST(CheckQuery, AcceptsWellFormedQueries) {
    EXPECT_FALSE(CheckQuery(""));
    EXPECT_FALSE(CheckQuery("limit=10&currency=USD&q=a+b%20c&flag&&x="));
    EXPECT_FALSE(CheckQuery("name=caf%C3%A9"));
}

TEST(CheckQuery, RefusesMalformedOrUnstorableValuesNamingTheParameter) {
    for (const char* query : {"starting_after=a%00b", "limit=1&starting_after=%ED%A0%80",
                              "starting_after=%FF", "starting_after=%zz", "starting_after=%4"}) {
        auto refused = CheckQuery(query);
        ASSERT_TRUE(refused) << query;
        EXPECT_EQ(refused->status, 400) << query;
        EXPECT_EQ(refused->code, "parameter_invalid") << query;
        EXPECT_EQ(refused->param, "starting_after") << query;
    }
}

TEST(CheckQuery, RefusesUnstorableNamesAndRendersThem) {
    auto refused = CheckQuery("a%00b=1");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400);
    EXPECT_NO_THROW(refused->ToJson());
    EXPECT_TRUE(CheckQuery("%FF=1"));
    EXPECT_TRUE(CheckQuery("%zz=1"));
}

TEST(Request, QueryParamDecodesAndFindsFirst) {
    Request request;
    request.query = "limit=10&currency=US%44&q=a+b&flag&limit=20";
    EXPECT_EQ(request.QueryParam("limit"), "10");
    EXPECT_EQ(request.QueryParam("currency"), "USD");
    EXPECT_EQ(request.QueryParam("q"), "a b");
    EXPECT_EQ(request.QueryParam("flag"), "");
    EXPECT_EQ(request.QueryParam("missing"), std::nullopt);
}

TEST(PercentDecode, RejectsTruncatedEscapes) {
    EXPECT_EQ(PercentDecode("abc%2", false), std::nullopt);
    EXPECT_EQ(PercentDecode("abc%", false), std::nullopt);
    EXPECT_EQ(PercentDecode("%41%42", false), "AB");
    EXPECT_EQ(PercentDecode("a+b", false), "a+b");
}

TEST(Headers, LookupIsCaseInsensitive) {
    Response response = Response::Json(200, "{}");
    response.SetHeader("x-request-id", "a");
    response.SetHeader("X-Request-Id", "b");
    EXPECT_EQ(response.Header("X-REQUEST-ID"), "b");
    EXPECT_EQ(response.headers.size(), 2u);  // Content-Type and X-Request-Id
}

}  // namespace
}  // namespace commons::http
