// Every subcommand, one file each (cmd_<name>.cpp). main.cpp lists them.
#pragma once

#include <vector>

#include "cli/command.h"

namespace personas {

std::vector<Command> all_commands();

}  // namespace personas
