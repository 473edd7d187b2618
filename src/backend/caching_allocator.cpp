#include "backend/caching_allocator.h"

#include <algorithm>
#include <bit>

#include "core/errors.h"

namespace personas {

CachingAllocator::CachingAllocator(RawAlloc raw_alloc, RawFree raw_free, CachingAllocatorOptions options)
    : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)), options_(options) {
  PERSONAS_ASSERT(raw_alloc_ && raw_free_, "CachingAllocator needs a raw allocation and a raw free");
  PERSONAS_ASSERT(std::has_single_bit(options_.small_round) && std::has_single_bit(options_.large_threshold) &&
                      options_.large_divisions > 0 &&
                      std::has_single_bit(static_cast<unsigned>(options_.large_divisions)) &&
                      options_.large_threshold >= options_.small_round &&
                      options_.large_threshold / static_cast<std::size_t>(options_.large_divisions) > 0,
                  "CachingAllocator: small_round {}, large_threshold {} and large_divisions {} must be powers of two",
                  options_.small_round, options_.large_threshold, options_.large_divisions);
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard lock(mutex_);
  empty_cache_locked();
  for (auto& [pointer, live] : live_) raw_free_(pointer, live.size);
  live_.clear();
}

std::size_t CachingAllocator::block_size(std::size_t bytes) const {
  bytes = std::max<std::size_t>(bytes, 1);
  if (bytes < options_.large_threshold) {
    const std::size_t r = options_.small_round;
    return (bytes + r - 1) / r * r;
  }
  const std::size_t step = std::bit_floor(bytes) / static_cast<std::size_t>(options_.large_divisions);
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(std::size_t bytes, Stream stream) {
  const std::size_t size = block_size(bytes);
  std::lock_guard lock(mutex_);
  ++stats_.allocations;
  void* pointer = nullptr;
  auto it = free_.find({stream, size});
  if (it != free_.end()) {
    const LruIt block = it->second.back();
    pointer = block->pointer;
    it->second.pop_back();
    if (it->second.empty()) free_.erase(it);
    lru_.erase(block);
    stats_.cached_bytes -= size;
    ++stats_.cache_hits;
  } else {
    pointer = raw_alloc_(size);
    if (pointer == nullptr && !lru_.empty()) {  // out of memory: give the cache back and try once more
      empty_cache_locked();
      pointer = raw_alloc_(size);
    }
    if (pointer == nullptr) return nullptr;
    ++stats_.raw_allocations;
  }
  live_[pointer] = Live{size, bytes, stream};
  stats_.current_bytes += size;
  stats_.requested_bytes += bytes;
  update_peaks_locked();
  return pointer;
}

void CachingAllocator::release(void* pointer) {
  if (pointer == nullptr) return;
  std::lock_guard lock(mutex_);
  auto it = live_.find(pointer);
  PERSONAS_ASSERT(it != live_.end(), "CachingAllocator::release of a pointer it did not hand out");
  const Block block{pointer, it->second.size, it->second.stream};
  stats_.current_bytes -= it->second.size;
  stats_.requested_bytes -= it->second.requested;
  live_.erase(it);
  cache_locked(block);
}

void CachingAllocator::cache_locked(const Block& block) {
  if (block.size > options_.max_cached_bytes) {
    raw_free_(block.pointer, block.size);
    ++stats_.raw_frees;
    return;
  }
  while (stats_.cached_bytes + block.size > options_.max_cached_bytes) evict_oldest_locked();
  lru_.push_back(block);
  free_[{block.stream, block.size}].push_back(std::prev(lru_.end()));
  stats_.cached_bytes += block.size;
}

void CachingAllocator::evict_oldest_locked() {
  const LruIt oldest = lru_.begin();
  auto it = free_.find({oldest->stream, oldest->size});
  PERSONAS_ASSERT(it != free_.end(), "CachingAllocator: a cached block missing from its free list");
  auto& list = it->second;
  list.erase(std::find(list.begin(), list.end(), oldest));
  if (list.empty()) free_.erase(it);
  raw_free_(oldest->pointer, oldest->size);
  ++stats_.raw_frees;
  stats_.cached_bytes -= oldest->size;
  stats_.reserved_bytes = stats_.current_bytes + stats_.cached_bytes;
  lru_.erase(oldest);
}

void CachingAllocator::empty_cache() {
  std::lock_guard lock(mutex_);
  empty_cache_locked();
}

void CachingAllocator::empty_cache_locked() {
  for (const Block& b : lru_) {
    raw_free_(b.pointer, b.size);
    ++stats_.raw_frees;
  }
  lru_.clear();
  free_.clear();
  stats_.cached_bytes = 0;
  stats_.reserved_bytes = stats_.current_bytes;
}

void CachingAllocator::update_peaks_locked() {
  stats_.reserved_bytes = stats_.current_bytes + stats_.cached_bytes;
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.current_bytes);
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard lock(mutex_);
  MemoryStats s = stats_;
  s.reserved_bytes = s.current_bytes + s.cached_bytes;
  return s;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(mutex_);
  stats_.peak_bytes = stats_.current_bytes;
  stats_.reserved_bytes = stats_.current_bytes + stats_.cached_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

}  // namespace personas
