#ifndef RUNGATE_CCONCURRENCYHOOK_H
#define RUNGATE_CCONCURRENCYHOOK_H

#include <stdbool.h>

/// Sets the Swift concurrency runtime's global-enqueue hook if no one has set it yet.
/// Linked by reference, not looked up with dlsym: with the Swift runtime linked statically (as
/// shipped) the symbol is not in the dynamic symbol table, and NIO's dlsym-based installer fails.
bool rungate_install_enqueue_global_hook(void *_Nonnull hook);

#endif
