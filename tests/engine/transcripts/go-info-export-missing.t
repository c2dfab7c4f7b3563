# NBD_OPT_GO acknowledged without NBD_INFO_EXPORT: as with libnbd (1.14
# checked with python3-nbd), the handshake still succeeds and the
# connection is ready, with the export's size and flags unknown (the
# API then fails nbd_get_size and the flag calls with EINVAL).  What
# did come (here the block sizes) is kept.
include go-sent.inc
rx OPTREPLY u32:7 u32:3 u32:14 u16:3 u32:1 u32:4096 u32:65536
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY known=0 block=1:4096:65536
