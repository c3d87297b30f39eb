#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace test_support {
namespace {

std::string Lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

}  // namespace

std::optional<std::string> HttpReply::Header(const std::string& lower_name) const {
    for (const auto& [name, value] : headers) {
        if (name == lower_name) return value;
    }
    return std::nullopt;
}

HttpConnection::HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        std::string error = std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
        throw std::runtime_error("connect to port " + std::to_string(port) + " failed: " + error);
    }
}

HttpConnection::~HttpConnection() {
    if (fd_ >= 0) ::close(fd_);
}

void HttpConnection::SendRaw(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            // The server may refuse a request before reading all of it (413); that is fine.
            if (errno == EPIPE || errno == ECONNRESET) return;
            throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
        }
        sent += static_cast<std::size_t>(n);
    }
}

bool HttpConnection::FillBuffer() {
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (ready == 0) throw std::runtime_error("timed out waiting for the server");
    if (ready < 0) throw std::runtime_error("poll failed");
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == ECONNRESET) return false;
    if (n < 0) throw std::runtime_error(std::string("recv failed: ") + std::strerror(errno));
    if (n == 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
}

HttpReply HttpConnection::ReadReply(bool expect_body) {
    std::size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!FillBuffer()) throw std::runtime_error("connection closed before a full reply");
    }
    HttpReply reply;
    std::string head = buffer_.substr(0, header_end);
    buffer_.erase(0, header_end + 4);
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
        throw std::runtime_error("malformed status line: " + status_line);
    }
    reply.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        auto end = head.find("\r\n", pos);
        if (end == std::string::npos) end = head.size();
        std::string line = head.substr(pos, end - pos);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            reply.headers.emplace_back(Lower(line.substr(0, colon)), value);
        }
        pos = end + 2;
    }
    if (!expect_body) {
        // Headers only.
    } else if (auto length = reply.Header("content-length")) {
        std::size_t size = std::stoul(*length);
        while (buffer_.size() < size) {
            if (!FillBuffer()) throw std::runtime_error("connection closed mid-body");
        }
        reply.body = buffer_.substr(0, size);
        buffer_.erase(0, size);
    } else {
        while (FillBuffer()) {
        }
        reply.body = std::move(buffer_);
        buffer_.clear();
        reply.connection_closed = true;
    }
    if (auto connection = reply.Header("connection"); connection && Lower(*connection) == "close") {
        reply.connection_closed = true;
    }
    return reply;
}

HttpReply HttpConnection::Request(const std::string& method, const std::string& target,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  const std::string& body) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n" + body;
    SendRaw(request);
    return ReadReply();
}

bool HttpConnection::WaitForClose() {
    try {
        while (FillBuffer()) {
        }
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

HttpReply Fetch(std::uint16_t port, const std::string& method, const std::string& target,
                const std::vector<std::pair<std::string, std::string>>& headers,
                const std::string& body) {
    HttpConnection connection(port);
    return connection.Request(method, target, headers, body);
}

}  // namespace test_support
