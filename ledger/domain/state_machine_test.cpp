#include "ledger/domain/state_machine.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ledger/domain/test_helpers.hpp"

namespace ledger::domain {

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr Micros kNow = 1'700'000'000'000'000;
constexpr Micros kSecond = 1'000'000;

AccountFlags DebitsMustNotExceedCredits() {
    AccountFlags flags;
    flags.debits_must_not_exceed_credits = true;
    return flags;
}

AccountFlags CreditsMustNotExceedDebits() {
    AccountFlags flags;
    flags.credits_must_not_exceed_debits = true;
    return flags;
}

Account MakeAccount(std::string id, std::string currency, NormalBalance side,
                    AccountFlags flags = {}) {
    Account account;
    account.id = std::move(id);
    account.currency = std::move(currency);
    account.normal_balance = side;
    account.flags = flags;
    return account;
}

// A small chart of accounts: USD and EUR, a customer wallet that must not go negative
// (credit-normal, debits_must_not_exceed_credits) and a bank account that must not go negative
// (debit-normal, credits_must_not_exceed_debits).
BatchState Ledger() {
    BatchState state;
    for (Account account : {
             MakeAccount("cash", "USD", NormalBalance::kDebit),
             MakeAccount("revenue", "USD", NormalBalance::kCredit),
             MakeAccount("fees", "USD", NormalBalance::kCredit),
             MakeAccount("wallet", "USD", NormalBalance::kCredit, DebitsMustNotExceedCredits()),
             MakeAccount("bank", "USD", NormalBalance::kDebit, CreditsMustNotExceedDebits()),
             MakeAccount("fx_usd", "USD", NormalBalance::kCredit),
             MakeAccount("fx_eur", "EUR", NormalBalance::kDebit),
             MakeAccount("eur_cash", "EUR", NormalBalance::kDebit),
             MakeAccount("eur_revenue", "EUR", NormalBalance::kCredit),
         }) {
        std::string id = account.id;
        state.accounts.emplace(std::move(id), std::move(account));
    }
    return state;
}

EntrySpec Debit(std::string account_id, std::int64_t amount) {
    return {std::move(account_id), Direction::kDebit, amount, std::nullopt};
}

EntrySpec Credit(std::string account_id, std::int64_t amount) {
    return {std::move(account_id), Direction::kCredit, amount, std::nullopt};
}

CreateTransaction Posted(std::string id, std::vector<EntrySpec> entries) {
    CreateTransaction command;
    command.id = std::move(id);
    command.entries = std::move(entries);
    return command;
}

CreateTransaction Pending(std::string id, std::vector<EntrySpec> entries,
                          std::optional<std::int64_t> timeout_seconds = std::nullopt) {
    CreateTransaction command = Posted(std::move(id), std::move(entries));
    command.pending = true;
    command.timeout_seconds = timeout_seconds;
    return command;
}

// A two-entry USD movement: debit `to`, credit `from`.
CreateTransaction Move(std::string id, std::string from, std::string to, std::int64_t amount) {
    return Posted(std::move(id), {Debit(std::move(to), amount), Credit(std::move(from), amount)});
}

PostPending Post(std::string id, std::optional<std::vector<std::int64_t>> amounts = std::nullopt) {
    return PostPending{std::move(id), std::move(amounts)};
}

Reverse ReverseOf(std::string original_id, std::string reversal_id) {
    Reverse command;
    command.original_id = std::move(original_id);
    command.reversal_id = std::move(reversal_id);
    return command;
}

BatchOutcome ApplyOne(BatchState& state, Command command, Micros now = kNow) {
    return Apply(state, {std::move(command)}, now, Atomicity::kIndependent);
}

// Applies a command that must succeed; stops the test otherwise.
#define APPLY_OK(state, command, ...)                                                       \
    do {                                                                                    \
        BatchOutcome applied_ = ApplyOne(state, command __VA_OPT__(, ) __VA_ARGS__);        \
        ASSERT_EQ(applied_.results.size(), 1u);                                             \
        ASSERT_EQ(applied_.results[0].code, ResultCode::kOk)                                \
            << applied_.results[0].transaction_id << " " << applied_.results[0].account_id; \
    } while (false)

const Counters& CountersOf(const BatchState& state, const std::string& account_id) {
    return state.accounts.at(account_id).counters;
}

void ExpectNothingHappened(const BatchOutcome& outcome) {
    EXPECT_THAT(outcome.journal, IsEmpty());
    EXPECT_THAT(outcome.events, IsEmpty());
    EXPECT_THAT(outcome.changed_accounts, IsEmpty());
    EXPECT_THAT(outcome.created_transactions, IsEmpty());
    EXPECT_THAT(outcome.updated_transactions, IsEmpty());
}

// Applies `command` alone and expects `code` with no change to the state and nothing to write.
CommandResult ExpectNoChange(BatchState& state, const Command& command, ResultCode code,
                             Micros now = kNow) {
    const BatchState before = state;
    BatchOutcome outcome = ApplyOne(state, command, now);
    EXPECT_EQ(outcome.results.size(), 1u);
    if (outcome.results.size() != 1) return {};
    EXPECT_EQ(outcome.results[0].code, code);
    ExpectNothingHappened(outcome);
    EXPECT_TRUE(SameState(before, state)) << "a refused command changed the state";
    return outcome.results[0];
}

std::vector<std::pair<EventKind, std::string>> EventsOf(const BatchOutcome& outcome) {
    std::vector<std::pair<EventKind, std::string>> events;
    for (const auto& event : outcome.events) events.emplace_back(event.kind, event.transaction_id);
    return events;
}

void ExpectRow(const JournalEntry& row, const std::string& transaction_id,
               const std::string& account_id, Direction direction, JournalKind kind,
               std::int64_t pending_delta, std::int64_t posted_delta, const Counters& after) {
    EXPECT_EQ(row.transaction_id, transaction_id);
    EXPECT_EQ(row.account_id, account_id);
    EXPECT_EQ(row.direction, direction);
    EXPECT_EQ(row.kind, kind);
    EXPECT_EQ(row.pending_delta, pending_delta);
    EXPECT_EQ(row.posted_delta, posted_delta);
    EXPECT_EQ(row.after, after);
}

// ---------------------------------------------------------------------------------------------
// Creating transactions

TEST(ApplyCreate, PostsBalancedTransaction) {
    BatchState state = Ledger();
    BatchOutcome outcome = ApplyOne(state, Move("t1", "revenue", "cash", 100));

    ASSERT_EQ(outcome.results.size(), 1u);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[0].transaction_id, "t1");
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 100}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.posted_credits = 100}));
    EXPECT_EQ(state.accounts.at("cash").lock_version, 1);
    EXPECT_EQ(state.accounts.at("revenue").lock_version, 1);
    EXPECT_EQ(state.accounts.at("fees").lock_version, 0);

    const Transaction& t = state.transactions.at("t1");
    EXPECT_EQ(t.id, "t1");
    EXPECT_EQ(t.status, TransactionStatus::kPosted);
    EXPECT_FALSE(t.created_pending);
    EXPECT_EQ(t.entries, (std::vector<EntrySpec>{Debit("cash", 100), Credit("revenue", 100)}));
    EXPECT_EQ(t.currencies, (std::vector<std::string>{"USD", "USD"}));
    EXPECT_EQ(t.posted_amounts, (std::vector<std::int64_t>{100, 100}));
    EXPECT_EQ(t.timeout_seconds, std::nullopt);
    EXPECT_EQ(t.expires_at, std::nullopt);
    EXPECT_EQ(t.effective_at, kNow);
    EXPECT_EQ(t.created_at, kNow);
    EXPECT_EQ(t.reverses_id, "");
    EXPECT_EQ(t.reversed_by_id, "");

    ASSERT_EQ(outcome.journal.size(), 2u);
    ExpectRow(outcome.journal[0], "t1", "cash", Direction::kDebit, JournalKind::kCreated, 0, 100,
              Counters{.posted_debits = 100});
    ExpectRow(outcome.journal[1], "t1", "revenue", Direction::kCredit, JournalKind::kCreated, 0,
              100, Counters{.posted_credits = 100});
    EXPECT_EQ(outcome.journal[0].currency, "USD");
    EXPECT_EQ(outcome.journal[0].effective_at, kNow);
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kPosted, std::string("t1")}));
    EXPECT_THAT(outcome.changed_accounts, UnorderedElementsAre("cash", "revenue"));
    EXPECT_THAT(outcome.created_transactions, ElementsAre("t1"));
    EXPECT_THAT(outcome.updated_transactions, IsEmpty());

    Balances cash = ComputeBalances(NormalBalance::kDebit, CountersOf(state, "cash"));
    EXPECT_EQ(cash.posted, 100);
    Balances revenue = ComputeBalances(NormalBalance::kCredit, CountersOf(state, "revenue"));
    EXPECT_EQ(revenue.posted, 100);
}

TEST(ApplyCreate, HoldsPendingAmountsInPendingCounters) {
    BatchState state = Ledger();
    BatchOutcome outcome =
        ApplyOne(state, Pending("p1", {Debit("cash", 70), Credit("revenue", 70)}, 30));

    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.pending_debits = 70}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.pending_credits = 70}));
    const Transaction& t = state.transactions.at("p1");
    EXPECT_EQ(t.status, TransactionStatus::kPending);
    EXPECT_TRUE(t.created_pending);
    EXPECT_THAT(t.posted_amounts, IsEmpty());
    EXPECT_EQ(t.timeout_seconds, 30);
    EXPECT_EQ(t.expires_at, kNow + 30 * kSecond);
    ASSERT_EQ(outcome.journal.size(), 2u);
    ExpectRow(outcome.journal[0], "p1", "cash", Direction::kDebit, JournalKind::kCreated, 70, 0,
              Counters{.pending_debits = 70});
    ExpectRow(outcome.journal[1], "p1", "revenue", Direction::kCredit, JournalKind::kCreated, 70, 0,
              Counters{.pending_credits = 70});
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kPending, std::string("p1")}));

    // A pending inflow shows in `pending` but not in `available`; a pending outflow in both.
    Balances cash = ComputeBalances(NormalBalance::kDebit, CountersOf(state, "cash"));
    EXPECT_EQ(cash.posted, 0);
    EXPECT_EQ(cash.pending, 70);
    EXPECT_EQ(cash.available, 0);
}

TEST(ApplyCreate, PendingWithoutTimeoutNeverExpires) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 5), Credit("revenue", 5)}));
    EXPECT_EQ(state.transactions.at("p1").timeout_seconds, std::nullopt);
    EXPECT_EQ(state.transactions.at("p1").expires_at, std::nullopt);
}

TEST(ApplyCreate, KeepsDescriptionMetadataAndEffectiveAt) {
    BatchState state = Ledger();
    CreateTransaction command = Move("t1", "revenue", "cash", 100);
    command.description = "order 42";
    command.metadata_json = R"({"order":42})";
    command.effective_at = kNow - 3600 * kSecond;
    BatchOutcome outcome = ApplyOne(state, command);
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    const Transaction& t = state.transactions.at("t1");
    EXPECT_EQ(t.description, "order 42");
    EXPECT_EQ(t.metadata_json, R"({"order":42})");
    EXPECT_EQ(t.effective_at, kNow - 3600 * kSecond);
    EXPECT_EQ(t.created_at, kNow);
    for (const auto& row : outcome.journal) EXPECT_EQ(row.effective_at, kNow - 3600 * kSecond);
}

TEST(ApplyCreate, AcceptsAmountOne) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 1));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 1}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.posted_credits = 1}));
}

TEST(ApplyCreate, AcceptsAmountInt64Max) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", kMax));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = kMax}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.posted_credits = kMax}));
    EXPECT_EQ(ComputeBalances(NormalBalance::kDebit, CountersOf(state, "cash")).posted, kMax);
}

TEST(ApplyCreate, AcceptsPendingAmountInt64Max) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", kMax), Credit("revenue", kMax)}));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.pending_debits = kMax}));
    APPLY_OK(state, Post("p1"));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = kMax}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.posted_credits = kMax}));
}

TEST(ApplyCreate, RefusesMalformedId) {
    BatchState state = Ledger();
    for (std::string id : {std::string(), std::string(kIdBytesMax + 1, 'x'), std::string("t 1"),
                           std::string("t/1"), std::string("t\"1")}) {
        CommandResult result =
            ExpectNoChange(state, Move(id, "revenue", "cash", 1), ResultCode::kIdInvalid);
        EXPECT_EQ(result.transaction_id, id);
    }
    APPLY_OK(state, Move(std::string(kIdBytesMax, 'x'), "revenue", "cash", 1));
}

TEST(ApplyCreate, RefusesFewerThanTwoEntries) {
    BatchState state = Ledger();
    ExpectNoChange(state, Posted("t1", {}), ResultCode::kEntriesCountInvalid);
    ExpectNoChange(state, Posted("t1", {Debit("cash", 1)}), ResultCode::kEntriesCountInvalid);
}

TEST(ApplyCreate, RefusesMoreThanSixtyFourEntries) {
    BatchState state = Ledger();
    std::vector<EntrySpec> entries;
    for (int i = 0; i < 32; ++i) {
        entries.push_back(Debit("cash", 1));
        entries.push_back(Credit("revenue", 1));
    }
    entries.push_back(Debit("fees", 1));
    ASSERT_EQ(entries.size(), kEntriesMax + 1);
    ExpectNoChange(state, Posted("t1", entries), ResultCode::kEntriesCountInvalid);
}

TEST(ApplyCreate, AcceptsExactlySixtyFourEntries) {
    BatchState state = Ledger();
    std::vector<EntrySpec> entries;
    for (int i = 1; i <= 32; ++i) {
        entries.push_back(Debit("cash", i));
        entries.push_back(Credit("revenue", i));
    }
    ASSERT_EQ(entries.size(), kEntriesMax);
    BatchOutcome outcome = ApplyOne(state, Posted("t1", entries));
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.journal.size(), kEntriesMax);
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 32 * 33 / 2}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.posted_credits = 32 * 33 / 2}));
    // One command, one lock_version step, however many entries name the account.
    EXPECT_EQ(state.accounts.at("cash").lock_version, 1);
    EXPECT_EQ(state.accounts.at("revenue").lock_version, 1);
}

TEST(ApplyCreate, RefusesZeroAmount) {
    BatchState state = Ledger();
    ExpectNoChange(state, Posted("t1", {Debit("cash", 0), Credit("revenue", 0)}),
                   ResultCode::kAmountInvalid);
    ExpectNoChange(state,
                   Posted("t1", {Debit("cash", 5), Credit("revenue", 5), Debit("fees", 0),
                                 Credit("revenue", 0)}),
                   ResultCode::kAmountInvalid);
}

TEST(ApplyCreate, RefusesNegativeAmount) {
    BatchState state = Ledger();
    ExpectNoChange(state, Posted("t1", {Debit("cash", -5), Credit("revenue", -5)}),
                   ResultCode::kAmountInvalid);
    // A negative debit and a negative credit on the other side would "balance": still refused.
    ExpectNoChange(state, Posted("t1", {Debit("cash", 5), Debit("revenue", -5)}),
                   ResultCode::kAmountInvalid);
    const std::int64_t min = std::numeric_limits<std::int64_t>::min();
    ExpectNoChange(state, Posted("t1", {Debit("cash", min), Credit("revenue", min)}),
                   ResultCode::kAmountInvalid);
}

TEST(ApplyCreate, RefusesEntriesThatAllNameOneAccount) {
    BatchState state = Ledger();
    ExpectNoChange(state, Posted("t1", {Debit("cash", 5), Credit("cash", 5)}),
                   ResultCode::kAccountsMustBeDifferent);
    ExpectNoChange(state, Posted("t1", {Debit("cash", 5), Credit("cash", 3), Credit("cash", 2)}),
                   ResultCode::kAccountsMustBeDifferent);
}

TEST(ApplyCreate, RefusesTimeoutOnPostedTransaction) {
    BatchState state = Ledger();
    CreateTransaction command = Move("t1", "revenue", "cash", 5);
    command.timeout_seconds = 30;
    ExpectNoChange(state, command, ResultCode::kTimeoutInvalid);
}

TEST(ApplyCreate, RefusesTimeoutOutOfRange) {
    BatchState state = Ledger();
    const std::vector<EntrySpec> entries = {Debit("cash", 5), Credit("revenue", 5)};
    ExpectNoChange(state, Pending("p1", entries, 0), ResultCode::kTimeoutInvalid);
    ExpectNoChange(state, Pending("p1", entries, -1), ResultCode::kTimeoutInvalid);
    ExpectNoChange(state, Pending("p1", entries, kTimeoutSecondsMax + 1),
                   ResultCode::kTimeoutInvalid);
    ExpectNoChange(state, Pending("p1", entries, kMax), ResultCode::kTimeoutInvalid);
}

TEST(ApplyCreate, AcceptsTimeoutOfOneSecondAndOfTheMaximum) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 5), Credit("revenue", 5)}, 1));
    EXPECT_EQ(state.transactions.at("p1").expires_at, kNow + kSecond);
    APPLY_OK(state, Pending("p2", {Debit("cash", 5), Credit("revenue", 5)}, kTimeoutSecondsMax));
    EXPECT_EQ(state.transactions.at("p2").expires_at, kNow + kTimeoutSecondsMax * kSecond);
}

TEST(ApplyCreate, RefusesLockVersionForAccountNotInEntries) {
    BatchState state = Ledger();
    CreateTransaction command = Move("t1", "revenue", "cash", 5);
    command.lock_versions = {{"cash", 0}, {"fees", 0}};
    CommandResult result = ExpectNoChange(state, command, ResultCode::kLockVersionAccountInvalid);
    EXPECT_EQ(result.account_id, "fees");
}

TEST(ApplyCreate, RefusesUnknownAccount) {
    BatchState state = Ledger();
    CommandResult result =
        ExpectNoChange(state, Move("t1", "revenue", "ghost", 5), ResultCode::kAccountNotFound);
    EXPECT_EQ(result.account_id, "ghost");
}

TEST(ApplyCreate, RefusesClosedAccount) {
    BatchState state = Ledger();
    ASSERT_EQ(Close(state.accounts.at("revenue")), CloseResult::kOk);
    CommandResult result =
        ExpectNoChange(state, Move("t1", "revenue", "cash", 5), ResultCode::kAccountClosed);
    EXPECT_EQ(result.account_id, "revenue");
    ExpectNoChange(state, Pending("p1", {Debit("cash", 5), Credit("revenue", 5)}),
                   ResultCode::kAccountClosed);
}

TEST(ApplyCreate, RefusesStatedCurrencyOtherThanTheAccounts) {
    BatchState state = Ledger();
    CreateTransaction command = Move("t1", "revenue", "cash", 5);
    command.entries[1].currency = "EUR";
    CommandResult result = ExpectNoChange(state, command, ResultCode::kCurrencyMismatch);
    EXPECT_EQ(result.account_id, "revenue");
}

TEST(ApplyCreate, AcceptsStatedCurrencyEqualToTheAccounts) {
    BatchState state = Ledger();
    CreateTransaction command = Move("t1", "revenue", "cash", 5);
    command.entries[0].currency = "USD";
    command.entries[1].currency = "USD";
    APPLY_OK(state, command);
}

TEST(ApplyCreate, RefusesUnbalancedTransaction) {
    BatchState state = Ledger();
    ExpectNoChange(state, Posted("t1", {Debit("cash", 100), Credit("revenue", 99)}),
                   ResultCode::kUnbalanced);
    ExpectNoChange(state, Posted("t1", {Debit("cash", 100), Debit("revenue", 100)}),
                   ResultCode::kUnbalanced);
    ExpectNoChange(state,
                   Posted("t1", {Debit("cash", 100), Credit("revenue", 60), Credit("fees", 39)}),
                   ResultCode::kUnbalanced);
}

TEST(ApplyCreate, AcceptsFxTransactionBalancedPerCurrency) {
    BatchState state = Ledger();
    // The customer pays 110 USD; the business books 100 EUR of revenue through FX accounts.
    BatchOutcome outcome =
        ApplyOne(state, Posted("fx1", {Debit("cash", 110), Credit("fx_usd", 110),
                                       Debit("fx_eur", 100), Credit("eur_revenue", 100)}));
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(state.transactions.at("fx1").currencies,
              (std::vector<std::string>{"USD", "USD", "EUR", "EUR"}));
    ASSERT_EQ(outcome.journal.size(), 4u);
    EXPECT_EQ(outcome.journal[2].currency, "EUR");
    EXPECT_EQ(CountersOf(state, "eur_revenue"), (Counters{.posted_credits = 100}));
}

TEST(ApplyCreate, RefusesTransactionBalancedOnlyInTotal) {
    BatchState state = Ledger();
    ExpectNoChange(state, Posted("fx1", {Debit("cash", 100), Credit("eur_revenue", 100)}),
                   ResultCode::kUnbalanced);
    // 210 debits and 210 credits in all, but 110 vs 100 USD and 100 vs 110 EUR.
    ExpectNoChange(state,
                   Posted("fx1", {Debit("cash", 110), Credit("fx_usd", 100), Debit("fx_eur", 100),
                                  Credit("eur_revenue", 110)}),
                   ResultCode::kUnbalanced);
}

TEST(ApplyCreate, RefusesDebitBeyondCreditsWhenFlagged) {
    BatchState state = Ledger();
    APPLY_OK(state, Posted("top_up", {Debit("cash", 100), Credit("wallet", 100)}));
    CommandResult result =
        ExpectNoChange(state, Posted("spend", {Debit("wallet", 101), Credit("revenue", 101)}),
                       ResultCode::kExceedsCredits);
    EXPECT_EQ(result.account_id, "wallet");
}

TEST(ApplyCreate, AcceptsDebitEqualToCreditsWhenFlagged) {
    BatchState state = Ledger();
    APPLY_OK(state, Posted("top_up", {Debit("cash", 100), Credit("wallet", 100)}));
    APPLY_OK(state, Posted("spend", {Debit("wallet", 100), Credit("revenue", 100)}));
    EXPECT_EQ(ComputeBalances(NormalBalance::kCredit, CountersOf(state, "wallet")).posted, 0);
    ExpectNoChange(state, Posted("spend2", {Debit("wallet", 1), Credit("revenue", 1)}),
                   ResultCode::kExceedsCredits);
}

TEST(ApplyCreate, CountsPendingDebitsAgainstCreditsWhenFlagged) {
    BatchState state = Ledger();
    APPLY_OK(state, Posted("top_up", {Debit("cash", 100), Credit("wallet", 100)}));
    APPLY_OK(state, Pending("hold", {Debit("wallet", 60), Credit("revenue", 60)}));
    ExpectNoChange(state, Posted("spend", {Debit("wallet", 41), Credit("revenue", 41)}),
                   ResultCode::kExceedsCredits);
    ExpectNoChange(state, Pending("hold2", {Debit("wallet", 41), Credit("revenue", 41)}),
                   ResultCode::kExceedsCredits);
    APPLY_OK(state, Posted("spend", {Debit("wallet", 40), Credit("revenue", 40)}));
}

TEST(ApplyCreate, PendingCreditsDoNotCoverDebitsWhenFlagged) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("incoming", {Debit("cash", 100), Credit("wallet", 100)}));
    ExpectNoChange(state, Posted("spend", {Debit("wallet", 1), Credit("revenue", 1)}),
                   ResultCode::kExceedsCredits);
}

TEST(ApplyCreate, RefusesCreditBeyondDebitsWhenFlagged) {
    BatchState state = Ledger();
    CommandResult result =
        ExpectNoChange(state, Posted("withdraw", {Debit("cash", 1), Credit("bank", 1)}),
                       ResultCode::kExceedsDebits);
    EXPECT_EQ(result.account_id, "bank");
    APPLY_OK(state, Posted("deposit", {Debit("bank", 50), Credit("revenue", 50)}));
    APPLY_OK(state, Pending("hold", {Debit("cash", 20), Credit("bank", 20)}));
    // 20 pending + 31 posted credits > 50 debits.
    ExpectNoChange(state, Posted("withdraw", {Debit("cash", 31), Credit("bank", 31)}),
                   ResultCode::kExceedsDebits);
    APPLY_OK(state, Posted("withdraw", {Debit("cash", 30), Credit("bank", 30)}));
}

TEST(ApplyCreate, FlagIsCheckedOnTheWholeTransactionNotPerEntry) {
    BatchState state = Ledger();
    // The wallet is debited before it is credited within one transaction: allowed, because the
    // constraint holds once the transaction is applied.
    APPLY_OK(state, Posted("t1", {Debit("wallet", 10), Credit("revenue", 10), Debit("cash", 10),
                                  Credit("wallet", 10)}));
    EXPECT_EQ(CountersOf(state, "wallet"), (Counters{.posted_debits = 10, .posted_credits = 10}));
}

TEST(ApplyCreate, RefusesStaleLockVersion) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 5));
    ASSERT_EQ(state.accounts.at("cash").lock_version, 1);
    CreateTransaction command = Move("t2", "revenue", "cash", 5);
    command.lock_versions = {{"cash", 0}};
    CommandResult result = ExpectNoChange(state, command, ResultCode::kLockVersionMismatch);
    EXPECT_EQ(result.account_id, "cash");
    command.lock_versions = {{"cash", 2}};
    ExpectNoChange(state, command, ResultCode::kLockVersionMismatch);
    command.lock_versions = {{"cash", 1}, {"revenue", 1}};
    APPLY_OK(state, command);
    EXPECT_EQ(state.accounts.at("cash").lock_version, 2);
}

TEST(ApplyCreate, RefusesAmountThatOverflowsPostedCounter) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 1));
    CommandResult result =
        ExpectNoChange(state, Move("t2", "fees", "cash", kMax), ResultCode::kOverflow);
    EXPECT_EQ(result.account_id, "cash");
    // The credit side of the same account is a separate counter with room.
    APPLY_OK(state, Posted("t3", {Debit("fees", kMax), Credit("cash", kMax)}));
}

TEST(ApplyCreate, RefusesPendingThatOverflowsPendingPlusPosted) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", kMax - 10));
    CommandResult result = ExpectNoChange(
        state, Pending("p1", {Debit("cash", 11), Credit("fees", 11)}), ResultCode::kOverflow);
    EXPECT_EQ(result.account_id, "cash");
    APPLY_OK(state, Pending("p1", {Debit("cash", 10), Credit("fees", 10)}));
    EXPECT_EQ(CountersOf(state, "cash"),
              (Counters{.pending_debits = 10, .posted_debits = kMax - 10}));
}

TEST(ApplyCreate, RefusesPostedThatOverflowsPendingPlusPosted) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", kMax - 10), Credit("revenue", kMax - 10)}));
    ExpectNoChange(state, Move("t1", "fees", "cash", 11), ResultCode::kOverflow);
    APPLY_OK(state, Move("t1", "fees", "cash", 10));
}

TEST(ApplyCreate, RefusesTransactionWhoseTotalPerCurrencyOverflows) {
    BatchState state = Ledger();
    // Every account's counters would fit, but the debits of the transaction add up past int64.
    ExpectNoChange(state,
                   Posted("t1", {Debit("cash", kMax), Debit("fees", 1), Credit("revenue", kMax),
                                 Credit("fx_usd", 1)}),
                   ResultCode::kOverflow);
}

TEST(ApplyCreate, JournalAfterProgressesPerEntry) {
    BatchState state = Ledger();
    BatchOutcome outcome =
        ApplyOne(state, Posted("t1", {Debit("cash", 3), Credit("revenue", 7), Debit("cash", 4),
                                      Credit("cash", 2), Debit("fees", 2)}));
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    ASSERT_EQ(outcome.journal.size(), 5u);
    EXPECT_EQ(outcome.journal[0].after, (Counters{.posted_debits = 3}));
    EXPECT_EQ(outcome.journal[1].after, (Counters{.posted_credits = 7}));
    EXPECT_EQ(outcome.journal[2].after, (Counters{.posted_debits = 7}));
    EXPECT_EQ(outcome.journal[3].after, (Counters{.posted_debits = 7, .posted_credits = 2}));
    EXPECT_EQ(outcome.journal[4].after, (Counters{.posted_debits = 2}));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 7, .posted_credits = 2}));
    EXPECT_EQ(state.accounts.at("cash").lock_version, 1);
    EXPECT_THAT(outcome.changed_accounts, UnorderedElementsAre("cash", "revenue", "fees"));
}

TEST(ApplyCreate, ReplaysIdenticalCommandWithoutChange) {
    BatchState state = Ledger();
    CreateTransaction command = Pending("p1", {Debit("cash", 5), Credit("revenue", 5)}, 60);
    command.description = "hold";
    command.metadata_json = R"({"a":1})";
    APPLY_OK(state, command);
    CommandResult result = ExpectNoChange(state, command, ResultCode::kReplayed, kNow + kSecond);
    EXPECT_EQ(result.transaction_id, "p1");
    EXPECT_THAT(result.differing_fields, IsEmpty());
}

TEST(ApplyCreate, ReplayIgnoresStatedCurrencyAndOmittedEffectiveAt) {
    BatchState state = Ledger();
    CreateTransaction command = Move("t1", "revenue", "cash", 5);
    command.effective_at = kNow - kSecond;
    APPLY_OK(state, command);
    CreateTransaction retry = Move("t1", "revenue", "cash", 5);
    retry.entries[0].currency = "USD";
    ExpectNoChange(state, retry, ResultCode::kReplayed);
}

TEST(ApplyCreate, ReplaysRetryWhosePreconditionsNoLongerHold) {
    BatchState state = Ledger();
    CreateTransaction command = Move("t1", "revenue", "cash", 5);
    command.lock_versions = {{"cash", 0}};
    APPLY_OK(state, command);
    ASSERT_EQ(Close(state.accounts.at("revenue")), CloseResult::kOk);
    // The retry's lock_version is stale and an account is now closed: the transaction exists,
    // so the retry is answered as a replay.
    ExpectNoChange(state, command, ResultCode::kReplayed);
}

TEST(ApplyCreate, ReportsTheFieldThatDiffersFromTheExistingTransaction) {
    BatchState state = Ledger();
    CreateTransaction original = Move("t1", "revenue", "cash", 100);
    original.description = "first";
    APPLY_OK(state, original);

    CreateTransaction other_amount = original;
    other_amount.entries = {Debit("cash", 101), Credit("revenue", 101)};
    CommandResult result =
        ExpectNoChange(state, other_amount, ResultCode::kExistsWithDifferentFields);
    EXPECT_EQ(result.transaction_id, "t1");
    EXPECT_THAT(result.differing_fields, ElementsAre("entries"));

    CreateTransaction other_description = original;
    other_description.description = "second";
    result = ExpectNoChange(state, other_description, ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("description"));

    CreateTransaction other_order = original;
    std::swap(other_order.entries[0], other_order.entries[1]);
    result = ExpectNoChange(state, other_order, ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("entries"));

    CreateTransaction other_effective_at = original;
    other_effective_at.effective_at = kNow - kSecond;
    result = ExpectNoChange(state, other_effective_at, ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("effective_at"));
}

TEST(ApplyCreate, ReportsEveryDifferingField) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    CreateTransaction other = Pending("t1", {Debit("cash", 100), Credit("fees", 100)}, 30);
    other.effective_at = kNow + kSecond;
    other.description = "other";
    other.metadata_json = R"({"x":1})";
    CommandResult result = ExpectNoChange(state, other, ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields,
                UnorderedElementsAre("entries", "status", "timeout_seconds", "effective_at",
                                     "description", "metadata"));
}

TEST(ApplyCreate, ComparesWithStatusAskedAtCreationNotTheCurrentOne) {
    BatchState state = Ledger();
    CreateTransaction command = Pending("p1", {Debit("cash", 5), Credit("revenue", 5)});
    APPLY_OK(state, command);
    APPLY_OK(state, Post("p1"));
    // The retry of the original request still matches after the transaction was posted.
    ExpectNoChange(state, command, ResultCode::kReplayed);
    CommandResult result = ExpectNoChange(state, Move("p1", "revenue", "cash", 5),
                                          ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("status"));
}

// ---------------------------------------------------------------------------------------------
// Posting pending transactions

TEST(ApplyPost, PostsPendingTransactionInFull) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 70), Credit("revenue", 70)}, 30));
    BatchOutcome outcome = ApplyOne(state, Post("p1"), kNow + kSecond);
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[0].transaction_id, "p1");
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 70}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.posted_credits = 70}));
    const Transaction& t = state.transactions.at("p1");
    EXPECT_EQ(t.status, TransactionStatus::kPosted);
    EXPECT_TRUE(t.created_pending);
    EXPECT_EQ(t.posted_amounts, (std::vector<std::int64_t>{70, 70}));
    ASSERT_EQ(outcome.journal.size(), 2u);
    ExpectRow(outcome.journal[0], "p1", "cash", Direction::kDebit, JournalKind::kPosted, -70, 70,
              Counters{.posted_debits = 70});
    ExpectRow(outcome.journal[1], "p1", "revenue", Direction::kCredit, JournalKind::kPosted, -70,
              70, Counters{.posted_credits = 70});
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kPosted, std::string("p1")}));
    EXPECT_THAT(outcome.updated_transactions, ElementsAre("p1"));
    EXPECT_THAT(outcome.created_transactions, IsEmpty());
    EXPECT_THAT(outcome.changed_accounts, UnorderedElementsAre("cash", "revenue"));
    EXPECT_EQ(state.accounts.at("cash").lock_version, 2);
}

TEST(ApplyPost, PostsPartiallyAndReleasesTheRemainder) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    BatchOutcome outcome = ApplyOne(state, Post("p1", std::vector<std::int64_t>{60, 60}));
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 60}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.posted_credits = 60}));
    EXPECT_EQ(state.transactions.at("p1").posted_amounts, (std::vector<std::int64_t>{60, 60}));
    ASSERT_EQ(outcome.journal.size(), 2u);
    ExpectRow(outcome.journal[0], "p1", "cash", Direction::kDebit, JournalKind::kPosted, -100, 60,
              Counters{.posted_debits = 60});
    ExpectRow(outcome.journal[1], "p1", "revenue", Direction::kCredit, JournalKind::kPosted, -100,
              60, Counters{.posted_credits = 60});
}

TEST(ApplyPost, PostsSomeEntriesAndReleasesOthersEntirely) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 70), Credit("fees", 30)}));
    BatchOutcome outcome = ApplyOne(state, Post("p1", std::vector<std::int64_t>{30, 0, 30}));
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 30}));
    EXPECT_EQ(CountersOf(state, "revenue"), Counters{});
    EXPECT_EQ(CountersOf(state, "fees"), (Counters{.posted_credits = 30}));
    ASSERT_EQ(outcome.journal.size(), 3u);
    ExpectRow(outcome.journal[1], "p1", "revenue", Direction::kCredit, JournalKind::kPosted, -70, 0,
              Counters{});
}

TEST(ApplyPost, PostsOneAmountOfAHeldInt64Max) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", kMax), Credit("revenue", kMax)}));
    APPLY_OK(state, Post("p1", std::vector<std::int64_t>{1, 1}));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 1}));
}

TEST(ApplyPost, PostsHoldOnFlaggedAccount) {
    BatchState state = Ledger();
    APPLY_OK(state, Posted("top_up", {Debit("cash", 100), Credit("wallet", 100)}));
    APPLY_OK(state, Pending("hold", {Debit("wallet", 100), Credit("revenue", 100)}));
    APPLY_OK(state, Post("hold", std::vector<std::int64_t>{40, 40}));
    EXPECT_EQ(CountersOf(state, "wallet"), (Counters{.posted_debits = 40, .posted_credits = 100}));
    APPLY_OK(state, Posted("spend", {Debit("wallet", 60), Credit("revenue", 60)}));
}

TEST(ApplyPost, RefusesAmountsOfTheWrongCount) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{}), ResultCode::kPostAmountsInvalid);
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{100}),
                   ResultCode::kPostAmountsInvalid);
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{50, 50, 0}),
                   ResultCode::kPostAmountsInvalid);
}

TEST(ApplyPost, RefusesAmountAboveThePendingOne) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{101, 101}),
                   ResultCode::kPostAmountsInvalid);
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{kMax, kMax}),
                   ResultCode::kPostAmountsInvalid);
}

TEST(ApplyPost, RefusesNegativeAmount) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 60), Credit("fees", 40)}));
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{-1, -1, 0}),
                   ResultCode::kPostAmountsInvalid);
    // Balances per currency (30 = 40 - 10), but one amount is negative.
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{30, 40, -10}),
                   ResultCode::kPostAmountsInvalid);
}

TEST(ApplyPost, RefusesPostingNothing) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{0, 0}),
                   ResultCode::kPostAmountsInvalid);
}

TEST(ApplyPost, RefusesUnbalancedAmounts) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{60, 59}), ResultCode::kUnbalanced);
}

TEST(ApplyPost, RefusesUnknownTransaction) {
    BatchState state = Ledger();
    CommandResult result = ExpectNoChange(state, Post("nope"), ResultCode::kTransactionNotFound);
    EXPECT_EQ(result.transaction_id, "nope");
}

TEST(ApplyPost, RefusesTransactionCreatedPosted) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 5));
    CommandResult result = ExpectNoChange(state, Post("t1"), ResultCode::kNotPending);
    EXPECT_EQ(result.status, TransactionStatus::kPosted);
}

TEST(ApplyPost, RefusesPostingTwice) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    APPLY_OK(state, Post("p1", std::vector<std::int64_t>{10, 10}));
    CommandResult result = ExpectNoChange(state, Post("p1"), ResultCode::kNotPending);
    EXPECT_EQ(result.status, TransactionStatus::kPosted);
    // The released remainder cannot be posted later either.
    result = ExpectNoChange(state, Post("p1", std::vector<std::int64_t>{90, 90}),
                            ResultCode::kNotPending);
    EXPECT_EQ(result.status, TransactionStatus::kPosted);
}

TEST(ApplyPost, RefusesVoidedTransaction) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    APPLY_OK(state, VoidPending{"p1"});
    CommandResult result = ExpectNoChange(state, Post("p1"), ResultCode::kNotPending);
    EXPECT_EQ(result.status, TransactionStatus::kVoided);
}

TEST(ApplyPost, RefusesExpiredTransaction) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    APPLY_OK(state, ExpirePending{"p1"}, kNow + 10 * kSecond);
    CommandResult result =
        ExpectNoChange(state, Post("p1"), ResultCode::kNotPending, kNow + 10 * kSecond);
    EXPECT_EQ(result.status, TransactionStatus::kExpired);
}

TEST(ApplyPost, PostsUntilTheTimeoutPasses) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    APPLY_OK(state, Post("p1"), kNow + 10 * kSecond - 1);
    EXPECT_EQ(state.transactions.at("p1").status, TransactionStatus::kPosted);
}

TEST(ApplyPost, RefusesPostAfterTheTimeoutAndExpiresTheTransaction) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    // The sweeper has not come by yet: the timeout wins over the late post.
    BatchOutcome outcome = ApplyOne(state, Post("p1"), kNow + 10 * kSecond);
    ASSERT_EQ(outcome.results.size(), 1u);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kNotPending);
    EXPECT_EQ(outcome.results[0].status, TransactionStatus::kExpired);
    EXPECT_EQ(state.transactions.at("p1").status, TransactionStatus::kExpired);
    EXPECT_EQ(CountersOf(state, "cash"), Counters{});
    EXPECT_EQ(CountersOf(state, "revenue"), Counters{});
    ASSERT_EQ(outcome.journal.size(), 2u);
    ExpectRow(outcome.journal[0], "p1", "cash", Direction::kDebit, JournalKind::kExpired, -100, 0,
              Counters{});
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kExpired, std::string("p1")}));
    EXPECT_THAT(outcome.updated_transactions, ElementsAre("p1"));
    CommandResult again =
        ExpectNoChange(state, ExpirePending{"p1"}, ResultCode::kNotPending, kNow + 11 * kSecond);
    EXPECT_EQ(again.status, TransactionStatus::kExpired);
}

// ---------------------------------------------------------------------------------------------
// Voiding and expiring

TEST(ApplyVoid, ReleasesEveryPendingAmount) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 60));
    BatchOutcome outcome = ApplyOne(state, VoidPending{"p1"});
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(CountersOf(state, "cash"), Counters{});
    EXPECT_EQ(CountersOf(state, "revenue"), Counters{});
    const Transaction& t = state.transactions.at("p1");
    EXPECT_EQ(t.status, TransactionStatus::kVoided);
    EXPECT_THAT(t.posted_amounts, IsEmpty());
    ASSERT_EQ(outcome.journal.size(), 2u);
    ExpectRow(outcome.journal[0], "p1", "cash", Direction::kDebit, JournalKind::kVoided, -100, 0,
              Counters{});
    ExpectRow(outcome.journal[1], "p1", "revenue", Direction::kCredit, JournalKind::kVoided, -100,
              0, Counters{});
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kVoided, std::string("p1")}));
    EXPECT_THAT(outcome.updated_transactions, ElementsAre("p1"));
    EXPECT_EQ(state.accounts.at("cash").lock_version, 2);
}

TEST(ApplyVoid, RefusesTransactionThatIsNotPending) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 5));
    CommandResult result = ExpectNoChange(state, VoidPending{"t1"}, ResultCode::kNotPending);
    EXPECT_EQ(result.status, TransactionStatus::kPosted);
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    APPLY_OK(state, VoidPending{"p1"});
    result = ExpectNoChange(state, VoidPending{"p1"}, ResultCode::kNotPending);
    EXPECT_EQ(result.status, TransactionStatus::kVoided);
}

TEST(ApplyVoid, RefusesVoidAfterTheTimeoutAndExpiresTheTransaction) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    BatchOutcome outcome = ApplyOne(state, VoidPending{"p1"}, kNow + 60 * kSecond);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kNotPending);
    EXPECT_EQ(outcome.results[0].status, TransactionStatus::kExpired);
    EXPECT_EQ(state.transactions.at("p1").status, TransactionStatus::kExpired);
    EXPECT_EQ(CountersOf(state, "cash"), Counters{});
    ASSERT_EQ(outcome.journal.size(), 2u);
    EXPECT_EQ(outcome.journal[1].kind, JournalKind::kExpired);
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kExpired, std::string("p1")}));
}

TEST(ApplyVoid, RefusesUnknownTransaction) {
    BatchState state = Ledger();
    ExpectNoChange(state, VoidPending{"nope"}, ResultCode::kTransactionNotFound);
}

TEST(ApplyExpire, RefusesBeforeTheTimeoutHasPassed) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    CommandResult result =
        ExpectNoChange(state, ExpirePending{"p1"}, ResultCode::kNotDue, kNow + 10 * kSecond - 1);
    EXPECT_EQ(result.transaction_id, "p1");
    ExpectNoChange(state, ExpirePending{"p1"}, ResultCode::kNotDue, kNow);
}

TEST(ApplyExpire, ExpiresExactlyAtExpiresAt) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    BatchOutcome outcome = ApplyOne(state, ExpirePending{"p1"}, kNow + 10 * kSecond);
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(state.transactions.at("p1").status, TransactionStatus::kExpired);
    EXPECT_THAT(state.transactions.at("p1").posted_amounts, IsEmpty());
    EXPECT_EQ(CountersOf(state, "cash"), Counters{});
    EXPECT_EQ(CountersOf(state, "revenue"), Counters{});
    ASSERT_EQ(outcome.journal.size(), 2u);
    ExpectRow(outcome.journal[0], "p1", "cash", Direction::kDebit, JournalKind::kExpired, -100, 0,
              Counters{});
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kExpired, std::string("p1")}));
    EXPECT_THAT(outcome.updated_transactions, ElementsAre("p1"));
}

TEST(ApplyExpire, ExpiresLongAfterExpiresAt) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    APPLY_OK(state, ExpirePending{"p1"}, kNow + 365LL * 24 * 3600 * kSecond);
    EXPECT_EQ(state.transactions.at("p1").status, TransactionStatus::kExpired);
}

TEST(ApplyExpire, RefusesTransactionWithoutTimeout) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    ExpectNoChange(state, ExpirePending{"p1"}, ResultCode::kNotDue,
                   kNow + 10 * kTimeoutSecondsMax * kSecond);
}

TEST(ApplyExpire, RefusesTransactionThatIsNotPending) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    APPLY_OK(state, Post("p1"));
    CommandResult result =
        ExpectNoChange(state, ExpirePending{"p1"}, ResultCode::kNotPending, kNow + 20 * kSecond);
    EXPECT_EQ(result.status, TransactionStatus::kPosted);
    APPLY_OK(state, Pending("p2", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    APPLY_OK(state, ExpirePending{"p2"}, kNow + 10 * kSecond);
    result =
        ExpectNoChange(state, ExpirePending{"p2"}, ResultCode::kNotPending, kNow + 20 * kSecond);
    EXPECT_EQ(result.status, TransactionStatus::kExpired);
    result = ExpectNoChange(state, VoidPending{"p2"}, ResultCode::kNotPending, kNow + 20 * kSecond);
    EXPECT_EQ(result.status, TransactionStatus::kExpired);
}

TEST(ApplyExpire, RefusesUnknownTransaction) {
    BatchState state = Ledger();
    ExpectNoChange(state, ExpirePending{"nope"}, ResultCode::kTransactionNotFound);
}

// ---------------------------------------------------------------------------------------------
// Reversals

TEST(ApplyReverse, BooksMirrorEntriesAndLinksBothWays) {
    BatchState state = Ledger();
    APPLY_OK(state, Posted("t1", {Debit("cash", 100), Credit("revenue", 90), Credit("fees", 10)}));
    Reverse command = ReverseOf("t1", "r1");
    command.description = "refund";
    command.metadata_json = R"({"reason":"customer"})";
    BatchOutcome outcome = ApplyOne(state, command, kNow + kSecond);
    ASSERT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[0].transaction_id, "r1");

    const Transaction& reversal = state.transactions.at("r1");
    EXPECT_EQ(reversal.status, TransactionStatus::kPosted);
    EXPECT_EQ(reversal.entries, (std::vector<EntrySpec>{Credit("cash", 100), Debit("revenue", 90),
                                                        Debit("fees", 10)}));
    EXPECT_EQ(reversal.currencies, (std::vector<std::string>{"USD", "USD", "USD"}));
    EXPECT_EQ(reversal.posted_amounts, (std::vector<std::int64_t>{100, 90, 10}));
    EXPECT_EQ(reversal.reverses_id, "t1");
    EXPECT_EQ(reversal.reversed_by_id, "");
    EXPECT_EQ(reversal.description, "refund");
    EXPECT_EQ(reversal.metadata_json, R"({"reason":"customer"})");
    EXPECT_EQ(reversal.effective_at, kNow + kSecond);
    EXPECT_EQ(reversal.created_at, kNow + kSecond);
    const Transaction& original = state.transactions.at("t1");
    EXPECT_EQ(original.reversed_by_id, "r1");
    EXPECT_EQ(original.status, TransactionStatus::kPosted);

    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 100, .posted_credits = 100}));
    EXPECT_EQ(CountersOf(state, "revenue"), (Counters{.posted_debits = 90, .posted_credits = 90}));
    EXPECT_EQ(ComputeBalances(NormalBalance::kDebit, CountersOf(state, "cash")).posted, 0);
    ASSERT_EQ(outcome.journal.size(), 3u);
    ExpectRow(outcome.journal[0], "r1", "cash", Direction::kCredit, JournalKind::kCreated, 0, 100,
              Counters{.posted_debits = 100, .posted_credits = 100});
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kPosted, std::string("r1")},
                                               std::pair{EventKind::kReversed, std::string("t1")}));
    EXPECT_THAT(outcome.created_transactions, ElementsAre("r1"));
    EXPECT_THAT(outcome.updated_transactions, ElementsAre("t1"));
    EXPECT_THAT(outcome.changed_accounts, UnorderedElementsAre("cash", "revenue", "fees"));
}

TEST(ApplyReverse, ReversesOnlyWhatWasPosted) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 70), Credit("fees", 30)}));
    APPLY_OK(state, Post("p1", std::vector<std::int64_t>{30, 0, 30}));
    APPLY_OK(state, ReverseOf("p1", "r1"));
    const Transaction& reversal = state.transactions.at("r1");
    EXPECT_EQ(reversal.entries, (std::vector<EntrySpec>{Credit("cash", 30), Debit("fees", 30)}));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 30, .posted_credits = 30}));
    EXPECT_EQ(CountersOf(state, "revenue"), Counters{});
    EXPECT_EQ(state.accounts.at("revenue").lock_version, 2);  // create, post; not the reversal
}

TEST(ApplyReverse, ReplaysIdenticalReversal) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    Reverse command = ReverseOf("t1", "r1");
    command.description = "refund";
    APPLY_OK(state, command);
    CommandResult result = ExpectNoChange(state, command, ResultCode::kReplayed, kNow + kSecond);
    EXPECT_EQ(result.transaction_id, "r1");
}

TEST(ApplyReverse, RefusesReversalIdReusedWithDifferentFields) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    APPLY_OK(state, Move("t2", "revenue", "cash", 100));
    APPLY_OK(state, ReverseOf("t1", "r1"));

    Reverse other_description = ReverseOf("t1", "r1");
    other_description.description = "other";
    CommandResult result =
        ExpectNoChange(state, other_description, ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("description"));

    Reverse other_metadata = ReverseOf("t1", "r1");
    other_metadata.metadata_json = R"({"x":1})";
    result = ExpectNoChange(state, other_metadata, ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("metadata"));

    result = ExpectNoChange(state, ReverseOf("t2", "r1"), ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("reverses"));
    EXPECT_EQ(state.transactions.at("t2").reversed_by_id, "");
}

TEST(ApplyReverse, RefusesReversalIdOfAnOrdinaryTransaction) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    APPLY_OK(state, Move("t2", "revenue", "cash", 100));
    CommandResult result =
        ExpectNoChange(state, ReverseOf("t1", "t2"), ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("reverses"));
    result = ExpectNoChange(state, ReverseOf("t1", "t1"), ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("reverses"));
}

TEST(ApplyReverse, CreateWithTheIdOfAReversalDiffersInStatus) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    APPLY_OK(state, ReverseOf("t1", "r1"));
    // Same entries as the reversal booked, but a reversal is not an ordinary posted transaction.
    CommandResult result =
        ExpectNoChange(state, Posted("r1", {Credit("cash", 100), Debit("revenue", 100)}),
                       ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(result.differing_fields, ElementsAre("status"));
}

TEST(ApplyReverse, RefusesSecondReversal) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    APPLY_OK(state, ReverseOf("t1", "r1"));
    CommandResult result =
        ExpectNoChange(state, ReverseOf("t1", "r2"), ResultCode::kAlreadyReversed);
    EXPECT_EQ(result.transaction_id, "r2");
}

TEST(ApplyReverse, RefusesTransactionThatIsNotPosted) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    CommandResult result = ExpectNoChange(state, ReverseOf("p1", "r1"), ResultCode::kNotPosted);
    EXPECT_EQ(result.status, TransactionStatus::kPending);
    EXPECT_EQ(result.transaction_id, "r1");
    APPLY_OK(state, VoidPending{"p1"});
    result = ExpectNoChange(state, ReverseOf("p1", "r1"), ResultCode::kNotPosted);
    EXPECT_EQ(result.status, TransactionStatus::kVoided);
    APPLY_OK(state, Pending("p2", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    APPLY_OK(state, ExpirePending{"p2"}, kNow + 10 * kSecond);
    result = ExpectNoChange(state, ReverseOf("p2", "r2"), ResultCode::kNotPosted);
    EXPECT_EQ(result.status, TransactionStatus::kExpired);
}

TEST(ApplyReverse, RefusesUnknownTransaction) {
    BatchState state = Ledger();
    CommandResult result =
        ExpectNoChange(state, ReverseOf("nope", "r1"), ResultCode::kTransactionNotFound);
    EXPECT_EQ(result.transaction_id, "r1");
}

TEST(ApplyReverse, RefusesMalformedReversalId) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    ExpectNoChange(state, ReverseOf("t1", ""), ResultCode::kIdInvalid);
    ExpectNoChange(state, ReverseOf("t1", "r 1"), ResultCode::kIdInvalid);
    ExpectNoChange(state, ReverseOf("t1", std::string(kIdBytesMax + 1, 'r')),
                   ResultCode::kIdInvalid);
}

TEST(ApplyReverse, RefusesReversalThatWouldBreakAFlag) {
    BatchState state = Ledger();
    APPLY_OK(state, Posted("top_up", {Debit("cash", 100), Credit("wallet", 100)}));
    APPLY_OK(state, Posted("spend", {Debit("wallet", 100), Credit("revenue", 100)}));
    // Taking the top-up back would debit a wallet whose money is already spent.
    CommandResult result =
        ExpectNoChange(state, ReverseOf("top_up", "r1"), ResultCode::kExceedsCredits);
    EXPECT_EQ(result.account_id, "wallet");
    EXPECT_EQ(state.transactions.at("top_up").reversed_by_id, "");
    APPLY_OK(state, ReverseOf("spend", "r2"));
    APPLY_OK(state, ReverseOf("top_up", "r1"));
}

TEST(ApplyReverse, RefusesReversalThatWouldOverflow) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 5));
    APPLY_OK(state, Posted("t2", {Debit("fees", kMax), Credit("cash", kMax)}));
    // Reversing t1 credits cash again, whose posted credits are already at the maximum.
    CommandResult result = ExpectNoChange(state, ReverseOf("t1", "r1"), ResultCode::kOverflow);
    EXPECT_EQ(result.account_id, "cash");
}

TEST(ApplyReverse, RefusesReversalOntoClosedAccount) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    ASSERT_EQ(Close(state.accounts.at("revenue")), CloseResult::kOk);
    CommandResult result = ExpectNoChange(state, ReverseOf("t1", "r1"), ResultCode::kAccountClosed);
    EXPECT_EQ(result.account_id, "revenue");
}

// ---------------------------------------------------------------------------------------------
// Batches

TEST(ApplyBatch, EmptyBatchDoesNothing) {
    for (Atomicity atomicity : {Atomicity::kIndependent, Atomicity::kAllOrNothing}) {
        BatchState state = Ledger();
        BatchOutcome outcome = Apply(state, {}, kNow, atomicity);
        EXPECT_THAT(outcome.results, IsEmpty());
        ExpectNothingHappened(outcome);
    }
}

TEST(ApplyBatch, AllOrNothingBatchAppliesEveryCommand) {
    BatchState state = Ledger();
    BatchOutcome outcome =
        Apply(state,
              {Move("t1", "revenue", "cash", 10),
               Pending("p1", {Debit("cash", 5), Credit("fees", 5)}), ReverseOf("t1", "r1")},
              kNow, Atomicity::kAllOrNothing);
    ASSERT_EQ(outcome.results.size(), 3u);
    for (const auto& result : outcome.results) EXPECT_EQ(result.code, ResultCode::kOk);
    EXPECT_EQ(CountersOf(state, "cash"),
              (Counters{.pending_debits = 5, .posted_debits = 10, .posted_credits = 10}));
    EXPECT_EQ(outcome.journal.size(), 6u);
    EXPECT_THAT(outcome.created_transactions, UnorderedElementsAre("t1", "p1", "r1"));
    // t1 was created in this batch: the store inserts its final state, it does not update it.
    EXPECT_THAT(outcome.updated_transactions, IsEmpty());
    EXPECT_EQ(state.transactions.at("t1").reversed_by_id, "r1");
    EXPECT_EQ(state.accounts.at("cash").lock_version, 3);
}

TEST(ApplyBatch, AllOrNothingBatchFailureChangesNothing) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p0", {Debit("cash", 50), Credit("revenue", 50)}));
    const BatchState before = state;
    BatchOutcome outcome = Apply(state,
                                 {Move("t1", "revenue", "cash", 10), Post("p0"),
                                  Move("t2", "revenue", "ghost", 10), ReverseOf("t1", "r1")},
                                 kNow, Atomicity::kAllOrNothing);
    ASSERT_EQ(outcome.results.size(), 4u);
    EXPECT_EQ(outcome.results[2].code, ResultCode::kAccountNotFound);
    EXPECT_EQ(outcome.results[2].account_id, "ghost");
    EXPECT_EQ(outcome.results[2].transaction_id, "t2");
    EXPECT_EQ(outcome.results[2].failed_index, std::nullopt);
    const std::vector<std::string> ids = {"t1", "p0", "t2", "r1"};
    for (std::size_t i : {0u, 1u, 3u}) {
        EXPECT_EQ(outcome.results[i].code, ResultCode::kBatchFailed) << i;
        EXPECT_EQ(outcome.results[i].failed_index, 2u) << i;
        EXPECT_EQ(outcome.results[i].transaction_id, ids[i]) << i;
    }
    ExpectNothingHappened(outcome);
    EXPECT_TRUE(SameState(before, state));
}

TEST(ApplyBatch, AllOrNothingBatchFailsOnItsFirstCommand) {
    BatchState state = Ledger();
    const BatchState before = state;
    BatchOutcome outcome = Apply(state, {Post("nope"), Move("t1", "revenue", "cash", 10)}, kNow,
                                 Atomicity::kAllOrNothing);
    ASSERT_EQ(outcome.results.size(), 2u);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kTransactionNotFound);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kBatchFailed);
    EXPECT_EQ(outcome.results[1].failed_index, 0u);
    ExpectNothingHappened(outcome);
    EXPECT_TRUE(SameState(before, state));
}

TEST(ApplyBatch, AllOrNothingBatchCountsReplayAsSuccess) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 10));
    BatchOutcome outcome =
        Apply(state, {Move("t1", "revenue", "cash", 10), Move("t2", "revenue", "cash", 5)}, kNow,
              Atomicity::kAllOrNothing);
    ASSERT_EQ(outcome.results.size(), 2u);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kReplayed);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kOk);
    EXPECT_THAT(outcome.created_transactions, ElementsAre("t2"));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 15}));
}

TEST(ApplyBatch, IndependentBatchKeepsTheNeighboursOfAFailure) {
    BatchState state = Ledger();
    BatchOutcome outcome = Apply(state,
                                 {Move("t1", "revenue", "cash", 10),
                                  Posted("t2", {Debit("wallet", 5), Credit("revenue", 5)}),
                                  Move("t3", "revenue", "cash", 20)},
                                 kNow, Atomicity::kIndependent);
    ASSERT_EQ(outcome.results.size(), 3u);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kExceedsCredits);
    EXPECT_EQ(outcome.results[1].account_id, "wallet");
    EXPECT_EQ(outcome.results[1].failed_index, std::nullopt);
    EXPECT_EQ(outcome.results[2].code, ResultCode::kOk);
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 30}));
    EXPECT_EQ(CountersOf(state, "wallet"), Counters{});
    EXPECT_EQ(state.accounts.at("wallet").lock_version, 0);
    EXPECT_EQ(state.transactions.count("t2"), 0u);
    EXPECT_EQ(outcome.journal.size(), 4u);
    for (const auto& row : outcome.journal) EXPECT_NE(row.transaction_id, "t2");
    EXPECT_THAT(outcome.created_transactions, UnorderedElementsAre("t1", "t3"));
    EXPECT_THAT(outcome.changed_accounts, UnorderedElementsAre("cash", "revenue"));
    EXPECT_EQ(outcome.events.size(), 2u);
}

TEST(ApplyBatch, SameIdTwiceWithSameContentReplaysTheSecond) {
    for (Atomicity atomicity : {Atomicity::kIndependent, Atomicity::kAllOrNothing}) {
        BatchState state = Ledger();
        BatchOutcome outcome =
            Apply(state, {Move("t1", "revenue", "cash", 10), Move("t1", "revenue", "cash", 10)},
                  kNow, atomicity);
        ASSERT_EQ(outcome.results.size(), 2u);
        EXPECT_EQ(outcome.results[0].code, ResultCode::kOk);
        EXPECT_EQ(outcome.results[1].code, ResultCode::kReplayed);
        EXPECT_EQ(outcome.journal.size(), 2u);
        EXPECT_EQ(outcome.events.size(), 1u);
        EXPECT_THAT(outcome.created_transactions, ElementsAre("t1"));
        EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 10}));
        EXPECT_EQ(state.accounts.at("cash").lock_version, 1);
    }
}

TEST(ApplyBatch, SameIdTwiceWithOtherContentRefusesTheSecond) {
    BatchState state = Ledger();
    BatchOutcome outcome =
        Apply(state, {Move("t1", "revenue", "cash", 10), Move("t1", "revenue", "cash", 11)}, kNow,
              Atomicity::kIndependent);
    ASSERT_EQ(outcome.results.size(), 2u);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kExistsWithDifferentFields);
    EXPECT_THAT(outcome.results[1].differing_fields, ElementsAre("entries"));
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 10}));
    EXPECT_EQ(state.transactions.at("t1").entries[0].amount, 10);

    // All or nothing: the conflict fails the batch and the first command with it.
    BatchState fresh = Ledger();
    const BatchState before = fresh;
    outcome = Apply(fresh, {Move("t1", "revenue", "cash", 10), Move("t1", "revenue", "cash", 11)},
                    kNow, Atomicity::kAllOrNothing);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kBatchFailed);
    EXPECT_EQ(outcome.results[0].failed_index, 1u);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kExistsWithDifferentFields);
    EXPECT_TRUE(SameState(before, fresh));
}

TEST(ApplyBatch, CreatePendingThenPostInOneBatchListsTheTransactionAsCreatedOnly) {
    BatchState state = Ledger();
    BatchOutcome outcome = Apply(state,
                                 {Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 60),
                                  Post("p1", std::vector<std::int64_t>{40, 40})},
                                 kNow, Atomicity::kAllOrNothing);
    ASSERT_EQ(outcome.results.size(), 2u);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kOk);
    EXPECT_THAT(outcome.created_transactions, ElementsAre("p1"));
    EXPECT_THAT(outcome.updated_transactions, IsEmpty());
    EXPECT_EQ(state.transactions.at("p1").status, TransactionStatus::kPosted);
    EXPECT_EQ(CountersOf(state, "cash"), (Counters{.posted_debits = 40}));
    ASSERT_EQ(outcome.journal.size(), 4u);
    EXPECT_EQ(outcome.journal[0].kind, JournalKind::kCreated);
    EXPECT_EQ(outcome.journal[0].after, (Counters{.pending_debits = 100}));
    EXPECT_EQ(outcome.journal[2].kind, JournalKind::kPosted);
    EXPECT_EQ(outcome.journal[2].after, (Counters{.posted_debits = 40}));
    EXPECT_THAT(EventsOf(outcome), ElementsAre(std::pair{EventKind::kPending, std::string("p1")},
                                               std::pair{EventKind::kPosted, std::string("p1")}));
    EXPECT_EQ(state.accounts.at("cash").lock_version, 2);
}

TEST(ApplyBatch, LockVersionGrowsOncePerCommandPerAccount) {
    BatchState state = Ledger();
    BatchOutcome outcome =
        Apply(state,
              {Posted("t1", {Debit("cash", 1), Debit("cash", 2), Credit("revenue", 3)}),
               Move("t2", "fees", "cash", 4), Move("t3", "fees", "cash", 5),
               Move("t4", "revenue", "cash", 6)},
              kNow, Atomicity::kIndependent);
    for (const auto& result : outcome.results) ASSERT_EQ(result.code, ResultCode::kOk);
    EXPECT_EQ(state.accounts.at("cash").lock_version, 4);
    EXPECT_EQ(state.accounts.at("revenue").lock_version, 2);
    EXPECT_EQ(state.accounts.at("fees").lock_version, 2);
    EXPECT_EQ(state.accounts.at("wallet").lock_version, 0);
    // Each account once, however often it changed.
    EXPECT_THAT(outcome.changed_accounts, UnorderedElementsAre("cash", "revenue", "fees"));
    // The journal's `after` runs across commands.
    std::vector<std::int64_t> cash_after;
    for (const auto& row : outcome.journal) {
        if (row.account_id == "cash") cash_after.push_back(row.after.posted_debits);
    }
    EXPECT_THAT(cash_after, ElementsAre(1, 3, 7, 12, 18));
}

TEST(ApplyBatch, LaterCommandSeesTheLockVersionsOfEarlierOnes) {
    BatchState state = Ledger();
    CreateTransaction second = Move("t2", "revenue", "cash", 5);
    second.lock_versions = {{"cash", 0}};  // read before the batch
    BatchOutcome outcome =
        Apply(state, {Move("t1", "revenue", "cash", 5), second}, kNow, Atomicity::kIndependent);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kLockVersionMismatch);
    EXPECT_EQ(outcome.results[1].account_id, "cash");
}

TEST(ApplyBatch, LaterCommandSeesBalancesOfEarlierOnes) {
    BatchState state = Ledger();
    BatchOutcome outcome = Apply(state,
                                 {Posted("spend", {Debit("wallet", 30), Credit("revenue", 30)}),
                                  Posted("top_up", {Debit("cash", 30), Credit("wallet", 30)}),
                                  Posted("spend2", {Debit("wallet", 30), Credit("revenue", 30)})},
                                 kNow, Atomicity::kIndependent);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kExceedsCredits);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[2].code, ResultCode::kOk);
}

TEST(ParseJournalKind, IsTheInverseOfItsNameAndRefusesOthers) {
    for (JournalKind kind : {JournalKind::kCreated, JournalKind::kPosted, JournalKind::kVoided,
                             JournalKind::kExpired}) {
        EXPECT_EQ(ParseJournalKind(JournalKindName(kind)), kind);
    }
    EXPECT_EQ(ParseJournalKind("reversed"), std::nullopt);
    EXPECT_EQ(ParseJournalKind(""), std::nullopt);
    EXPECT_EQ(ParseJournalKind("Expired"), std::nullopt);
}

TEST(ApplyBatch, LatePostFailsAllOrNothingBatchButTheDueExpiryIsApplied) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    BatchOutcome outcome = Apply(state, {Move("t1", "revenue", "cash", 5), Post("p1")},
                                 kNow + 10 * kSecond, Atomicity::kAllOrNothing);
    ASSERT_EQ(outcome.results.size(), 2u);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kBatchFailed);
    EXPECT_EQ(outcome.results[0].failed_index, 1u);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kNotPending);
    EXPECT_EQ(outcome.results[1].status, TransactionStatus::kExpired);
    // The batch is not applied (t1 does not exist), but the expiry the answer reports is, so
    // the database holds what the client was told.
    EXPECT_FALSE(state.transactions.count("t1"));
    EXPECT_TRUE(outcome.created_transactions.empty());
    EXPECT_EQ(state.transactions.at("p1").status, TransactionStatus::kExpired);
    EXPECT_THAT(outcome.updated_transactions, ElementsAre("p1"));
    ASSERT_EQ(outcome.events.size(), 1u);
    EXPECT_EQ(outcome.events[0].kind, EventKind::kExpired);
    EXPECT_EQ(state.accounts.at("cash").counters.pending_debits, 0);
    EXPECT_EQ(state.accounts.at("revenue").counters.pending_credits, 0);
    EXPECT_EQ(state.accounts.at("cash").counters.posted_debits, 0);
}

TEST(ApplyBatch, AnAllOrNothingBatchFailingForAnotherReasonExpiresNothing) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}, 10));
    const BatchState before = state;
    // p1's timeout has not passed; the batch fails on an unknown transaction.
    BatchOutcome outcome =
        Apply(state, {Post("p1"), Post("missing")}, kNow + 5 * kSecond, Atomicity::kAllOrNothing);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kTransactionNotFound);
    ExpectNothingHappened(outcome);
    EXPECT_TRUE(SameState(before, state));
}

TEST(ApplyBatch, VoidAfterPostInOneBatchIsRefused) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    BatchOutcome outcome =
        Apply(state, {Post("p1"), VoidPending{"p1"}}, kNow, Atomicity::kIndependent);
    EXPECT_EQ(outcome.results[0].code, ResultCode::kOk);
    EXPECT_EQ(outcome.results[1].code, ResultCode::kNotPending);
    EXPECT_EQ(outcome.results[1].status, TransactionStatus::kPosted);
    EXPECT_THAT(outcome.updated_transactions, ElementsAre("p1"));
}

// ---------------------------------------------------------------------------------------------
// Closing and reopening accounts

TEST(CloseAccount, ClosesAccountWithoutPendingAmounts) {
    BatchState state = Ledger();
    APPLY_OK(state, Move("t1", "revenue", "cash", 100));
    Account& cash = state.accounts.at("cash");
    EXPECT_EQ(Close(cash), CloseResult::kOk);
    EXPECT_TRUE(cash.closed);
    EXPECT_EQ(cash.lock_version, 2);
    EXPECT_EQ(cash.counters, (Counters{.posted_debits = 100}));
}

TEST(CloseAccount, RefusesAccountWithPendingAmounts) {
    BatchState state = Ledger();
    APPLY_OK(state, Pending("p1", {Debit("cash", 100), Credit("revenue", 100)}));
    EXPECT_EQ(Close(state.accounts.at("cash")), CloseResult::kHasPending);
    EXPECT_EQ(Close(state.accounts.at("revenue")), CloseResult::kHasPending);
    EXPECT_FALSE(state.accounts.at("cash").closed);
    EXPECT_EQ(state.accounts.at("cash").lock_version, 1);
    APPLY_OK(state, VoidPending{"p1"});
    EXPECT_EQ(Close(state.accounts.at("cash")), CloseResult::kOk);
}

TEST(CloseAccount, RefusesClosedAccount) {
    Account account = MakeAccount("cash", "USD", NormalBalance::kDebit);
    ASSERT_EQ(Close(account), CloseResult::kOk);
    EXPECT_EQ(Close(account), CloseResult::kAlreadyClosed);
    EXPECT_EQ(account.lock_version, 1);
}

TEST(ReopenAccount, ReopensClosedAccount) {
    BatchState state = Ledger();
    ASSERT_EQ(Close(state.accounts.at("cash")), CloseResult::kOk);
    ExpectNoChange(state, Move("t1", "revenue", "cash", 5), ResultCode::kAccountClosed);
    EXPECT_EQ(Reopen(state.accounts.at("cash")), ReopenResult::kOk);
    EXPECT_FALSE(state.accounts.at("cash").closed);
    EXPECT_EQ(state.accounts.at("cash").lock_version, 2);
    APPLY_OK(state, Move("t1", "revenue", "cash", 5));
}

TEST(ReopenAccount, RefusesOpenAccount) {
    Account account = MakeAccount("cash", "USD", NormalBalance::kDebit);
    EXPECT_EQ(Reopen(account), ReopenResult::kNotClosed);
    EXPECT_EQ(account.lock_version, 0);
}

// ---------------------------------------------------------------------------------------------
// Names

TEST(ResultCodeName, NamesEveryCodeDistinctly) {
    std::set<std::string_view> names;
    for (int code = 0; code <= static_cast<int>(ResultCode::kBatchFailed); ++code) {
        std::string_view name = ResultCodeName(static_cast<ResultCode>(code));
        EXPECT_NE(name, "unknown") << code;
        EXPECT_TRUE(names.insert(name).second) << name;
    }
    EXPECT_EQ(ResultCodeName(ResultCode::kExceedsCredits), "exceeds_credits");
    EXPECT_EQ(ResultCodeName(ResultCode::kBatchFailed), "batch_failed");
}

TEST(EventTypeName, NamesEveryEvent) {
    EXPECT_EQ(EventTypeName(EventKind::kPosted), "ledger.transaction.posted");
    EXPECT_EQ(EventTypeName(EventKind::kPending), "ledger.transaction.pending");
    EXPECT_EQ(EventTypeName(EventKind::kVoided), "ledger.transaction.voided");
    EXPECT_EQ(EventTypeName(EventKind::kExpired), "ledger.transaction.expired");
    EXPECT_EQ(EventTypeName(EventKind::kReversed), "ledger.transaction.reversed");
}

TEST(JournalKindName, NamesEveryKind) {
    EXPECT_EQ(JournalKindName(JournalKind::kCreated), "created");
    EXPECT_EQ(JournalKindName(JournalKind::kPosted), "posted");
    EXPECT_EQ(JournalKindName(JournalKind::kVoided), "voided");
    EXPECT_EQ(JournalKindName(JournalKind::kExpired), "expired");
}

TEST(TransactionIdsOf, NamesTheTransactionsACommandReads) {
    EXPECT_THAT(TransactionIdsOf(Move("t1", "revenue", "cash", 1)), ElementsAre("t1"));
    EXPECT_THAT(TransactionIdsOf(Post("p1")), ElementsAre("p1"));
    EXPECT_THAT(TransactionIdsOf(VoidPending{"p2"}), ElementsAre("p2"));
    EXPECT_THAT(TransactionIdsOf(ExpirePending{"p3"}), ElementsAre("p3"));
    EXPECT_THAT(TransactionIdsOf(ReverseOf("t1", "r1")), ElementsAre("t1", "r1"));
}

}  // namespace
}  // namespace ledger::domain
