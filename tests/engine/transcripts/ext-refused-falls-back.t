# The server refuses extended headers: the client asks for structured
# replies instead.
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:11 u32:0
rx OPTREPLY u32:11 u32:0x80000001 u32:0
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x0001
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY structured=1 extended=0
