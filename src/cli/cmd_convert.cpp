// personas convert --from hf DIR | --from llama2c FILE.bin --tokenizer tok.model
//                  | --from gguf FILE.gguf   --out model.h5 [--dtype auto|bf16|f32]
#include <iostream>

#include "cli/command.h"
#include "core/errors.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/convert.h"

namespace personas {

namespace po = boost::program_options;

namespace {

// bf16 when the source stores 16-bit floats, else f32.
StorageDType source_dtype(const fs::path& dir) {
  safetensors::ModelFolder folder(dir);
  for (const auto& name : folder.names()) {
    auto d = folder.info(name).dtype;
    if (d == safetensors::DType::BF16 || d == safetensors::DType::F16) return StorageDType::bf16;
  }
  return StorageDType::f32;
}

int run_convert(CommandContext& ctx) {
  if (!ctx.comm.is_root()) return 0;  // one writer; conversion is not worth sharding
  const auto& args = ctx.args;
  PERSONAS_CHECK_HINT(args.count("from") && args.count("out"), usage,
                      "personas convert --from hf DIR --out model.h5  |  --from llama2c FILE.bin --tokenizer "
                      "tok512.model --out m.h5",
                      "convert needs --from KIND PATH and --out FILE");
  const auto from = args["from"].as<std::vector<std::string>>();
  PERSONAS_CHECK(from.size() == 2, usage, "--from takes two values, KIND and PATH (got {})", from.size());
  const std::string& kind = from[0];
  const fs::path source = from[1];
  const fs::path out = args["out"].as<std::string>();
  const std::string dtype_name = args["dtype"].as<std::string>();
  std::optional<fs::path> tokenizer;
  if (args.count("tokenizer")) tokenizer = fs::path(args["tokenizer"].as<std::string>());

  ConvertedModel model;
  StorageDType dtype = StorageDType::f32;
  if (kind == "hf") {
    model = convert_hf(source, tokenizer);
    dtype = dtype_name == "auto" ? source_dtype(source) : parse_storage_dtype(dtype_name);
  } else if (kind == "llama2c") {
    PERSONAS_CHECK_HINT(tokenizer.has_value(), usage, "llama2.c ships tok512.model next to stories260K.bin",
                        "--from llama2c needs --tokenizer FILE.model (the SentencePiece model)");
    model = convert_llama2c(source, *tokenizer);
    dtype = dtype_name == "auto" ? StorageDType::f32 : parse_storage_dtype(dtype_name);
  } else if (kind == "gguf") {
    PERSONAS_CHECK(!tokenizer.has_value(), usage, "--from gguf takes its tokenizer from the file; drop --tokenizer");
    model = convert_gguf(source);
    // The file's weights are quantized; f32 keeps the dequantized values exactly.
    dtype = dtype_name == "auto" ? StorageDType::f32 : parse_storage_dtype(dtype_name);
  } else {
    PERSONAS_FAIL(usage, "--from '{}' is not a known source (expected hf, llama2c or gguf)", kind);
  }
  save_checkpoint(out, model.weights, model.tokenizer, dtype);
  plog::info("wrote {} ({}, {} tensors, {:.1f} MB)", out.string(), storage_dtype_name(dtype),
             model.weights.tensors.size(), static_cast<double>(fs::file_size(out)) / 1e6);
  return 0;
}

}  // namespace

Command make_convert_command() {
  Command c;
  c.name = "convert";
  c.summary = "Hugging Face, llama2.c or GGUF checkpoints to our HDF5 format";
  c.uses_run_dir = false;
  c.add_options = [](po::options_description& o) {
    o.add_options()("from", po::value<std::vector<std::string>>()->multitoken(),
                    "source KIND and PATH: 'hf DIR' (config.json + safetensors), 'llama2c FILE.bin' or 'gguf FILE.gguf'")(
        "out", po::value<std::string>(), "output checkpoint (.h5)")(
        "dtype", po::value<std::string>()->default_value("auto"),
        "stored dtype: auto (bf16 when an hf source is 16-bit, else f32), bf16 or f32")(
        "tokenizer", po::value<std::string>(),
        "SentencePiece .model file (required for llama2c; overrides DIR/tokenizer.model for hf)");
  };
  c.run = run_convert;
  return c;
}

}  // namespace personas
