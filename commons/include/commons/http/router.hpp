#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "commons/http/types.hpp"

namespace commons::http {

// Where a route's handler runs.
enum class Execution {
    kBlocking,  // on the BlockingPool: anything touching PostgreSQL, Redis or files
    kInline,    // on the io thread: only for handlers that never block (health, metrics)
};

struct RouteOptions {
    Execution execution = Execution::kBlocking;
    // The API-key scope the route requires ("ledger:write"); empty for none. Checked by the
    // authentication middleware, which answers 403 when the key lacks it.
    std::string scope;
};

struct Route {
    Method method;
    std::string path_template;  // "/v1/accounts/{id}/entries"
    Handler handler;
    Execution execution;
    std::vector<std::string> segments;  // split template; "{name}" marks a parameter
    std::string scope;
};

struct RouteMatch {
    enum class Kind { kFound, kMethodNotAllowed, kNotFound };
    Kind kind = Kind::kNotFound;
    const Route* route = nullptr;
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<Method> allowed;  // for kMethodNotAllowed
};

// Matches paths against templates with `{name}` segments. Literal segments win over
// parameters when both match. Routes are added at start-up; Find() is then thread-safe.
class Router {
  public:
    // Precondition: the template starts with '/', parameters are whole segments, and the same
    // method and template are not added twice.
    void Add(Method method, std::string path_template, Handler handler,
             Execution execution = Execution::kBlocking);
    void Add(Method method, std::string path_template, Handler handler, RouteOptions options);

    // `path` is the raw (percent-encoded) path; parameter values are decoded. A parameter
    // whose value does not decode, is empty or is not storable text (commons::CheckText) does
    // not match. HEAD uses the GET route when
    // there is no HEAD route of its own (the server then sends the headers only).
    RouteMatch Find(Method method, std::string_view path) const;

    const std::vector<Route>& routes() const { return routes_; }

  private:
    RouteMatch FindExact(Method method, std::string_view path) const;

    std::vector<Route> routes_;
};

}  // namespace commons::http
