// An owned allocation on a Backend's device with a [rows, cols] view.
#pragma once

#include <cstdint>
#include <algorithm>
#include <utility>

#include "backend/backend.h"

namespace personas {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& backend, std::int64_t rows, std::int64_t cols, DType dtype = DType::f32)
      : backend_(&backend), view_{nullptr, dtype, rows, cols} {
    view_.data = backend.allocate(static_cast<std::size_t>(std::max<std::int64_t>(rows * cols, 1)) * dtype_size(dtype));
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : backend_(o.backend_), view_(o.view_) { o.view_.data = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = o.backend_;
      view_ = o.view_;
      o.view_.data = nullptr;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  const TensorView& view() const { return view_; }
  operator TensorView() const { return view_; }  // NOLINT: views are what ops take
  bool empty() const { return view_.data == nullptr; }
  // Rows [begin, end) as a view (row-major, so contiguous).
  TensorView rows(std::int64_t begin, std::int64_t end) const { return row_slice(view_, begin, end); }

  static TensorView row_slice(const TensorView& t, std::int64_t begin, std::int64_t end) {
    TensorView s = t;
    s.data = static_cast<char*>(t.data) + static_cast<std::size_t>(begin * t.cols) * dtype_size(t.dtype);
    s.rows = end - begin;
    return s;
  }

 private:
  void reset() {
    if (backend_ != nullptr && view_.data != nullptr) backend_->release(view_.data);
    view_.data = nullptr;
  }
  Backend* backend_ = nullptr;
  TensorView view_;
};

}  // namespace personas
