#pragma once

// A deliberately small blocking HTTP/1.1 client over POSIX sockets, for tests. It does not
// share code with commons/http, so it can catch that server's mistakes.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace test_support {

struct HttpReply {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    bool connection_closed = false;  // the server closed after this reply

    std::optional<std::string> Header(const std::string& lower_name) const;
};

// One TCP connection to 127.0.0.1:port. Every call has a deadline and throws
// std::runtime_error when it passes, so a hanging server fails the test instead of hanging it.
class HttpConnection {
  public:
    explicit HttpConnection(std::uint16_t port,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    void SendRaw(const std::string& bytes);
    // Reads one response (Content-Length framed, or until close). `expect_body` is false for
    // the reply to a HEAD request, which has headers only.
    HttpReply ReadReply(bool expect_body = true);
    // Sends a request with Content-Length and reads the reply.
    HttpReply Request(const std::string& method, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers = {},
                      const std::string& body = "");
    // True once the server has closed the connection (reads EOF before the deadline).
    bool WaitForClose();

  private:
    bool FillBuffer();
    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buffer_;
};

// One request on a fresh connection.
HttpReply Fetch(std::uint16_t port, const std::string& method, const std::string& target,
                const std::vector<std::pair<std::string, std::string>>& headers = {},
                const std::string& body = "");

}  // namespace test_support
