# Fixed newstyle with NO_ZEROES both ways, structured replies refused
# with extended headers, then NBD_OPT_GO asking for the block size.
config ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
expect structured=1 state=HANDSHAKING
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x05ed
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY protocol=newstyle-fixed hsflags=3 size=1048576 eflags=0x05ed
expect structured=1 extended=0 block=0:0:0
