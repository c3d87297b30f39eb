#include "bench/ledger_workload.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "commons/assert.hpp"
#include "commons/text.hpp"

namespace bench {
namespace {

// Keeps the account draws apart from the {{rand}} draws of templates made with the same seed.
constexpr std::uint64_t kTransferDomain = 0x5452414e'53464552ULL;

// Short per-scenario tags in transaction ids, so two scenarios of one run never reuse an id
// (each load numbers its requests from 0).
std::string_view IdTag(LedgerScenario scenario) {
    switch (scenario) {
        case LedgerScenario::kUniform:
            return "u";
        case LedgerScenario::kHot:
            return "h";
        case LedgerScenario::kBatch:
            return "b";
        case LedgerScenario::kNaive:
            return "n";
        case LedgerScenario::kNaiveHot:
            return "nh";
    }
    PAY_ASSERT(false);
}

bool UsesHotAccounts(LedgerScenario scenario) {
    return scenario == LedgerScenario::kHot || scenario == LedgerScenario::kNaiveHot;
}

void AppendEntry(std::string_view account_id, std::string_view direction, std::int64_t amount,
                 std::string& out) {
    out += R"({"account_id":")";
    out += account_id;
    out += R"(","direction":")";
    out += direction;
    out += R"(","amount":)";
    out += std::to_string(amount);
    out += '}';
}

void AppendTransferJson(const Transfer& transfer, std::string& out) {
    out += R"({"id":")";
    out += transfer.transaction_id;
    out += R"(","entries":[)";
    AppendEntry(transfer.debit_account_id, "debit", transfer.amount_minor, out);
    out += ',';
    AppendEntry(transfer.credit_account_id, "credit", transfer.amount_minor, out);
    out += "]}";
}

}  // namespace

std::string_view LedgerScenarioName(LedgerScenario scenario) {
    switch (scenario) {
        case LedgerScenario::kUniform:
            return "uniform";
        case LedgerScenario::kHot:
            return "hot";
        case LedgerScenario::kBatch:
            return "batch";
        case LedgerScenario::kNaive:
            return "naive";
        case LedgerScenario::kNaiveHot:
            return "naive-hot";
    }
    PAY_ASSERT(false);
}

bool IsNaive(LedgerScenario scenario) {
    return scenario == LedgerScenario::kNaive || scenario == LedgerScenario::kNaiveHot;
}

commons::Result<std::vector<LedgerScenario>, std::string> ParseLedgerScenarios(
    std::string_view list) {
    std::vector<LedgerScenario> scenarios;
    const auto add = [&scenarios](LedgerScenario scenario) {
        if (std::find(scenarios.begin(), scenarios.end(), scenario) == scenarios.end()) {
            scenarios.push_back(scenario);
        }
    };
    for (const std::string_view name : commons::Split(list, ',')) {
        if (name.empty()) {
            return std::string("empty scenario name in \"") + std::string(list) +
                   "\"; expected a comma-separated list of uniform, hot, batch, naive, "
                   "naive-hot, or all";
        }
        if (name == "all") {
            for (LedgerScenario scenario : kAllLedgerScenarios) add(scenario);
        } else {
            const auto* found =
                std::find_if(std::begin(kAllLedgerScenarios), std::end(kAllLedgerScenarios),
                             [name](LedgerScenario s) { return LedgerScenarioName(s) == name; });
            if (found == std::end(kAllLedgerScenarios)) {
                return "unknown scenario \"" + std::string(name) +
                       "\"; expected uniform, hot, batch, naive, naive-hot or all";
            }
            add(*found);
        }
    }
    return scenarios;
}

std::string UniformAccountId(std::uint32_t index) { return "bench_u_" + std::to_string(index); }

Transfer MakeTransfer(const TransferPlan& plan, LedgerScenario scenario, std::uint64_t seq,
                      std::uint32_t item) {
    PAY_ASSERT(plan.accounts >= kLedgerAccountsMin);
    PAY_ASSERT(scenario == LedgerScenario::kBatch ? item < plan.batch_size : item == 0);
    Transfer transfer;
    transfer.transaction_id = "bench_" + plan.run.unique_prefix + "_";
    transfer.transaction_id += IdTag(scenario);
    transfer.transaction_id += std::to_string(seq);
    if (scenario == LedgerScenario::kBatch) transfer.transaction_id += "_" + std::to_string(item);

    if (UsesHotAccounts(scenario)) {
        // Alternating keeps both balances near zero; the locking is the same either way.
        const bool a_debited = seq % 2 == 0;
        transfer.debit_account_id = a_debited ? kHotAccountA : kHotAccountB;
        transfer.credit_account_id = a_debited ? kHotAccountB : kHotAccountA;
        return transfer;
    }
    // Two different accounts, each uniform: draw the debit among all, the credit among the
    // others (skipping over the debit's index).
    const std::uint64_t key =
        Mix64(plan.run.seed ^ Mix64(seq ^ Mix64(kTransferDomain + (std::uint64_t{item} << 8) +
                                                static_cast<std::uint64_t>(scenario))));
    const auto last = static_cast<std::int64_t>(plan.accounts) - 1;
    const auto debit = static_cast<std::uint32_t>(UniformInt(key, 0, last));
    auto credit = static_cast<std::uint32_t>(UniformInt(Mix64(key ^ 1), 0, last - 1));
    if (credit >= debit) ++credit;
    transfer.debit_account_id = UniformAccountId(debit);
    transfer.credit_account_id = UniformAccountId(credit);
    return transfer;
}

std::string TransferJson(const Transfer& transfer) {
    std::string out;
    AppendTransferJson(transfer, out);
    return out;
}

HttpRequest MakeLedgerRequest(const TransferPlan& plan, LedgerScenario scenario, std::uint64_t seq,
                              std::string_view base_path, std::string_view api_key) {
    PAY_ASSERT(!IsNaive(scenario));
    HttpRequest request;
    request.method = "POST";
    request.headers = {{"Authorization", "Bearer " + std::string(api_key)},
                       {"Content-Type", "application/json"}};
    request.target = std::string(base_path);
    if (scenario != LedgerScenario::kBatch) {
        request.target += "/v1/transactions";
        AppendTransferJson(MakeTransfer(plan, scenario, seq), request.body);
        return request;
    }
    request.target += "/v1/transactions/batch";
    // About 200 bytes per transfer.
    request.body.reserve(32 + 200 * std::size_t{plan.batch_size});
    request.body += R"({"transactions":[)";
    for (std::uint32_t item = 0; item < plan.batch_size; ++item) {
        if (item > 0) request.body += ',';
        AppendTransferJson(MakeTransfer(plan, scenario, seq, item), request.body);
    }
    request.body += "]}";
    return request;
}

std::string AccountJson(std::string_view account_id) {
    return R"({"id":")" + std::string(account_id) +
           R"(","currency":"USD","normal_balance":"debit"})";
}

std::vector<std::string> ServiceAccountsFor(const std::vector<LedgerScenario>& scenarios,
                                            std::uint32_t accounts) {
    const auto selected = [&scenarios](LedgerScenario scenario) {
        return std::find(scenarios.begin(), scenarios.end(), scenario) != scenarios.end();
    };
    std::vector<std::string> ids;
    if (selected(LedgerScenario::kUniform) || selected(LedgerScenario::kBatch)) {
        ids.reserve(accounts + 2);
        for (std::uint32_t index = 0; index < accounts; ++index) {
            ids.push_back(UniformAccountId(index));
        }
    }
    if (selected(LedgerScenario::kHot)) {
        ids.emplace_back(kHotAccountA);
        ids.emplace_back(kHotAccountB);
    }
    return ids;
}

Verdict ClassifyCreated(const HttpResponse& response) {
    if (response.status == 201) return Verdict::kOk;
    if (response.status >= 200 && response.status < 300) return Verdict::kUnexpected;
    return Verdict::kHttpError;
}

Verdict ClassifyBatch(const HttpResponse& response, std::uint32_t batch_size) {
    if (response.status < 200 || response.status >= 300) return Verdict::kHttpError;
    if (response.status != 200) return Verdict::kUnexpected;
    const auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) return Verdict::kUnexpected;
    const auto results = body.find("results");
    if (results == body.end() || !results->is_array() || results->size() != batch_size) {
        return Verdict::kUnexpected;
    }
    for (const auto& result : *results) {
        if (!result.is_object()) return Verdict::kUnexpected;
        const auto status = result.find("status");
        if (status == result.end() || *status != 201) return Verdict::kUnexpected;
    }
    return Verdict::kOk;
}

}  // namespace bench
