#define _GNU_SOURCE
#include "CHugeText.h"

#if defined(__linux__)
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)

static int stretches = 0;

struct text_segment {
    uintptr_t start;
    uintptr_t end;
    uintptr_t file_offset;
    int found;
};

// dl_iterate_phdr lists the main program first: its executable PT_LOAD is the code to map.
static int find_executable_segment(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct text_segment *segment = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type == PT_LOAD && (header->p_flags & PF_X)) {
            segment->start = info->dlpi_addr + header->p_vaddr;
            segment->end = segment->start + header->p_memsz;
            segment->file_offset = header->p_offset;
            segment->found = 1;
            break;
        }
    }
    return 1;
}

static int map_text_with_huge_pages(void) {
    struct text_segment segment = {0};
    dl_iterate_phdr(find_executable_segment, &segment);
    // A file page can back a 2 MB mapping only where address and file offset agree modulo 2 MB.
    if (!segment.found || (segment.start - segment.file_offset) % HUGE_PAGE != 0) return -1;
    uintptr_t first = (segment.start + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t last = segment.end & ~(HUGE_PAGE - 1);
    if (last <= first) return -1;
    if (madvise((void *)first, last - first, MADV_HUGEPAGE) != 0) return -1;
    // Cached 4 KB folios would be mapped as they are; dropping the ones no process maps lets the
    // first fault read a 2 MB folio instead. Only clean pages can be dropped: a binary written
    // moments ago (just linked or copied) is written out first (at once when it already is).
    int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (file >= 0) {
        off_t offset = (off_t)(segment.file_offset + (first - segment.start));
        fdatasync(file);
        posix_fadvise(file, offset, (off_t)(last - first), POSIX_FADV_DONTNEED);
        close(file);
    }
    return (int)((last - first) / HUGE_PAGE);
}

__attribute__((constructor(101))) static void map_text_at_start(void) {
    const char *setting = getenv("RUNGATE_HUGE_TEXT");
    stretches = setting != NULL && strcmp(setting, "off") == 0 ? 0 : map_text_with_huge_pages();
}

int rungate_huge_text_stretches(void) { return stretches; }

#else

int rungate_huge_text_stretches(void) { return -1; }

#endif
