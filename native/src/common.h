// Shared plumbing for every exported function: the exception guard and the thread-local last error.
// Rule of this library: no C++ exception may cross the C ABI (it would abort the .NET process), so
// every exported function body runs inside wsss::guarded(), which turns any exception into a
// non-zero status and a message readable through wsss_last_error().
#pragma once

#include <cstdint>
#include <exception>
#include <new>
#include <string>

#include "wsss_native.h"

namespace wsss {

void set_last_error(const std::string& message);
void clear_last_error();
const char* last_error_cstr();
// Translates the exception currently being handled into the last-error message.
void set_last_error_from_current_exception();

template <class F>
inline int32_t guarded(F&& body) noexcept {
    try {
        body();
        return WSSS_OK;
    } catch (...) {
        set_last_error_from_current_exception();
        return WSSS_ERROR;
    }
}

}  // namespace wsss

#define WSSS_EXPORT extern "C" __attribute__((visibility("default")))
