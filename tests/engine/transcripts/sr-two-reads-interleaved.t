# Two reads whose chunks interleave, the second finishing first.
include ready-structured-meta.inc
call pread_sr 8 0
call pread_sr 8 8
tx REQUEST u16:0 u16:0 u64:1 u64:0 u32:8 REQUEST u16:0 u16:0 u64:2 u64:8 u32:8
expect in_flight=2
rx STRUCTURED u16:0 u16:1 u64:1 u32:12 u64:4 "4567"
rx STRUCTURED u16:0 u16:1 u64:2 u32:12 u64:8 "89ab"
rx STRUCTURED u16:1 u16:1 u64:2 u32:12 u64:12 "cdef"
expect cmd=2 err=0 cmd=1 err=pending in_flight=1
rx STRUCTURED u16:1 u16:1 u64:1 u32:12 u64:0 "0123"
expect cmd=1 err=0 in_flight=0
expect data=1 "01234567"
expect data=2 "89abcdef"
