#include "bench/ledger_scenario.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "bench/engine.hpp"
#include "bench/naive_ledger.hpp"
#include "commons/assert.hpp"
#include "commons/config.hpp"
#include "commons/db.hpp"
#include "commons/http/client.hpp"
#include "commons/log.hpp"

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;
using commons::http::ClientError;

// Account setup: enough connections to keep ledger-service's blocking pool (16 threads by
// default) busy; more would only queue there.
constexpr std::size_t kSetupConnections = 16;
// Creating kLedgerAccountsMax accounts takes a few minutes; past this, setup has stalled.
constexpr auto kSetupDurationMax = std::chrono::minutes(10);
// Creating an account with a fixed id is idempotent, so failed attempts are simply repeated.
constexpr int kSetupAttemptsMax = 5;
// Error bodies quoted in messages are cut here.
constexpr std::size_t kQuotedBodyBytesMax = 300;

std::string BasePath(const HttpUrl& url) {
    std::string base = url.target;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base;
}

std::string Quoted(std::string_view body) {
    std::string text(body.substr(0, kQuotedBodyBytesMax));
    if (body.size() > kQuotedBodyBytesMax) text += "...";
    return text;
}

std::string Seconds(Clock::duration elapsed) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1fs", std::chrono::duration<double>(elapsed).count());
    return text;
}

// Why setup stopped, shared by the setup threads; the first failure wins.
struct SetupFailure {
    std::mutex mutex;
    std::optional<std::string> message;
    bool unreachable = false;
    std::atomic<bool> failed{false};

    void Set(std::string text, bool target_unreachable) {
        std::lock_guard lock(mutex);
        if (message) return;
        message = std::move(text);
        unreachable = target_unreachable;
        failed.store(true);
    }
};

std::string ExplainStatus(int status, std::string_view account_id, std::string_view body) {
    std::string answered = "POST /v1/accounts for " + std::string(account_id) + " answered " +
                           std::to_string(status) + " " + Quoted(body);
    switch (status) {
        case 401:
        case 403:
            return answered + "; give a key with scope ledger:write (--api-key)";
        case 409:
            return answered +
                   "; the account exists with other fields (bench accounts are USD, "
                   "debit-normal, no flags)";
        case 429:
            return answered +
                   "; ledger-service rate-limits the key: start it with "
                   "PAYMENTS_RATE_LIMIT_PER_SECOND=0";
        default:
            return answered;
    }
}

// Creates (or finds) every account in `ids` through the API, kSetupConnections at a time.
void CreateServiceAccounts(const LedgerRunSettings& settings, const std::vector<std::string>& ids,
                           std::chrono::nanoseconds request_timeout, const ProgressSink& progress) {
    if (ids.empty()) return;
    const std::size_t connections = std::min(kSetupConnections, ids.size());
    const std::string url = "http://" + HostHeaderValue(settings.url.endpoint) +
                            BasePath(settings.url) + "/v1/accounts";
    if (progress) {
        progress("setup: creating " + std::to_string(ids.size()) + " accounts through POST " +
                 BasePath(settings.url) + "/v1/accounts with " + std::to_string(connections) +
                 " connections");
    }
    commons::Logger logger("bench", stderr, commons::LogLevel::kWarn);
    commons::http::ClientSettings client_settings;
    client_settings.request_timeout =
        std::max(std::chrono::milliseconds(1),
                 std::chrono::duration_cast<std::chrono::milliseconds>(request_timeout));
    client_settings.connect_timeout = client_settings.request_timeout;
    client_settings.connections_per_host_max = connections;
    client_settings.attempts_max = kSetupAttemptsMax;
    client_settings.user_agent = "bench";
    commons::http::HttpClient client(client_settings, logger);

    const Clock::time_point started = Clock::now();
    const Clock::time_point deadline = started + kSetupDurationMax;
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> created{0};
    SetupFailure failure;
    const auto create = [&] {
        for (;;) {
            const std::size_t index = next.fetch_add(1);
            if (index >= ids.size() || failure.failed.load()) return;
            const std::string& id = ids[index];
            commons::http::ClientRequest request;
            request.method = commons::http::Method::kPost;
            request.url = url;
            request.headers = {{"Authorization", "Bearer " + settings.api_key},
                               {"Content-Type", "application/json"}};
            request.body = AccountJson(id);
            request.retry = commons::http::RetryPolicy::kAlways;
            request.deadline = deadline;
            try {
                const commons::http::ClientResponse response = client.Send(request);
                if (response.status == 201) {
                    created.fetch_add(1);
                } else if (response.status != 200) {
                    failure.Set(ExplainStatus(response.status, id, response.body), false);
                }
            } catch (const ClientError& error) {
                const bool unreachable = error.kind() == ClientError::Kind::kConnect ||
                                         error.kind() == ClientError::Kind::kResolve;
                failure.Set("POST " + url + " for " + id + ": " + error.what(), unreachable);
            }
        }
    };
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < connections; ++i) {
        threads.emplace_back(create);
    }
    for (std::thread& thread : threads) thread.join();
    if (failure.message) {
        if (failure.unreachable) throw TargetUnreachableError(*failure.message);
        throw std::runtime_error("account setup failed: " + *failure.message);
    }
    if (progress) {
        progress("setup: " + std::to_string(ids.size()) + " accounts ready (" +
                 std::to_string(created.load()) + " created, " +
                 std::to_string(ids.size() - created.load()) + " already there) in " +
                 Seconds(Clock::now() - started));
    }
}

std::string AccountsText(LedgerScenario scenario, std::uint32_t accounts) {
    if (scenario == LedgerScenario::kHot || scenario == LedgerScenario::kNaiveHot) {
        return std::string(kHotAccountA) + ", " + std::string(kHotAccountB);
    }
    return std::to_string(accounts) + " (bench_u_0 .. bench_u_" + std::to_string(accounts - 1) +
           ")";
}

std::uint32_t TransactionsPerRequest(const LedgerRunSettings& settings, LedgerScenario scenario) {
    return scenario == LedgerScenario::kBatch ? settings.plan.batch_size : 1;
}

Workload ServiceWorkload(const LedgerRunSettings& settings, LedgerScenario scenario) {
    const std::string base = BasePath(settings.url);
    const TransferPlan* plan = &settings.plan;
    Workload workload;
    workload.label = std::string(LedgerScenarioName(scenario));
    workload.endpoint = settings.url.endpoint;
    // MakeLedgerRequest only reads the plan, which outlives the load: safe from every thread.
    workload.make_request = [plan, scenario, base, key = settings.api_key](std::uint64_t seq) {
        return MakeLedgerRequest(*plan, scenario, seq, base, key);
    };
    std::string route = "POST " + base + "/v1/transactions";
    if (scenario == LedgerScenario::kBatch) {
        const std::uint32_t batch_size = plan->batch_size;
        workload.classify = [batch_size](const HttpRequest&, const HttpResponse& response) {
            return ClassifyBatch(response, batch_size);
        };
        route += "/batch";
    } else {
        workload.classify = [](const HttpRequest&, const HttpResponse& response) {
            return ClassifyCreated(response);
        };
    }
    workload.attributes = {
        {"request", route},
        {"url", settings.url_text},
        {"accounts", AccountsText(scenario, plan->accounts)},
        {"tx/request", std::to_string(TransactionsPerRequest(settings, scenario))},
    };
    return workload;
}

NaiveWorkload MakeNaiveWorkload(const LedgerRunSettings& settings, LedgerScenario scenario) {
    const TransferPlan* plan = &settings.plan;
    NaiveWorkload workload;
    workload.label = std::string(LedgerScenarioName(scenario));
    workload.make_transfer = [plan, scenario](std::uint64_t seq) {
        return MakeTransfer(*plan, scenario, seq);
    };
    workload.attributes = {
        {"database", commons::RedactUrl(settings.database_url)},
        {"schema", settings.naive_schema},
        {"accounts", AccountsText(scenario, plan->accounts)},
        {"statements",
         "BEGIN; SELECT 2 accounts ORDER BY id FOR UPDATE; INSERT transaction; INSERT 2 "
         "entries; UPDATE 2 balances; COMMIT"},
        {"errors", "unexpected = database transactions rolled back"},
    };
    return workload;
}

bool AnyOf(const std::vector<LedgerScenario>& scenarios, bool (*predicate)(LedgerScenario)) {
    return std::any_of(scenarios.begin(), scenarios.end(), predicate);
}

bool IsService(LedgerScenario scenario) { return !IsNaive(scenario); }

}  // namespace

LedgerRunReport RunLedgerScenarios(const LedgerRunSettings& settings, const LoadSettings& load,
                                   std::string label, const ProgressSink& progress) {
    PAY_ASSERT(!settings.scenarios.empty());
    const bool service = AnyOf(settings.scenarios, IsService);
    const bool naive = AnyOf(settings.scenarios, IsNaive);
    const NaiveDatabase database{settings.database_url, settings.naive_schema};

    // Setup before any load, so none of it is measured.
    if (service) {
        CreateServiceAccounts(settings,
                              ServiceAccountsFor(settings.scenarios, settings.plan.accounts),
                              load.request_timeout, progress);
    }
    if (naive) {
        const Clock::time_point started = Clock::now();
        try {
            PrepareNaiveSchema(database, settings.plan.accounts);
        } catch (const commons::DatabaseUnavailableError& error) {
            throw TargetUnreachableError(error.what());
        }
        if (progress) {
            progress("setup: naive schema " + settings.naive_schema + " ready with " +
                     std::to_string(settings.plan.accounts) + " + 2 accounts in " +
                     Seconds(Clock::now() - started));
        }
    }

    LedgerRunReport run;
    run.report.scenario = "ledger";
    run.report.label = std::move(label);
    run.report.attributes = {{"seed", std::to_string(settings.plan.run.seed)},
                             {"unique_prefix", settings.plan.run.unique_prefix},
                             {"accounts", std::to_string(settings.plan.accounts)},
                             {"batch_size", std::to_string(settings.plan.batch_size)}};
    for (LedgerScenario scenario : settings.scenarios) {
        const std::string name(LedgerScenarioName(scenario));
        if (progress) {
            progress("loading " + name + " with " + std::to_string(load.connections) +
                     (IsNaive(scenario) ? " PostgreSQL connections" : " connections") +
                     ": warm-up " + FormatDuration(load.warmup) + ", then " +
                     FormatDuration(load.duration) + " measured");
        }
        LoadResult result;
        // The window opens when the warm-up ends (give or take connecting) and closes when the
        // load returns; both are under the same load, so the CPU rate is the measured one's.
        std::optional<CpuWindow> cpu;
        if (!settings.cpu_processes.empty()) cpu.emplace(settings.cpu_processes, load.warmup);
        if (IsNaive(scenario)) {
            NaiveLoadResult naive_result =
                RunNaiveLoad(load, database, MakeNaiveWorkload(settings, scenario));
            if (naive_result.first_error && progress) {
                progress(name + ": first database error: " + *naive_result.first_error);
            }
            result = std::move(naive_result.load);
        } else {
            result = RunLoad(load, ServiceWorkload(settings, scenario));
            const auto limited = result.status_counts.find(429);
            if (limited != result.status_counts.end() && progress) {
                progress(name + ": " + std::to_string(limited->second) +
                         " responses were 429: ledger-service rate-limits the key; start it "
                         "with PAYMENTS_RATE_LIMIT_PER_SECOND=0");
            }
        }
        run.rows.push_back(
            SummarizeLedgerResult(result, TransactionsPerRequest(settings, scenario)));
        if (cpu) run.rows.back().cpu = cpu->Finish();
        const bool stop = result.interrupted || result.target_unreachable();
        run.report.results.push_back(std::move(result));
        if (stop) break;
    }
    run.ratios = LedgerRatios(run.rows);
    return run;
}

}  // namespace bench
