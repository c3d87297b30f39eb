#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace commons {

// The pieces of `text` between `separator`s, empty ones included ("a,,b" gives "a", "", "b";
// "" gives one empty piece). The views point into `text`.
inline std::vector<std::string_view> Split(std::string_view text, char separator) {
    std::vector<std::string_view> pieces;
    std::size_t at = 0;
    for (;;) {
        const std::size_t next = text.find(separator, at);
        if (next == std::string_view::npos) {
            pieces.push_back(text.substr(at));
            return pieces;
        }
        pieces.push_back(text.substr(at, next - at));
        at = next + 1;
    }
}

// Why a text cannot be stored as PostgreSQL text or jsonb (which take UTF-8 without NUL).
enum class TextProblem {
    kNone,
    kNul,          // a U+0000 character (JSON's "\u0000")
    kInvalidUtf8,  // a byte sequence that is not UTF-8: stray or truncated continuation bytes,
                   // overlong forms, UTF-16 surrogates (U+D800..U+DFFF), beyond U+10FFFF
};

// The one check for text that goes to PostgreSQL: every reader of outside input (JSON fields,
// query and path parameters) applies it, so a bad string is the client's 400, never the
// database's refusal (a 500, or a failed batch of other people's requests).
TextProblem CheckText(std::string_view text);
inline bool IsStorableText(std::string_view text) { return CheckText(text) == TextProblem::kNone; }

// A client-facing sentence for a problem other than kNone, e.g. "must not contain NUL (\u0000)".
std::string_view TextProblemMessage(TextProblem problem);

// `text` made storable and cut to at most `bytes_max` bytes, for keeping what someone else sent
// (an endpoint's response body, an error message): each byte that is not part of a valid UTF-8
// character, and each NUL, becomes U+FFFD, and the cut falls on a character boundary. Text that
// is already storable and short enough comes back unchanged.
std::string SanitizeText(std::string_view text, std::size_t bytes_max);

}  // namespace commons
