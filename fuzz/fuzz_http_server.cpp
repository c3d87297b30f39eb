// The HTTP server's request path (commons/src/http/exchange.hpp, the steps server.cpp runs
// around its socket): the input is the bytes a client sends on one connection, fed to Beast's
// parser with the server's limits in chunks, then turned into a Request, routed, run through
// middleware (request id, error boundary, API-key authentication) and a handler, and written
// back as the server writes it; pipelined requests are served in turn while the connection
// stays open. Asserted:
//   - a request that reaches a handler has a target that is its path plus '?' and query, a path
//     starting with '/', lower-case token header names, header values without CR, LF or NUL
//     (so reflecting one into a response header cannot split it), and a body within the limit;
//   - routing: the route's template matches the path segment by segment, literal segments
//     exactly and each parameter as the percent-decoding of its raw segment, non-empty and
//     storable text; 405 answers carry Allow;
//   - query parameters: QueryParam agrees with a reference decoding of the raw query, and
//     values re-encoded with a reference encoder decode to themselves;
//   - refusals are 400, 413 or 431 and close the connection;
//   - the bytes written parse as one HTTP/1.1 response with the handler's status (a 500 for an
//     invalid one), its body (none for HEAD, 204 and 304), and Connection: close when closing.

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "commons/config.hpp"
#include "commons/crypto.hpp"
#include "commons/http/router.hpp"
#include "commons/http/server.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/secrets.hpp"
#include "commons/text.hpp"
#include "http/exchange.hpp"
#include "middleware/auth.hpp"
#include "middleware/idempotency.hpp"
#include "middleware/pipeline.hpp"

namespace {

namespace bhttp = boost::beast::http;
using commons::http::Method;
using commons::http::Request;
using commons::http::Response;

constexpr std::size_t kRequestsPerConnectionMax = 8;
constexpr std::string_view kApiKey = "sk_test_fuzz";

// Bytes arriving on a connection, `chunk` at a time; end of stream after the last.
class InputStream {
  public:
    InputStream(std::string_view data, std::size_t chunk) : data_(data), chunk_(chunk) {}

    template <typename Buffers>
    std::size_t read_some(const Buffers& buffers, boost::system::error_code& error) {
        if (data_.empty()) {
            error = boost::asio::error::eof;
            return 0;
        }
        error = {};
        const std::size_t n = boost::asio::buffer_copy(
            buffers, boost::asio::buffer(data_.data(), std::min(chunk_, data_.size())));
        data_.remove_prefix(n);
        return n;
    }
    template <typename Buffers>
    std::size_t read_some(const Buffers& buffers) {
        boost::system::error_code error;
        const std::size_t n = read_some(buffers, error);
        if (error) throw boost::system::system_error(error);
        return n;
    }

  private:
    std::string_view data_;
    std::size_t chunk_;
};

// Collects what the server writes.
class OutputStream {
  public:
    template <typename Buffers>
    std::size_t write_some(const Buffers& buffers, boost::system::error_code& error) {
        error = {};
        const std::size_t n = boost::asio::buffer_size(buffers);
        const std::size_t at = written_.size();
        written_.resize(at + n);
        boost::asio::buffer_copy(boost::asio::buffer(written_.data() + at, n), buffers);
        return n;
    }
    template <typename Buffers>
    std::size_t write_some(const Buffers& buffers) {
        boost::system::error_code error;
        return write_some(buffers, error);
    }
    std::string& written() { return written_; }

  private:
    std::string written_;
};

bool IsUnreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// Percent-encodes every byte but the unreserved ones (RFC 3986).
std::string Encode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (IsUnreserved(byte)) {
            out.push_back(c);
        } else {
            out += '%';
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
        }
    }
    return out;
}

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding written from RFC 3986 (and '+' as space in queries).
std::optional<std::string> ReferenceDecode(std::string_view text, bool plus_is_space) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int high = HexValue(text[i + 1]);
            const int low = HexValue(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else {
            out.push_back(plus_is_space && text[i] == '+' ? ' ' : text[i]);
        }
    }
    return out;
}

std::vector<std::string_view> Segments(std::string_view path) {
    std::vector<std::string_view> out;
    path.remove_prefix(1);  // the leading '/'
    for (;;) {
        const auto slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) return out;
        path.remove_prefix(slash + 1);
    }
}

bool IsTokenChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void CheckRequest(const Request& request, const commons::http::ServerSettings& settings) {
    FUZZ_CHECK(!request.path.empty() && request.path.front() == '/');
    FUZZ_CHECK(request.path.find('?') == std::string::npos);
    const bool has_query = request.target.size() > request.path.size();
    FUZZ_CHECK_WITH(request.target == request.path + (has_query ? "?" + request.query : ""),
                    request.target);
    FUZZ_CHECK(request.body.size() <= settings.body_bytes_max);
    for (const auto& [name, value] : request.headers) {
        FUZZ_CHECK_WITH(!name.empty(), name);
        for (char c : name) FUZZ_CHECK_WITH(IsTokenChar(c), name);
        FUZZ_CHECK_WITH(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos,
                        value);
    }
}

// Checks what a handler sees of the route, the path parameters and the query, and answers
// with them.
Response Inspect(Request& request) {
    FUZZ_CHECK(!request.route.empty());
    const auto raw = Segments(request.path);
    const auto templates = Segments(request.route);
    FUZZ_CHECK_WITH(raw.size() == templates.size(), request.path);
    nlohmann::json params = nlohmann::json::object();
    for (std::size_t i = 0; i < templates.size(); ++i) {
        const std::string_view expected = templates[i];
        if (expected.size() > 2 && expected.front() == '{') {
            const std::string name(expected.substr(1, expected.size() - 2));
            const std::string& value = request.PathParam(name);
            FUZZ_CHECK_WITH(!value.empty() && commons::IsStorableText(value), request.path);
            FUZZ_CHECK_WITH(ReferenceDecode(raw[i], false) == value, request.path);
            FUZZ_CHECK(commons::http::PercentDecode(Encode(value), false) == value);
            params[name] = value;
        } else {
            FUZZ_CHECK_WITH(raw[i] == expected, request.path);
        }
    }

    // Every pair of the query, the first one of each name winning, as a reference reads it.
    nlohmann::json query = nlohmann::json::object();
    std::string reencoded;
    std::string_view rest = request.query;
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        const auto eq = pair.find('=');
        const auto name = ReferenceDecode(pair.substr(0, eq), true);
        // The server refuses a query with a pair that does not decode (CheckQuery).
        FUZZ_CHECK_WITH(name.has_value(), request.query);
        const auto value = eq == std::string_view::npos
                               ? std::optional<std::string>(std::string())
                               : ReferenceDecode(pair.substr(eq + 1), true);
        FUZZ_CHECK_WITH(value.has_value(), request.query);
        FUZZ_CHECK_WITH(commons::IsStorableText(*name) && commons::IsStorableText(*value),
                        request.query);
        if (query.contains(*name)) continue;
        FUZZ_CHECK_WITH(request.QueryParam(*name) == value, request.query);
        query[*name] = *value;
        if (!reencoded.empty()) reencoded += '&';
        reencoded += Encode(*name) + "=" + Encode(*value);
    }
    Request copy;
    copy.query = reencoded;
    for (const auto& [name, value] : query.items()) {
        FUZZ_CHECK(copy.QueryParam(name) == value.get<std::string>());
    }
    FUZZ_CHECK(!request.QueryParam("\x01never-a-parameter").has_value());

    Response response = Response::Json(
        200, nlohmann::json{{"route", request.route}, {"params", params}, {"query", query}}.dump(
                 -1, ' ', false, nlohmann::json::error_handler_t::replace));
    // A request header reflected into a response header: safe only because header values never
    // hold CR or LF (CheckRequest).
    if (auto echo = request.Header("x-echo")) response.SetHeader("X-Echo", std::string(*echo));
    return response;
}

struct Server {
    commons::http::ServerSettings settings;
    std::FILE* null_output = std::fopen("/dev/null", "w");
    commons::Logger logger{"fuzz", null_output, commons::LogLevel::kError};
    commons::IdGenerator ids;
    commons::SecretStore secrets{
        std::nullopt,
        commons::MapEnvironment({{"PAYMENTS_API_KEYS", "fuzz " + commons::Sha256Hex(kApiKey) +
                                                           " ledger:read,ledger:write"}})};
    middleware::ApiKeyStore api_keys{secrets, logger, std::chrono::hours(1)};
    commons::http::Router router;
    std::unique_ptr<commons::http::internal::Pipeline> pipeline;

    Server() {
        // Small limits, so that inputs of a few kilobytes reach them.
        settings.header_bytes_max = 1024;
        settings.body_bytes_max = 512;
        using commons::http::Execution;
        using commons::http::RouteOptions;
        const RouteOptions read{Execution::kBlocking, "ledger:read"};
        const RouteOptions write{Execution::kBlocking, "ledger:write"};
        const RouteOptions admin{Execution::kBlocking, "ledger:admin"};
        router.Add(
            Method::kGet, "/health", [](Request&) { return Response::Json(200, "{}"); },
            Execution::kInline);
        router.Add(Method::kGet, "/v1/accounts", Inspect, read);
        router.Add(Method::kPost, "/v1/accounts", Inspect, write);
        router.Add(Method::kGet, "/v1/accounts/export", Inspect, read);
        router.Add(Method::kGet, "/v1/accounts/{id}", Inspect, read);
        router.Add(Method::kGet, "/v1/accounts/{id}/entries", Inspect, read);
        router.Add(Method::kPost, "/v1/transactions/{id}/post", Inspect, write);
        router.Add(Method::kGet, "/v1/items/{a}/{b}", Inspect, read);
        router.Add(Method::kPatch, "/v1/items/{a}/{b}", Inspect, write);
        router.Add(Method::kDelete, "/v1/items/{a}/{b}", Inspect, admin);
        router.Add(Method::kPost, "/v1/inbound/stripe", Inspect);
        router.Add(Method::kPost, "/echo", [](Request& request) {
            // The idempotency fingerprint of a JSON body ignores its formatting.
            const auto body = nlohmann::json::parse(request.body, nullptr, false);
            if (!body.is_discarded()) {
                FUZZ_CHECK(middleware::BodyFingerprint(request.body) ==
                           middleware::BodyFingerprint(
                               body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)));
            }
            return Response::Text(200, request.body, "application/octet-stream");
        });
        router.Add(Method::kGet, "/throws",
                   [](Request&) -> Response { throw std::runtime_error("handler failed"); });
        router.Add(Method::kGet, "/status/{code}", [](Request& request) {
            const std::string& code = request.PathParam("code");
            Response response = Response::Text(200, "status body", "text/plain");
            if (code.size() <= 4 && code.find_first_not_of("0123456789") == std::string::npos) {
                response.status = std::stoi(code);
            }
            return response;
        });
        pipeline = std::make_unique<commons::http::internal::Pipeline>(
            std::vector<commons::http::Middleware>{
                middleware::RequestId(ids), middleware::ErrorBoundary(logger),
                middleware::Authentication(api_keys, {"/v1/inbound/"})},
            logger);
    }
};

Server& TheServer() {
    static Server server;
    return server;
}

// Parses what the server wrote back and checks it is the response it meant to send.
void CheckWritten(std::string& written, int status, const std::string& body, bool head_request,
                  bool keep_alive) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(head_request);
    parser.eager(true);
    boost::system::error_code error;
    const std::size_t used = parser.put(boost::asio::buffer(written), error);
    FUZZ_CHECK_WITH(!error && parser.is_done(), written);
    FUZZ_CHECK_WITH(used == written.size(), written);
    const auto& message = parser.get();
    FUZZ_CHECK(message.result_int() == static_cast<unsigned>(status));
    const bool bodiless = head_request || status == 204 || status == 304;
    FUZZ_CHECK_WITH(message.body() == (bodiless ? std::string() : body), written);
    FUZZ_CHECK(message.keep_alive() == keep_alive);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Server& server = TheServer();
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    // Vary how the bytes arrive, so the parser is fed every split of them.
    InputStream stream(input, 1 + size % 61);
    boost::beast::flat_buffer buffer;

    for (std::size_t served = 0; served < kRequestsPerConnectionMax; ++served) {
        boost::system::error_code error;
        // As the server: a first read before the header's deadline starts.
        if (buffer.size() == 0) {
            const std::size_t n = stream.read_some(
                buffer.prepare(std::min<std::size_t>(server.settings.header_bytes_max, 4096)),
                error);
            if (error) break;
            buffer.commit(n);
        }
        commons::http::internal::RequestParser parser;
        commons::http::internal::LimitParser(parser, server.settings);
        bhttp::read_header(stream, buffer, parser, error);
        if (!error && !parser.is_done()) bhttp::read(stream, buffer, parser, error);
        auto incoming = commons::http::internal::ReadRequest(
            error, parser, server.settings, "127.0.0.1", std::chrono::steady_clock::now());
        if (!incoming) break;

        Response response;
        if (incoming->refusal) {
            response = std::move(*incoming->refusal);
            FUZZ_CHECK(response.status == 400 || response.status == 413 || response.status == 431);
            if (response.status != 400) FUZZ_CHECK(!incoming->keep_alive);
        } else {
            Request& request = incoming->request;
            CheckRequest(request, server.settings);
            const auto routed = commons::http::internal::RouteRequest(server.router, request);
            response = server.pipeline->Run(request, routed.route());
            if (!routed.matched && response.status == 405) {
                FUZZ_CHECK(response.Header("Allow").has_value() &&
                           !response.Header("Allow")->empty());
            }
        }
        const bool keep_alive = incoming->keep_alive;
        const bool valid_status = response.status >= 200 && response.status <= 599;
        const int status = valid_status ? response.status : 500;
        const std::string body = valid_status ? response.body : std::string();
        auto out = commons::http::internal::BuildResponse(std::move(response), keep_alive,
                                                          incoming->head_request, server.logger);
        OutputStream written;
        bhttp::write(written, out, error);
        FUZZ_CHECK(!error);
        if (valid_status) {
            CheckWritten(written.written(), status, body, incoming->head_request, keep_alive);
        } else {
            FUZZ_CHECK(out.result_int() == 500);
        }
        if (!keep_alive) break;
    }
    return 0;
}
