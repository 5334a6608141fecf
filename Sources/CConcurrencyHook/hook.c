#include "CConcurrencyHook.h"

// Defined by libswift_Concurrency (ConcurrencyHooks.cpp): a function pointer the runtime calls
// instead of its default global executor when it is set.
extern void *swift_task_enqueueGlobal_hook;

bool rungate_install_enqueue_global_hook(void *hook) {
    void *expected = 0;
    return __atomic_compare_exchange_n(&swift_task_enqueueGlobal_hook, &expected, hook, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
