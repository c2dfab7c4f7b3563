# Extended headers: 32-byte requests with a 64-bit length, 32-byte reply
# headers carrying the request's offset; a read in two chunks.
include ready-extended-meta.inc
call pread_sr 16 4096
tx EXTREQUEST u16:0 u16:0 u64:1 u64:4096 u64:16
rx EXTREPLY u16:0 u16:1 u64:1 u64:4096 u64:16 u64:4104 "89abcdef"
rx EXTREPLY u16:1 u16:1 u64:1 u64:4096 u64:16 u64:4096 "01234567"
expect cmd=1 err=0 data=1 "0123456789abcdef"
