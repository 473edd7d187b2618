// A scripted "LLM" behind the fake server for the distill tests: it reads
// the prompt and answers deterministically, so outputs do not depend on the
// order in which requests arrive. Batch answers give one note per listed
// movie ("because scripted reason for <title>") and a profile carrying the
// conversation's key (the first movie of batch 1), so later batches and the
// reflection can be told apart per user.
#pragma once

#include <nlohmann/json.hpp>

#include <regex>
#include <string>

#include "support/fake_openai_server.h"

namespace personas::testing {

struct ScriptedPrompt {
  bool reflection = false;
  bool repair = false;   // the conversation holds a repair request
  bool shorten = false;  // ... or a request to shorten
  std::string key;       // first movie title of the user's batch 1
  std::vector<std::string> titles;  // the batch's movie titles, in order
  int messages = 0;
};

inline ScriptedPrompt read_prompt(const std::string& body) {
  ScriptedPrompt p;
  auto j = nlohmann::json::parse(body);
  const auto& msgs = j["messages"];
  p.messages = static_cast<int>(msgs.size());
  std::string first = msgs[1]["content"];
  std::string last = msgs.back()["content"];
  p.repair = last.find("could not be used") != std::string::npos;
  p.shorten = last.find("Rewrite it shorter") != std::string::npos;
  p.reflection = first.find("Reflect on the profile") != std::string::npos;
  static const std::regex title(R"re((?:^|\n)\d+\. "([^"]+)")re");
  for (std::sregex_iterator it(first.begin(), first.end(), title), end; it != end; ++it) p.titles.push_back((*it)[1]);
  static const std::regex key(R"(I am the viewer who started with ([^.]+)\.)");
  std::smatch m;
  if (std::regex_search(first, m, key)) p.key = m[1];
  else if (!p.titles.empty()) p.key = p.titles[0];
  return p;
}

inline std::string scripted_answer(const ScriptedPrompt& p, const std::string& extra_profile = "") {
  nlohmann::json a;
  a["profile"] = "I am the viewer who started with " + p.key + "." + extra_profile +
                 (p.reflection ? " Reflected." : "");
  if (!p.reflection) {
    a["notes"] = nlohmann::json::array();
    for (std::size_t i = 0; i < p.titles.size(); ++i)
      a["notes"].push_back({{"item", i + 1}, {"reason", "because scripted reason for " + p.titles[i]}});
  }
  return a.dump();
}

inline FakeResponse answer(const std::string& content) {
  return FakeResponse{200, chat_completion_body(content, 100, 50), {}, 0, FakeResponse::Fault::none};
}

}  // namespace personas::testing
