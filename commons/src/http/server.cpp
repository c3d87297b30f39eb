#include "commons/http/server.hpp"

// <utility> first: Boost 1.74's awaitable header uses std::exchange without including it.
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "commons/assert.hpp"
#include "commons/blocking_pool.hpp"
#include "commons/log.hpp"
#include "exchange.hpp"

namespace commons::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;

// Runs `work` on the blocking pool and resumes the calling coroutine on its own executor with
// the result, or with the exception `work` threw. A full pool resumes it with OverloadedError.
awaitable<Response> RunOnPool(BlockingPool& pool, std::function<Response()> work) {
    auto initiate = [&pool, work = std::move(work)](auto handler) mutable {
        using HandlerType = decltype(handler);
        auto shared = std::make_shared<HandlerType>(std::move(handler));
        auto resume = [shared](std::exception_ptr error, Response response) {
            auto executor = net::get_associated_executor(*shared);
            net::post(executor, [shared, error, response = std::move(response)]() mutable {
                (*shared)(error, std::move(response));
            });
        };
        std::function<void()> task = [resume, work = std::move(work)]() mutable {
            Response response;
            std::exception_ptr error;
            try {
                response = work();
            } catch (...) {
                error = std::current_exception();
            }
            resume(error, std::move(response));
        };
        if (!pool.TrySubmit(task)) {
            resume(std::make_exception_ptr(OverloadedError("blocking pool queue is full")),
                   Response{});
        }
    };
    // Boost 1.74's async_initiate takes the completion token by lvalue reference.
    net::use_awaitable_t<> token;
    co_return co_await net::async_initiate<net::use_awaitable_t<>,
                                           void(std::exception_ptr, Response)>(std::move(initiate),
                                                                               token);
}

}  // namespace

struct Server::Impl {
    // What Stop() needs to reach each connection: its strand and whether it is idle.
    struct Connection {
        net::strand<net::io_context::executor_type> strand;
        beast::tcp_stream* stream = nullptr;
        bool busy = false;  // touched only on `strand`
    };

    Impl(ServerSettings s, const Router& r, std::vector<Middleware> p, BlockingPool& b, Logger& l)
        : settings(std::move(s)),
          router(r),
          blocking_pool(b),
          logger(l),
          pipeline(std::move(p), l),
          io(static_cast<int>(settings.io_threads)),
          acceptor(io),
          work_guard(net::make_work_guard(io)) {}

    ServerSettings settings;
    const Router& router;
    BlockingPool& blocking_pool;
    Logger& logger;
    internal::Pipeline pipeline;
    net::io_context io;
    // Accepting and closing the acceptor happen on this strand, never at the same time.
    net::strand<net::io_context::executor_type> accept_strand{net::make_strand(io)};
    tcp::acceptor acceptor;
    net::executor_work_guard<net::io_context::executor_type> work_guard;
    std::vector<std::thread> threads;

    std::atomic<bool> stopping{false};
    bool stopped = false;
    std::mutex connections_mutex;
    std::condition_variable connections_drained;
    std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> connections;
    std::uint64_t next_connection_id = 0;

    // Counts handlers queued or running on the blocking pool: they use this Impl, so Stop()
    // must not return while any is left.
    struct HandlerGuard {
        explicit HandlerGuard(Impl* owner) : impl(owner) { impl->handlers_in_flight.fetch_add(1); }
        ~HandlerGuard() {
            if (impl->handlers_in_flight.fetch_sub(1) == 1) {
                std::lock_guard lock(impl->connections_mutex);
                impl->handlers_done.notify_all();
            }
        }
        HandlerGuard(const HandlerGuard&) = delete;
        HandlerGuard& operator=(const HandlerGuard&) = delete;
        Impl* impl;
    };
    std::atomic<int> handlers_in_flight{0};
    std::condition_variable handlers_done;

    awaitable<void> Accept();
    awaitable<void> Serve(tcp::socket socket, std::shared_ptr<Connection> connection,
                          std::uint64_t id);
    awaitable<Response> Dispatch(Request& request);
    void Forget(std::uint64_t id);
};

awaitable<Response> Server::Impl::Dispatch(Request& request) {
    // `routed` lives in this coroutine's frame, so its fallback route outlives the call.
    internal::Routed routed = internal::RouteRequest(router, request);
    const Route* route = &routed.route();
    if (route->execution == Execution::kInline) co_return pipeline.Run(request, *route);
    try {
        // The guard lives in the pool task: the count drops when the task is gone, run or not.
        // Built as a named local, not a temporary inside the co_await: GCC 12 mishandles
        // temporaries with destructors that live across a coroutine suspension.
        std::function<Response()> work = [this, &request, route,
                                          guard = std::make_shared<HandlerGuard>(this)] {
            return pipeline.Run(request, *route);
        };
        co_return co_await RunOnPool(blocking_pool, std::move(work));
    } catch (const OverloadedError&) {
        Response response = Response::Error(
            ApiError::Unavailable("The service is overloaded; retry after a short wait."));
        response.SetHeader("Retry-After", "1");
        co_return response;
    }
}

awaitable<void> Server::Impl::Accept() {
    for (;;) {
        boost::system::error_code error;
        auto strand = net::make_strand(io);
        tcp::socket socket =
            co_await acceptor.async_accept(strand, net::redirect_error(use_awaitable, error));
        if (error) {
            if (error == net::error::operation_aborted || stopping) co_return;
            // Out of file descriptors and similar: log and keep accepting.
            logger.Warn("accept failed", {{"error", error.message()}});
            continue;
        }
        std::uint64_t id = 0;
        std::shared_ptr<Connection> connection;
        {
            std::lock_guard lock(connections_mutex);
            if (stopping || connections.size() >= settings.connections_max) {
                socket.close(error);
                continue;
            }
            id = ++next_connection_id;
            connection = std::make_shared<Connection>(Connection{strand, nullptr, false});
            connections.emplace(id, connection);
        }
        net::co_spawn(strand, Serve(std::move(socket), std::move(connection), id), net::detached);
    }
}

void Server::Impl::Forget(std::uint64_t id) {
    std::lock_guard lock(connections_mutex);
    connections.erase(id);
    if (connections.empty()) connections_drained.notify_all();
}

awaitable<void> Server::Impl::Serve(tcp::socket socket, std::shared_ptr<Connection> connection,
                                    std::uint64_t id) {
    beast::tcp_stream stream(std::move(socket));
    connection->stream = &stream;
    beast::flat_buffer buffer;
    boost::system::error_code error;
    std::string remote;
    {
        auto endpoint = stream.socket().remote_endpoint(error);
        if (!error) remote = endpoint.address().to_string();
    }

    // Anything thrown below (allocation failure, say) ends this connection, never the
    // bookkeeping after the loop: the registry entry must always be released.
    try {
        for (;;) {
            connection->busy = false;
            if (stopping) break;
            // Wait for the first byte of the next request under the idle timeout, then give the
            // rest of the header its own (shorter) budget: a slow client cannot hold a connection.
            if (buffer.size() == 0) {
                stream.expires_after(settings.idle_timeout);
                std::size_t n = co_await stream.async_read_some(
                    buffer.prepare(std::min<std::size_t>(settings.header_bytes_max, 4096)),
                    net::redirect_error(use_awaitable, error));
                if (error) break;
                buffer.commit(n);
            }
            connection->busy = true;

            internal::RequestParser parser;
            internal::LimitParser(parser, settings);
            stream.expires_after(settings.header_timeout);
            co_await bhttp::async_read_header(stream, buffer, parser,
                                              net::redirect_error(use_awaitable, error));
            if (!error && !parser.is_done()) {
                stream.expires_after(settings.body_timeout);
                co_await bhttp::async_read(stream, buffer, parser,
                                           net::redirect_error(use_awaitable, error));
            }
            std::optional<internal::Incoming> incoming = internal::ReadRequest(
                error, parser, settings, remote, std::chrono::steady_clock::now());
            if (!incoming) break;

            bool keep_alive = incoming->keep_alive;
            Response response;
            if (incoming->refusal) {
                response = std::move(*incoming->refusal);
            } else {
                response = co_await Dispatch(incoming->request);
            }
            if (stopping) keep_alive = false;
            auto out = internal::BuildResponse(std::move(response), keep_alive,
                                               incoming->head_request, logger);
            stream.expires_after(settings.write_timeout);
            co_await bhttp::async_write(stream, out, net::redirect_error(use_awaitable, error));
            if (error || !keep_alive) break;
        }
    } catch (const std::exception& failure) {
        logger.Error("connection failed", {{"error", failure.what()}});
    }

    connection->stream = nullptr;
    stream.socket().shutdown(tcp::socket::shutdown_send, error);
    stream.socket().close(error);
    Forget(id);
}

Server::Server(ServerSettings settings, const Router& router, std::vector<Middleware> pipeline,
               BlockingPool& blocking_pool, Logger& logger)
    : impl_(std::make_unique<Impl>(std::move(settings), router, std::move(pipeline), blocking_pool,
                                   logger)) {}

Server::~Server() { Stop(); }

std::uint16_t Server::Start() {
    auto& impl = *impl_;
    PAY_ASSERT(impl.threads.empty());
    tcp::endpoint endpoint(net::ip::make_address(impl.settings.address), impl.settings.port);
    boost::system::error_code error;
    // A port already taken is an operator's mistake, reported as one line (std::system_error),
    // not an uncaught Boost exception.
    auto check = [&](const char* step) {
        if (!error) return;
        boost::system::error_code ignored;
        impl.acceptor.close(ignored);
        throw std::system_error(error.value(), std::generic_category(),
                                std::string(step) + " " + impl.settings.address + ":" +
                                    std::to_string(impl.settings.port));
    };
    impl.acceptor.open(endpoint.protocol(), error);
    check("open");
    impl.acceptor.set_option(net::socket_base::reuse_address(true), error);
    check("set_option");
    impl.acceptor.bind(endpoint, error);
    check("bind");
    impl.acceptor.listen(net::socket_base::max_listen_connections, error);
    check("listen");
    std::uint16_t port = impl.acceptor.local_endpoint().port();
    net::co_spawn(impl.accept_strand, impl.Accept(), net::detached);
    for (std::size_t i = 0; i < impl.settings.io_threads; ++i) {
        impl.threads.emplace_back([&impl] { impl.io.run(); });
    }
    return port;
}

void Server::Stop() {
    auto& impl = *impl_;
    if (impl.stopped) return;
    impl.stopped = true;
    if (impl.threads.empty()) return;
    impl.stopping = true;
    net::post(impl.accept_strand, [&impl] {
        boost::system::error_code ignored;
        impl.acceptor.close(ignored);
    });
    {
        std::unique_lock lock(impl.connections_mutex);
        // Idle connections are closed now; busy ones close after their response. (The lambdas
        // init-capture `connection`: Clang before 16 cannot capture a structured binding.)
        for (auto& [id, connection] : impl.connections) {
            net::post(connection->strand, [connection = connection] {
                if (!connection->busy && connection->stream != nullptr) {
                    connection->stream->cancel();
                }
            });
        }
        if (!impl.connections_drained.wait_for(lock, impl.settings.drain_timeout,
                                               [&impl] { return impl.connections.empty(); })) {
            impl.logger.Warn("drain timeout passed with requests in flight; closing them",
                             {{"connections", impl.connections.size()}});
            for (auto& [id, connection] : impl.connections) {
                net::post(connection->strand, [connection = connection] {
                    if (connection->stream != nullptr) connection->stream->cancel();
                });
            }
        }
        // Handlers still on the blocking pool use this server; it cannot go away under them.
        // One stuck past its own deadline leaves one safe way out: end the process, which
        // makes PostgreSQL roll its transaction back.
        if (!impl.handlers_done.wait_for(lock, impl.settings.request_timeout,
                                         [&impl] { return impl.handlers_in_flight.load() == 0; })) {
            impl.logger.Error("handlers still running after the drain and their deadline; exiting",
                              {{"handlers", impl.handlers_in_flight.load()}});
            std::_Exit(1);
        }
    }
    impl.work_guard.reset();
    impl.io.stop();
    for (auto& thread : impl.threads) thread.join();
    impl.threads.clear();
}

std::size_t Server::open_connections() const {
    std::lock_guard lock(impl_->connections_mutex);
    return impl_->connections.size();
}

}  // namespace commons::http
