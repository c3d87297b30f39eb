#include "bench/request_template.hpp"

namespace bench {
namespace {

// Template streams: the target is 0, header i is 1 + i, the body is kBodyStream. Distinct
// streams make the {{rand}} draws of different parts of one request independent.
constexpr std::uint32_t kTargetStream = 0;
constexpr std::uint32_t kBodyStream = 0xffff;

}  // namespace

commons::Result<RequestTemplate, std::string> RequestTemplate::Parse(
    std::string_view method, std::string_view target, const std::vector<std::string>& header_lines,
    std::string_view body) {
    if (!IsValidMethod(method)) return "invalid method \"" + std::string(method) + "\"";
    auto target_template = Template::Parse(target);
    if (!target_template) return "URL: " + target_template.error();
    auto body_template = Template::Parse(body);
    if (!body_template) return "body: " + body_template.error();
    RequestTemplate parsed(std::string(method), std::move(target_template).value(),
                           std::move(body_template).value());
    for (const std::string& line : header_lines) {
        auto header = ParseHeaderLine(line);
        if (!header) return "--header: " + header.error();
        auto value = Template::Parse(header.value().value);
        if (!value) return "header " + header.value().name + ": " + value.error();
        parsed.headers_.emplace_back(header.value().name, std::move(value).value());
    }
    return parsed;
}

HttpRequest RequestTemplate::Make(const TemplateRun& run, std::uint64_t seq) const {
    HttpRequest request;
    request.method = method_;
    request.target.clear();
    target_.ExpandTo(run, seq, kTargetStream, request.target);
    request.headers.reserve(headers_.size());
    std::uint32_t stream = kTargetStream + 1;
    for (const auto& [name, value] : headers_) {
        Header header{name, {}};
        value.ExpandTo(run, seq, stream++, header.value);
        request.headers.push_back(std::move(header));
    }
    body_.ExpandTo(run, seq, kBodyStream, request.body);
    return request;
}

}  // namespace bench
