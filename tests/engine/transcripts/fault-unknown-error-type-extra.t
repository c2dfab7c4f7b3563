# An unknown error chunk type with a field of its own after the message:
# the extra bytes are skipped and the command fails with the chunk's
# errno (libnbd 1.14 too); the connection goes on.
include ready-structured.inc
call pread_sr 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
rx STRUCTURED u16:1 u16:32868 u64:1 u32:11 u32:28 u16:1 "x" 01020304
expect cmd=1 err=ENOSPC state=READY
