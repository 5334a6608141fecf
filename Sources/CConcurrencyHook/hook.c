#include "CConcurrencyHook.h"
#include <stdint.h>

// Defined by libswift_Concurrency (ConcurrencyHooks.cpp): a function pointer the runtime calls
// instead of its default global executor when it is set.
extern void *swift_task_enqueueGlobal_hook;

// Defined by libswift_Concurrency: `void swift_job_run(Job *, SerialExecutorRef)` with Swift's
// calling convention, the executor reference (identity, implementation) passed as its two words.
extern void swift_job_run(void *job, void *identity, uintptr_t implementation) __attribute__((swiftcall));

bool rungate_install_enqueue_global_hook(void *hook) {
    void *expected = 0;
    return __atomic_compare_exchange_n(&swift_task_enqueueGlobal_hook, &expected, hook, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

void rungate_run_job_on_generic_executor(void *job) {
    // (null, 0) is SerialExecutorRef::generic(): what Swift's own global executor runs jobs on.
    swift_job_run(job, 0, 0);
}
