#pragma once

// The HTTP types every service sees. No Beast here: sockets, parsers and timers stay inside
// commons/src/http (see DESIGN.md, "Only commons/http includes Beast headers").

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commons/errors.hpp"

namespace commons::http {

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };

std::string_view MethodName(Method method);

using Headers = std::vector<std::pair<std::string, std::string>>;

// Finds a header by case-insensitive name; the first one when repeated.
std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view name);

struct Request {
    Method method = Method::kGet;
    std::string target;  // as received: path plus query
    std::string path;    // target up to '?'
    std::string query;   // after '?', still percent-encoded
    Headers headers;     // names lower-cased
    std::string body;
    std::string remote_address;
    std::chrono::steady_clock::time_point received;
    // Handlers should finish by this moment; outbound calls get the time left.
    std::chrono::steady_clock::time_point deadline;

    // Filled by routing.
    std::string route;  // the matched template, e.g. "/v1/accounts/{id}"; "" when unmatched
    std::string required_scope;  // the matched route's scope; "" for none
    std::vector<std::pair<std::string, std::string>> path_params;  // percent-decoded

    // Filled by middleware.
    std::string request_id;
    std::string key_id;  // the authenticated API key's id

    std::optional<std::string_view> Header(std::string_view name) const {
        return FindHeader(headers, name);
    }
    // Precondition: the route template declares `name`.
    const std::string& PathParam(std::string_view name) const;
    // The percent-decoded value of the first `name=` in the query; nullopt when absent.
    std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;

    void SetHeader(std::string name, std::string value);
    std::optional<std::string_view> Header(std::string_view name) const {
        return FindHeader(headers, name);
    }

    static Response Json(int status, std::string body);
    static Response Text(int status, std::string body, std::string content_type);
    static Response Error(const ApiError& error);
};

using Handler = std::function<Response(Request&)>;

// A step of the request pipeline: may answer itself or call `next`.
using Middleware = std::function<Response(Request&, const Handler& next)>;

// Decodes %XX and (when `plus_is_space`) '+'; nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// The 400 for a raw query string that has a name or value that does not percent-decode, or
// decodes to text PostgreSQL cannot store (commons::CheckText); nullopt when every pair is fine.
// The server applies it to every request, so handlers' QueryParam sees storable text only and
// a malformed parameter is never silently read as absent.
std::optional<ApiError> CheckQuery(std::string_view query);

}  // namespace commons::http
