#include "bench/engine.hpp"

// <utility> before Asio: Boost 1.74's awaitable header uses std::exchange without including it.
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "bench/pacing.hpp"
#include "commons/assert.hpp"

namespace bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using Clock = std::chrono::steady_clock;

// Response limits: bench reads whole responses so scenarios can judge bodies, so memory is at
// most this much per connection (10 GiB at the 10000-connection maximum, ~1 KiB in practice
// for this platform's JSON). Anything larger is counted as a protocol error.
constexpr std::uint32_t kResponseHeaderBytesMax = 64 * 1024;
constexpr std::uint64_t kResponseBodyBytesMax = 1 << 20;
// After a failed connect a connection waits this long before trying again, so a target that
// is down is not flooded with SYNs and the connect error count stays meaningful.
constexpr auto kReconnectBackoff = std::chrono::milliseconds(100);
// A shard still running this long after its last request could have timed out is stopped, and
// its requests in flight counted as timeouts. Every wait has a deadline, so this is a backstop.
constexpr auto kWatchdogGrace = std::chrono::seconds(2);

// When a load starts, starts measuring and ends; shared by every shard.
struct Timeline {
    Clock::time_point start;
    Clock::time_point measure_from;
    Clock::time_point end;
};

TransportError ClassifyTransportError(const boost::system::error_code& error) {
    if (error == beast::error::timeout) return TransportError::kTimeout;
    if (error == bhttp::error::end_of_stream || error == bhttp::error::partial_message ||
        error == net::error::eof || error == net::error::connection_reset ||
        error == net::error::broken_pipe || error == net::error::connection_aborted) {
        return TransportError::kClosed;
    }
    if (error.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
        return TransportError::kProtocol;  // malformed response, header or body limit
    }
    return TransportError::kClosed;  // other socket errors: the connection is gone
}

// One keep-alive connection, owned by the coroutine that drives it.
struct Link {
    explicit Link(net::io_context& io) : wake(io) {}

    // Empty while disconnected; a fresh stream per connection.
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    // Open model: parked on this timer while idle; the dispatcher cancels it to hand over a job.
    // Also used to wait out kReconnectBackoff.
    net::steady_timer wake;
    std::optional<Clock::time_point> job;
    std::string wire;
    bool connect_failed = false;
};

void Close(Link& link) {
    if (!link.stream) return;
    boost::system::error_code ignored;
    link.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    link.stream->close();
    link.stream.reset();
    link.buffer.clear();
}

void Merge(LoadResult& into, const LoadResult& from) {
    into.offered += from.offered;
    into.dropped += from.dropped;
    into.sent += from.sent;
    into.completed += from.completed;
    into.ok += from.ok;
    into.unexpected += from.unexpected;
    for (const auto& [status, count] : from.status_counts) into.status_counts[status] += count;
    for (const auto& [status, count] : from.http_errors) into.http_errors[status] += count;
    for (std::size_t i = 0; i < kTransportErrorKinds; ++i) {
        into.transport_errors[i] += from.transport_errors[i];
    }
    into.connections_opened += from.connections_opened;
    into.connect_failures += from.connect_failures;
    into.latency.Merge(from.latency);
}

// One thread's part of a load: its own io_context, connections and counters, so nothing in
// the request path is shared between threads except the sequence counter.
class Shard {
  public:
    Shard(const LoadSettings& settings, const Workload& workload,
          const tcp::resolver::results_type& endpoints, std::string host_header, Timeline timeline,
          std::uint32_t index, std::uint32_t shard_count, std::uint32_t connections,
          std::atomic<std::uint64_t>& next_seq)
        : settings_(settings),
          workload_(workload),
          endpoints_(endpoints),
          host_header_(std::move(host_header)),
          timeline_(timeline),
          index_(index),
          shard_count_(shard_count),
          connections_(connections),
          next_seq_(next_seq),
          end_(timeline.end),
          io_(1),
          dispatch_timer_(io_),
          watchdog_(io_) {}

    // Runs the shard's load on the calling thread until every connection is done.
    void Run();
    // Thread-safe: ends the load now; requests in flight finish.
    void Interrupt();
    // Thread-safe: stops at once, abandoning requests in flight.
    void Abort() { io_.stop(); }

    // Valid after Run returns.
    LoadResult& result() { return result_; }
    std::exception_ptr error() const { return error_; }
    Clock::time_point end() const { return end_; }
    bool interrupted() const { return interrupted_; }

  private:
    void Spawn(awaitable<void> coroutine);
    awaitable<void> ClosedLoopConnection();
    awaitable<void> OpenLoopConnection();
    awaitable<void> Dispatch();
    awaitable<void> Execute(Link& link, Clock::time_point scheduled);
    awaitable<void> Backoff(Link& link);
    void Fail(bool measured, TransportError error);

    const LoadSettings& settings_;
    const Workload& workload_;
    const tcp::resolver::results_type& endpoints_;
    const std::string host_header_;
    const Timeline timeline_;
    const std::uint32_t index_;
    const std::uint32_t shard_count_;
    const std::uint32_t connections_;
    std::atomic<std::uint64_t>& next_seq_;

    // Everything below is touched only on this shard's thread.
    Clock::time_point end_;
    bool interrupted_ = false;
    bool dispatch_done_ = false;
    std::deque<Link*> idle_;  // open model: connections waiting for a job, oldest first
    std::size_t live_ = 0;    // coroutines still running
    std::exception_ptr error_;
    LoadResult result_;

    // Declared after what the coroutines use, so it is destroyed first: destroying the
    // io_context destroys abandoned coroutine frames (after Abort), which own the sockets.
    net::io_context io_;
    net::steady_timer dispatch_timer_;
    net::steady_timer watchdog_;
};

void Shard::Run() {
    for (std::uint32_t i = 0; i < connections_; ++i) {
        Spawn(settings_.rate_per_second ? OpenLoopConnection() : ClosedLoopConnection());
    }
    if (settings_.rate_per_second) Spawn(Dispatch());
    // A request started just before the end is over within one request timeout (a single
    // deadline covers connect, write and read); twice that plus the grace is a generous bound.
    watchdog_.expires_at(timeline_.end + 2 * settings_.request_timeout + kWatchdogGrace);
    watchdog_.async_wait([this](const boost::system::error_code& error) {
        if (!error) io_.stop();
    });
    try {
        io_.run();
    } catch (...) {
        if (!error_) error_ = std::current_exception();
    }
}

void Shard::Interrupt() {
    net::post(io_, [this] {
        interrupted_ = true;
        end_ = std::min(end_, Clock::now());
        dispatch_timer_.cancel();
    });
}

void Shard::Spawn(awaitable<void> coroutine) {
    ++live_;
    net::co_spawn(io_, std::move(coroutine), [this](const std::exception_ptr& error) {
        if (error) {
            // A scenario callback threw: stop this shard; RunLoad rethrows after the others.
            if (!error_) error_ = error;
            io_.stop();
            return;
        }
        if (--live_ == 0) watchdog_.cancel();
    });
}

void Shard::Fail(bool measured, TransportError error) {
    if (measured) ++result_.transport_errors[static_cast<std::size_t>(error)];
}

awaitable<void> Shard::Backoff(Link& link) {
    boost::system::error_code ignored;
    link.wake.expires_after(kReconnectBackoff);
    co_await link.wake.async_wait(net::redirect_error(use_awaitable, ignored));
    link.connect_failed = false;
}

awaitable<void> Shard::ClosedLoopConnection() {
    Link link(io_);
    while (Clock::now() < end_) {
        co_await Execute(link, Clock::now());
        if (link.connect_failed) co_await Backoff(link);
    }
    Close(link);
}

awaitable<void> Shard::OpenLoopConnection() {
    Link link(io_);
    boost::system::error_code error;
    for (;;) {
        if (link.connect_failed) co_await Backoff(link);
        if (dispatch_done_) break;
        idle_.push_back(&link);
        link.wake.expires_at(Clock::time_point::max());
        co_await link.wake.async_wait(net::redirect_error(use_awaitable, error));
        if (!link.job) break;  // the dispatcher is done and woke every idle connection
        const Clock::time_point scheduled = *link.job;
        link.job.reset();
        co_await Execute(link, scheduled);
    }
    Close(link);
}

awaitable<void> Shard::Dispatch() {
    const RateSchedule schedule(*settings_.rate_per_second);
    boost::system::error_code error;
    // This shard owns every shard_count_-th request of the run's single schedule.
    for (std::uint64_t index = index_;; index += shard_count_) {
        const Clock::time_point due = timeline_.start + schedule.OffsetOf(index);
        if (due >= end_) break;
        if (Clock::now() < due) {
            dispatch_timer_.expires_at(due);
            co_await dispatch_timer_.async_wait(net::redirect_error(use_awaitable, error));
            if (due >= end_) break;  // interrupted while waiting
        }
        const bool measured = due >= timeline_.measure_from;
        if (measured) ++result_.offered;
        if (idle_.empty()) {
            // Responses that already arrived may be queued behind this coroutine; let them
            // free their connections before calling this request dropped.
            co_await net::post(io_, use_awaitable);
        }
        if (idle_.empty()) {
            if (measured) ++result_.dropped;
            continue;
        }
        Link* link = idle_.front();
        idle_.pop_front();
        link->job = due;
        link->wake.cancel();
    }
    dispatch_done_ = true;
    for (Link* link : idle_) link->wake.cancel();
    idle_.clear();
}

awaitable<void> Shard::Execute(Link& link, Clock::time_point scheduled) {
    const bool measured = scheduled >= timeline_.measure_from && scheduled < end_;
    const HttpRequest request =
        workload_.make_request(next_seq_.fetch_add(1, std::memory_order_relaxed));
    if (measured) ++result_.sent;
    // One deadline for the whole request: connect (if needed), write and read.
    const Clock::time_point deadline = Clock::now() + settings_.request_timeout;
    boost::system::error_code error;

    if (!link.stream) {
        link.stream.emplace(io_);
        link.stream->expires_at(deadline);
        co_await link.stream->async_connect(endpoints_, net::redirect_error(use_awaitable, error));
        if (error) {
            ++result_.connect_failures;
            link.connect_failed = true;
            Close(link);
            Fail(measured, TransportError::kConnect);
            co_return;
        }
        link.stream->socket().set_option(tcp::no_delay(true), error);
        ++result_.connections_opened;
    }

    link.wire.clear();
    SerializeRequest(request, host_header_, link.wire);
    link.stream->expires_at(deadline);
    co_await net::async_write(*link.stream, net::buffer(link.wire),
                              net::redirect_error(use_awaitable, error));
    if (error) {
        Close(link);
        Fail(measured, ClassifyTransportError(error));
        co_return;
    }

    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(kResponseHeaderBytesMax);
    parser.body_limit(kResponseBodyBytesMax);
    if (request.method == "HEAD") parser.skip(true);  // a HEAD response has no body to read
    co_await bhttp::async_read(*link.stream, link.buffer, parser,
                               net::redirect_error(use_awaitable, error));
    const Clock::time_point finished = Clock::now();
    if (error) {
        Close(link);
        Fail(measured, ClassifyTransportError(error));
        co_return;
    }
    auto& message = parser.get();
    const bool keep_alive = message.keep_alive();
    if (measured) {
        HttpResponse response{static_cast<int>(message.result_int()), std::move(message.body())};
        ++result_.completed;
        ++result_.status_counts[response.status];
        result_.latency.Record(finished - scheduled);
        switch (workload_.classify(request, response)) {
            case Verdict::kOk:
                ++result_.ok;
                break;
            case Verdict::kHttpError:
                ++result_.http_errors[response.status];
                break;
            case Verdict::kUnexpected:
                ++result_.unexpected;
                break;
        }
    }
    if (!keep_alive) Close(link);
}

tcp::resolver::results_type Resolve(const Endpoint& endpoint) {
    net::io_context io;
    tcp::resolver resolver(io);
    boost::system::error_code error;
    auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port),
                                    tcp::resolver::numeric_service, error);
    if (error) {
        throw TargetUnreachableError("cannot resolve " + endpoint.host + ": " + error.message());
    }
    return results;
}

// One connection before the load, so an unreachable target fails in a second with a clear
// message instead of a full run of connect errors.
void Preflight(const tcp::resolver::results_type& endpoints, const Endpoint& endpoint,
               std::chrono::nanoseconds timeout) {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    boost::system::error_code result;
    stream.async_connect(endpoints, [&result](const boost::system::error_code& error,
                                              const tcp::endpoint&) { result = error; });
    io.run();
    if (result) {
        throw TargetUnreachableError("cannot connect to " + HostHeaderValue(endpoint) + ": " +
                                     result.message());
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
}

}  // namespace

std::string_view TransportErrorName(TransportError error) {
    switch (error) {
        case TransportError::kConnect:
            return "connect";
        case TransportError::kTimeout:
            return "timeout";
        case TransportError::kClosed:
            return "closed";
        case TransportError::kProtocol:
            return "protocol";
    }
    PAY_ASSERT(false);
}

std::uint64_t LoadResult::transport_error_total() const {
    std::uint64_t total = 0;
    for (std::uint64_t count : transport_errors) total += count;
    return total;
}

Verdict ClassifyByStatus(const HttpRequest&, const HttpResponse& response) {
    return response.status >= 200 && response.status < 300 ? Verdict::kOk : Verdict::kHttpError;
}

LoadResult RunLoad(const LoadSettings& settings, const Workload& workload) {
    PAY_ASSERT(settings.connections >= 1 && settings.threads >= 1);
    PAY_ASSERT(workload.make_request && workload.classify);
    const auto endpoints = Resolve(workload.endpoint);
    Preflight(endpoints, workload.endpoint, settings.request_timeout);

    const std::uint32_t shard_count = std::min(settings.threads, settings.connections);
    const Clock::time_point start = Clock::now();
    const Timeline timeline{start, start + settings.warmup,
                            start + settings.warmup + settings.duration};
    std::atomic<std::uint64_t> next_seq{0};
    std::vector<std::unique_ptr<Shard>> shards;
    for (std::uint32_t k = 0; k < shard_count; ++k) {
        shards.push_back(std::make_unique<Shard>(
            settings, workload, endpoints, HostHeaderValue(workload.endpoint), timeline, k,
            shard_count, ShareOf(settings.connections, shard_count, k), next_seq));
    }

    // The calling thread waits for signals and for the shards to finish.
    net::io_context control;
    net::signal_set signals(control, SIGINT, SIGTERM);
    int signals_seen = 0;
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& error, int) {
            if (error) return;  // cancelled: every shard finished
            ++signals_seen;
            for (auto& shard : shards) {
                if (signals_seen == 1) {
                    shard->Interrupt();
                } else {
                    shard->Abort();
                }
            }
            signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);

    std::size_t running = shards.size();
    std::vector<std::thread> threads;
    threads.reserve(shards.size());
    for (auto& owned : shards) {
        Shard* shard = owned.get();
        threads.emplace_back([&, shard] {
            shard->Run();
            net::post(control, [&, shard] {
                if (shard->error()) {
                    for (auto& other : shards) other->Abort();
                }
                if (--running == 0) signals.cancel();
            });
        });
    }
    control.run();
    for (auto& thread : threads) thread.join();

    LoadResult total;
    total.label = workload.label;
    total.attributes = workload.attributes;
    total.settings = settings;
    total.settings.threads = shard_count;
    Clock::time_point end = timeline.end;
    for (auto& shard : shards) {
        if (shard->error()) std::rethrow_exception(shard->error());
    }
    for (auto& shard : shards) {
        LoadResult& part = shard->result();
        // Requests abandoned by Abort or the watchdog never got an answer in time.
        const std::uint64_t resolved = part.completed + part.transport_error_total();
        if (part.sent > resolved) {
            part.transport_errors[static_cast<std::size_t>(TransportError::kTimeout)] +=
                part.sent - resolved;
        }
        Merge(total, part);
        end = std::min(end, shard->end());
        total.interrupted = total.interrupted || shard->interrupted();
    }
    total.measured =
        std::max(std::chrono::nanoseconds(0),
                 std::chrono::duration_cast<std::chrono::nanoseconds>(end - timeline.measure_from));
    PAY_ASSERT(total.sent == total.completed + total.transport_error_total());
    return total;
}

}  // namespace bench
