#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/http_message.hpp"
#include "bench/template.hpp"
#include "commons/result.hpp"

namespace bench {

// A request whose target, header values and body are templates (see Template), expanded once
// per request. Immutable after Parse, so Make is safe to call from several threads.
class RequestTemplate {
  public:
    // `target` is the origin-form target from the URL; `header_lines` are "Name: value";
    // `body` may be empty. Errors name the part that failed ("body: unknown placeholder ...").
    static commons::Result<RequestTemplate, std::string> Parse(
        std::string_view method, std::string_view target,
        const std::vector<std::string>& header_lines, std::string_view body);

    // The request with global sequence number `seq`.
    HttpRequest Make(const TemplateRun& run, std::uint64_t seq) const;

    const std::string& method() const { return method_; }

  private:
    RequestTemplate(std::string method, Template target, Template body)
        : method_(std::move(method)), target_(std::move(target)), body_(std::move(body)) {}

    std::string method_;
    Template target_;
    std::vector<std::pair<std::string, Template>> headers_;
    Template body_;
};

}  // namespace bench
