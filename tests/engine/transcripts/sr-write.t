# A write sends its header and payload; a simple reply completes it.
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
call pwrite 512 0 "hello"
tx REQUEST u16:0 u16:1 u64:1 u64:512 u32:5 "hello"
rx SIMPLE u32:0 u64:1
expect cmd=1 err=0
call disc
tx REQUEST u16:0 u16:2 u64:2 u64:0 u32:0
eof
expect state=CLOSED
