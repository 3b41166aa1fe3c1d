/* Image decoding, encoding and resizing (OpenCV). Pixels are interleaved uint8, row-major. */
#ifndef WSSS_IMAGE_H
#define WSSS_IMAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An owned byte buffer (decoded pixels or encoded file bytes), released with wsss_buffer_free. */
typedef struct wsss_buffer wsss_buffer;

int32_t wsss_buffer_free(wsss_buffer* buffer);
int32_t wsss_buffer_copy(const wsss_buffer* buffer, uint8_t* destination, int64_t nbytes);

/* Decodes JPEG/PNG/BMP... bytes to RGB (H, W, 3); EXIF orientation is applied. */
int32_t wsss_image_decode(const uint8_t* data, int64_t length, wsss_buffer** pixels, int32_t* height, int32_t* width);
/* Encodes interleaved pixels (channels 1 = gray, 3 = RGB) as PNG. */
int32_t wsss_image_encode_png(const uint8_t* pixels, int32_t height, int32_t width, int32_t channels, int32_t compression,
                              wsss_buffer** png, int64_t* length);
/* mode: 0 nearest, 1 bilinear (pixel centres, like align_corners=false), 2 area (for shrinking) */
int32_t wsss_image_resize(const uint8_t* source, int32_t height, int32_t width, int32_t channels, uint8_t* destination,
                          int32_t out_height, int32_t out_width, int32_t mode);

#ifdef __cplusplus
}
#endif

#endif
