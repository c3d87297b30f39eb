#include "bench/webhook_book.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <string>

#include "commons/assert.hpp"

namespace bench {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::string BenchEventData(std::uint64_t seq, std::int64_t published_at_unix_us,
                           std::string_view run) {
    return R"({"bench_seq":)" + std::to_string(seq) + R"(,"published_at_us":)" +
           std::to_string(published_at_unix_us) + R"(,"run":")" + std::string(run) + R"("})";
}

std::string BenchPrimeData(std::uint64_t round, std::string_view run) {
    return R"({"bench_prime":)" + std::to_string(round) + R"(,"run":")" + std::string(run) +
           R"("})";
}

std::optional<std::uint64_t> FindUnsignedField(std::string_view json, std::string_view key) {
    const std::string quoted = "\"" + std::string(key) + "\"";
    for (std::size_t at = json.find(quoted); at != std::string_view::npos;
         at = json.find(quoted, at + 1)) {
        std::size_t i = at + quoted.size();
        while (i < json.size() && IsJsonSpace(json[i])) ++i;
        if (i >= json.size() || json[i] != ':') continue;  // the key text was a value
        ++i;
        while (i < json.size() && IsJsonSpace(json[i])) ++i;
        std::uint64_t value = 0;
        const char* begin = json.data() + i;
        const char* end = json.data() + json.size();
        auto [stop, error] = std::from_chars(begin, end, value);
        if (error != std::errc() || stop == begin) return std::nullopt;
        // A fraction or an exponent makes it another number than the digits read.
        if (stop != end && (*stop == '.' || *stop == 'e' || *stop == 'E')) return std::nullopt;
        return value;
    }
    return std::nullopt;
}

std::optional<BenchPayload> ParseBenchPayload(std::string_view body) {
    if (auto seq = FindUnsignedField(body, "bench_seq")) {
        return BenchPayload{BenchPayload::Kind::kLoad, *seq};
    }
    if (auto round = FindUnsignedField(body, "bench_prime")) {
        return BenchPayload{BenchPayload::Kind::kPrime, *round};
    }
    return std::nullopt;
}

DeliveryBook::DeliveryBook(std::uint32_t endpoints, std::uint64_t capacity)
    : endpoints_(endpoints),
      capacity_(capacity),
      published_us_(capacity, kNone),
      id_hash_(capacity, kNoId),
      arrived_us_(capacity * endpoints, kNone) {
    PAY_ASSERT(endpoints >= 1);
}

void DeliveryBook::Published(std::uint64_t seq, Micros at_us) {
    PAY_ASSERT(seq < capacity_);
    PAY_ASSERT(published_us_[seq] == kNone);
    PAY_ASSERT(at_us >= 0);
    published_us_[seq] = at_us;
    ++events_published_;
    if (first_publish_us_ == kNone || at_us < first_publish_us_) first_publish_us_ = at_us;
    last_publish_us_ = std::max(last_publish_us_, at_us);
}

void DeliveryBook::Retract(std::uint64_t seq) {
    PAY_ASSERT(seq < capacity_);
    PAY_ASSERT(published_us_[seq] != kNone);
    published_us_[seq] = kNone;
    --events_published_;
    for (std::uint32_t endpoint = 0; endpoint < endpoints_; ++endpoint) {
        Micros& arrived = arrived_us_[seq * endpoints_ + endpoint];
        if (arrived == kNone) continue;
        arrived = kNone;
        --received_;
        ++unexpected_arrivals_;
    }
}

ArrivalKind DeliveryBook::Arrive(std::uint32_t endpoint, std::uint64_t seq,
                                 std::string_view event_id, Micros at_us) {
    PAY_ASSERT(at_us >= 0);
    if (endpoint >= endpoints_ || seq >= capacity_ || published_us_[seq] == kNone) {
        ++unexpected_arrivals_;
        return ArrivalKind::kUnexpected;
    }
    std::uint64_t hash = std::hash<std::string_view>{}(event_id);
    if (hash == kNoId) hash = 1;
    if (id_hash_[seq] == kNoId) {
        id_hash_[seq] = hash;
    } else if (id_hash_[seq] != hash) {
        ++mismatched_event_ids_;
    }
    Micros& arrived = arrived_us_[seq * endpoints_ + endpoint];
    if (arrived != kNone) {
        ++duplicates_;
        return ArrivalKind::kDuplicate;
    }
    arrived = at_us;
    ++received_;
    return ArrivalKind::kFirst;
}

std::uint64_t DeliveryBook::unexpected() const { return unexpected_arrivals_; }

std::optional<Micros> DeliveryBook::first_publish_us() const {
    if (first_publish_us_ == kNone) return std::nullopt;
    return first_publish_us_;
}

std::optional<Micros> DeliveryBook::last_publish_us() const {
    if (last_publish_us_ == kNone) return std::nullopt;
    return last_publish_us_;
}

std::optional<Micros> DeliveryBook::last_arrival_us() const {
    Micros last = kNone;
    for (Micros arrived : arrived_us_) last = std::max(last, arrived);
    if (last == kNone) return std::nullopt;
    return last;
}

LatencyHistogram DeliveryBook::Latencies() const {
    LatencyHistogram latencies;
    for (std::uint64_t seq = 0; seq < capacity_; ++seq) {
        const Micros published = published_us_[seq];
        if (published == kNone) continue;
        for (std::uint32_t endpoint = 0; endpoint < endpoints_; ++endpoint) {
            const Micros arrived = arrived_us_[seq * endpoints_ + endpoint];
            if (arrived == kNone) continue;
            latencies.RecordMicros(
                static_cast<std::uint64_t>(std::max<Micros>(arrived - published, 0)));
        }
    }
    return latencies;
}

}  // namespace bench
