#include "commons/json_input.hpp"

#include <cctype>
#include <cmath>
#include <set>
#include <vector>

#include "commons/text.hpp"

namespace commons {
namespace {

using nlohmann::json;

// Keys are cut in a path: the message names the field, it does not echo a document.
constexpr std::size_t kPathPieceBytesMax = 64;

std::string Member(const std::string& prefix, const std::string& key) {
    std::string piece = SanitizeText(key, kPathPieceBytesMax);
    return prefix.empty() ? piece : prefix + "." + piece;
}

std::string Element(const std::string& prefix, std::size_t index) {
    return prefix + "[" + std::to_string(index) + "]";
}

JsonInputProblem TextProblemAt(const std::string& path, TextProblem problem, bool key) {
    const std::string name = path.empty() ? "the request body" : path;
    return {"parameter_invalid", path,
            (key ? "the key " : "") + name + " " + std::string(TextProblemMessage(problem))};
}

JsonInputProblem TooDeep(const std::string& path) {
    return {"invalid_json", path,
            "the request body nests more than " + std::to_string(kJsonDepthMax) + " levels deep"};
}

// Builds the document through nlohmann's own DOM builder while checking what the DOM cannot
// show afterwards (duplicate keys) and refusing early what would be costly to build (depth).
class CheckingSax : public nlohmann::json_sax<json> {
  public:
    explicit CheckingSax(json& result) : dom_(result, /*allow_exceptions=*/false) {}

    bool null() override { return Next() && dom_.null(); }
    bool boolean(bool value) override { return Next() && dom_.boolean(value); }
    bool number_integer(number_integer_t value) override {
        return Next() && dom_.number_integer(value);
    }
    bool number_unsigned(number_unsigned_t value) override {
        return Next() && dom_.number_unsigned(value);
    }
    bool number_float(number_float_t value, const string_t& text) override {
        Next();
        if (!std::isfinite(value)) {
            const std::string path = CurrentPath();
            return Fail({"invalid_json", path,
                         (path.empty() ? "the request body" : path) + " is a number beyond range"});
        }
        return dom_.number_float(value, text);
    }
    bool string(string_t& value) override {
        Next();
        if (const TextProblem problem = CheckText(value); problem != TextProblem::kNone) {
            return Fail(TextProblemAt(CurrentPath(), problem, false));
        }
        return dom_.string(value);
    }
    bool binary(binary_t& value) override { return Next() && dom_.binary(value); }
    bool start_object(std::size_t elements) override {
        return Open(true) && dom_.start_object(elements);
    }
    bool key(string_t& value) override {
        Frame& frame = frames_.back();
        frame.key = value;
        if (const TextProblem problem = CheckText(value); problem != TextProblem::kNone) {
            return Fail(TextProblemAt(CurrentPath(), problem, true));
        }
        if (!frame.keys.insert(value).second) {
            const std::string path = CurrentPath();
            return Fail({"invalid_json", path, "the key " + path + " is given more than once"});
        }
        return dom_.key(value);
    }
    bool end_object() override {
        frames_.pop_back();
        return dom_.end_object();
    }
    bool start_array(std::size_t elements) override {
        return Open(false) && dom_.start_array(elements);
    }
    bool end_array() override {
        frames_.pop_back();
        return dom_.end_array();
    }
    bool parse_error(std::size_t, const std::string&,
                     const nlohmann::detail::exception& error) override {
        // 406: a number the lexer cannot hold (1e400), at the value about to be read.
        constexpr int kNumberOutOfRange = 406;
        if (error.id == kNumberOutOfRange) {
            std::string path;
            if (!frames_.empty()) {
                const Frame& frame = frames_.back();
                path = frame.object ? Member(frame.path, frame.key)
                                    : Element(frame.path, frame.values);
            }
            return Fail({"invalid_json", path,
                         (path.empty() ? "the request body" : path) + " is a number beyond range"});
        }
        return Fail({"invalid_json", "", "the request body is not valid JSON"});
    }

    const std::optional<JsonInputProblem>& problem() const { return problem_; }

  private:
    struct Frame {
        std::string path;
        bool object;
        std::set<std::string> keys;  // an object's keys so far
        std::string key;             // an object's current key
        std::size_t values = 0;      // an array's elements so far
    };

    // Counts a value in the enclosing array (its path is then that array's last element).
    bool Next() {
        if (!frames_.empty() && !frames_.back().object) ++frames_.back().values;
        return true;
    }
    // The path of the value just started; computed only where it is needed.
    std::string CurrentPath() const {
        if (frames_.empty()) return "";
        const Frame& frame = frames_.back();
        return frame.object ? Member(frame.path, frame.key) : Element(frame.path, frame.values - 1);
    }
    bool Open(bool object) {
        Next();
        std::string path = CurrentPath();
        if (frames_.size() >= kJsonDepthMax) return Fail(TooDeep(path));
        frames_.push_back({std::move(path), object, {}, {}, 0});
        return true;
    }
    bool Fail(JsonInputProblem problem) {
        if (!problem_) problem_ = std::move(problem);
        return false;
    }

    nlohmann::detail::json_sax_dom_parser<json> dom_;
    std::vector<Frame> frames_;
    std::optional<JsonInputProblem> problem_;
};

std::optional<JsonInputProblem> Check(const json& value, const std::string& path,
                                      std::size_t depth) {
    if (value.is_string()) {
        const TextProblem problem = CheckText(value.get_ref<const std::string&>());
        if (problem == TextProblem::kNone) return std::nullopt;
        return TextProblemAt(path, problem, false);
    }
    if (!value.is_structured()) return std::nullopt;
    if (depth >= kJsonDepthMax) return TooDeep(path);
    if (value.is_object()) {
        for (const auto& item : value.items()) {
            const std::string member = Member(path, item.key());
            if (const TextProblem problem = CheckText(item.key()); problem != TextProblem::kNone) {
                return TextProblemAt(member, problem, true);
            }
            if (auto found = Check(item.value(), member, depth + 1)) return found;
        }
        return std::nullopt;
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (auto found = Check(value[i], Element(path, i), depth + 1)) return found;
    }
    return std::nullopt;
}

}  // namespace

std::variant<json, JsonInputProblem> ParseJsonInput(std::string_view body) {
    json result;
    CheckingSax sax(result);
    const bool parsed = json::sax_parse(body, &sax, json::input_format_t::json, /*strict=*/true);
    if (sax.problem()) return *sax.problem();
    if (!parsed) return JsonInputProblem{"invalid_json", "", "the request body is not valid JSON"};
    return result;
}

std::optional<JsonInputProblem> CheckJsonInput(const json& value) { return Check(value, "", 0); }

bool TakesJsonContentType(std::optional<std::string_view> content_type) {
    if (!content_type) return true;
    std::string_view media = content_type->substr(0, content_type->find(';'));
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
    while (!media.empty() && (media.front() == ' ' || media.front() == '\t'))
        media.remove_prefix(1);
    constexpr std::string_view kJson = "application/json";
    if (media.size() != kJson.size()) return false;
    for (std::size_t i = 0; i < media.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(media[i])) != kJson[i]) return false;
    }
    return true;
}

}  // namespace commons
