#pragma once

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

}  // namespace commons
