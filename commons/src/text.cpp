#include "commons/text.hpp"

#include <algorithm>

namespace commons {
namespace {

// The length of the valid UTF-8 character starting at text[at], or 0 when the bytes there are
// not one (RFC 3629: no overlong forms, no surrogates, nothing beyond U+10FFFF).
std::size_t CharacterLength(std::string_view text, std::size_t at) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(at);
    if (lead < 0x80) return 1;
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) low = 0xA0;   // overlong below U+0800
        if (lead == 0xED) high = 0x9F;  // U+D800..U+DFFF are surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) low = 0x90;   // overlong below U+10000
        if (lead == 0xF4) high = 0x8F;  // beyond U+10FFFF
    } else {
        return 0;  // a continuation byte, C0/C1 (overlong) or F5..FF
    }
    if (at + length > text.size()) return 0;
    if (byte(at + 1) < low || byte(at + 1) > high) return 0;
    for (std::size_t i = 2; i < length; ++i) {
        if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) return 0;
    }
    return length;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

TextProblem CheckText(std::string_view text) {
    for (std::size_t at = 0; at < text.size();) {
        if (text[at] == '\0') return TextProblem::kNul;
        const std::size_t length = CharacterLength(text, at);
        if (length == 0) return TextProblem::kInvalidUtf8;
        at += length;
    }
    return TextProblem::kNone;
}

std::string_view TextProblemMessage(TextProblem problem) {
    switch (problem) {
        case TextProblem::kNone:
            return "is valid text";
        case TextProblem::kNul:
            return "must not contain NUL (\\u0000)";
        case TextProblem::kInvalidUtf8:
            return "must be valid UTF-8 (no lone surrogates or stray bytes)";
    }
    return "is not valid text";
}

std::string SanitizeText(std::string_view text, std::size_t bytes_max) {
    if (text.size() <= bytes_max && CheckText(text) == TextProblem::kNone) return std::string(text);
    std::string out;
    out.reserve(std::min(text.size(), bytes_max));
    for (std::size_t at = 0; at < text.size();) {
        std::size_t length = text[at] == '\0' ? 0 : CharacterLength(text, at);
        const std::string_view piece = length == 0 ? kReplacement : text.substr(at, length);
        if (out.size() + piece.size() > bytes_max) break;
        out += piece;
        at += length == 0 ? 1 : length;
    }
    return out;
}

}  // namespace commons
