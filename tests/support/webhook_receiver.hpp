#pragma once

// A webhook receiver on 127.0.0.1 for tests: records every request it gets at /hooks/{name},
// answers through a replaceable responder (200 by default), and notices when the same delivery
// (webhook-id at one path) is being handled twice at the same moment.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "commons/blocking_pool.hpp"
#include "commons/http/router.hpp"
#include "commons/http/server.hpp"
#include "commons/log.hpp"

namespace test_support {

class WebhookReceiver {
  public:
    struct Received {
        std::string name;  // the {name} of /hooks/{name}
        std::string webhook_id;
        std::string timestamp;
        std::string signature;
        std::string body;
    };
    using Responder = std::function<commons::http::Response(const Received&)>;

    explicit WebhookReceiver(std::size_t threads = 32) : pool_(threads, 4096) {
        router_.Add(commons::http::Method::kPost, "/hooks/{name}",
                    [this](commons::http::Request& request) { return Handle(request); });
        commons::http::ServerSettings settings;
        settings.address = "127.0.0.1";
        server_ = std::make_unique<commons::http::Server>(
            settings, router_, std::vector<commons::http::Middleware>{}, pool_, logger_);
        port_ = server_->Start();
    }
    ~WebhookReceiver() { server_->Stop(); }

    std::string Url(const std::string& name) const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/hooks/" + name;
    }
    std::uint16_t port() const { return port_; }

    void SetResponder(Responder responder) {
        std::lock_guard lock(mutex_);
        responder_ = std::move(responder);
    }

    std::vector<Received> All() const {
        std::lock_guard lock(mutex_);
        return received_;
    }
    std::vector<Received> At(const std::string& name) const {
        std::lock_guard lock(mutex_);
        std::vector<Received> out;
        for (const auto& r : received_) {
            if (r.name == name) out.push_back(r);
        }
        return out;
    }
    std::size_t Count(const std::string& name) const { return At(name).size(); }
    std::size_t Total() const {
        std::lock_guard lock(mutex_);
        return received_.size();
    }
    // Distinct (name, webhook-id) pairs received.
    std::set<std::pair<std::string, std::string>> Distinct() const {
        std::lock_guard lock(mutex_);
        std::set<std::pair<std::string, std::string>> out;
        for (const auto& r : received_) out.emplace(r.name, r.webhook_id);
        return out;
    }
    // Times a delivery arrived while the same one was still being handled.
    int overlaps() const { return overlaps_.load(); }
    // Most requests handled at once at `name`.
    int max_concurrent(const std::string& name) const {
        std::lock_guard lock(mutex_);
        auto found = max_concurrent_.find(name);
        return found == max_concurrent_.end() ? 0 : found->second;
    }

  private:
    commons::http::Response Handle(commons::http::Request& request) {
        Received r{request.PathParam("name"),
                   std::string(request.Header("webhook-id").value_or("")),
                   std::string(request.Header("webhook-timestamp").value_or("")),
                   std::string(request.Header("webhook-signature").value_or("")), request.body};
        const auto key = r.name + " " + r.webhook_id;
        Responder responder;
        {
            std::lock_guard lock(mutex_);
            received_.push_back(r);
            if (in_flight_.count(key) > 0) ++overlaps_;
            in_flight_.insert(key);
            int& current = concurrent_[r.name];
            ++current;
            max_concurrent_[r.name] = std::max(max_concurrent_[r.name], current);
            responder = responder_;
        }
        commons::http::Response response =
            responder ? responder(r) : commons::http::Response::Text(200, "ok", "text/plain");
        {
            std::lock_guard lock(mutex_);
            in_flight_.erase(in_flight_.find(key));
            --concurrent_[r.name];
        }
        return response;
    }

    commons::Logger logger_{"receiver", stderr, commons::LogLevel::kError};
    commons::BlockingPool pool_;
    commons::http::Router router_;
    std::unique_ptr<commons::http::Server> server_;
    std::uint16_t port_ = 0;
    mutable std::mutex mutex_;
    Responder responder_;
    std::vector<Received> received_;
    std::multiset<std::string> in_flight_;
    std::map<std::string, int> concurrent_;
    std::map<std::string, int> max_concurrent_;
    std::atomic<int> overlaps_{0};
};

}  // namespace test_support
