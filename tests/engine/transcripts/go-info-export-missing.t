# NBD_OPT_GO acknowledged without NBD_INFO_EXPORT: the client cannot
# know the size, and must not become ready.
include go-sent.inc
rx OPTREPLY u32:7 u32:3 u32:14 u16:3 u32:1 u32:4096 u32:65536
rx OPTREPLY u32:7 u32:1 u32:0
expect state=DEAD
