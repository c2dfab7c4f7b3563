# Extended headers: an ERROR chunk fails the command, the connection
# carries on.
include ready-extended-meta.inc
call pread 16 0
tx EXTREQUEST u16:0 u16:0 u64:1 u64:0 u64:16
rx EXTREPLY u16:1 u16:32769 u64:1 u64:0 u64:6 u32:1 u16:0
expect cmd=1 err=EPERM state=READY
