#pragma once

// The outbound HTTP/1.1 client services use to call each other, processors and webhook
// endpoints. No Beast, Asio or OpenSSL here: they stay inside commons/src/http/client.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "commons/http/types.hpp"

namespace commons {
class Logger;
}  // namespace commons

namespace commons::http {

// Which peers the client may connect to. Checked on the addresses a name resolves to, on every
// attempt, so a name cannot point the client at an internal address (SSRF, DNS rebinding).
enum class AddressPolicy {
    kAllowAll,    // service-to-service calls inside the cluster
    kPublicOnly,  // webhook endpoints and anything else a customer chooses
};

struct ClientSettings {
    // Resolving the name, the TCP connect and the TLS handshake of a new connection.
    std::chrono::milliseconds connect_timeout{5'000};
    // One attempt: connect (when no pooled connection is free), write and read the response.
    std::chrono::milliseconds request_timeout{15'000};
    // Open connections per (scheme, host, port), idle or busy; callers beyond wait for one.
    std::size_t connections_per_host_max = 16;
    // Idle keep-alive connections over all hosts; beyond it a finished connection is closed.
    std::size_t idle_connections_max = 256;
    // An idle connection unused this long is closed; below typical server idle timeouts, so we
    // usually close first instead of writing into a connection the server is closing.
    std::chrono::milliseconds idle_connection_timeout{30'000};
    // A longer response body fails with kBodyTooLarge (or is truncated, per request).
    std::size_t response_body_bytes_max = std::size_t{4} * 1024 * 1024;
    // Status line plus headers.
    std::size_t response_header_bytes_max = std::size_t{16} * 1024;
    // Attempts per Send() when the request may be retried, the first one included.
    int attempts_max = 3;
    // Retry n (1-based) sleeps a uniformly random time in [0, min(backoff_max,
    // backoff_initial * 2^(n-1))] ("full jitter"), so many clients do not retry in lockstep.
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{2'000};
    AddressPolicy address_policy = AddressPolicy::kAllowAll;
    // PEM file of trusted CA certificates; empty: the system store (OpenSSL's default paths).
    std::string ca_file;
    // Sent unless the request carries its own User-Agent.
    std::string user_agent = "payments-platform";
};

// When Send() may send a request again after a failed attempt.
enum class RetryPolicy {
    // GET, HEAD, PUT, DELETE, OPTIONS, and any request with an Idempotency-Key header.
    kIfIdempotent,
    kAlways,  // the caller knows repeating the request is harmless
    kNever,
};

// What to do with a response body longer than ClientSettings::response_body_bytes_max.
enum class OversizedBody {
    kFail,      // ClientError kBodyTooLarge
    kTruncate,  // keep the first response_body_bytes_max bytes; ClientResponse::body_truncated
};

struct ClientRequest {
    Method method = Method::kGet;  // not kOther
    std::string url;               // see ParseUrl(); kInvalidUrl when it does not parse
    // Host, Content-Length, Transfer-Encoding and Connection are set by the client; values
    // given here for them are ignored. Names must be tokens and values must not contain CR,
    // LF or NUL (kInvalidRequest otherwise).
    Headers headers;
    std::string body;
    RetryPolicy retry = RetryPolicy::kIfIdempotent;
    // Overall, across attempts and backoff sleeps; typically the incoming request's deadline.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    OversizedBody oversized_body = OversizedBody::kFail;
};

struct ClientResponse {
    int status = 0;
    Headers headers;  // names lower-cased
    std::string body;
    bool body_truncated = false;  // only with OversizedBody::kTruncate
    // How many times the request was started, retries and a stale-connection replay included.
    int attempts = 0;

    std::optional<std::string_view> Header(std::string_view name) const {
        return FindHeader(headers, name);
    }
};

// Send() failed to get a usable response. What the peer saw differs by kind: for kInvalidUrl,
// kInvalidRequest, kResolve, kConnect, kTls and kForbiddenAddress nothing of the last attempt
// was sent; after kTimeout, kConnectionClosed, kProtocol and kShuttingDown the peer may have
// processed it; kBodyTooLarge means it answered. Callers moving money treat "may have" as
// unknown and reconcile, never as failed.
class ClientError : public std::runtime_error {
  public:
    enum class Kind {
        kInvalidUrl,        // not an absolute http(s) URL we can send to
        kInvalidRequest,    // a method or header the client cannot send
        kResolve,           // the host name did not resolve
        kConnect,           // no TCP connection to any resolved address
        kTimeout,           // the attempt's or the overall deadline passed
        kTls,               // handshake failed: untrusted certificate, wrong host name, ...
        kConnectionClosed,  // closed or reset while sending or before the response was whole
        kProtocol,          // the response is not valid HTTP/1.1, or its header is too large
        kBodyTooLarge,      // over response_body_bytes_max with OversizedBody::kFail
        kForbiddenAddress,  // every resolved address is refused by the AddressPolicy
        kShuttingDown,      // the client is being destroyed
    };

    ClientError(Kind kind, const std::string& message, int attempts = 0)
        : std::runtime_error(message), kind_(kind), attempts_(attempts) {}

    Kind kind() const { return kind_; }
    // How many attempts were started before giving up (0 when none was).
    int attempts() const { return attempts_; }

  private:
    Kind kind_;
    int attempts_;
};

std::string_view ClientErrorKindName(ClientError::Kind kind);

// A blocking HTTP/1.1 client with keep-alive pools, TLS, timeouts and retries. Internally it
// runs Beast on its own io thread; Send() blocks the calling thread, so call it from
// BlockingPool threads, never from an io thread (SendAsync() does not block). Thread-safe: many
// threads may call Send() and SendAsync() at once. Redirects are never followed: a 3xx is returned
// like any other response.
class HttpClient {
  public:
    // Throws std::runtime_error when ca_file (or the system store) cannot be loaded.
    // Preconditions (asserted): attempts_max >= 1, connections_per_host_max >= 1, timeouts > 0,
    // 0 <= backoff_initial <= backoff_max.
    HttpClient(ClientSettings settings, Logger& logger);
    // Fails calls still in flight with kShuttingDown, closes every connection and joins the io
    // thread. No Send() may start once destruction has begun.
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Sends `request` and returns the final response, whatever its status. Retries (per the
    // request's RetryPolicy, at most attempts_max attempts, never sleeping past the deadline)
    // on resolve/connect failures, timeouts, a connection lost before the response, and 429,
    // 502, 503, 504; a Retry-After in seconds replaces the backoff, capped at backoff_max.
    // When the retries run out on a retryable status, that response is returned. A pooled
    // connection the peer closed is replaced once without counting against attempts_max when
    // the request cannot have reached the peer (the write failed), or when it broke before any
    // response byte and the policy allows a retry. Adds X-Request-Id from CurrentRequestId()
    // unless the request has one. Throws ClientError.
    ClientResponse Send(const ClientRequest& request);

    // How a SendAsync() call ended: a response, or the ClientError Send() would have thrown.
    using Completion =
        std::function<void(std::optional<ClientResponse> response, std::exception_ptr error)>;
    // Send() without blocking: the same request checks (a bad request or a client shutting
    // down throws ClientError here, before anything is sent), the same attempts and retries,
    // then `done` runs exactly once, on the client's io thread, so it must not block. It may
    // call SendAsync() again. Calls still in flight when the client is destroyed end with
    // kShuttingDown during its destruction.
    void SendAsync(const ClientRequest& request, Completion done);

    struct Stats {
        std::size_t connections_open = 0;  // idle, busy or connecting
        std::size_t connections_idle = 0;
        std::size_t requests_waiting = 0;  // for a connection slot of a host at its bound
        std::size_t requests_in_flight = 0;
    };
    // A consistent-enough snapshot for metrics and tests.
    Stats stats() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A URL split for sending. Host names are lower-cased; IPv6 literals are kept without
// brackets. `target` is the path plus query ("/" when the URL has no path); the fragment is
// dropped.
struct Url {
    bool tls = false;  // https
    std::string host;
    std::uint16_t port = 0;
    std::string target;
};

// nullopt when `text` is not an absolute http:// or https:// URL with a host, or has user
// info, a bad port, spaces or control characters, or non-ASCII bytes.
std::optional<Url> ParseUrl(std::string_view text);

// Why the PEM file at `ca_file` cannot serve as a TLS trust store (missing, unreadable, or
// holding no certificate), or nullopt when it can. For checking configuration at start-up, so
// a bad file is a one-line error naming the setting rather than a failure later.
std::optional<std::string> TrustStoreProblem(const std::string& ca_file);

// What an IP address is for, as far as AddressPolicy cares.
enum class AddressClass {
    kPublic,
    kUnspecified,         // 0.0.0.0/8, ::
    kLoopback,            // 127.0.0.0/8, ::1
    kPrivate,             // 10/8, 172.16/12, 192.168/16, deprecated fec0::/10
    kSharedAddressSpace,  // 100.64.0.0/10 (carrier-grade NAT)
    kLinkLocal,           // 169.254/16, fe80::/10
    kUniqueLocal,         // fc00::/7
    kMulticast,           // 224/4, ff00::/8
    kReserved,  // benchmarking, documentation, protocol assignments, 240/4, broadcast, ...
};

// Classifies an IPv4 or IPv6 literal (no brackets, no zone). IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are classified by the
// IPv4 address they carry. nullopt when `literal` is not an address.
std::optional<AddressClass> ClassifyAddress(std::string_view literal);

// Whether `policy` lets the client connect to an address of this class.
bool AddressAllowed(AddressPolicy policy, AddressClass address_class);

}  // namespace commons::http
