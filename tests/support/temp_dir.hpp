#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "commons/ids.hpp"

namespace test_support {

// A fresh directory under the system temp dir, removed with its contents at the end.
class TempDir {
  public:
    explicit TempDir(const std::string& purpose = "test")
        : path_(std::filesystem::temp_directory_path() /
                ("payments-" + purpose + "-" + commons::RandomHex(8))) {
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }

    // Writes (replaces) a file; throws when it cannot.
    void Write(const std::string& name, const std::string& content) const {
        std::ofstream out(path_ / name, std::ios::binary | std::ios::trunc);
        out << content;
        if (!out.good()) throw std::runtime_error("cannot write " + (path_ / name).string());
    }
    void Remove(const std::string& name) const { std::filesystem::remove(path_ / name); }

  private:
    std::filesystem::path path_;
};

// The whole content of a file; throws when it cannot be read.
inline std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Everything written to `file` so far (a tmpfile() a Logger writes to). Leaves the position at
// the end, so later writes append instead of overwriting from the start.
inline std::string ReadAll(std::FILE* file) {
    std::fflush(file);
    std::rewind(file);
    std::string text;
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
    std::fseek(file, 0, SEEK_END);
    return text;
}

}  // namespace test_support
