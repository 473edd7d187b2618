// An NCCL communicator for one persona group (the ranks that train the same
// adapters and allreduce their gradients). MPI stays out of cuda/: the caller
// creates the unique id on the group's first rank with nccl_unique_id(),
// broadcasts its bytes over its Comm, and every rank of the group constructs
// NcclGroup with them. Available when the build found NCCL
// (PERSONAS_HAVE_NCCL); otherwise the constructor throws.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <span>
#include <vector>

namespace personas {

// Whether this build links NCCL.
bool nccl_available();

// The opaque ncclUniqueId as bytes (NCCL_UNIQUE_ID_BYTES = 128).
std::vector<unsigned char> nccl_unique_id();

class NcclGroup {
 public:
  // Collective over the group: every rank calls it with the same id bytes,
  // its rank in the group and the CUDA device it uses.
  NcclGroup(std::span<const unsigned char> unique_id, int n_ranks, int rank, int device);
  ~NcclGroup();
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return n_ranks_; }
  // In-place sum over the group of `count` floats in device memory, enqueued on
  // `stream` (synchronise the stream before reading the result on the host).
  void allreduce_sum(float* device_data, std::size_t count, cudaStream_t stream);
  // In-place broadcast of `bytes` of device memory from group rank `root`.
  void broadcast(void* device_data, std::size_t bytes, int root, cudaStream_t stream);

 private:
  void* comm_ = nullptr;  // ncclComm_t
  int n_ranks_ = 0;
  int rank_ = 0;
  int device_ = 0;
};

}  // namespace personas
