# A block size triple that breaks the protocol's rules (minimum not a
# power of two): ignored, the export is still usable.
include go-sent.inc
rx OPTREPLY u32:7 u32:3 u32:14 u16:3 u32:3 u32:4096 u32:65536
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:1048576 u16:0x0001
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY block=0:0:0
