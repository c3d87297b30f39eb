// The ledger's HTTP API against real PostgreSQL: every route, every refusal, the sweeper, and
// the SQL guards behind the state machine.

#include <thread>

#include "ledger/tests/ledger_fixture.hpp"
#include "support/process.hpp"

namespace ledger::testing {
namespace {

class LedgerApiTest : public LedgerFixture {};

TEST_F(LedgerApiTest, CreatesAccountsIdempotentlyByClientId) {
    auto created = Account("cash", "USD", "debit");
    EXPECT_EQ(created["object"], "account");
    EXPECT_EQ(created["lock_version"], 0);
    EXPECT_EQ(created["balances"]["available"], 0);
    auto again =
        Post("/v1/accounts", {{"id", "cash"}, {"currency", "USD"}, {"normal_balance", "debit"}});
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.Header("idempotent-replayed"), "true");
    auto different =
        Post("/v1/accounts", {{"id", "cash"}, {"currency", "EUR"}, {"normal_balance", "debit"}});
    EXPECT_EQ(different.status, 409);
    EXPECT_EQ(ErrorCode(different), "account_exists_with_different_fields");
    EXPECT_EQ(json::parse(different.body)["error"]["fields"], json::array({"currency"}));
    auto generated = Post("/v1/accounts", {{"currency", "JPY"}, {"normal_balance", "credit"}});
    ASSERT_EQ(generated.status, 201);
    EXPECT_EQ(json::parse(generated.body)["id"].get<std::string>().rfind("acct_", 0), 0u);
}

TEST_F(LedgerApiTest, PostsATransactionAndReplaysItById) {
    Account("cash");
    Account("revenue", "USD", "credit");
    auto first = Post("/v1/transactions", Transfer("t1", "cash", "revenue", 1250));
    ASSERT_EQ(first.status, 201) << first.body;
    auto body = json::parse(first.body);
    EXPECT_EQ(body["status"], "posted");
    EXPECT_EQ(Balances("cash")["posted"], 1250);
    EXPECT_EQ(Balances("revenue")["posted"], 1250);

    auto replay = Post("/v1/transactions", Transfer("t1", "cash", "revenue", 1250));
    EXPECT_EQ(replay.status, 200);
    EXPECT_EQ(replay.Header("idempotent-replayed"), "true");
    EXPECT_EQ(json::parse(replay.body), body);
    EXPECT_EQ(Balances("cash")["posted"], 1250);  // not booked twice

    json with_metadata = Transfer("t2", "cash", "revenue", 5);
    with_metadata["metadata"] = {{"order", "o-1"}, {"a_longer_key", "x"}, {"b", "y"}};
    with_metadata["description"] = "with metadata";
    ASSERT_EQ(Post("/v1/transactions", with_metadata).status, 201);
    auto metadata_replay = Call("POST", "/v1/transactions", with_metadata.dump(2));
    EXPECT_EQ(metadata_replay.status, 200) << metadata_replay.body;

    auto conflict = Post("/v1/transactions", Transfer("t1", "cash", "revenue", 99));
    EXPECT_EQ(conflict.status, 409);
    EXPECT_EQ(ErrorCode(conflict), "transaction_exists_with_different_fields");
    EXPECT_EQ(json::parse(conflict.body)["error"]["fields"], json::array({"entries"}));
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, RefusesWhatTheStateForbidsWithPreciseCodes) {
    Account("cash");
    Account("wallet", "USD", "credit", "debits_must_not_exceed_credits");
    Account("euro", "EUR", "debit");
    Account("closed", "USD", "credit");
    ASSERT_EQ(Call("POST", "/v1/accounts/closed/close").status, 200);

    auto expect = [&](const json& request, int status, const std::string& code) {
        auto reply = Post("/v1/transactions", request);
        EXPECT_EQ(reply.status, status) << request.dump() << " -> " << reply.body;
        EXPECT_EQ(ErrorCode(reply), code) << request.dump();
    };
    expect(Transfer("a", "cash", "missing", 5), 422, "account_not_found");
    expect(Transfer("b", "cash", "closed", 5), 422, "account_closed");
    expect(Transfer("c", "cash", "euro", 5), 422, "unbalanced");
    expect(Transfer("d", "wallet", "cash", 1), 422, "exceeds_credits");
    json mismatch = Transfer("e", "cash", "wallet", 5);
    mismatch["entries"][0]["currency"] = "EUR";
    expect(mismatch, 422, "currency_mismatch");
    json locked = Transfer("f", "cash", "wallet", 5);
    locked["lock_versions"] = {{"wallet", 7}};
    expect(locked, 422, "lock_version_mismatch");
    ASSERT_EQ(Post("/v1/transactions", Transfer("g", "cash", "wallet", INT64_MAX)).status, 201);
    expect(Transfer("h", "cash", "wallet", 1), 422, "overflow");
    // Nothing refused was stored.
    EXPECT_EQ(Call("GET", "/v1/transactions/a").status, 404);
    EXPECT_EQ(GetJson("/v1/transactions")["data"].size(), 1u);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, ConvertsCurrenciesThroughLiquidityAccountsInOneTransaction) {
    Account("usd_cash");
    Account("usd_liquidity", "USD", "credit");
    Account("eur_liquidity", "EUR", "debit");
    Account("eur_wallet", "EUR", "credit");
    json fx{{"id", "fx1"},
            {"entries",
             {{{"account_id", "usd_cash"}, {"direction", "debit"}, {"amount", 1100}},
              {{"account_id", "usd_liquidity"}, {"direction", "credit"}, {"amount", 1100}},
              {{"account_id", "eur_liquidity"}, {"direction", "debit"}, {"amount", 1000}},
              {{"account_id", "eur_wallet"}, {"direction", "credit"}, {"amount", 1000}}}}};
    auto reply = Post("/v1/transactions", fx);
    ASSERT_EQ(reply.status, 201) << reply.body;
    EXPECT_EQ(Balances("eur_wallet")["posted"], 1000);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, PendingTransactionsPostPartiallyVoidAndRefuseSecondChanges) {
    Account("cash");
    Account("wallet", "USD", "credit", "debits_must_not_exceed_credits");
    ASSERT_EQ(Post("/v1/transactions", Transfer("fund", "cash", "wallet", 1000)).status, 201);
    json hold = Transfer("hold", "wallet", "cash", 600);
    hold["status"] = "pending";
    ASSERT_EQ(Post("/v1/transactions", hold).status, 201);
    auto balances = Balances("wallet");
    EXPECT_EQ(balances["posted"], 1000);
    EXPECT_EQ(balances["available"], 400);
    // The hold counts against the flag: 500 more would exceed the credits.
    EXPECT_EQ(ErrorCode(Post("/v1/transactions", Transfer("x", "wallet", "cash", 500))),
              "exceeds_credits");

    auto posted = Post("/v1/transactions/hold/post", {{"amounts", {450, 450}}});
    ASSERT_EQ(posted.status, 200) << posted.body;
    EXPECT_EQ(json::parse(posted.body)["entries"][0]["posted_amount"], 450);
    balances = Balances("wallet");
    EXPECT_EQ(balances["posted"], 550);
    EXPECT_EQ(balances["available"], 550);
    EXPECT_EQ(balances["pending_debits"], 0);

    auto again = Call("POST", "/v1/transactions/hold/void");
    EXPECT_EQ(again.status, 422);
    EXPECT_EQ(ErrorCode(again), "transaction_not_pending");
    EXPECT_EQ(json::parse(again.body)["error"]["status"], "posted");

    json hold2 = Transfer("hold2", "wallet", "cash", 100);
    hold2["status"] = "pending";
    ASSERT_EQ(Post("/v1/transactions", hold2).status, 201);
    auto unbalanced = Post("/v1/transactions/hold2/post", {{"amounts", {100, 50}}});
    EXPECT_EQ(ErrorCode(unbalanced), "unbalanced");
    auto too_much = Post("/v1/transactions/hold2/post", {{"amounts", {101, 101}}});
    EXPECT_EQ(ErrorCode(too_much), "post_amounts_invalid");
    ASSERT_EQ(Call("POST", "/v1/transactions/hold2/void").status, 200);
    EXPECT_EQ(Balances("wallet")["available"], 550);
    auto post_voided = Call("POST", "/v1/transactions/hold2/post");
    EXPECT_EQ(post_voided.status, 422);
    EXPECT_EQ(json::parse(post_voided.body)["error"]["status"], "voided");
    EXPECT_EQ(Call("POST", "/v1/transactions/nope/post").status, 404);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, ReversesOncePostedTransactionsLinkedBothWays) {
    Account("cash");
    Account("revenue", "USD", "credit");
    ASSERT_EQ(Post("/v1/transactions", Transfer("sale", "cash", "revenue", 700)).status, 201);
    auto reversal = Post("/v1/transactions/sale/reverse", {{"id", "sale-refund"}});
    ASSERT_EQ(reversal.status, 201) << reversal.body;
    auto body = json::parse(reversal.body);
    EXPECT_EQ(body["reverses"], "sale");
    EXPECT_EQ(body["entries"][0]["direction"], "credit");
    EXPECT_EQ(GetJson("/v1/transactions/sale")["reversed_by"], "sale-refund");
    EXPECT_EQ(Balances("cash")["posted"], 0);
    auto replay = Post("/v1/transactions/sale/reverse", {{"id", "sale-refund"}});
    EXPECT_EQ(replay.status, 200);
    auto second = Post("/v1/transactions/sale/reverse", {{"id", "sale-refund-2"}});
    EXPECT_EQ(second.status, 422);
    EXPECT_EQ(ErrorCode(second), "already_reversed");
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, SweeperExpiresPendingTransactionsWhoseTimeoutPassed) {
    Account("cash");
    Account("wallet", "USD", "credit");
    json hold = Transfer("hold", "cash", "wallet", 300);
    hold["status"] = "pending";
    hold["timeout_seconds"] = 60;
    ASSERT_EQ(Post("/v1/transactions", hold).status, 201);
    json forever = Transfer("forever", "cash", "wallet", 5);
    forever["status"] = "pending";
    ASSERT_EQ(Post("/v1/transactions", forever).status, 201);
    EXPECT_EQ(ledger_->ExpireDue(100), 0u);  // not due yet
    json late = Transfer("late", "cash", "wallet", 7);
    late["status"] = "pending";
    late["timeout_seconds"] = 30;
    ASSERT_EQ(Post("/v1/transactions", late).status, 201);
    clock_offset_micros_ = 61'000'000;
    ledger_->StartSweeper({std::chrono::milliseconds(10), 100});
    ASSERT_TRUE(test_support::PollUntil(std::chrono::seconds(10), [&] {
        return GetJson("/v1/transactions/hold")["status"] == "expired";
    }));
    ledger_->StopSweeper();
    EXPECT_EQ(GetJson("/v1/transactions/late")["status"], "expired");
    EXPECT_EQ(Balances("wallet")["pending_credits"], 5);
    EXPECT_EQ(GetJson("/v1/transactions/forever")["status"], "pending");
    EXPECT_EQ(ErrorCode(Call("POST", "/v1/transactions/hold/post")), "transaction_not_pending");
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, APostAfterTheTimeoutExpiresTheTransactionInsteadOfPostingIt) {
    Account("cash");
    Account("wallet", "USD", "credit");
    json hold = Transfer("hold", "cash", "wallet", 40);
    hold["status"] = "pending";
    hold["timeout_seconds"] = 30;
    ASSERT_EQ(Post("/v1/transactions", hold).status, 201);
    clock_offset_micros_ = 31'000'000;  // no sweeper runs in this test
    auto late = Call("POST", "/v1/transactions/hold/post");
    EXPECT_EQ(late.status, 422);
    EXPECT_EQ(ErrorCode(late), "transaction_not_pending");
    EXPECT_EQ(json::parse(late.body)["error"]["status"], "expired");
    EXPECT_EQ(GetJson("/v1/transactions/hold")["status"], "expired");
    auto balances = Balances("wallet");
    EXPECT_EQ(balances["pending_credits"], 0);
    EXPECT_EQ(balances["posted_credits"], 0);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, BatchesAreIndependentOrAtomic) {
    Account("cash");
    Account("wallet", "USD", "credit", "debits_must_not_exceed_credits");
    json batch{{"transactions",
                {Transfer("b1", "cash", "wallet", 10),
                 Transfer("b2", "wallet", "cash", 500),
                 {{"id", "b3"}},
                 Transfer("b4", "wallet", "cash", 10)}}};
    auto reply = Post("/v1/transactions/batch", batch);
    ASSERT_EQ(reply.status, 200) << reply.body;
    auto results = json::parse(reply.body)["results"];
    EXPECT_EQ(results[0]["status"], 201);
    EXPECT_EQ(results[1]["status"], 422);
    EXPECT_EQ(results[1]["error"]["code"], "exceeds_credits");
    EXPECT_EQ(results[2]["status"], 400);
    EXPECT_EQ(results[2]["error"]["param"], "transactions[2].entries");
    EXPECT_EQ(results[3]["status"], 201);

    json atomic{{"atomic", true},
                {"transactions",
                 {Transfer("a1", "cash", "wallet", 10), Transfer("a2", "wallet", "cash", 500)}}};
    auto refused = Post("/v1/transactions/batch", atomic);
    EXPECT_EQ(refused.status, 422);
    auto error = json::parse(refused.body)["error"];
    EXPECT_EQ(error["code"], "exceeds_credits");
    EXPECT_EQ(error["index"], 1);
    EXPECT_EQ(Call("GET", "/v1/transactions/a1").status, 404);

    json large{{"atomic", true}, {"transactions", json::array()}};
    for (int i = 0; i < api::kBatchTransactionsMax; ++i) {
        large["transactions"].push_back(Transfer("l" + std::to_string(i), "cash", "wallet", 1));
    }
    auto accepted = Post("/v1/transactions/batch", large);
    ASSERT_EQ(accepted.status, 200) << accepted.body.substr(0, 300);
    EXPECT_EQ(Balances("wallet")["posted"], 1000);
    large["transactions"].push_back(Transfer("over", "cash", "wallet", 1));
    EXPECT_EQ(Post("/v1/transactions/batch", large).status, 400);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, BadInputGetsA400NamingTheParameterAndStoresNothing) {
    Account("cash");
    Account("wallet", "USD", "credit");
    auto expect = [&](const std::string& body, const std::string& code, const std::string& param) {
        auto reply = Call("POST", "/v1/transactions", body);
        EXPECT_EQ(reply.status, 400) << body << " -> " << reply.body;
        auto error = json::parse(reply.body)["error"];
        EXPECT_EQ(error.value("code", ""), code) << body;
        EXPECT_EQ(error.value("param", ""), param) << body;
    };
    auto with = [](const std::function<void(json&)>& change) {
        json body = Transfer("bad", "cash", "wallet", 5);
        change(body);
        return body.dump();
    };
    expect("not json", "invalid_json", "");
    expect("[1,2]", "invalid_json", "");
    expect(with([](json& b) { b.erase("id"); }), "parameter_missing", "id");
    expect(with([](json& b) { b["id"] = 42; }), "parameter_invalid", "id");
    expect(with([](json& b) { b["id"] = "has space"; }), "id_invalid", "id");
    expect(with([](json& b) { b["entries"] = "x"; }), "parameter_invalid", "entries");
    expect(with([](json& b) { b["entries"][0]["amount"] = -5; }), "amount_invalid",
           "entries[0].amount");
    expect(with([](json& b) { b["entries"][0]["amount"] = 0; }), "amount_invalid",
           "entries[0].amount");
    expect(with([](json& b) { b["entries"][0]["amount"] = "5"; }), "amount_invalid",
           "entries[0].amount");
    expect(with([](json& b) { b["entries"][0]["amount"] = 1.5; }), "amount_invalid",
           "entries[0].amount");
    expect(
        R"({"id":"bad","entries":[{"account_id":"cash","direction":"debit","amount":9223372036854775808},{"account_id":"wallet","direction":"credit","amount":1}]})",
        "amount_invalid", "entries[0].amount");
    expect(with([](json& b) { b["entries"][1]["direction"] = "up"; }), "parameter_invalid",
           "entries[1].direction");
    expect(with([](json& b) { b["entries"][1]["currency"] = "XYZQ"; }), "currency_unknown",
           "entries[1].currency");
    expect(with([](json& b) { b["entries"][1]["account_id"] = "cash"; }),
           "accounts_must_be_different", "entries");
    expect(with([](json& b) { b["entries"].erase(1); }), "entries_count_invalid", "entries");
    expect(with([](json& b) {
               for (int i = 0; i < 63; ++i) b["entries"].push_back(b["entries"][0]);
           }),
           "entries_count_invalid", "entries");
    expect(with([](json& b) { b["timeout_seconds"] = 5; }), "timeout_invalid", "timeout_seconds");
    expect(with([](json& b) { b["surprise"] = true; }), "parameter_unknown", "surprise");
    expect(with([](json& b) { b["metadata"] = {{"k", 1}}; }), "metadata_invalid", "metadata.k");
    expect(with([](json& b) { b["effective_at"] = "yesterday"; }), "parameter_invalid",
           "effective_at");
    expect(with([](json& b) {
               b["lock_versions"] = {{"other", 1}};
           }),
           "parameter_invalid", "lock_versions.other");

    auto account = Call("POST", "/v1/accounts", R"({"currency":"NOPE","normal_balance":"debit"})");
    EXPECT_EQ(account.status, 400);
    EXPECT_EQ(ErrorCode(account), "currency_unknown");
    auto huge = Call("POST", "/v1/transactions", std::string(2 * 1024 * 1024, ' '));
    EXPECT_EQ(huge.status, 413);
    EXPECT_EQ(Call("GET", "/v1/accounts?limit=0").status, 400);
    EXPECT_EQ(Call("GET", "/v1/accounts/cash/balance?as_of=soon").status, 400);
    EXPECT_EQ(GetJson("/v1/transactions")["data"].size(), 0u);
    EXPECT_EQ(Balances("cash")["posted"], 0);
}

TEST_F(LedgerApiTest, ScopesSeparateReadersFromWriters) {
    Account("cash");
    EXPECT_EQ(Call("GET", "/v1/accounts/cash", "", kReaderKey).status, 200);
    EXPECT_EQ(
        Call("POST", "/v1/accounts", R"({"currency":"USD","normal_balance":"debit"})", kReaderKey)
            .status,
        403);
    EXPECT_EQ(Call("GET", "/v1/verify", "", kReaderKey).status, 403);
    EXPECT_EQ(test_support::Fetch(port_, "GET", "/v1/accounts/cash").status, 401);
}

TEST_F(LedgerApiTest, ClosedAccountsRefuseEntriesAndClosingNeedsNoPendingAmounts) {
    Account("cash");
    Account("wallet", "USD", "credit");
    json hold = Transfer("hold", "cash", "wallet", 5);
    hold["status"] = "pending";
    ASSERT_EQ(Post("/v1/transactions", hold).status, 201);
    auto refused = Call("POST", "/v1/accounts/wallet/close");
    EXPECT_EQ(refused.status, 422);
    EXPECT_EQ(ErrorCode(refused), "account_has_pending");
    ASSERT_EQ(Call("POST", "/v1/transactions/hold/void").status, 200);
    auto closed = Call("POST", "/v1/accounts/wallet/close");
    ASSERT_EQ(closed.status, 200);
    EXPECT_TRUE(json::parse(closed.body)["closed"].get<bool>());
    EXPECT_EQ(ErrorCode(Post("/v1/transactions", Transfer("t", "cash", "wallet", 1))),
              "account_closed");
    ASSERT_EQ(Call("POST", "/v1/accounts/wallet/reopen").status, 200);
    EXPECT_EQ(Post("/v1/transactions", Transfer("t", "cash", "wallet", 1)).status, 201);
    EXPECT_EQ(Call("POST", "/v1/accounts/nope/close").status, 404);
}

// PostgreSQL takes no NUL in text or jsonb. A NUL anywhere in a body is the client's 400
// naming the field, not a 500, and a request sharing the database transaction with it (group
// commit) is not failed by it.
TEST_F(LedgerApiTest, TextPostgreSqlCannotStoreIsA400NamingTheField) {
    Account("nul_cash");
    Account("nul_sales", "USD", "credit");
    struct Case {
        std::string target;
        std::string body;
        std::string param;
    };
    const std::vector<Case> cases = {
        {"/v1/accounts",
         R"({"currency":"USD","normal_balance":"debit","metadata":{"k":"a\u0000b"}})",
         "metadata.k"},
        {"/v1/accounts",
         R"({"currency":"USD","normal_balance":"debit","metadata":{"k\u0000":"v"}})",
         "metadata.k\xEF\xBF\xBD"},
        {"/v1/accounts", R"({"currency":"USD","normal_balance":"debit","name":"\u0000"})", "name"},
        {"/v1/transactions",
         R"({"id":"nul_t","description":"x\u0000","entries":[{"account_id":"nul_cash","direction":"debit","amount":1},{"account_id":"nul_sales","direction":"credit","amount":1}]})",
         "description"},
        {"/v1/transactions",
         R"({"id":"nul_t","entries":[{"account_id":"nul_cash","direction":"debit","amount":1},{"account_id":"nul_sales","direction":"credit","amount":1,"currency":"US\u0000"}]})",
         "entries[1].currency"},
    };
    for (const auto& c : cases) {
        auto reply = Call("POST", c.target, c.body);
        EXPECT_EQ(reply.status, 400) << c.body << " -> " << reply.body;
        EXPECT_EQ(ErrorCode(reply), "parameter_invalid") << reply.body;
        auto parsed = json::parse(reply.body, nullptr, false);
        ASSERT_FALSE(parsed.is_discarded()) << reply.body;
        EXPECT_EQ(parsed["error"].value("param", ""), c.param) << reply.body;
    }
    EXPECT_EQ(Call("GET", "/v1/transactions/nul_t").status, 404);
    EXPECT_EQ(Verify()["ok"], true);
}

TEST_F(LedgerApiTest, AMalformedEntriesCursorIsA400NotSomeOtherPage) {
    Account("cur_cash");
    for (const std::string cursor : {"starting_after=ent_x", "starting_after=txn_1",
                                     "ending_before=ent_", "starting_after=ent_-1"}) {
        auto reply = Call("GET", "/v1/accounts/cur_cash/entries?" + cursor);
        EXPECT_EQ(reply.status, 400) << cursor << " -> " << reply.body;
        EXPECT_EQ(ErrorCode(reply), "parameter_invalid") << reply.body;
    }
    EXPECT_EQ(Call("GET", "/v1/accounts/cur_cash/entries?starting_after=ent_1").status, 200);
}

TEST_F(LedgerApiTest, ListsPageWithCursorsAndFilters) {
    for (int i = 0; i < 5; ++i) {
        json body{{"id", "a" + std::to_string(i)},
                  {"currency", i % 2 ? "EUR" : "USD"},
                  {"normal_balance", "debit"},
                  {"metadata", {{"team", i < 2 ? "red" : "blue"}}}};
        ASSERT_EQ(Post("/v1/accounts", body).status, 201);
    }
    auto page = GetJson("/v1/accounts?limit=2");
    ASSERT_EQ(page["data"].size(), 2u);
    EXPECT_EQ(page["data"][0]["id"], "a4");  // newest first
    EXPECT_TRUE(page["has_more"].get<bool>());
    auto next = GetJson("/v1/accounts?limit=2&starting_after=a3");
    EXPECT_EQ(next["data"][0]["id"], "a2");
    auto back = GetJson("/v1/accounts?limit=2&ending_before=a2");
    EXPECT_EQ(back["data"][0]["id"], "a4");
    EXPECT_EQ(back["data"][1]["id"], "a3");
    EXPECT_EQ(GetJson("/v1/accounts?currency=EUR")["data"].size(), 2u);
    auto red = GetJson("/v1/accounts?metadata%5Bteam%5D=red");
    ASSERT_EQ(red["data"].size(), 2u);

    ASSERT_EQ(Post("/v1/transactions", Transfer("t1", "a0", "a2", 5)).status, 201);
    ASSERT_EQ(Post("/v1/transactions", Transfer("t2", "a2", "a4", 3)).status, 201);
    auto entries = GetJson("/v1/accounts/a2/entries");
    ASSERT_EQ(entries["data"].size(), 2u);
    EXPECT_EQ(entries["data"][0]["transaction_id"], "t2");
    EXPECT_EQ(entries["data"][0]["balances"]["posted"], -2);
    EXPECT_EQ(entries["data"][1]["balances"]["posted"], -5);
    auto by_account = GetJson("/v1/transactions?account_id=a4");
    ASSERT_EQ(by_account["data"].size(), 1u);
    EXPECT_EQ(by_account["data"][0]["id"], "t2");
    EXPECT_EQ(GetJson("/v1/transactions?status=pending")["data"].size(), 0u);
    EXPECT_EQ(GetJson("/v1/accounts/a2/balance?as_of=2000-01-01T00:00:00Z")["balances"]["posted"],
              0);
    EXPECT_EQ(GetJson("/v1/accounts/a2/balance")["balances"]["posted"], -2);
}

TEST_F(LedgerApiTest, RegistersCustomCurrencies) {
    auto created = Post("/v1/currencies", {{"code", "USDC"}, {"exponent", 6}});
    EXPECT_EQ(created.status, 201);
    EXPECT_EQ(Post("/v1/currencies", {{"code", "USDC"}, {"exponent", 6}}).status, 200);
    EXPECT_EQ(Post("/v1/currencies", {{"code", "USDC"}, {"exponent", 2}}).status, 409);
    EXPECT_EQ(Post("/v1/currencies", {{"code", "usdc"}, {"exponent", 2}}).status, 400);
    EXPECT_EQ(Post("/v1/currencies", {{"code", "USD"}, {"exponent", 3}}).status, 409);
    Account("crypto", "USDC");
    bool listed = false;
    const json currencies = GetJson("/v1/currencies");
    for (const auto& c : currencies["data"]) listed = listed || c["code"] == "USDC";
    EXPECT_TRUE(listed);
}

TEST_F(LedgerApiTest, WritesEventsThroughTheOutbox) {
    Account("cash");
    Account("wallet", "USD", "credit");
    json hold = Transfer("hold", "cash", "wallet", 5);
    hold["status"] = "pending";
    ASSERT_EQ(Post("/v1/transactions", hold).status, 201);
    ASSERT_EQ(Call("POST", "/v1/transactions/hold/post").status, 200);
    ASSERT_EQ(Post("/v1/transactions/hold/reverse", {{"id", "undo"}}).status, 201);
    std::vector<std::string> types;
    commons::WithTransaction(*pool_, [&](pqxx::dbtransaction& tx) {
        for (const auto& row : tx.exec("SELECT type FROM " + schema_ + ".outbox ORDER BY id")) {
            types.push_back(row[0].as<std::string>());
        }
    });
    const std::string metrics = metrics_.Serialize();
    EXPECT_NE(metrics.find(R"(ledger_commands_total{command="reverse",result="ok"} 1)"),
              std::string::npos)
        << metrics;
    EXPECT_EQ(types, (std::vector<std::string>{
                         "ledger.account.created", "ledger.account.created",
                         "ledger.transaction.pending", "ledger.transaction.posted",
                         "ledger.transaction.posted", "ledger.transaction.reversed"}));
}

TEST_F(LedgerApiTest, SqlGuardsKeepTheJournalAppendOnlyAndBalanced) {
    Account("cash");
    Account("wallet", "USD", "credit");
    ASSERT_EQ(Post("/v1/transactions", Transfer("t", "cash", "wallet", 5)).status, 201);
    auto fails = [&](const std::string& sql) {
        try {
            commons::WithTransaction(*pool_, [&](pqxx::dbtransaction& tx) { tx.exec0(sql); });
            return false;
        } catch (const pqxx::sql_error&) {
            return true;
        }
    };
    EXPECT_TRUE(fails("UPDATE " + schema_ + ".entries SET posted_delta = 6"));
    EXPECT_TRUE(fails("DELETE FROM " + schema_ + ".entries"));
    EXPECT_TRUE(fails("DELETE FROM " + schema_ + ".transactions"));
    EXPECT_TRUE(fails("UPDATE " + schema_ + ".transactions SET amounts = '{6,6}'"));
    EXPECT_TRUE(fails("UPDATE " + schema_ + ".accounts SET currency = 'EUR'"));
    EXPECT_TRUE(fails(
        "INSERT INTO " + schema_ +
        ".entries (transaction_id, account_id, currency, direction, kind, pending_delta, "
        "posted_delta, pending_debits, pending_credits, posted_debits, posted_credits, "
        "effective_at) VALUES ('t', 'cash', 'USD', 'debit', 'created', 0, 1, 0, 0, 6, 0, now())"));
    EXPECT_TRUE(fails("UPDATE " + schema_ + ".accounts SET posted_debits = -1 WHERE id = 'cash'"));
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerApiTest, VerifyReportsCountersThatDisagreeWithTheJournal) {
    Account("cash");
    Account("wallet", "USD", "credit");
    ASSERT_EQ(Post("/v1/transactions", Transfer("t", "cash", "wallet", 5)).status, 201);
    // Counters are the one thing SQL lets a careless operator change; verify catches it.
    commons::WithTransaction(*pool_, [&](pqxx::dbtransaction& tx) {
        tx.exec0("UPDATE " + schema_ +
                 ".accounts SET posted_debits = posted_debits + 1 WHERE id = 'cash'");
    });
    auto report = Verify();
    EXPECT_FALSE(report["ok"].get<bool>());
    std::set<std::string> kinds;
    for (const auto& v : report["violations"]) kinds.insert(v["kind"].get<std::string>());
    EXPECT_TRUE(kinds.count("account_counters"));
    EXPECT_TRUE(kinds.count("currency_unbalanced"));
    EXPECT_TRUE(kinds.count("account_last_entry"));
    EXPECT_EQ(report["accounts_checked"], 2);
    EXPECT_EQ(report["transactions_checked"], 1);
}

}  // namespace
}  // namespace ledger::testing
