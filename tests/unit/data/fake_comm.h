// A Comm that pretends to be rank `rank` of `size` without talking to anyone:
// enough for readers (load_dataset uses only rank() and size()). Collectives
// that would need other ranks fail loudly.
#pragma once

#include <stdexcept>

#include "comm/comm.h"

namespace personas::testing {

class FakeRankComm : public Comm {
 public:
  FakeRankComm(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return rank_; }
  int local_size() const override { return size_; }
  std::string name() const override { return "fake"; }
  void barrier() override {}
  void allreduce(std::span<double>, ReduceOp) override { no(); }
  void allreduce(std::span<float>, ReduceOp) override { no(); }
  void allreduce(std::span<std::int64_t>, ReduceOp) override { no(); }
  void broadcast(void*, std::size_t, int) override { no(); }
  void allgather(const void*, std::size_t, void*) override { no(); }
  std::vector<std::vector<std::byte>> allgatherv(std::span<const std::byte>) override { no(); }
  std::vector<std::vector<std::byte>> alltoallv(const std::vector<std::vector<std::byte>>&) override { no(); }
  std::unique_ptr<Comm> split(int, int) override { no(); }
  [[noreturn]] void abort(int) override { no(); }

 private:
  [[noreturn]] static void no() { throw std::logic_error("FakeRankComm: collective not available"); }
  int rank_, size_;
};

}  // namespace personas::testing
