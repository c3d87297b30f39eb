#include "commons/money.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <string>

namespace commons {
namespace {

__extension__ typedef __int128 Int128;

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

// The seed of a randomized test: PAYMENTS_TEST_SEED when set (to replay a failure), otherwise a
// fresh one. Always printed.
std::uint64_t TestSeed() {
    std::uint64_t seed = 0;
    if (const char* text = std::getenv("PAYMENTS_TEST_SEED"); text != nullptr && *text != '\0') {
        seed = std::strtoull(text, nullptr, 10);
    } else {
        seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
    }
    std::cout << "[ seed     ] PAYMENTS_TEST_SEED=" << seed << "\n";
    return seed;
}

// Random int64 values spread over every magnitude, not just the huge ones a uniform draw gives.
std::int64_t RandomInt64(std::mt19937_64& rng) {
    std::uint64_t bits = rng();
    int width = static_cast<int>(rng() % 65);  // 0..64 significant bits
    if (width < 64) bits &= (std::uint64_t{1} << width) - 1;
    std::int64_t value = static_cast<std::int64_t>(bits);
    if (width < 64 && (rng() & 1) != 0) value = -value;
    return value;
}

std::optional<std::int64_t> FromInt128(Int128 value) {
    if (value < kMin || value > kMax) return std::nullopt;
    return static_cast<std::int64_t>(value);
}

// ---- CheckedAdd / CheckedSub / CheckedMul ----

TEST(CheckedAdd, AddsInRange) {
    EXPECT_EQ(CheckedAdd(0, 0), 0);
    EXPECT_EQ(CheckedAdd(1, 2), 3);
    EXPECT_EQ(CheckedAdd(-5, 3), -2);
    EXPECT_EQ(CheckedAdd(kMax, 0), kMax);
    EXPECT_EQ(CheckedAdd(kMax, kMin), -1);
    EXPECT_EQ(CheckedAdd(kMax - 1, 1), kMax);
    EXPECT_EQ(CheckedAdd(kMin + 1, -1), kMin);
}

TEST(CheckedAdd, RejectsOverflowBothWays) {
    EXPECT_EQ(CheckedAdd(kMax, 1), std::nullopt);
    EXPECT_EQ(CheckedAdd(kMax, kMax), std::nullopt);
    EXPECT_EQ(CheckedAdd(kMin, -1), std::nullopt);
    EXPECT_EQ(CheckedAdd(kMin, kMin), std::nullopt);
}

TEST(CheckedSub, SubtractsInRange) {
    EXPECT_EQ(CheckedSub(0, 0), 0);
    EXPECT_EQ(CheckedSub(3, 5), -2);
    EXPECT_EQ(CheckedSub(kMin, 0), kMin);
    EXPECT_EQ(CheckedSub(-1, kMax), kMin);
    EXPECT_EQ(CheckedSub(kMax, kMax), 0);
}

TEST(CheckedSub, RejectsOverflowBothWays) {
    EXPECT_EQ(CheckedSub(kMin, 1), std::nullopt);
    EXPECT_EQ(CheckedSub(0, kMin), std::nullopt);
    EXPECT_EQ(CheckedSub(kMax, -1), std::nullopt);
    EXPECT_EQ(CheckedSub(-2, kMax), std::nullopt);
}

TEST(CheckedMul, MultipliesInRange) {
    EXPECT_EQ(CheckedMul(0, kMin), 0);
    EXPECT_EQ(CheckedMul(1, kMax), kMax);
    EXPECT_EQ(CheckedMul(-1, kMax), -kMax);
    EXPECT_EQ(CheckedMul(1, kMin), kMin);
    EXPECT_EQ(CheckedMul(-7, 6), -42);
    EXPECT_EQ(CheckedMul(std::int64_t{1} << 62, -2), kMin);
}

TEST(CheckedMul, RejectsOverflow) {
    EXPECT_EQ(CheckedMul(kMin, -1), std::nullopt);
    EXPECT_EQ(CheckedMul(-1, kMin), std::nullopt);
    EXPECT_EQ(CheckedMul(kMax, 2), std::nullopt);
    EXPECT_EQ(CheckedMul(std::int64_t{1} << 62, 2), std::nullopt);
    EXPECT_EQ(CheckedMul(std::int64_t{3037000500}, std::int64_t{3037000500}), std::nullopt);
}

TEST(CheckedArithmetic, AgreesWithInt128OnRandomOperands) {
    const std::uint64_t seed = TestSeed();
    SCOPED_TRACE("PAYMENTS_TEST_SEED=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 10'000; ++i) {
        std::int64_t a = RandomInt64(rng);
        std::int64_t b = RandomInt64(rng);
        ASSERT_EQ(CheckedAdd(a, b), FromInt128(Int128{a} + b)) << a << " + " << b;
        ASSERT_EQ(CheckedSub(a, b), FromInt128(Int128{a} - b)) << a << " - " << b;
        ASSERT_EQ(CheckedMul(a, b), FromInt128(Int128{a} * b)) << a << " * " << b;
    }
}

// ---- Currencies ----

TEST(IsValidCurrencyCode, AcceptsIsoAndCustomCodes) {
    EXPECT_TRUE(IsValidCurrencyCode("USD"));
    EXPECT_TRUE(IsValidCurrencyCode("USDC"));
    EXPECT_TRUE(IsValidCurrencyCode("A1B"));
    EXPECT_TRUE(IsValidCurrencyCode("ABCDEFGHIJKL"));  // 12 characters
}

TEST(IsValidCurrencyCode, RejectsWrongLengthCaseOrCharacters) {
    EXPECT_FALSE(IsValidCurrencyCode(""));
    EXPECT_FALSE(IsValidCurrencyCode("US"));
    EXPECT_FALSE(IsValidCurrencyCode("ABCDEFGHIJKLM"));  // 13 characters
    EXPECT_FALSE(IsValidCurrencyCode("usd"));
    EXPECT_FALSE(IsValidCurrencyCode("Usd"));
    EXPECT_FALSE(IsValidCurrencyCode("1AB"));
    EXPECT_FALSE(IsValidCurrencyCode("US-D"));
    EXPECT_FALSE(IsValidCurrencyCode("US D"));
    EXPECT_FALSE(IsValidCurrencyCode(std::string_view("US\0", 3)));
}

TEST(IsoCurrencies, IsSortedUniqueAndValid) {
    const auto& all = IsoCurrencies();
    ASSERT_GT(all.size(), 150u);
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_TRUE(IsValidCurrencyCode(all[i].code)) << all[i].code;
        EXPECT_EQ(all[i].code.size(), 3u) << all[i].code;
        EXPECT_GE(all[i].exponent, 0);
        EXPECT_LE(all[i].exponent, 4);
        if (i > 0) {
            EXPECT_LT(all[i - 1].code, all[i].code);
        }
    }
}

TEST(IsoCurrencies, HasTheExponentsProcessorsGetWrong) {
    auto exponent_of = [](std::string_view code) {
        const auto& all = IsoCurrencies();
        auto it = std::find_if(all.begin(), all.end(),
                               [code](const Currency& c) { return c.code == code; });
        return it == all.end() ? -1 : it->exponent;
    };
    EXPECT_EQ(exponent_of("USD"), 2);
    EXPECT_EQ(exponent_of("EUR"), 2);
    EXPECT_EQ(exponent_of("JPY"), 0);
    EXPECT_EQ(exponent_of("KRW"), 0);
    EXPECT_EQ(exponent_of("CLP"), 0);
    EXPECT_EQ(exponent_of("KWD"), 3);
    EXPECT_EQ(exponent_of("BHD"), 3);
    EXPECT_EQ(exponent_of("CLF"), 4);
    EXPECT_EQ(exponent_of("XXX"), -1);
}

TEST(CurrencyRegistry, FindsIsoCurrencies) {
    CurrencyRegistry registry;
    EXPECT_EQ(registry.Find("USD"), (Currency{"USD", 2}));
    EXPECT_EQ(registry.Find("JPY"), (Currency{"JPY", 0}));
    EXPECT_EQ(registry.Find("usd"), std::nullopt);
    EXPECT_EQ(registry.Find("USDC"), std::nullopt);
    EXPECT_EQ(registry.Find(""), std::nullopt);
    EXPECT_EQ(registry.All(), IsoCurrencies());
}

TEST(CurrencyRegistry, RegistersCustomCurrency) {
    CurrencyRegistry registry;
    auto result = registry.Register({"USDC", 6});
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.value(), (Currency{"USDC", 6}));
    EXPECT_EQ(registry.Find("USDC"), (Currency{"USDC", 6}));
    auto all = registry.All();
    EXPECT_EQ(all.size(), IsoCurrencies().size() + 1);
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end(), [](const Currency& a, const Currency& b) {
        return a.code < b.code;
    }));
}

TEST(CurrencyRegistry, RegisteringTheSameCurrencyAgainIsIdempotent) {
    CurrencyRegistry registry;
    ASSERT_TRUE(registry.Register({"USDC", 6}).ok());
    auto again = registry.Register({"USDC", 6});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value(), (Currency{"USDC", 6}));
    auto iso = registry.Register({"USD", 2});
    ASSERT_TRUE(iso.ok());
    EXPECT_EQ(iso.value(), (Currency{"USD", 2}));
    EXPECT_EQ(registry.All().size(), IsoCurrencies().size() + 1);
}

TEST(CurrencyRegistry, RejectsExponentConflictingWithExisting) {
    CurrencyRegistry registry;
    auto iso = registry.Register({"USD", 3});
    ASSERT_FALSE(iso.ok());
    EXPECT_EQ(iso.error(), RegisterCurrencyError::kConflictsWithExisting);
    EXPECT_EQ(registry.Find("USD"), (Currency{"USD", 2}));

    ASSERT_TRUE(registry.Register({"USDC", 6}).ok());
    auto custom = registry.Register({"USDC", 2});
    ASSERT_FALSE(custom.ok());
    EXPECT_EQ(custom.error(), RegisterCurrencyError::kConflictsWithExisting);
    EXPECT_EQ(registry.Find("USDC"), (Currency{"USDC", 6}));
}

TEST(CurrencyRegistry, RejectsInvalidCode) {
    CurrencyRegistry registry;
    for (const char* code : {"", "US", "usdc", "1ABC", "ABCDEFGHIJKLM", "US-C"}) {
        auto result = registry.Register({code, 2});
        ASSERT_FALSE(result.ok()) << code;
        EXPECT_EQ(result.error(), RegisterCurrencyError::kInvalidCode) << code;
        EXPECT_EQ(registry.Find(code), std::nullopt) << code;
    }
}

TEST(CurrencyRegistry, RejectsExponentOutsideZeroToMax) {
    CurrencyRegistry registry;
    auto negative = registry.Register({"NEG", -1});
    ASSERT_FALSE(negative.ok());
    EXPECT_EQ(negative.error(), RegisterCurrencyError::kInvalidExponent);
    auto too_large = registry.Register({"BIG", kCurrencyExponentMax + 1});
    ASSERT_FALSE(too_large.ok());
    EXPECT_EQ(too_large.error(), RegisterCurrencyError::kInvalidExponent);
    EXPECT_EQ(registry.Find("NEG"), std::nullopt);
    EXPECT_EQ(registry.Find("BIG"), std::nullopt);
}

TEST(CurrencyRegistry, AcceptsExponentBounds) {
    CurrencyRegistry registry;
    EXPECT_TRUE(registry.Register({"ZERO", 0}).ok());
    EXPECT_TRUE(registry.Register({"WEI", kCurrencyExponentMax}).ok());
    EXPECT_EQ(registry.Find("WEI"), (Currency{"WEI", kCurrencyExponentMax}));
}

// ---- Money ----

TEST(MoneyAdd, AddsSameCurrency) {
    auto sum = Add({1250, "USD"}, {-250, "USD"});
    ASSERT_TRUE(sum.ok());
    EXPECT_EQ(sum.value(), (Money{1000, "USD"}));
    auto zero = Add({0, "JPY"}, {0, "JPY"});
    ASSERT_TRUE(zero.ok());
    EXPECT_EQ(zero.value(), (Money{0, "JPY"}));
}

TEST(MoneyAdd, RejectsCurrencyMismatch) {
    auto sum = Add({1, "USD"}, {1, "EUR"});
    ASSERT_FALSE(sum.ok());
    EXPECT_EQ(sum.error(), MoneyError::kCurrencyMismatch);
}

TEST(MoneyAdd, RejectsOverflow) {
    auto sum = Add({kMax, "USD"}, {1, "USD"});
    ASSERT_FALSE(sum.ok());
    EXPECT_EQ(sum.error(), MoneyError::kOverflow);
    auto low = Add({kMin, "USD"}, {-1, "USD"});
    ASSERT_FALSE(low.ok());
    EXPECT_EQ(low.error(), MoneyError::kOverflow);
}

TEST(MoneySubtract, SubtractsSameCurrency) {
    auto difference = Subtract({1000, "USD"}, {1250, "USD"});
    ASSERT_TRUE(difference.ok());
    EXPECT_EQ(difference.value(), (Money{-250, "USD"}));
}

TEST(MoneySubtract, RejectsCurrencyMismatch) {
    auto difference = Subtract({1, "USD"}, {1, "usd"});
    ASSERT_FALSE(difference.ok());
    EXPECT_EQ(difference.error(), MoneyError::kCurrencyMismatch);
}

TEST(MoneySubtract, RejectsOverflow) {
    auto difference = Subtract({kMin, "USD"}, {1, "USD"});
    ASSERT_FALSE(difference.ok());
    EXPECT_EQ(difference.error(), MoneyError::kOverflow);
    auto negated = Subtract({0, "USD"}, {kMin, "USD"});
    ASSERT_FALSE(negated.ok());
    EXPECT_EQ(negated.error(), MoneyError::kOverflow);
}

// ---- FormatMinor ----

TEST(FormatMinor, FormatsWithExponentDigits) {
    EXPECT_EQ(FormatMinor(1250, 2), "12.50");
    EXPECT_EQ(FormatMinor(-5, 3), "-0.005");
    EXPECT_EQ(FormatMinor(5, 2), "0.05");
    EXPECT_EQ(FormatMinor(100, 2), "1.00");
    EXPECT_EQ(FormatMinor(-100, 2), "-1.00");
    EXPECT_EQ(FormatMinor(1, 18), "0.000000000000000001");
}

TEST(FormatMinor, FormatsZero) {
    EXPECT_EQ(FormatMinor(0, 0), "0");
    EXPECT_EQ(FormatMinor(0, 2), "0.00");
    EXPECT_EQ(FormatMinor(0, 18), "0.000000000000000000");
}

TEST(FormatMinor, FormatsExponentZeroWithoutPoint) {
    EXPECT_EQ(FormatMinor(1, 0), "1");
    EXPECT_EQ(FormatMinor(-1, 0), "-1");
    EXPECT_EQ(FormatMinor(123456, 0), "123456");
}

TEST(FormatMinor, FormatsInt64Extremes) {
    EXPECT_EQ(FormatMinor(kMax, 0), "9223372036854775807");
    EXPECT_EQ(FormatMinor(kMin, 0), "-9223372036854775808");
    EXPECT_EQ(FormatMinor(kMax, 2), "92233720368547758.07");
    EXPECT_EQ(FormatMinor(kMin, 2), "-92233720368547758.08");
    EXPECT_EQ(FormatMinor(kMax, 18), "9.223372036854775807");
    EXPECT_EQ(FormatMinor(kMin, 18), "-9.223372036854775808");
}

// ---- ParseDecimal ----

TEST(ParseDecimal, ParsesWholeAndFractionalAmounts) {
    EXPECT_EQ(ParseDecimal("12.50", 2), 1250);
    EXPECT_EQ(ParseDecimal("12.5", 2), 1250);
    EXPECT_EQ(ParseDecimal("12", 2), 1200);
    EXPECT_EQ(ParseDecimal("-0.005", 3), -5);
    EXPECT_EQ(ParseDecimal("0.05", 2), 5);
    EXPECT_EQ(ParseDecimal("1", 0), 1);
    EXPECT_EQ(ParseDecimal("0.000000000000000001", 18), 1);
    EXPECT_EQ(ParseDecimal("007.10", 2), 710);
}

TEST(ParseDecimal, ParsesZero) {
    EXPECT_EQ(ParseDecimal("0", 0), 0);
    EXPECT_EQ(ParseDecimal("0", 2), 0);
    EXPECT_EQ(ParseDecimal("0.00", 2), 0);
    EXPECT_EQ(ParseDecimal("-0", 2), 0);
    EXPECT_EQ(ParseDecimal("-0.0", 2), 0);
}

TEST(ParseDecimal, RejectsMoreFractionDigitsThanExponent) {
    EXPECT_EQ(ParseDecimal("12.345", 2), std::nullopt);
    EXPECT_EQ(ParseDecimal("1.0", 0), std::nullopt);
    EXPECT_EQ(ParseDecimal("0.0000000000000000001", 18), std::nullopt);
}

TEST(ParseDecimal, RejectsMalformedText) {
    for (const char* text : {"", "-", ".", "-.", ".5", "-.5", "5.", "1.2.3", "+1", " 1", "1 ",
                             "1,00", "1e3", "abc", "--1", "1-", "0x10", "\xd9\xa1"}) {
        EXPECT_EQ(ParseDecimal(text, 2), std::nullopt) << '"' << text << '"';
    }
}

TEST(ParseDecimal, RejectsExponentOutsideZeroToMax) {
    EXPECT_EQ(ParseDecimal("1", -1), std::nullopt);
    EXPECT_EQ(ParseDecimal("1", kCurrencyExponentMax + 1), std::nullopt);
    EXPECT_EQ(ParseDecimal("0", kCurrencyExponentMax), 0);
}

TEST(ParseDecimal, ParsesInt64Extremes) {
    EXPECT_EQ(ParseDecimal("9223372036854775807", 0), kMax);
    EXPECT_EQ(ParseDecimal("-9223372036854775808", 0), kMin);
    EXPECT_EQ(ParseDecimal("92233720368547758.07", 2), kMax);
    EXPECT_EQ(ParseDecimal("-92233720368547758.08", 2), kMin);
    EXPECT_EQ(ParseDecimal("9.223372036854775807", 18), kMax);
    EXPECT_EQ(ParseDecimal("-9.223372036854775808", 18), kMin);
}

TEST(ParseDecimal, RejectsOverflow) {
    EXPECT_EQ(ParseDecimal("9223372036854775808", 0), std::nullopt);
    EXPECT_EQ(ParseDecimal("-9223372036854775809", 0), std::nullopt);
    EXPECT_EQ(ParseDecimal("92233720368547758.08", 2), std::nullopt);
    EXPECT_EQ(ParseDecimal("9.223372036854775808", 18), std::nullopt);
    EXPECT_EQ(ParseDecimal("-9.223372036854775809", 18), std::nullopt);
    EXPECT_EQ(ParseDecimal("10", 18), std::nullopt);
    EXPECT_EQ(ParseDecimal("99999999999999999999999999999", 0), std::nullopt);
    // The overflow comes from scaling the whole part by the exponent, not from the digits.
    EXPECT_EQ(ParseDecimal("92233720368547759", 2), std::nullopt);
}

TEST(ParseDecimal, AcceptsLeadingZerosBeyondInt64Digits) {
    EXPECT_EQ(ParseDecimal("00000000000000000000000000001", 0), 1);
    EXPECT_EQ(ParseDecimal("-00000000000000000000000009223372036854775808", 0), kMin);
}

TEST(FormatMinorParseDecimal, RoundTripRandomAmountsAndExponents) {
    const std::uint64_t seed = TestSeed();
    SCOPED_TRACE("PAYMENTS_TEST_SEED=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> exponents(0, kCurrencyExponentMax);
    for (int i = 0; i < 10'000; ++i) {
        const std::int64_t amount = RandomInt64(rng);
        const int exponent = exponents(rng);
        const std::string text = FormatMinor(amount, exponent);
        ASSERT_EQ(ParseDecimal(text, exponent), amount) << text << " exponent " << exponent;

        // Shape: optional '-', at least one whole digit, and exactly `exponent` fraction digits.
        std::string_view digits = text;
        ASSERT_EQ(amount < 0, !digits.empty() && digits.front() == '-') << text;
        if (amount < 0) digits.remove_prefix(1);
        auto dot = digits.find('.');
        if (exponent == 0) {
            ASSERT_EQ(dot, std::string_view::npos) << text;
        } else {
            ASSERT_NE(dot, std::string_view::npos) << text;
            ASSERT_GE(dot, 1u) << text;
            ASSERT_EQ(digits.size() - dot - 1, static_cast<std::size_t>(exponent)) << text;
        }
        // No superfluous leading zeros in the whole part.
        ASSERT_FALSE(digits.size() > 1 && digits[0] == '0' && digits[1] != '.') << text;
    }
}

}  // namespace
}  // namespace commons
