# Two reads whose chunks interleave, the second finishing first.
config sr=1 ext=0 meta=base:allocation
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
tx IHAVEOPT u32:10 u32:27 u32:0 u32:1 u32:15 "base:allocation"
rx OPTREPLY u32:10 u32:4 u32:19 u32:9 "base:allocation"
rx OPTREPLY u32:10 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x05ed
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY structured=1 extended=0
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
