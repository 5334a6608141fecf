#ifndef RUNGATE_CHIREDIS_SHIM_H
#define RUNGATE_CHIREDIS_SHIM_H
// Swift calls redisCommandArgv (redisCommand is variadic and cannot be imported).
#include <hiredis/hiredis.h>
#endif
