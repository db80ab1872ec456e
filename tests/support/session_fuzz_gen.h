#pragma once
// The generator of session_fuzz_test: random client message sequences drawn from a grammar of
// what drivers send (simple queries, transaction control, settings, extended batches, COPY,
// pipelines) and what they should not (invalid orders, wrong parameter counts, malformed
// frames, abrupt endings). One generator per client session, seeded, so a sequence is replayed
// from its seed alone (its choices depend only on the seed and the transaction statuses
// PostgreSQL reported, which are themselves deterministic).
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace pgtenant::testing::fuzz {

// One frontend message, abstract: strings may hold "@@", replaced by the side ("p" through
// pgtenant, "d" direct) when rendered, so both sides write rows of their own.
struct Msg {
    char type = 0;  // Q P B D E C S H d c f, or 'r' for raw (hostile) bytes
    std::string a, b;
    std::vector<std::string> params;
    int n = 0;  // Execute's max_rows
};

enum class Kind {
    exchange,  // sent to both sides, replies compared
    hostile,   // sent to pgtenant only: it must answer with an error and/or close
    vanish,    // sent to both sides (unread), then the client vanishes `how`
    finish,    // a clean Terminate on both sides
};

enum class How { fin, close, rst, terminate };

struct Step {
    Kind kind = Kind::exchange;
    std::vector<Msg> msgs;
    // ReadyForQuery messages the step's messages draw: a Query after an extended message that
    // failed is skipped by PostgreSQL until the next Sync, so the count may be a range.
    int min_z = 0, max_z = 0;
    How how = How::close;
    bool half_last = false;  // vanish: only half of the last message is sent
};

std::string render(const Msg& m, const std::string& side);
std::string render(const Step& s, const std::string& side);
std::string describe(const Msg& m);
std::string describe(const Step& s);

class Generator {
  public:
    // `tag` names the sequence in markers and tokens (e.g. "c1s5"). Without `known_bugs`, the
    // generator leaves out the inputs of the pgtenant bugs it found (session_fuzz_test.cpp
    // lists them), so that a run finds new ones.
    Generator(uint64_t seed, std::string tag, bool known_bugs = false);

    // The next step, given the transaction status PostgreSQL reported last ('I', 'T', 'E').
    // After a hostile, vanish or finish step the sequence is over.
    Step next(char status);

  private:
    uint32_t pick(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
    bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }
    std::string marker() { return "@@:" + tag_ + "-" + std::to_string(++counter_); }
    std::string token() { return "tok-" + tag_ + "-" + std::to_string(++counter_); }

    std::string statement(char status, bool single);
    std::string txn_statement(char status);
    std::string set_statement(bool tracked);
    // SQL-level PREPARE / EXECUTE / DEALLOCATE of sq1 or sq2, for a simple Query of its own.
    std::string sql_prepared_statement();
    std::string read_setting();
    std::string multi_statement(char status);
    static bool runs_for_sure(const Step& s);  // no extended message since the last Sync
    void push_query(Step& s, std::string sql);
    void simple_segment(Step& s, char status);
    void extended_segment(Step& s, bool sync);
    void extended_unit(Step& s, bool valid);
    void copy_segment(Step& s);
    Step exchange(char status);
    Step hostile();
    Step vanish(char status);

    std::mt19937_64 rng_;
    std::string tag_;
    bool known_bugs_;
    int counter_ = 0;
    int steps_ = 0;
    int length_;
    // Named statements parsed so far and the parameters they were first bound with (whether
    // the Parse succeeded is PostgreSQL's business: the oracle compares).
    std::vector<std::pair<std::string, std::vector<std::string>>> named_;
    // Whether PostgreSQL may still hold an unnamed statement from an earlier step: pgtenant's
    // unnamed statement lives only until the next Sync (README), PostgreSQL's until the next
    // Parse or simple Query, so a Bind of the unnamed statement without a Parse before it in
    // the same segment is generated only when neither can hold one.
    bool unnamed_maybe_ = false;
    bool segment_unnamed_ = false;  // an unnamed Parse earlier in the current segment
    // Settings the client SET outside a plain autocommit Query: pgtenant records such a SET
    // even when its transaction rolls back (README), PostgreSQL does not, so they are not read
    // back afterwards.
    std::set<std::string> tainted_;
};

}  // namespace pgtenant::testing::fuzz
