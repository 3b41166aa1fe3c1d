// Image IO over OpenCV. OpenCV works in BGR; everything crossing the ABI is RGB.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstring>
#include <vector>

#include "common.h"

struct wsss_buffer {
    std::vector<uint8_t> bytes;
};

WSSS_EXPORT int32_t wsss_buffer_free(wsss_buffer* buffer) {
    return wsss::guarded([&] { delete buffer; });
}

WSSS_EXPORT int32_t wsss_buffer_copy(const wsss_buffer* buffer, uint8_t* destination, int64_t nbytes) {
    return wsss::guarded([&] {
        if (buffer == nullptr) throw std::invalid_argument("buffer is null");
        if (static_cast<int64_t>(buffer->bytes.size()) != nbytes)
            throw std::invalid_argument("buffer has " + std::to_string(buffer->bytes.size()) + " bytes, destination " +
                                        std::to_string(nbytes));
        std::memcpy(destination, buffer->bytes.data(), buffer->bytes.size());
    });
}

WSSS_EXPORT int32_t wsss_image_decode(const uint8_t* data, int64_t length, wsss_buffer** pixels, int32_t* height,
                                      int32_t* width) {
    return wsss::guarded([&] {
        if (length <= 0) throw std::invalid_argument("the image data is empty");
        cv::Mat raw(1, static_cast<int>(length), CV_8UC1, const_cast<uint8_t*>(data));
        cv::Mat bgr = cv::imdecode(raw, cv::IMREAD_COLOR);
        // imdecode signals corrupt or unsupported data by an empty Mat, not an exception.
        if (bgr.empty()) throw std::runtime_error("not a decodable image (corrupt, truncated or unsupported format)");
        cv::Mat rgb;
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        auto buffer = std::make_unique<wsss_buffer>();
        buffer->bytes.assign(rgb.data, rgb.data + rgb.total() * rgb.elemSize());
        *height = rgb.rows;
        *width = rgb.cols;
        *pixels = buffer.release();
    });
}

WSSS_EXPORT int32_t wsss_image_encode_png(const uint8_t* pixels, int32_t height, int32_t width, int32_t channels,
                                          int32_t compression, wsss_buffer** png, int64_t* length) {
    return wsss::guarded([&] {
        if (channels != 1 && channels != 3) throw std::invalid_argument("PNG encoding takes 1 or 3 channels");
        cv::Mat src(height, width, channels == 1 ? CV_8UC1 : CV_8UC3, const_cast<uint8_t*>(pixels));
        cv::Mat bgr;
        if (channels == 3) cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
        else bgr = src;
        auto buffer = std::make_unique<wsss_buffer>();
        std::vector<int> params{cv::IMWRITE_PNG_COMPRESSION, compression};
        if (!cv::imencode(".png", bgr, buffer->bytes, params)) throw std::runtime_error("PNG encoding failed");
        *length = static_cast<int64_t>(buffer->bytes.size());
        *png = buffer.release();
    });
}

WSSS_EXPORT int32_t wsss_image_resize(const uint8_t* source, int32_t height, int32_t width, int32_t channels,
                                      uint8_t* destination, int32_t out_height, int32_t out_width, int32_t mode) {
    return wsss::guarded([&] {
        if (channels < 1 || channels > 4) throw std::invalid_argument("resize takes 1 to 4 channels");
        if (height <= 0 || width <= 0 || out_height <= 0 || out_width <= 0)
            throw std::invalid_argument("resize sizes must be positive");
        int type = CV_MAKETYPE(CV_8U, channels);
        cv::Mat src(height, width, type, const_cast<uint8_t*>(source));
        cv::Mat dst(out_height, out_width, type, destination);
        int interpolation = mode == 0 ? cv::INTER_NEAREST : mode == 1 ? cv::INTER_LINEAR : cv::INTER_AREA;
        if (mode < 0 || mode > 2) throw std::invalid_argument("unknown resize mode " + std::to_string(mode));
        cv::resize(src, dst, cv::Size(out_width, out_height), 0, 0, interpolation);
        if (dst.data != destination) throw std::logic_error("resize reallocated its destination");
    });
}
