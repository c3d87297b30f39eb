// Base64 (commons/crypto.hpp), both directions.
//   - Decoding any text never crashes, and what it accepts is canonical: re-encoding the bytes
//     gives the input back (padded), and the byte count follows from the length.
//   - Encoding any bytes gives alphabet characters and correct padding, and decodes back to the
//     same bytes with and without the padding.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "commons/crypto.hpp"

namespace {

bool IsAlphabet(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

std::string_view WithoutPadding(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    if (auto decoded = commons::Base64Decode(input)) {
        const std::string_view digits = WithoutPadding(input);
        FUZZ_CHECK(digits.size() % 4 != 1);
        FUZZ_CHECK(decoded->size() == digits.size() * 3 / 4);
        std::string padded(digits);
        while (padded.size() % 4 != 0) padded.push_back('=');
        FUZZ_CHECK_WITH(commons::Base64Encode(*decoded) == padded, input);
    }

    const std::string encoded = commons::Base64Encode(input);
    FUZZ_CHECK(encoded.size() == (input.size() + 2) / 3 * 4);
    const std::string_view digits = WithoutPadding(encoded);
    FUZZ_CHECK(encoded.size() - digits.size() == (3 - input.size() % 3) % 3);
    for (char c : digits) FUZZ_CHECK(IsAlphabet(c));
    const auto back = commons::Base64Decode(encoded);
    FUZZ_CHECK(back && *back == input);
    const auto back_unpadded = commons::Base64Decode(digits);
    FUZZ_CHECK(back_unpadded && *back_unpadded == input);
    return 0;
}
