# fakesrv simple-read-when-structured: structured replies negotiated, a
# read answered by a simple reply with data: a protocol error (libnbd 1.14
# dies too).
config sr=1 ext=0
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:8 u32:0
rx OPTREPLY u32:8 u32:1 u32:0
tx IHAVEOPT u32:7 u32:8 u32:0 u16:1 u16:3
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x05ed
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY structured=1
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx SIMPLE u32:0 u64:1 "0123456789abcdef"
expect state=DEAD error=EPROTO cmd=1 err=ENOTCONN
