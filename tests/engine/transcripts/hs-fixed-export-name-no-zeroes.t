# Fixed newstyle, NO_ZEROES agreed, GO unsupported: the client falls back
# to NBD_OPT_EXPORT_NAME, whose reply is then just size and flags.
config sr=0 ext=0 export=a
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:7 u32:9 u32:1 "a" u16:1 u16:3
rx OPTREPLY u32:7 u32:0x80000001 u32:0
tx IHAVEOPT u32:1 u32:1 "a"
rx u64:8192 u16:0x0001
expect state=READY size=8192 eflags=1 unconsumed=0
