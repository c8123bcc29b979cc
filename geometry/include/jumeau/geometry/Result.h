#pragma once
// Result<T>: a value or an Error (code + message naming the file/structure). Expected failures are values;
// exceptions from toolkits are translated at module borders.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace jumeau {

enum class ErrorCode {
    NotFound,        // file or folder does not exist
    InvalidInput,    // exists but is not what we need (empty folder, no DICOM, wrong JSON ...)
    Unsupported,     // valid but not handled (e.g. JPEG 2000 with Debian's DCMTK)
    Corrupt,         // truncated or inconsistent data
    IoError,         // read/write failed
    Cancelled,       // the user cancelled long work
    Internal         // a toolkit failed unexpectedly
};

const char* toString(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;

    std::string describe() const { return std::string(toString(code)) + ": " + message; }
};

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_state(std::move(value)) {}
    Result(Error error) : m_state(std::move(error)) {}

    bool ok() const { return std::holds_alternative<T>(m_state); }
    explicit operator bool() const { return ok(); }

    T& value() & { assert(ok()); return std::get<T>(m_state); }
    const T& value() const& { assert(ok()); return std::get<T>(m_state); }
    T&& value() && { assert(ok()); return std::get<T>(std::move(m_state)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { assert(!ok()); return std::get<Error>(m_state); }

private:
    std::variant<T, Error> m_state;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)), m_ok(false) {}
    bool ok() const { return m_ok; }
    explicit operator bool() const { return m_ok; }
    const Error& error() const { assert(!m_ok); return m_error; }

private:
    Error m_error;
    bool m_ok = true;
};

inline Error makeError(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

} // namespace jumeau
