#include "jumeau/geometry/Result.h"

namespace jumeau {

const char* toString(ErrorCode code) {
    switch (code) {
    case ErrorCode::NotFound: return "not found";
    case ErrorCode::InvalidInput: return "invalid input";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::Corrupt: return "corrupt";
    case ErrorCode::IoError: return "I/O error";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::Internal: return "internal error";
    }
    return "error";
}

} // namespace jumeau
