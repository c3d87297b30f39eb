#include "commons/http/types.hpp"

#include <algorithm>

#include "commons/assert.hpp"
#include "commons/text.hpp"

namespace commons::http {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string_view MethodName(Method method) {
    switch (method) {
        case Method::kGet:
            return "GET";
        case Method::kHead:
            return "HEAD";
        case Method::kPost:
            return "POST";
        case Method::kPut:
            return "PUT";
        case Method::kPatch:
            return "PATCH";
        case Method::kDelete:
            return "DELETE";
        case Method::kOptions:
            return "OPTIONS";
        case Method::kOther:
            return "OTHER";
    }
    return "OTHER";
}

std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view name) {
    for (const auto& [key, value] : headers) {
        if (EqualsIgnoreCase(key, name)) return std::string_view(value);
    }
    return std::nullopt;
}

const std::string& Request::PathParam(std::string_view name) const {
    for (const auto& [key, value] : path_params) {
        if (key == name) return value;
    }
    PAY_ASSERT(false && "route template has no such parameter");
    std::abort();
}

std::optional<std::string> Request::QueryParam(std::string_view name) const {
    std::string_view rest = query;
    while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? "" : rest.substr(amp + 1);
        auto eq = pair.find('=');
        auto key = PercentDecode(pair.substr(0, eq), true);
        if (!key || *key != name) continue;
        if (eq == std::string_view::npos) return std::string();
        return PercentDecode(pair.substr(eq + 1), true);
    }
    return std::nullopt;
}

void Response::SetHeader(std::string name, std::string value) {
    for (auto& [key, existing] : headers) {
        if (EqualsIgnoreCase(key, name)) {
            existing = std::move(value);
            return;
        }
    }
    headers.emplace_back(std::move(name), std::move(value));
}

Response Response::Json(int status, std::string body) {
    return Response{status, {{"Content-Type", "application/json"}}, std::move(body)};
}

Response Response::Text(int status, std::string body, std::string content_type) {
    return Response{status, {{"Content-Type", std::move(content_type)}}, std::move(body)};
}

Response Response::Error(const ApiError& error) { return Json(error.status, error.ToJson()); }

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            int high = HexValue(text[i + 1]);
            int low = HexValue(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<ApiError> CheckQuery(std::string_view query) {
    constexpr std::size_t kShownBytesMax = 64;
    std::string_view rest = query;
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? "" : rest.substr(amp + 1);
        const auto eq = pair.find('=');
        const auto name = PercentDecode(pair.substr(0, eq), true);
        const std::string shown = SanitizeText(name.value_or(""), kShownBytesMax);
        if (!name || !IsStorableText(*name)) {
            return ApiError::BadRequest("parameter_invalid",
                                        "a query parameter name is not valid percent-encoded "
                                        "UTF-8 text",
                                        shown.empty() ? std::nullopt : std::optional(shown));
        }
        if (eq == std::string_view::npos) continue;
        const auto value = PercentDecode(pair.substr(eq + 1), true);
        if (!value) {
            return ApiError::BadRequest("parameter_invalid",
                                        shown + " has a malformed percent escape", shown);
        }
        if (const TextProblem problem = CheckText(*value); problem != TextProblem::kNone) {
            return ApiError::BadRequest(
                "parameter_invalid", shown + " " + std::string(TextProblemMessage(problem)), shown);
        }
    }
    return std::nullopt;
}

}  // namespace commons::http
