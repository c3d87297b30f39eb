#include "commons/http/router.hpp"

#include <algorithm>

#include "commons/assert.hpp"
#include "commons/text.hpp"

namespace commons::http {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
    std::vector<std::string_view> segments;
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    while (true) {
        auto slash = path.find('/');
        segments.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return segments;
}

bool IsParameter(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::Add(Method method, std::string path_template, Handler handler, Execution execution) {
    Add(method, std::move(path_template), std::move(handler), RouteOptions{execution, ""});
}

void Router::Add(Method method, std::string path_template, Handler handler, RouteOptions options) {
    PAY_ASSERT(!path_template.empty() && path_template.front() == '/');
    for (const auto& route : routes_) {
        PAY_ASSERT(!(route.method == method && route.path_template == path_template));
    }
    std::vector<std::string> segments;
    for (auto segment : SplitPath(path_template)) {
        PAY_ASSERT(segment.find('{') == std::string_view::npos || IsParameter(segment));
        segments.emplace_back(segment);
    }
    routes_.push_back(Route{method, std::move(path_template), std::move(handler), options.execution,
                            std::move(segments), std::move(options.scope)});
}

RouteMatch Router::Find(Method method, std::string_view path) const {
    RouteMatch match = FindExact(method, path);
    if (method == Method::kHead && match.kind != RouteMatch::Kind::kFound) {
        RouteMatch get = FindExact(Method::kGet, path);
        if (get.kind == RouteMatch::Kind::kFound) return get;
    }
    return match;
}

RouteMatch Router::FindExact(Method method, std::string_view path) const {
    auto segments = SplitPath(path);
    RouteMatch best;
    int best_literals = -1;
    for (const auto& route : routes_) {
        if (route.segments.size() != segments.size()) continue;
        std::vector<std::pair<std::string, std::string>> params;
        int literals = 0;
        bool matches = true;
        for (std::size_t i = 0; i < segments.size() && matches; ++i) {
            const std::string& expected = route.segments[i];
            if (IsParameter(expected)) {
                auto value = PercentDecode(segments[i], false);
                // A value that is not storable text names no resource of ours.
                if (!value || value->empty() || !IsStorableText(*value)) {
                    matches = false;
                } else {
                    params.emplace_back(expected.substr(1, expected.size() - 2), std::move(*value));
                }
            } else if (expected == segments[i]) {
                ++literals;
            } else {
                matches = false;
            }
        }
        if (!matches) continue;
        if (route.method != method) {
            if (best.kind != RouteMatch::Kind::kFound) {
                best.kind = RouteMatch::Kind::kMethodNotAllowed;
                if (std::find(best.allowed.begin(), best.allowed.end(), route.method) ==
                    best.allowed.end()) {
                    best.allowed.push_back(route.method);
                }
            }
            continue;
        }
        if (literals > best_literals) {
            best_literals = literals;
            best.kind = RouteMatch::Kind::kFound;
            best.route = &route;
            best.params = std::move(params);
        }
    }
    return best;
}

}  // namespace commons::http
