// Generation of one prompt: the one-request case of generate_batch
// (lora_model_batch_generate.cpp), so that a sequence gets exactly the same
// tokens alone as in any batch. The prompt goes through the layers once
// (prefill), filling each layer's key/value cache; then one token at a time
// attends to the cache. Only the last row is projected on the vocabulary.
#include "model/lora_model_impl.h"

namespace personas {

std::vector<std::int32_t> LoraModel::generate(std::span<const std::int32_t> prompt, const GenerateOptions& options,
                                              int adapter) {
  GenerateRequest request;
  request.prompt.assign(prompt.begin(), prompt.end());
  request.adapter = adapter;
  request.max_new_tokens = options.max_new_tokens;
  request.sampling = options.sampling;
  request.stop_tokens = options.stop_tokens;
  BatchGenerateOptions batch;
  batch.max_batch = 1;
  if (options.on_token) batch.on_token = [&](std::size_t, std::int32_t token) { return options.on_token(token); };
  if (options.on_logits)
    batch.on_logits = [&](std::size_t, std::span<const float> logits) { options.on_logits(logits); };
  std::vector<GenerateRequest> requests;
  requests.push_back(std::move(request));
  return std::move(generate_batch(std::move(requests), batch).front());
}

}  // namespace personas
