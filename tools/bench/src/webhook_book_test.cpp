#include "bench/webhook_book.hpp"

#include <gtest/gtest.h>

#include "commons/events.hpp"

namespace bench {
namespace {

TEST(FindUnsignedField, ReadsTheNumberAfterTheKey) {
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq":42})", "bench_seq"), 42u);
    EXPECT_EQ(FindUnsignedField("{\"bench_seq\" :\n 7 ,\"x\":1}", "bench_seq"), 7u);
    EXPECT_EQ(FindUnsignedField(R"({"a":1,"bench_seq":18446744073709551615})", "bench_seq"),
              18446744073709551615u);
}

TEST(FindUnsignedField, SkipsTheKeyWhereItIsAValue) {
    EXPECT_EQ(FindUnsignedField(R"({"run":"bench_seq","bench_seq":3})", "bench_seq"), 3u);
    EXPECT_EQ(FindUnsignedField(R"({"run":"bench_seq"})", "bench_seq"), std::nullopt);
}

TEST(FindUnsignedField, RefusesWhatIsNotAnUnsignedInteger) {
    EXPECT_EQ(FindUnsignedField(R"({"other":1})", "bench_seq"), std::nullopt);
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq":-1})", "bench_seq"), std::nullopt);
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq":"1"})", "bench_seq"), std::nullopt);
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq":1.5})", "bench_seq"), std::nullopt);
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq":1e3})", "bench_seq"), std::nullopt);
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq":99999999999999999999})", "bench_seq"),
              std::nullopt);
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq":)", "bench_seq"), std::nullopt);
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq")", "bench_seq"), std::nullopt);
    // A longer key that merely starts the same is another key.
    EXPECT_EQ(FindUnsignedField(R"({"bench_seq_x":5})", "bench_seq"), std::nullopt);
}

TEST(ParseBenchPayload, FindsTheEventInTheEnvelopeTheServiceSends) {
    commons::Event event;
    event.id = "evt_01HZZZZZZZZZZZZZZZZZZZZZZZ";
    event.type = "bench.r1.fanout1.created";
    event.source = "bench";
    event.created = 1'700'000'000;
    event.data_json = BenchEventData(12345, 1'700'000'000'123'456, "r1");
    const auto load = ParseBenchPayload(commons::FormatEnvelope(event));
    ASSERT_TRUE(load.has_value());
    EXPECT_EQ(load->kind, BenchPayload::Kind::kLoad);
    EXPECT_EQ(load->number, 12345u);

    event.data_json = BenchPrimeData(2, "r1");
    const auto prime = ParseBenchPayload(commons::FormatEnvelope(event));
    ASSERT_TRUE(prime.has_value());
    EXPECT_EQ(prime->kind, BenchPayload::Kind::kPrime);
    EXPECT_EQ(prime->number, 2u);

    event.data_json = R"({"amount":100})";
    EXPECT_FALSE(ParseBenchPayload(commons::FormatEnvelope(event)).has_value());
}

TEST(BenchEventData, CarriesTheSequenceThePublishTimeAndTheRun) {
    EXPECT_EQ(BenchEventData(3, 1700000000000001, "rab"),
              R"({"bench_seq":3,"published_at_us":1700000000000001,"run":"rab"})");
    EXPECT_EQ(BenchPrimeData(1, "rab"), R"({"bench_prime":1,"run":"rab"})");
}

TEST(DeliveryBook, ExpectsEveryPublishedEventOnceAtEveryEndpoint) {
    DeliveryBook book(2, 10);
    EXPECT_EQ(book.expected(), 0u);
    EXPECT_TRUE(book.complete());
    book.Published(0, 1'000);
    book.Published(1, 2'000);
    EXPECT_EQ(book.events_published(), 2u);
    EXPECT_EQ(book.expected(), 4u);
    EXPECT_FALSE(book.complete());

    EXPECT_EQ(book.Arrive(0, 0, "evt_a", 5'000), ArrivalKind::kFirst);
    EXPECT_EQ(book.Arrive(1, 0, "evt_a", 6'000), ArrivalKind::kFirst);
    EXPECT_EQ(book.Arrive(0, 1, "evt_b", 7'000), ArrivalKind::kFirst);
    EXPECT_EQ(book.received(), 3u);
    EXPECT_EQ(book.missing(), 1u);
    EXPECT_FALSE(book.complete());
    EXPECT_EQ(book.Arrive(1, 1, "evt_b", 9'000), ArrivalKind::kFirst);
    EXPECT_TRUE(book.complete());
    EXPECT_EQ(book.missing(), 0u);
    EXPECT_EQ(book.duplicates(), 0u);
    EXPECT_EQ(book.unexpected(), 0u);
}

TEST(DeliveryBook, CountsARepeatedArrivalAtTheSameEndpointAsADuplicate) {
    DeliveryBook book(2, 4);
    book.Published(0, 0);
    EXPECT_EQ(book.Arrive(0, 0, "evt_a", 10), ArrivalKind::kFirst);
    EXPECT_EQ(book.Arrive(0, 0, "evt_a", 20), ArrivalKind::kDuplicate);
    EXPECT_EQ(book.Arrive(0, 0, "evt_a", 30), ArrivalKind::kDuplicate);
    EXPECT_EQ(book.duplicates(), 2u);
    EXPECT_EQ(book.received(), 1u);
    // The retry does not move the first arrival: latency is to the first attempt.
    EXPECT_EQ(book.Latencies().max_micros(), 10u);
    EXPECT_EQ(book.last_arrival_us(), 10);
}

TEST(DeliveryBook, NotesASecondEventIdForOnePublish) {
    DeliveryBook book(2, 4);
    book.Published(0, 0);
    EXPECT_EQ(book.Arrive(0, 0, "evt_a", 10), ArrivalKind::kFirst);
    EXPECT_EQ(book.Arrive(1, 0, "evt_other", 10), ArrivalKind::kFirst);
    EXPECT_EQ(book.Arrive(0, 0, "evt_other", 10), ArrivalKind::kDuplicate);
    EXPECT_EQ(book.mismatched_event_ids(), 2u);
    EXPECT_EQ(book.duplicates(), 1u);
}

TEST(DeliveryBook, CountsArrivalsItDoesNotExpectAsUnexpected) {
    DeliveryBook book(2, 4);
    book.Published(0, 0);
    EXPECT_EQ(book.Arrive(0, 1, "evt_never_published", 10), ArrivalKind::kUnexpected);
    EXPECT_EQ(book.Arrive(0, 4, "evt_beyond_capacity", 10), ArrivalKind::kUnexpected);
    EXPECT_EQ(book.Arrive(2, 0, "evt_unknown_endpoint", 10), ArrivalKind::kUnexpected);
    EXPECT_EQ(book.unexpected(), 3u);
    EXPECT_EQ(book.received(), 0u);
    EXPECT_EQ(book.expected(), 2u);
}

TEST(DeliveryBook, ARetractedEventIsNoLongerExpected) {
    DeliveryBook book(2, 4);
    book.Published(0, 0);
    book.Published(1, 0);
    EXPECT_EQ(book.Arrive(0, 1, "evt_b", 10), ArrivalKind::kFirst);
    book.Retract(1);
    EXPECT_EQ(book.events_published(), 1u);
    EXPECT_EQ(book.expected(), 2u);
    EXPECT_EQ(book.received(), 0u);
    EXPECT_EQ(book.unexpected(), 1u);  // the arrival before the retraction
    EXPECT_EQ(book.Arrive(1, 1, "evt_b", 20), ArrivalKind::kUnexpected);
    EXPECT_EQ(book.unexpected(), 2u);
    EXPECT_EQ(book.Latencies().count(), 0u);
}

TEST(DeliveryBook, LatencyIsFirstArrivalMinusPublish) {
    DeliveryBook book(1, 100);
    for (std::uint64_t seq = 0; seq < 100; ++seq) {
        book.Published(seq, static_cast<Micros>(seq * 1'000));
        // Event seq takes (seq + 1) ms to arrive: 1 ms .. 100 ms.
        book.Arrive(0, seq, "evt_" + std::to_string(seq),
                    static_cast<Micros>(seq * 1'000 + (seq + 1) * 1'000));
    }
    const LatencyHistogram latencies = book.Latencies();
    EXPECT_EQ(latencies.count(), 100u);
    EXPECT_EQ(latencies.min_micros(), 1'000u);
    EXPECT_EQ(latencies.max_micros(), 100'000u);
    // Bucket precision: within 0.8% above the true value.
    EXPECT_GE(latencies.PercentileMicros(0.99), 99'000u);
    EXPECT_LE(latencies.PercentileMicros(0.99), 99'000u * 1.008);
    EXPECT_GE(latencies.PercentileMicros(0.50), 50'000u);
    EXPECT_LE(latencies.PercentileMicros(0.50), 50'000u * 1.008);
    EXPECT_EQ(book.first_publish_us(), 0);
    EXPECT_EQ(book.last_publish_us(), 99'000);
    EXPECT_EQ(book.last_arrival_us(), 99'000 + 100'000);
}

TEST(DeliveryBook, AnArrivalStampedBeforeItsPublishCountsZeroLatency) {
    DeliveryBook book(1, 1);
    book.Published(0, 5'000);
    EXPECT_EQ(book.Arrive(0, 0, "evt_a", 4'000), ArrivalKind::kFirst);
    EXPECT_EQ(book.Latencies().max_micros(), 0u);
}

TEST(DeliveryBook, ReportsNoTimesBeforeAnythingHappened) {
    DeliveryBook book(3, 2);
    EXPECT_EQ(book.first_publish_us(), std::nullopt);
    EXPECT_EQ(book.last_publish_us(), std::nullopt);
    EXPECT_EQ(book.last_arrival_us(), std::nullopt);
    EXPECT_EQ(book.Latencies().count(), 0u);
}

}  // namespace
}  // namespace bench
