# Extended headers: 32-byte requests with a 64-bit length, 32-byte reply
# headers carrying the request's offset; a read in two chunks.
config meta=base:allocation
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:11 u32:0
rx OPTREPLY u32:11 u32:1 u32:0
tx IHAVEOPT u32:10 u32:27 u32:0 u32:1 u32:15 "base:allocation"
rx OPTREPLY u32:10 u32:4 u32:19 u32:3 "base:allocation"
rx OPTREPLY u32:10 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x05ed
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY structured=1 extended=1 metas=base:allocation:3
call pread_sr 16 4096
tx EXTREQUEST u16:0 u16:0 u64:1 u64:4096 u64:16
rx EXTREPLY u16:0 u16:1 u64:1 u64:4096 u64:16 u64:4104 "89abcdef"
rx EXTREPLY u16:1 u16:1 u64:1 u64:4096 u64:16 u64:4096 "01234567"
expect cmd=1 err=0 data=1 "0123456789abcdef"
