#pragma once

// PostgreSQL array literals, for set-based statements that take a whole column as one
// parameter: `INSERT ... SELECT * FROM unnest($1::text[], $2::bigint[])` (STYLE.md, "SQL in
// one place"). libpqxx 6.4 has no array parameters, so the text form is built here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace commons {

// Builds array literals element by element: Add() quotes and escapes every text element, so
// any string (quotes, backslashes, braces, commas, "NULL") survives the round trip.
class PgArrayBuilder {
  public:
    PgArrayBuilder& Add(std::string_view text);
    PgArrayBuilder& Add(std::int64_t value);
    PgArrayBuilder& AddBool(bool value);
    PgArrayBuilder& AddNull();
    // An optional text: NULL when empty.
    PgArrayBuilder& AddOptional(const std::optional<std::int64_t>& value);
    std::string Finish();  // "{...}"; the builder is then empty again

  private:
    void Separator();
    std::string text_ = "{";
    bool first_ = true;
};

std::string PgArray(const std::vector<std::string>& values);
std::string PgArray(const std::vector<std::int64_t>& values);

// Parses a one-dimensional text array literal as PostgreSQL prints it ("{a,\"b c\",NULL}");
// NULL elements become nullopt. Throws std::invalid_argument for malformed text.
std::vector<std::optional<std::string>> ParsePgArray(std::string_view literal);

}  // namespace commons
