#include "commons/money.hpp"

#include <algorithm>
#include <mutex>

#include "commons/assert.hpp"

namespace commons {

std::optional<std::int64_t> CheckedAdd(std::int64_t a, std::int64_t b) {
    std::int64_t out = 0;
    if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
    return out;
}

std::optional<std::int64_t> CheckedSub(std::int64_t a, std::int64_t b) {
    std::int64_t out = 0;
    if (__builtin_sub_overflow(a, b, &out)) return std::nullopt;
    return out;
}

std::optional<std::int64_t> CheckedMul(std::int64_t a, std::int64_t b) {
    std::int64_t out = 0;
    if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
    return out;
}

bool IsValidCurrencyCode(std::string_view code) {
    if (code.size() < 3 || code.size() > 12) return false;
    if (code[0] < 'A' || code[0] > 'Z') return false;
    return std::all_of(code.begin(), code.end(),
                       [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

const std::vector<Currency>& IsoCurrencies() {
    // ISO 4217 list of currencies in circulation (amendment 176). Exponents other than 2 are
    // the ones payment processors get wrong most often: 0 for JPY, KRW, CLP, ..., 3 for the
    // dinars, 4 for the unidades de fomento.
    static const std::vector<Currency> kIso = [] {
        std::vector<Currency> list;
        const char* two =
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN "
            "BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN "
            "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
            "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
            "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
            "SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD "
            "TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL";
        const char* zero = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
        const char* three = "BHD IQD JOD KWD LYD OMR TND";
        const char* four = "CLF UYW";
        auto add = [&list](const char* codes, int exponent) {
            std::string_view rest(codes);
            while (!rest.empty()) {
                auto space = rest.find(' ');
                list.push_back({std::string(rest.substr(0, space)), exponent});
                rest = space == std::string_view::npos ? "" : rest.substr(space + 1);
            }
        };
        add(two, 2);
        add(zero, 0);
        add(three, 3);
        add(four, 4);
        std::sort(list.begin(), list.end(),
                  [](const Currency& a, const Currency& b) { return a.code < b.code; });
        return list;
    }();
    return kIso;
}

CurrencyRegistry::CurrencyRegistry() {
    for (const auto& currency : IsoCurrencies()) currencies_.emplace(currency.code, currency);
}

std::optional<Currency> CurrencyRegistry::Find(std::string_view code) const {
    std::shared_lock lock(mutex_);
    auto it = currencies_.find(code);
    if (it == currencies_.end()) return std::nullopt;
    return it->second;
}

std::vector<Currency> CurrencyRegistry::All() const {
    std::shared_lock lock(mutex_);
    std::vector<Currency> out;
    out.reserve(currencies_.size());
    for (const auto& [code, currency] : currencies_) out.push_back(currency);
    return out;
}

Result<Currency, RegisterCurrencyError> CurrencyRegistry::Register(Currency currency) {
    if (!IsValidCurrencyCode(currency.code)) return RegisterCurrencyError::kInvalidCode;
    if (currency.exponent < 0 || currency.exponent > kCurrencyExponentMax) {
        return RegisterCurrencyError::kInvalidExponent;
    }
    std::unique_lock lock(mutex_);
    auto [it, inserted] = currencies_.emplace(currency.code, currency);
    if (!inserted && it->second.exponent != currency.exponent) {
        return RegisterCurrencyError::kConflictsWithExisting;
    }
    return it->second;
}

Result<Money, MoneyError> Add(const Money& a, const Money& b) {
    if (a.currency != b.currency) return MoneyError::kCurrencyMismatch;
    auto sum = CheckedAdd(a.amount_minor, b.amount_minor);
    if (!sum) return MoneyError::kOverflow;
    return Money{*sum, a.currency};
}

Result<Money, MoneyError> Subtract(const Money& a, const Money& b) {
    if (a.currency != b.currency) return MoneyError::kCurrencyMismatch;
    auto difference = CheckedSub(a.amount_minor, b.amount_minor);
    if (!difference) return MoneyError::kOverflow;
    return Money{*difference, a.currency};
}

std::string FormatMinor(std::int64_t amount_minor, int exponent) {
    PAY_ASSERT(exponent >= 0 && exponent <= kCurrencyExponentMax);
    // Work on the magnitude as unsigned so INT64_MIN has a representable absolute value.
    const bool negative = amount_minor < 0;
    std::uint64_t magnitude = negative ? ~static_cast<std::uint64_t>(amount_minor) + 1
                                       : static_cast<std::uint64_t>(amount_minor);
    std::string digits = std::to_string(magnitude);
    if (exponent > 0) {
        if (digits.size() <= static_cast<std::size_t>(exponent)) {
            digits.insert(0, static_cast<std::size_t>(exponent) + 1 - digits.size(), '0');
        }
        digits.insert(digits.size() - static_cast<std::size_t>(exponent), 1, '.');
    }
    return negative ? "-" + digits : digits;
}

std::optional<std::int64_t> ParseDecimal(std::string_view text, int exponent) {
    if (exponent < 0 || exponent > kCurrencyExponentMax || text.empty()) return std::nullopt;
    bool negative = false;
    if (text.front() == '-') {
        negative = true;
        text.remove_prefix(1);
    }
    auto dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
    if (whole.empty() || (dot != std::string_view::npos && fraction.empty())) return std::nullopt;
    if (fraction.size() > static_cast<std::size_t>(exponent)) return std::nullopt;
    auto is_digits = [](std::string_view s) {
        return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!is_digits(whole) || !is_digits(fraction)) return std::nullopt;

    // Accumulate as a negative number: the negative range of int64 is one larger.
    std::int64_t value = 0;
    auto push_digit = [&value](char c) -> bool {
        auto shifted = CheckedMul(value, 10);
        if (!shifted) return false;
        auto next = CheckedSub(*shifted, c - '0');
        if (!next) return false;
        value = *next;
        return true;
    };
    for (char c : whole) {
        if (!push_digit(c)) return std::nullopt;
    }
    for (int i = 0; i < exponent; ++i) {
        char c = static_cast<std::size_t>(i) < fraction.size()
                     ? fraction[static_cast<std::size_t>(i)]
                     : '0';
        if (!push_digit(c)) return std::nullopt;
    }
    if (negative) return value;
    return CheckedMul(value, -1);
}

}  // namespace commons
