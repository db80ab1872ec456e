// Hostile and broken SCRAM input: every case must end in `failed`, never a throw or a crash.
#include <gtest/gtest.h>

#include <random>

#include "auth/crypto.h"
#include "auth/scram.h"

namespace pgtenant::auth {
namespace {

using Kind = AuthStep::Kind;
using namespace std::string_literals;

const ScramSecret& secret() {
    static const ScramSecret s = make_scram_secret("pw", "0123456789abcdef", 16);
    return s;
}

// A server that has answered "n,,n=,r=CLIENT" with nonce CLIENTSERVER, and the valid final.
struct ServerAtFinal {
    ScramServer server{secret()};
    std::string valid_final;
    ServerAtFinal() {
        server.set_nonce_for_test("SERVER");
        ScramClient client("pw");
        client.set_nonce_for_test("CLIENT");
        client.first_message();
        const AuthStep first = server.step("n,,n=,r=CLIENT");
        valid_final = client.step(first.message).message;
    }
};

// A client that has sent its first message with nonce CLIENT.
struct ClientAtFirst {
    ScramClient client{"pw"};
    ClientAtFirst() {
        client.set_nonce_for_test("CLIENT");
        client.first_message();
    }
};

// A client that has answered a valid server-first; also the server-final it expects.
struct ClientAtFinal {
    ScramClient client{"pw"};
    std::string valid_final;
    ClientAtFinal() {
        ScramServer server(secret());
        valid_final = server.step(client.first_message()).message;
        valid_final = server.step(client.step(valid_final).message).message;
    }
};

TEST(ScramMalformed, ClientFirst) {
    for (const std::string& bad : {
             ""s,
             "n"s,
             "n,"s,
             "n,,"s,
             "n,,n="s,
             "n,,n=,r="s,
             "n,,r=abc"s,
             "n,,r=abc,n="s,
             "n,,n=,r=abc,"s,
             "n,,n=,r=ab c"s,
             "n,,n=,r=abc\0def"s,
             "\0,,n=,r=abc"s,
             "p=tls-server-end-point,,n=,r=abc"s,
             "p,,n=,r=abc"s,
             "x,,n=,r=abc"s,
             "N,,n=,r=abc"s,
             "n,a=bob,n=,r=abc"s,
             "n,,m=ext,n=,r=abc"s,
             "n,,n,r=abc"s,
             "n,,n=,=abc"s,
             "n,,n=,rr=abc"s,
             ",,n=,r=abc"s,
             "n,,n=,r=abc\xff"s,
             std::string(100000, 'n'),
         }) {
        ScramServer server(secret());
        const AuthStep step = server.step(bad);
        EXPECT_EQ(step.kind, Kind::failed) << "input: " << bad;
        EXPECT_FALSE(step.message.empty());
        // A failed machine stays failed.
        EXPECT_EQ(server.step("n,,n=,r=abc").kind, Kind::failed);
    }
}

TEST(ScramMalformed, ChannelBindingRequestIsExplained) {
    ScramServer server(secret());
    const AuthStep step = server.step("p=tls-server-end-point,,n=,r=abc");
    EXPECT_EQ(step.kind, Kind::failed);
    EXPECT_NE(step.message.find("channel binding"), std::string::npos) << step.message;
}

TEST(ScramMalformed, ClientFinal) {
    const std::string valid = ServerAtFinal().valid_final;
    const std::string proof = valid.substr(valid.find(",p=") + 3);
    const std::string flipped_proof = (proof[0] == 'A' ? "B" : "A") + proof.substr(1);
    for (const std::string& bad : {
             ""s,
             "c=biws"s,
             "c=biws,r=CLIENTSERVER"s,
             "r=CLIENTSERVER,c=biws,p=" + proof,
             "c=biws,p=" + proof + ",r=CLIENTSERVER",
             "c=biws,r=CLIENTSERVER,p="s,
             "c=biws,r=CLIENTSERVER,p=" + proof + ",x=y",
             "c=biws,r=CLIENTSERVER,p=" + flipped_proof,
             "c=biws,r=CLIENTSERVER,p=" + proof.substr(0, 40),
             "c=biws,r=CLIENTSERVER,p=" + proof.substr(0, 40) + "====",
             "c=biws,r=CLIENTSERVER,p=" + crypto::base64_encode(std::string(31, 'x')),
             "c=biws,r=CLIENTSERVER,p=" + crypto::base64_encode(std::string(33, 'x')),
             "c=biws,r=CLIENTSERVER,p=!!!!" + proof.substr(4),
             "c=biws,r=CLIENTSERVEX,p=" + proof,
             "c=biws,r=CLIENT,p=" + proof,
             "c=biws,r=CLIENTSERVERX,p=" + proof,
             "c=biws,r=,p=" + proof,
             "c=eSws,r=CLIENTSERVER,p=" + proof,
             "c=biw,r=CLIENTSERVER,p=" + proof,
             "c=,r=CLIENTSERVER,p=" + proof,
             "c=biws,r=CLIENTSERVER,p=" + proof + "\0"s,
             "c=biws,r=CLIENT\0SERVER,p="s + proof,
             valid + ",",
             valid.substr(0, valid.size() - 1),
         }) {
        ServerAtFinal s;
        ASSERT_EQ(s.valid_final, valid);
        const AuthStep step = s.server.step(bad);
        EXPECT_EQ(step.kind, Kind::failed) << "input: " << bad;
        EXPECT_EQ(s.server.step(valid).kind, Kind::failed);  // no second try
    }
    ServerAtFinal s;
    EXPECT_EQ(s.server.step(valid).kind, Kind::done);  // the fixture itself is sound
}

TEST(ScramMalformed, ServerFirst) {
    const std::string salt = crypto::base64_encode("0123456789abcdef");
    for (const std::string& bad : {
             ""s,
             "r="s,
             "r=CLIENTSERVER"s,
             "r=CLIENTSERVER,s=" + salt,
             "r=CLIENT,s=" + salt + ",i=16",       // no server part
             "r=OTHERSERVER,s=" + salt + ",i=16",  // does not extend our nonce
             "r=CLIENTSERVER,s=,i=16"s,            // empty salt
             "r=CLIENTSERVER,s=%%%%,i=16"s,        // bad base64
             "r=CLIENTSERVER,s=" + salt + ",i=0",
             "r=CLIENTSERVER,s=" + salt + ",i=-1",
             "r=CLIENTSERVER,s=" + salt + ",i=+16",
             "r=CLIENTSERVER,s=" + salt + ",i=016",
             "r=CLIENTSERVER,s=" + salt + ",i=1000001",
             "r=CLIENTSERVER,s=" + salt + ",i=99999999999999999999",
             "r=CLIENTSERVER,s=" + salt + ",i=16x",
             "r=CLIENTSERVER,s=" + salt + ",i=",
             "s=" + salt + ",r=CLIENTSERVER,i=16",
             "m=ext,r=CLIENTSERVER,s=" + salt + ",i=16",
             "r=CLIENTSERVER,s=" + salt + ",i=16\0"s,
             "r=CLIENT SERVER,s=" + salt + ",i=16",
             "e=other-error"s,
         }) {
        ClientAtFirst c;
        const AuthStep step = c.client.step(bad);
        EXPECT_EQ(step.kind, Kind::failed) << "input: " << bad;
    }
    ClientAtFirst c;
    EXPECT_EQ(c.client.step("r=CLIENTSERVER,s=" + salt + ",i=1,x=ext").kind, Kind::reply);
}

TEST(ScramMalformed, ServerFinal) {
    const std::string valid = ClientAtFinal().valid_final;
    const std::string sig = valid.substr(2);
    for (const std::string& bad : {
             ""s,
             "v="s,
             "v=" + sig.substr(0, 40),
             "v=" + crypto::base64_encode(std::string(32, 'x')),
             (sig[0] == 'A' ? "v=B"s : "v=A"s) + sig.substr(1),
             "x=" + sig,
             "e=invalid-proof"s,
             valid + "\0"s,
             "v=" + sig + ",",
             "v=!!" + sig.substr(2),
         }) {
        ClientAtFinal c;
        EXPECT_EQ(c.client.step(bad).kind, Kind::failed) << "input: " << bad;
        EXPECT_EQ(c.client.step(c.valid_final).kind, Kind::failed);  // no second try
    }
    ClientAtFinal c;
    EXPECT_EQ(c.client.step(c.valid_final).kind, Kind::done);
}

TEST(ScramMalformed, ServerErrorIsReported) {
    ClientAtFinal c;
    const AuthStep step = c.client.step("e=invalid-proof");
    EXPECT_EQ(step.kind, Kind::failed);
    EXPECT_NE(step.message.find("invalid-proof"), std::string::npos);
}

TEST(ScramMalformed, ClientStepBeforeFirstMessage) {
    ScramClient client("pw");
    EXPECT_EQ(client.step("r=abc,s=c2FsdA==,i=16").kind, Kind::failed);
}

// Bounded, deterministic fuzz: random bytes and mutations of valid messages at every step.
std::string random_message(std::mt19937& rng) {
    static constexpr std::string_view alphabet = "nypcrsivemxa=,,,biwsCLIENTSERVER0123456789+/\0";
    std::string out(rng() % 120, '\0');
    const bool raw = rng() % 4 == 0;
    for (char& ch : out)
        ch = raw ? static_cast<char>(rng() & 0xff) : alphabet[rng() % alphabet.size()];
    return out;
}

std::string mutate(std::string s, std::mt19937& rng) {
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
        const std::size_t at = s.empty() ? 0 : rng() % s.size();
        switch (rng() % 4) {
            case 0:
                if (!s.empty()) s[at] = static_cast<char>(rng() & 0xff);
                break;
            case 1:
                if (!s.empty()) s.erase(at, 1);
                break;
            case 2:
                s.insert(at, 1, static_cast<char>(rng() & 0xff));
                break;
            default:
                s.resize(at);
                break;
        }
    }
    return s;
}

TEST(ScramFuzz, StepNeverThrows) {
    std::mt19937 rng(20240601);
    const std::string valid_first = "n,,n=,r=CLIENT";
    const std::string salt = crypto::base64_encode("0123456789abcdef");
    const std::string valid_server_first = "r=CLIENTSERVER,s=" + salt + ",i=16";
    for (int i = 0; i < 1500; ++i) {
        const bool use_mutation = i % 2 == 0;
        {
            ScramServer server(i % 3 == 0 ? std::nullopt : std::optional(secret()));
            const std::string m = use_mutation ? mutate(valid_first, rng) : random_message(rng);
            EXPECT_NO_THROW(server.step(m));
            EXPECT_NO_THROW(server.step(random_message(rng)));
        }
        {
            ServerAtFinal s;
            const std::string m = use_mutation ? mutate(s.valid_final, rng) : random_message(rng);
            AuthStep step;
            EXPECT_NO_THROW(step = s.server.step(m));
            if (m != s.valid_final) {
                // Only a change that decodes to the same proof bytes may still succeed.
                EXPECT_TRUE(step.kind == Kind::failed || m.size() == s.valid_final.size()) << m;
            }
        }
        {
            ClientAtFirst c;
            const std::string m =
                use_mutation ? mutate(valid_server_first, rng) : random_message(rng);
            EXPECT_NO_THROW(c.client.step(m));
        }
        {
            ClientAtFinal c;
            const std::string m = use_mutation ? mutate(c.valid_final, rng) : random_message(rng);
            AuthStep step;
            EXPECT_NO_THROW(step = c.client.step(m));
            if (m != c.valid_final && step.kind != Kind::failed) {
                EXPECT_EQ(m.size(), c.valid_final.size()) << m;
            }
        }
    }
}

}  // namespace
}  // namespace pgtenant::auth
