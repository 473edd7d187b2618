// The collective side of a graceful stop (core/stop_request.h): at a safe
// point that every rank of `comm` reaches, the ranks agree whether any of
// them must stop, so they all stop at the same point and no rank is left
// waiting in a collective for one that left.
#pragma once

#include "comm/comm.h"

namespace personas {

// Collective: true on every rank when stop_requested() is true on any rank.
bool stop_agreed(Comm& comm);

}  // namespace personas
