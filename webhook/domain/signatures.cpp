#include "webhook/domain/signatures.hpp"

#include <charconv>
#include <cstdlib>

#include "commons/assert.hpp"
#include "commons/crypto.hpp"
#include "commons/text.hpp"

namespace webhook::domain {
namespace {

constexpr std::size_t kSha256HexDigits = 64;

bool IsHex(std::string_view text) {
    for (char c : text) {
        const bool digit = c >= '0' && c <= '9';
        const bool lower = c >= 'a' && c <= 'f';
        const bool upper = c >= 'A' && c <= 'F';
        if (!digit && !lower && !upper) return false;
    }
    return true;
}

std::string ToLower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// A whole number in decimal, at most 18 digits (no sign, no spaces). from_chars alone would
// take a leading '-' ("-0").
std::optional<std::int64_t> UnixSeconds(std::string_view text) {
    if (text.empty() || text.size() > 18 || text.front() < '0' || text.front() > '9') {
        return std::nullopt;
    }
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [stop, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || stop != end || value < 0) return std::nullopt;
    return value;
}

bool WithinTolerance(std::int64_t timestamp, std::int64_t now, std::int64_t tolerance) {
    // Both are at most 18 digits, so the difference cannot overflow.
    return std::llabs(now - timestamp) <= tolerance;
}

}  // namespace

std::string_view StripeSignatureErrorCode(StripeSignatureError error) {
    switch (error) {
        case StripeSignatureError::kMissing:
            return "signature_missing";
        case StripeSignatureError::kMalformed:
            return "signature_malformed";
        case StripeSignatureError::kNoV1:
            return "signature_no_v1";
        case StripeSignatureError::kMismatch:
            return "signature_mismatch";
        case StripeSignatureError::kStale:
            return "signature_timestamp_out_of_tolerance";
    }
    commons::AssertionFailed("unknown StripeSignatureError", __FILE__, __LINE__, __func__);
}

std::string_view StripeSignatureErrorMessage(StripeSignatureError error) {
    switch (error) {
        case StripeSignatureError::kMissing:
            return "The Stripe-Signature header is missing.";
        case StripeSignatureError::kMalformed:
            return "The Stripe-Signature header is not of the form t=<unix seconds>,v1=<hex>.";
        case StripeSignatureError::kNoV1:
            return "The Stripe-Signature header has no v1 signature.";
        case StripeSignatureError::kMismatch:
            return "No v1 signature matches the raw body under any configured webhook secret; "
                   "check the endpoint secret and that the body reaches us unmodified.";
        case StripeSignatureError::kStale:
            return "The signature's timestamp is outside the tolerance; check the clock or "
                   "whether this is a replayed request.";
    }
    commons::AssertionFailed("unknown StripeSignatureError", __FILE__, __LINE__, __func__);
}

commons::Result<StripeSignatureHeader, StripeSignatureError> ParseStripeSignature(
    std::string_view header) {
    if (header.empty()) return StripeSignatureError::kMissing;
    if (header.size() > kStripeSignatureHeaderBytesMax) return StripeSignatureError::kMalformed;
    StripeSignatureHeader parsed;
    bool have_timestamp = false;
    for (const std::string_view item : commons::Split(header, ',')) {
        const std::size_t equals = item.find('=');
        if (equals == std::string_view::npos || equals == 0) {
            return StripeSignatureError::kMalformed;
        }
        const std::string_view key = item.substr(0, equals);
        const std::string_view value = item.substr(equals + 1);
        if (key == "t") {
            auto timestamp = UnixSeconds(value);
            if (!timestamp) return StripeSignatureError::kMalformed;
            parsed.timestamp = *timestamp;
            have_timestamp = true;
        } else if (key == "v1") {
            if (value.size() != kSha256HexDigits || !IsHex(value)) {
                return StripeSignatureError::kMalformed;
            }
            if (parsed.v1.size() == kStripeSignaturesMax) return StripeSignatureError::kMalformed;
            parsed.v1.push_back(ToLower(value));
        }
        // Other schemes (v0, test-mode ones, future ones) are skipped.
    }
    if (!have_timestamp) return StripeSignatureError::kMalformed;
    if (parsed.v1.empty()) return StripeSignatureError::kNoV1;
    return parsed;
}

std::optional<StripeSignatureError> VerifyStripeSignature(std::string_view header,
                                                          std::string_view raw_body,
                                                          const std::vector<std::string>& secrets,
                                                          std::int64_t now_unix,
                                                          std::int64_t tolerance_seconds) {
    PAY_ASSERT(!secrets.empty() && tolerance_seconds >= 0);
    auto parsed = ParseStripeSignature(header);
    if (!parsed) return parsed.error();
    const StripeSignatureHeader& signature = parsed.value();
    bool matched = false;
    for (const std::string& secret : secrets) {
        const std::string expected = StripeSignatureV1(secret, signature.timestamp, raw_body);
        // Every pair is compared, so the time taken does not tell which one matched.
        for (const std::string& candidate : signature.v1) {
            matched = commons::ConstantTimeEquals(expected, candidate) || matched;
        }
    }
    if (!matched) return StripeSignatureError::kMismatch;
    if (!WithinTolerance(signature.timestamp, now_unix, tolerance_seconds)) {
        return StripeSignatureError::kStale;
    }
    return std::nullopt;
}

std::string StripeSignatureV1(std::string_view secret, std::int64_t timestamp,
                              std::string_view raw_body) {
    std::string signed_payload = std::to_string(timestamp);
    signed_payload.push_back('.');
    signed_payload.append(raw_body);
    return commons::HexEncode(commons::HmacSha256(secret, signed_payload));
}

std::string EncodeWebhookSecret(std::string_view key) {
    PAY_ASSERT(key.size() >= kWebhookSecretBytesMin && key.size() <= kWebhookSecretBytesMax);
    std::string secret(kWebhookSecretPrefix);
    secret += commons::Base64Encode(key);
    return secret;
}

std::optional<std::string> DecodeWebhookSecret(std::string_view secret) {
    if (!secret.starts_with(kWebhookSecretPrefix)) return std::nullopt;
    auto key = commons::Base64Decode(secret.substr(kWebhookSecretPrefix.size()));
    if (!key || key->size() < kWebhookSecretBytesMin || key->size() > kWebhookSecretBytesMax) {
        return std::nullopt;
    }
    return key;
}

std::string StandardWebhookSignature(std::string_view key, std::string_view message_id,
                                     std::int64_t timestamp, std::string_view body) {
    std::string content(message_id);
    content.push_back('.');
    content += std::to_string(timestamp);
    content.push_back('.');
    content.append(body);
    std::string signature = "v1,";
    signature += commons::Base64Encode(commons::HmacSha256(key, content));
    return signature;
}

std::string StandardWebhookSignatureHeader(const std::vector<std::string>& keys,
                                           std::string_view message_id, std::int64_t timestamp,
                                           std::string_view body) {
    PAY_ASSERT(!keys.empty());
    std::string header;
    for (const std::string& key : keys) {
        if (!header.empty()) header.push_back(' ');
        header += StandardWebhookSignature(key, message_id, timestamp, body);
    }
    return header;
}

bool VerifyStandardWebhook(std::string_view key, std::string_view message_id,
                           std::string_view timestamp_header, std::string_view signature_header,
                           std::string_view body, std::int64_t now_unix,
                           std::int64_t tolerance_seconds) {
    auto timestamp = UnixSeconds(timestamp_header);
    if (!timestamp || !WithinTolerance(*timestamp, now_unix, tolerance_seconds)) return false;
    const std::string expected = StandardWebhookSignature(key, message_id, *timestamp, body);
    bool matched = false;
    for (const std::string_view candidate : commons::Split(signature_header, ' ')) {
        matched = commons::ConstantTimeEquals(expected, candidate) || matched;
    }
    return matched;
}

}  // namespace webhook::domain
