#include <c10/util/Exception.h>

#include "common.h"

namespace wsss {
namespace {
thread_local std::string g_last_error;
}

const char* last_error_cstr() { return g_last_error.c_str(); }

void set_last_error(const std::string& message) { g_last_error = message; }
void clear_last_error() { g_last_error.clear(); }

void set_last_error_from_current_exception() {
    try {
        throw;
    } catch (const c10::Error& e) {
        // what_without_backtrace(): users want libtorch's message, not its C++ stack.
        set_last_error(e.what_without_backtrace());
    } catch (const std::bad_alloc&) {
        set_last_error("out of memory");
    } catch (const std::exception& e) {
        set_last_error(e.what());
    } catch (...) {
        set_last_error("unknown native error");
    }
}

}  // namespace wsss

WSSS_EXPORT int32_t wsss_abi_version(void) { return WSSS_ABI_VERSION; }

WSSS_EXPORT const char* wsss_last_error(void) {
    return wsss::last_error_cstr();
}
