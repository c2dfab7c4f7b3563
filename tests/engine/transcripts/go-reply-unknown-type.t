# A non-error reply type the client does not know (5) to NBD_OPT_GO.
config sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:5 u32:0
expect state=DEAD
