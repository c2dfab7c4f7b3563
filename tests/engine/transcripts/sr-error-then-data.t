# An error chunk without DONE, then the data with DONE: the command
# still fails (the first error wins).
include ready-structured-meta.inc
call pread 8 0
tx REQUEST u16:0 u16:0 u64:1 u64:0 u32:8
rx STRUCTURED u16:0 u16:32769 u64:1 u32:10 u32:5 u16:4 "half"
rx STRUCTURED u16:1 u16:1 u64:1 u32:16 u64:0 "abcdefgh"
expect cmd=1 err=EIO state=READY
