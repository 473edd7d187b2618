#include "comm/comm.h"

#include <cstdlib>
#include <cstring>

namespace personas {

double Comm::allreduce_sum(double value) {
  allreduce(std::span<double>(&value, 1), ReduceOp::sum);
  return value;
}

std::int64_t Comm::allreduce_sum(std::int64_t value) {
  allreduce(std::span<std::int64_t>(&value, 1), ReduceOp::sum);
  return value;
}

double Comm::allreduce_max(double value) {
  allreduce(std::span<double>(&value, 1), ReduceOp::max);
  return value;
}

void Comm::broadcast_string(std::string& text, int root) {
  std::uint64_t n = text.size();
  broadcast(&n, sizeof n, root);
  text.resize(n);
  if (n) broadcast(text.data(), n, root);
}

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    if (std::getenv(var)) return true;
  }
  return false;
}

}  // namespace personas
