#include "bench/ledger_workload.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace bench {
namespace {

using nlohmann::json;

TransferPlan Plan(std::uint32_t accounts = 10'000, std::uint32_t batch_size = 100) {
    return TransferPlan{TemplateRun{42, 7, "abcdefghij"}, accounts, batch_size};
}

bool IsLedgerId(const std::string& id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' &&
            c != '-') {
            return false;
        }
    }
    return true;
}

TEST(ParseLedgerScenarios, AllRunsEveryScenarioInTheDocumentedOrder) {
    auto parsed = ParseLedgerScenarios("all");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(parsed.value(),
              (std::vector<LedgerScenario>{LedgerScenario::kUniform, LedgerScenario::kHot,
                                           LedgerScenario::kBatch, LedgerScenario::kNaive,
                                           LedgerScenario::kNaiveHot}));
}

TEST(ParseLedgerScenarios, KeepsTheGivenOrderAndDropsDuplicates) {
    auto parsed = ParseLedgerScenarios("naive,uniform,naive,naive-hot");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(parsed.value(),
              (std::vector<LedgerScenario>{LedgerScenario::kNaive, LedgerScenario::kUniform,
                                           LedgerScenario::kNaiveHot}));
    EXPECT_EQ(ParseLedgerScenarios("hot,all").value().size(), 5u);
    EXPECT_EQ(ParseLedgerScenarios("hot,all").value().front(), LedgerScenario::kHot);
}

TEST(ParseLedgerScenarios, RejectsUnknownAndEmptyNames) {
    EXPECT_NE(ParseLedgerScenarios("uniform,warm").error().find("unknown scenario \"warm\""),
              std::string::npos);
    EXPECT_NE(ParseLedgerScenarios("").error().find("empty scenario name"), std::string::npos);
    EXPECT_NE(ParseLedgerScenarios("hot,").error().find("empty scenario name"), std::string::npos);
    EXPECT_NE(ParseLedgerScenarios("Uniform").error().find("unknown"), std::string::npos);
}

TEST(LedgerScenarioName, RoundTripsThroughTheParser) {
    for (LedgerScenario scenario : kAllLedgerScenarios) {
        auto parsed = ParseLedgerScenarios(LedgerScenarioName(scenario));
        ASSERT_TRUE(parsed.ok());
        EXPECT_EQ(parsed.value(), std::vector<LedgerScenario>{scenario});
    }
    EXPECT_TRUE(IsNaive(LedgerScenario::kNaive));
    EXPECT_TRUE(IsNaive(LedgerScenario::kNaiveHot));
    EXPECT_FALSE(IsNaive(LedgerScenario::kBatch));
}

TEST(MakeTransfer, UniformPicksTwoDifferentAccountsInRange) {
    for (std::uint32_t accounts : {2u, 3u, 10'000u}) {
        const TransferPlan plan = Plan(accounts);
        std::set<std::string> valid;
        for (std::uint32_t i = 0; i < accounts; ++i) valid.insert(UniformAccountId(i));
        for (std::uint64_t seq = 0; seq < 5'000; ++seq) {
            const Transfer transfer = MakeTransfer(plan, LedgerScenario::kUniform, seq);
            EXPECT_NE(transfer.debit_account_id, transfer.credit_account_id) << seq;
            EXPECT_TRUE(valid.count(transfer.debit_account_id)) << transfer.debit_account_id;
            EXPECT_TRUE(valid.count(transfer.credit_account_id)) << transfer.credit_account_id;
            EXPECT_EQ(transfer.amount_minor, kTransferAmountMinor);
        }
    }
}

TEST(MakeTransfer, UniformSpreadsOverEveryAccount) {
    const TransferPlan plan = Plan(10);
    std::map<std::string, int> debits;
    std::map<std::string, int> credits;
    for (std::uint64_t seq = 0; seq < 10'000; ++seq) {
        const Transfer transfer = MakeTransfer(plan, LedgerScenario::kNaive, seq);
        ++debits[transfer.debit_account_id];
        ++credits[transfer.credit_account_id];
    }
    ASSERT_EQ(debits.size(), 10u);
    ASSERT_EQ(credits.size(), 10u);
    // 1000 expected each; 800..1200 is over six standard deviations wide.
    for (const auto& [account, count] : debits) EXPECT_NEAR(count, 1000, 200) << account;
    for (const auto& [account, count] : credits) EXPECT_NEAR(count, 1000, 200) << account;
}

TEST(MakeTransfer, IsDeterministicAndDependsOnTheSeed) {
    const TransferPlan plan = Plan();
    TransferPlan other_seed = plan;
    other_seed.run.seed = 43;
    int differing = 0;
    for (std::uint64_t seq = 0; seq < 100; ++seq) {
        const Transfer a = MakeTransfer(plan, LedgerScenario::kUniform, seq);
        const Transfer b = MakeTransfer(plan, LedgerScenario::kUniform, seq);
        EXPECT_EQ(a.debit_account_id, b.debit_account_id);
        EXPECT_EQ(a.credit_account_id, b.credit_account_id);
        EXPECT_EQ(a.transaction_id, b.transaction_id);
        differing += MakeTransfer(other_seed, LedgerScenario::kUniform, seq).debit_account_id !=
                     a.debit_account_id;
    }
    EXPECT_GT(differing, 90);
}

TEST(MakeTransfer, HotAlternatesBetweenTheTwoHotAccounts) {
    const TransferPlan plan = Plan();
    for (LedgerScenario scenario : {LedgerScenario::kHot, LedgerScenario::kNaiveHot}) {
        const Transfer even = MakeTransfer(plan, scenario, 10);
        const Transfer odd = MakeTransfer(plan, scenario, 11);
        EXPECT_EQ(even.debit_account_id, kHotAccountA);
        EXPECT_EQ(even.credit_account_id, kHotAccountB);
        EXPECT_EQ(odd.debit_account_id, kHotAccountB);
        EXPECT_EQ(odd.credit_account_id, kHotAccountA);
    }
}

TEST(MakeTransfer, TransactionIdsAreValidAndUniqueAcrossScenariosRequestsAndItems) {
    const TransferPlan plan = Plan(10'000, 1000);
    std::set<std::string> ids;
    std::size_t made = 0;
    for (LedgerScenario scenario : kAllLedgerScenarios) {
        for (std::uint64_t seq :
             {0ull, 1ull, 10ull, 11ull, 101ull, 18'446'744'073'709'551'615ull}) {
            const std::uint32_t items = scenario == LedgerScenario::kBatch ? 1000 : 1;
            for (std::uint32_t item = 0; item < items; ++item) {
                const Transfer transfer = MakeTransfer(plan, scenario, seq, item);
                EXPECT_TRUE(IsLedgerId(transfer.transaction_id)) << transfer.transaction_id;
                ids.insert(transfer.transaction_id);
                ++made;
            }
        }
    }
    EXPECT_EQ(ids.size(), made);
    EXPECT_EQ(MakeTransfer(plan, LedgerScenario::kUniform, 7).transaction_id,
              "bench_abcdefghij_u7");
    EXPECT_EQ(MakeTransfer(plan, LedgerScenario::kBatch, 7, 99).transaction_id,
              "bench_abcdefghij_b7_99");
    EXPECT_EQ(MakeTransfer(plan, LedgerScenario::kNaiveHot, 7).transaction_id,
              "bench_abcdefghij_nh7");
}

TEST(MakeLedgerRequest, PostsOneTransferWithTheKey) {
    const TransferPlan plan = Plan();
    const HttpRequest request = MakeLedgerRequest(plan, LedgerScenario::kUniform, 5, "", "sk_x");
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/v1/transactions");
    ASSERT_EQ(request.headers.size(), 2u);
    EXPECT_EQ(request.headers[0].name, "Authorization");
    EXPECT_EQ(request.headers[0].value, "Bearer sk_x");
    EXPECT_EQ(request.headers[1].value, "application/json");
    const Transfer transfer = MakeTransfer(plan, LedgerScenario::kUniform, 5);
    EXPECT_EQ(json::parse(request.body), json::parse(R"({"id":")" + transfer.transaction_id +
                                                     R"(","entries":[
                  {"account_id":")" + transfer.debit_account_id +
                                                     R"(","direction":"debit","amount":100},
                  {"account_id":")" + transfer.credit_account_id +
                                                     R"(","direction":"credit","amount":100}]})"));
}

TEST(MakeLedgerRequest, BatchCarriesBatchSizeDistinctTransfers) {
    const TransferPlan plan = Plan(10'000, 100);
    const HttpRequest request =
        MakeLedgerRequest(plan, LedgerScenario::kBatch, 3, "/ledger", "sk_x");
    EXPECT_EQ(request.target, "/ledger/v1/transactions/batch");
    const json body = json::parse(request.body);
    ASSERT_EQ(body.size(), 1u);
    const json& transactions = body.at("transactions");
    ASSERT_EQ(transactions.size(), 100u);
    std::set<std::string> ids;
    for (std::size_t i = 0; i < transactions.size(); ++i) {
        const json& transaction = transactions[i];
        EXPECT_EQ(transaction.at("id"), "bench_abcdefghij_b3_" + std::to_string(i));
        ids.insert(transaction.at("id").get<std::string>());
        ASSERT_EQ(transaction.at("entries").size(), 2u);
        EXPECT_EQ(transaction["entries"][0]["direction"], "debit");
        EXPECT_EQ(transaction["entries"][1]["direction"], "credit");
        EXPECT_EQ(transaction["entries"][0]["amount"], transaction["entries"][1]["amount"]);
        EXPECT_NE(transaction["entries"][0]["account_id"], transaction["entries"][1]["account_id"]);
    }
    EXPECT_EQ(ids.size(), 100u);
}

TEST(ServiceAccountsFor, CreatesOnlyWhatTheServiceScenariosUse) {
    using S = LedgerScenario;
    EXPECT_EQ(ServiceAccountsFor({S::kHot}, 10),
              (std::vector<std::string>{"bench_hot_a", "bench_hot_b"}));
    EXPECT_TRUE(ServiceAccountsFor({S::kNaive, S::kNaiveHot}, 10).empty());
    const auto uniform = ServiceAccountsFor({S::kUniform, S::kBatch}, 3);
    EXPECT_EQ(uniform, (std::vector<std::string>{"bench_u_0", "bench_u_1", "bench_u_2"}));
    EXPECT_EQ(ServiceAccountsFor({S::kBatch, S::kHot, S::kNaive}, 10'000).size(), 10'002u);
}

TEST(AccountJson, IsAnUnflaggedUsdDebitAccount) {
    EXPECT_EQ(json::parse(AccountJson("bench_u_7")),
              json::parse(R"({"id":"bench_u_7","currency":"USD","normal_balance":"debit"})"));
}

TEST(ClassifyCreated, OnlyACreationIsOk) {
    EXPECT_EQ(ClassifyCreated({201, "{}"}), Verdict::kOk);
    EXPECT_EQ(ClassifyCreated({200, "{}"}), Verdict::kUnexpected);  // a replay
    EXPECT_EQ(ClassifyCreated({422, "{}"}), Verdict::kHttpError);
    EXPECT_EQ(ClassifyCreated({429, ""}), Verdict::kHttpError);
    EXPECT_EQ(ClassifyCreated({503, ""}), Verdict::kHttpError);
}

std::string BatchBody(const std::vector<int>& statuses) {
    json results = json::array();
    for (std::size_t i = 0; i < statuses.size(); ++i) {
        results.push_back({{"index", i}, {"status", statuses[i]}});
    }
    return json{{"object", "batch"}, {"atomic", false}, {"results", results}}.dump();
}

TEST(ClassifyBatch, IsOkOnlyWhenEveryItemWasCreated) {
    EXPECT_EQ(ClassifyBatch({200, BatchBody({201, 201, 201})}, 3), Verdict::kOk);
    EXPECT_EQ(ClassifyBatch({200, BatchBody({201, 422, 201})}, 3), Verdict::kUnexpected);
    EXPECT_EQ(ClassifyBatch({200, BatchBody({201, 200, 201})}, 3), Verdict::kUnexpected);
    EXPECT_EQ(ClassifyBatch({200, BatchBody({201, 201})}, 3), Verdict::kUnexpected);
    EXPECT_EQ(ClassifyBatch({200, "not json"}, 3), Verdict::kUnexpected);
    EXPECT_EQ(ClassifyBatch({200, R"({"results":{}})"}, 3), Verdict::kUnexpected);
    EXPECT_EQ(ClassifyBatch({200, R"({"results":[1,2,3]})"}, 3), Verdict::kUnexpected);
    EXPECT_EQ(ClassifyBatch({201, BatchBody({201})}, 1), Verdict::kUnexpected);
    EXPECT_EQ(ClassifyBatch({422, "{}"}, 3), Verdict::kHttpError);
    EXPECT_EQ(ClassifyBatch({400, "{}"}, 3), Verdict::kHttpError);
}

}  // namespace
}  // namespace bench
