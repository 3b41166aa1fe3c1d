/*
 * wsss_native: the flat C ABI of Wsss.MLNet over libtorch, plus the dense CRF and reliable seeds.
 *
 * Conventions (the C# binding in Wsss/Interop relies on them):
 *  - every function returns int32_t status: WSSS_OK (0) or WSSS_ERROR (1); on error the message is
 *    available from wsss_last_error() on the same thread until the next failing call;
 *  - results come back through out-parameters; a tensor handle is an owned heap object released with
 *    wsss_tensor_free (never twice);
 *  - arrays are passed as pointer + length; shapes as const int64_t* + ndim;
 *  - no function lets a C++ exception escape.
 * Domain sections live in the headers included at the end.
 */
#ifndef WSSS_NATIVE_H
#define WSSS_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSSS_OK 0
#define WSSS_ERROR 1
/* Bumped whenever an exported signature changes. */
#define WSSS_ABI_VERSION 2

/* Message of the last failure on this thread (UTF-8, valid until the next failure on this thread). */
const char* wsss_last_error(void);
/* ABI version; the C# side refuses a library whose version differs from its own. */
int32_t wsss_abi_version(void);

#ifdef __cplusplus
}
#endif

#include "wsss_tensor.h"
#include "wsss_seeds.h"

#endif
