# NBD_INFO_EXPORT must be 12 bytes; 10 is a protocol error.
include go-sent.inc
rx OPTREPLY u32:7 u32:3 u32:10 u16:0 u64:1048576
expect state=DEAD
