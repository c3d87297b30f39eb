#include "bench/template.hpp"

#include <charconv>
#include <random>

#include "commons/assert.hpp"

namespace bench {
namespace {

constexpr std::string_view kOpen = "{{";
constexpr std::string_view kClose = "}}";
constexpr std::string_view kPlaceholderList = "{{seq}}, {{unique}}, {{uuid}} or {{rand:A:B}}";
// Keeps the {{rand}} draws of one template apart from the uuid and from other templates.
constexpr std::uint64_t kRandDomain = 0x52414e44'00000000ULL;

std::string AtOffset(std::size_t offset) { return " at offset " + std::to_string(offset); }

bool ParseInt64(std::string_view text, std::int64_t& value) {
    if (text.empty()) return false;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    auto [stop, error] = std::from_chars(begin, end, value);
    return error == std::errc() && stop == end;
}

void AppendDecimal(std::uint64_t value, std::string& out) {
    char digits[24];
    auto [stop, error] = std::to_chars(digits, digits + sizeof digits, value);
    PAY_ASSERT(error == std::errc());
    out.append(digits, stop);
}

void AppendDecimal(std::int64_t value, std::string& out) {
    char digits[24];
    auto [stop, error] = std::to_chars(digits, digits + sizeof digits, value);
    PAY_ASSERT(error == std::errc());
    out.append(digits, stop);
}

}  // namespace

std::uint64_t Mix64(std::uint64_t value) {
    value += 0x9e3779b97f4a7c15ULL;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
    return value ^ (value >> 31);
}

std::int64_t UniformInt(std::uint64_t key, std::int64_t low, std::int64_t high) {
    PAY_ASSERT(low <= high);
    // Unsigned arithmetic wraps, which is exactly the width of [low, high] minus one.
    const std::uint64_t width_minus_one =
        static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
    std::uint64_t draw = Mix64(key);
    if (width_minus_one != UINT64_MAX) {
        const std::uint64_t width = width_minus_one + 1;
        // Values below `threshold` would make the low remainders more likely; draw again.
        // At most half of all values are rejected, so this ends after a few rounds.
        const std::uint64_t threshold = (0 - width) % width;
        for (std::uint64_t round = 1; draw < threshold; ++round) draw = Mix64(key + round);
        draw %= width;
    }
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(low) + draw);
}

std::string FormatUuidV4(std::uint64_t high, std::uint64_t low) {
    high = (high & ~0xf000ULL) | 0x4000ULL;            // version 4
    low = (low & ~(0xc0ULL << 56)) | (0x80ULL << 56);  // variant 10
    constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    auto append = [&](std::uint64_t word, int nibbles_from, int nibbles_to) {
        for (int i = nibbles_from; i < nibbles_to; ++i) {
            out.push_back(kHex[(word >> (60 - 4 * i)) & 0xf]);
        }
    };
    append(high, 0, 8);
    out.push_back('-');
    append(high, 8, 12);
    out.push_back('-');
    append(high, 12, 16);
    out.push_back('-');
    append(low, 0, 4);
    out.push_back('-');
    append(low, 4, 16);
    return out;
}

std::string UniquePrefixFromNonce(std::uint64_t nonce) {
    constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::uint64_t bits = Mix64(nonce);
    std::string prefix;
    prefix.reserve(kUniquePrefixLength);
    for (std::size_t i = 0; i < kUniquePrefixLength; ++i) {
        prefix.push_back(kAlphabet[bits % 36]);
        bits /= 36;
    }
    return prefix;
}

TemplateRun MakeTemplateRun(std::uint64_t seed) {
    std::random_device device;
    std::uint64_t nonce = (static_cast<std::uint64_t>(device()) << 32) ^ device();
    return TemplateRun{seed, nonce, UniquePrefixFromNonce(nonce)};
}

commons::Result<Template, std::string> Template::Parse(std::string_view text) {
    Template parsed;
    parsed.source_ = std::string(text);
    std::size_t position = 0;
    while (position < text.size()) {
        std::size_t open = text.find(kOpen, position);
        if (open == std::string_view::npos) open = text.size();
        if (open > position) {
            parsed.parts_.push_back(
                Part{Kind::kLiteral, std::string(text.substr(position, open - position)), 0, 0});
        }
        if (open == text.size()) break;
        std::size_t close = text.find(kClose, open + kOpen.size());
        if (close == std::string_view::npos) {
            return "unclosed \"{{\"" + AtOffset(open) + "; expected " +
                   std::string(kPlaceholderList);
        }
        std::string_view name = text.substr(open + kOpen.size(), close - open - kOpen.size());
        Part part;
        if (name == "seq") {
            part.kind = Kind::kSeq;
        } else if (name == "unique") {
            part.kind = Kind::kUnique;
        } else if (name == "uuid") {
            part.kind = Kind::kUuid;
        } else if (name.starts_with("rand:")) {
            std::string_view range = name.substr(5);
            std::size_t colon = range.find(':');
            if (colon == std::string_view::npos || !ParseInt64(range.substr(0, colon), part.low) ||
                !ParseInt64(range.substr(colon + 1), part.high)) {
                return "malformed {{" + std::string(name) + "}}" + AtOffset(open) +
                       "; expected {{rand:A:B}} with A and B signed 64-bit integers";
            }
            if (part.low > part.high) {
                return "empty range in {{" + std::string(name) + "}}" + AtOffset(open) +
                       ": A must not exceed B";
            }
            part.kind = Kind::kRand;
        } else {
            return "unknown placeholder {{" + std::string(name) + "}}" + AtOffset(open) +
                   "; expected " + std::string(kPlaceholderList);
        }
        parsed.parts_.push_back(std::move(part));
        parsed.has_placeholders_ = true;
        position = close + kClose.size();
    }
    return parsed;
}

void Template::ExpandTo(const TemplateRun& run, std::uint64_t seq, std::uint32_t stream,
                        std::string& out) const {
    std::uint64_t rand_occurrence = 0;
    for (const Part& part : parts_) {
        switch (part.kind) {
            case Kind::kLiteral:
                out += part.literal;
                break;
            case Kind::kSeq:
                AppendDecimal(seq, out);
                break;
            case Kind::kUnique:
                out += run.unique_prefix;
                AppendDecimal(seq, out);
                break;
            case Kind::kUuid: {
                // Mix64 is a bijection, so distinct sequence numbers give distinct high words.
                std::uint64_t base = Mix64(run.nonce);
                out += FormatUuidV4(Mix64(base ^ (2 * seq)), Mix64(base ^ (2 * seq + 1)));
                break;
            }
            case Kind::kRand: {
                std::uint64_t key =
                    Mix64(run.seed ^ Mix64(seq ^ Mix64(kRandDomain ^
                                                       (static_cast<std::uint64_t>(stream) << 20) ^
                                                       rand_occurrence)));
                ++rand_occurrence;
                AppendDecimal(UniformInt(key, part.low, part.high), out);
                break;
            }
        }
    }
}

std::string Template::Expand(const TemplateRun& run, std::uint64_t seq,
                             std::uint32_t stream) const {
    std::string out;
    ExpandTo(run, seq, stream, out);
    return out;
}

}  // namespace bench
