// The CUDA side of make_backend(): device discovery and registration.
// Call register_cuda_backend() once at start-up (src/cli/main.cpp does, under
// #ifdef PERSONAS_HAVE_CUDA); make_backend(BackendKind::automatic) then tries the GPU first.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"

namespace personas {

// Number of visible CUDA devices, or 0 with `reason` set (no driver, no
// device, CUDA_VISIBLE_DEVICES empty, ...). Never throws.
int cuda_device_count(std::string& reason);

// A CudaBackend on device `device_index % cuda_device_count()`, or nullptr with
// `reason` set when no GPU answers or the device fails to initialise.
std::unique_ptr<Backend> make_cuda_backend(int device_index, std::string& reason);

// register_cuda_backend_factory(&make_cuda_backend).
void register_cuda_backend();

}  // namespace personas
