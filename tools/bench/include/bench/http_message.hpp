#pragma once

// Plain HTTP/1.1 request and response values as scenarios see them. No Beast here: only the
// load engine's .cpp speaks sockets.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commons/result.hpp"

namespace bench {

// Where connections go. `host` is a name or an address literal (IPv6 without brackets).
struct Endpoint {
    std::string host;
    std::uint16_t port = 80;
};

struct Header {
    std::string name;
    std::string value;
};

// One request as a scenario makes it. The engine adds Host (unless present) and
// Content-Length; `target` is the origin form: path plus optional query.
struct HttpRequest {
    std::string method = "GET";
    std::string target = "/";
    std::vector<Header> headers;
    std::string body;
};

// What a scenario may inspect to classify a response.
struct HttpResponse {
    int status = 0;
    std::string body;
};

// An http:// URL split into where to connect and what to ask for. The target is kept verbatim
// (placeholders included); the authority may not contain placeholders.
struct HttpUrl {
    Endpoint endpoint;
    std::string target;  // starts with '/'
};

// Parses "http://host[:port][/path][?query]". https, user info and fragments are rejected
// with a message saying why.
commons::Result<HttpUrl, std::string> ParseHttpUrl(std::string_view url);

// Parses a "Name: value" header line (value trimmed). The name must be an HTTP token, the
// value free of control characters; Content-Length, Transfer-Encoding and Connection are
// refused because the engine owns framing and connection reuse.
commons::Result<Header, std::string> ParseHeaderLine(std::string_view line);

// True if `method` is an HTTP token (e.g. GET, POST, PURGE).
bool IsValidMethod(std::string_view method);

// The Host header value for `endpoint`: host[:port], with brackets for IPv6 and no port for 80.
std::string HostHeaderValue(const Endpoint& endpoint);

// Appends the wire form of `request` to `out`: request line, Host (unless the request has one),
// the request's headers, Content-Length when there is a body or the method usually has one,
// the blank line and the body.
void SerializeRequest(const HttpRequest& request, std::string_view host, std::string& out);

// A status class as reported: "2xx", "4xx", ...; "other" outside 100-599.
std::string StatusClass(int status);

}  // namespace bench
