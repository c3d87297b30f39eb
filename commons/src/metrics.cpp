#include "commons/metrics.hpp"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace commons {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {}
Metrics::~Metrics() = default;

std::string Metrics::Serialize() const {
    prometheus::TextSerializer serializer;
    return serializer.Serialize(registry_->Collect());
}

}  // namespace commons
