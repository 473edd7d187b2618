// MpiComm: MPI_COMM_WORLD (or a split of it). Errors from MPI are fatal to the
// job (MPI_ERRORS_ARE_FATAL), which is what we want: no rank waits forever.
// The deprecated MPI C++ bindings are not wanted (we link MPI::MPI_C only).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <cstdlib>

#include "comm/comm.h"
#include "core/errors.h"

namespace personas {
namespace {

#define MPI_CHECK(call)                                                               \
  do {                                                                                \
    int mpi_rc_ = (call);                                                             \
    PERSONAS_ASSERT(mpi_rc_ == MPI_SUCCESS, "{} returned {}", #call, mpi_rc_);        \
  } while (0)

MPI_Op to_mpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  return MPI_SUM;
}

// MPI counts are int: large buffers go in chunks of at most 1 GiB.
constexpr std::size_t kChunkBytes = std::size_t{1} << 30;

class MpiComm final : public Comm {
 public:
  MpiComm(MPI_Comm comm, bool owns_world) : comm_(comm), owns_world_(owns_world) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm node;
    MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_size(node, &local_size_);
    MPI_Comm_free(&node);
  }
  ~MpiComm() override {
    if (owns_world_) {
      int finalized = 0;
      MPI_Finalized(&finalized);
      if (!finalized) MPI_Finalize();
    } else if (comm_ != MPI_COMM_WORLD && comm_ != MPI_COMM_NULL) {
      MPI_Comm_free(&comm_);
    }
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string name() const override { return "mpi"; }

  void barrier() override { MPI_CHECK(MPI_Barrier(comm_)); }

  void allreduce(std::span<double> d, ReduceOp op) override { reduce(d.data(), d.size(), MPI_DOUBLE, op); }
  void allreduce(std::span<float> d, ReduceOp op) override { reduce(d.data(), d.size(), MPI_FLOAT, op); }
  void allreduce(std::span<std::int64_t> d, ReduceOp op) override {
    reduce(d.data(), d.size(), MPI_INT64_T, op);
  }

  void broadcast(void* data, std::size_t bytes, int root) override {
    auto* p = static_cast<char*>(data);
    for (std::size_t off = 0; off < bytes; off += kChunkBytes) {
      auto n = static_cast<int>(std::min(kChunkBytes, bytes - off));
      MPI_CHECK(MPI_Bcast(p + off, n, MPI_BYTE, root, comm_));
    }
  }

  void allgather(const void* send, std::size_t bytes_each, void* recv) override {
    PERSONAS_ASSERT(bytes_each < kChunkBytes, "allgather of {} bytes per rank", bytes_each);
    MPI_CHECK(MPI_Allgather(send, static_cast<int>(bytes_each), MPI_BYTE, recv, static_cast<int>(bytes_each),
                            MPI_BYTE, comm_));
  }

  std::vector<std::vector<std::byte>> allgatherv(std::span<const std::byte> send) override {
    std::int64_t mine = static_cast<std::int64_t>(send.size());
    std::vector<std::int64_t> sizes(size_);
    MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, comm_));
    std::vector<std::vector<std::byte>> out(size_);
    for (int r = 0; r < size_; ++r) {
      out[r].resize(sizes[r]);
      if (r == rank_ && sizes[r]) std::memcpy(out[r].data(), send.data(), send.size());
      broadcast(out[r].data(), out[r].size(), r);
    }
    return out;
  }

  std::vector<std::vector<std::byte>> alltoallv(const std::vector<std::vector<std::byte>>& send) override {
    PERSONAS_ASSERT(static_cast<int>(send.size()) == size_, "alltoallv needs one buffer per rank");
    std::vector<int> send_counts(size_), recv_counts(size_), sdispl(size_), rdispl(size_);
    std::size_t total_send = 0;
    for (int r = 0; r < size_; ++r) {
      PERSONAS_ASSERT(send[r].size() < kChunkBytes, "alltoallv block of {} bytes", send[r].size());
      send_counts[r] = static_cast<int>(send[r].size());
      sdispl[r] = static_cast<int>(total_send);
      total_send += send[r].size();
    }
    PERSONAS_ASSERT(total_send < kChunkBytes, "alltoallv of {} bytes", total_send);
    MPI_CHECK(MPI_Alltoall(send_counts.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, comm_));
    std::size_t total_recv = 0;
    for (int r = 0; r < size_; ++r) {
      rdispl[r] = static_cast<int>(total_recv);
      total_recv += recv_counts[r];
    }
    std::vector<std::byte> packed(total_send), unpacked(total_recv);
    for (int r = 0; r < size_; ++r)
      if (!send[r].empty()) std::memcpy(packed.data() + sdispl[r], send[r].data(), send[r].size());
    MPI_CHECK(MPI_Alltoallv(packed.data(), send_counts.data(), sdispl.data(), MPI_BYTE, unpacked.data(),
                            recv_counts.data(), rdispl.data(), MPI_BYTE, comm_));
    std::vector<std::vector<std::byte>> out(size_);
    for (int r = 0; r < size_; ++r)
      out[r].assign(unpacked.begin() + rdispl[r], unpacked.begin() + rdispl[r] + recv_counts[r]);
    return out;
  }

  std::unique_ptr<Comm> split(int color, int key) override {
    MPI_Comm sub;
    MPI_CHECK(MPI_Comm_split(comm_, color, key, &sub));
    return std::make_unique<MpiComm>(sub, false);
  }

  [[noreturn]] void abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  void reduce(void* data, std::size_t n, MPI_Datatype type, ReduceOp op) {
    int type_size = 0;
    MPI_Type_size(type, &type_size);
    std::size_t per_chunk = kChunkBytes / type_size;
    auto* p = static_cast<char*>(data);
    for (std::size_t off = 0; off < n; off += per_chunk) {
      auto count = static_cast<int>(std::min(per_chunk, n - off));
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p + off * type_size, count, type, to_mpi(op), comm_));
    }
  }

  MPI_Comm comm_;
  bool owns_world_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace

std::unique_ptr<Comm> make_world_comm(int* argc, char*** argv, bool force_mpi) {
  if (!force_mpi && !launched_by_mpi()) return make_local_comm();
  int initialized = 0;
  MPI_Initialized(&initialized);
  bool owns = false;
  if (!initialized) {
    // A rank waiting in a collective yields its core instead of spinning on it:
    // on a shared or oversubscribed node the spinning rank takes the core from
    // the rank it waits for (auto-K on 2 ranks, loaded 2-core machine: 7.8 s
    // spinning, 4.3 s yielding; docs/clustering.md). Open MPI reads it here, in
    // MPI_Init; a value set by the user or mpirun wins.
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    owns = true;
  }
  return std::make_unique<MpiComm>(MPI_COMM_WORLD, owns);
}

}  // namespace personas
