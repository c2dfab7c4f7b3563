# An error chunk without DONE, then the data with DONE: the command
# still fails (the first error wins).
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
call pread 8 0
tx REQUEST u16:0 u16:0 u64:1 u64:0 u32:8
rx STRUCTURED u16:0 u16:32769 u64:1 u32:10 u32:5 u16:4 "half"
rx STRUCTURED u16:1 u16:1 u64:1 u32:16 u64:0 "abcdefgh"
expect cmd=1 err=EIO state=READY
