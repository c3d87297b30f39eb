// The event envelope read from the Redis stream (commons::ParseEnvelope, commons/events.hpp).
//   - Any bytes: never throws; what it accepts has an "evt_" id, a non-empty type and source,
//     and data that is a JSON object.
//   - Round trip: FormatEnvelope of an accepted event is valid JSON and parses back to the same
//     event (id, type, source, created and the data's exact text).

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "check.hpp"
#include "commons/events.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto event = commons::ParseEnvelope(input);
    if (!event) return 0;

    FUZZ_CHECK(event->id.starts_with("evt_"));
    FUZZ_CHECK(!event->type.empty() && !event->source.empty());
    const auto data_json = nlohmann::json::parse(event->data_json, nullptr, false);
    FUZZ_CHECK_WITH(data_json.is_object(), event->data_json);
    FUZZ_CHECK(event->stream_id.empty() && event->delivery_count == 0);

    const std::string formatted = commons::FormatEnvelope(*event);
    FUZZ_CHECK_WITH(nlohmann::json::accept(formatted), formatted);
    const auto again = commons::ParseEnvelope(formatted);
    FUZZ_CHECK_WITH(again.has_value(), formatted);
    FUZZ_CHECK(again->id == event->id && again->type == event->type &&
               again->source == event->source && again->created == event->created);
    FUZZ_CHECK_WITH(again->data_json == event->data_json, formatted);
    return 0;
}
