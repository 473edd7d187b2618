#include "nccl_group.h"

#include <cstring>

#include "core/errors.h"
#include "cuda_check.h"

#ifdef PERSONAS_HAVE_NCCL
#include <nccl.h>
#endif

namespace personas {

#ifdef PERSONAS_HAVE_NCCL

namespace {

void check_nccl(ncclResult_t result, const char* call, const char* file, int line) {
  if (result == ncclSuccess) return;
  const char* last = ncclGetLastError(nullptr);
  throw DeviceError(std::string("NCCL ") + call, ncclGetErrorString(result), last ? last : "", file, line);
}
#define PERSONAS_NCCL_CHECK(call) check_nccl((call), #call, __FILE__, __LINE__)

}  // namespace

bool nccl_available() { return true; }

std::vector<unsigned char> nccl_unique_id() {
  ncclUniqueId id;
  PERSONAS_NCCL_CHECK(ncclGetUniqueId(&id));
  std::vector<unsigned char> bytes(sizeof(id.internal));
  std::memcpy(bytes.data(), id.internal, sizeof(id.internal));
  return bytes;
}

NcclGroup::NcclGroup(std::span<const unsigned char> unique_id, int n_ranks, int rank, int device)
    : n_ranks_(n_ranks), rank_(rank), device_(device) {
  ncclUniqueId id;
  PERSONAS_ASSERT(unique_id.size() == sizeof(id.internal), "NcclGroup: unique id of {} bytes, expected {}",
                  unique_id.size(), sizeof(id.internal));
  PERSONAS_ASSERT(rank >= 0 && rank < n_ranks, "NcclGroup: rank {} of {}", rank, n_ranks);
  std::memcpy(id.internal, unique_id.data(), sizeof(id.internal));
  PERSONAS_CUDA_CHECK(cudaSetDevice(device_));
  ncclComm_t comm = nullptr;
  PERSONAS_NCCL_CHECK(ncclCommInitRank(&comm, n_ranks, id, rank));
  comm_ = comm;
}

NcclGroup::~NcclGroup() {
  if (comm_) ncclCommDestroy(static_cast<ncclComm_t>(comm_));
}

void NcclGroup::allreduce_sum(float* device_data, std::size_t count, cudaStream_t stream) {
  if (count == 0) return;
  PERSONAS_CUDA_CHECK(cudaSetDevice(device_));
  PERSONAS_NCCL_CHECK(ncclAllReduce(device_data, device_data, count, ncclFloat32, ncclSum,
                                    static_cast<ncclComm_t>(comm_), stream));
}

void NcclGroup::broadcast(void* device_data, std::size_t bytes, int root, cudaStream_t stream) {
  if (bytes == 0) return;
  PERSONAS_CUDA_CHECK(cudaSetDevice(device_));
  PERSONAS_NCCL_CHECK(
      ncclBroadcast(device_data, device_data, bytes, ncclUint8, root, static_cast<ncclComm_t>(comm_), stream));
}

#else  // built without NCCL

bool nccl_available() { return false; }

std::vector<unsigned char> nccl_unique_id() {
  PERSONAS_FAIL(usage, "this build has no NCCL (cmake did not find nccl.h / libnccl under the CUDA toolkit)");
}

NcclGroup::NcclGroup(std::span<const unsigned char>, int n_ranks, int rank, int device)
    : n_ranks_(n_ranks), rank_(rank), device_(device) {
  PERSONAS_FAIL(usage, "this build has no NCCL (cmake did not find nccl.h / libnccl under the CUDA toolkit)");
}
NcclGroup::~NcclGroup() = default;
void NcclGroup::allreduce_sum(float*, std::size_t, cudaStream_t) {}
void NcclGroup::broadcast(void*, std::size_t, int, cudaStream_t) {}

#endif

}  // namespace personas
