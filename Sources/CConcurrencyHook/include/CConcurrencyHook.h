#ifndef RUNGATE_CCONCURRENCYHOOK_H
#define RUNGATE_CCONCURRENCYHOOK_H

#include <stdbool.h>

/// Sets the Swift concurrency runtime's global-enqueue hook if no one has set it yet.
/// Linked by reference, not looked up with dlsym: with the Swift runtime linked statically (as
/// shipped) the symbol is not in the dynamic symbol table, and NIO's dlsym-based installer fails.
bool rungate_install_enqueue_global_hook(void *_Nonnull hook);

/// Runs a job taken from the global queue the way Swift's own global executor does: on the generic
/// executor. Running it "on" an event loop's serial executor instead (as `ExecutorJob.runSynchronously(on:)`
/// must) makes every later hop to nonisolated code look like an executor switch, and each is
/// enqueued again instead of continuing in place.
void rungate_run_job_on_generic_executor(void *_Nonnull job);

#endif
