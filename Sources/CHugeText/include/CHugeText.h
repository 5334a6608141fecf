#ifndef RUNGATE_CHUGETEXT_H
#define RUNGATE_CHUGETEXT_H

/// Before anything else in the process runs (a constructor of priority 101: ahead of the Swift
/// runtime's own start-up code, which runs functions the hot path shares), asks Linux to map this
/// executable's code with 2 MB pages: every 2 MB-aligned stretch of the executable segment is marked
/// MADV_HUGEPAGE and the executable's cached pages no process maps are dropped, so the first fault in
/// a stretch reads it as one 2 MB page-cache folio mapped by one TLB entry instead of 512. A call
/// after a pause then misses the TLB far less (bench/RESULTS.md, session 29).
///
/// Needs the executable linked with 2 MB segment alignment (`-z max-page-size=0x200000`, so the
/// kernel loads it 2 MB-aligned), transparent huge pages not `never` and a file system with large
/// folios (ext4, xfs); otherwise nothing changes. A stretch whose pages another running process
/// maps as 4 KB pages keeps 4 KB pages. RUNGATE_HUGE_TEXT=off skips it.
///
/// Returns what the constructor did: the number of stretches marked, 0 when skipped, -1 when none
/// could be (not Linux, segment not 2 MB-aligned, madvise refused).
int rungate_huge_text_stretches(void);

#endif
