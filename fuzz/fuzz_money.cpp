// Money (commons/money.hpp). The first byte picks an exponent (0 to 18); the rest is text.
//   - ParseDecimal agrees with a reference parser (128-bit arithmetic) on which text it accepts
//     (-?digits(.digits)?, at most `exponent` fraction digits, within int64) and on the value.
//   - FormatMinor of what it accepted is the canonical form of the text (no leading zeros, the
//     fraction padded to the exponent, no "-0"), and parses back to the same value.
//   - FormatMinor of any int64 parses back to it, for every exponent.
//   - CheckedAdd/Sub/Mul agree with 128-bit arithmetic; IsValidCurrencyCode with its definition.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "commons/money.hpp"

namespace {

__extension__ using Wide = __int128;

constexpr Wide kInt64Min = std::numeric_limits<std::int64_t>::min();
constexpr Wide kInt64Max = std::numeric_limits<std::int64_t>::max();

bool IsDigits(std::string_view text) {
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

// The value of `text` in minor units, or nullopt; written from the contract, not the code.
std::optional<std::int64_t> ReferenceParse(std::string_view text, int exponent) {
    bool negative = false;
    if (!text.empty() && text.front() == '-') {
        negative = true;
        text.remove_prefix(1);
    }
    const auto dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
    if (whole.empty() || !IsDigits(whole) || !IsDigits(fraction)) return std::nullopt;
    if (dot != std::string_view::npos && fraction.empty()) return std::nullopt;
    if (fraction.size() > static_cast<std::size_t>(exponent)) return std::nullopt;
    Wide value = 0;
    for (char c : whole) {
        value = value * 10 + (c - '0');
        if (value > kInt64Max + 1) return std::nullopt;  // stays far inside 128 bits
    }
    for (int i = 0; i < exponent; ++i) {
        const std::size_t at = static_cast<std::size_t>(i);
        value = value * 10 + (at < fraction.size() ? fraction[at] - '0' : 0);
        if (value > kInt64Max + 1) return std::nullopt;
    }
    if (negative) value = -value;
    if (value < kInt64Min || value > kInt64Max) return std::nullopt;
    return static_cast<std::int64_t>(value);
}

// The text FormatMinor should give for accepted `text`.
std::string Canonical(std::string_view text, int exponent, std::int64_t value) {
    if (!text.empty() && text.front() == '-') text.remove_prefix(1);
    const auto dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    const std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
    while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
    std::string out = value < 0 ? "-" : "";
    out += whole;
    if (exponent > 0) {
        out += '.';
        out += fraction;
        out.append(static_cast<std::size_t>(exponent) - fraction.size(), '0');
    }
    return out;
}

bool ReferenceCurrencyCode(std::string_view code) {
    if (code.size() < 3 || code.size() > 12 || code[0] < 'A' || code[0] > 'Z') return false;
    for (char c : code) {
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
}

std::int64_t Int64At(const std::uint8_t* data, std::size_t size, std::size_t offset) {
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < 8 && offset + i < size; ++i) {
        bits |= std::uint64_t{data[offset + i]} << (8 * i);
    }
    std::int64_t value = 0;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

void CheckArithmetic(std::int64_t a, std::int64_t b) {
    auto agrees = [](std::optional<std::int64_t> got, Wide want) {
        const bool fits = want >= kInt64Min && want <= kInt64Max;
        return got ? fits && *got == want : !fits;
    };
    FUZZ_CHECK(agrees(commons::CheckedAdd(a, b), Wide{a} + b));
    FUZZ_CHECK(agrees(commons::CheckedSub(a, b), Wide{a} - b));
    FUZZ_CHECK(agrees(commons::CheckedMul(a, b), Wide{a} * b));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const int exponent = data[0] % (commons::kCurrencyExponentMax + 1);
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    const auto parsed = commons::ParseDecimal(text, exponent);
    const auto expected = ReferenceParse(text, exponent);
    FUZZ_CHECK_WITH(parsed.has_value() == expected.has_value(), text);
    if (parsed) {
        FUZZ_CHECK_WITH(*parsed == *expected, text);
        const std::string formatted = commons::FormatMinor(*parsed, exponent);
        FUZZ_CHECK_WITH(formatted == Canonical(text, exponent, *parsed), text);
        FUZZ_CHECK(commons::ParseDecimal(formatted, exponent) == parsed);
    }

    // The same bytes as amounts.
    const std::int64_t a = Int64At(data, size, 1);
    const std::int64_t b = Int64At(data, size, 9);
    for (int e = 0; e <= commons::kCurrencyExponentMax; ++e) {
        FUZZ_CHECK(commons::ParseDecimal(commons::FormatMinor(a, e), e) == a);
    }
    CheckArithmetic(a, b);

    FUZZ_CHECK(commons::IsValidCurrencyCode(text) == ReferenceCurrencyCode(text));
    return 0;
}
