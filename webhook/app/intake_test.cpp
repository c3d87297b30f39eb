#include "webhook/app/intake.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace webhook::app {
namespace {

store::InboundEvent Event(std::string type) { return {"evt_1", std::move(type), "{}", 0}; }

TEST(InboundHandlers, ExactTypeWinsThenTheLongestPrefix) {
    InboundHandlers handlers;
    std::string called;
    handlers.Register("payment_intent.*", "intents", [&](const auto&) { called = "intents"; });
    handlers.Register("payment_intent.succeeded", "succeeded",
                      [&](const auto&) { called = "succeeded"; });
    handlers.Register("charge.dispute.*", "disputes", [&](const auto&) { called = "disputes"; });
    handlers.Register("charge.*", "charges", [&](const auto&) { called = "charges"; });

    EXPECT_EQ(handlers.Dispatch(Event("payment_intent.succeeded")).handler, "succeeded");
    EXPECT_EQ(called, "succeeded");
    EXPECT_EQ(handlers.Dispatch(Event("payment_intent.canceled")).handler, "intents");
    EXPECT_EQ(handlers.Dispatch(Event("charge.dispute.created")).handler, "disputes");
    EXPECT_EQ(handlers.Dispatch(Event("charge.refunded")).handler, "charges");
    EXPECT_EQ(called, "charges");
}

TEST(InboundHandlers, UnknownTypesAreProcessedWithoutAHandler) {
    InboundHandlers handlers;
    handlers.Register("payout.*", "payouts", [](const auto&) {});
    auto outcome = handlers.Dispatch(Event("customer.created"));
    EXPECT_TRUE(outcome.processed);
    EXPECT_EQ(outcome.handler, "");
    // A prefix does not match the bare word or a longer word.
    EXPECT_EQ(handlers.Dispatch(Event("payout")).handler, "");
    EXPECT_EQ(handlers.Dispatch(Event("payouts.paid")).handler, "");
}

TEST(InboundHandlers, AThrowingHandlerLeavesTheEventUnprocessedWithItsError) {
    InboundHandlers handlers;
    handlers.Register("payout.*", "payouts",
                      [](const auto&) { throw std::runtime_error("payout service unavailable"); });
    auto outcome = handlers.Dispatch(Event("payout.paid"));
    EXPECT_FALSE(outcome.processed);
    EXPECT_EQ(outcome.handler, "payouts");
    EXPECT_EQ(outcome.error, "payout service unavailable");
}

}  // namespace
}  // namespace webhook::app
