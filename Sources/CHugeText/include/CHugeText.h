#ifndef RUNGATE_CHUGETEXT_H
#define RUNGATE_CHUGETEXT_H

/// Before anything else in the process runs (a constructor of priority 101: ahead of the Swift
/// runtime's own start-up code, which runs functions the hot path shares), asks Linux to map this
/// executable's code with 2 MB pages: every 2 MB-aligned stretch of the executable segment is marked
/// MADV_HUGEPAGE and the executable's cached pages no process maps are dropped, so the first fault in
/// a stretch reads it as one 2 MB page-cache folio, mapped by one page-table entry instead of 512. A
/// call after a pause, its code's translations gone from the TLB, costs less (bench/RESULTS.md,
/// session 29).
///
/// Needs the executable linked with 2 MB segment alignment (`-z max-page-size=0x200000`, so the
/// kernel loads it 2 MB-aligned), transparent huge pages not `never` and a file system whose page
/// cache takes large folios (xfs; ext4 on recent kernels, as Linux 6.18 here); otherwise nothing
/// changes. A stretch some of whose pages were mapped before (the loader's headers and start-up
/// code, this constructor's own stretch), or that another running process maps as 4 KB pages, keeps
/// 4 KB pages. Cached 2 MB folios no process maps are dropped too (they cannot be told apart without
/// root): each start reads the code it touches from disk again (~20 MB, +50–100 ms here).
/// RUNGATE_HUGE_TEXT=off skips it.
///
/// Returns what the constructor did: the number of stretches marked, 0 when skipped, -1 when none
/// could be (not Linux, segment not 2 MB-aligned, madvise refused).
int rungate_huge_text_stretches(void);

#endif
