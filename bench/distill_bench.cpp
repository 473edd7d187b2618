// Throughput of the LLM client against the loopback fake server with a fixed
// latency: with C requests in flight per rank and a latency L, the ideal is
// ranks x C / L requests per second; we require >= 90% of it. Also reports
// the client's CPU time per call (the calling thread only: the fake server's
// threads are not counted).
//
//   bench_distill_bench [--in-flight 32] [--latency-ms 200] [--waves 10]
//   mpiexec -n 2 bench_distill_bench ...   (each rank: its own server + client)
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "comm/comm.h"
#include "distill/llm_client.h"

// The fake server lives with the tests; the bench takes its one source file.
#include "../tests/support/fake_openai_server.cpp"  // NOLINT(bugprone-suspicious-include)

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int arg_int(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace personas;
  auto comm = make_world_comm(&argc, &argv);
  const int in_flight = arg_int(argc, argv, "--in-flight", 32);
  const int latency_ms = arg_int(argc, argv, "--latency-ms", 200);
  const int waves = arg_int(argc, argv, "--waves", 10);
  const int n_requests = in_flight * waves;

  // A realistic batch-sized exchange: ~3 KB prompt, ~1.5 KB answer.
  std::string answer_text(1500, 'a');
  auto answer_body = testing::chat_completion_body(answer_text, 800, 400);
  testing::FakeOpenAiServer server([&](const testing::FakeRequest&) {
    return testing::FakeResponse{200, answer_body, {}, latency_ms / 1000.0, testing::FakeResponse::Fault::none};
  });
  HttpClientOptions options;
  options.base_url = server.base_url();
  options.max_in_flight = in_flight;
  options.timeout_s = 30;
  LlmClient client(options, "bench");
  std::vector<ChatMessage> messages = {{"system", std::string(500, 's')}, {"user", std::string(2500, 'u')}};

  comm->barrier();
  auto start = std::chrono::steady_clock::now();
  double cpu0 = thread_cpu_s();
  std::int64_t ok = 0;
  for (int i = 0; i < n_requests; ++i) client.chat_async(messages, {}, [&ok](ChatResult&& r) { ok += r.ok(); });
  client.run();
  double cpu = thread_cpu_s() - cpu0;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  comm->barrier();
  double total_wall = comm->allreduce_max(wall);
  std::int64_t total_ok = comm->allreduce_sum(ok);
  double total_cpu = comm->allreduce_sum(cpu);
  server.stop();

  double achieved = static_cast<double>(total_ok) / total_wall;
  double ideal = comm->size() * in_flight / (latency_ms / 1000.0);
  bool pass = total_ok == static_cast<std::int64_t>(n_requests) * comm->size() && achieved >= 0.9 * ideal;
  if (comm->is_root())
    std::printf(
        "distill_bench: ranks=%d in_flight=%d latency=%dms requests=%lld ok=%lld wall=%.3fs\n"
        "  achieved %.1f req/s, ideal %.1f req/s (%.1f%%, need >= 90%%): %s\n"
        "  client CPU per call %.1f us\n",
        comm->size(), in_flight, latency_ms, static_cast<long long>(n_requests) * comm->size(),
        static_cast<long long>(total_ok), total_wall, achieved, ideal, 100.0 * achieved / ideal, pass ? "PASS" : "FAIL",
        1e6 * total_cpu / static_cast<double>(std::max<std::int64_t>(1, total_ok)));
  return pass ? 0 : 1;
}
