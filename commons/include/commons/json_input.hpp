#pragma once

// Included by api/ code only: it brings in nlohmann/json.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace commons {

// Deeper request bodies are refused: no field of ours nests beyond a few levels, and a bound
// keeps every recursive walk over client JSON (rendering, storing) shallow.
inline constexpr std::size_t kJsonDepthMax = 32;

// Why a request body cannot be read, for a 400 in the error shape.
struct JsonInputProblem {
    std::string code;     // "invalid_json" or "parameter_invalid"
    std::string param;    // the offending value's path ("metadata.note", "entries[1].currency");
                          // empty for the body as a whole
    std::string message;  // a sentence for the client
};

// Parses a request body as strictly as a payments API should. Refuses, as invalid_json: what is
// not one JSON value, a number beyond a double's range (1e400), a key given twice in one object
// (which value would be meant?), nesting deeper than kJsonDepthMax; as parameter_invalid: a
// string or key that is not storable text (commons::CheckText: NUL, invalid UTF-8). Every
// service's body reader goes through this, so its field readers see storable text only. Never
// throws for any input; paths are sanitised, so a problem always renders.
std::variant<nlohmann::json, JsonInputProblem> ParseJsonInput(std::string_view body);

// Whether a request's Content-Type (nullopt: none sent) lets its body be read as JSON:
// none, or application/json with any parameters ("; charset=utf-8"), in any letter case. A body
// sent as a form or text is refused (415) rather than read as something it was not meant as.
bool TakesJsonContentType(std::optional<std::string_view> content_type);

// The storable-text and depth checks of ParseJsonInput for a value that was not parsed from
// a body (built by code, or parsed leniently): the first problem, in document order.
std::optional<JsonInputProblem> CheckJsonInput(const nlohmann::json& value);

}  // namespace commons
