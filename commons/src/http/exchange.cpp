#include "exchange.hpp"

#include <cctype>
#include <string_view>
#include <utility>

#include "commons/assert.hpp"
#include "commons/log.hpp"

namespace commons::http::internal {
namespace {

namespace bhttp = boost::beast::http;

Method ToMethod(bhttp::verb verb) {
    switch (verb) {
        case bhttp::verb::get:
            return Method::kGet;
        case bhttp::verb::head:
            return Method::kHead;
        case bhttp::verb::post:
            return Method::kPost;
        case bhttp::verb::put:
            return Method::kPut;
        case bhttp::verb::patch:
            return Method::kPatch;
        case bhttp::verb::delete_:
            return Method::kDelete;
        case bhttp::verb::options:
            return Method::kOptions;
        default:
            return Method::kOther;
    }
}

std::string Lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The route a request matched, for the innermost pipeline step. Set around each call of the
// composed pipeline on the thread running it.
thread_local const Route* matched_route = nullptr;

}  // namespace

void LimitParser(RequestParser& parser, const ServerSettings& settings) {
    parser.header_limit(static_cast<std::uint32_t>(settings.header_bytes_max));
    parser.body_limit(settings.body_bytes_max);
}

std::optional<Incoming> ReadRequest(const boost::system::error_code& error, RequestParser& parser,
                                    const ServerSettings& settings, std::string remote_address,
                                    std::chrono::steady_clock::time_point now) {
    Incoming incoming;
    if (error == bhttp::error::body_limit) {
        incoming.refusal = Response::Error(ApiError{
            413, ErrorType::kInvalidRequest, "body_too_large",
            "The request body exceeds " + std::to_string(settings.body_bytes_max) + " bytes.",
            std::nullopt});
        return incoming;
    }
    if (error == bhttp::error::header_limit) {
        incoming.refusal =
            Response::Error(ApiError{431, ErrorType::kInvalidRequest, "headers_too_large",
                                     "The request line and headers exceed " +
                                         std::to_string(settings.header_bytes_max) + " bytes.",
                                     std::nullopt});
        return incoming;
    }
    if (error && error.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        error != bhttp::error::end_of_stream && error != bhttp::error::partial_message) {
        incoming.refusal = Response::Error(ApiError::BadRequest(
            "malformed_request", "The request is not valid HTTP/1.1: " + error.message()));
        return incoming;
    }
    if (error) return std::nullopt;  // timeout, reset, or the client went away mid-request
    PAY_ASSERT(parser.is_done());

    auto& message = parser.get();
    Request& request = incoming.request;
    request.method = ToMethod(message.method());
    incoming.head_request = request.method == Method::kHead;
    request.target = std::string(message.target());
    auto question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    request.headers.reserve(16);
    for (const auto& field : message) {
        auto name = field.name_string();
        auto value = field.value();
        request.headers.emplace_back(Lower(std::string_view(name.data(), name.size())),
                                     std::string(value.data(), value.size()));
    }
    request.body = std::move(message.body());
    request.remote_address = std::move(remote_address);
    request.received = now;
    request.deadline = now + settings.request_timeout;
    incoming.keep_alive = message.keep_alive();
    if (request.path.empty() || request.path.front() != '/') {
        incoming.refusal = Response::Error(ApiError::BadRequest(
            "malformed_request", "The request target must be an absolute path."));
        incoming.keep_alive = false;
    } else if (auto refused = CheckQuery(request.query)) {
        incoming.refusal = Response::Error(*refused);
    }
    return incoming;
}

Routed RouteRequest(const Router& router, Request& request) {
    Routed routed;
    RouteMatch match = router.Find(request.method, request.path);
    switch (match.kind) {
        case RouteMatch::Kind::kFound:
            request.route = match.route->path_template;
            request.required_scope = match.route->scope;
            request.path_params = std::move(match.params);
            routed.matched = match.route;
            return routed;
        case RouteMatch::Kind::kMethodNotAllowed: {
            std::string allow;
            for (auto method : match.allowed) {
                if (!allow.empty()) allow += ", ";
                allow += MethodName(method);
            }
            routed.fallback = Route{request.method, "", nullptr, Execution::kInline, {}};
            routed.fallback.handler = [allow](Request& r) {
                Response response = Response::Error(
                    ApiError{405, ErrorType::kInvalidRequest, "method_not_allowed",
                             std::string(MethodName(r.method)) + " is not allowed on " + r.path +
                                 "; allowed: " + allow,
                             std::nullopt});
                response.SetHeader("Allow", allow);
                return response;
            };
            return routed;
        }
        case RouteMatch::Kind::kNotFound:
            routed.fallback = Route{request.method, "", nullptr, Execution::kInline, {}};
            routed.fallback.handler = [](Request& r) {
                return Response::Error(ApiError::NotFound(
                    "No route for " + std::string(MethodName(r.method)) + " " + r.path));
            };
            return routed;
    }
    PAY_ASSERT(false && "unknown route match kind");
    return routed;
}

Pipeline::Pipeline(std::vector<Middleware> middleware, Logger& logger) : logger_(logger) {
    Handler chain = [](Request& request) -> Response {
        PAY_ASSERT(matched_route != nullptr);
        return matched_route->handler(request);
    };
    for (auto it = middleware.rbegin(); it != middleware.rend(); ++it) {
        chain = [step = std::move(*it), next = std::move(chain)](Request& request) {
            return step(request, next);
        };
    }
    entry_ = std::move(chain);
}

Response Pipeline::Run(Request& request, const Route& route) const {
    // Last-resort boundary: the error-boundary middleware normally answers first.
    try {
        matched_route = &route;
        Response response = entry_(request);
        matched_route = nullptr;
        return response;
    } catch (const std::exception& error) {
        matched_route = nullptr;
        logger_.Error("unhandled exception in request pipeline",
                      {{"error", error.what()}, {"path", request.path}});
        return Response::Error(ApiError::Internal());
    } catch (...) {
        matched_route = nullptr;
        logger_.Error("unhandled non-standard exception in request pipeline",
                      {{"path", request.path}});
        return Response::Error(ApiError::Internal());
    }
}

WireResponse BuildResponse(Response response, bool keep_alive, bool head_request, Logger& logger) {
    if (response.status < 200 || response.status > 599) {
        logger.Error("handler returned an invalid status", {{"status", response.status}});
        response = Response::Error(ApiError::Internal());
    }
    if (response.status == 204 || response.status == 304) response.body.clear();
    WireResponse out;
    out.version(11);
    out.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) out.set(name, value);
    out.body() = std::move(response.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    // A response to HEAD carries the headers a GET would, but never a body: a body here would
    // be read as the start of the next response on a kept-alive connection.
    if (head_request) out.body().clear();
    return out;
}

}  // namespace commons::http::internal
