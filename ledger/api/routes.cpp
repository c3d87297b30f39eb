#include "ledger/api/routes.hpp"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "commons/http/router.hpp"
#include "commons/json_input.hpp"
#include "ledger/app/ledger.hpp"
#include "ledger/app/render.hpp"

namespace ledger::api {

namespace {

using commons::http::Method;
using commons::http::Request;
using commons::http::Response;
using commons::http::RouteOptions;
using domain::ResultCode;
using nlohmann::json;

// Limits on what clients attach, with Stripe's values: enough for references, not a database.
constexpr std::size_t kDescriptionBytesMax = 1000;
constexpr std::size_t kMetadataKeysMax = 50;
constexpr std::size_t kMetadataKeyBytesMax = 40;
constexpr std::size_t kMetadataValueBytesMax = 500;
constexpr std::size_t kNameBytesMax = 200;
constexpr std::size_t kPageLimitMax = 100;
// effective_at may not lie in the future beyond clock skew between a client and us.
constexpr domain::Micros kFutureSkewMicros = 60'000'000;

// A client's mistake found while reading its request: answered 400 with `param`.
struct InputError {
    std::string code;
    std::string message;
    std::string param;
    int status = 400;
};

[[noreturn]] void Bad(std::string code, std::string message, std::string param) {
    throw InputError{std::move(code), std::move(message), std::move(param)};
}

Response ErrorResponse(int status, std::string_view code, const std::string& message,
                       const std::string& param = {}, json extra = json::object()) {
    json error{{"type", "invalid_request_error"}, {"code", code}, {"message", message}};
    if (!param.empty()) error["param"] = param;
    for (auto& [key, value] : extra.items()) error[key] = value;
    return Response::Json(status, json{{"error", std::move(error)}}.dump());
}

json ParseBody(const Request& request) {
    if (!commons::TakesJsonContentType(request.Header("content-type"))) {
        throw InputError{"unsupported_media_type", "send the body as application/json", "", 415};
    }
    auto parsed = commons::ParseJsonInput(request.body);
    if (auto* problem = std::get_if<commons::JsonInputProblem>(&parsed)) {
        Bad(problem->code, problem->message, problem->param);
    }
    json body = std::move(std::get<json>(parsed));
    if (!body.is_object()) Bad("invalid_json", "the request body must be a JSON object", "");
    return body;
}

std::string Join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

void RejectUnknown(const json& object, std::initializer_list<std::string_view> known,
                   const std::string& prefix) {
    for (const auto& item : object.items()) {
        if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
            Bad("parameter_unknown", "unknown parameter " + item.key(), Join(prefix, item.key()));
        }
    }
}

const json* Field(const json& object, const char* name) {
    auto found = object.find(name);
    if (found == object.end() || found->is_null()) return nullptr;
    return &*found;
}

std::string StringField(const json& object, const char* name, const std::string& prefix,
                        bool required, std::size_t bytes_max) {
    const json* value = Field(object, name);
    if (!value) {
        if (required)
            Bad("parameter_missing", std::string(name) + " is required", Join(prefix, name));
        return {};
    }
    if (!value->is_string())
        Bad("parameter_invalid", std::string(name) + " must be a string", Join(prefix, name));
    const auto& text = value->get_ref<const std::string&>();
    if (text.size() > bytes_max) {
        Bad("parameter_invalid",
            std::string(name) + " is longer than " + std::to_string(bytes_max) + " bytes",
            Join(prefix, name));
    }
    return text;
}

std::optional<std::int64_t> IntegerField(const json& object, const char* name,
                                         const std::string& prefix, const char* code) {
    const json* value = Field(object, name);
    if (!value) return std::nullopt;
    if (value->is_number_unsigned()) {
        if (value->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            Bad(code, std::string(name) + " is larger than 9223372036854775807",
                Join(prefix, name));
        }
        return static_cast<std::int64_t>(value->get<std::uint64_t>());
    }
    if (value->is_number_integer()) return value->get<std::int64_t>();
    Bad(code, std::string(name) + " must be an integer", Join(prefix, name));
}

std::string IdField(const json& object, const char* name, const std::string& prefix,
                    bool required) {
    std::string id = StringField(object, name, prefix, required, domain::kIdBytesMax);
    if ((required || !id.empty()) && !domain::IsValidId(id)) {
        Bad("id_invalid", std::string(name) + " must be 1 to 64 characters of A-Z a-z 0-9 _ - . :",
            Join(prefix, name));
    }
    return id;
}

std::string Metadata(const json& object, const std::string& prefix) {
    const json* value = Field(object, "metadata");
    if (!value) return "{}";
    const std::string param = Join(prefix, "metadata");
    if (!value->is_object())
        Bad("metadata_invalid", "metadata must be an object of strings", param);
    if (value->size() > kMetadataKeysMax) {
        Bad("metadata_invalid", "metadata holds at most 50 keys", param);
    }
    for (const auto& item : value->items()) {
        if (item.key().empty() || item.key().size() > kMetadataKeyBytesMax) {
            Bad("metadata_invalid", "metadata keys are 1 to 40 bytes", param);
        }
        if (!item.value().is_string() ||
            item.value().get_ref<const std::string&>().size() > kMetadataValueBytesMax) {
            Bad("metadata_invalid", "metadata values are strings of at most 500 bytes",
                param + "." + item.key());
        }
    }
    return value->dump();  // nlohmann keeps object keys sorted: a canonical form
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Unix seconds ("1700000000") or RFC 3339 ("2026-11-22T10:00:00.5Z", "...+01:00").
std::optional<domain::Micros> ParseTime(const std::string& text) {
    if (!text.empty() &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (text.size() > 11) return std::nullopt;
        return std::stoll(text) * 1'000'000;
    }
    int year, month, day, hour, minute, second, consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                    &second, &consumed) != 6 ||
        consumed != 19) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::size_t i = 19;
    std::int64_t micros = 0;
    if (i < text.size() && text[i] == '.') {
        ++i;
        int digits = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (digits < 6) micros = micros * 10 + (text[i] - '0');
            ++digits;
            ++i;
        }
        if (digits == 0) return std::nullopt;
        for (; digits < 6; ++digits) micros *= 10;
    }
    std::int64_t offset_seconds = 0;
    if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
        ++i;
    } else if (i + 6 == text.size() && (text[i] == '+' || text[i] == '-') && text[i + 3] == ':') {
        int oh = 0, om = 0;
        if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_seconds = (oh * 3600 + om * 60) * (text[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return std::nullopt;
    }
    if (i != text.size()) return std::nullopt;
    const std::int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 +
                                 minute * 60 + second - offset_seconds;
    return seconds * 1'000'000 + micros;
}

std::optional<domain::Micros> TimeField(const json& object, const char* name,
                                        const std::string& prefix) {
    const json* value = Field(object, name);
    if (!value) return std::nullopt;
    std::optional<domain::Micros> parsed;
    if (value->is_number_integer() && !value->is_number_unsigned()) {
        auto seconds = value->get<std::int64_t>();
        if (seconds > -100'000'000'000LL && seconds < 100'000'000'000LL)
            parsed = seconds * 1'000'000;
    } else if (value->is_number_unsigned()) {
        auto seconds = value->get<std::uint64_t>();
        if (seconds < 100'000'000'000ULL) parsed = static_cast<std::int64_t>(seconds) * 1'000'000;
    } else if (value->is_string()) {
        parsed = ParseTime(value->get<std::string>());
    }
    if (!parsed) {
        Bad("parameter_invalid", std::string(name) + " must be Unix seconds or an RFC 3339 time",
            Join(prefix, name));
    }
    return parsed;
}

domain::CreateTransaction ParseCreate(app::Ledger& ledger, const json& body,
                                      const std::string& prefix) {
    RejectUnknown(body,
                  {"id", "entries", "status", "timeout_seconds", "effective_at", "description",
                   "metadata", "lock_versions"},
                  prefix);
    domain::CreateTransaction c;
    c.id = IdField(body, "id", prefix, /*required=*/true);
    const json* entries = Field(body, "entries");
    const std::string entries_param = Join(prefix, "entries");
    if (!entries) Bad("parameter_missing", "entries is required", entries_param);
    if (!entries->is_array()) Bad("parameter_invalid", "entries must be an array", entries_param);
    if (entries->size() < domain::kEntriesMin || entries->size() > domain::kEntriesMax) {
        Bad("entries_count_invalid", "a transaction has 2 to 64 entries", entries_param);
    }
    std::set<std::string> accounts;
    for (std::size_t i = 0; i < entries->size(); ++i) {
        const json& e = (*entries)[i];
        const std::string p = entries_param + "[" + std::to_string(i) + "]";
        if (!e.is_object()) Bad("parameter_invalid", "each entry must be an object", p);
        RejectUnknown(e, {"account_id", "direction", "amount", "currency"}, p);
        domain::EntrySpec entry;
        entry.account_id = IdField(e, "account_id", p, /*required=*/true);
        auto direction = domain::ParseDirection(StringField(e, "direction", p, true, 16));
        if (!direction)
            Bad("parameter_invalid", "direction must be debit or credit", p + ".direction");
        entry.direction = *direction;
        auto amount = IntegerField(e, "amount", p, "amount_invalid");
        if (!amount) Bad("parameter_missing", "amount is required", p + ".amount");
        if (*amount <= 0)
            Bad("amount_invalid", "amount must be a positive integer of minor units",
                p + ".amount");
        entry.amount = *amount;
        std::string currency = StringField(e, "currency", p, false, 16);
        if (!currency.empty()) {
            if (!ledger.FindCurrency(currency)) {
                Bad("currency_unknown", "unknown currency " + currency, p + ".currency");
            }
            entry.currency = currency;
        }
        accounts.insert(entry.account_id);
        c.entries.push_back(std::move(entry));
    }
    if (accounts.size() < 2) {
        Bad("accounts_must_be_different", "entries must name at least two accounts", entries_param);
    }
    std::string status = StringField(body, "status", prefix, false, 16);
    if (!status.empty() && status != "posted" && status != "pending") {
        Bad("parameter_invalid", "status must be posted or pending", Join(prefix, "status"));
    }
    c.pending = status == "pending";
    c.timeout_seconds = IntegerField(body, "timeout_seconds", prefix, "timeout_invalid");
    if (c.timeout_seconds) {
        if (!c.pending) {
            Bad("timeout_invalid", "timeout_seconds applies to pending transactions only",
                Join(prefix, "timeout_seconds"));
        }
        if (*c.timeout_seconds <= 0 || *c.timeout_seconds > domain::kTimeoutSecondsMax) {
            Bad("timeout_invalid", "timeout_seconds must be 1 to 31536000",
                Join(prefix, "timeout_seconds"));
        }
    }
    c.effective_at = TimeField(body, "effective_at", prefix);
    if (c.effective_at && *c.effective_at > ledger.Now() + kFutureSkewMicros) {
        Bad("parameter_invalid", "effective_at may not be in the future",
            Join(prefix, "effective_at"));
    }
    c.description = StringField(body, "description", prefix, false, kDescriptionBytesMax);
    c.metadata_json = Metadata(body, prefix);
    if (const json* versions = Field(body, "lock_versions")) {
        const std::string p = Join(prefix, "lock_versions");
        if (!versions->is_object())
            Bad("parameter_invalid", "lock_versions maps account ids to integers", p);
        for (const auto& item : versions->items()) {
            if (!accounts.count(item.key())) {
                Bad("parameter_invalid", "lock_versions names an account that is not in entries",
                    p + "." + item.key());
            }
            if (!item.value().is_number_integer() || item.value().get<std::int64_t>() < 0) {
                Bad("parameter_invalid", "lock versions are non-negative integers",
                    p + "." + item.key());
            }
            c.lock_versions.emplace_back(item.key(), item.value().get<std::int64_t>());
        }
    }
    return c;
}

json ErrorExtras(const domain::CommandResult& result) {
    json extra = json::object();
    if (result.status) extra["status"] = domain::StatusName(*result.status);
    if (!result.differing_fields.empty()) extra["fields"] = result.differing_fields;
    if (!result.account_id.empty()) extra["account_id"] = result.account_id;
    return extra;
}

// The HTTP status and message of every result code: a switch without a default, so a new code
// does not compile until it is mapped here (STYLE.md).
std::pair<int, std::string> StatusOf(const domain::CommandResult& r) {
    const std::string& id = r.transaction_id;
    switch (r.code) {
        case ResultCode::kOk:
            return {201, ""};
        case ResultCode::kReplayed:
            return {200, ""};
        case ResultCode::kIdInvalid:
            return {400, "the transaction id is invalid"};
        case ResultCode::kEntriesCountInvalid:
            return {400, "a transaction has 2 to 64 entries"};
        case ResultCode::kAmountInvalid:
            return {400, "amounts must be positive integers"};
        case ResultCode::kAccountsMustBeDifferent:
            return {400, "entries must name at least two accounts"};
        case ResultCode::kTimeoutInvalid:
            return {400, "timeout_seconds is invalid"};
        case ResultCode::kLockVersionAccountInvalid:
            return {400, "lock_versions names an account not in entries"};
        case ResultCode::kAccountNotFound:
            return {422, "account " + r.account_id + " does not exist"};
        case ResultCode::kAccountClosed:
            return {422, "account " + r.account_id + " is closed"};
        case ResultCode::kCurrencyMismatch:
            return {422,
                    "account " + r.account_id + " holds another currency than the entry states"};
        case ResultCode::kUnbalanced:
            return {422, "debits do not equal credits in every currency"};
        case ResultCode::kExceedsCredits:
            return {422, "account " + r.account_id + " would have more debits than credits"};
        case ResultCode::kExceedsDebits:
            return {422, "account " + r.account_id + " would have more credits than debits"};
        case ResultCode::kLockVersionMismatch:
            return {422, "account " + r.account_id + " has another lock_version"};
        case ResultCode::kOverflow:
            return {422, "an amount would overflow a 64-bit counter"};
        case ResultCode::kExistsWithDifferentFields: {
            std::string fields;
            for (const auto& f : r.differing_fields) fields += (fields.empty() ? "" : ", ") + f;
            return {409, "transaction " + id + " exists with different " + fields};
        }
        case ResultCode::kTransactionNotFound:
            return {404, "no such transaction"};
        case ResultCode::kNotPending:
            return {422, "transaction " + id + " is " +
                             std::string(domain::StatusName(
                                 r.status.value_or(domain::TransactionStatus::kPosted)))};
        case ResultCode::kNotDue:
            return {422, "transaction " + id + " has not timed out"};
        case ResultCode::kPostAmountsInvalid:
            return {422,
                    "post amounts must be one per entry, between 0 and the pending amount, not all "
                    "0, and balance"};
        case ResultCode::kNotPosted:
            return {422, "only posted transactions can be reversed; this one is " +
                             std::string(domain::StatusName(
                                 r.status.value_or(domain::TransactionStatus::kPending)))};
        case ResultCode::kAlreadyReversed:
            return {422, "the transaction is already reversed"};
        case ResultCode::kBatchFailed:
            return {422, "not applied: transaction " + std::to_string(r.failed_index.value_or(0)) +
                             " of the atomic batch failed"};
    }
    return {500, "unmapped result"};
}

// Renders one command's result: the transaction, or the error.
Response ResultResponse(const domain::CommandResult& result, const app::BatchResult& batch,
                        int success_status) {
    auto [status, message] = StatusOf(result);
    if (status < 300) {
        const auto& transaction = batch.transactions.at(result.transaction_id);
        Response response =
            Response::Json(status == 201 ? success_status : 200, app::TransactionJson(transaction));
        if (result.code == ResultCode::kReplayed) response.SetHeader("Idempotent-Replayed", "true");
        return response;
    }
    return ErrorResponse(status, domain::ResultCodeName(result.code), message, "",
                         ErrorExtras(result));
}

app::PageQuery ParsePage(const Request& request) {
    app::PageQuery page;
    if (auto limit = request.QueryParam("limit")) {
        if (limit->empty() || limit->size() > 3 ||
            !std::all_of(limit->begin(), limit->end(),
                         [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoul(*limit) < 1 || std::stoul(*limit) > kPageLimitMax) {
            Bad("parameter_invalid", "limit must be 1 to 100", "limit");
        }
        page.limit = std::stoul(*limit);
    }
    page.starting_after = request.QueryParam("starting_after");
    page.ending_before = request.QueryParam("ending_before");
    if (page.starting_after && page.ending_before) {
        Bad("parameter_invalid", "give starting_after or ending_before, not both", "ending_before");
    }
    return page;
}

template <typename T, typename Render>
Response ListResponse(const app::Page<T>& page, const std::string& url, Render render) {
    std::string data = "[";
    for (std::size_t i = 0; i < page.items.size(); ++i) {
        if (i) data += ',';
        data += render(page.items[i]);
    }
    data += ']';
    return Response::Json(200, std::string(R"({"object":"list","url":)") + json(url).dump() +
                                   ",\"has_more\":" + (page.has_more ? "true" : "false") +
                                   ",\"data\":" + data + "}");
}

using Body = std::function<Response(Request&)>;

// Wraps a handler: InputError becomes 400 with the error shape; anything else propagates to
// the error boundary (503/500).
commons::http::Handler Guarded(Body body) {
    return [body = std::move(body)](Request& request) {
        try {
            return body(request);
        } catch (const InputError& error) {
            return ErrorResponse(error.status, error.code, error.message, error.param);
        }
    };
}

Response AccountNotFound() {
    return ErrorResponse(404, "resource_missing", "no such account", "id");
}

Response CurrencyJson(int status, const commons::Currency& c) {
    return Response::Json(
        status, json{{"object", "currency"}, {"code", c.code}, {"exponent", c.exponent}}.dump());
}

}  // namespace

void AddRoutes(app::Ledger& ledger, commons::http::Router& router) {
    const RouteOptions read{commons::http::Execution::kBlocking, "ledger:read"};
    const RouteOptions write{commons::http::Execution::kBlocking, "ledger:write"};
    const RouteOptions admin{commons::http::Execution::kBlocking, "ledger:admin"};

    router.Add(
        Method::kPost, "/v1/currencies", Guarded([&ledger](Request& request) {
            json body = ParseBody(request);
            RejectUnknown(body, {"code", "exponent"}, "");
            commons::Currency currency;
            currency.code = StringField(body, "code", "", true, 16);
            if (!commons::IsValidCurrencyCode(currency.code)) {
                Bad("parameter_invalid", "code is 3 to 12 of A-Z and 0-9, starting with a letter",
                    "code");
            }
            auto exponent = IntegerField(body, "exponent", "", "parameter_invalid");
            if (!exponent) Bad("parameter_missing", "exponent is required", "exponent");
            if (*exponent < 0 || *exponent > commons::kCurrencyExponentMax) {
                Bad("parameter_invalid", "exponent must be 0 to 18", "exponent");
            }
            currency.exponent = static_cast<int>(*exponent);
            switch (ledger.RegisterCurrency(currency)) {
                case app::CurrencyStatus::kCreated:
                    return CurrencyJson(201, currency);
                case app::CurrencyStatus::kExisting:
                    return CurrencyJson(200, currency);
                case app::CurrencyStatus::kConflict:
                    return ErrorResponse(
                        409, "currency_exists_with_different_exponent",
                        "currency " + currency.code + " exists with another exponent", "exponent");
                case app::CurrencyStatus::kInvalid:
                    return ErrorResponse(400, "parameter_invalid", "invalid currency", "code");
            }
            return ErrorResponse(500, "internal", "unmapped");
        }),
        admin);
    router.Add(Method::kGet, "/v1/currencies", Guarded([&ledger](Request&) {
                   json data = json::array();
                   for (const auto& c : ledger.Currencies()) {
                       data.push_back(
                           {{"object", "currency"}, {"code", c.code}, {"exponent", c.exponent}});
                   }
                   return Response::Json(200, json{{"object", "list"},
                                                   {"url", "/v1/currencies"},
                                                   {"has_more", false},
                                                   {"data", std::move(data)}}
                                                  .dump());
               }),
               read);

    router.Add(
        Method::kPost, "/v1/accounts", Guarded([&ledger](Request& request) {
            json body = ParseBody(request);
            RejectUnknown(body, {"id", "currency", "normal_balance", "name", "flags", "metadata"},
                          "");
            app::NewAccount account;
            account.id = IdField(body, "id", "", /*required=*/false);
            account.currency = StringField(body, "currency", "", true, 16);
            if (!ledger.FindCurrency(account.currency)) {
                Bad("currency_unknown", "unknown currency " + account.currency, "currency");
            }
            auto side =
                domain::ParseNormalBalance(StringField(body, "normal_balance", "", true, 16));
            if (!side)
                Bad("parameter_invalid", "normal_balance must be debit or credit",
                    "normal_balance");
            account.normal_balance = *side;
            account.name = StringField(body, "name", "", false, kNameBytesMax);
            if (const json* flags = Field(body, "flags")) {
                if (!flags->is_object())
                    Bad("parameter_invalid", "flags must be an object", "flags");
                RejectUnknown(*flags,
                              {"debits_must_not_exceed_credits", "credits_must_not_exceed_debits"},
                              "flags");
                for (const char* name :
                     {"debits_must_not_exceed_credits", "credits_must_not_exceed_debits"}) {
                    const json* flag = Field(*flags, name);
                    if (flag && !flag->is_boolean())
                        Bad("parameter_invalid", "flags are booleans",
                            std::string("flags.") + name);
                }
                account.flags.debits_must_not_exceed_credits =
                    flags->value("debits_must_not_exceed_credits", false);
                account.flags.credits_must_not_exceed_debits =
                    flags->value("credits_must_not_exceed_debits", false);
                if (account.flags.debits_must_not_exceed_credits &&
                    account.flags.credits_must_not_exceed_debits) {
                    Bad("parameter_invalid", "an account may carry only one of the two flags",
                        "flags");
                }
            }
            account.metadata_json = Metadata(body, "");
            auto outcome = ledger.CreateAccount(std::move(account));
            switch (outcome.status) {
                case app::CreateAccountStatus::kCreated:
                    return Response::Json(201, app::AccountJson(outcome.record));
                case app::CreateAccountStatus::kExisting: {
                    Response response = Response::Json(200, app::AccountJson(outcome.record));
                    response.SetHeader("Idempotent-Replayed", "true");
                    return response;
                }
                case app::CreateAccountStatus::kExistsWithDifferentFields: {
                    std::string fields;
                    for (const auto& f : outcome.differing_fields)
                        fields += (fields.empty() ? "" : ", ") + f;
                    return ErrorResponse(
                        409, "account_exists_with_different_fields",
                        "account " + outcome.record.account.id + " exists with different " + fields,
                        "id", json{{"fields", outcome.differing_fields}});
                }
            }
            return ErrorResponse(500, "internal", "unmapped");
        }),
        write);
    router.Add(
        Method::kGet, "/v1/accounts", Guarded([&ledger](Request& request) {
            app::PageQuery page = ParsePage(request);
            app::AccountFilter filter;
            filter.currency = request.QueryParam("currency");
            json metadata = json::object();
            std::string_view query = request.query;
            while (!query.empty()) {
                auto amp = query.find('&');
                std::string_view pair = query.substr(0, amp);
                query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
                auto eq = pair.find('=');
                auto key = commons::http::PercentDecode(pair.substr(0, eq), true);
                if (!key || key->rfind("metadata[", 0) != 0) continue;
                if (key->back() != ']' || key->size() <= 10)
                    Bad("parameter_invalid", "use metadata[key]=value", *key);
                auto value = commons::http::PercentDecode(
                    eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
                if (!value) Bad("parameter_invalid", "malformed percent-encoding", *key);
                metadata[key->substr(9, key->size() - 10)] = *value;
            }
            if (!metadata.empty()) filter.metadata_json = metadata.dump();
            return ListResponse(ledger.store().ListAccounts(filter, page), "/v1/accounts",
                                [](const app::AccountRecord& r) { return app::AccountJson(r); });
        }),
        read);
    router.Add(Method::kGet, "/v1/accounts/{id}", Guarded([&ledger](Request& request) {
                   auto record = ledger.store().FindAccount(request.PathParam("id"));
                   if (!record) return AccountNotFound();
                   return Response::Json(200, app::AccountJson(*record));
               }),
               read);
    router.Add(Method::kGet, "/v1/accounts/{id}/balance", Guarded([&ledger](Request& request) {
                   const std::string& id = request.PathParam("id");
                   std::optional<domain::Micros> as_of;
                   if (auto text = request.QueryParam("as_of")) {
                       as_of = ParseTime(*text);
                       if (!as_of)
                           Bad("parameter_invalid",
                               "as_of must be Unix seconds or an RFC 3339 time", "as_of");
                   }
                   auto record = ledger.store().FindAccount(id);
                   if (!record) return AccountNotFound();
                   domain::Counters counters = record->account.counters;
                   if (as_of) {
                       auto past = ledger.store().CountersAsOf(id, *as_of);
                       if (!past) return AccountNotFound();
                       counters = *past;
                   }
                   json out{{"object", "balance"},
                            {"account_id", id},
                            {"currency", record->account.currency},
                            {"as_of", as_of ? json(app::UnixSeconds(*as_of)) : json(nullptr)},
                            {"balances", json::parse(app::BalancesJson(
                                             record->account.normal_balance, counters))}};
                   return Response::Json(200, out.dump());
               }),
               read);
    router.Add(
        Method::kGet, "/v1/accounts/{id}/entries", Guarded([&ledger](Request& request) {
            const std::string& id = request.PathParam("id");
            app::PageQuery page = ParsePage(request);
            for (const auto& [cursor, name] : {std::pair{&page.starting_after, "starting_after"},
                                               std::pair{&page.ending_before, "ending_before"}}) {
                if (*cursor && !domain::ParseEntryId(**cursor)) {
                    Bad("parameter_invalid",
                        std::string(name) + " must be an entry id such as ent_42", name);
                }
            }
            auto record = ledger.store().FindAccount(id);
            if (!record) return AccountNotFound();
            auto entries = ledger.store().ListEntries(id, page);
            if (!entries) return AccountNotFound();
            const auto side = record->account.normal_balance;
            return ListResponse(
                *entries, "/v1/accounts/" + id + "/entries",
                [side](const app::EntryRecord& e) { return app::EntryJson(e, side); });
        }),
        read);
    for (bool closing : {true, false}) {
        router.Add(Method::kPost, closing ? "/v1/accounts/{id}/close" : "/v1/accounts/{id}/reopen",
                   Guarded([&ledger, closing](Request& request) {
                       auto outcome = ledger.store().SetClosed(request.PathParam("id"), closing);
                       switch (outcome.status) {
                           case app::CloseStatus::kOk:
                               return Response::Json(200, app::AccountJson(*outcome.record));
                           case app::CloseStatus::kNotFound:
                               return AccountNotFound();
                           case app::CloseStatus::kHasPending:
                               return ErrorResponse(
                                   422, "account_has_pending",
                                   "the account has pending amounts; post or void them first");
                           case app::CloseStatus::kAlreadyClosed:
                               return ErrorResponse(422, "account_closed",
                                                    "the account is already closed");
                           case app::CloseStatus::kNotClosed:
                               return ErrorResponse(422, "account_not_closed",
                                                    "the account is not closed");
                       }
                       return ErrorResponse(500, "internal", "unmapped");
                   }),
                   write);
    }

    router.Add(Method::kPost, "/v1/transactions", Guarded([&ledger](Request& request) {
                   json body = ParseBody(request);
                   std::vector<domain::Command> commands{ParseCreate(ledger, body, "")};
                   auto batch = ledger.Execute(commands, domain::Atomicity::kIndependent);
                   return ResultResponse(batch.outcome.results.at(0), batch, 201);
               }),
               write);
    router.Add(
        Method::kPost, "/v1/transactions/batch", Guarded([&ledger](Request& request) {
            json body = ParseBody(request);
            RejectUnknown(body, {"atomic", "transactions"}, "");
            const json* atomic_field = Field(body, "atomic");
            if (atomic_field && !atomic_field->is_boolean())
                Bad("parameter_invalid", "atomic must be a boolean", "atomic");
            const bool atomic = atomic_field && atomic_field->get<bool>();
            const json* items = Field(body, "transactions");
            if (!items) Bad("parameter_missing", "transactions is required", "transactions");
            if (!items->is_array() || items->empty() ||
                items->size() > static_cast<std::size_t>(kBatchTransactionsMax)) {
                Bad("parameter_invalid", "transactions is an array of 1 to 1000 transactions",
                    "transactions");
            }
            // Malformed items fail alone in an independent batch and fail the whole of
            // an atomic one (with 400 naming the item).
            std::vector<domain::Command> commands;
            std::vector<std::optional<InputError>> invalid(items->size());
            std::vector<std::size_t> command_index;
            for (std::size_t i = 0; i < items->size(); ++i) {
                const std::string prefix = "transactions[" + std::to_string(i) + "]";
                try {
                    if (!(*items)[i].is_object())
                        Bad("parameter_invalid", "each transaction is an object", prefix);
                    commands.emplace_back(ParseCreate(ledger, (*items)[i], prefix));
                    command_index.push_back(i);
                } catch (InputError& error) {
                    if (atomic) throw;
                    invalid[i] = std::move(error);
                }
            }
            app::BatchResult batch;
            if (!commands.empty()) {
                batch = ledger.Execute(commands, atomic ? domain::Atomicity::kAllOrNothing
                                                        : domain::Atomicity::kIndependent);
            }
            if (atomic) {
                for (std::size_t j = 0; j < batch.outcome.results.size(); ++j) {
                    const auto& r = batch.outcome.results[j];
                    if (r.code == ResultCode::kOk || r.code == ResultCode::kReplayed ||
                        r.code == ResultCode::kBatchFailed) {
                        continue;
                    }
                    auto [status, message] = StatusOf(r);
                    json extra = ErrorExtras(r);
                    extra["index"] = command_index[j];
                    extra["transaction_id"] = r.transaction_id;
                    return ErrorResponse(
                        422, domain::ResultCodeName(r.code),
                        "transactions[" + std::to_string(command_index[j]) + "] failed (" +
                            std::to_string(status) + "): " + message + "; nothing was applied",
                        "transactions[" + std::to_string(command_index[j]) + "]", extra);
                }
            }
            json results = json::array();
            std::size_t next = 0;
            for (std::size_t i = 0; i < items->size(); ++i) {
                if (invalid[i]) {
                    json error{{"type", "invalid_request_error"},
                               {"code", invalid[i]->code},
                               {"message", invalid[i]->message},
                               {"param", invalid[i]->param}};
                    results.push_back({{"index", i}, {"status", 400}, {"error", std::move(error)}});
                    continue;
                }
                const auto& r = batch.outcome.results.at(next++);
                auto [status, message] = StatusOf(r);
                if (status < 300) {
                    results.push_back(
                        {{"index", i},
                         {"status", status},
                         {"replayed", r.code == ResultCode::kReplayed},
                         {"transaction", json::parse(app::TransactionJson(
                                             batch.transactions.at(r.transaction_id)))}});
                } else {
                    json error{{"type", "invalid_request_error"},
                               {"code", domain::ResultCodeName(r.code)},
                               {"message", message}};
                    const json extras = ErrorExtras(r);
                    for (const auto& [key, value] : extras.items()) error[key] = value;
                    results.push_back(
                        {{"index", i}, {"status", status}, {"error", std::move(error)}});
                }
            }
            return Response::Json(
                200, json{{"object", "batch"}, {"atomic", atomic}, {"results", std::move(results)}}
                         .dump());
        }),
        write);
    router.Add(Method::kGet, "/v1/transactions/{id}", Guarded([&ledger](Request& request) {
                   auto transaction = ledger.store().FindTransaction(request.PathParam("id"));
                   if (!transaction)
                       return ErrorResponse(404, "resource_missing", "no such transaction", "id");
                   return Response::Json(200, app::TransactionJson(*transaction));
               }),
               read);
    router.Add(Method::kGet, "/v1/transactions", Guarded([&ledger](Request& request) {
                   app::PageQuery page = ParsePage(request);
                   app::TransactionFilter filter;
                   filter.account_id = request.QueryParam("account_id");
                   if (auto status = request.QueryParam("status")) {
                       filter.status = domain::ParseStatus(*status);
                       if (!filter.status)
                           Bad("parameter_invalid", "status is pending, posted, voided or expired",
                               "status");
                   }
                   return ListResponse(
                       ledger.store().ListTransactions(filter, page), "/v1/transactions",
                       [](const domain::Transaction& t) { return app::TransactionJson(t); });
               }),
               read);
    router.Add(Method::kPost, "/v1/transactions/{id}/post", Guarded([&ledger](Request& request) {
                   domain::PostPending post{request.PathParam("id"), std::nullopt};
                   if (!request.body.empty()) {
                       json body = ParseBody(request);
                       RejectUnknown(body, {"amounts"}, "");
                       if (const json* amounts = Field(body, "amounts")) {
                           if (!amounts->is_array())
                               Bad("parameter_invalid", "amounts is an array, one per entry",
                                   "amounts");
                           std::vector<std::int64_t> values;
                           for (std::size_t i = 0; i < amounts->size(); ++i) {
                               const json& a = (*amounts)[i];
                               const std::string p = "amounts[" + std::to_string(i) + "]";
                               if (!a.is_number_integer() ||
                                   (a.is_number_unsigned() &&
                                    a.get<std::uint64_t>() >
                                        static_cast<std::uint64_t>(
                                            std::numeric_limits<std::int64_t>::max())) ||
                                   a.get<std::int64_t>() < 0) {
                                   Bad("amount_invalid",
                                       "post amounts are integers from 0 to the pending amount", p);
                               }
                               values.push_back(a.get<std::int64_t>());
                           }
                           post.amounts = std::move(values);
                       }
                   }
                   std::vector<domain::Command> commands{post};
                   auto batch = ledger.Execute(commands, domain::Atomicity::kIndependent);
                   return ResultResponse(batch.outcome.results.at(0), batch, 200);
               }),
               write);
    router.Add(
        Method::kPost, "/v1/transactions/{id}/void", Guarded([&ledger](Request& request) {
            if (!request.body.empty()) RejectUnknown(ParseBody(request), {}, "");
            std::vector<domain::Command> commands{domain::VoidPending{request.PathParam("id")}};
            auto batch = ledger.Execute(commands, domain::Atomicity::kIndependent);
            return ResultResponse(batch.outcome.results.at(0), batch, 200);
        }),
        write);
    router.Add(Method::kPost, "/v1/transactions/{id}/reverse", Guarded([&ledger](Request& request) {
                   json body = ParseBody(request);
                   RejectUnknown(body, {"id", "description", "metadata"}, "");
                   domain::Reverse reverse;
                   reverse.original_id = request.PathParam("id");
                   reverse.reversal_id = IdField(body, "id", "", /*required=*/true);
                   reverse.description =
                       StringField(body, "description", "", false, kDescriptionBytesMax);
                   reverse.metadata_json = Metadata(body, "");
                   std::vector<domain::Command> commands{reverse};
                   auto batch = ledger.Execute(commands, domain::Atomicity::kIndependent);
                   return ResultResponse(batch.outcome.results.at(0), batch, 201);
               }),
               write);
    router.Add(Method::kGet, "/v1/verify", Guarded([&ledger](Request&) {
                   auto report = ledger.store().Verify();
                   return Response::Json(200, app::VerifyReportJson(report));
               }),
               admin);
}

}  // namespace ledger::api
