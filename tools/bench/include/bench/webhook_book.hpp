#pragma once

// Bookkeeping of `bench webhook`: which events were published when, and when each delivery of
// them first arrived at the receiver. Pure: the caller supplies every time, so tests need no
// clock and no server.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/histogram.hpp"

namespace bench {

// Microseconds on one steady clock, from an origin the caller picks (the receiver's start);
// never negative.
using Micros = std::int64_t;

enum class ArrivalKind {
    kFirst,       // the first arrival of this event at this endpoint
    kDuplicate,   // the event arrived at this endpoint before
    kUnexpected,  // not an event this book expects (never published, retracted, out of range)
};

// What the payload of a bench event carries, read from a delivery's body.
struct BenchPayload {
    enum class Kind { kLoad, kPrime };
    Kind kind = Kind::kLoad;
    std::uint64_t number = 0;  // the load event's sequence number, or the priming round
};

// The data object of a load event: {"bench_seq":<seq>,"published_at_us":<unix us>,"run":"<run>"}.
// Precondition: `run` needs no JSON escaping (bench makes it of [a-z0-9]).
std::string BenchEventData(std::uint64_t seq, std::int64_t published_at_unix_us,
                           std::string_view run);
// The data object of the priming event of round `round`: {"bench_prime":<round>,"run":"<run>"}.
std::string BenchPrimeData(std::uint64_t round, std::string_view run);

// Finds `"key"` followed by optional whitespace, ':', optional whitespace and an unsigned
// decimal number in the JSON text `json`; nullopt when absent or not such a number. Only for
// the flat objects bench publishes: it does not parse JSON, so a key inside a string value
// would also be found.
std::optional<std::uint64_t> FindUnsignedField(std::string_view json, std::string_view key);

// Which bench event a delivery body (the envelope) is: "bench_seq" makes it a load event,
// "bench_prime" a priming event; nullopt for anything else.
std::optional<BenchPayload> ParseBenchPayload(std::string_view body);

// Events 0 .. capacity-1, each expected once at every one of `endpoints` endpoints after it is
// published. Not thread-safe: the receiver guards it with a mutex.
class DeliveryBook {
  public:
    // Preconditions: endpoints >= 1; capacity * endpoints fits in memory (the caller bounds it).
    DeliveryBook(std::uint32_t endpoints, std::uint64_t capacity);

    // Event `seq` is being published at `at_us`; from now on it is expected at every endpoint.
    // Record it before sending, so a delivery can never arrive before its publish is known.
    // Precondition: seq < capacity() and not published before.
    void Published(std::uint64_t seq, Micros at_us);

    // Publishing `seq` failed for certain (the server refused it): it is no longer expected,
    // and arrivals of it, before or after, count as unexpected. Precondition: published.
    void Retract(std::uint64_t seq);

    // A delivery of event `seq` (carrying `event_id` in its webhook-id header) arrived at
    // endpoint `endpoint` at `at_us`. An endpoint index out of range is unexpected. The first
    // arrival's event id is remembered per event: a later arrival of the same seq under
    // another id (the service made two events of one publish) is counted in
    // mismatched_event_ids() besides being a first or a duplicate at its endpoint.
    ArrivalKind Arrive(std::uint32_t endpoint, std::uint64_t seq, std::string_view event_id,
                       Micros at_us);

    std::uint32_t endpoints() const { return endpoints_; }
    std::uint64_t capacity() const { return capacity_; }
    std::uint64_t events_published() const { return events_published_; }
    // Deliveries due: published (not retracted) events × endpoints.
    std::uint64_t expected() const { return events_published_ * endpoints_; }
    // Distinct (event, endpoint) pairs of expected events that arrived.
    std::uint64_t received() const { return received_; }
    std::uint64_t missing() const { return expected() - received_; }
    bool complete() const { return received_ == expected(); }
    // Arrivals after the first of the same event at the same endpoint.
    std::uint64_t duplicates() const { return duplicates_; }
    std::uint64_t mismatched_event_ids() const { return mismatched_event_ids_; }
    // Arrivals of events never published or retracted, or at an unknown endpoint.
    std::uint64_t unexpected() const;

    // Extremes of what was recorded; nullopt before the first publish or arrival. The last
    // arrival is the latest first arrival of an expected delivery.
    std::optional<Micros> first_publish_us() const;
    std::optional<Micros> last_publish_us() const;
    std::optional<Micros> last_arrival_us() const;

    // For every expected delivery that arrived: its first arrival minus its event's publish
    // (0 when the clock says earlier).
    LatencyHistogram Latencies() const;

  private:
    static constexpr Micros kNone = -1;
    static constexpr std::uint64_t kNoId = 0;

    std::uint32_t endpoints_;
    std::uint64_t capacity_;
    std::vector<Micros> published_us_;    // per event; kNone unless expected
    std::vector<std::uint64_t> id_hash_;  // per event; the first arrival's webhook-id
    std::vector<Micros> arrived_us_;      // per (event, endpoint); kNone until it arrives
    std::uint64_t events_published_ = 0;
    std::uint64_t received_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t mismatched_event_ids_ = 0;
    std::uint64_t unexpected_arrivals_ = 0;  // outside the book, or of events never published
    Micros first_publish_us_ = kNone;
    Micros last_publish_us_ = kNone;
};

}  // namespace bench
