#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "commons/result.hpp"

namespace commons {

// Overflow-checked arithmetic on minor units. nullopt means the result does not fit in int64.
std::optional<std::int64_t> CheckedAdd(std::int64_t a, std::int64_t b);
std::optional<std::int64_t> CheckedSub(std::int64_t a, std::int64_t b);
std::optional<std::int64_t> CheckedMul(std::int64_t a, std::int64_t b);

// Largest exponent a currency may have: 10^18 is the largest power of ten in int64.
inline constexpr int kCurrencyExponentMax = 18;

struct Currency {
    std::string code;  // upper-case, e.g. "USD", "USDC"
    int exponent = 2;  // digits after the decimal point: JPY 0, USD 2, KWD 3

    bool operator==(const Currency&) const = default;
};

// True for 3 to 12 characters of A-Z and 0-9 starting with a letter (ISO codes and custom ones
// such as "USDC").
bool IsValidCurrencyCode(std::string_view code);

// The ISO 4217 currencies in circulation, with their exponents, sorted by code.
const std::vector<Currency>& IsoCurrencies();

enum class RegisterCurrencyError {
    kInvalidCode,
    kInvalidExponent,
    kConflictsWithExisting,  // the code exists with another exponent
};

// The currencies a service knows: the ISO table plus registered custom currencies.
// Thread-safe; lookups take a shared lock.
class CurrencyRegistry {
  public:
    CurrencyRegistry();

    std::optional<Currency> Find(std::string_view code) const;
    std::vector<Currency> All() const;

    // Registers a custom currency. Registering an identical one again succeeds (idempotent);
    // returns the registered currency.
    Result<Currency, RegisterCurrencyError> Register(Currency currency);

  private:
    mutable std::shared_mutex mutex_;
    std::map<std::string, Currency, std::less<>> currencies_;
};

// An amount in minor units of one currency.
struct Money {
    std::int64_t amount_minor = 0;
    std::string currency;

    bool operator==(const Money&) const = default;
};

enum class MoneyError { kCurrencyMismatch, kOverflow };

Result<Money, MoneyError> Add(const Money& a, const Money& b);
Result<Money, MoneyError> Subtract(const Money& a, const Money& b);

// Formats minor units as a decimal string: (1250, 2) -> "12.50", (-5, 3) -> "-0.005".
// Precondition: 0 <= exponent <= kCurrencyExponentMax.
std::string FormatMinor(std::int64_t amount_minor, int exponent);

// Parses a decimal string such as "12.5" or "-0.005" into minor units for the exponent.
// nullopt for malformed text, more fractional digits than the exponent allows, or overflow.
std::optional<std::int64_t> ParseDecimal(std::string_view text, int exponent);

}  // namespace commons
