#pragma once

#include <string>
#include <string_view>

namespace commons {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Compares two strings in time that depends only on their lengths, not their contents.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace commons
