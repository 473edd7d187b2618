// OpenMP threads that spin while they wait cost more than they save here:
// every rank runs its own OpenMP team beside OpenBLAS's threads, often more
// threads than free cores (2 ranks on a 2-core node, a shared node), and a
// spinning thread takes the core from the one with work. Measured on SmolLM2
// agent scoring (2 cores, docs/engine.md): 2.0x faster with passive waits on a
// quiet machine, 8x on a loaded one, the same ratings.
// libgomp reads OMP_WAIT_POLICY once, when it loads (before main), so when the
// variable is unset the process sets it and re-executes itself once, before
// anything else happens; a value already in the environment is kept.
#pragma once

namespace personas {

// Call first in main(). Returns only if no re-exec was needed or it failed.
void ensure_passive_omp_wait(char** argv);

// "OMP_WAIT_POLICY=PASSIVE (set by personas)" or "... (from the environment)", for the debug log.
const char* omp_wait_policy_origin();

}  // namespace personas
