// What a backend's device memory pool holds (Backend::memory_stats): the
// figures a benchmark or the train log reports as "peak memory per rank".
#pragma once

#include <cstddef>
#include <cstdint>

namespace personas {

struct MemoryStats {
  std::size_t current_bytes = 0;        // in blocks handed out now (rounded to their size class)
  std::size_t peak_bytes = 0;           // the most current_bytes so far (since the last reset_peak)
  std::size_t requested_bytes = 0;      // what the live blocks were asked for (current minus rounding)
  std::size_t cached_bytes = 0;         // in freed blocks kept for reuse
  std::size_t reserved_bytes = 0;       // current + cached: what the pool holds from the device
  std::size_t peak_reserved_bytes = 0;  // the most reserved_bytes so far (since the last reset_peak)
  std::int64_t allocations = 0;         // allocate() calls so far
  std::int64_t cache_hits = 0;          // of which served from the cache
  std::int64_t raw_allocations = 0;     // calls of the raw allocator (cudaMalloc / aligned_alloc) so far
  std::int64_t raw_frees = 0;           // calls of the raw free so far
};

}  // namespace personas
