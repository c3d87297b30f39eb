#pragma once

// Request templates: strings with {{...}} placeholders, parsed once and expanded per request so
// that every request of a run can carry its own ids (idempotent APIs must see distinct keys to
// be loaded honestly).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commons/result.hpp"

namespace bench {

// What every expansion of one run shares. Immutable once made, so expansion is thread-safe.
struct TemplateRun {
    // Drives {{rand:A:B}}: the same seed gives the same draws for the same sequence numbers.
    std::uint64_t seed = 0;
    // Drives {{uuid}}. Fresh per run and independent of the seed, so uuids never repeat across
    // runs even when a run is repeated with the same seed.
    std::uint64_t nonce = 0;
    // {{unique}} is this prefix followed by the sequence number in decimal.
    std::string unique_prefix;
};

// Characters in TemplateRun::unique_prefix: lower-case base 36, about 52 bits of randomness.
inline constexpr std::size_t kUniquePrefixLength = 10;

// A run with `seed` and a nonce and unique prefix drawn from std::random_device.
TemplateRun MakeTemplateRun(std::uint64_t seed);

// The kUniquePrefixLength-character prefix derived from `nonce` (lower-case letters and digits).
std::string UniquePrefixFromNonce(std::uint64_t nonce);

// A string with placeholders. Placeholders are
//   {{seq}}       the request's global 0-based sequence number
//   {{unique}}    run prefix + sequence number: unique within and across runs
//   {{uuid}}      a random version-4 UUID, one per request
//   {{rand:A:B}}  a uniform integer in [A, B] (signed 64-bit), drawn anew at every occurrence
// {{seq}}, {{unique}} and {{uuid}} expand to the same value everywhere in one request, so a
// header such as Idempotency-Key can repeat an id from the body. Every expansion is made of
// letters, digits and '-', so it is safe in a URL path, a header value and a JSON string.
class Template {
  public:
    // Parses `text`. An unclosed "{{", an unknown placeholder or a malformed range is an error
    // whose message names the offset.
    static commons::Result<Template, std::string> Parse(std::string_view text);

    // Appends the expansion for request `seq` to `out`. `stream` tells apart the templates of
    // one request (URL, each header, body) so their {{rand}} draws are independent.
    void ExpandTo(const TemplateRun& run, std::uint64_t seq, std::uint32_t stream,
                  std::string& out) const;
    std::string Expand(const TemplateRun& run, std::uint64_t seq, std::uint32_t stream = 0) const;

    bool has_placeholders() const { return has_placeholders_; }
    const std::string& source() const { return source_; }

  private:
    enum class Kind { kLiteral, kSeq, kUnique, kUuid, kRand };
    struct Part {
        Kind kind = Kind::kLiteral;
        std::string literal;
        std::int64_t low = 0;
        std::int64_t high = 0;
    };

    Template() = default;

    std::vector<Part> parts_;
    std::string source_;
    bool has_placeholders_ = false;
};

// The SplitMix64 finalizer: a fast bijective mix, good enough to derive load-test values.
std::uint64_t Mix64(std::uint64_t value);

// A uniform integer in [low, high] derived only from `key` (no bias: rejection sampling).
// Precondition: low <= high.
std::int64_t UniformInt(std::uint64_t key, std::int64_t low, std::int64_t high);

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" from 128 random bits, with the version and variant
// bits of RFC 9562 set.
std::string FormatUuidV4(std::uint64_t high, std::uint64_t low);

}  // namespace bench
