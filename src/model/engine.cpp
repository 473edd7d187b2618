#include "model/engine.h"

#include "core/errors.h"
#include "core/log.h"
#include "model/base_dtype.h"
#include "model/checkpoint.h"

namespace personas {

Engine load_engine(const fs::path& checkpoint, const EngineOptions& options) {
  PERSONAS_CHECK_HINT(fs::is_regular_file(checkpoint), io,
                      "set model.path to a checkpoint (`personas convert` or `personas init-model` output, or "
                      "scripts/fetch-model.sh smollm2), or make RUN/model/base.h5 with `personas model`",
                      "{}: model checkpoint '{}' does not exist", options.what, checkpoint.string());
  Checkpoint ck = load_checkpoint(checkpoint);
  Engine e;
  e.path = checkpoint;
  e.config = ck.weights.config;
  override_chat_template(ck.tokenizer, options.chat_template);
  e.tokenizer = std::make_unique<Tokenizer>(std::move(ck.tokenizer));
  PERSONAS_CHECK(e.tokenizer->vocab_size() <= e.config.vocab_size, data,
                 "'{}': the tokenizer has {} tokens but the model's embedding only {} rows", checkpoint.string(),
                 e.tokenizer->vocab_size(), e.config.vocab_size);
  e.fingerprint = base_fingerprint(ck.weights);
  e.backend = make_backend(options.backend, options.device_index);
  const DType dtype = resolve_device_dtype(options.device_dtype, *e.backend);
  e.model = std::make_unique<LoraModel>(ck.weights, *e.backend, options.spec, options.n_adapters, dtype);
  std::size_t host_bytes = 0;
  for (const auto& [name, t] : ck.weights.tensors) host_bytes += t.data.size() * sizeof(float);
  ck.weights.tensors.clear();  // the host copy goes now: the device holds the base
  plog::info("{}: base on the {} backend in {}: {:.1f} MiB; host copy ({:.1f} MiB) freed", options.what,
             e.backend->name(), dtype_name(dtype), static_cast<double>(e.model->base_bytes()) / (1 << 20),
             static_cast<double>(host_bytes) / (1 << 20));
  return e;
}

}  // namespace personas
