# An OFFSET_HOLE chunk: those bytes read as zeroes.
include ready-structured-meta.inc
call pread_sr 16 0
tx REQUEST u16:0 u16:0 u64:1 u64:0 u32:16
rx STRUCTURED u16:0 u16:2 u64:1 u32:12 u64:8 u32:8
rx STRUCTURED u16:1 u16:1 u64:1 u32:16 u64:0 "abcdefgh"
expect cmd=1 err=0 chunks=1:2
expect data=1 "abcdefgh" 00*8
