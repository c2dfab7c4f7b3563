# Error chunks whose error number is 0 (success, which no error chunk
# may claim), of a known type and of an unknown one: the command still
# fails, with EINVAL, and the connection goes on (libnbd 1.14 too).
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:32769 u64:1 u32:6 u32:0 u16:0
expect cmd=1 err=EINVAL state=READY
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:2 u64:4096 u32:16
rx STRUCTURED u16:1 u16:32868 u64:2 u32:6 u32:0 u16:0
expect cmd=2 err=EINVAL state=READY
