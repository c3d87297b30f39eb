// The HTTP client's URL parsing and address policy (commons/http/client.hpp).
//   - ParseUrl accepts only what it promises: a host (lower-case name characters or an IPv6
//     literal), a port from 1 to 65535, a target starting with '/' without a fragment, and no
//     byte outside 0x21..0x7e; writing an accepted URL back out parses to the same Url.
//   - ClassifyAddress agrees with a reference table of IPv4 ranges (RFC 6890 and the header's
//     list), for every IPv4 address and for the IPv6 forms that carry one (mapped, compatible,
//     NAT64, 6to4), and with a reference for native IPv6 ranges.
//   - AddressAllowed lets kAllowAll connect anywhere and kPublicOnly to public addresses only.

#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "commons/http/client.hpp"

namespace {

using commons::http::AddressClass;
using commons::http::AddressPolicy;

void CheckUrl(std::string_view text) {
    const auto url = commons::http::ParseUrl(text);
    if (!url) return;
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        FUZZ_CHECK_WITH(byte > 0x20 && byte < 0x7f, text);
    }
    FUZZ_CHECK(!url->host.empty());
    FUZZ_CHECK(url->port >= 1);
    FUZZ_CHECK(!url->target.empty() && url->target.front() == '/');
    FUZZ_CHECK(url->target.find('#') == std::string::npos);
    const bool ipv6 = url->host.find(':') != std::string::npos;
    for (char c : url->host) {
        FUZZ_CHECK_WITH(!(c >= 'A' && c <= 'Z'), text);
        if (!ipv6) {
            FUZZ_CHECK_WITH((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                                c == '.' || c == '_',
                            text);
        }
    }
    if (ipv6) FUZZ_CHECK_WITH(commons::http::ClassifyAddress(url->host).has_value(), text);

    const std::string written = std::string(url->tls ? "https://" : "http://") +
                                (ipv6 ? "[" + url->host + "]" : url->host) + ":" +
                                std::to_string(url->port) + url->target;
    const auto again = commons::http::ParseUrl(written);
    FUZZ_CHECK_WITH(again.has_value(), written);
    FUZZ_CHECK_WITH(again->tls == url->tls && again->host == url->host &&
                        again->port == url->port && again->target == url->target,
                    written);
}

// The IPv4 ranges the address policy cares about, written from RFC 6890 and the header.
AddressClass ReferenceV4(std::uint32_t a) {
    auto in = [a](std::uint32_t network, int bits) {
        return bits == 0 || (a >> (32 - bits)) == (network >> (32 - bits));
    };
    if (in(0x00000000, 8)) return AddressClass::kUnspecified;
    if (in(0x7f000000, 8)) return AddressClass::kLoopback;
    if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16)) {
        return AddressClass::kPrivate;
    }
    if (in(0x64400000, 10)) return AddressClass::kSharedAddressSpace;
    if (in(0xa9fe0000, 16)) return AddressClass::kLinkLocal;
    if (in(0xe0000000, 4)) return AddressClass::kMulticast;
    if (in(0xf0000000, 4) || in(0xc0000000, 24) || in(0xc0000200, 24) || in(0xc0586300, 24) ||
        in(0xc6120000, 15) || in(0xc6336400, 24) || in(0xcb007100, 24)) {
        return AddressClass::kReserved;
    }
    return AddressClass::kPublic;
}

std::string V4Text(std::uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
           std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
}

std::string Hex16(unsigned value) {
    char text[8];
    std::snprintf(text, sizeof text, "%x", value & 0xffff);
    return text;
}

void CheckV4(std::uint32_t a) {
    const AddressClass expected = ReferenceV4(a);
    const std::string v4 = V4Text(a);
    FUZZ_CHECK_WITH(commons::http::ClassifyAddress(v4) == expected, v4);
    FUZZ_CHECK_WITH(commons::http::ClassifyAddress("::ffff:" + v4) == expected, v4);
    FUZZ_CHECK_WITH(commons::http::ClassifyAddress("64:ff9b::" + v4) == expected, v4);
    FUZZ_CHECK_WITH(commons::http::ClassifyAddress("2002:" + Hex16(a >> 16) + ":" + Hex16(a) +
                                                   "::1") == expected,
                    v4);
    // ::0.0.0.0 and ::0.0.0.1 are "::" and "::1", classified as IPv6 addresses.
    if (a > 1) FUZZ_CHECK_WITH(commons::http::ClassifyAddress("::" + v4) == expected, v4);
}

// Native IPv6 ranges, for addresses that carry no IPv4 address.
std::optional<AddressClass> ReferenceV6(const std::array<std::uint8_t, 16>& b) {
    auto zero = [&b](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
            if (b[i] != 0) return false;
        }
        return true;
    };
    if (zero(0, 12)) return std::nullopt;                                    // ::, ::1, ::a.b.c.d
    if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) return std::nullopt;  // mapped
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12)) {
        return std::nullopt;  // NAT64
    }
    if (b[0] == 0x20 && b[1] == 0x02) return std::nullopt;  // 6to4
    if (b[0] == 0xff) return AddressClass::kMulticast;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressClass::kPrivate;
    if ((b[0] & 0xfe) == 0xfc) return AddressClass::kUniqueLocal;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) {
        return AddressClass::kReserved;
    }
    if (b[0] == 0x01 && zero(1, 8)) return AddressClass::kReserved;
    return AddressClass::kPublic;
}

void CheckV6(const std::array<std::uint8_t, 16>& bytes) {
    const auto expected = ReferenceV6(bytes);
    if (!expected) return;
    std::string text;
    for (std::size_t i = 0; i < 16; i += 2) {
        if (i > 0) text.push_back(':');
        text += Hex16((unsigned{bytes[i]} << 8) | bytes[i + 1]);
    }
    FUZZ_CHECK_WITH(commons::http::ClassifyAddress(text) == expected, text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    CheckUrl(input);

    if (const auto address_class = commons::http::ClassifyAddress(input)) {
        FUZZ_CHECK(commons::http::AddressAllowed(AddressPolicy::kAllowAll, *address_class));
        FUZZ_CHECK(commons::http::AddressAllowed(AddressPolicy::kPublicOnly, *address_class) ==
                   (*address_class == AddressClass::kPublic));
    }

    FuzzedDataProvider provider(data, size);
    CheckV4(provider.ConsumeIntegral<std::uint32_t>());
    std::array<std::uint8_t, 16> v6{};
    for (auto& byte : v6) byte = provider.ConsumeIntegral<std::uint8_t>();
    CheckV6(v6);
    return 0;
}
