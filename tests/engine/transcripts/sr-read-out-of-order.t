# Structured replies: a read answered by two OFFSET_DATA chunks, the
# second half first; the buffer is whole and the chunk callback runs
# once per chunk, inside the request.
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
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:0 u16:1 u64:1 u32:16 u64:4104 "89abcdef"
expect cmd=1 err=pending state=READY
rx STRUCTURED u16:1 u16:1 u64:1 u32:16 u64:4096 "01234567"
expect cmd=1 err=0 chunks=1:2 in_flight=0
expect data=1 "0123456789abcdef"
