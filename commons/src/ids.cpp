#include "commons/ids.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "commons/assert.hpp"

namespace commons {
namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t kEncodedLength = 26;

void FillRandom(std::uint8_t* out, std::size_t size) {
    if (RAND_bytes(out, static_cast<int>(size)) != 1) {
        throw std::runtime_error("OpenSSL RAND_bytes failed");
    }
}

// `prefix`, '_', then the 128 bits as 26 base32 digits, most significant first (the top digit
// holds 3 bits).
std::string Encode(std::string_view prefix, const std::array<std::uint8_t, 16>& bytes) {
    std::string out;
    out.reserve(prefix.size() + 1 + kEncodedLength);
    out.append(prefix);
    out.push_back('_');
    for (std::size_t digit = 0; digit < kEncodedLength; ++digit) {
        std::size_t bit = digit == 0 ? 0 : 3 + (digit - 1) * 5;
        std::size_t width = digit == 0 ? 3 : 5;
        unsigned value = 0;
        for (std::size_t b = 0; b < width; ++b) {
            std::size_t pos = bit + b;
            value = (value << 1) | ((bytes[pos / 8] >> (7 - pos % 8)) & 1u);
        }
        out.push_back(kCrockford[value]);
    }
    return out;
}

std::uint64_t SystemMillis() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace

IdGenerator::IdGenerator(MillisClock now_ms)
    : now_ms_(now_ms ? std::move(now_ms) : MillisClock(SystemMillis)) {}

std::string IdGenerator::Next(std::string_view prefix) {
    PAY_ASSERT(!prefix.empty() && prefix.size() <= 8);
    std::array<std::uint8_t, 16> bytes{};
    {
        std::lock_guard lock(mutex_);
        std::uint64_t now = now_ms_();
        if (has_last_ && now <= last_ms_) {
            // Same millisecond (or a clock step back): keep the time and increment the random
            // part so ids from this generator stay strictly increasing.
            now = last_ms_;
            int i = static_cast<int>(last_random_.size()) - 1;
            while (i >= 0 && ++last_random_[static_cast<std::size_t>(i)] == 0) --i;
            if (i < 0) throw std::runtime_error("id space of one millisecond exhausted");
        } else {
            FillRandom(last_random_.data(), last_random_.size());
            // Leave headroom so increments within one millisecond cannot wrap.
            last_random_[0] &= 0x7f;
            last_ms_ = now;
            has_last_ = true;
        }
        for (int i = 0; i < 6; ++i) {
            bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(now >> (40 - 8 * i));
        }
        std::copy(last_random_.begin(), last_random_.end(), bytes.begin() + 6);
    }
    return Encode(prefix, bytes);
}

std::string IdTimeBoundary(std::string_view prefix, std::uint64_t unix_ms) {
    PAY_ASSERT(!prefix.empty() && prefix.size() <= 8);
    std::array<std::uint8_t, 16> bytes{};
    for (int i = 0; i < 6; ++i) {
        bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(unix_ms >> (40 - 8 * i));
    }
    return Encode(prefix, bytes);
}

bool IsGeneratedId(std::string_view id, std::string_view prefix) {
    if (id.size() != prefix.size() + 1 + kEncodedLength) return false;
    if (id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_') return false;
    auto body = id.substr(prefix.size() + 1);
    if (body[0] > '7') return false;
    return std::all_of(body.begin(), body.end(),
                       [](char c) { return kCrockford.find(c) != std::string_view::npos; });
}

std::string RandomHex(std::size_t bytes) {
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string raw(bytes, '\0');
    FillRandom(reinterpret_cast<std::uint8_t*>(raw.data()), bytes);
    std::string out;
    out.reserve(bytes * 2);
    for (unsigned char c : raw) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
    return out;
}

}  // namespace commons
