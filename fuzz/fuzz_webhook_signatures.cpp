// Webhook signatures (webhook/domain/signatures.hpp), inbound and outbound.
//   - ParseStripeSignature agrees with a reference reader of the documented grammar
//     (comma-separated key=value items, the last t of 1 to 18 digits without sign, 1 to 8 v1
//     of 64 hex digits, other keys skipped, at most 4096 bytes), result and error alike.
//   - VerifyStripeSignature never accepts a header unless one of its v1 is the HMAC of
//     "<t>.<body>" under a configured secret and t is within the tolerance; a header we sign
//     is accepted, refused as stale outside the tolerance, and as a mismatch for another body.
//   - DecodeWebhookSecret accepts only "whsec_" + canonical base64 of 24 to 64 bytes, and
//     EncodeWebhookSecret inverts it.
//   - VerifyStandardWebhook never accepts a signature header without the true signature as one
//     of its space-separated items and a timestamp within the tolerance; the header we send
//     during a rotation verifies under each key and not under another.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "commons/text.hpp"
#include "webhook/domain/signatures.hpp"

namespace {

namespace domain = webhook::domain;
using domain::StripeSignatureError;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::int64_t kTolerance = 300;
const std::vector<std::string> kSecrets = {"whsec_current_secret", "whsec_previous_secret"};

bool IsDigits(std::string_view text) {
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

bool IsHex(std::string_view text) {
    for (char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

std::string Lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return out;
}

struct ReferenceHeader {
    std::optional<StripeSignatureError> error;
    std::int64_t timestamp = 0;
    std::vector<std::string> v1;
};

ReferenceHeader ReferenceParse(std::string_view header) {
    if (header.empty()) return {StripeSignatureError::kMissing};
    if (header.size() > domain::kStripeSignatureHeaderBytesMax) {
        return {StripeSignatureError::kMalformed};
    }
    ReferenceHeader out;
    bool have_timestamp = false;
    for (std::string_view item : commons::Split(header, ',')) {
        const auto equals = item.find('=');
        if (equals == std::string_view::npos || equals == 0) {
            return {StripeSignatureError::kMalformed};
        }
        const std::string_view key = item.substr(0, equals);
        const std::string_view value = item.substr(equals + 1);
        if (key == "t") {
            if (value.empty() || value.size() > 18 || !IsDigits(value)) {
                return {StripeSignatureError::kMalformed};
            }
            out.timestamp = std::stoll(std::string(value));
            have_timestamp = true;
        } else if (key == "v1") {
            if (value.size() != 64 || !IsHex(value) ||
                out.v1.size() == domain::kStripeSignaturesMax) {
                return {StripeSignatureError::kMalformed};
            }
            out.v1.push_back(Lower(value));
        }
    }
    if (!have_timestamp) return {StripeSignatureError::kMalformed};
    if (out.v1.empty()) return {StripeSignatureError::kNoV1};
    return out;
}

void CheckStripeHeader(std::string_view header, std::string_view body) {
    const auto parsed = domain::ParseStripeSignature(header);
    const auto expected = ReferenceParse(header);
    if (expected.error) {
        FUZZ_CHECK_WITH(!parsed && parsed.error() == *expected.error, header);
    } else {
        FUZZ_CHECK_WITH(parsed.ok(), header);
        FUZZ_CHECK_WITH(parsed.value().timestamp == expected.timestamp, header);
        FUZZ_CHECK_WITH(parsed.value().v1 == expected.v1, header);
    }

    const auto refused = domain::VerifyStripeSignature(header, body, kSecrets, kNow, kTolerance);
    if (!parsed) {
        FUZZ_CHECK(refused == parsed.error());
        return;
    }
    bool genuine = false;
    for (const auto& secret : kSecrets) {
        const std::string want = domain::StripeSignatureV1(secret, parsed.value().timestamp, body);
        for (const auto& v1 : parsed.value().v1) genuine = genuine || v1 == want;
    }
    const std::int64_t skew = parsed.value().timestamp - kNow;
    const bool fresh = skew >= -kTolerance && skew <= kTolerance;
    if (!refused) FUZZ_CHECK_WITH(genuine && fresh, header);
    if (genuine && fresh) FUZZ_CHECK_WITH(!refused, header);
}

void CheckStripeRoundTrip(std::uint16_t offset, std::string_view body) {
    const std::int64_t timestamp = kNow - 1000 + offset % 2001;  // within 1000 s of now
    for (const auto& secret : kSecrets) {
        const std::string header = "t=" + std::to_string(timestamp) + ",v0=ignored,v1=" +
                                   domain::StripeSignatureV1(secret, timestamp, body);
        const auto refused =
            domain::VerifyStripeSignature(header, body, kSecrets, kNow, kTolerance);
        const bool fresh = timestamp >= kNow - kTolerance && timestamp <= kNow + kTolerance;
        FUZZ_CHECK(fresh ? !refused : refused == StripeSignatureError::kStale);
        const auto tampered = domain::VerifyStripeSignature(header, std::string(body) + "x",
                                                            kSecrets, kNow, kTolerance);
        FUZZ_CHECK(tampered == StripeSignatureError::kMismatch);
    }
}

void CheckWebhookSecret(std::string_view secret) {
    const auto key = domain::DecodeWebhookSecret(secret);
    if (!key) return;
    FUZZ_CHECK(key->size() >= domain::kWebhookSecretBytesMin &&
               key->size() <= domain::kWebhookSecretBytesMax);
    FUZZ_CHECK(secret.starts_with(domain::kWebhookSecretPrefix));
    const std::string encoded = domain::EncodeWebhookSecret(*key);
    std::string_view digits = secret.substr(domain::kWebhookSecretPrefix.size());
    while (!digits.empty() && digits.back() == '=') digits.remove_suffix(1);
    std::string_view encoded_digits = encoded;
    while (!encoded_digits.empty() && encoded_digits.back() == '=') encoded_digits.remove_suffix(1);
    FUZZ_CHECK_WITH(encoded_digits.substr(domain::kWebhookSecretPrefix.size()) == digits, secret);
    FUZZ_CHECK(domain::DecodeWebhookSecret(encoded) == key);
}

void CheckStandardWebhook(const std::string& key, const std::string& message_id,
                          const std::string& timestamp_header, const std::string& signature_header,
                          const std::string& body) {
    const bool accepted = domain::VerifyStandardWebhook(key, message_id, timestamp_header,
                                                        signature_header, body, kNow, kTolerance);
    if (accepted) {
        FUZZ_CHECK(!timestamp_header.empty() && timestamp_header.size() <= 18 &&
                   IsDigits(timestamp_header));
        const std::int64_t timestamp = std::stoll(timestamp_header);
        FUZZ_CHECK(timestamp >= kNow - kTolerance && timestamp <= kNow + kTolerance);
        const std::string want = domain::StandardWebhookSignature(key, message_id, timestamp, body);
        bool present = false;
        for (std::string_view item : commons::Split(signature_header, ' ')) {
            present = present || item == want;
        }
        FUZZ_CHECK_WITH(present, signature_header);
    }

    std::string other_key = key;
    other_key.push_back('!');
    const std::int64_t timestamp = kNow - 5;
    const std::string header =
        domain::StandardWebhookSignatureHeader({key, other_key}, message_id, timestamp, body);
    const std::string timestamp_text = std::to_string(timestamp);
    FUZZ_CHECK(domain::VerifyStandardWebhook(key, message_id, timestamp_text, header, body, kNow,
                                             kTolerance));
    FUZZ_CHECK(domain::VerifyStandardWebhook(other_key, message_id, timestamp_text, header, body,
                                             kNow, kTolerance));
    FUZZ_CHECK(!domain::VerifyStandardWebhook(key + "?", message_id, timestamp_text, header, body,
                                              kNow, kTolerance));
    FUZZ_CHECK(!domain::VerifyStandardWebhook(key, message_id, timestamp_text, header, body + "x",
                                              kNow, kTolerance));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider provider(data, size);
    const std::string header = provider.ConsumeRandomLengthString(8192);
    const std::string timestamp_header = provider.ConsumeRandomLengthString(32);
    const std::string message_id = provider.ConsumeRandomLengthString(64);
    const std::string key = provider.ConsumeRandomLengthString(64);
    const auto offset = provider.ConsumeIntegral<std::uint16_t>();
    const std::string body = provider.ConsumeRemainingBytesAsString();

    CheckStripeHeader(header, body);
    CheckStripeRoundTrip(offset, body);
    CheckWebhookSecret(header);
    CheckStandardWebhook(key, message_id, timestamp_header, header, body);
    return 0;
}
