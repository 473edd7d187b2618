#include "comm/stop_vote.h"

#include "core/stop_request.h"

namespace personas {

bool stop_agreed(Comm& comm) {
  std::int64_t any = stop_requested() ? 1 : 0;
  if (comm.size() > 1) comm.allreduce(std::span<std::int64_t>(&any, 1), ReduceOp::max);
  if (any > 0) adopt_stop_request("another rank's request");
  return any > 0;
}

}  // namespace personas
