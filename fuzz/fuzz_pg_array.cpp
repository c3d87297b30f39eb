// PostgreSQL array literals (commons/pg_array.hpp), checked against a reference reader and
// writer of PostgreSQL's own syntax (array_in and array_out of src/backend/utils/adt/
// arrayfuncs.c, one dimension, delimiter ',').
//   - Any strings given to PgArrayBuilder::Add/PgArray come back unchanged when PostgreSQL
//     reads the literal, with integers, booleans and NULLs mixed in. Strings holding NUL are
//     left out: PostgreSQL text cannot hold NUL, and every reader of outside input refuses it
//     (commons::CheckText) before it reaches a statement.
//   - ParsePgArray reads back what the builder wrote, and what PostgreSQL prints for any array
//     of strings and NULLs.
//   - ParsePgArray on any text returns or throws std::invalid_argument, nothing else.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "commons/pg_array.hpp"

namespace {

using Elements = std::vector<std::optional<std::string>>;

bool IsArraySpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

// array_in for a one-dimensional text[]: nullopt where PostgreSQL reports a malformed literal.
std::optional<Elements> PostgresRead(std::string_view text) {
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < text.size() && IsArraySpace(text[i])) ++i;
    };
    skip_space();
    if (i == text.size() || text[i] != '{') return std::nullopt;
    ++i;
    Elements out;
    skip_space();
    if (i < text.size() && text[i] == '}') {
        ++i;
        skip_space();
        if (i != text.size()) return std::nullopt;
        return out;
    }
    for (;;) {
        skip_space();
        std::string value;
        bool quoted = false;
        bool escaped = false;
        bool in_quotes = false;
        // Length of `value` up to its last character that is quoted, escaped or not space:
        // unquoted trailing space is dropped.
        std::size_t kept = 0;
        for (;;) {
            if (i == text.size()) return std::nullopt;
            const char c = text[i];
            if (c == '\\') {
                if (i + 1 == text.size()) return std::nullopt;
                value.push_back(text[i + 1]);
                kept = value.size();
                escaped = true;
                i += 2;
            } else if (c == '"') {
                in_quotes = !in_quotes;
                quoted = true;
                kept = value.size();
                ++i;
            } else if (in_quotes) {
                value.push_back(c);
                kept = value.size();
                ++i;
            } else if (c == ',' || c == '}') {
                break;
            } else if (c == '{') {
                return std::nullopt;  // a nested dimension: not one-dimensional
            } else {
                value.push_back(c);
                if (!IsArraySpace(c)) kept = value.size();
                ++i;
            }
        }
        value.resize(kept);
        if (!quoted && !escaped && value.empty()) return std::nullopt;
        if (!quoted && !escaped && EqualsIgnoreCase(value, "NULL")) {
            out.emplace_back(std::nullopt);
        } else {
            out.emplace_back(std::move(value));
        }
        if (text[i] == '}') break;
        ++i;  // ','
    }
    ++i;
    skip_space();
    if (i != text.size()) return std::nullopt;
    return out;
}

// array_out: what PostgreSQL prints for a text[].
std::string PostgresPrint(const Elements& elements) {
    std::string out = "{";
    for (std::size_t n = 0; n < elements.size(); ++n) {
        if (n > 0) out.push_back(',');
        if (!elements[n]) {
            out += "NULL";
            continue;
        }
        const std::string& value = *elements[n];
        bool quote = value.empty() || EqualsIgnoreCase(value, "NULL");
        for (char c : value) {
            if (c == '{' || c == '}' || c == ',' || c == '"' || c == '\\' || IsArraySpace(c)) {
                quote = true;
            }
        }
        if (!quote) {
            out += value;
            continue;
        }
        out.push_back('"');
        for (char c : value) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out.push_back('"');
    }
    out.push_back('}');
    return out;
}

Elements AllPresent(const std::vector<std::string>& strings) {
    Elements out;
    for (const auto& s : strings) out.emplace_back(s);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    try {
        (void)commons::ParsePgArray(input);
    } catch (const std::invalid_argument&) {
        // Refused as malformed: the only failure it may report.
    }

    FuzzedDataProvider provider(data, size);
    std::vector<std::string> strings;
    Elements mixed_expected;
    commons::PgArrayBuilder mixed;
    Elements printed;
    while (provider.remaining_bytes() > 0 && strings.size() < 32) {
        const std::uint8_t kind = provider.ConsumeIntegral<std::uint8_t>();
        std::string text = provider.ConsumeRandomLengthString(256);
        if (text.find('\0') != std::string::npos) continue;
        switch (kind % 5) {
            case 0: {
                const auto value = static_cast<std::int64_t>(std::hash<std::string>{}(text));
                mixed.Add(value);
                mixed_expected.emplace_back(std::to_string(value));
                break;
            }
            case 1:
                mixed.AddNull();
                mixed_expected.emplace_back(std::nullopt);
                printed.emplace_back(std::nullopt);
                break;
            case 2:
                mixed.AddBool(text.size() % 2 == 0);
                mixed_expected.emplace_back(text.size() % 2 == 0 ? "t" : "f");
                break;
            default:
                mixed.Add(text);
                mixed_expected.emplace_back(text);
                break;
        }
        printed.emplace_back(text);
        strings.push_back(std::move(text));
    }

    const std::string literal = commons::PgArray(strings);
    const auto read = PostgresRead(literal);
    FUZZ_CHECK_WITH(read && *read == AllPresent(strings), literal);
    FUZZ_CHECK_WITH(commons::ParsePgArray(literal) == AllPresent(strings), literal);

    const std::string mixed_literal = mixed.Finish();
    const auto mixed_read = PostgresRead(mixed_literal);
    FUZZ_CHECK_WITH(mixed_read && *mixed_read == mixed_expected, mixed_literal);
    FUZZ_CHECK(mixed.Finish() == "{}");  // Finish() leaves the builder empty

    const std::string postgres_text = PostgresPrint(printed);
    const auto postgres_read = PostgresRead(postgres_text);
    FUZZ_CHECK_WITH(postgres_read && *postgres_read == printed, postgres_text);
    FUZZ_CHECK_WITH(commons::ParsePgArray(postgres_text) == printed, postgres_text);
    return 0;
}
