# A META_CONTEXT reply of 2 bytes (shorter than its id): protocol error.
config sr=1 ext=0 meta=base:allocation
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
tx IHAVEOPT u32:10 u32:27 u32:0 u32:1 u32:15 "base:allocation"
rx OPTREPLY u32:10 u32:4 u32:2 0007
expect state=DEAD
