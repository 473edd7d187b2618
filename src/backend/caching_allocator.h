// A caching allocator for a backend's device memory (PyTorch's and llm.c's
// lesson: never call cudaMalloc/cudaFree per op; cudaFree synchronises the
// device). Released blocks go to free lists keyed by (stream, size class) and
// are handed out again without a raw allocation, so a training step that
// repeats the previous one's allocations makes no raw allocation at all.
//
// Size classes: a request below `large_threshold` (1 MiB) rounds up to a
// multiple of `small_round` (512 B); a larger one to the next of
// `large_divisions` (8) equal steps between two powers of two, so a block
// wastes less than 1/8 of itself and a handful of classes cover the
// activations of batches of varying length.
//
// Streams: a block is reused only for the stream it was allocated for (work
// queued on one stream runs in order, so a block released while kernels that
// use it are still queued is safe to hand to later work on that stream). A
// caller that uses a block on another stream must synchronise it before the
// release.
//
// The bookkeeping is plain C++: the raw allocation and free are injected, so
// the CPU backend and host tests use the same code as the CUDA backend.
// Thread safe (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/memory_stats.h"

namespace personas {

struct CachingAllocatorOptions {
  std::size_t small_round = 512;           // granularity below large_threshold (a power of two)
  std::size_t large_threshold = 1u << 20;  // from here on, power-of-two divisions (a power of two)
  int large_divisions = 8;                 // steps per power of two (a power of two)
  // Cached bytes above this go back to the raw free, least recently released
  // first (the default keeps everything; the raw allocation still empties the
  // cache and retries once when it fails).
  std::size_t max_cached_bytes = std::numeric_limits<std::size_t>::max();
};

class CachingAllocator {
 public:
  // Returns nullptr when the device has no memory left (other failures may throw).
  using RawAlloc = std::function<void*(std::size_t bytes)>;
  // Must not throw (it also runs from the destructor).
  using RawFree = std::function<void(void* pointer, std::size_t bytes)>;
  using Stream = std::uintptr_t;

  CachingAllocator(RawAlloc raw_alloc, RawFree raw_free, CachingAllocatorOptions options = {});
  // Returns every block, cached or still handed out, to the raw free.
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` (0 counts as 1) for `stream`; nullptr when
  // the raw allocation fails even after the cache was emptied.
  void* allocate(std::size_t bytes, Stream stream = 0);
  // Back to the cache. ErrorKind::internal for a pointer it did not hand out.
  void release(void* pointer);
  // Returns the cached blocks to the raw free (blocks in use stay).
  void empty_cache();
  MemoryStats stats() const;
  // peak_bytes and peak_reserved_bytes restart from the current values.
  void reset_peak();
  // The size class (block bytes) of a request.
  std::size_t block_size(std::size_t bytes) const;
  const CachingAllocatorOptions& options() const { return options_; }

 private:
  struct Block {
    void* pointer = nullptr;
    std::size_t size = 0;
    Stream stream = 0;
  };
  struct Live {
    std::size_t size = 0;
    std::size_t requested = 0;
    Stream stream = 0;
  };
  using Key = std::pair<Stream, std::size_t>;
  using LruIt = std::list<Block>::iterator;

  void cache_locked(const Block& block);
  void evict_oldest_locked();
  void empty_cache_locked();
  void update_peaks_locked();

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  CachingAllocatorOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, Live> live_;
  std::list<Block> lru_;              // cached blocks, least recently released first
  std::map<Key, std::vector<LruIt>> free_;  // (stream, size) -> its cached blocks, most recent last
  MemoryStats stats_;
};

}  // namespace personas
