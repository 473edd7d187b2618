// The caching allocator's bookkeeping on a counting host "device": size
// classes, reuse of released blocks per (stream, size), no growth over
// repeated identical steps, current/peak/cached accounting, the cache bound,
// empty_cache and destruction, the retry after a failed raw allocation, and
// many threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "backend/caching_allocator.h"
#include "core/errors.h"

namespace personas {
namespace {

// A raw allocator that counts what it holds and can be told to fail.
struct CountingDevice {
  std::atomic<std::int64_t> allocs{0}, frees{0};
  std::atomic<std::size_t> held{0};
  std::atomic<std::size_t> limit{std::size_t(1) << 40};  // "device memory"
  std::mutex mutex;
  std::set<void*> live;

  CachingAllocator make(CachingAllocatorOptions options = {}) {
    return CachingAllocator(
        [this](std::size_t bytes) -> void* {
          if (held + bytes > limit) return nullptr;
          void* p = std::malloc(bytes);
          ++allocs;
          held += bytes;
          std::lock_guard lock(mutex);
          live.insert(p);
          return p;
        },
        [this](void* p, std::size_t bytes) {
          ++frees;
          held -= bytes;
          {
            std::lock_guard lock(mutex);
            EXPECT_EQ(live.erase(p), 1u) << "raw free of a pointer not raw-allocated";
          }
          std::free(p);
        },
        options);
  }
};

TEST(CachingAllocator, SizeClasses) {
  CountingDevice dev;
  auto pool = dev.make();
  EXPECT_EQ(pool.block_size(0), 512u);
  EXPECT_EQ(pool.block_size(1), 512u);
  EXPECT_EQ(pool.block_size(512), 512u);
  EXPECT_EQ(pool.block_size(513), 1024u);
  EXPECT_EQ(pool.block_size((1u << 20) - 1), 1u << 20);
  EXPECT_EQ(pool.block_size(1u << 20), 1u << 20);
  EXPECT_EQ(pool.block_size((1u << 20) + 1), (1u << 20) + (1u << 17));  // 8 steps per power of two
  EXPECT_EQ(pool.block_size(3u << 20), 3u << 20);
  EXPECT_EQ(pool.block_size((3u << 20) + 1), (3u << 20) + (1u << 18));
  // Every class holds its request and wastes less than 1/8 of it above the threshold.
  std::mt19937_64 rng(1);
  for (int i = 0; i < 10000; ++i) {
    const std::size_t bytes = 1 + rng() % (std::size_t(1) << 34);
    const std::size_t b = pool.block_size(bytes);
    ASSERT_GE(b, bytes);
    if (bytes >= (1u << 20)) ASSERT_LT(static_cast<double>(b - bytes), static_cast<double>(bytes) / 8.0) << bytes;
    else ASSERT_LT(b - bytes, 512u);
    ASSERT_EQ(pool.block_size(b), b) << "a class is its own class";
  }
}

TEST(CachingAllocator, ReleasedBlocksAreReusedPerSizeClassAndStream) {
  CountingDevice dev;
  auto pool = dev.make();
  void* a = pool.allocate(1000);
  pool.release(a);
  EXPECT_EQ(pool.allocate(700), a) << "same 1024-byte class";
  void* b = pool.allocate(2000);
  EXPECT_NE(b, a);
  pool.release(b);
  void* c = pool.allocate(100, /*stream=*/7);  // another stream: no reuse of stream 0's blocks
  EXPECT_NE(c, b);
  EXPECT_EQ(dev.allocs, 3);
  pool.release(c);
  EXPECT_EQ(pool.allocate(100, 7), c);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocations, 5);
  EXPECT_EQ(s.cache_hits, 2);
  EXPECT_EQ(s.raw_allocations, 3);
}

TEST(CachingAllocator, RepeatedIdenticalStepsDoNotGrow) {
  CountingDevice dev;
  auto pool = dev.make();
  std::mt19937_64 rng(5);
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 200; ++i) sizes.push_back(1 + rng() % (8u << 20));
  auto step = [&] {  // allocate and release in a fixed interleaved pattern, like a layer loop
    std::vector<void*> held;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      held.push_back(pool.allocate(sizes[i]));
      if (i % 3 == 2) {
        pool.release(held[held.size() - 2]);
        held.erase(held.end() - 2);
      }
    }
    for (void* p : held) pool.release(p);
  };
  step();
  const MemoryStats first = pool.stats();
  EXPECT_GT(first.raw_allocations, 0);
  EXPECT_EQ(first.current_bytes, 0u);
  for (int i = 0; i < 5; ++i) step();
  const MemoryStats later = pool.stats();
  EXPECT_EQ(later.raw_allocations, first.raw_allocations) << "no raw allocation after the first step";
  EXPECT_EQ(later.reserved_bytes, first.reserved_bytes);
  EXPECT_EQ(later.peak_bytes, first.peak_bytes);
  EXPECT_EQ(later.current_bytes, 0u);
  EXPECT_EQ(dev.held.load(), later.reserved_bytes);
}

TEST(CachingAllocator, CurrentPeakCachedAndRequested) {
  CountingDevice dev;
  auto pool = dev.make();
  void* a = pool.allocate(1000);          // 1024
  void* b = pool.allocate(3u << 20);      // 3 MiB
  MemoryStats s = pool.stats();
  EXPECT_EQ(s.current_bytes, 1024u + (3u << 20));
  EXPECT_EQ(s.requested_bytes, 1000u + (3u << 20));
  EXPECT_EQ(s.peak_bytes, s.current_bytes);
  EXPECT_EQ(s.cached_bytes, 0u);
  pool.release(b);
  s = pool.stats();
  EXPECT_EQ(s.current_bytes, 1024u);
  EXPECT_EQ(s.requested_bytes, 1000u);
  EXPECT_EQ(s.cached_bytes, 3u << 20);
  EXPECT_EQ(s.reserved_bytes, 1024u + (3u << 20));
  EXPECT_EQ(s.peak_bytes, 1024u + (3u << 20));
  pool.reset_peak();
  EXPECT_EQ(pool.stats().peak_bytes, 1024u);
  EXPECT_EQ(pool.stats().peak_reserved_bytes, 1024u + (3u << 20));
  pool.release(a);
  EXPECT_EQ(pool.stats().current_bytes, 0u);
  EXPECT_EQ(pool.stats().requested_bytes, 0u);
}

TEST(CachingAllocator, EmptyCacheAndDestructionReturnEverything) {
  CountingDevice dev;
  {
    auto pool = dev.make();
    void* keep = pool.allocate(5000);
    for (int i = 0; i < 4; ++i) pool.release(pool.allocate((1u << 20) * (i + 1)));
    EXPECT_EQ(dev.allocs, 5) << "each size once (each released before the next)";
    pool.empty_cache();
    EXPECT_EQ(pool.stats().cached_bytes, 0u);
    EXPECT_EQ(dev.held.load(), pool.block_size(5000)) << "only the block in use stays";
    EXPECT_EQ(pool.stats().raw_frees, 4);
    pool.release(pool.allocate(1u << 21));
    (void)keep;  // still handed out when the pool dies: the destructor returns it
  }
  EXPECT_EQ(dev.held.load(), 0u);
  EXPECT_EQ(dev.allocs.load(), dev.frees.load());
  EXPECT_TRUE(dev.live.empty());
}

TEST(CachingAllocator, CachedBytesStayUnderTheBound) {
  CountingDevice dev;
  CachingAllocatorOptions o;
  o.max_cached_bytes = 4u << 20;
  auto pool = dev.make(o);
  void* big = pool.allocate(5u << 20);  // above the bound: never cached
  pool.release(big);
  EXPECT_EQ(pool.stats().cached_bytes, 0u);
  EXPECT_EQ(pool.stats().raw_frees, 1);
  // Release 1, 2, 3 MiB in that order: caching the 3 MiB evicts the oldest (1 MiB) and then 2 MiB.
  void* p1 = pool.allocate(1u << 20);
  void* p2 = pool.allocate(2u << 20);
  void* p3 = pool.allocate(3u << 20);
  pool.release(p1);
  pool.release(p2);
  EXPECT_EQ(pool.stats().cached_bytes, 3u << 20);
  pool.release(p3);
  EXPECT_EQ(pool.stats().cached_bytes, 3u << 20);
  EXPECT_LE(pool.stats().cached_bytes, o.max_cached_bytes);
  EXPECT_EQ(pool.allocate(3u << 20), p3) << "the most recent block stays cached";
  EXPECT_EQ(dev.held.load(), pool.stats().reserved_bytes);
}

TEST(CachingAllocator, FailedRawAllocationEmptiesTheCacheAndRetries) {
  CountingDevice dev;
  dev.limit = 8u << 20;
  auto pool = dev.make();
  pool.release(pool.allocate(6u << 20));  // cached: 6 MiB of the 8 held
  void* p = pool.allocate(4u << 20);       // does not fit next to the cache: emptied, then fits
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(pool.stats().cached_bytes, 0u);
  EXPECT_EQ(pool.allocate(5u << 20), nullptr) << "really out of memory: nullptr, the caller reports it";
  EXPECT_EQ(pool.stats().current_bytes, 4u << 20) << "a failed allocation changes no accounting";
  pool.release(p);
}

TEST(CachingAllocator, ReleaseOfAForeignPointerIsAnInternalError) {
  CountingDevice dev;
  auto pool = dev.make();
  int x = 0;
  try {
    pool.release(&x);
    FAIL() << "no error";
  } catch (const InternalError& e) {
    EXPECT_NE(e.message().find("release"), std::string::npos) << e.message();
  }
  pool.release(nullptr);  // a no-op, like free(nullptr)
}

TEST(CachingAllocator, ManyThreads) {
  CountingDevice dev;
  auto pool = dev.make();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      std::vector<std::pair<unsigned char*, std::size_t>> held;
      for (int i = 0; i < 2000; ++i) {
        if (held.size() < 16 && (held.empty() || rng() % 2)) {
          const std::size_t bytes = 1 + rng() % 40000;
          auto* p = static_cast<unsigned char*>(pool.allocate(bytes, static_cast<std::uintptr_t>(t % 2)));
          std::fill(p, p + bytes, static_cast<unsigned char>(t));  // a block shared by two threads would show
          held.emplace_back(p, bytes);
        } else {
          const std::size_t k = rng() % held.size();
          auto [p, bytes] = held[k];
          for (std::size_t j = 0; j < bytes; ++j) ASSERT_EQ(p[j], static_cast<unsigned char>(t));
          pool.release(p);
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
        }
      }
      for (auto [p, bytes] : held) pool.release(p);
    });
  for (auto& th : threads) th.join();
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.current_bytes, 0u);
  EXPECT_EQ(s.requested_bytes, 0u);
  EXPECT_EQ(s.allocations, s.cache_hits + s.raw_allocations);
  EXPECT_EQ(dev.held.load(), s.cached_bytes);
  EXPECT_LE(s.peak_bytes, s.peak_reserved_bytes);
}

}  // namespace
}  // namespace personas
