# An unknown error chunk type (32868) with a valid error payload (EIO):
# the reply is errored with the server's errno, the connection goes on.
# libnbd 1.14 says EIO (checked with python3-nbd against a raw server);
# the engine says EINVAL.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:32868 u64:1 u32:6 u32:5 u16:0
expect cmd=1 err=EIO state=READY
