#include "proxy/admin/metrics.h"

#include <gtest/gtest.h>

namespace pgtenant::proxy::admin {
namespace {

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
}

MetricsInput three_practices() {
    MetricsInput in;
    in.version = "1.2.3";
    in.pool.size = 20;
    in.pool.open = 5;
    in.pool.idle = 3;
    in.servers_active = 2;
    for (auto [id, tx] : {std::pair{"a", 10}, {"b", 30}, {"c", 20}}) {
        Counters c;
        c.transactions = static_cast<uint64_t>(tx);
        c.clients = 2;
        c.active = 1;
        c.xact.buckets[0] = static_cast<uint64_t>(tx);
        c.xact.count = static_cast<uint64_t>(tx);
        c.xact.sum_us = 1000;
        in.practices.push_back({id, c});
    }
    in.refusals_by_rule["reserved_setting"] = 4;
    return in;
}

TEST(Metrics, TotalsGaugesAndCumulativeHistograms) {
    const std::string m = render_metrics(three_practices());
    EXPECT_TRUE(has_line(m, "pgtenant_transactions_total 60")) << m;
    EXPECT_TRUE(has_line(m, "pgtenant_clients{state=\"active\"} 3"));
    EXPECT_TRUE(has_line(m, "pgtenant_clients{state=\"idle\"} 3"));
    EXPECT_TRUE(has_line(m, "pgtenant_server_connections{state=\"active\"} 2"));
    EXPECT_TRUE(has_line(m, "pgtenant_server_connections{state=\"connecting\"} 0"));
    EXPECT_TRUE(has_line(m, "pgtenant_pool_size 20"));
    EXPECT_TRUE(has_line(m, "pgtenant_refusals_by_rule_total{rule=\"reserved_setting\"} 4"));
    EXPECT_TRUE(has_line(m, "pgtenant_transaction_seconds_bucket{le=\"0.0001\"} 60"));
    EXPECT_TRUE(has_line(m, "pgtenant_transaction_seconds_bucket{le=\"+Inf\"} 60"));
    EXPECT_TRUE(has_line(m, "pgtenant_transaction_seconds_count 60"));
    EXPECT_TRUE(has_line(m, "pgtenant_transaction_seconds_sum 0.003"));
    EXPECT_NE(m.find("# TYPE pgtenant_practice_transaction_seconds histogram"), std::string::npos);
}

TEST(Metrics, OnlyTheBusiestPracticesGetTheirOwnSeries) {
    auto in = three_practices();
    in.max_practices = 2;
    const std::string m = render_metrics(in);
    EXPECT_TRUE(has_line(m, "pgtenant_practice_transactions_total{practice=\"b\"} 30"));
    EXPECT_TRUE(has_line(m, "pgtenant_practice_transactions_total{practice=\"c\"} 20"));
    EXPECT_TRUE(has_line(m, "pgtenant_practice_transactions_total{practice=\"other\"} 10"));
    EXPECT_EQ(m.find("practice=\"a\""), std::string::npos);
    in.max_practices = 0;
    const std::string none = render_metrics(in);
    EXPECT_TRUE(has_line(none, "pgtenant_practice_transactions_total{practice=\"other\"} 60"));
}

TEST(Metrics, LabelValuesAreEscaped) {
    MetricsInput in;
    in.refusals_by_rule["we\"ird\\rule\n"] = 1;
    const std::string m = render_metrics(in);
    EXPECT_TRUE(has_line(m, "pgtenant_refusals_by_rule_total{rule=\"we\\\"ird\\\\rule\\n\"} 1"))
        << m;
}

}  // namespace
}  // namespace pgtenant::proxy::admin
