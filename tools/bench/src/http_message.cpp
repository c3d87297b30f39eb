#include "bench/http_message.hpp"

#include <algorithm>
#include <charconv>

namespace bench {
namespace {

bool IsTokenChar(char c) {
    if (c >= 'a' && c <= 'z') return true;
    if (c >= 'A' && c <= 'Z') return true;
    if (c >= '0' && c <= '9') return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view Trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

}  // namespace

commons::Result<HttpUrl, std::string> ParseHttpUrl(std::string_view url) {
    constexpr std::string_view kScheme = "http://";
    if (url.starts_with("https://")) {
        return std::string(
            "https is not supported: bench measures the HTTP layer; point it at "
            "the service's plain HTTP port");
    }
    if (!url.starts_with(kScheme)) {
        return "expected a URL like http://127.0.0.1:8081/path, got \"" + std::string(url) + "\"";
    }
    std::string_view rest = url.substr(kScheme.size());
    std::size_t authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view target =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    if (target.find('#') != std::string_view::npos) {
        return std::string("URL fragments (#...) are never sent to a server; remove it");
    }
    if (authority.find('@') != std::string_view::npos) {
        return std::string("user info in the URL is not supported; use --header Authorization");
    }
    if (authority.find("{{") != std::string_view::npos) {
        return std::string("placeholders are allowed in the URL path and query, not the host");
    }

    HttpUrl parsed;
    std::string_view host;
    std::string_view port_text;
    if (authority.starts_with('[')) {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return "unclosed '[' in the host of \"" + std::string(url) + "\"";
        }
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':')
                return "unexpected text after ']' in \"" + std::string(url) + "\"";
            port_text = after.substr(1);
        }
    } else {
        std::size_t colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
        if (port_text.find(':') != std::string_view::npos) {
            return "an IPv6 host needs brackets: http://[::1]:8081/, got \"" + std::string(url) +
                   "\"";
        }
    }
    if (host.empty()) return "missing host in \"" + std::string(url) + "\"";
    parsed.endpoint.host = std::string(host);
    if (!port_text.empty() || authority.ends_with(':')) {
        unsigned port = 0;
        auto [stop, error] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (error != std::errc() || stop != port_text.data() + port_text.size() || port == 0 ||
            port > 65535) {
            return "invalid port \"" + std::string(port_text) + "\" in \"" + std::string(url) +
                   "\"; expected 1-65535";
        }
        parsed.endpoint.port = static_cast<std::uint16_t>(port);
    }
    if (target.empty()) {
        parsed.target = "/";
    } else if (target.front() == '?') {
        parsed.target = "/" + std::string(target);
    } else {
        parsed.target = std::string(target);
    }
    if (std::any_of(parsed.target.begin(), parsed.target.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        return std::string(
            "the URL path and query must not contain spaces or control "
            "characters; percent-encode them");
    }
    return parsed;
}

commons::Result<Header, std::string> ParseHeaderLine(std::string_view line) {
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        return R"(expected "Name: value", got ")" + std::string(line) + "\"";
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = Trim(line.substr(colon + 1));
    if (!IsToken(name)) {
        return "invalid header name \"" + std::string(name) +
               "\": letters, digits and !#$%&'*+-.^_`|~ only";
    }
    if (std::any_of(value.begin(), value.end(), [](char c) {
            return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
        })) {
        return "header " + std::string(name) + " has a control character in its value";
    }
    for (std::string_view owned : {"Content-Length", "Transfer-Encoding", "Connection"}) {
        if (EqualsIgnoringCase(name, owned)) {
            return "header " + std::string(owned) +
                   " is set by bench (it owns framing and keep-alive); remove it";
        }
    }
    return Header{std::string(name), std::string(value)};
}

bool IsValidMethod(std::string_view method) { return IsToken(method); }

std::string HostHeaderValue(const Endpoint& endpoint) {
    // Appended piece by piece: GCC 12 at -O3 misreports `"[" + host + "]"` as an overlapping
    // memcpy (-Wrestrict), which -Werror turns into a failed Release build.
    const bool ipv6 = endpoint.host.find(':') != std::string::npos;
    std::string host;
    if (ipv6) host += '[';
    host += endpoint.host;
    if (ipv6) host += ']';
    if (endpoint.port != 80) {
        host += ':';
        host += std::to_string(endpoint.port);
    }
    return host;
}

void SerializeRequest(const HttpRequest& request, std::string_view host, std::string& out) {
    out += request.method;
    out += ' ';
    out += request.target;
    out += " HTTP/1.1\r\n";
    bool has_host = false;
    for (const Header& header : request.headers) {
        has_host = has_host || EqualsIgnoringCase(header.name, "Host");
    }
    if (!has_host) {
        out += "Host: ";
        out += host;
        out += "\r\n";
    }
    for (const Header& header : request.headers) {
        out += header.name;
        out += ": ";
        out += header.value;
        out += "\r\n";
    }
    // RFC 9110 section 8.6: a POST, PUT or PATCH without a body still says Content-Length: 0, or
    // some servers wait for a body that never comes.
    const bool expects_body =
        request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
    if (!request.body.empty() || expects_body) {
        out += "Content-Length: ";
        out += std::to_string(request.body.size());
        out += "\r\n";
    }
    out += "\r\n";
    out += request.body;
}

std::string StatusClass(int status) {
    if (status < 100 || status > 599) return "other";
    return std::to_string(status / 100) + "xx";
}

}  // namespace bench
