# A block status chunk for a context id no SET_META_CONTEXT reply named
# (fakesrv block-status-unknown-context), before the real one.
config sr=1 ext=0 meta=base:allocation
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
tx IHAVEOPT u32:10 u32:27 u32:0 u32:1 u32:15 "base:allocation"
rx OPTREPLY u32:10 u32:4 u32:19 u32:9 "base:allocation"
rx OPTREPLY u32:10 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x05ed
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY structured=1 extended=0
call block_status 4096 0
tx REQUEST u16:0 u16:7 u64:1 u64:0 u32:4096
rx STRUCTURED u16:0 u16:5 u64:1 u32:12 u32:0x7ead u32:4096 u32:0
rx STRUCTURED u16:1 u16:5 u64:1 u32:12 u32:9 u32:4096 u32:0
expect cmd=1 err=0 chunks=1:1 state=READY
