#include "commons/pg_array.hpp"

#include <stdexcept>

namespace commons {

void PgArrayBuilder::Separator() {
    if (!first_) text_ += ',';
    first_ = false;
}

PgArrayBuilder& PgArrayBuilder::Add(std::string_view text) {
    Separator();
    text_ += '"';
    for (char c : text) {
        if (c == '"' || c == '\\') text_ += '\\';
        text_ += c;
    }
    text_ += '"';
    return *this;
}

PgArrayBuilder& PgArrayBuilder::Add(std::int64_t value) {
    Separator();
    text_ += std::to_string(value);
    return *this;
}

PgArrayBuilder& PgArrayBuilder::AddBool(bool value) {
    Separator();
    text_ += value ? "t" : "f";
    return *this;
}

PgArrayBuilder& PgArrayBuilder::AddNull() {
    Separator();
    text_ += "NULL";
    return *this;
}

PgArrayBuilder& PgArrayBuilder::AddOptional(const std::optional<std::int64_t>& value) {
    return value ? Add(*value) : AddNull();
}

std::string PgArrayBuilder::Finish() {
    std::string out;
    out.swap(text_);
    out.push_back('}');
    text_.assign(1, '{');
    first_ = true;
    return out;
}

std::string PgArray(const std::vector<std::string>& values) {
    PgArrayBuilder builder;
    for (const auto& value : values) builder.Add(value);
    return builder.Finish();
}

std::string PgArray(const std::vector<std::int64_t>& values) {
    PgArrayBuilder builder;
    for (auto value : values) builder.Add(value);
    return builder.Finish();
}

std::vector<std::optional<std::string>> ParsePgArray(std::string_view literal) {
    if (literal.size() < 2 || literal.front() != '{' || literal.back() != '}') {
        throw std::invalid_argument("not an array literal");
    }
    std::vector<std::optional<std::string>> out;
    std::size_t i = 1;
    const std::size_t end = literal.size() - 1;
    if (i == end) return out;
    while (true) {
        if (literal[i] == '"') {
            std::string value;
            ++i;
            while (i < end && literal[i] != '"') {
                if (literal[i] == '\\' && i + 1 < end) ++i;
                value += literal[i++];
            }
            if (i >= end) throw std::invalid_argument("unterminated quoted array element");
            ++i;
            out.emplace_back(std::move(value));
        } else {
            std::size_t start = i;
            while (i < end && literal[i] != ',') ++i;
            std::string_view value = literal.substr(start, i - start);
            if (value == "NULL") {
                out.emplace_back(std::nullopt);
            } else {
                out.emplace_back(std::string(value));
            }
        }
        if (i == end) break;
        if (literal[i] != ',') throw std::invalid_argument("expected ',' in array literal");
        ++i;
    }
    return out;
}

}  // namespace commons
