#include "bench/http_message.hpp"

#include <gtest/gtest.h>

namespace bench {
namespace {

HttpUrl MustParseUrl(std::string_view text) {
    auto parsed = ParseHttpUrl(text);
    EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed.ok() ? "" : parsed.error());
    return parsed.ok() ? std::move(parsed).value() : HttpUrl{};
}

TEST(ParseHttpUrl, SplitsHostPortAndTarget) {
    HttpUrl url = MustParseUrl("http://127.0.0.1:8081/v1/payments?limit=10");
    EXPECT_EQ(url.endpoint.host, "127.0.0.1");
    EXPECT_EQ(url.endpoint.port, 8081);
    EXPECT_EQ(url.target, "/v1/payments?limit=10");
}

TEST(ParseHttpUrl, DefaultsPortAndTarget) {
    HttpUrl url = MustParseUrl("http://localhost");
    EXPECT_EQ(url.endpoint.host, "localhost");
    EXPECT_EQ(url.endpoint.port, 80);
    EXPECT_EQ(url.target, "/");
    EXPECT_EQ(MustParseUrl("http://localhost?x=1").target, "/?x=1");
}

TEST(ParseHttpUrl, AcceptsBracketedIpv6) {
    HttpUrl url = MustParseUrl("http://[::1]:9000/health");
    EXPECT_EQ(url.endpoint.host, "::1");
    EXPECT_EQ(url.endpoint.port, 9000);
    EXPECT_EQ(url.target, "/health");
}

TEST(ParseHttpUrl, KeepsPlaceholdersInTheTarget) {
    EXPECT_EQ(MustParseUrl("http://h:1/v1/accounts/{{seq}}?k={{unique}}").target,
              "/v1/accounts/{{seq}}?k={{unique}}");
}

TEST(ParseHttpUrl, RejectsWhatItCannotLoad) {
    struct Case {
        std::string_view url;
        std::string_view message_part;
    };
    for (const Case& bad : {
             Case{"https://example.com/", "https is not supported"},
             Case{"ftp://example.com/", "expected a URL like"},
             Case{"127.0.0.1:8081/health", "expected a URL like"},
             Case{"http://:8081/", "missing host"},
             Case{"http://host:0/", "invalid port"},
             Case{"http://host:65536/", "invalid port"},
             Case{"http://host:80a/", "invalid port"},
             Case{"http://host:/", "invalid port"},
             Case{"http://::1:80/", "brackets"},
             Case{"http://[::1/", "unclosed"},
             Case{"http://user:pw@host/", "user info"},
             Case{"http://host/a#frag", "fragments"},
             Case{"http://{{seq}}.example/", "not the host"},
             Case{"http://host/a b", "spaces"},
         }) {
        auto parsed = ParseHttpUrl(bad.url);
        ASSERT_FALSE(parsed.ok()) << bad.url;
        EXPECT_NE(parsed.error().find(bad.message_part), std::string::npos)
            << bad.url << " -> " << parsed.error();
    }
}

TEST(ParseHeaderLine, TrimsTheValue) {
    auto header = ParseHeaderLine("Authorization:   Bearer abc  ");
    ASSERT_TRUE(header.ok());
    EXPECT_EQ(header.value().name, "Authorization");
    EXPECT_EQ(header.value().value, "Bearer abc");
    auto empty = ParseHeaderLine("X-Empty:");
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(empty.value().value, "");
}

TEST(ParseHeaderLine, RejectsMalformedAndEngineOwnedHeaders) {
    for (std::string_view bad :
         {"NoColon", ": value", "Bad Name: x", "X: a\r\nInjected: b", "content-length: 5",
          "Transfer-Encoding: chunked", "Connection: close"}) {
        EXPECT_FALSE(ParseHeaderLine(bad).ok()) << bad;
    }
}

TEST(IsValidMethod, AcceptsTokensOnly) {
    EXPECT_TRUE(IsValidMethod("GET"));
    EXPECT_TRUE(IsValidMethod("PURGE"));
    EXPECT_FALSE(IsValidMethod(""));
    EXPECT_FALSE(IsValidMethod("GE T"));
    EXPECT_FALSE(IsValidMethod("GET\r\n"));
}

TEST(HostHeaderValue, OmitsPort80AndBracketsIpv6) {
    EXPECT_EQ(HostHeaderValue({"example.com", 80}), "example.com");
    EXPECT_EQ(HostHeaderValue({"127.0.0.1", 8081}), "127.0.0.1:8081");
    EXPECT_EQ(HostHeaderValue({"::1", 8081}), "[::1]:8081");
}

TEST(SerializeRequest, WritesRequestLineHostHeadersAndBody) {
    HttpRequest request{"POST", "/v1/x?y=1", {{"Authorization", "Bearer k"}}, R"({"a":1})"};
    std::string wire;
    SerializeRequest(request, "127.0.0.1:8081", wire);
    EXPECT_EQ(wire,
              "POST /v1/x?y=1 HTTP/1.1\r\n"
              "Host: 127.0.0.1:8081\r\n"
              "Authorization: Bearer k\r\n"
              "Content-Length: 7\r\n"
              "\r\n"
              R"({"a":1})");
}

TEST(SerializeRequest, OmitsContentLengthOnlyForBodylessMethodsWithoutBody) {
    std::string get;
    SerializeRequest(HttpRequest{"GET", "/health", {}, ""}, "h", get);
    EXPECT_EQ(get, "GET /health HTTP/1.1\r\nHost: h\r\n\r\n");
    std::string post;
    SerializeRequest(HttpRequest{"POST", "/", {}, ""}, "h", post);
    EXPECT_EQ(post, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
}

TEST(SerializeRequest, KeepsACallerSuppliedHost) {
    std::string wire;
    SerializeRequest(HttpRequest{"GET", "/", {{"host", "api.example"}}, ""}, "127.0.0.1", wire);
    EXPECT_EQ(wire, "GET / HTTP/1.1\r\nhost: api.example\r\n\r\n");
}

TEST(StatusClass, NamesTheHundreds) {
    EXPECT_EQ(StatusClass(200), "2xx");
    EXPECT_EQ(StatusClass(404), "4xx");
    EXPECT_EQ(StatusClass(599), "5xx");
    EXPECT_EQ(StatusClass(99), "other");
    EXPECT_EQ(StatusClass(600), "other");
}

}  // namespace
}  // namespace bench
