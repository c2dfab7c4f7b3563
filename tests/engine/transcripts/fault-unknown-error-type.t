# An unknown error chunk type (32868) with a valid error payload: the
# reply is errored (EINVAL), the connection goes on.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:32868 u64:1 u32:6 u32:5 u16:0
expect cmd=1 err=EINVAL state=READY
