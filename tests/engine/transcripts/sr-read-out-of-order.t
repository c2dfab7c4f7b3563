# Structured replies: a read answered by two OFFSET_DATA chunks, the
# second half first; the buffer is whole and the chunk callback runs
# once per chunk, inside the request.
include ready-structured-meta.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:0 u16:1 u64:1 u32:16 u64:4104 "89abcdef"
expect cmd=1 err=pending state=READY
rx STRUCTURED u16:1 u16:1 u64:1 u32:16 u64:4096 "01234567"
expect cmd=1 err=0 chunks=1:2 in_flight=0
expect data=1 "0123456789abcdef"
