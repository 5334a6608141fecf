#ifndef RUNGATE_CZSTD_SHIM_H
#define RUNGATE_CZSTD_SHIM_H
#include <zstd.h>
#endif
