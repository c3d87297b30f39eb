#include "bench/webhook_receiver.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "commons/assert.hpp"
#include "commons/blocking_pool.hpp"
#include "commons/http/server.hpp"
#include "commons/log.hpp"

namespace bench {
namespace {

using commons::http::Method;
using commons::http::Request;
using commons::http::Response;
using Clock = std::chrono::steady_clock;

// One io thread answers tens of thousands of empty 200s a second, far above the service's
// delivery rate; more would take CPU from the service on a small machine.
constexpr std::size_t kIoThreads = 1;
// Every route is inline; the server still wants a pool.
constexpr std::size_t kBlockingThreads = 1;
constexpr std::size_t kBlockingQueueMax = 16;
// The webhook service sends envelopes of a few hundred bytes; anything larger is not ours.
constexpr std::size_t kBodyBytesMax = std::size_t{64} * 1024;

std::optional<std::uint32_t> ParseIndex(std::string_view text) {
    std::uint32_t value = 0;
    auto [stop, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || stop != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

struct WebhookReceiver::Impl {
    std::string run;
    std::uint16_t port = 0;
    Clock::time_point origin = Clock::now();
    commons::Logger logger{"bench-receiver", stderr, commons::LogLevel::kWarn};
    commons::BlockingPool pool{kBlockingThreads, kBlockingQueueMax};
    commons::http::Router router;
    std::unique_ptr<commons::http::Server> server;

    mutable std::mutex mutex;
    std::condition_variable changed;
    std::string scenario;  // empty: no scenario running
    std::optional<DeliveryBook> book;
    std::uint64_t prime_round = 0;
    std::vector<bool> primed;
    std::uint32_t primed_count = 0;
    ReceiverCounters counters;

    Micros Now() const {
        return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - origin).count();
    }

    Response Receive(Request& request) {
        const Micros at = Now();
        const std::optional<BenchPayload> payload = ParseBenchPayload(request.body);
        const auto event_id = request.Header("webhook-id");
        const auto index = ParseIndex(request.PathParam("endpoint"));
        std::lock_guard lock(mutex);
        if (request.PathParam("run") != run || request.PathParam("scenario") != scenario || !book) {
            ++counters.stray;
        } else if (!payload || !event_id || event_id->empty() || !index) {
            ++counters.malformed;
        } else if (payload->kind == BenchPayload::Kind::kPrime) {
            if (*index >= primed.size()) {
                ++counters.malformed;
            } else if (payload->number == prime_round && !primed[*index]) {
                primed[*index] = true;
                if (++primed_count == primed.size()) changed.notify_all();
            }
        } else {
            const ArrivalKind kind = book->Arrive(*index, payload->number, *event_id, at);
            if (kind == ArrivalKind::kFirst && book->complete()) changed.notify_all();
        }
        // The body is not read by the service beyond logging; an empty 200 is the cheapest.
        return Response::Text(200, "", "text/plain");
    }

    // Waits on `changed` until `done` holds, `deadline` passes or `stop` is set.
    template <typename Done>
    void WaitUntil(std::unique_lock<std::mutex>& lock, Clock::time_point deadline,
                   const std::atomic<bool>& stop, Done done) {
        while (!done() && !stop.load()) {
            const auto now = Clock::now();
            if (now >= deadline) return;
            changed.wait_until(lock, std::min(deadline, now + kStopCheck));
        }
    }
};

WebhookReceiver::WebhookReceiver(std::string run, std::uint16_t port)
    : impl_(std::make_unique<Impl>()) {
    PAY_ASSERT(!run.empty() && run.size() <= 32);
    PAY_ASSERT(std::all_of(run.begin(), run.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    }));
    impl_->run = std::move(run);
    impl_->port = port;
    Impl* impl = impl_.get();
    impl_->router.Add(
        Method::kPost, "/hooks/{run}/{scenario}/{endpoint}",
        [impl](Request& request) { return impl->Receive(request); },
        commons::http::Execution::kInline);
}

WebhookReceiver::~WebhookReceiver() { Stop(); }

std::uint16_t WebhookReceiver::Start() {
    PAY_ASSERT(!impl_->server);
    commons::http::ServerSettings settings;
    settings.address = "127.0.0.1";
    settings.port = impl_->port;
    settings.io_threads = kIoThreads;
    settings.body_bytes_max = kBodyBytesMax;
    impl_->server = std::make_unique<commons::http::Server>(
        settings, impl_->router, std::vector<commons::http::Middleware>{}, impl_->pool,
        impl_->logger);
    impl_->port = impl_->server->Start();
    return impl_->port;
}

void WebhookReceiver::Stop() {
    if (impl_->server) impl_->server->Stop();
}

std::string WebhookReceiver::BaseUrl() const {
    PAY_ASSERT(impl_->server);
    return "http://127.0.0.1:" + std::to_string(impl_->port);
}

std::string WebhookReceiver::Url(std::string_view scenario, std::uint32_t endpoint) const {
    return BaseUrl() + "/hooks/" + impl_->run + "/" + std::string(scenario) + "/" +
           std::to_string(endpoint);
}

Micros WebhookReceiver::Now() const { return impl_->Now(); }

void WebhookReceiver::Begin(std::string scenario, std::uint32_t endpoints, std::uint64_t capacity,
                            std::uint64_t prime_round) {
    DeliveryBook book(endpoints, capacity);  // allocated outside the lock
    std::lock_guard lock(impl_->mutex);
    impl_->scenario = std::move(scenario);
    impl_->book.emplace(std::move(book));
    impl_->prime_round = prime_round;
    impl_->primed.assign(endpoints, false);
    impl_->primed_count = 0;
}

void WebhookReceiver::Published(std::uint64_t seq, Micros at_us) {
    std::lock_guard lock(impl_->mutex);
    PAY_ASSERT(impl_->book);
    impl_->book->Published(seq, at_us);
}

void WebhookReceiver::Retract(std::uint64_t seq) {
    std::lock_guard lock(impl_->mutex);
    PAY_ASSERT(impl_->book);
    impl_->book->Retract(seq);
}

std::uint32_t WebhookReceiver::WaitForPrime(Clock::time_point deadline,
                                            const std::atomic<bool>& stop) {
    std::unique_lock lock(impl_->mutex);
    impl_->WaitUntil(lock, deadline, stop,
                     [this] { return impl_->primed_count == impl_->primed.size(); });
    return impl_->primed_count;
}

bool WebhookReceiver::WaitForAll(Clock::time_point deadline, const std::atomic<bool>& stop) {
    std::unique_lock lock(impl_->mutex);
    PAY_ASSERT(impl_->book);
    impl_->WaitUntil(lock, deadline, stop, [this] { return impl_->book->complete(); });
    return impl_->book->complete();
}

DeliveryBook WebhookReceiver::Finish() {
    std::lock_guard lock(impl_->mutex);
    PAY_ASSERT(impl_->book);
    DeliveryBook book = std::move(*impl_->book);
    impl_->book.reset();
    impl_->scenario.clear();
    return book;
}

ReceiverCounters WebhookReceiver::counters() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->counters;
}

}  // namespace bench
