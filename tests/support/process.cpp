#include "tests/support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace pgtenant::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

void make_pipe(std::array<int, 2>& fds) {
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
}

// Shuttles stdin/stdout/stderr until both outputs close or the deadline passes.
bool pump(int in_fd, int out_fd, int err_fd, const std::string& input, CommandResult& result,
          Clock::time_point deadline) {
    std::size_t written = 0;
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    while (out_fd >= 0 || err_fd >= 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            break;
        }
        std::array<pollfd, 3> fds{pollfd{out_fd, POLLIN, 0}, pollfd{err_fd, POLLIN, 0},
                                  pollfd{in_fd, POLLOUT, 0}};
        int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) {
                continue;
            }
            char buf[8192];
            ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                (i == 0 ? out_fd : err_fd) = -1;
            }
        }
        if (in_fd >= 0 && fds[2].revents != 0) {
            ssize_t put = ::write(in_fd, input.data() + written, input.size() - written);
            if (put > 0) {
                written += static_cast<std::size_t>(put);
            }
            if (put < 0 && errno != EINTR) {
                written = input.size();  // reader went away; nothing more to deliver
            }
            if (written == input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
    }
    for (int fd : {in_fd, out_fd, err_fd}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    return Clock::now() < deadline;
}

}  // namespace

std::string CommandResult::describe() const {
    std::string s = timed_out ? "timed out" : "exit code " + std::to_string(exit_code);
    s += "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
    return s;
}

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& overrides) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry(*e);
        auto name = entry.substr(0, entry.find('='));
        if (overrides.count(name) == 0) {
            env.push_back(std::move(entry));
        }
    }
    for (const auto& [name, value] : overrides) {
        env.push_back(name + "=" + value);
    }
    return env;
}

CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options) {
    // A program that exits before reading its stdin must not kill the test with SIGPIPE.
    static const bool sigpipe_ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)sigpipe_ignored;
    std::vector<std::string> args = argv;
    std::vector<std::string> env = merged_environment(options.env);
    auto c_args = c_strings(args);
    auto c_env = c_strings(env);
    std::array<int, 2> in{}, out{}, err{};
    make_pipe(in);
    make_pipe(out);
    make_pipe(err);

    pid_t pid = ::fork();
    if (pid < 0) {
        throw std::system_error(errno, std::generic_category(), "fork");
    }
    if (pid == 0) {
        // Own process group so a timeout can kill whatever the program started.
        ::setpgid(0, 0);
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        if (options.cwd && ::chdir(options.cwd->c_str()) != 0) {
            ::_exit(126);
        }
        ::execvpe(c_args[0], c_args.data(), c_env.data());
        const char msg[] = "exec failed\n";
        [[maybe_unused]] auto ignored = ::write(2, msg, sizeof msg - 1);
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);

    CommandResult result;
    bool in_time =
        pump(in[1], out[0], err[0], options.stdin_data, result, Clock::now() + options.timeout);
    if (!in_time) {
        result.timed_out = true;
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!result.timed_out && WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    }
    return result;
}

std::vector<std::string> as_postgres(std::vector<std::string> argv) {
    if (::geteuid() != 0) {
        return argv;
    }
    std::vector<std::string> out{"runuser", "-u", "postgres", "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

CommandResult run_checked(const std::vector<std::string>& argv, const CommandOptions& options) {
    auto result = run_command(argv, options);
    if (!result.ok()) {
        std::string cmd;
        for (const auto& a : argv) {
            cmd += a + " ";
        }
        throw std::runtime_error("command failed: " + cmd + "\n" + result.describe());
    }
    return result;
}

}  // namespace pgtenant::testing
