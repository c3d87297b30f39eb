// Composition root of the webhook service: verifies processor webhooks and delivers our events to
// subscribers (docs/webhook.md).
#include <chrono>
#include <memory>
#include <vector>

#include "commons/config.hpp"
#include "commons/db.hpp"
#include "commons/events.hpp"
#include "commons/http/client.hpp"
#include "commons/migrations.hpp"
#include "middleware/service_host.hpp"
#include "webhook/api/routes.hpp"
#include "webhook/app/delivery_engine.hpp"
#include "webhook/app/intake.hpp"
#include "webhook/app/purge.hpp"
#include "webhook/store/webhook_store.hpp"

namespace webhook {
const std::vector<commons::Migration>& Migrations();  // generated from migrations/*.sql

namespace {

using namespace std::chrono_literals;

struct Settings {
    app::EngineSettings engine;
    commons::ConsumerSettings consumer;
    std::chrono::milliseconds inbound_poll{1000};
    app::PurgeWorkerSettings purge;
    std::int64_t stripe_tolerance_seconds = 300;
    bool allow_http = false;
};

Settings ReadSettings(const commons::EnvReader& env) {
    Settings s;
    auto& e = s.engine;
    e.allow_private_targets = env.Bool("PAYMENTS_WEBHOOK_ALLOW_PRIVATE_TARGETS", false);
    s.allow_http = env.Bool("PAYMENTS_WEBHOOK_ALLOW_HTTP", false);
    e.ca_file = env.String("PAYMENTS_WEBHOOK_CA_FILE", "");
    if (!e.ca_file.empty()) {
        if (auto problem = commons::http::TrustStoreProblem(e.ca_file)) {
            throw commons::ConfigError("PAYMENTS_WEBHOOK_CA_FILE", *problem);
        }
    }
    e.senders = static_cast<std::size_t>(env.Int("PAYMENTS_WEBHOOK_CONCURRENCY", 64, 1, 1024));
    e.claim_batch_max =
        static_cast<std::size_t>(env.Int("PAYMENTS_WEBHOOK_CLAIM_BATCH_MAX", 200, 1, 5000));
    e.queued_max = static_cast<std::size_t>(env.Int("PAYMENTS_WEBHOOK_QUEUED_MAX", 64, 0, 10000));
    e.poll_interval = env.Duration("PAYMENTS_WEBHOOK_POLL_INTERVAL", 250ms, 1ms, 60s);
    e.connect_timeout = env.Duration("PAYMENTS_WEBHOOK_CONNECT_TIMEOUT", 5s, 10ms, 60s);
    e.request_timeout = env.Duration("PAYMENTS_WEBHOOK_REQUEST_TIMEOUT", 15s, 10ms, 120s);
    e.lease = env.Duration("PAYMENTS_WEBHOOK_LEASE", 60s, 100ms, 1h);
    if (e.lease <= e.request_timeout) {
        throw commons::ConfigError("PAYMENTS_WEBHOOK_LEASE",
                                   "must exceed PAYMENTS_WEBHOOK_REQUEST_TIMEOUT, or a delivery "
                                   "could be sent twice at once");
    }
    e.default_max_in_flight =
        static_cast<std::int32_t>(env.Int("PAYMENTS_WEBHOOK_ENDPOINT_MAX_IN_FLIGHT", 32, 1, 1000));
    const std::string schedule_text =
        env.String("PAYMENTS_WEBHOOK_RETRY_SCHEDULE", "0s,5s,5m,30m,2h,5h,10h,14h,20h,24h");
    auto schedule = domain::RetrySchedule::Parse(schedule_text);
    if (!schedule) {
        throw commons::ConfigError("PAYMENTS_WEBHOOK_RETRY_SCHEDULE",
                                   "expected 1 to 50 comma-separated durations of at most 7 days "
                                   "(\"0s,5s,5m\"), got \"" +
                                       schedule_text + "\"");
    }
    e.record.schedule = *schedule;
    e.record.retry_after_max = env.Duration("PAYMENTS_WEBHOOK_RETRY_AFTER_MAX", 1h, 0ms, 24h);
    auto& h = e.record.health;
    h.circuit_failures =
        static_cast<std::int32_t>(env.Int("PAYMENTS_WEBHOOK_CIRCUIT_FAILURES", 10, 1, 10'000));
    h.circuit_cooldown = env.Duration("PAYMENTS_WEBHOOK_CIRCUIT_COOLDOWN", 30s, 1ms, 24h);
    h.circuit_cooldown_max =
        env.Duration("PAYMENTS_WEBHOOK_CIRCUIT_COOLDOWN_MAX", 10min, h.circuit_cooldown, 24h);
    h.disable_after = env.Duration("PAYMENTS_WEBHOOK_DISABLE_AFTER", 24h * 5, 1ms, 24h * 60);
    s.stripe_tolerance_seconds =
        env.Duration("PAYMENTS_STRIPE_WEBHOOK_TOLERANCE", 300s, 0ms, 24h).count() / 1000;
    s.inbound_poll = env.Duration("PAYMENTS_WEBHOOK_INBOUND_POLL_INTERVAL", 1s, 1ms, 60s);
    // At least a day; shorter than the retry schedule (3 days and more), retries are cut short.
    s.purge.retention = env.Duration("PAYMENTS_WEBHOOK_RETENTION", 24h * 30, 24h, 24h * 3650);
    s.purge.interval = env.Duration("PAYMENTS_WEBHOOK_PURGE_INTERVAL", 10min, 1s, 24h);
    s.consumer.stream = env.String("PAYMENTS_EVENTS_STREAM", "payments.events");
    s.consumer.group = env.String("PAYMENTS_WEBHOOK_CONSUMER_GROUP", "webhook");
    s.consumer.consumer = commons::ConsumerName("webhook");
    s.consumer.batch =
        static_cast<std::size_t>(env.Int("PAYMENTS_WEBHOOK_CONSUMER_BATCH", 500, 1, 10'000));
    s.consumer.redis_command_timeout = env.Duration("PAYMENTS_REDIS_COMMAND_TIMEOUT", 2s, 1ms, 60s);
    s.consumer.block =
        std::min<std::chrono::milliseconds>(1000ms, s.consumer.redis_command_timeout - 100ms);
    if (s.consumer.block.count() <= 0) {
        throw commons::ConfigError("PAYMENTS_REDIS_COMMAND_TIMEOUT",
                                   "the webhook service needs at least 200ms to read the stream");
    }
    s.consumer.claim_idle = env.Duration("PAYMENTS_WEBHOOK_CONSUMER_CLAIM_IDLE", 30s, 100ms, 1h);
    return s;
}

// Everything the routes use, alive while the server runs; stopped intake first, engine last.
class WebhookParts final : public middleware::ServiceParts {
  public:
    WebhookParts(middleware::ServiceContext& context, const Settings& settings)
        : store_(context.database.primary(), "webhook", context.outbox, context.ids),
          engine_(store_, settings.engine, app::SystemMicros, context.logger, context.metrics),
          intake_(store_, engine_, app::SystemMicros),
          inbound_(store_, handlers_, app::SystemMicros, context.logger, settings.inbound_poll),
          purge_(store_, settings.purge, app::SystemMicros, context.logger, context.metrics),
          consumer_(context.redis, settings.consumer, context.logger, context.metrics) {
        engine_.Start();
        inbound_.Start();
        purge_.Start();
        consumer_.StartBatch(
            [this](const std::vector<commons::Event>& events) { intake_.Add(events); });
    }
    ~WebhookParts() override {
        consumer_.Stop();
        purge_.Stop();
        inbound_.Stop();
        engine_.Stop();
    }

    store::PgWebhookStore& store() { return store_; }
    app::DeliveryEngine& engine() { return engine_; }
    app::InboundWorker& inbound() { return inbound_; }

  private:
    store::PgWebhookStore store_;
    app::DeliveryEngine engine_;
    app::EventIntake intake_;
    // Payin and payout register their Stripe event handlers here; until then every event is
    // stored, acknowledged and marked processed without a handler.
    app::InboundHandlers handlers_;
    app::InboundWorker inbound_;
    app::PurgeWorker purge_;
    commons::StreamConsumer consumer_;
};

}  // namespace
}  // namespace webhook

int main(int argc, char** argv) {
    return middleware::RunService(
        {.name = "webhook",
         .default_port = 8084,
         .migrations = webhook::Migrations(),
         .default_blocking_threads = 16,
         .add_routes =
             [](middleware::ServiceContext& context, commons::http::Router& router) {
                 const auto settings = webhook::ReadSettings(context.env);
                 auto parts = std::make_unique<webhook::WebhookParts>(context, settings);
                 webhook::api::AddRoutes(
                     {.store = parts->store(),
                      .engine = parts->engine(),
                      .inbound = parts->inbound(),
                      .secrets = context.secrets,
                      .ids = context.ids,
                      .clock = webhook::app::SystemMicros,
                      .stripe_tolerance_seconds = settings.stripe_tolerance_seconds,
                      .allow_http = settings.allow_http,
                      .allow_private_targets = settings.engine.allow_private_targets,
                      .retention_us =
                          static_cast<webhook::domain::Micros>(settings.purge.retention.count()) *
                          1000},
                     router);
                 return std::unique_ptr<middleware::ServiceParts>(std::move(parts));
             },
         .public_route_prefixes = {webhook::api::kInboundPrefix}},
        argc, argv);
}
