#include "ledger/domain/model.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace ledger::domain {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

TEST(IsValidId, AcceptsOneToSixtyFourAllowedCharacters) {
    EXPECT_TRUE(IsValidId("a"));
    EXPECT_TRUE(IsValidId("txn_01HZX.payin:capture-1"));
    EXPECT_TRUE(IsValidId("azAZ09_-.:"));
    EXPECT_TRUE(IsValidId("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
    EXPECT_TRUE(IsValidId("abcdefghijklmnopqrstuvwxyz0123456789"));
    EXPECT_TRUE(IsValidId(std::string(kIdBytesMax, 'x')));
}

TEST(IsValidId, RefusesEmptyAndOverLongIds) {
    EXPECT_FALSE(IsValidId(""));
    EXPECT_FALSE(IsValidId(std::string(kIdBytesMax + 1, 'x')));
}

TEST(IsValidId, RefusesCharactersUnsafeInUrlsLogsOrSql) {
    for (std::string bad : {"a b", "a/b", "a?b", "a%b", "a'b", "a\"b", "a,b", "a{b", "a\nb",
                            "caf\xc3\xa9", "a\\b", "a+b", "a#b"}) {
        EXPECT_FALSE(IsValidId(bad)) << bad;
    }
    EXPECT_FALSE(IsValidId(std::string("a\0b", 3)));
}

TEST(ParseDirection, RoundTripsEveryDirection) {
    for (Direction direction : {Direction::kDebit, Direction::kCredit}) {
        EXPECT_EQ(ParseDirection(DirectionName(direction)), direction);
    }
    EXPECT_EQ(DirectionName(Direction::kDebit), "debit");
    EXPECT_EQ(DirectionName(Direction::kCredit), "credit");
}

TEST(ParseDirection, RefusesUnknownText) {
    for (const char* text : {"", "Debit", "DEBIT", "debits", " debit", "dr", "cr"}) {
        EXPECT_EQ(ParseDirection(text), std::nullopt) << text;
    }
}

TEST(ParseNormalBalance, RoundTripsEverySide) {
    for (NormalBalance side : {NormalBalance::kDebit, NormalBalance::kCredit}) {
        EXPECT_EQ(ParseNormalBalance(NormalBalanceName(side)), side);
    }
    EXPECT_EQ(NormalBalanceName(NormalBalance::kDebit), "debit");
    EXPECT_EQ(NormalBalanceName(NormalBalance::kCredit), "credit");
}

TEST(ParseNormalBalance, RefusesUnknownText) {
    for (const char* text : {"", "Credit", "credits", "both"}) {
        EXPECT_EQ(ParseNormalBalance(text), std::nullopt) << text;
    }
}

TEST(ParseStatus, RoundTripsEveryStatus) {
    for (TransactionStatus status : {TransactionStatus::kPending, TransactionStatus::kPosted,
                                     TransactionStatus::kVoided, TransactionStatus::kExpired}) {
        EXPECT_EQ(ParseStatus(StatusName(status)), status);
    }
    EXPECT_EQ(StatusName(TransactionStatus::kPending), "pending");
    EXPECT_EQ(StatusName(TransactionStatus::kPosted), "posted");
    EXPECT_EQ(StatusName(TransactionStatus::kVoided), "voided");
    EXPECT_EQ(StatusName(TransactionStatus::kExpired), "expired");
}

TEST(ParseStatus, RefusesUnknownText) {
    for (const char* text : {"", "Posted", "void", "canceled", "reversed", "unknown"}) {
        EXPECT_EQ(ParseStatus(text), std::nullopt) << text;
    }
}

TEST(ComputeBalances, ZeroCountersGiveZeroBalances) {
    for (NormalBalance side : {NormalBalance::kDebit, NormalBalance::kCredit}) {
        Balances b = ComputeBalances(side, Counters{});
        EXPECT_EQ(b.posted, 0);
        EXPECT_EQ(b.pending, 0);
        EXPECT_EQ(b.available, 0);
    }
}

TEST(ComputeBalances, DebitNormalAccountSubtractsCreditsAndOnlyPendingOutflowsFromAvailable) {
    Counters c;
    c.pending_debits = 30;   // pending inflow
    c.pending_credits = 20;  // pending outflow
    c.posted_debits = 100;
    c.posted_credits = 40;
    Balances b = ComputeBalances(NormalBalance::kDebit, c);
    EXPECT_EQ(b.posted, 60);     // 100 - 40
    EXPECT_EQ(b.pending, 70);    // (30 + 100) - (20 + 40)
    EXPECT_EQ(b.available, 40);  // 100 - (20 + 40): the pending inflow is not counted
}

TEST(ComputeBalances, CreditNormalAccountSubtractsDebitsAndOnlyPendingOutflowsFromAvailable) {
    Counters c;
    c.pending_debits = 20;   // pending outflow
    c.pending_credits = 30;  // pending inflow
    c.posted_debits = 40;
    c.posted_credits = 100;
    Balances b = ComputeBalances(NormalBalance::kCredit, c);
    EXPECT_EQ(b.posted, 60);     // 100 - 40
    EXPECT_EQ(b.pending, 70);    // (30 + 100) - (20 + 40)
    EXPECT_EQ(b.available, 40);  // 100 - (20 + 40)
}

TEST(ComputeBalances, PendingInflowRaisesPendingButNotAvailable) {
    Counters c;
    c.pending_debits = 500;
    Balances debit_normal = ComputeBalances(NormalBalance::kDebit, c);
    EXPECT_EQ(debit_normal.posted, 0);
    EXPECT_EQ(debit_normal.pending, 500);
    EXPECT_EQ(debit_normal.available, 0);
    // For a credit-normal account the same pending debit is an outflow.
    Balances credit_normal = ComputeBalances(NormalBalance::kCredit, c);
    EXPECT_EQ(credit_normal.posted, 0);
    EXPECT_EQ(credit_normal.pending, -500);
    EXPECT_EQ(credit_normal.available, -500);
}

TEST(ComputeBalances, BalancesCanBeNegative) {
    Counters c;
    c.posted_debits = 10;
    c.posted_credits = 25;
    Balances b = ComputeBalances(NormalBalance::kDebit, c);
    EXPECT_EQ(b.posted, -15);
    EXPECT_EQ(b.pending, -15);
    EXPECT_EQ(b.available, -15);
    Balances mirrored = ComputeBalances(NormalBalance::kCredit, c);
    EXPECT_EQ(mirrored.posted, 15);
    EXPECT_EQ(mirrored.pending, 15);
    EXPECT_EQ(mirrored.available, 15);
}

TEST(ComputeBalances, ExtremeValidCountersDoNotOverflow) {
    Counters all_debit;
    all_debit.posted_debits = kMax;
    EXPECT_EQ(ComputeBalances(NormalBalance::kDebit, all_debit).posted, kMax);
    EXPECT_EQ(ComputeBalances(NormalBalance::kCredit, all_debit).posted, -kMax);
    EXPECT_EQ(ComputeBalances(NormalBalance::kCredit, all_debit).available, -kMax);

    // Every outflow held as pending on one side, every inflow posted on the other.
    Counters held;
    held.pending_credits = kMax - 1;
    held.posted_credits = 1;
    held.posted_debits = 0;
    Balances b = ComputeBalances(NormalBalance::kDebit, held);
    EXPECT_EQ(b.posted, -1);
    EXPECT_EQ(b.pending, -kMax);
    EXPECT_EQ(b.available, -kMax);

    Counters both;
    both.pending_debits = kMax / 2;
    both.posted_debits = kMax - kMax / 2;
    both.pending_credits = 3;
    both.posted_credits = kMax - 3;
    ASSERT_TRUE(CountersValid(both));
    Balances full = ComputeBalances(NormalBalance::kCredit, both);
    EXPECT_EQ(full.posted, (kMax - 3) - (kMax - kMax / 2));
    EXPECT_EQ(full.pending, 0);
    EXPECT_EQ(full.available, (kMax - 3) - kMax);
}

TEST(CountersValid, AcceptsZeroAndOrdinaryCounters) {
    EXPECT_TRUE(CountersValid(Counters{}));
    EXPECT_TRUE(CountersValid(Counters{1, 2, 3, 4}));
}

TEST(CountersValid, RefusesAnyNegativeCounter) {
    EXPECT_FALSE(CountersValid(Counters{-1, 0, 0, 0}));
    EXPECT_FALSE(CountersValid(Counters{0, -1, 0, 0}));
    EXPECT_FALSE(CountersValid(Counters{0, 0, -1, 0}));
    EXPECT_FALSE(CountersValid(Counters{0, 0, 0, -1}));
    EXPECT_FALSE(CountersValid(Counters{0, 0, 0, std::numeric_limits<std::int64_t>::min()}));
}

TEST(CountersValid, AcceptsInt64MaxOnOneSide) {
    EXPECT_TRUE(CountersValid(Counters{kMax, 0, 0, 0}));
    EXPECT_TRUE(CountersValid(Counters{0, kMax, 0, 0}));
    EXPECT_TRUE(CountersValid(Counters{0, 0, kMax, 0}));
    EXPECT_TRUE(CountersValid(Counters{0, 0, 0, kMax}));
    // Each direction may reach the maximum independently.
    EXPECT_TRUE(CountersValid(Counters{0, 0, kMax, kMax}));
    EXPECT_TRUE(CountersValid(Counters{kMax, kMax, 0, 0}));
    EXPECT_TRUE(CountersValid(Counters{kMax - 7, 7, 7, kMax - 7}));
}

TEST(CountersValid, RefusesPendingPlusPostedThatOverflows) {
    // Counters{pending_debits, pending_credits, posted_debits, posted_credits}.
    EXPECT_FALSE(CountersValid(Counters{1, 0, kMax, 0}));
    EXPECT_FALSE(CountersValid(Counters{kMax, 0, 1, 0}));
    EXPECT_FALSE(CountersValid(Counters{0, 1, 0, kMax}));
    EXPECT_FALSE(CountersValid(Counters{0, kMax, 0, 1}));
    EXPECT_FALSE(CountersValid(Counters{kMax, kMax, kMax, kMax}));
    EXPECT_TRUE(CountersValid(Counters{kMax - 1, 0, 1, 0}));
}

TEST(FlagsSatisfied, NoFlagsAcceptsAnyValidCounters) {
    EXPECT_TRUE(FlagsSatisfied(AccountFlags{}, Counters{}));
    EXPECT_TRUE(FlagsSatisfied(AccountFlags{}, Counters{5, 0, kMax - 5, 0}));
    EXPECT_TRUE(FlagsSatisfied(AccountFlags{}, Counters{0, 5, 0, kMax - 5}));
}

TEST(FlagsSatisfied, DebitsMustNotExceedCreditsCountsPendingDebits) {
    AccountFlags flags;
    flags.debits_must_not_exceed_credits = true;
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{}));
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{0, 0, 100, 100}));
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{40, 0, 60, 100}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{41, 0, 60, 100}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{0, 0, 101, 100}));
    // Pending credits are not yet available to cover debits.
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{0, 50, 1, 0}));
    // The other side is unconstrained.
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{0, 1000, 0, 100}));
}

TEST(FlagsSatisfied, CreditsMustNotExceedDebitsCountsPendingCredits) {
    AccountFlags flags;
    flags.credits_must_not_exceed_debits = true;
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{}));
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{0, 40, 100, 60}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{0, 41, 100, 60}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{0, 0, 100, 101}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{50, 0, 0, 1}));
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{1000, 0, 100, 0}));
}

TEST(FlagsSatisfied, BothFlagsRequireEqualPostedSidesAndNothingPending) {
    AccountFlags flags;
    flags.debits_must_not_exceed_credits = true;
    flags.credits_must_not_exceed_debits = true;
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{0, 0, 70, 70}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{0, 0, 71, 70}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{0, 0, 70, 71}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{1, 0, 70, 70}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{0, 1, 70, 70}));
}

TEST(FlagsSatisfied, HandlesCountersAtInt64Max) {
    AccountFlags flags;
    flags.debits_must_not_exceed_credits = true;
    EXPECT_TRUE(FlagsSatisfied(flags, Counters{1, 0, kMax - 1, kMax}));
    EXPECT_FALSE(FlagsSatisfied(flags, Counters{1, 0, kMax - 1, kMax - 1}));
}

TEST(AccountIdsOf, ReturnsSortedDistinctAccounts) {
    std::vector<EntrySpec> entries = {
        {"cash", Direction::kDebit, 10, std::nullopt},
        {"a_fees", Direction::kCredit, 1, std::nullopt},
        {"revenue", Direction::kCredit, 9, std::nullopt},
        {"cash", Direction::kCredit, 4, std::nullopt},
        {"a_fees", Direction::kDebit, 4, std::nullopt},
    };
    EXPECT_EQ(AccountIdsOf(entries), (std::vector<std::string>{"a_fees", "cash", "revenue"}));
}

TEST(AccountIdsOf, EmptyAndSingleAccountEntries) {
    EXPECT_TRUE(AccountIdsOf({}).empty());
    std::vector<EntrySpec> one_account = {{"cash", Direction::kDebit, 1, std::nullopt},
                                          {"cash", Direction::kCredit, 1, std::nullopt}};
    EXPECT_EQ(AccountIdsOf(one_account), std::vector<std::string>{"cash"});
}

TEST(EntrySpec, EqualityIgnoresTheStatedCurrency) {
    EntrySpec stated{"cash", Direction::kDebit, 10, "USD"};
    EntrySpec unstated{"cash", Direction::kDebit, 10, std::nullopt};
    EXPECT_EQ(stated, unstated);
    EXPECT_FALSE(stated == (EntrySpec{"cash", Direction::kCredit, 10, "USD"}));
    EXPECT_FALSE(stated == (EntrySpec{"cash", Direction::kDebit, 11, "USD"}));
    EXPECT_FALSE(stated == (EntrySpec{"bank", Direction::kDebit, 10, "USD"}));
}

TEST(ParseEntryId, ReadsTheNumberOfAnEntryId) {
    EXPECT_EQ(ParseEntryId("ent_1"), 1);
    EXPECT_EQ(ParseEntryId("ent_42"), 42);
    EXPECT_EQ(ParseEntryId("ent_999999999999999999"), 999'999'999'999'999'999);
}

TEST(ParseEntryId, RefusesWhatIsNotAnEntryId) {
    for (const char* bad : {"", "ent_", "ent_0", "ent_-1", "ent_1a", "ent_ 1", "txn_1", "42",
                            "ent_1000000000000000000", "ent_99999999999999999999", "ENT_1"}) {
        EXPECT_EQ(ParseEntryId(bad), std::nullopt) << bad;
    }
}

}  // namespace
}  // namespace ledger::domain
