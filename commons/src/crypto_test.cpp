#include "commons/crypto.hpp"

#include <gtest/gtest.h>

namespace commons {
namespace {

TEST(Sha256Hex, MatchesTheKnownDigestOfAbc) {
    EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HmacSha256, MatchesRfc4231TestCases) {
    // RFC 4231, test case 2: a key shorter than the block.
    EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Test case 6: a key longer than the block (131 bytes of 0xaa) is hashed first.
    EXPECT_EQ(HexEncode(HmacSha256(std::string(131, '\xaa'),
                                   "Test Using Larger Than Block-Size Key - Hash Key First")),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    EXPECT_EQ(HmacSha256("", "").size(), 32u);
}

TEST(HexEncode, WritesLowerCasePairs) {
    EXPECT_EQ(HexEncode(std::string("\x00\x0f\xa0\xff", 4)), "000fa0ff");
    EXPECT_EQ(HexEncode(""), "");
}

TEST(Base64, EncodesAndDecodesTheRfc4648Vectors) {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(Base64Encode(plain), encoded);
        EXPECT_EQ(Base64Decode(encoded), std::optional<std::string>(plain)) << encoded;
    }
    const std::string all = [] {
        std::string bytes;
        for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
        return bytes;
    }();
    EXPECT_EQ(Base64Decode(Base64Encode(all)), all);
}

TEST(Base64Decode, AcceptsMissingPaddingButRefusesWrongPaddingAndStrangers) {
    EXPECT_EQ(Base64Decode("Zg"), std::optional<std::string>("f"));
    EXPECT_EQ(Base64Decode("Zm8"), std::optional<std::string>("fo"));
    for (const char* bad : {"Z", "Zg=", "Zg===", "Zm9v=", "=Zm9", "Zm 9v", "Zm9v\n", "Zm-_",
                            "Zh==", "Zm9=", "Z===", "===="}) {
        EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
    }
}

TEST(ConstantTimeEquals, ComparesContentsAndLengths) {
    EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
    EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
    EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
    EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace commons
