# NBD_INFO_EXPORT must be 12 bytes; 10 is a protocol error.
config sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:10 u16:0 u64:1048576
expect state=DEAD
