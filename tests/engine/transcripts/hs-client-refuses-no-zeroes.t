# The server offers NO_ZEROES but the program allowed only fixed
# newstyle: the client answers 1 and expects the zero padding.
config flags=1 sr=0 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:1
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:0x80000001 u32:0
tx IHAVEOPT u32:1 u32:0
rx u64:4096 u16:0x0001 00*124
expect state=READY size=4096 hsflags=1
