// LocalComm: one process, no MPI. Collectives are identities.
#include <cstdlib>
#include <cstring>

#include "comm/comm.h"
#include "core/errors.h"

namespace personas {
namespace {

class LocalComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::string name() const override { return "local"; }
  void barrier() override {}
  void allreduce(std::span<double>, ReduceOp) override {}
  void allreduce(std::span<float>, ReduceOp) override {}
  void allreduce(std::span<std::int64_t>, ReduceOp) override {}
  void broadcast(void*, std::size_t, int root) override {
    PERSONAS_ASSERT(root == 0, "broadcast root {} on a 1-rank comm", root);
  }
  void allgather(const void* send, std::size_t bytes_each, void* recv) override {
    if (bytes_each) std::memmove(recv, send, bytes_each);
  }
  std::vector<std::vector<std::byte>> allgatherv(std::span<const std::byte> send) override {
    return {std::vector<std::byte>(send.begin(), send.end())};
  }
  std::vector<std::vector<std::byte>> alltoallv(const std::vector<std::vector<std::byte>>& send) override {
    PERSONAS_ASSERT(send.size() == 1, "alltoallv with {} destinations on a 1-rank comm", send.size());
    return send;
  }
  std::unique_ptr<Comm> split(int, int) override { return std::make_unique<LocalComm>(); }
  [[noreturn]] void abort(int exit_code) override { std::_Exit(exit_code); }
};

}  // namespace

std::unique_ptr<Comm> make_local_comm() { return std::make_unique<LocalComm>(); }

}  // namespace personas
