#pragma once

// Helpers shared by the targets that send a fuzzed JSON body to a service's routes.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "check.hpp"
#include "middleware/idempotency.hpp"

namespace fuzz {

// An input "DEEP<n><rest>" stands for <rest> nested in n * 256 JSON arrays (n = 255: 65,280
// levels, a 130 KB body), far deeper than a mutated input of a few kilobytes gets; when <rest>
// holds "@@", the arrays go there instead ("{"data":@@}" nests a field's value). A recursive
// walk over client JSON runs off an 8 MiB stack at about 100,000 levels in a release build
// (a 200 KB body, well within the 1 MiB limit), and at 10,000 to 16,000 in this ASan build.
// Other inputs are the body as they are.
inline std::string BodyOf(std::string_view input) {
    constexpr std::string_view kMagic = "DEEP";
    if (input.size() <= kMagic.size() || input.substr(0, kMagic.size()) != kMagic) {
        return std::string(input);
    }
    const std::size_t depth = static_cast<unsigned char>(input[kMagic.size()]) * std::size_t{256};
    const std::string_view rest = input.substr(kMagic.size() + 1);
    const std::size_t at = rest.find("@@");
    if (at == std::string_view::npos) {
        return std::string(depth, '[') + std::string(rest) + std::string(depth, ']');
    }
    return std::string(rest.substr(0, at)) + std::string(depth, '[') + std::string(depth, ']') +
           std::string(rest.substr(at + 2));
}

// The idempotency middleware's fingerprint of a body (every POST with an Idempotency-Key runs
// it, before any handler) never fails, and ignores the formatting of a JSON body.
inline void CheckBodyFingerprint(const std::string& body) {
    const std::string fingerprint = middleware::BodyFingerprint(body);
    FUZZ_CHECK(fingerprint.starts_with("json:") || fingerprint.starts_with("raw:"));
    if (!fingerprint.starts_with("json:")) return;  // not JSON, or nested too deep for it
    const auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || body.size() > 4096) return;
    const std::string reformatted =
        parsed.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    if (nlohmann::json::parse(reformatted, nullptr, false) != parsed) return;  // replaced bytes
    FUZZ_CHECK_WITH(middleware::BodyFingerprint(reformatted) == fingerprint, body);
}

}  // namespace fuzz
