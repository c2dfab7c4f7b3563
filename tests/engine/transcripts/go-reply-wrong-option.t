# An option reply naming another option than the one asked.
config sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:6 u32:1 u32:0
expect state=DEAD
