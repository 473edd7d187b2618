// run.backend: which compute backend a stage asks make_backend for. Lives in
// core/ because the [run] section holds it; backend/ builds the backend.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace personas {

// automatic = CUDA when compiled in and a GPU answers, else the CPU (the
// choice and the reason for a fallback are logged); cpu and cuda insist.
enum class BackendKind { automatic, cpu, cuda };

// {"auto", automatic}, {"cpu", cpu}, {"cuda", cuda}: the words of run.backend.
const std::vector<std::pair<std::string, BackendKind>>& backend_kind_names();

// The backend's word ("auto", "cpu", "cuda"), for messages.
std::string backend_kind_word(BackendKind kind);

}  // namespace personas
