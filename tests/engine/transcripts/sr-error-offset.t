# An ERROR_OFFSET chunk inside the request: the command fails with the
# server's errno (ENOSPC).
include ready-structured-meta.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:32770 u64:1 u32:14 u32:28 u16:0 u64:4100
expect cmd=1 err=ENOSPC state=READY
