#pragma once
// A directory under $TMPDIR (or /tmp) that is removed with everything in it when the owner
// goes away, so a failed test leaves no litter behind.
#include <filesystem>
#include <string>

namespace pgtenant::testing {

class TempDir {
  public:
    // Created under $TMPDIR (or /tmp), or under parent when one is given.
    explicit TempDir(const std::string& prefix, const std::filesystem::path& parent = {});
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // Removal is skipped when PGTENANT_KEEP_TEMP is set, to inspect logs after a failure.
    void keep() { keep_ = true; }

  private:
    std::filesystem::path path_;
    bool keep_ = false;
};

// Reads a whole file; empty when it does not exist.
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& content);

}  // namespace pgtenant::testing
