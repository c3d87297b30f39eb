#include "webhook/domain/signatures.hpp"

#include <gtest/gtest.h>

#include "commons/crypto.hpp"

namespace webhook::domain {
namespace {

// A fixed Stripe case; the expected hex was computed independently with
//   printf '%s' '1614265330.<body>' | openssl dgst -sha256 -hmac '<secret>'
constexpr std::string_view kStripeSecret = "whsec_test_secret_for_payments_platform";
constexpr std::string_view kStripeBody =
    R"({"id":"evt_1","object":"event","type":"payment_intent.succeeded"})";
constexpr std::int64_t kStripeTime = 1614265330;
constexpr std::string_view kStripeV1 =
    "3ce374d63aa17fa508b017facf4e3578fff6cd1b01df41d07cf2ace8666f452e";

std::string Header(std::int64_t t, std::string_view v1) {
    return "t=" + std::to_string(t) + ",v1=" + std::string(v1);
}

std::optional<StripeSignatureError> Verify(
    std::string_view header, std::string_view body = kStripeBody,
    std::vector<std::string> secrets = {std::string(kStripeSecret)},
    std::int64_t now = kStripeTime + 10) {
    return VerifyStripeSignature(header, body, secrets, now, 300);
}

TEST(StripeSignature, ComputesWhatStripeSends) {
    EXPECT_EQ(StripeSignatureV1(kStripeSecret, kStripeTime, kStripeBody), kStripeV1);
}

TEST(StripeSignature, AcceptsAMatchingV1WithinTheTolerance) {
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1)), std::nullopt);
    // Upper-case hex, other schemes and several v1 (one of them right) are fine.
    std::string upper(kStripeV1);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(Verify(Header(kStripeTime, upper)), std::nullopt);
    const std::string wrong(64, '0');
    EXPECT_EQ(Verify("t=" + std::to_string(kStripeTime) + ",v1=" + wrong +
                     ",v1=" + std::string(kStripeV1) + ",v0=" + wrong),
              std::nullopt);
    // Exactly at the tolerance, either side.
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1), kStripeBody, {std::string(kStripeSecret)},
                     kStripeTime + 300),
              std::nullopt);
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1), kStripeBody, {std::string(kStripeSecret)},
                     kStripeTime - 300),
              std::nullopt);
}

TEST(StripeSignature, AcceptsAnyOfSeveralSecretsDuringARotation) {
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1), kStripeBody,
                     {"whsec_the_new_one", std::string(kStripeSecret)}),
              std::nullopt);
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1), kStripeBody, {"whsec_the_new_one"}),
              StripeSignatureError::kMismatch);
}

TEST(StripeSignature, TheBodyIsTheRawBytesExactlyAsReceived) {
    // The same JSON re-serialized (a space, a reordered key, a trailing newline) fails.
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1),
                     R"({"id": "evt_1","object":"event","type":"payment_intent.succeeded"})"),
              StripeSignatureError::kMismatch);
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1), std::string(kStripeBody) + "\n"),
              StripeSignatureError::kMismatch);
    // The timestamp is part of what is signed.
    EXPECT_EQ(Verify(Header(kStripeTime + 1, kStripeV1)), StripeSignatureError::kMismatch);
}

TEST(StripeSignature, RefusesAStaleOrFutureTimestampEvenWhenTheSignatureMatches) {
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1), kStripeBody, {std::string(kStripeSecret)},
                     kStripeTime + 301),
              StripeSignatureError::kStale);
    EXPECT_EQ(Verify(Header(kStripeTime, kStripeV1), kStripeBody, {std::string(kStripeSecret)},
                     kStripeTime - 301),
              StripeSignatureError::kStale);
}

TEST(StripeSignature, ClassifiesEveryMalformedHeader) {
    EXPECT_EQ(Verify(""), StripeSignatureError::kMissing);
    const std::string v1(kStripeV1);
    for (const std::string& bad : {
             std::string("garbage"),
             "v1=" + v1,                                 // no t
             "t=,v1=" + v1,                              // empty t
             "t=abc,v1=" + v1,                           // t not a number
             "t=-5,v1=" + v1,                            // negative
             "t=1614265330.5,v1=" + v1,                  // not whole
             "t=1234567890123456789,v1=" + v1,           // 19 digits
             "t=1614265330,v1=" + v1.substr(1),          // 63 digits
             "t=1614265330,v1=" + v1 + "00",             // 66 digits
             "t=1614265330,v1=" + std::string(64, 'g'),  // not hex
             "t=1614265330,,v1=" + v1,                   // empty item
             "t=1614265330,=x,v1=" + v1,                 // empty key
             "t=1614265330,v1=" + v1 + std::string(4096, ','),
         }) {
        EXPECT_EQ(Verify(bad), StripeSignatureError::kMalformed) << bad.substr(0, 80);
    }
    std::string many = "t=1614265330";
    for (int i = 0; i < 9; ++i) many += ",v1=" + v1;
    EXPECT_EQ(Verify(many), StripeSignatureError::kMalformed);
    EXPECT_EQ(Verify("t=1614265330,v0=" + v1), StripeSignatureError::kNoV1);
    EXPECT_EQ(Verify("t=1614265330"), StripeSignatureError::kNoV1);
    // As in Stripe's libraries, a key with a space is another scheme, not v1.
    EXPECT_EQ(Verify("t=1614265330, v1=" + v1), StripeSignatureError::kNoV1);
}

TEST(StripeSignature, EveryErrorHasACodeAndAMessage) {
    for (auto error : {StripeSignatureError::kMissing, StripeSignatureError::kMalformed,
                       StripeSignatureError::kNoV1, StripeSignatureError::kMismatch,
                       StripeSignatureError::kStale}) {
        EXPECT_TRUE(StripeSignatureErrorCode(error).starts_with("signature_"));
        EXPECT_FALSE(StripeSignatureErrorMessage(error).empty());
    }
}

// The test vector of the Standard Webhooks specification (also checked with
// `openssl dgst -sha256 -mac HMAC -macopt hexkey:<decoded secret> -binary | base64`).
constexpr std::string_view kVectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kVectorId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kVectorTime = 1614265330;
constexpr std::string_view kVectorBody = R"({"test": 2432232314})";
constexpr std::string_view kVectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

TEST(StandardWebhooks, SignsThePublishedTestVector) {
    const auto key = DecodeWebhookSecret(kVectorSecret);
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->size(), 24u);
    EXPECT_EQ(StandardWebhookSignature(*key, kVectorId, kVectorTime, kVectorBody),
              kVectorSignature);
    EXPECT_TRUE(VerifyStandardWebhook(*key, kVectorId, "1614265330", kVectorSignature, kVectorBody,
                                      kVectorTime, 300));
}

TEST(StandardWebhooks, DuringARotationEverySecretSignsAndEitherVerifies) {
    const std::string old_key = *DecodeWebhookSecret(kVectorSecret);
    const std::string new_key(32, '\x5a');
    const std::string header =
        StandardWebhookSignatureHeader({new_key, old_key}, kVectorId, kVectorTime, kVectorBody);
    EXPECT_EQ(header, StandardWebhookSignature(new_key, kVectorId, kVectorTime, kVectorBody) + " " +
                          std::string(kVectorSignature));
    for (const auto& key : {old_key, new_key}) {
        EXPECT_TRUE(VerifyStandardWebhook(key, kVectorId, "1614265330", header, kVectorBody,
                                          kVectorTime, 300));
    }
    EXPECT_FALSE(VerifyStandardWebhook(std::string(32, '\x01'), kVectorId, "1614265330", header,
                                       kVectorBody, kVectorTime, 300));
}

TEST(StandardWebhooks, AReceiverRefusesTamperingAndStaleTimestamps) {
    const std::string key = *DecodeWebhookSecret(kVectorSecret);
    auto verify = [&](std::string_view id, std::string_view ts, std::string_view body,
                      std::int64_t now) {
        return VerifyStandardWebhook(key, id, ts, kVectorSignature, body, now, 300);
    };
    EXPECT_FALSE(verify("msg_other", "1614265330", kVectorBody, kVectorTime));
    EXPECT_FALSE(verify(kVectorId, "1614265331", kVectorBody, kVectorTime));
    EXPECT_FALSE(verify(kVectorId, "1614265330", R"({"test": 2432232315})", kVectorTime));
    EXPECT_FALSE(verify(kVectorId, "1614265330", kVectorBody, kVectorTime + 301));
    EXPECT_FALSE(verify(kVectorId, "not-a-number", kVectorBody, kVectorTime));
    EXPECT_TRUE(verify(kVectorId, "1614265330", kVectorBody, kVectorTime + 300));
}

TEST(WebhookSecret, EncodesAndDecodesKeysOfTheAllowedSizes) {
    for (std::size_t size : {std::size_t{24}, std::size_t{32}, std::size_t{64}}) {
        const std::string key(size, '\xc3');
        const std::string secret = EncodeWebhookSecret(key);
        EXPECT_TRUE(secret.starts_with("whsec_"));
        EXPECT_EQ(DecodeWebhookSecret(secret), std::optional<std::string>(key));
    }
    EXPECT_FALSE(DecodeWebhookSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").has_value());  // prefix
    EXPECT_FALSE(DecodeWebhookSecret("whsec_" + commons::Base64Encode(std::string(23, 'a'))));
    EXPECT_FALSE(DecodeWebhookSecret("whsec_" + commons::Base64Encode(std::string(65, 'a'))));
    EXPECT_FALSE(DecodeWebhookSecret("whsec_not base64!").has_value());
}

}  // namespace
}  // namespace webhook::domain
