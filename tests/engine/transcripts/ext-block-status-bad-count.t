# fakesrv block-status-bad-count: a descriptor count one more than the
# chunk's length allows.
config meta=base:allocation
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:11 u32:0
rx OPTREPLY u32:11 u32:1 u32:0
tx IHAVEOPT u32:10 u32:27 u32:0 u32:1 u32:15 "base:allocation"
rx OPTREPLY u32:10 u32:4 u32:19 u32:3 "base:allocation"
rx OPTREPLY u32:10 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x05ed
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY structured=1 extended=1 metas=base:allocation:3
call block_status64 8192 0
tx EXTREQUEST u16:0 u16:7 u64:1 u64:0 u64:8192
rx EXTREPLY u16:1 u16:6 u64:1 u64:0 u64:24 u32:3 u32:2 u64:4096 u64:0
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN chunks=1:0
