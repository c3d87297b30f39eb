#pragma once

// JSON conveniences for HttpClient. Header-only, so commons itself does not make nlohmann part
// of its interface; include it from targets that link nlohmann_json (services' api/ and app/
// adapters, tests).

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "commons/http/client.hpp"

namespace commons::http {

// A request carrying `body` serialised as JSON, with Content-Type and Accept set.
inline ClientRequest JsonRequest(Method method, std::string url, const nlohmann::json& body) {
    ClientRequest request;
    request.method = method;
    request.url = std::move(url);
    request.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    request.body = body.dump();
    return request;
}

// A request without a body that asks for JSON (GET, DELETE).
inline ClientRequest JsonRequest(Method method, std::string url) {
    ClientRequest request;
    request.method = method;
    request.url = std::move(url);
    request.headers = {{"Accept", "application/json"}};
    return request;
}

// The response body parsed as JSON, whatever the status (error bodies are JSON too). Throws
// ClientError kProtocol when the body is not JSON; the message does not quote the body
// (nlohmann's own message does, and bodies may carry personal data).
inline nlohmann::json ParseJsonBody(const ClientResponse& response) {
    try {
        return nlohmann::json::parse(response.body);
    } catch (const nlohmann::json::parse_error& error) {
        throw ClientError(ClientError::Kind::kProtocol,
                          "the response body (status " + std::to_string(response.status) +
                              ") is not JSON (error at byte " + std::to_string(error.byte) + ")",
                          response.attempts);
    }
}

}  // namespace commons::http
