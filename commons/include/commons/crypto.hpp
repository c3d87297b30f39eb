#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace commons {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// HMAC-SHA256 of `data` keyed by `key`'s bytes: the 32 raw bytes of the tag.
std::string HmacSha256(std::string_view key, std::string_view data);

// Lower-case hex of `bytes`.
std::string HexEncode(std::string_view bytes);

// Standard base64 (RFC 4648 section 4, '+' and '/', padded with '=').
std::string Base64Encode(std::string_view bytes);

// Decodes standard base64. Padding may be omitted; when present it must be right. nullopt for
// any other character (whitespace included), a length that cannot be base64, or non-zero bits
// after the last full byte (so every byte string has exactly one accepted encoding, bar padding).
std::optional<std::string> Base64Decode(std::string_view text);

// Compares two strings in time that depends only on their lengths, not their contents.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace commons
