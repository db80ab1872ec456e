// A client whose transaction died with its server connection is answered as PostgreSQL answers
// in a failed transaction block, never as if it were in autocommit.
#include "proxy/session/aborted_transaction.h"

#include <gtest/gtest.h>

#include "protocol/builders.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace pgtenant::proxy {
namespace {

namespace build = protocol::build;

protocol::Error lost() {
    return protocol::errors::server_connection_lost("terminating connection (57P01)");
}

// Each reply's tag, with an error's SQLSTATE and a ReadyForQuery's status, e.g. "E08006 ZE".
std::string summary(std::string_view replies) {
    std::string out;
    while (!replies.empty()) {
        protocol::Frame f;
        EXPECT_EQ(protocol::peek_frame(replies, 1 << 20, f), protocol::FrameStatus::complete);
        if (!out.empty()) out += ' ';
        out += f.tag;
        if (f.tag == 'E') {
            out += std::string(protocol::decode_error_fields(f.bytes.substr(5))->sqlstate());
        } else if (f.tag == 'Z') {
            out += f.bytes[5];
        } else if (f.tag == 'C') {
            out += ':';
            out += std::string(f.bytes.substr(5, f.bytes.size() - 6));
        }
        replies.remove_prefix(f.total_size);
    }
    return out;
}

std::string query(std::string_view sql) {
    std::string m;
    build::query(m, sql);
    return m;
}

struct Client {
    AbortedTransaction t{lost(), false, false};
    ClientStatements statements;
    std::string send(const std::string& messages) {
        std::string out;
        std::string_view rest = messages;
        while (!rest.empty()) {
            protocol::Frame f;
            EXPECT_EQ(protocol::peek_frame(rest, 1 << 20, f), protocol::FrameStatus::complete);
            t.on_message(f.bytes, statements, out);
            rest.remove_prefix(f.total_size);
        }
        return summary(out);
    }
};

TEST(AbortedTransaction, RecognisesOnlyTheStatementsThatEndABlock) {
    for (auto sql : {"ROLLBACK", "rollback;", "  Abort  ", "COMMIT", "commit work",
                     "END TRANSACTION", "ROLLBACK AND NO CHAIN",
                     "/* c /* nested */ */ ROLLBACK -- bye\n;;", "rollback transaction ;"}) {
        EXPECT_TRUE(AbortedTransaction::ends_block(sql)) << sql;
    }
    for (auto sql : {"", "SELECT 1", "ROLLBACK TO SAVEPOINT a", "ROLLBACK PREPARED 'x'",
                     "COMMIT AND CHAIN", "ROLLBACK; SELECT 1", "rollbacks", "END IF",
                     "/* unterminated ROLLBACK", "COMMIT PREPARED 'x'"}) {
        EXPECT_FALSE(AbortedTransaction::ends_block(sql)) << sql;
    }
}

TEST(AbortedTransaction, FirstStatementGetsTheCauseThen25P02UntilRollback) {
    Client c;
    EXPECT_EQ(c.send(query("UPDATE t SET x = 1")), "E08006 ZE");
    EXPECT_EQ(c.send(query("SELECT 1")), "E25P02 ZE");
    EXPECT_FALSE(c.t.over());
    EXPECT_EQ(c.send(query("ROLLBACK")), "C:ROLLBACK ZI");
    EXPECT_TRUE(c.t.over());
}

TEST(AbortedTransaction, CommitAfterTheErrorReportsRollbackAsPostgresDoes) {
    Client c;
    c.send(query("SELECT 1"));
    EXPECT_EQ(c.send(query("COMMIT")), "C:ROLLBACK ZI");
    EXPECT_TRUE(c.t.over());
}

TEST(AbortedTransaction, CommitAsTheFirstMessageFailsSoNobodyReadsSuccess) {
    Client c;
    EXPECT_EQ(c.send(query("COMMIT")), "E08006 ZI");
    EXPECT_TRUE(c.t.over());
}

TEST(AbortedTransaction, RollbackAsTheFirstMessageSimplySucceeds) {
    Client c;
    EXPECT_EQ(c.send(query("ROLLBACK")), "C:ROLLBACK ZI");
    EXPECT_TRUE(c.t.over());
}

TEST(AbortedTransaction, ExtendedBatchFailsUntilSyncThenRollbackByParseBindExecute) {
    Client c;
    std::string batch;
    build::parse(batch, "", "INSERT INTO t VALUES (1)");
    build::bind(batch, "", {});
    build::execute(batch);
    build::sync(batch);
    EXPECT_EQ(c.send(batch), "E08006 ZE");

    std::string rollback;
    build::parse(rollback, "", "ROLLBACK");
    build::bind(rollback, "", {});
    build::describe(rollback, 'P', "");
    build::execute(rollback);
    build::sync(rollback);
    EXPECT_EQ(c.send(rollback), "1 2 n C:ROLLBACK ZI");
    EXPECT_TRUE(c.t.over());
}

TEST(AbortedTransaction, NamedRollbackStatementIsKeptForTheClient) {
    Client c;
    c.send(query("SELECT 1"));
    std::string m;
    build::parse(m, "S_1", "ROLLBACK");
    build::describe(m, 'S', "S_1");
    build::sync(m);
    EXPECT_EQ(c.send(m), "1 t n ZE");
    ASSERT_NE(c.statements.find("S_1"), nullptr);
    std::string use;
    build::bind(use, "S_1", {});
    build::execute(use);
    build::sync(use);
    EXPECT_EQ(c.send(use), "2 C:ROLLBACK ZI");
}

TEST(AbortedTransaction, BindOfAnOrdinaryStatementFails) {
    Client c;
    c.statements.add("S_2", "UPDATE t SET x = 2", {});
    std::string m;
    build::bind(m, "S_2", {});
    build::execute(m);
    build::sync(m);
    EXPECT_EQ(c.send(m), "E08006 ZE");
    EXPECT_EQ(c.send(m), "E25P02 ZE");
}

TEST(AbortedTransaction, LossMidBatchSkipsToTheSyncWhichReportsTheFailedBlock) {
    AbortedTransaction t(lost(), true, true);
    ClientStatements statements;
    std::string out, m;
    build::execute(m);
    build::sync(m);
    protocol::Frame f;
    std::string_view rest = m;
    while (!rest.empty()) {
        protocol::peek_frame(rest, 1 << 20, f);
        t.on_message(f.bytes, statements, out);
        rest.remove_prefix(f.total_size);
    }
    EXPECT_EQ(summary(out), "ZE");
    out.clear();
    t.on_message(query("SELECT 1"), statements, out);
    EXPECT_EQ(summary(out), "E25P02 ZE");  // the cause was reported with the batch
}

TEST(AbortedTransaction, EmptyQueryAndFunctionCallAndFlush) {
    Client c;
    EXPECT_EQ(c.send(query(" ; ")), "I ZE");
    std::string flush;
    build::flush(flush);
    EXPECT_EQ(c.send(flush), "");
    std::string fn = std::string("F") + std::string("\0\0\0\x0e", 4) + std::string(10, '\0');
    EXPECT_EQ(c.send(fn), "E08006 ZE");
}

}  // namespace
}  // namespace pgtenant::proxy
