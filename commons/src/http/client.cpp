#include "commons/http/client.hpp"

// commons/http/client.hpp includes <utility> through types.hpp before any Boost header: Boost
// 1.74's awaitable header uses std::exchange without including it.
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <deque>
#include <future>
#include <limits>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "commons/assert.hpp"
#include "commons/log.hpp"

namespace commons::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Kind = ClientError::Kind;
using namespace std::chrono_literals;

// Bodies are read in chunks of this size so the cap is enforced before memory is spent.
constexpr std::size_t kBodyChunkBytes = std::size_t{16} * 1024;
// Send() waits this much past the time the call can take at most before it gives up on it. Only
// a name lookup stuck in getaddrinfo (which Asio cannot interrupt) should ever need it.
constexpr auto kAbandonMargin = 2s;
// Idle connections are swept at a quarter of their timeout, within these bounds.
constexpr auto kSweepIntervalMin = 10ms;
constexpr auto kSweepIntervalMax = 5s;
// Retry-After values longer than this many digits are treated as "very long".
constexpr std::size_t kRetryAfterDigitsMax = 9;

std::string Lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && Lower(a) == Lower(b);
}

std::optional<bhttp::verb> ToVerb(Method method) {
    switch (method) {
        case Method::kGet:
            return bhttp::verb::get;
        case Method::kHead:
            return bhttp::verb::head;
        case Method::kPost:
            return bhttp::verb::post;
        case Method::kPut:
            return bhttp::verb::put;
        case Method::kPatch:
            return bhttp::verb::patch;
        case Method::kDelete:
            return bhttp::verb::delete_;
        case Method::kOptions:
            return bhttp::verb::options;
        case Method::kOther:
            return std::nullopt;
    }
    return std::nullopt;
}

bool IsIdempotent(Method method) {
    switch (method) {
        case Method::kGet:
        case Method::kHead:
        case Method::kPut:
        case Method::kDelete:
        case Method::kOptions:
            return true;
        case Method::kPost:
        case Method::kPatch:
        case Method::kOther:
            return false;
    }
    return false;
}

// RFC 9110 token characters.
bool IsHeaderName(std::string_view name) {
    if (name.empty()) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

bool IsHeaderValue(std::string_view value) {
    return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers the client writes itself; a caller's value would corrupt the framing or the pool.
bool IsClientOwnedHeader(std::string_view name) {
    for (std::string_view owned : {"host", "content-length", "transfer-encoding", "connection"}) {
        if (EqualsIgnoreCase(name, owned)) return true;
    }
    return false;
}

bool IsRetryableStatus(int status) {
    return status == 429 || status == 502 || status == 503 || status == 504;
}

TimePoint Earliest(TimePoint time, std::optional<TimePoint> other) {
    return other && *other < time ? *other : time;
}

// The URL as safe to log or put in an error: the query may carry tokens, so it is cut off.
std::string PathOnly(std::string_view target) {
    return std::string(target.substr(0, target.find('?')));
}

AddressClass ClassifyV4(std::uint32_t address) {
    auto in = [address](std::uint32_t network, int prefix_bits) {
        std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix_bits);
        return (address & mask) == network;
    };
    if (in(0x00000000, 8)) return AddressClass::kUnspecified;  // "this network"; 0.0.0.0
    if (in(0x7f000000, 8)) return AddressClass::kLoopback;
    if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16)) {
        return AddressClass::kPrivate;
    }
    if (in(0x64400000, 10)) return AddressClass::kSharedAddressSpace;
    if (in(0xa9fe0000, 16)) return AddressClass::kLinkLocal;
    if (in(0xe0000000, 4)) return AddressClass::kMulticast;
    if (in(0xf0000000, 4) ||   // future use, and 255.255.255.255
        in(0xc0000000, 24) ||  // IETF protocol assignments
        in(0xc0000200, 24) ||  // TEST-NET-1
        in(0xc0586300, 24) ||  // 6to4 relay anycast
        in(0xc6120000, 15) ||  // benchmarking
        in(0xc6336400, 24) ||  // TEST-NET-2
        in(0xcb007100, 24)) {  // TEST-NET-3
        return AddressClass::kReserved;
    }
    return AddressClass::kPublic;
}

AddressClass Classify(const net::ip::address& address) {
    if (address.is_v4()) return ClassifyV4(address.to_v4().to_uint());
    const auto bytes = address.to_v6().to_bytes();
    auto v4_at = [&bytes](std::size_t offset) {
        return (std::uint32_t{bytes[offset]} << 24) | (std::uint32_t{bytes[offset + 1]} << 16) |
               (std::uint32_t{bytes[offset + 2]} << 8) | std::uint32_t{bytes[offset + 3]};
    };
    auto zero = [&bytes](std::size_t from, std::size_t to) {
        return std::all_of(bytes.begin() + from, bytes.begin() + to, [](auto b) { return b == 0; });
    };
    if (address.to_v6().is_unspecified()) return AddressClass::kUnspecified;
    if (address.to_v6().is_loopback()) return AddressClass::kLoopback;
    // IPv4-mapped ::ffff:a.b.c.d: the kernel connects to the IPv4 address itself.
    if (zero(0, 10) && bytes[10] == 0xff && bytes[11] == 0xff) return ClassifyV4(v4_at(12));
    // Deprecated IPv4-compatible ::a.b.c.d.
    if (zero(0, 12)) return ClassifyV4(v4_at(12));
    // NAT64 well-known prefix 64:ff9b::/96: a translator forwards to the IPv4 address.
    if (bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b &&
        zero(4, 12)) {
        return ClassifyV4(v4_at(12));
    }
    // 6to4 2002:AABB:CCDD::/48 carries the IPv4 address in bits 16..48.
    if (bytes[0] == 0x20 && bytes[1] == 0x02) return ClassifyV4(v4_at(2));
    if (bytes[0] == 0xff) return AddressClass::kMulticast;
    if (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;
    if (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0xc0) return AddressClass::kPrivate;  // site-local
    if ((bytes[0] & 0xfe) == 0xfc) return AddressClass::kUniqueLocal;
    if (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8) {
        return AddressClass::kReserved;  // documentation 2001:db8::/32
    }
    if (bytes[0] == 0x01 && zero(1, 8)) return AddressClass::kReserved;  // discard 100::/64
    return AddressClass::kPublic;
}

// Why one attempt failed, and whether trying again could help.
struct Failure {
    Kind kind;
    std::string message;
    bool transient = false;
};

Failure ShuttingDown() {
    return Failure{Kind::kShuttingDown, "the HTTP client is shutting down", false};
}

// The peer closed or reset the connection (as opposed to a timeout or a malformed response).
bool IsConnectionLoss(const boost::system::error_code& error) {
    return error == net::error::eof || error == bhttp::error::end_of_stream ||
           error == net::error::connection_reset || error == net::error::connection_aborted ||
           error == net::error::broken_pipe || error == net::error::not_connected ||
           error == ssl::error::stream_truncated;
}

std::optional<std::chrono::milliseconds> ParseRetryAfterSeconds(std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty() ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;  // absent, or an HTTP date: use the backoff
    }
    if (value.size() > kRetryAfterDigitsMax) return std::chrono::milliseconds::max();
    return std::chrono::seconds(std::stoll(std::string(value)));
}

// One keep-alive connection: plain TCP or TLS over TCP, plus the bytes read past a response.
struct Connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    TimePoint idle_since;

    beast::tcp_stream& Lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

void Close(Connection& connection) {
    // No TLS close_notify: the peer learns from the TCP close, and waiting for its answer
    // could block on a peer that does not send one.
    boost::system::error_code ignored;
    connection.Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    connection.Lowest().close();
}

// A caller of Acquire() waiting for a host at its bound. Release() hands it either an idle
// connection or the slot of a closed one, then cancels its timer to wake it.
struct Waiter {
    explicit Waiter(net::io_context& io) : timer(io) {}
    net::steady_timer timer;
    bool granted = false;
    std::unique_ptr<Connection> connection;  // null with `granted`: connect afresh
};

// The connections of one (scheme, host, port). `open` counts idle, busy and connecting ones;
// a pool with waiters is at its bound, so it has no idle connection.
struct HostPool {
    std::vector<std::unique_ptr<Connection>> idle;  // most recently used last
    std::size_t open = 0;
    std::deque<Waiter*> waiters;
};

// One Send(). Owned by the caller's shared_ptr and the coroutine running it, so an abandoned
// call can finish on its own.
struct Call {
    Url url;
    Method method = Method::kGet;
    OversizedBody oversized_body = OversizedBody::kFail;
    bool retry_allowed = false;
    std::optional<TimePoint> deadline;
    std::string pool_key;
    std::string where;  // "https://host:port/path" for messages and logs; no query
    std::string request_id;
    bhttp::request<bhttp::string_body> message;
    int attempts = 0;                      // every attempt started, replays included
    int policy_attempts = 0;               // the ones attempts_max bounds
    std::promise<ClientResponse> promise;  // Send()'s
    HttpClient::Completion done;           // or SendAsync()'s

    // What Shutdown() cancels: the operation this call currently waits on. io thread only.
    net::steady_timer* timer = nullptr;
    tcp::resolver* resolver = nullptr;
    beast::tcp_stream* stream = nullptr;
};

struct AttemptResult {
    std::optional<ClientResponse> response;
    std::optional<Failure> failure;
};

struct ExchangeResult {
    std::optional<ClientResponse> response;
    bool reusable = false;
    std::optional<Failure> failure;
    bool write_failed = false;            // the peer cannot have the whole request
    bool closed_before_response = false;  // closed or reset with no response byte read
};

}  // namespace

std::string_view ClientErrorKindName(ClientError::Kind kind) {
    switch (kind) {
        case Kind::kInvalidUrl:
            return "invalid_url";
        case Kind::kInvalidRequest:
            return "invalid_request";
        case Kind::kResolve:
            return "resolve";
        case Kind::kConnect:
            return "connect";
        case Kind::kTimeout:
            return "timeout";
        case Kind::kTls:
            return "tls";
        case Kind::kConnectionClosed:
            return "connection_closed";
        case Kind::kProtocol:
            return "protocol";
        case Kind::kBodyTooLarge:
            return "body_too_large";
        case Kind::kForbiddenAddress:
            return "forbidden_address";
        case Kind::kShuttingDown:
            return "shutting_down";
    }
    return "unknown";
}

std::optional<Url> ParseUrl(std::string_view text) {
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f) return std::nullopt;
    }
    auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) return std::nullopt;
    Url url;
    std::string scheme = Lower(text.substr(0, scheme_end));
    if (scheme == "http") {
        url.tls = false;
        url.port = 80;
    } else if (scheme == "https") {
        url.tls = true;
        url.port = 443;
    } else {
        return std::nullopt;
    }
    std::string_view rest = text.substr(scheme_end + 3);
    auto authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view tail =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    // User info is refused: it would be sent nowhere, and "https://good@evil" misleads readers.
    if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;

    std::string_view host;
    std::optional<std::string_view> port_text;
    if (authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port_text = after.substr(1);
        }
        boost::system::error_code error;
        // Zone ids ("%eth0") would select an interface: not something a URL should do.
        if (host.find('%') != std::string_view::npos) return std::nullopt;
        net::ip::make_address_v6(std::string(host), error);
        if (error) return std::nullopt;
        url.host = Lower(host);
    } else {
        auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
        if (host.empty() || host.front() == '.' || host.front() == '-') return std::nullopt;
        bool valid = std::all_of(host.begin(), host.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
        });
        if (!valid) return std::nullopt;
        url.host = Lower(host);
    }
    if (port_text) {
        if (port_text->empty() || port_text->size() > 5 ||
            !std::all_of(port_text->begin(), port_text->end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
            return std::nullopt;
        }
        int port = std::stoi(std::string(*port_text));
        if (port < 1 || port > 65535) return std::nullopt;
        url.port = static_cast<std::uint16_t>(port);
    }
    tail = tail.substr(0, tail.find('#'));
    url.target = tail.empty() || tail.front() != '/' ? "/" + std::string(tail) : std::string(tail);
    return url;
}

std::optional<AddressClass> ClassifyAddress(std::string_view literal) {
    boost::system::error_code error;
    auto address = net::ip::make_address(std::string(literal), error);
    if (error) return std::nullopt;
    return Classify(address);
}

bool AddressAllowed(AddressPolicy policy, AddressClass address_class) {
    switch (policy) {
        case AddressPolicy::kAllowAll:
            return true;
        case AddressPolicy::kPublicOnly:
            return address_class == AddressClass::kPublic;
    }
    return false;
}

struct HttpClient::Impl {
    Impl(ClientSettings s, Logger& l)
        : settings(std::move(s)),
          logger(l),
          ssl_context(ssl::context::tls_client),
          work_guard(net::make_work_guard(io)),
          sweep_timer(io),
          random(std::random_device{}()) {}

    ClientSettings settings;
    Logger& logger;
    ssl::context ssl_context;
    // One io thread: every pool structure below is touched only there, so none needs a lock.
    net::io_context io{1};
    net::executor_work_guard<net::io_context::executor_type> work_guard;
    net::steady_timer sweep_timer;
    std::thread thread;
    std::atomic<bool> stopping{false};

    // io thread only.
    std::unordered_map<std::string, HostPool> pools;
    std::unordered_set<Call*> active;
    std::size_t idle_total = 0;
    std::mt19937_64 random;

    std::atomic<std::size_t> connections_open{0};
    std::atomic<std::size_t> connections_idle{0};
    std::atomic<std::size_t> requests_waiting{0};
    std::atomic<std::size_t> requests_in_flight{0};

    // Checks `request` and builds its call; throws ClientError.
    std::shared_ptr<Call> Prepare(const ClientRequest& request);
    awaitable<void> Run(std::shared_ptr<Call> call);
    awaitable<ClientResponse> Execute(Call& call);
    awaitable<AttemptResult> Attempt(Call& call);
    awaitable<std::optional<Failure>> Acquire(Call& call, TimePoint wait_deadline,
                                              std::unique_ptr<Connection>& connection);
    void Release(const std::string& pool_key, std::unique_ptr<Connection> connection,
                 bool reusable);
    void Grant(HostPool& pool, std::unique_ptr<Connection> connection);
    bool Usable(Connection& connection, TimePoint now) const;
    awaitable<std::optional<Failure>> Connect(Call& call, TimePoint deadline,
                                              std::unique_ptr<Connection>& connection);
    template <typename Stream>
    awaitable<ExchangeResult> Exchange(Stream& stream, Connection& connection, Call& call,
                                       TimePoint deadline);
    Failure ExchangeFailure(const boost::system::error_code& error, const Call& call,
                            std::string_view doing) const;
    awaitable<void> Sleep(Call& call, Clock::duration delay);
    awaitable<void> Sweep();
    void Shutdown();
    std::chrono::milliseconds Backoff(int retry);
};

awaitable<void> HttpClient::Impl::Run(std::shared_ptr<Call> call) {
    active.insert(call.get());
    ++requests_in_flight;
    std::optional<ClientResponse> response;
    std::exception_ptr error;
    try {
        response = co_await Execute(*call);
    } catch (...) {
        error = std::current_exception();
    }
    active.erase(call.get());
    --requests_in_flight;
    if (call->done) {
        try {
            call->done(std::move(response), error);
        } catch (const std::exception& thrown) {
            logger.Error("an http client completion threw; it must not",
                         {{"url", call->where}, {"error", thrown.what()}});
        }
        co_return;
    }
    if (response) {
        call->promise.set_value(std::move(*response));
    } else {
        call->promise.set_exception(error);
    }
}

std::chrono::milliseconds HttpClient::Impl::Backoff(int retry) {
    auto cap = settings.backoff_initial;
    for (int i = 1; i < retry && cap < settings.backoff_max; ++i) cap *= 2;
    cap = std::min(cap, settings.backoff_max);
    std::uniform_int_distribution<std::int64_t> jitter(0, cap.count());
    return std::chrono::milliseconds(jitter(random));
}

awaitable<ClientResponse> HttpClient::Impl::Execute(Call& call) {
    for (;;) {
        if (stopping) throw ClientError(Kind::kShuttingDown, ShuttingDown().message, call.attempts);
        AttemptResult result = co_await Attempt(call);

        bool retry = call.retry_allowed && call.policy_attempts < settings.attempts_max &&
                     !stopping &&
                     (result.response ? IsRetryableStatus(result.response->status)
                                      : result.failure->transient);
        std::chrono::milliseconds delay{0};
        if (retry) {
            std::optional<std::chrono::milliseconds> retry_after;
            if (result.response) {
                if (auto header = result.response->Header("retry-after")) {
                    retry_after = ParseRetryAfterSeconds(*header);
                }
            }
            delay = retry_after ? std::min(*retry_after, settings.backoff_max)
                                : Backoff(call.policy_attempts);
            // A retry that cannot start before the deadline only delays the answer.
            if (call.deadline && Clock::now() + delay >= *call.deadline) retry = false;
        }
        if (!retry) {
            if (result.response) {
                result.response->attempts = call.attempts;
                co_return std::move(*result.response);
            }
            throw ClientError(result.failure->kind, result.failure->message, call.attempts);
        }
        {
            ScopedRequestId scope(call.request_id);
            logger.Info("http client retrying",
                        {{"method", MethodName(call.method)},
                         {"url", call.where},
                         {"attempt", call.policy_attempts},
                         {"outcome", result.response ? std::to_string(result.response->status)
                                                     : result.failure->message},
                         {"delay_ms", delay.count()}});
        }
        co_await Sleep(call, delay);
    }
}

awaitable<void> HttpClient::Impl::Sleep(Call& call, Clock::duration delay) {
    if (stopping) co_return;
    net::steady_timer timer(io, delay);
    call.timer = &timer;
    boost::system::error_code ignored;
    co_await timer.async_wait(net::redirect_error(use_awaitable, ignored));
    call.timer = nullptr;
}

awaitable<AttemptResult> HttpClient::Impl::Attempt(Call& call) {
    auto now = Clock::now();
    if (call.deadline && now >= *call.deadline) {
        co_return AttemptResult{
            std::nullopt, Failure{Kind::kTimeout,
                                  "deadline passed before " + std::string(MethodName(call.method)) +
                                      " " + call.where + " could be sent",
                                  false}};
    }
    std::unique_ptr<Connection> connection;
    if (auto failure = co_await Acquire(
            call, Earliest(now + settings.request_timeout, call.deadline), connection)) {
        co_return AttemptResult{std::nullopt, std::move(failure)};
    }
    // The attempt's clock starts once it has a connection or the right to open one.
    const TimePoint attempt_deadline =
        Earliest(Clock::now() + settings.request_timeout, call.deadline);
    ++call.attempts;
    ++call.policy_attempts;
    bool replayed = false;
    for (;;) {
        if (stopping) {
            Release(call.pool_key, std::move(connection), false);
            co_return AttemptResult{std::nullopt, ShuttingDown()};
        }
        const bool reused = connection != nullptr;
        if (!reused) {
            auto connect_deadline =
                std::min(attempt_deadline, Clock::now() + settings.connect_timeout);
            if (auto failure = co_await Connect(call, connect_deadline, connection)) {
                Release(call.pool_key, nullptr, false);
                co_return AttemptResult{std::nullopt, std::move(failure)};
            }
        }
        ExchangeResult exchange;
        if (connection->tls) {
            exchange = co_await Exchange(*connection->tls, *connection, call, attempt_deadline);
        } else {
            exchange = co_await Exchange(*connection->plain, *connection, call, attempt_deadline);
        }
        if (exchange.response) {
            Release(call.pool_key, std::move(connection), exchange.reusable);
            co_return AttemptResult{std::move(exchange.response), std::nullopt};
        }
        // A pooled connection the server closed while it sat idle fails like this. Replay once
        // on a fresh connection when the request cannot have been processed (the write
        // failed), or broke before any response byte and the policy allows repeating it: a
        // server may process a request and then die without answering, so for a request that
        // must not run twice that outcome stays unknown and is reported.
        const bool replay =
            reused && !replayed && !stopping &&
            (exchange.write_failed || (exchange.closed_before_response && call.retry_allowed));
        if (!replay) {
            Release(call.pool_key, std::move(connection), false);
            co_return AttemptResult{std::nullopt, std::move(exchange.failure)};
        }
        Close(*connection);
        connection.reset();  // keeps the slot for the fresh connection
        replayed = true;
        ++call.attempts;
        ScopedRequestId scope(call.request_id);
        logger.Debug("http client replaying on a fresh connection",
                     {{"method", MethodName(call.method)},
                      {"url", call.where},
                      {"error", exchange.failure->message}});
    }
}

bool HttpClient::Impl::Usable(Connection& connection, TimePoint now) const {
    if (now - connection.idle_since >= settings.idle_connection_timeout) return false;
    auto& socket = connection.Lowest().socket();
    if (!socket.is_open()) return false;
    // A peek tells whether the server closed the connection while it sat in the pool, which
    // saves a doomed write. It cannot catch a close racing with our write; the replay does.
    char byte = 0;
    ssize_t received = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (received == 0) return false;
    if (received < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    // An HTTP/1.1 server sends nothing unasked; a TLS server may send session tickets.
    return connection.tls != nullptr;
}

awaitable<std::optional<Failure>> HttpClient::Impl::Acquire(
    Call& call, TimePoint wait_deadline, std::unique_ptr<Connection>& connection) {
    HostPool& pool = pools[call.pool_key];
    if (!pool.idle.empty()) {
        connection = std::move(pool.idle.back());
        pool.idle.pop_back();
        --idle_total;
        --connections_idle;
        if (!Usable(*connection, Clock::now())) {
            Close(*connection);
            connection.reset();  // its slot is ours: connect afresh
        }
        co_return std::nullopt;
    }
    if (pool.open < settings.connections_per_host_max) {
        ++pool.open;
        ++connections_open;
        co_return std::nullopt;
    }
    if (stopping) co_return ShuttingDown();
    Waiter waiter(io);
    waiter.timer.expires_at(wait_deadline);
    pool.waiters.push_back(&waiter);
    ++requests_waiting;
    call.timer = &waiter.timer;
    boost::system::error_code ignored;
    co_await waiter.timer.async_wait(net::redirect_error(use_awaitable, ignored));
    call.timer = nullptr;
    // Granted wins over an expiry that raced with it: the slot is ours either way.
    if (waiter.granted) {
        connection = std::move(waiter.connection);
        co_return std::nullopt;
    }
    // A pool with waiters is at its bound (open > 0), so `pool` was not erased meanwhile.
    pool.waiters.erase(std::find(pool.waiters.begin(), pool.waiters.end(), &waiter));
    --requests_waiting;
    if (stopping) co_return ShuttingDown();
    co_return Failure{Kind::kTimeout,
                      "timed out waiting for one of the " +
                          std::to_string(settings.connections_per_host_max) + " connections to " +
                          call.pool_key,
                      false};
}

void HttpClient::Impl::Grant(HostPool& pool, std::unique_ptr<Connection> connection) {
    Waiter* waiter = pool.waiters.front();
    pool.waiters.pop_front();
    --requests_waiting;
    waiter->granted = true;
    waiter->connection = std::move(connection);
    waiter->timer.cancel();
}

void HttpClient::Impl::Release(const std::string& pool_key, std::unique_ptr<Connection> connection,
                               bool reusable) {
    auto it = pools.find(pool_key);
    PAY_ASSERT(it != pools.end());
    HostPool& pool = it->second;
    // Bytes past the response mean the peer is out of step with us: never reuse that.
    if (connection && reusable && !stopping && connection->buffer.size() == 0) {
        if (!pool.waiters.empty()) {
            Grant(pool, std::move(connection));
            return;
        }
        if (idle_total < settings.idle_connections_max) {
            connection->idle_since = Clock::now();
            pool.idle.push_back(std::move(connection));
            ++idle_total;
            ++connections_idle;
            return;
        }
    }
    if (connection) Close(*connection);
    if (!pool.waiters.empty()) {
        Grant(pool, nullptr);
        return;
    }
    --pool.open;
    --connections_open;
    if (pool.open == 0) pools.erase(it);
}

awaitable<std::optional<Failure>> HttpClient::Impl::Connect(
    Call& call, TimePoint deadline, std::unique_ptr<Connection>& connection) {
    const Url& url = call.url;
    const std::string host_port = call.pool_key.substr(call.pool_key.find("://") + 3);
    boost::system::error_code error;

    // Asio cannot interrupt getaddrinfo; cancelling the resolver makes the lookup report
    // operation_aborted as soon as it returns. The watchdog's handler may run after this frame
    // has moved on, so it shares ownership of what it touches.
    auto resolver = std::make_shared<tcp::resolver>(io);
    auto resolve_timed_out = std::make_shared<bool>(false);
    net::steady_timer watchdog(io);
    watchdog.expires_at(deadline);
    watchdog.async_wait([resolver, resolve_timed_out](boost::system::error_code wait_error) {
        if (wait_error) return;
        *resolve_timed_out = true;
        resolver->cancel();
    });
    call.resolver = resolver.get();
    auto results = co_await resolver->async_resolve(url.host, std::to_string(url.port),
                                                    tcp::resolver::numeric_service,
                                                    net::redirect_error(use_awaitable, error));
    call.resolver = nullptr;
    watchdog.cancel();
    if (stopping) co_return ShuttingDown();
    if (*resolve_timed_out) {
        co_return Failure{Kind::kTimeout, "timed out resolving " + url.host, true};
    }
    if (error) {
        co_return Failure{Kind::kResolve, "cannot resolve " + url.host + ": " + error.message(),
                          true};
    }

    // The policy applies to what the name resolved to now, so DNS cannot smuggle in an
    // internal address; connecting only to allowed ones keeps a mixed answer safe too.
    std::vector<tcp::endpoint> endpoints;
    std::string refused;
    for (const auto& entry : results) {
        if (AddressAllowed(settings.address_policy, Classify(entry.endpoint().address()))) {
            endpoints.push_back(entry.endpoint());
        } else if (refused.empty()) {
            refused = entry.endpoint().address().to_string();
        }
    }
    if (endpoints.empty()) {
        co_return Failure{
            Kind::kForbiddenAddress,
            url.host + " resolves only to addresses the policy refuses (" + refused + ")", false};
    }

    auto fresh = std::make_unique<Connection>();
    if (url.tls) {
        fresh->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io, ssl_context);
    } else {
        fresh->plain = std::make_unique<beast::tcp_stream>(io);
    }
    beast::tcp_stream& lowest = fresh->Lowest();
    lowest.expires_at(deadline);
    call.stream = &lowest;
    co_await lowest.async_connect(endpoints, net::redirect_error(use_awaitable, error));
    call.stream = nullptr;
    if (stopping) co_return ShuttingDown();
    if (error == beast::error::timeout) {
        co_return Failure{Kind::kTimeout, "timed out connecting to " + host_port, true};
    }
    if (error) {
        co_return Failure{Kind::kConnect, "cannot connect to " + host_port + ": " + error.message(),
                          true};
    }

    if (url.tls) {
        SSL* handle = fresh->tls->native_handle();
        boost::system::error_code not_literal;
        net::ip::make_address(url.host, not_literal);
        // OpenSSL checks the name (or the IP address) during the handshake, so a mismatch
        // fails it with X509_V_ERR_HOSTNAME_MISMATCH / X509_V_ERR_IP_ADDRESS_MISMATCH.
        SSL_set_hostflags(handle, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        bool configured = false;
        if (not_literal) {
            configured = SSL_set_tlsext_host_name(handle, url.host.c_str()) == 1 &&
                         SSL_set1_host(handle, url.host.c_str()) == 1;
        } else {
            configured =
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), url.host.c_str()) == 1;
        }
        if (!configured) {
            co_return Failure{Kind::kTls, "cannot set up TLS for " + url.host, false};
        }
        fresh->tls->set_verify_mode(ssl::verify_peer);
        call.stream = &lowest;
        co_await fresh->tls->async_handshake(ssl::stream_base::client,
                                             net::redirect_error(use_awaitable, error));
        call.stream = nullptr;
        if (stopping) co_return ShuttingDown();
        if (error == beast::error::timeout) {
            co_return Failure{Kind::kTimeout, "timed out in the TLS handshake with " + host_port,
                              true};
        }
        if (error && error.category() == net::error::get_ssl_category()) {
            std::string message = "TLS handshake with " + host_port + " failed: " + error.message();
            long verify = SSL_get_verify_result(handle);
            if (verify != X509_V_OK) {
                message += " (";
                message += X509_verify_cert_error_string(verify);
                message += ")";
            }
            co_return Failure{Kind::kTls, message, false};
        }
        if (error) {
            co_return Failure{
                Kind::kConnect,
                "connection to " + host_port + " lost in the TLS handshake: " + error.message(),
                true};
        }
    }
    connection = std::move(fresh);
    co_return std::nullopt;
}

Failure HttpClient::Impl::ExchangeFailure(const boost::system::error_code& error, const Call& call,
                                          std::string_view doing) const {
    if (stopping) return ShuttingDown();
    if (error == beast::error::timeout) {
        return Failure{Kind::kTimeout, "timed out " + std::string(doing) + " " + call.where, true};
    }
    if (error == bhttp::error::header_limit) {
        return Failure{Kind::kProtocol,
                       "the response header from " + call.where + " exceeds " +
                           std::to_string(settings.response_header_bytes_max) + " bytes",
                       false};
    }
    if (error.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        error != bhttp::error::end_of_stream && error != bhttp::error::partial_message) {
        return Failure{Kind::kProtocol,
                       "invalid HTTP response from " + call.where + ": " + error.message(), false};
    }
    return Failure{
        Kind::kConnectionClosed,
        "connection lost " + std::string(doing) + " " + call.where + ": " + error.message(), true};
}

template <typename Stream>
awaitable<ExchangeResult> HttpClient::Impl::Exchange(Stream& stream, Connection& connection,
                                                     Call& call, TimePoint deadline) {
    ExchangeResult result;
    beast::tcp_stream& lowest = connection.Lowest();
    lowest.expires_at(deadline);
    call.stream = &lowest;
    struct StreamReset {
        Call& call;
        ~StreamReset() { call.stream = nullptr; }
    } reset{call};

    boost::system::error_code error;
    co_await bhttp::async_write(stream, call.message, net::redirect_error(use_awaitable, error));
    if (error) {
        // A timeout may leave the whole request in the peer's hands; other errors do not.
        result.write_failed = error != beast::error::timeout;
        result.failure = ExchangeFailure(error, call, "writing to");
        co_return result;
    }
    // Shutdown() cancels only the operation pending when it runs; one that had completed but
    // not resumed us yet would let the next read start uncancelled and wait for its timeout.
    if (stopping) {
        result.failure = ShuttingDown();
        co_return result;
    }

    // Interim 1xx responses are skipped; 101 (we never ask to upgrade) is an error.
    std::optional<bhttp::response_parser<bhttp::buffer_body>> parser;
    bool received_any = false;
    for (;;) {
        parser.emplace();
        parser->header_limit(static_cast<std::uint32_t>(settings.response_header_bytes_max));
        parser->body_limit(std::numeric_limits<std::uint64_t>::max());  // capped below
        if (call.method == Method::kHead) parser->skip(true);
        co_await bhttp::async_read_header(stream, connection.buffer, *parser,
                                          net::redirect_error(use_awaitable, error));
        received_any = received_any || parser->got_some() || connection.buffer.size() > 0;
        if (error || stopping) break;
        const auto status = static_cast<int>(parser->get().result_int());
        if (status < 100 || status >= 200 || status == 101) break;
    }
    if (error) {
        result.closed_before_response = !received_any && IsConnectionLoss(error);
        result.failure = ExchangeFailure(error, call, "reading the response from");
        co_return result;
    }
    if (stopping) {
        result.failure = ShuttingDown();
        co_return result;
    }

    ClientResponse response;
    response.status = static_cast<int>(parser->get().result_int());
    if (response.status == 101) {
        result.failure = Failure{Kind::kProtocol, "unexpected 101 from " + call.where, false};
        co_return result;
    }
    for (const auto& field : parser->get()) {
        auto name = field.name_string();
        auto value = field.value();
        response.headers.emplace_back(Lower(std::string_view(name.data(), name.size())),
                                      std::string(value.data(), value.size()));
    }

    const std::size_t limit = settings.response_body_bytes_max;
    const bool truncate = call.oversized_body == OversizedBody::kTruncate;
    auto too_large = [&] {
        return Failure{
            Kind::kBodyTooLarge,
            "the response body from " + call.where + " exceeds " + std::to_string(limit) + " bytes",
            false};
    };
    if (auto length = parser->content_length(); length && *length > limit && !truncate) {
        result.failure = too_large();
        co_return result;
    }
    if (auto length = parser->content_length())
        response.body.reserve(std::min<std::uint64_t>(*length, limit));
    std::array<char, kBodyChunkBytes> chunk;
    while (!parser->is_done()) {
        parser->get().body().data = chunk.data();
        parser->get().body().size = chunk.size();
        co_await bhttp::async_read(stream, connection.buffer, *parser,
                                   net::redirect_error(use_awaitable, error));
        if (error == bhttp::error::need_buffer) error = {};
        if (stopping) {
            result.failure = ShuttingDown();
            co_return result;
        }
        if (error) {
            result.failure = ExchangeFailure(error, call, "reading the response body from");
            co_return result;
        }
        std::size_t read = chunk.size() - parser->get().body().size;
        if (response.body.size() + read > limit) {
            if (!truncate) {
                result.failure = too_large();
                co_return result;
            }
            response.body.append(chunk.data(), limit - response.body.size());
            response.body_truncated = true;
            break;
        }
        response.body.append(chunk.data(), read);
    }
    result.reusable = !response.body_truncated && parser->is_done() && parser->keep_alive();
    result.response = std::move(response);
    co_return result;
}

awaitable<void> HttpClient::Impl::Sweep() {
    const auto interval = std::clamp<std::chrono::milliseconds>(
        settings.idle_connection_timeout / 4, kSweepIntervalMin,
        std::chrono::duration_cast<std::chrono::milliseconds>(kSweepIntervalMax));
    while (!stopping) {
        sweep_timer.expires_after(interval);
        boost::system::error_code ignored;
        co_await sweep_timer.async_wait(net::redirect_error(use_awaitable, ignored));
        if (stopping) co_return;
        const auto now = Clock::now();
        for (auto it = pools.begin(); it != pools.end();) {
            HostPool& pool = it->second;
            auto expired = [&](const std::unique_ptr<Connection>& connection) {
                if (now - connection->idle_since < settings.idle_connection_timeout) return false;
                Close(*connection);
                --idle_total;
                --connections_idle;
                --pool.open;
                --connections_open;
                return true;
            };
            pool.idle.erase(std::remove_if(pool.idle.begin(), pool.idle.end(), expired),
                            pool.idle.end());
            it = pool.open == 0 ? pools.erase(it) : std::next(it);
        }
    }
}

void HttpClient::Impl::Shutdown() {
    sweep_timer.cancel();
    for (auto it = pools.begin(); it != pools.end();) {
        HostPool& pool = it->second;
        for (auto& connection : pool.idle) {
            Close(*connection);
            --idle_total;
            --connections_idle;
            --pool.open;
            --connections_open;
        }
        pool.idle.clear();
        it = pool.open == 0 ? pools.erase(it) : std::next(it);
    }
    // Every call is suspended on at most one of these; each check of `stopping` after it
    // turns the cancellation into kShuttingDown.
    for (Call* call : active) {
        if (call->timer != nullptr) call->timer->cancel();
        if (call->resolver != nullptr) call->resolver->cancel();
        if (call->stream != nullptr) call->stream->cancel();
    }
}

HttpClient::HttpClient(ClientSettings settings, Logger& logger)
    : impl_(std::make_unique<Impl>(std::move(settings), logger)) {
    auto& impl = *impl_;
    const auto& s = impl.settings;
    PAY_ASSERT(s.attempts_max >= 1);
    PAY_ASSERT(s.connections_per_host_max >= 1);
    PAY_ASSERT(s.connect_timeout > 0ms && s.request_timeout > 0ms);
    PAY_ASSERT(s.idle_connection_timeout > 0ms);
    PAY_ASSERT(s.backoff_initial >= 0ms && s.backoff_max >= s.backoff_initial);

    impl.ssl_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                 ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                 ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(impl.ssl_context.native_handle(), TLS1_2_VERSION);
    impl.ssl_context.set_verify_mode(ssl::verify_peer);
    boost::system::error_code error;
    if (s.ca_file.empty()) {
        impl.ssl_context.set_default_verify_paths(error);
    } else {
        impl.ssl_context.load_verify_file(s.ca_file, error);
    }
    if (error) {
        throw std::runtime_error("cannot load the TLS trust store " +
                                 (s.ca_file.empty() ? std::string("(system default)") : s.ca_file) +
                                 ": " + error.message());
    }
    net::co_spawn(impl.io, impl.Sweep(), net::detached);
    impl.thread = std::thread([&impl] { impl.io.run(); });
}

std::optional<std::string> TrustStoreProblem(const std::string& ca_file) {
    ssl::context context(ssl::context::tls_client);
    boost::system::error_code error;
    context.load_verify_file(ca_file, error);
    if (error) return "cannot load " + ca_file + " as PEM certificates: " + error.message();
    return std::nullopt;
}

HttpClient::~HttpClient() {
    auto& impl = *impl_;
    impl.stopping = true;
    net::post(impl.io, [&impl] { impl.Shutdown(); });
    impl.work_guard.reset();
    impl.thread.join();
}

std::shared_ptr<Call> HttpClient::Impl::Prepare(const ClientRequest& request) {
    auto& impl = *this;
    auto verb = ToVerb(request.method);
    if (!verb) throw ClientError(Kind::kInvalidRequest, "the client cannot send method OTHER");
    auto url = ParseUrl(request.url);
    if (!url) {
        // Cut at the query: it may carry a token, and this message is likely to be logged.
        throw ClientError(Kind::kInvalidUrl, "not an absolute http(s) URL: \"" +
                                                 PathOnly(request.url).substr(0, 200) + "\"");
    }
    for (const auto& [name, value] : request.headers) {
        if (!IsHeaderName(name)) {
            throw ClientError(Kind::kInvalidRequest, "a header name is not an HTTP token");
        }
        if (!IsHeaderValue(value)) {
            throw ClientError(Kind::kInvalidRequest,
                              "the value of header " + name + " contains CR, LF or NUL");
        }
    }

    auto call = std::make_shared<Call>();
    call->method = request.method;
    call->oversized_body = request.oversized_body;
    call->deadline = request.deadline;
    switch (request.retry) {
        case RetryPolicy::kIfIdempotent:
            call->retry_allowed = IsIdempotent(request.method) ||
                                  FindHeader(request.headers, "Idempotency-Key").has_value();
            break;
        case RetryPolicy::kAlways:
            call->retry_allowed = true;
            break;
        case RetryPolicy::kNever:
            call->retry_allowed = false;
            break;
    }
    const bool default_port = url->port == (url->tls ? 443 : 80);
    const std::string host =
        url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
    const std::string host_header = default_port ? host : host + ":" + std::to_string(url->port);
    call->pool_key = (url->tls ? "https://" : "http://") + host + ":" + std::to_string(url->port);
    call->where = (url->tls ? "https://" : "http://") + host_header + PathOnly(url->target);
    call->request_id = std::string(CurrentRequestId());

    auto& message = call->message;
    message.version(11);
    message.method(*verb);
    message.target(url->target);
    message.set(bhttp::field::host, host_header);
    for (const auto& [name, value] : request.headers) {
        if (!IsClientOwnedHeader(name)) message.insert(name, value);
    }
    if (!FindHeader(request.headers, "User-Agent")) {
        message.set(bhttp::field::user_agent, impl.settings.user_agent);
    }
    if (!call->request_id.empty() && !FindHeader(request.headers, "X-Request-Id")) {
        message.set("X-Request-Id", call->request_id);
    }
    message.body() = request.body;
    message.prepare_payload();
    call->url = std::move(*url);

    if (impl.stopping) throw ClientError(Kind::kShuttingDown, ShuttingDown().message);
    return call;
}

void HttpClient::SendAsync(const ClientRequest& request, Completion done) {
    auto call = impl_->Prepare(request);
    call->done = std::move(done);
    // Posted, so the call never starts (nor, failing at once, completes) inside the caller,
    // which may itself be a completion: no recursion through completions that send again.
    net::post(impl_->io, [impl = impl_.get(), call] {
        net::co_spawn(impl->io, impl->Run(call), net::detached);
    });
}

ClientResponse HttpClient::Send(const ClientRequest& request) {
    auto& impl = *impl_;
    auto call = impl.Prepare(request);
    auto future = call->promise.get_future();
    net::co_spawn(impl.io, impl.Run(call), net::detached);

    // The call ends by itself within its deadline, or within what its attempts, slot waits
    // and backoffs can take; waiting past that means a lookup hangs in getaddrinfo. Then the
    // caller gets its answer and the call finishes unobserved.
    const auto& s = impl.settings;
    const auto longest = s.attempts_max * (2 * s.request_timeout + s.backoff_max) +
                         2 * s.request_timeout;  // a replay may need a slot and an attempt more
    const TimePoint give_up = Earliest(Clock::now() + longest, call->deadline) + kAbandonMargin;
    if (future.wait_until(give_up) == std::future_status::timeout) {
        impl.logger.Warn("http client call did not finish in time; abandoning it",
                         {{"method", MethodName(request.method)}, {"url", call->where}});
        throw ClientError(Kind::kTimeout, "timed out calling " + call->where);
    }
    return future.get();
}

HttpClient::Stats HttpClient::stats() const {
    return Stats{impl_->connections_open.load(), impl_->connections_idle.load(),
                 impl_->requests_waiting.load(), impl_->requests_in_flight.load()};
}

}  // namespace commons::http
