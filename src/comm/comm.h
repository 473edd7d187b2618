// Comm: the only door to other ranks. MpiComm wraps MPI (mpirun, or Slurm's
// srun --mpi=pmix); LocalComm is the one-process case, so every binary and test
// runs without mpirun. model/ never sees this; stages get a Comm&.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace personas {

enum class ReduceOp { sum, max, min };

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank and size among the ranks on this node (device = local rank % devices).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual std::string name() const = 0;  // "mpi" or "local"

  virtual void barrier() = 0;
  virtual void allreduce(std::span<double> data, ReduceOp op) = 0;
  virtual void allreduce(std::span<float> data, ReduceOp op) = 0;
  virtual void allreduce(std::span<std::int64_t> data, ReduceOp op) = 0;
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  // Every rank contributes `bytes_each` bytes; recv gets size()*bytes_each, rank order.
  virtual void allgather(const void* send, std::size_t bytes_each, void* recv) = 0;
  // Variable-size gather to every rank: returns each rank's bytes, rank order.
  virtual std::vector<std::vector<std::byte>> allgatherv(std::span<const std::byte> send) = 0;
  // send[r] goes to rank r; returns what each rank sent to this one.
  virtual std::vector<std::vector<std::byte>> alltoallv(const std::vector<std::vector<std::byte>>& send) = 0;
  // A sub-communicator of the ranks with the same color, ordered by key.
  virtual std::unique_ptr<Comm> split(int color, int key) = 0;
  // Ends every rank now with this exit code (no rank is left waiting).
  [[noreturn]] virtual void abort(int exit_code) = 0;

  // Conveniences built on the primitives above.
  double allreduce_sum(double value);
  std::int64_t allreduce_sum(std::int64_t value);
  double allreduce_max(double value);
  void broadcast_string(std::string& text, int root);
  bool is_root() const { return rank() == 0; }
};

// MpiComm when started by mpirun/mpiexec/srun (or when `force_mpi`), else LocalComm.
// The returned object finalises MPI when destroyed.
std::unique_ptr<Comm> make_world_comm(int* argc, char*** argv, bool force_mpi = false);
std::unique_ptr<Comm> make_local_comm();

// True when this process runs under an MPI launcher (mpirun, srun --mpi=pmix).
bool launched_by_mpi();

}  // namespace personas
