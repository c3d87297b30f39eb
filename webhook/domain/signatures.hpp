#pragma once

// Webhook signatures, both directions (pure, no I/O).
//
// Inbound: Stripe signs each webhook with `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...][,v0=...]`,
// the hex HMAC-SHA256 of "<t>.<raw body>" keyed by the endpoint secret's characters as written
// (`whsec_...`, prefix included). We accept the request when any v1 matches any of the
// configured secrets (several during a rotation) and t is within the tolerance of now.
//
// Outbound: our deliveries are signed per the Standard Webhooks specification: headers
// `webhook-id`, `webhook-timestamp`, and `webhook-signature: v1,<base64 HMAC-SHA256 of
// "<id>.<timestamp>.<body>">`, keyed by the base64-decoded bytes of the endpoint's secret
// (`whsec_<base64>`); during a rotation one signature per secret, separated by spaces.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commons/result.hpp"

namespace webhook::domain {

// ---- Inbound: Stripe ----

// Bounds on what we parse: a header longer than this, or with more v1 signatures, is refused
// as malformed rather than costing an HMAC each.
inline constexpr std::size_t kStripeSignatureHeaderBytesMax = 4096;
inline constexpr std::size_t kStripeSignaturesMax = 8;

enum class StripeSignatureError {
    kMissing,    // no Stripe-Signature header, or an empty one
    kMalformed,  // not "t=...,v1=..." items, t not a whole number, a v1 not 64 hex digits
    kNoV1,       // no v1 signature (only other schemes)
    kMismatch,   // no v1 matches any configured secret
    kStale,      // a v1 matched, but t is further than the tolerance from now
};

// The error code the API answers with: "signature_missing", "signature_malformed",
// "signature_no_v1", "signature_mismatch", "signature_timestamp_out_of_tolerance".
std::string_view StripeSignatureErrorCode(StripeSignatureError error);
// A sentence for the error message, naming what to check.
std::string_view StripeSignatureErrorMessage(StripeSignatureError error);

struct StripeSignatureHeader {
    std::int64_t timestamp = 0;
    std::vector<std::string> v1;  // lower-case hex, 64 digits each
};

// Items are separated by ',' and are "key=value"; unknown keys (v0, future schemes) are
// skipped; the last t wins, as Stripe's libraries do. Hex is accepted in either case.
commons::Result<StripeSignatureHeader, StripeSignatureError> ParseStripeSignature(
    std::string_view header);

// Verifies `header` over the raw body bytes exactly as received. Each secret is tried against
// each v1 with a constant-time comparison. A timestamp more than `tolerance_seconds` before or
// after `now_unix` is refused even when the signature matches.
// Precondition: secrets is not empty; tolerance_seconds >= 0.
std::optional<StripeSignatureError> VerifyStripeSignature(std::string_view header,
                                                          std::string_view raw_body,
                                                          const std::vector<std::string>& secrets,
                                                          std::int64_t now_unix,
                                                          std::int64_t tolerance_seconds);

// The hex v1 signature Stripe would send (for tests and the simulator).
std::string StripeSignatureV1(std::string_view secret, std::int64_t timestamp,
                              std::string_view raw_body);

// ---- Outbound: Standard Webhooks ----

inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";
// A secret's key is 24 to 64 random bytes (the specification asks for 24 at least).
inline constexpr std::size_t kWebhookSecretBytesMin = 24;
inline constexpr std::size_t kWebhookSecretBytesMax = 64;

// "whsec_" + base64 of `key`. Precondition: key is 24 to 64 bytes.
std::string EncodeWebhookSecret(std::string_view key);

// The key bytes of "whsec_<base64>"; nullopt without the prefix, for invalid base64, or a key
// outside 24..64 bytes.
std::optional<std::string> DecodeWebhookSecret(std::string_view secret);

// "v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">" keyed by `key` (decoded bytes).
std::string StandardWebhookSignature(std::string_view key, std::string_view message_id,
                                     std::int64_t timestamp, std::string_view body);

// The webhook-signature header: one signature per key, in order, separated by one space.
// Precondition: keys is not empty.
std::string StandardWebhookSignatureHeader(const std::vector<std::string>& keys,
                                           std::string_view message_id, std::int64_t timestamp,
                                           std::string_view body);

// What a receiver does (used by our tests and shown in docs/webhook.md): true when
// `timestamp_header` is a whole number within `tolerance_seconds` of now and one of the
// space-separated "v1,<base64>" signatures matches `key` (constant-time).
bool VerifyStandardWebhook(std::string_view key, std::string_view message_id,
                           std::string_view timestamp_header, std::string_view signature_header,
                           std::string_view body, std::int64_t now_unix,
                           std::int64_t tolerance_seconds);

}  // namespace webhook::domain
